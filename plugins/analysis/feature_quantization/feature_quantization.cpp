// Analysis plugin "feature_quantization": the first layer's weight vectors with biases, normalized and clustered
// by angle, the clusters' share of the weight mass and their alignment with the data (Maennel, Bousquet, Gelly 2018).
#include <genscope/analysis.hpp>
#include <genscope/error.hpp>
#include <genscope/piecewise_linear.hpp>
#include <genscope/plugin.hpp>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Dense>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <numbers>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using genscope::column_type;
using genscope::option_spec;
using genscope::option_type;
using row_matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

const option_spec options[] = {
    {"angle", option_type::real, "10.0",
     "degrees: two features whose directions are closer than this are linked; clusters are the connected groups "
     "(single linkage)"},
    {"mass_fraction", option_type::real, "0.9",
     "clusters_for_mass counts the fewest largest clusters holding this fraction of the weight mass"},
    {"top", option_type::integer, "3", "top_fraction is the share of the weight mass in the largest `top` clusters"},
    {"components", option_type::integer, "3",
     "principal directions of the augmented data (x, 1) that subspace_alignment projects onto"},
    genscope::checkpoints_option,
};

const genscope::table_spec& summary_table() {
  static const genscope::table_spec spec{
      "summary",
      "the first layer of the model (one row per checkpoint measured): how concentrated its feature directions are",
      {
          {"epoch", column_type::int64, 1, "checkpoint epoch of the weights measured; 0 for the weights served", ""},
          {"features", column_type::int64, 1,
           "first-layer features of nonzero norm: the units of a dense layer, the filters of a convolution", ""},
          {"input_dim", column_type::int64, 1, "coordinates of a feature's weight vector (without the bias)", ""},
          {"clusters", column_type::int64, 1, "clusters of features at the angle threshold", "", true},
          {"clusters_for_mass", column_type::int64, 1,
           "fewest clusters (largest mass first) holding mass_fraction of the weight mass", "", true},
          {"top_fraction", column_type::float64, 1, "share of the weight mass in the largest `top` clusters", "",
           true},
          {"mass_participation", column_type::float64, 1,
           "(sum m_c)^2 / sum m_c^2 over cluster masses m_c: the effective number of clusters", "", true},
          {"point_alignment", column_type::float64, 1,
           "mass-weighted mean over clusters of their point_alignment (NaN for a convolution)", "", true},
          {"subspace_alignment", column_type::float64, 1,
           "mass-weighted mean over clusters of their subspace_alignment (NaN for a convolution)", "", true},
      },
      ""};
  return spec;
}

const genscope::table_spec& clusters_table() {
  static const genscope::table_spec spec{
      "clusters",
      "one cluster of first-layer features, largest weight mass first (per checkpoint measured)",
      {
          {"epoch", column_type::int64, 1, "checkpoint epoch of the weights measured; 0 for the weights served", ""},
          {"rank", column_type::int64, 1, "0 for the cluster of largest mass, then descending", ""},
          {"features", column_type::int64, 1, "features in the cluster", ""},
          {"mass", column_type::float64, 1, "sum of the features' norms ||(w_i, b_i)||", "", true},
          {"mass_share", column_type::float64, 1, "mass / the layer's total mass", "", true},
          {"spread", column_type::float64, 1, "largest angle (degrees) between a feature and the cluster's direction",
           "", true},
          {"point_alignment", column_type::float64, 1,
           "largest cosine between the cluster's direction and an augmented data point (x_i, 1) (NaN for a "
           "convolution)",
           "", true},
          {"subspace_alignment", column_type::float64, 1,
           "squared norm of the direction's projection on the top `components` principal directions of the "
           "augmented data (NaN for a convolution)",
           "", true},
          {"direction", column_type::float64, genscope::ragged,
           "unit vector of the mass-weighted mean of the cluster's normalized (w_i, b_i), bias last", ""},
      },
      ""};
  return spec;
}

struct settings {
  std::string checkpoints;
  double angle = 0, mass_fraction = 0;
  std::size_t top = 0, components = 0;
};

struct cluster {
  std::int64_t features = 0;
  double mass = 0, share = 0, spread = 0, point_alignment = nan, subspace_alignment = nan;
  std::vector<double> direction;
};

