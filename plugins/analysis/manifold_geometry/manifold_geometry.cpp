// Analysis plugin "manifold_geometry": per layer and class manifold, the replica mean-field capacity, radius and
// dimension (Chung, Lee, Sompolinsky 2018; Stephenson et al. 2021), and per layer the centre correlation and the
// total dimension of the sampled activations.
#include "replica.hpp"

#include <genscope/analysis.hpp>
#include <genscope/error.hpp>
#include <genscope/plugin.hpp>
#include <genscope/random.hpp>
#include <genscope/sampling.hpp>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Dense>
#pragma GCC diagnostic pop

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using genscope::column_type;
using genscope::option_spec;
using genscope::option_type;
using row_matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

const option_spec options[] = {
    {"layers", option_type::string, "all",
     "comma-separated layers to measure: \"input\", the backend's hidden layers (e.g. \"relu1\"), \"logits\"; "
     "\"all\" = every one of them in forward order"},
    {"subsets", option_type::string, "all",
     "comma-separated sample subsets measured separately: \"all\", \"clean\" (label = true label), "
     "\"relabelled\" (label != true label, after a permutation or corruption)"},
    {"classes", option_type::integer, "0",
     "class manifolds P per subset: 0 = every class with at least 'samples' samples in the subset; else a seeded "
     "choice of that many of them"},
    {"samples", option_type::integer, "50", "points M per class manifold, a seeded choice among the class's samples"},
    {"kappa", option_type::real, "0.0", "margin kappa of the replica theory (finite)"},
    {"n_t", option_type::integer, "200", "Gaussian vectors t sampled per manifold"},
    {"projection", option_type::integer, "5000",
     "a layer wider than this is first mapped to this many features by a seeded Gaussian random projection "
     "(entries N(0, 1/projection), one matrix per layer name); 0 = never"},
    {"centre_rank", option_type::integer, "0",
     "K: the top K principal directions of the class centres are projected out before the manifolds are "
     "measured (0 = none); at most P - 2"},
    {"variance_fraction", option_type::real, "0.9",
     "the layer's variance_dimension is the fewest principal components holding this fraction of the variance"},
    {"dimension_points", option_type::integer, "1000",
     "points (a seeded choice of the subset's P M) whose covariance spectrum gives the layer's total dimension; "
     "0 = all of them"},
    genscope::checkpoints_option,
};

const genscope::table_spec& manifolds_table() {
  static const genscope::table_spec spec{
      "manifolds",
      "one class manifold of one layer and sample subset (of one checkpoint): its replica mean-field geometry",
      {
          {"epoch", column_type::int64, 1, "checkpoint epoch of the weights measured; 0 for the weights served", ""},
          {"subset", column_type::string, 1, "sample subset: all, clean or relabelled", ""},
          {"layer", column_type::string, 1, "layer name: input, a hidden layer of the backend, or logits", ""},
          {"layer_index", column_type::int64, 1, "position of the layer: 0 = input, then forward order", ""},
          {"label", column_type::int64, 1, "the class (training label) whose samples form the manifold", ""},
          {"samples", column_type::int64, 1, "points M of the manifold", ""},
          {"members", column_type::int64, genscope::ragged,
           "indices in the data set of the manifold's M samples, in the order chosen", ""},
          {"capacity", column_type::float64, 1,
           "alpha_M = 1 / <||v - t||^2>_t, the manifold's classification capacity at margin kappa (average over "
           "manifolds as 1 / mean(1 / alpha_M))",
           "", true},
          {"radius", column_type::float64, 1,
           "R_M: root mean square spread of the anchor points around their mean, in units of the centre norm", "",
           true},
          {"dimension", column_type::float64, 1, "D_M = D <t_hat . s_hat>_t^2, the anchor dimension", "", true},
          {"centre_norm", column_type::float64, 1,
           "norm of the manifold's centre relative to the mean of all the subset's points (the unit of radius)", "",
           true},
          {"anchored", column_type::int64, 1, "sampled t whose projection needed a QP (the rest lie in the cone)", ""},
          {"solver_failures", column_type::int64, 1,
           "QPs the solver did not finish; when > 0 capacity, radius and dimension are NaN", ""},
          {"kkt_violation", column_type::float64, 1,
           "largest KKT residual of the manifold's QPs: max(feasibility s.v + kappa > 0, complementarity "
           "lambda |s.v + kappa|)",
           ""},
      },
      "layer"};
  return spec;
}

