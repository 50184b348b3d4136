// Fuzzes the results reader behind `genscope inspect` (and the report) on described files (hdf5_from_text.hpp): a summary or a genscope::error.
#include "fuzz_support.hpp"
#include "hdf5_from_text.hpp"

#include "inspect/summary.hpp"

#include <sstream>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  genscope::fuzz::enter_scratch_folder();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = "results.h5";
  genscope::fuzz::write_hdf5_from_text(std::string(reinterpret_cast<const char*>(data), size), path);
  try {
    std::ostringstream out;
    genscope::print_summary(genscope::summarize(path), out);
  } catch (const genscope::error& e) {
    genscope::fuzz::refused(e);
  }
  return 0;
}
