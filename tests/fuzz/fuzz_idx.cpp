// Fuzzes the IDX reader, plain and gzip-compressed (the first byte chooses): an array or a genscope::error.
#include "fuzz_support.hpp"

#include <genscope/datasets.hpp>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  genscope::fuzz::enter_scratch_folder();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string name = (data[0] & 1) != 0 ? "input-idx3-ubyte.gz" : "input-idx3-ubyte";
  const std::string path = genscope::fuzz::input_file(data + 1, size - 1, name);
  try {
    genscope::read_idx(path);
  } catch (const genscope::error& e) {
    genscope::fuzz::refused(e);
  }
  return 0;
}
