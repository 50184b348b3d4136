// Test backend "logits_only": serves a model file's logits but offers no piecewise-linear view (no capability).
#include <genscope/error.hpp>
#include <genscope/mlp.hpp>
#include <genscope/network_backend.hpp>
#include <genscope/options.hpp>
#include <genscope/plugin.hpp>

#include <string>
#include <utility>
#include <vector>

namespace {

// Like the native backend, minus piecewise_linear(): the base class's nullptr stands.
class logits_only_backend final : public genscope::network_backend {
 public:
  explicit logits_only_backend(genscope::mlp net) : net_(std::move(net)) {}

  std::vector<std::size_t> input_shape() const override { return net_.input_shape(); }
  std::size_t class_count() const override { return net_.class_count(); }
  void logits(genscope::matrix_view x, genscope::matrix& out) const override {
    if (x.cols != net_.input_dim())
      throw genscope::error("logits_only backend: batch has " + std::to_string(x.cols) + " columns, the model takes " +
                            std::to_string(net_.input_dim()));
    net_.forward(x, out);
  }
  std::string model_digest() const override { return net_.digest(); }
  std::string describe() const override { return net_.describe() + " (logits only)"; }

 private:
  genscope::mlp net_;
};

genscope::plugin_object* create(const genscope::option_set& options) {
  return new logits_only_backend(genscope::load_model(options.get_string("path")).net);
}

constexpr genscope::option_spec options_table[] = {
    {"path", genscope::option_type::string, nullptr, "HDF5 model file (docs/model-format.md)"},
};

}  // namespace

GENSCOPE_PLUGIN(genscope::plugin_kind::backend, "logits_only", "1.0.0",
                "test backend: a GenScope model file's logits, without a piecewise-linear view", options_table, &create)