const genscope::table_spec& layers_table() {
  static const genscope::table_spec spec{
      "layers",
      "one layer and sample subset: its width, centre correlation and total dimension",
      {
          {"epoch", column_type::int64, 1, "checkpoint epoch of the weights measured; 0 for the weights served", ""},
          {"subset", column_type::string, 1, "sample subset: all, clean or relabelled", ""},
          {"layer", column_type::string, 1, "layer name: input, a hidden layer of the backend, or logits", ""},
          {"layer_index", column_type::int64, 1, "position of the layer: 0 = input, then forward order", ""},
          {"width", column_type::int64, 1, "the layer's width (values per sample)", ""},
          {"features", column_type::int64, 1, "features measured: the width, or the projection's after one", ""},
          {"manifolds", column_type::int64, 1, "class manifolds P measured", ""},
          {"centre_correlation", column_type::float64, 1,
           "mean |cosine| between the P centres, each minus the mean centre (over the P (P - 1) pairs)", "", true},
          {"participation_ratio", column_type::float64, 1,
           "(sum lambda)^2 / sum lambda^2 of the covariance eigenvalues lambda of the dimension points", "", true},
          {"variance_dimension", column_type::int64, 1,
           "fewest principal components holding variance_fraction of the dimension points' variance", "", true},
          {"dimension_points", column_type::int64, 1, "points whose covariance gave the two dimensions", ""},
      },
      ""};
  return spec;
}

std::vector<std::string> split_list(const std::string& text, const std::string& option) {
  std::vector<std::string> items;
  std::size_t from = 0;
  while (true) {
    const std::size_t comma = text.find(',', from);
    std::string item = text.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
    const auto first = item.find_first_not_of(" \t"), last = item.find_last_not_of(" \t");
    item = first == std::string::npos ? std::string() : item.substr(first, last - first + 1);
    if (item.empty())
      throw std::invalid_argument("option '" + option + "' = \"" + text + "\" has an empty entry");
    if (std::find(items.begin(), items.end(), item) != items.end())
      throw std::invalid_argument("option '" + option + "' names '" + item + "' twice");
    items.push_back(std::move(item));
    if (comma == std::string::npos) return items;
    from = comma + 1;
  }
}

struct settings {
  std::string layers, checkpoints;
  std::vector<std::string> subsets;
  std::size_t classes = 0, samples = 0, vectors = 0, projection = 0, centre_rank = 0, dimension_points = 0;
  double kappa = 0, variance_fraction = 0;
};

// One class manifold, ready for the replica measure.
struct manifold {
  std::int64_t label = 0;
  std::vector<std::size_t> members;  // sample indices in the data set
  Eigen::MatrixXd points;  // D x M: the points minus their centre, in units of centre_norm, in a D <= M basis
  double centre_norm = 0;
};

// One layer measured on one subset.
struct layer_result {
  std::string subset, layer;
  std::int64_t epoch = 0, layer_index = 0, width = 0, features = 0;
  double centre_correlation = 0, participation_ratio = 0;
  std::int64_t variance_dimension = 0, dimension_points = 0;
  std::vector<manifold> manifolds;
};

// The samples of one subset: the chosen classes and, per class, its M chosen samples.
struct subset_choice {
  std::string name;
  std::vector<std::int64_t> labels;
  std::vector<std::vector<std::size_t>> members;  // per class: sample indices
};

class manifold_geometry_analysis final : public genscope::analysis {
 public:
  explicit manifold_geometry_analysis(settings s) : s_(std::move(s)) {}

  std::vector<genscope::table_spec> tables() const override { return {manifolds_table(), layers_table()}; }

