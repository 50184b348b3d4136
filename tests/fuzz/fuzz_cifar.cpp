// Fuzzes the CIFAR-10 batch reader (source = "cifar10", split "test"): the first byte is the subset (0: all), the
// rest test_batch.bin; peek (the validation) and build each end in a data set or a genscope::error.
#include "fuzz_support.hpp"

#include <genscope/datasets.hpp>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  genscope::fuzz::enter_scratch_folder();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  genscope::dataset_spec spec;
  spec.source = "cifar10";
  spec.dir = ".";
  spec.split = "test";
  spec.subset = data[0];
  genscope::fuzz::input_file(data + 1, size - 1, "test_batch.bin");
  try {
    genscope::peek_dataset(spec);
    genscope::build_dataset(spec);
  } catch (const genscope::error& e) {
    genscope::fuzz::refused(e);
  }
  return 0;
}
