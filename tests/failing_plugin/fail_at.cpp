// Test plugin: a real fixed-step estimator that throws once it reaches probe index `fail_at`.
#include <genscope/interval_estimator.hpp>

#include <stdexcept>
#include <string>

namespace {

class fail_at final : public genscope::interval_estimator {
 public:
  explicit fail_at(std::size_t at) : at_(at) {}

  void estimate(const genscope::network_backend& net, const genscope::probe_batch& probes,
                genscope::interval_batch& out) const override {
    if (probes.first + probes.size() > at_) throw std::runtime_error("reached probe " + std::to_string(at_));
    genscope::matrix logits;
    net.logits(probes.x, logits);
    std::vector<int> cls;
    genscope::predict_classes(logits, cls);
    out.resize(probes.size());
    for (std::size_t k = 0; k < probes.size(); ++k) {
      out.class0[k] = cls[k];
      out.cost[k] = 1;
    }
  }

 private:
  std::size_t at_;
};

constexpr genscope::option_spec options[] = {
    {"fail_at", genscope::option_type::integer, "100", "probe index at which estimate() throws"},
};

genscope::plugin_object* create(const genscope::option_set& o) {
  return new fail_at(static_cast<std::size_t>(o.get_int("fail_at")));
}

}  // namespace

GENSCOPE_PLUGIN(genscope::plugin_kind::estimator, "fail_at", "1.0.0",
                "test estimator: zero-length intervals, throws at probe fail_at", options, &create)
