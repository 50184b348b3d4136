// Fuzzes the HDF5 data set reader (source = "hdf5") on described files (hdf5_from_text.hpp): peek (the
// validation) and build each end in a data set or a genscope::error.
#include "fuzz_support.hpp"
#include "hdf5_from_text.hpp"

#include <genscope/datasets.hpp>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  genscope::fuzz::enter_scratch_folder();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  genscope::dataset_spec spec;
  spec.source = "hdf5";
  spec.path = "data.h5";
  genscope::fuzz::write_hdf5_from_text(std::string(reinterpret_cast<const char*>(data), size), spec.path);
  try {
    genscope::peek_dataset(spec);
    genscope::build_dataset(spec);
  } catch (const genscope::error& e) {
    genscope::fuzz::refused(e);
  }
  return 0;
}