// The training data augmented with a 1, (x_i, 1), as rows; their norms; their top principal directions (columns).
struct augmented_data {
  row_matrix x;
  Eigen::VectorXd norms;
  Eigen::MatrixXd top;
};

// One model measured: its epoch and its first layer's clusters, largest mass first.
struct measure {
  std::int64_t epoch = 0;
  std::int64_t input_dim = 0;
  std::vector<cluster> clusters;
};

// Union-find with path halving: the connected groups of the angle graph.
struct disjoint_sets {
  std::vector<std::size_t> parent;
  explicit disjoint_sets(std::size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), std::size_t{0}); }
  std::size_t find(std::size_t i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  }
  void join(std::size_t a, std::size_t b) {
    a = find(a);
    b = find(b);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  }
};

// The first layer is the affine map from the input to the first switch node's input: every node before the first
// switch is affine (an input scaling, a convolution, a batch norm folded or not), so their composition is one
// map x -> A x + b. Its features, as rows (w, b): every unit when the map is dense; when each unit sees only part
// of the input (a convolution), one row per filter: the distinct (bias, weights on the unit's receptive field)
// among the units of the widest receptive field (those away from the padding), weights in input order, bias last.
row_matrix first_layer_features(const genscope::piecewise_linear_graph& view, bool& dense) {
  std::size_t first_switch = 0;
  for (std::size_t i = 1; i < view.size() && first_switch == 0; ++i)
    if (view.at(i).is_switch()) first_switch = i;
  if (first_switch == 0)
    throw std::invalid_argument("feature_quantization: the network has no switch (ReLU, pooling): no first layer");
  const std::size_t last = view.at(first_switch).inputs[0];
  if (last == 0)
    throw std::invalid_argument("feature_quantization: the network's first switch reads its input directly: no "
                                "first layer");
  const std::size_t n = view.input_dim(), units = view.at(last).width;

  // The bias: the prefix evaluated at x = 0.
  std::vector<std::vector<double>> value(last + 1);
  value[0].assign(n, 0.0);
  for (std::size_t k = 1; k <= last; ++k) {
    const auto& node = view.at(k);
    value[k].assign(node.width, 0.0);
    node.affine->add_bias(1, value[k].data());
    for (std::size_t i = 0; i < node.inputs.size(); ++i) node.affine->add_linear(i, value[node.inputs[i]].data(), 1, value[k].data());
  }
  const std::vector<double> bias = value[last];

  // The rows of A: blocks of unit vectors back through the prefix.
  row_matrix rows = row_matrix::Zero(static_cast<Eigen::Index>(units), static_cast<Eigen::Index>(n));
  constexpr std::size_t block = 64;
  std::vector<std::vector<double>> back(last + 1);
  for (std::size_t o = 0; o < units; o += block) {
    const std::size_t count = std::min(block, units - o);
    for (std::size_t k = 0; k <= last; ++k) back[k].assign(count * view.at(k).width, 0.0);
    for (std::size_t r = 0; r < count; ++r) back[last][r * units + o + r] = 1.0;
    for (std::size_t k = last; k >= 1; --k) {
      const auto& node = view.at(k);
      for (std::size_t i = 0; i < node.inputs.size(); ++i)
        node.affine->add_transposed(i, back[k].data(), count, back[node.inputs[i]].data());
    }
    std::copy(back[0].begin(), back[0].end(), rows.row(static_cast<Eigen::Index>(o)).data());
  }

  if (!rows.allFinite() || !std::all_of(bias.begin(), bias.end(), [](double b) { return std::isfinite(b); }))
    throw std::invalid_argument("feature_quantization: the first layer has a weight or bias that is not finite");

  // Receptive fields by structure (add_sparse names the outputs an input may reach), not by value: a weight that
  // is exactly 0 stays in its filter. An operator that cannot tell (a dense layer) makes the map dense.
  std::vector<std::vector<std::uint32_t>> field(units);
  dense = false;
  {
    std::vector<std::vector<std::uint32_t>> touched(last + 1);
    std::vector<std::vector<std::uint8_t>> flags(last + 1);
    std::vector<std::vector<double>> zero(last + 1), sink(last + 1);
    for (std::size_t k = 0; k <= last; ++k) {
      flags[k].assign(view.at(k).width, 0);
      zero[k].assign(view.at(k).width, 0.0);
      sink[k].assign(view.at(k).width, 0.0);
    }
    for (std::size_t j = 0; j < n && !dense; ++j) {
      touched[0] = {static_cast<std::uint32_t>(j)};
      for (std::size_t k = 1; k <= last && !dense; ++k) {
        const auto& node = view.at(k);
        for (std::size_t i = 0; i < node.inputs.size() && !dense; ++i) {
          const auto& from = touched[node.inputs[i]];
          if (from.empty()) continue;
          dense = !node.affine->add_sparse(i, from.data(), from.size(), zero[node.inputs[i]].data(), sink[k].data(),
                                           touched[k], flags[k].data());
        }
      }
      if (dense) break;
      for (std::uint32_t o : touched[last]) field[o].push_back(static_cast<std::uint32_t>(j));
      for (std::size_t k = 1; k <= last; ++k) {
        for (std::uint32_t o : touched[k]) flags[k][o] = 0;
        touched[k].clear();
      }
    }
  }
  if (dense) {
    row_matrix out(rows.rows(), rows.cols() + 1);
    out.leftCols(rows.cols()) = rows;
    for (std::size_t o = 0; o < units; ++o) out(static_cast<Eigen::Index>(o), rows.cols()) = bias[o];
    return out;
  }
  std::size_t widest = 0;
  for (const auto& f : field) widest = std::max(widest, f.size());
  // Filters: units of the widest field, keyed by bias, offsets and weights (a unit and its shifted copies agree).
  std::map<std::vector<double>, std::vector<double>> filters;
  for (std::size_t o = 0; o < units; ++o) {
    if (field[o].size() != widest) continue;
    std::vector<double> key{bias[o]}, values;
    for (std::uint32_t j : field[o]) {
      const double w = rows(static_cast<Eigen::Index>(o), static_cast<Eigen::Index>(j));
      key.push_back(static_cast<double>(j - field[o][0]));
      key.push_back(w);
      values.push_back(w);
    }
    values.push_back(bias[o]);
    filters.emplace(std::move(key), std::move(values));
  }
  row_matrix out(static_cast<Eigen::Index>(filters.size()), static_cast<Eigen::Index>(widest + 1));
  Eigen::Index r = 0;
  for (const auto& [key, values] : filters)
    out.row(r++) = Eigen::Map<const Eigen::RowVectorXd>(values.data(), static_cast<Eigen::Index>(values.size()));
  return out;
}