  void check(const std::vector<genscope::dataset_shape>& data, std::size_t /*model_input_dim*/) const override {
    if (data.size() != 1)
      throw std::invalid_argument("manifold_geometry measures one data set (datasets = [\"name\"]), not " +
                                  std::to_string(data.size()));
    if (s_.samples > data[0].count)
      throw std::invalid_argument("option 'samples' = " + std::to_string(s_.samples) + " exceeds the " +
                                  std::to_string(data[0].count) + " samples of data set '" + data[0].name + "'");
  }

  void prepare(const genscope::network_backend& model, const std::vector<const genscope::dataset*>& data,
               std::uint64_t seed) override {
    if (data.size() != 1)
      throw std::invalid_argument("manifold_geometry measures one data set (datasets = [\"name\"]), not " +
                                  std::to_string(data.size()));
    const genscope::dataset& set = *data[0];
    if (set.dim() != model.input_dim())
      throw std::invalid_argument("data set '" + set.name + "' has samples of dimension " +
                                  std::to_string(set.dim()) + ", the model takes " +
                                  std::to_string(model.input_dim()));
    genscope::require_labels(set);
    const std::vector<std::pair<std::string, std::int64_t>> layers = chosen_layers(model);
    std::vector<subset_choice> subsets;
    for (const std::string& name : s_.subsets) subsets.push_back(choose(set, name, seed));

    results_.clear();
    rows_.clear();
    for (const std::int64_t epoch : genscope::checkpoints_to_measure(model, s_.checkpoints)) {
      const auto measured = genscope::model_at_checkpoint(model, epoch);
      for (const subset_choice& subset : subsets)
        for (const auto& [layer, index] : layers) {
          results_.push_back(measure_layer(*measured, set, subset, layer, index, seed));
          results_.back().epoch = epoch;
          for (std::size_t m = 0; m < results_.back().manifolds.size(); ++m)
            rows_.push_back({results_.size() - 1, m});
        }
    }
    seed_ = seed;
    prepared_ = true;
  }

  std::size_t row_count(std::size_t table) const override {
    if (table == 0) return rows_.size();
    if (table == 1) return results_.size();
    throw std::out_of_range("manifold_geometry has tables 0 and 1, not " + std::to_string(table));
  }

  void compute(std::size_t table, std::size_t first, std::size_t count, genscope::table_batch& out) const override {
    if (!prepared_) throw std::logic_error("manifold_geometry: compute() before prepare()");
    if (first > row_count(table) || count > row_count(table) - first)
      throw std::out_of_range("manifold_geometry: rows [" + std::to_string(first) + ", " +
                              std::to_string(first + count) + ") beyond the table's " +
                              std::to_string(row_count(table)));
    if (out.rows() != count) throw std::invalid_argument("manifold_geometry: the batch has the wrong number of rows");
    if (table == 0)
      compute_manifolds(first, count, out);
    else
      compute_layers(first, count, out);
  }

 private:
  // The measured layers with their positions (0 = input, hidden layers 1.., logits last).
  std::vector<std::pair<std::string, std::int64_t>> chosen_layers(const genscope::network_backend& model) const {
    std::vector<std::pair<std::string, std::int64_t>> all{{"input", 0}};
    for (const std::string& name : model.hidden_layers())
      all.emplace_back(name, static_cast<std::int64_t>(all.size()));
    all.emplace_back("logits", static_cast<std::int64_t>(all.size()));
    if (s_.layers == "all") return all;
    std::vector<std::pair<std::string, std::int64_t>> chosen;
    for (const std::string& name : split_list(s_.layers, "layers")) {
      const auto it = std::find_if(all.begin(), all.end(), [&](const auto& l) { return l.first == name; });
      if (it == all.end()) {
        std::string known;
        for (const auto& l : all) known += (known.empty() ? "" : ", ") + l.first;
        throw std::invalid_argument("option 'layers' names '" + name + "', not a layer of the model (" +
                                    model.describe() + "; its layers: " + known + ")");
      }
      chosen.push_back(*it);
    }
    return chosen;
  }

