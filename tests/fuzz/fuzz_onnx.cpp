// Fuzzes the ONNX importer on raw bytes: a network graph (then put through its forward pass and its piecewise-linear view) or a genscope::error.
#include "fuzz_support.hpp"

#include <genscope/onnx_import.hpp>

#include <string>
#include <vector>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  genscope::fuzz::enter_scratch_folder();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const genscope::network_graph net =
        genscope::import_onnx_bytes(std::string(reinterpret_cast<const char*>(data), size), "fuzz.onnx");
    // Run what an accepted network goes through, when it is small enough to stay fast under the sanitizers: values
    // of every tensor, and multiply-adds of the dense and conv operators (each output value reads the weights of
    // one output channel).
    std::size_t work = 0, multiplies = 0;
    for (std::size_t i = 0; i <= net.ops().size(); ++i) {
      std::size_t n = 1;
      for (std::size_t d : net.shape(i)) n *= d;
      work += n;
      if (i == 0) continue;
      const genscope::graph_op& op = net.ops()[i - 1];
      const std::size_t per_output = op.kind == genscope::op_kind::conv && op.out_channels > 0
                                         ? op.weight.size() / op.out_channels
                                         : op.bias.empty() ? 0 : op.weight.size() / op.bias.size();
      multiplies += n * per_output;
    }
    if (work > 200000 || multiplies > 2000000) return 0;
    std::vector<float> x(2 * net.input_dim(), 0.5f);
    genscope::matrix logits;
    net.forward(genscope::matrix_view(x.data(), 2, net.input_dim()), logits);
    const auto view = net.piecewise_linear_view();
    std::vector<double> rows(2 * net.input_dim(), 0.25);
    genscope::switch_states states;
    std::vector<std::vector<double>> forms;
    genscope::evaluate_forms(*view, rows.data(), 1, 2, states, forms, true);
    std::vector<double> seed(net.class_count() * net.class_count(), 1.0), back(net.class_count() * net.input_dim());
    genscope::transpose_forms(*view, states, 1, net.class_count(), seed.data(), back.data(), forms);
  } catch (const genscope::error& e) {
    genscope::fuzz::refused(e);
  }
  return 0;
}