class feature_quantization_analysis final : public genscope::analysis {
 public:
  explicit feature_quantization_analysis(settings s) : s_(s) {}

  std::vector<genscope::table_spec> tables() const override { return {summary_table(), clusters_table()}; }

  void check(const std::vector<genscope::dataset_shape>& data, std::size_t /*model_input_dim*/) const override {
    if (data.size() != 1)
      throw std::invalid_argument("feature_quantization reads one data set (datasets = [\"train\"]), not " +
                                  std::to_string(data.size()));
  }

  void prepare(const genscope::network_backend& model, const std::vector<const genscope::dataset*>& data,
               std::uint64_t /*seed*/) override {
    if (data.size() != 1)
      throw std::invalid_argument("feature_quantization reads one data set (datasets = [\"train\"]), not " +
                                  std::to_string(data.size()));
    const genscope::dataset& set = *data[0];
    if (set.dim() != model.input_dim())
      throw std::invalid_argument("data set '" + set.name + "' has samples of dimension " +
                                  std::to_string(set.dim()) + ", the model takes " +
                                  std::to_string(model.input_dim()));
    measures_.clear();
    rows_.clear();
    std::optional<augmented_data> data_directions;  // made when a dense first layer first needs it
    for (const std::int64_t epoch : genscope::checkpoints_to_measure(model, s_.checkpoints)) {
      const auto measured = genscope::model_at_checkpoint(model, epoch);
      const genscope::piecewise_linear_graph* view = measured->piecewise_linear();
      if (view == nullptr)
        throw std::invalid_argument("feature_quantization needs a backend with a piecewise-linear view (capability "
                                    "piecewise_linear); the model's backend (" + model.describe() + ") offers none");
      bool dense = false;
      const row_matrix features = first_layer_features(*view, dense);
      measure m;
      m.epoch = epoch;
      m.input_dim = features.cols() - 1;
      m.clusters = cluster_features(features);
      if (dense) {
        if (!data_directions) data_directions = augment(set);
        align(*data_directions, m.clusters);
      }
      for (std::size_t c = 0; c < m.clusters.size(); ++c) rows_.push_back({measures_.size(), c});
      measures_.push_back(std::move(m));
    }
    prepared_ = true;
  }