  // The classes and samples of one subset (seeded; the choice depends on the data, the options and the seed).
  subset_choice choose(const genscope::dataset& set, const std::string& name, std::uint64_t seed) const {
    if (name != "all" && set.true_labels.size() != set.labels.size())
      throw std::invalid_argument("subset '" + name + "' needs the true labels of data set '" + set.name +
                                  "', which it lacks");
    std::vector<std::vector<std::size_t>> by_class(set.class_count);
    for (std::size_t i = 0; i < set.size(); ++i) {
      const std::int32_t y = set.labels[i];
      if (y < 0 || static_cast<std::size_t>(y) >= set.class_count)
        throw std::invalid_argument("data set '" + set.name + "': sample " + std::to_string(i) + " has label " +
                                    std::to_string(y) + ", not one of its " + std::to_string(set.class_count) +
                                    " classes");
      const bool clean = name == "all" || (set.labels[i] == set.true_labels[i]) == (name == "clean");
      if (clean) by_class[static_cast<std::size_t>(y)].push_back(i);
    }
    std::vector<std::int64_t> eligible;
    for (std::size_t c = 0; c < by_class.size(); ++c)
      if (by_class[c].size() >= s_.samples) eligible.push_back(static_cast<std::int64_t>(c));
    const std::size_t wanted = s_.classes == 0 ? eligible.size() : s_.classes;
    if (eligible.size() < std::max<std::size_t>(wanted, 2))
      throw std::invalid_argument("subset '" + name + "' of data set '" + set.name + "' has " +
                                  std::to_string(eligible.size()) + " classes with at least " +
                                  std::to_string(s_.samples) + " samples (option 'samples'); " +
                                  (s_.classes == 0 ? std::string("at least 2 are needed")
                                                   : "option 'classes' asks for " + std::to_string(s_.classes)));
    subset_choice out;
    out.name = name;
    if (wanted == eligible.size()) {
      out.labels = eligible;
    } else {
      for (std::size_t k : genscope::choose_samples(eligible.size(), wanted, seed, "manifold_geometry classes " + name))
        out.labels.push_back(eligible[k]);
      std::sort(out.labels.begin(), out.labels.end());
    }
    for (std::int64_t c : out.labels) {
      const auto& pool = by_class[static_cast<std::size_t>(c)];
      std::vector<std::size_t> members;
      for (std::size_t k : genscope::choose_samples(pool.size(), s_.samples, seed,
                                                    "manifold_geometry samples " + name + " " + std::to_string(c)))
        members.push_back(pool[k]);
      out.members.push_back(std::move(members));
    }
    return out;
  }

  // The layer's values for the subset's P M samples, class by class, as features (projected when wider than
  // the projection).
  row_matrix features(const genscope::network_backend& model, const genscope::dataset& set,
                      const subset_choice& subset, const std::string& layer, std::uint64_t seed,
                      std::size_t& width) const {
    std::vector<std::size_t> order;
    for (const auto& members : subset.members) order.insert(order.end(), members.begin(), members.end());
    constexpr std::size_t chunk = 256;
    const std::size_t n = order.size(), chunks = (n + chunk - 1) / chunk;
    std::vector<genscope::matrix> values(chunks);
    tbb::parallel_for(std::size_t{0}, chunks, [&](std::size_t c) {
      const std::size_t from = c * chunk, rows = std::min(chunk, n - from);
      genscope::matrix x(rows, set.dim());
      for (std::size_t r = 0; r < rows; ++r)
        std::copy_n(set.x.row(order[from + r]), set.dim(), x.row(r));
      if (layer == "input")
        values[c] = std::move(x);
      else if (layer == "logits")
        model.logits(x, values[c]);
      else
        model.activations(layer, x, values[c]);
    });
    width = values.empty() ? 0 : values[0].cols;
    for (const genscope::matrix& v : values)
      if (v.cols != width)
        throw genscope::error("manifold_geometry: layer '" + layer + "' of the model (" + model.describe() +
                              ") gives batches of " + std::to_string(width) + " and " + std::to_string(v.cols) +
                              " values per sample");
    row_matrix out(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(width));
    for (std::size_t c = 0; c < chunks; ++c)
      for (std::size_t r = 0; r < values[c].rows; ++r)
        for (std::size_t j = 0; j < width; ++j)
          out(static_cast<Eigen::Index>(c * chunk + r), static_cast<Eigen::Index>(j)) = values[c](r, j);
    if (!out.allFinite())
      throw genscope::error("manifold_geometry: layer '" + layer + "' of the model (" + model.describe() +
                            ") gives a value that is not finite on data set '" + set.name + "'");
    if (s_.projection == 0 || width <= s_.projection) return out;
    // Row r of the projection from its own generator: the matrix depends only on (seed, layer, r).
    row_matrix projection(static_cast<Eigen::Index>(s_.projection), static_cast<Eigen::Index>(width));
    const double scale = 1.0 / std::sqrt(static_cast<double>(s_.projection));
    tbb::parallel_for(std::size_t{0}, s_.projection, [&](std::size_t r) {
      genscope::rng random(seed, genscope::stream_key("manifold_geometry projection " + layer), r);
      for (Eigen::Index j = 0; j < projection.cols(); ++j)
        projection(static_cast<Eigen::Index>(r), j) = scale * random.normal();
    });
    return out * projection.transpose();
  }

