// One home for the plugin interfaces' vtables and their small shared helpers.
#include <genscope/analysis.hpp>
#include <genscope/direction_sampler.hpp>
#include <genscope/error.hpp>
#include <genscope/interval_estimator.hpp>
#include <genscope/network_backend.hpp>
#include <genscope/plugin.hpp>

#include <algorithm>
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
  check_filled(out, count);
}

void direction_sampler::check_filled(const probe_batch& out, std::size_t count) const {
  const auto length = [&](std::size_t size, const char* column) {
    if (size != count)
      throw std::runtime_error("fill() left " + std::to_string(size) + " values of '" + column + "' for " +
                               std::to_string(count) + " probes");
  };
  length(out.anchor.size(), "anchor");
  length(out.partners.size(), "partners");
  length(out.kind.size(), "kind");
  length(out.tangent_dim.size(), "tangent_dim");
  length(out.explained_variance.size(), "explained_variance");
  length(out.partner_t.size(), "partner_t");
  for (const auto& [m, name] : {std::pair{&out.x, "x"}, std::pair{&out.d, "d"}}) {
    if (m->rows != count || m->cols != dim_ || m->data.size() != count * dim_)
      throw std::runtime_error("fill() left '" + std::string(name) + "' of " + std::to_string(m->rows) + " x " +
                               std::to_string(m->cols) + " (" + std::to_string(m->data.size()) + " values) for " +
                               std::to_string(count) + " probes of dimension " + std::to_string(dim_));
    for (std::size_t k = 0; k < m->data.size(); ++k)
      if (!std::isfinite(m->data[k]))
        throw std::runtime_error("fill() put a non-finite value in '" + std::string(name) + "' (probe " +
                                 std::to_string(out.first + k / dim_) + ", coordinate " + std::to_string(k % dim_) + ")");
  }
  for (std::size_t i = 0; i < count; ++i)
    if (!std::isfinite(out.partner_t[i]) || !std::isfinite(out.explained_variance[i]))
      throw std::runtime_error("fill() put a non-finite partner_t or explained_variance at probe " +
                               std::to_string(out.first + i));
}

interval_estimator::~interval_estimator() = default;
std::vector<column_spec> interval_estimator::extra_columns() const { return {}; }
analysis::~analysis() = default;
void analysis::check(const std::vector<dataset_shape>&, std::size_t) const {}
bool analysis::takes_reference_model() const { return false; }
void analysis::set_reference_model(const network_backend&) {
  throw std::logic_error("set_reference_model() called on an analysis that takes no reference model");
}

const piecewise_linear_graph* network_backend::piecewise_linear() const { return nullptr; }

std::vector<std::string> network_backend::hidden_layers() const { return {}; }

void network_backend::activations(const std::string& layer, matrix_view, matrix&) const {
  throw error("backend: no hidden layer '" + layer + "': the model (" + describe() +
              ") offers no hidden activations");
}

std::vector<std::int64_t> network_backend::checkpoint_epochs() const { return {}; }

const option_spec checkpoints_option = {
    "checkpoints", option_type::string, "none",
    "which weights to measure: \"none\" = the weights the model serves; \"all\" = every training checkpoint the "
    "model file holds, then the served weights; or comma-separated epochs (e.g. \"5,10\"), then the served "
    "weights. Rows carry the epoch (0 for the served weights)"};

namespace {

// The epochs listed in a `checkpoints` option other than "none" and "all": ascending, each once.
std::vector<std::int64_t> listed_checkpoints(const std::string& option) {
  option_set list;
  list.set("checkpoints", option);
  std::vector<std::int64_t> epochs;
  for (std::size_t e : list.get_count_list("checkpoints", "checkpoint epochs", "5,10"))
    epochs.push_back(static_cast<std::int64_t>(e));
  std::sort(epochs.begin(), epochs.end());
  if (const auto twice = std::adjacent_find(epochs.begin(), epochs.end()); twice != epochs.end())
    throw std::invalid_argument("option 'checkpoints' names epoch " + std::to_string(*twice) + " twice");
  return epochs;
}

}  // namespace

void check_checkpoints_option(const std::string& option) {
  if (option != "none" && option != "all") listed_checkpoints(option);
}

std::vector<std::int64_t> checkpoints_to_measure(const network_backend& model, const std::string& option) {
  std::vector<std::int64_t> epochs;
  if (option == "all") {
    epochs = model.checkpoint_epochs();
    if (epochs.empty())
      throw std::invalid_argument("option 'checkpoints' = \"all\": the model (" + model.describe() +
                                  ") holds no training checkpoints");
  } else if (option != "none") {
    epochs = listed_checkpoints(option);
  }
  epochs.push_back(0);
  return epochs;
}

std::shared_ptr<const network_backend> model_at_checkpoint(const network_backend& model, std::int64_t epoch) {
  if (epoch == 0) return {&model, [](const network_backend*) {}};
  try {
    return model.at_checkpoint(epoch);
  } catch (const std::exception& err) {
    throw std::invalid_argument("option 'checkpoints': " + std::string(err.what()));
  }
}

std::shared_ptr<const network_backend> network_backend::at_checkpoint(std::int64_t epoch) const {
  throw error("backend: no checkpoint of epoch " + std::to_string(epoch) + ": the model (" + describe() +
              ") holds no training checkpoints");
}

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

void interval_batch::check(std::size_t probes) const {
  const auto length = [&](std::size_t size, const char* column) {
    if (size != probes)
      throw std::runtime_error("returned " + std::to_string(size) + " values of '" + column + "' for " +
                               std::to_string(probes) + " probes");
  };
  length(t_lo.size(), "t_lo");
  length(t_hi.size(), "t_hi");
  length(class0.size(), "class");
  length(class_lo.size(), "class_lo");
  length(class_hi.size(), "class_hi");
  length(status.size(), "status");
  length(cost.size(), "cost");
  length(regions_lo.size(), "regions_lo");
  length(regions_hi.size(), "regions_hi");
  length(flips_lo.size(), "flips_lo");
  length(flips_hi.size(), "flips_hi");
  for (std::size_t i = 0; i < probes; ++i) {
    if (!(std::isfinite(t_lo[i]) && t_lo[i] <= 0))
      throw std::runtime_error("returned t_lo = " + std::to_string(t_lo[i]) + " for probe " + std::to_string(i) +
                               " of the batch (must be a finite number <= 0)");
    if (!(std::isfinite(t_hi[i]) && t_hi[i] >= 0))
      throw std::runtime_error("returned t_hi = " + std::to_string(t_hi[i]) + " for probe " + std::to_string(i) +
                               " of the batch (must be a finite number >= 0)");
  }
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
