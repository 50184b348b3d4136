// Fuzzes the native model readers (MLP and graph files) and the training-state reader on described files (hdf5_from_text.hpp): a model or a genscope::error.
#include "fuzz_support.hpp"
#include "hdf5_from_text.hpp"

#include <genscope/mlp.hpp>
#include <genscope/network_graph.hpp>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  genscope::fuzz::enter_scratch_folder();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = "model.h5";
  genscope::fuzz::write_hdf5_from_text(std::string(reinterpret_cast<const char*>(data), size), path);
  try {
    const genscope::loaded_model m = genscope::load_model(path);
    for (const genscope::model_checkpoint& cp : m.record.checkpoints) genscope::load_model(path, cp.epoch);
  } catch (const genscope::error& e) {
    genscope::fuzz::refused(e);
  }
  try {
    const genscope::network_graph net = genscope::load_network(path);
    if (net.input_dim() <= 4096) (void)net.piecewise_linear_view();
  } catch (const genscope::error& e) {
    genscope::fuzz::refused(e);
  }
  try {
    genscope::load_training_state(path);
  } catch (const genscope::error& e) {
    genscope::fuzz::refused(e);
  }
  return 0;
}