  layer_result measure_layer(const genscope::network_backend& model, const genscope::dataset& set,
                             const subset_choice& subset, const std::string& layer, std::int64_t index,
                             std::uint64_t seed) const {
    layer_result out;
    out.subset = subset.name;
    out.layer = layer;
    out.layer_index = index;
    std::size_t width = 0;
    const row_matrix x = features(model, set, subset, layer, seed, width);
    out.width = static_cast<std::int64_t>(width);
    out.features = x.cols();
    const Eigen::Index p = static_cast<Eigen::Index>(subset.labels.size()), m = static_cast<Eigen::Index>(s_.samples);
    const Eigen::RowVectorXd origin = x.colwise().mean();
    row_matrix centres(p, x.cols());
    for (Eigen::Index i = 0; i < p; ++i) centres.row(i) = x.middleRows(i * m, m).colwise().mean() - origin;

    // Centre correlation: mean |cos| between the centres minus their mean, over distinct pairs.
    const row_matrix spread = centres.rowwise() - centres.colwise().mean();
    const Eigen::MatrixXd gram = spread * spread.transpose();
    const Eigen::VectorXd norms = gram.diagonal().cwiseSqrt();
    double correlation = 0;
    for (Eigen::Index i = 0; i < p; ++i)
      for (Eigen::Index j = 0; j < p; ++j)
        if (i != j) correlation += std::abs(gram(i, j)) / (norms[i] * norms[j]);
    out.centre_correlation = correlation / static_cast<double>(p * (p - 1));

    // The centres' top principal directions, projected out of every manifold (centre_rank K).
    Eigen::MatrixXd basis;  // features x K, orthonormal columns
    if (s_.centre_rank > 0) {
      if (s_.centre_rank + 1 >= static_cast<std::size_t>(p))
        throw std::invalid_argument("option 'centre_rank' = " + std::to_string(s_.centre_rank) + ": the " +
                                    std::to_string(p) + " centres of subset '" + subset.name + "' (minus their " +
                                    "mean) span at most " + std::to_string(p - 1) +
                                    " directions, and removing them all leaves none; at most " +
                                    std::to_string(p - 2));
      const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(gram);
      const auto k = static_cast<Eigen::Index>(s_.centre_rank);
      const Eigen::VectorXd values = eig.eigenvalues().tail(k);
      if (!(values.minCoeff() > 1e-12 * values.maxCoeff()))
        throw std::invalid_argument("option 'centre_rank' = " + std::to_string(s_.centre_rank) + ": the centres of " +
                                    "layer '" + layer + "' (subset '" + subset.name + "') span fewer directions");
      basis = spread.transpose() * eig.eigenvectors().rightCols(k);
      basis *= values.cwiseSqrt().cwiseInverse().asDiagonal();
    }

    out.manifolds.resize(static_cast<std::size_t>(p));
    tbb::parallel_for(Eigen::Index{0}, p, [&](Eigen::Index i) {
      manifold& mf = out.manifolds[static_cast<std::size_t>(i)];
      mf.label = subset.labels[static_cast<std::size_t>(i)];
      mf.members = subset.members[static_cast<std::size_t>(i)];
      Eigen::MatrixXd points = (x.middleRows(i * m, m).rowwise() - origin).transpose();  // features x M
      if (basis.size() > 0) points -= basis * (basis.transpose() * points);
      const Eigen::VectorXd centre = points.rowwise().mean();
      mf.centre_norm = centre.norm();
      points.colwise() -= centre;
      if (mf.centre_norm > 0)
        points /= mf.centre_norm;
      else  // a centre at the mean of all points (a dead layer): no unit to measure in, the measures are NaN
        points.setConstant(std::numeric_limits<double>::quiet_NaN());
      if (points.rows() > m) {
        const Eigen::HouseholderQR<Eigen::MatrixXd> qr(points);
        mf.points = qr.matrixQR().topRows(m).triangularView<Eigen::Upper>();
      } else {
        mf.points = std::move(points);
      }
    });

    // Total dimension: the covariance spectrum of a seeded choice of the points (via the smaller Gram matrix).
    const std::size_t total = static_cast<std::size_t>(x.rows());
    std::vector<std::size_t> chosen;
    if (s_.dimension_points == 0 || s_.dimension_points >= total) {
      chosen.resize(total);
      std::iota(chosen.begin(), chosen.end(), std::size_t{0});
    } else {
      chosen = genscope::choose_samples(total, s_.dimension_points, seed, "manifold_geometry dimension " + subset.name);
    }
    row_matrix z(static_cast<Eigen::Index>(chosen.size()), x.cols());
    for (std::size_t r = 0; r < chosen.size(); ++r)
      z.row(static_cast<Eigen::Index>(r)) = x.row(static_cast<Eigen::Index>(chosen[r]));
    z.rowwise() -= z.colwise().mean();
    const bool by_points = z.rows() <= z.cols();
    Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(by_points ? z.rows() : z.cols(), by_points ? z.rows() : z.cols());
    if (by_points)
      cov.selfadjointView<Eigen::Lower>().rankUpdate(z);
    else
      cov.selfadjointView<Eigen::Lower>().rankUpdate(z.transpose());
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> spectrum(cov, Eigen::EigenvaluesOnly);
    Eigen::VectorXd lambda = spectrum.eigenvalues().cwiseMax(0.0).reverse();  // descending
    const double sum = lambda.sum(), squares = lambda.squaredNorm();
    out.dimension_points = static_cast<std::int64_t>(chosen.size());
    out.participation_ratio = squares > 0 ? sum * sum / squares : std::numeric_limits<double>::quiet_NaN();
    double held = 0;
    out.variance_dimension = 0;
    while (sum > 0 && out.variance_dimension < lambda.size() && held < s_.variance_fraction * sum)
      held += lambda[out.variance_dimension++];
    return out;
  }