  std::size_t row_count(std::size_t table) const override {
    if (table == 0) return measures_.size();
    if (table == 1) return rows_.size();
    throw std::out_of_range("feature_quantization has tables 0 and 1, not " + std::to_string(table));
  }

  void compute(std::size_t table, std::size_t first, std::size_t count, genscope::table_batch& out) const override {
    if (!prepared_) throw std::logic_error("feature_quantization: compute() before prepare()");
    if (first > row_count(table) || count > row_count(table) - first)
      throw std::out_of_range("feature_quantization: rows beyond the table's " + std::to_string(row_count(table)));
    if (out.rows() != count) throw std::invalid_argument("feature_quantization: the batch has the wrong number of rows");
    if (table == 0) {
      for (std::size_t r = 0; r < count; ++r) summarize(measures_[first + r], r, out);
      return;
    }
    auto& direction = out.reals("direction");
    for (std::size_t r = 0; r < count; ++r) {
      const auto [m, k] = rows_[first + r];
      const cluster& c = measures_[m].clusters[k];
      out.ints("epoch")[r] = measures_[m].epoch;
      out.ints("rank")[r] = static_cast<std::int64_t>(k);
      out.ints("features")[r] = c.features;
      out.reals("mass")[r] = c.mass;
      out.reals("mass_share")[r] = c.share;
      out.reals("spread")[r] = c.spread;
      out.reals("point_alignment")[r] = c.point_alignment;
      out.reals("subspace_alignment")[r] = c.subspace_alignment;
      direction.insert(direction.end(), c.direction.begin(), c.direction.end());
      out.counts("direction")[r] = c.direction.size();
    }
  }

 private:
  // Clusters of the features by angle, largest mass first (ties: the cluster of the lower first feature).
  std::vector<cluster> cluster_features(const row_matrix& features) const {
    const Eigen::Index n = features.rows();
    const Eigen::VectorXd mass = features.rowwise().norm();
    row_matrix unit = features;
    for (Eigen::Index i = 0; i < n; ++i)
      if (mass[i] > 0) unit.row(i) /= mass[i];
    const Eigen::MatrixXd cosines = unit * unit.transpose();
    const double linked = std::cos(s_.angle * std::numbers::pi / 180.0);
    disjoint_sets sets(static_cast<std::size_t>(n));
    for (Eigen::Index i = 0; i < n; ++i)
      for (Eigen::Index j = i + 1; j < n; ++j)
        if (mass[i] > 0 && mass[j] > 0 && cosines(i, j) >= linked)
          sets.join(static_cast<std::size_t>(i), static_cast<std::size_t>(j));
    std::map<std::size_t, std::vector<Eigen::Index>> groups;  // by lowest member
    for (Eigen::Index i = 0; i < n; ++i)
      if (mass[i] > 0) groups[sets.find(static_cast<std::size_t>(i))].push_back(i);
    const double total = mass.sum();
    std::vector<cluster> out;
    for (const auto& [root, members] : groups) {
      cluster c;
      c.features = static_cast<std::int64_t>(members.size());
      Eigen::RowVectorXd sum = Eigen::RowVectorXd::Zero(features.cols());
      for (Eigen::Index i : members) {
        c.mass += mass[i];
        sum += mass[i] * unit.row(i);
      }
      c.share = total > 0 ? c.mass / total : nan;
      const Eigen::RowVectorXd d = sum.normalized();
      for (Eigen::Index i : members)
        c.spread = std::max(c.spread, std::acos(std::clamp(unit.row(i).dot(d), -1.0, 1.0)) * 180.0 / std::numbers::pi);
      c.direction.assign(d.data(), d.data() + d.size());
      out.push_back(std::move(c));
    }
    std::stable_sort(out.begin(), out.end(), [](const cluster& a, const cluster& b) { return a.mass > b.mass; });
    return out;
  }

