// One home for the plugin interfaces' vtables and their small shared helpers.
#include <genscope/analysis.hpp>
#include <genscope/direction_sampler.hpp>
#include <genscope/error.hpp>
#include <genscope/interval_estimator.hpp>
#include <genscope/network_backend.hpp>
#include <genscope/plugin.hpp>

#include <cmath>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <string>

namespace genscope {

const char* to_string(plugin_kind k) noexcept {
  switch (k) {
    case plugin_kind::backend: return "backend";
    case plugin_kind::sampler: return "sampler";
    case plugin_kind::estimator: return "estimator";
    case plugin_kind::analysis: return "analysis";
  }
  return "?";
}

plugin_object::~plugin_object() = default;
network_backend::~network_backend() = default;
direction_sampler::~direction_sampler() = default;
void direction_sampler::check(const dataset_shape&) const {}

void direction_sampler::prepare(const dataset& data, std::uint64_t seed) {
  data_ = nullptr;  // a failed bind() leaves the sampler unprepared, never half-bound
  bind(data, seed);
  data_ = &data;
  seed_ = seed;
  dim_ = data.dim();
}

void direction_sampler::sample(std::size_t first, std::size_t count, probe_batch& out) const {
  if (data_ == nullptr) throw std::logic_error("sample() called before prepare()");
  const std::size_t n = probe_count();
  if (first > n || count > n - first)
    throw std::out_of_range("probes [" + std::to_string(first) + ", " + std::to_string(first + count) +
                            ") requested, the sampler has " + std::to_string(n));
  out.resize(count, dim_);  // recorded at prepare(): sample() itself never reads the data set
  out.first = first;
  fill(first, count, out);
}

interval_estimator::~interval_estimator() = default;
std::vector<column_spec> interval_estimator::extra_columns() const { return {}; }
analysis::~analysis() = default;
void analysis::check(const std::vector<dataset_shape>&, std::size_t) const {}

affine_operator::~affine_operator() = default;
piecewise_linear_network::~piecewise_linear_network() = default;
const piecewise_linear_network* network_backend::piecewise_linear() const { return nullptr; }

std::size_t network_backend::input_dim() const {
  const auto shape = input_shape();
  return std::accumulate(shape.begin(), shape.end(), std::size_t{1}, std::multiplies<>());
}

void predict_classes(const matrix& logits, std::vector<int>& out) {
  out.resize(logits.rows);
  for (std::size_t i = 0; i < logits.rows; ++i) {
    const float* r = logits.row(i);
    int best = 0;
    bool finite = true;
    for (std::size_t k = 0; k < logits.cols; ++k) {
      if (!std::isfinite(r[k])) finite = false;
      if (r[k] > r[best]) best = static_cast<int>(k);
    }
    out[i] = finite ? best : -1;
  }
}

void probe_batch::resize(std::size_t count, std::size_t dim) {
  anchor.assign(count, -1);
  partners.assign(count, {-1, -1});
  kind.assign(count, std::string());
  tangent_dim.assign(count, -1);
  explained_variance.assign(count, -1.0f);
  partner_t.assign(count, -1.0f);
  x.resize(count, dim);
  d.resize(count, dim);
}

void interval_batch::resize(std::size_t n) {
  t_lo.assign(n, 0.0);
  t_hi.assign(n, 0.0);
  class0.assign(n, -1);
  class_lo.assign(n, -1);
  class_hi.assign(n, -1);
  status.assign(n, 0);
  cost.assign(n, 0);
  regions_lo.assign(n, -1);
  regions_hi.assign(n, -1);
  flips_lo.assign(n, -1);
  flips_hi.assign(n, -1);
  extra = table_batch();
}

}  // namespace genscope