  void compute_manifolds(std::size_t first, std::size_t count, genscope::table_batch& out) const {
    auto& epoch = out.ints("epoch");
    auto& subset = out.strings("subset");
    auto& layer = out.strings("layer");
    auto& layer_index = out.ints("layer_index");
    auto& label = out.ints("label");
    auto& samples = out.ints("samples");
    auto& capacity = out.reals("capacity");
    auto& radius = out.reals("radius");
    auto& dimension = out.reals("dimension");
    auto& centre_norm = out.reals("centre_norm");
    auto& anchored = out.ints("anchored");
    auto& failures = out.ints("solver_failures");
    auto& kkt = out.reals("kkt_violation");
    // Rows in parallel: each depends on its own manifold and vectors only.
    tbb::parallel_for(std::size_t{0}, count, [&](std::size_t r) {
      const auto [l, k] = rows_[first + r];
      const layer_result& lr = results_[l];
      const manifold& mf = lr.manifolds[k];
      epoch[r] = lr.epoch;
      subset[r] = lr.subset;
      layer[r] = lr.layer;
      layer_index[r] = lr.layer_index;
      label[r] = mf.label;
      samples[r] = static_cast<std::int64_t>(s_.samples);
      centre_norm[r] = mf.centre_norm;
      // The vectors of a manifold depend on (seed, subset, layer, class) only.
      genscope::rng random(seed_, genscope::stream_key("manifold_geometry t " + lr.subset + " " + lr.layer),
                           static_cast<std::uint64_t>(mf.label));
      const genscope::replica::geometry g = genscope::replica::measure(mf.points, s_.kappa, s_.vectors, random);
      capacity[r] = g.capacity;
      radius[r] = g.radius;
      dimension[r] = g.dimension;
      anchored[r] = static_cast<std::int64_t>(g.anchored);
      failures[r] = static_cast<std::int64_t>(g.failed);
      kkt[r] = g.kkt_violation;
    });
    auto& members = out.ints("members");
    auto& counts = out.counts("members");
    for (std::size_t r = 0; r < count; ++r) {
      const manifold& mf = results_[rows_[first + r].first].manifolds[rows_[first + r].second];
      for (std::size_t i : mf.members) members.push_back(static_cast<std::int64_t>(i));
      counts[r] = mf.members.size();
    }
  }