  // The augmented data (x_i, 1), their norms and top principal directions: the same for every checkpoint.
  augmented_data augment(const genscope::dataset& set) const {
    const auto n = static_cast<Eigen::Index>(set.size()), d = static_cast<Eigen::Index>(set.dim());
    augmented_data a;
    a.x.resize(n, d + 1);
    for (Eigen::Index i = 0; i < n; ++i) {
      for (Eigen::Index j = 0; j < d; ++j) a.x(i, j) = set.x(static_cast<std::size_t>(i), static_cast<std::size_t>(j));
      a.x(i, d) = 1.0;
    }
    a.norms = a.x.rowwise().norm();
    Eigen::MatrixXd gram = Eigen::MatrixXd::Zero(d + 1, d + 1);
    gram.selfadjointView<Eigen::Lower>().rankUpdate(a.x.transpose());
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(gram);
    const auto k = std::min<Eigen::Index>(static_cast<Eigen::Index>(s_.components), d + 1);
    a.top = eig.eigenvectors().rightCols(k);
    return a;
  }

  // Each cluster's alignment with the augmented data: the best single point and the top principal directions.
  static void align(const augmented_data& a, std::vector<cluster>& clusters) {
    for (cluster& c : clusters) {
      const Eigen::Map<const Eigen::VectorXd> u(c.direction.data(), a.x.cols());
      c.point_alignment = (a.x * u).cwiseQuotient(a.norms).maxCoeff();
      c.subspace_alignment = (a.top.transpose() * u).squaredNorm();
    }
  }

  // Row r of the summary: measure m.
  void summarize(const measure& m, std::size_t r, genscope::table_batch& out) const {
    const std::vector<cluster>& clusters = m.clusters;
    double total = 0, squares = 0, point = 0, subspace = 0, held = 0;
    for (const cluster& c : clusters) {
      total += c.mass;
      squares += c.mass * c.mass;
      point += c.mass * c.point_alignment;
      subspace += c.mass * c.subspace_alignment;
    }
    std::int64_t features = 0, for_mass = 0;
    double top = 0;
    for (std::size_t i = 0; i < clusters.size(); ++i) {
      features += clusters[i].features;
      if (i < s_.top) top += clusters[i].mass;
      if (held < s_.mass_fraction * total) {
        held += clusters[i].mass;
        ++for_mass;
      }
    }
    out.ints("epoch")[r] = m.epoch;
    out.ints("features")[r] = features;
    out.ints("input_dim")[r] = m.input_dim;
    out.ints("clusters")[r] = static_cast<std::int64_t>(clusters.size());
    out.ints("clusters_for_mass")[r] = for_mass;
    out.reals("top_fraction")[r] = total > 0 ? top / total : nan;
    out.reals("mass_participation")[r] = squares > 0 ? total * total / squares : nan;
    out.reals("point_alignment")[r] = total > 0 ? point / total : nan;
    out.reals("subspace_alignment")[r] = total > 0 ? subspace / total : nan;
  }

  settings s_;
  std::vector<measure> measures_;                           // one per model measured, in checkpoint order
  std::vector<std::pair<std::size_t, std::size_t>> rows_;  // clusters table: (measure, cluster)
  bool prepared_ = false;
};

genscope::plugin_object* create(const genscope::option_set& o) {
  settings s;
  s.angle = o.get_real("angle");
  if (!(s.angle > 0 && s.angle < 180))
    throw std::invalid_argument("option 'angle' = " + std::to_string(s.angle) + " must lie in (0, 180) degrees");
  s.mass_fraction = o.get_real("mass_fraction");
  if (!(s.mass_fraction > 0 && s.mass_fraction <= 1))
    throw std::invalid_argument("option 'mass_fraction' = " + std::to_string(s.mass_fraction) +
                                " must lie in (0, 1]");
  s.checkpoints = o.get_string("checkpoints");
  genscope::check_checkpoints_option(s.checkpoints);
  s.top = o.get_count("top", 1);
  s.components = o.get_count("components", 1);
  return new feature_quantization_analysis(s);
}

}  // namespace

GENSCOPE_PLUGIN_WITH_CAPABILITIES(genscope::plugin_kind::analysis, "feature_quantization", "1.0.0",
                                  "first-layer feature directions clustered by angle: clusters holding the weight "
                                  "mass and their alignment with the data (Maennel et al. 2018)",
                                  options, &create, genscope::capability_piecewise_linear)
