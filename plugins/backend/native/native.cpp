// Backend plugin "native": serves logits of a GenScope model file, an MLP or a graph of operators (imported from ONNX).
#include <genscope/error.hpp>
#include <genscope/mlp.hpp>
#include <genscope/network_graph.hpp>
#include <genscope/network_backend.hpp>
#include <genscope/options.hpp>
#include <genscope/plugin.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

class native_backend final : public genscope::network_backend {
 public:
  native_backend(genscope::network_graph net, std::string path, std::vector<std::size_t> checkpoints)
      : net_(std::move(net)), view_(net_.piecewise_linear_view()), path_(std::move(path)),
        checkpoints_(std::move(checkpoints)) {}

  std::vector<std::size_t> input_shape() const override { return net_.input_shape(); }
  std::size_t class_count() const override { return net_.class_count(); }

  void logits(genscope::matrix_view x, genscope::matrix& out) const override {
    if (x.cols != net_.input_dim())
      throw genscope::error("native backend: batch has " + std::to_string(x.cols) + " columns, the model (" +
                            net_.describe() + ") takes " + std::to_string(net_.input_dim()));
    net_.forward(x, out);
  }

  std::string model_digest() const override { return net_.digest(); }
  std::string describe() const override { return net_.describe(); }
  const genscope::piecewise_linear_graph* piecewise_linear() const override { return view_.get(); }
  std::vector<std::string> hidden_layers() const override { return net_.layer_names(); }
  void activations(const std::string& layer, genscope::matrix_view x, genscope::matrix& out) const override {
    net_.activations(layer, x, out);
  }
  std::vector<std::int64_t> checkpoint_epochs() const override {
    return {checkpoints_.begin(), checkpoints_.end()};
  }
  std::shared_ptr<const genscope::network_backend> at_checkpoint(std::int64_t epoch) const override {
    if (epoch <= 0 || std::find(checkpoints_.begin(), checkpoints_.end(), static_cast<std::size_t>(epoch)) ==
                          checkpoints_.end())
    {
      std::string saved;
      for (std::size_t e : checkpoints_) saved += (saved.empty() ? "" : ", ") + std::to_string(e);
      throw genscope::error("native backend: no checkpoint of epoch " + std::to_string(epoch) + " in model file '" +
                            path_ + "' (saved epochs: " + (saved.empty() ? "none" : saved) + ")");
    }
    const auto e = static_cast<std::size_t>(epoch);
    return std::make_shared<native_backend>(genscope::load_network(path_, e), path_, checkpoints_);
  }

 private:
  genscope::network_graph net_;  // immutable after construction, so concurrent logits() calls are safe
  std::unique_ptr<genscope::piecewise_linear_graph> view_;
  std::string path_;                      // the model file
  std::vector<std::size_t> checkpoints_;  // epochs of its saved checkpoints
};

// One line naming the option's problem and the model file.
[[noreturn]] void refuse(const std::string& path, const std::string& problem) {
  throw genscope::error("native backend: " + problem + " (model file '" + path + "')");
}

genscope::plugin_object* create(const genscope::option_set& options) {
  const std::string& path = options.get_string("path");
  const std::int64_t checkpoint = options.get_int("checkpoint");
  if (checkpoint < 0)
    refuse(path, "option 'checkpoint' must be >= 0 (0 = final weights), not " + std::to_string(checkpoint));
  genscope::layer_rewind rewind;
  const std::int64_t rewind_to = options.get_int("rewind_to");
  if (rewind_to < 0)
    refuse(path, "option 'rewind_to' must be >= 0 (a checkpoint epoch; 0 = not set), not " + std::to_string(rewind_to));
  rewind.epoch = static_cast<std::size_t>(rewind_to);
  if (!options.get_string("rewind_layers").empty()) {
    try {
      rewind.layers = options.get_count_list("rewind_layers", "weight layer numbers", "3,4");
    } catch (const std::invalid_argument& e) {
      refuse(path, e.what());
    }
  }
  return new native_backend(genscope::load_network(path, static_cast<std::size_t>(checkpoint), rewind), path,
                            genscope::saved_checkpoints(path));
}

constexpr genscope::option_spec options_table[] = {
    {"path", genscope::option_type::string, nullptr, "HDF5 model file (docs/model-format.md)"},
    {"checkpoint", genscope::option_type::integer, "0",
     "epoch whose saved checkpoint weights to serve instead of the final ones (0 = final weights; MLP files only)"},
    {"rewind_layers", genscope::option_type::string, "\"\"",
     "weight layers (1-based, comma-separated, e.g. \"3,4\") served from checkpoint epoch rewind_to instead of "
     "'checkpoint' (\"\" = none; MLP files only)"},
    {"rewind_to", genscope::option_type::integer, "0",
     "checkpoint epoch the rewind_layers come from (required with rewind_layers; 0 = no rewinding)"},
};

}  // namespace

GENSCOPE_PLUGIN_WITH_CAPABILITIES(
    genscope::plugin_kind::backend, "native", "2.3.0",
    "a GenScope HDF5 model file in float32: a ReLU MLP or a graph of convolutions, pooling, batch norm, residual sums "
    "(imported from ONNX); checkpoints and layer rewinding; Eigen GEMM; piecewise-linear; hidden activations",
    options_table, &create, genscope::capability_piecewise_linear | genscope::capability_hidden_activations)