  void compute_layers(std::size_t first, std::size_t count, genscope::table_batch& out) const {
    for (std::size_t r = 0; r < count; ++r) {
      const layer_result& lr = results_[first + r];
      out.ints("epoch")[r] = lr.epoch;
      out.strings("subset")[r] = lr.subset;
      out.strings("layer")[r] = lr.layer;
      out.ints("layer_index")[r] = lr.layer_index;
      out.ints("width")[r] = lr.width;
      out.ints("features")[r] = lr.features;
      out.ints("manifolds")[r] = static_cast<std::int64_t>(lr.manifolds.size());
      out.reals("centre_correlation")[r] = lr.centre_correlation;
      out.reals("participation_ratio")[r] = lr.participation_ratio;
      out.ints("variance_dimension")[r] = lr.variance_dimension;
      out.ints("dimension_points")[r] = lr.dimension_points;
    }
  }

  settings s_;
  std::vector<layer_result> results_;
  std::vector<std::pair<std::size_t, std::size_t>> rows_;  // manifolds table: (layer result, manifold)
  std::uint64_t seed_ = 0;
  bool prepared_ = false;
};

genscope::plugin_object* create(const genscope::option_set& o) {
  settings s;
  s.layers = o.get_string("layers");
  if (s.layers.empty()) throw std::invalid_argument("option 'layers' is empty (\"all\" measures every layer)");
  if (s.layers != "all") split_list(s.layers, "layers");
  s.subsets = split_list(o.get_string("subsets"), "subsets");
  s.checkpoints = o.get_string("checkpoints");
  genscope::check_checkpoints_option(s.checkpoints);
  for (const std::string& subset : s.subsets)
    if (subset != "all" && subset != "clean" && subset != "relabelled")
      throw std::invalid_argument("option 'subsets' names '" + subset +
                                  "'; the subsets are \"all\", \"clean\" and \"relabelled\"");
  s.classes = o.get_count("classes", 0);
  s.samples = o.get_count("samples", 1);
  s.vectors = o.get_count("n_t", 1);
  s.projection = o.get_count("projection", 0);
  s.centre_rank = o.get_count("centre_rank", 0);
  s.dimension_points = o.get_count("dimension_points", 0);
  s.kappa = o.get_real("kappa");
  if (!std::isfinite(s.kappa)) throw std::invalid_argument("option 'kappa' must be finite");
  s.variance_fraction = o.get_real("variance_fraction");
  if (!(s.variance_fraction > 0 && s.variance_fraction <= 1))
    throw std::invalid_argument("option 'variance_fraction' = " + std::to_string(s.variance_fraction) +
                                " must lie in (0, 1]");
  if (s.classes == 1) throw std::invalid_argument("option 'classes' = 1: at least 2 manifolds are needed");
  return new manifold_geometry_analysis(std::move(s));
}

}  // namespace

GENSCOPE_PLUGIN_WITH_CAPABILITIES(genscope::plugin_kind::analysis, "manifold_geometry", "1.0.0",
                                  "replica mean-field capacity, radius and dimension of class manifolds per layer, "
                                  "centre correlation and total dimension (Stephenson et al. 2021)",
                                  options, &create, genscope::capability_hidden_activations)
