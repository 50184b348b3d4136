// Analysis plugin "jacobian": per data point, the exact Jacobian of the network on the point's linear region and
// of its softmax output (Novak et al. 2018), with the cross-entropy loss and the logit margin.
#include <genscope/analysis.hpp>
#include <genscope/piecewise_linear.hpp>
#include <genscope/plugin.hpp>
#include <genscope/sampling.hpp>

// GCC 12 flags _mm512_undefined_pd() inside Eigen's AVX-512 packet code as
// maybe-uninitialized; the value is a don't-care operand, never read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using genscope::column_type;
using genscope::option_spec;
using genscope::option_type;

const option_spec options[] = {
    {"points", option_type::integer, "0",
     "points per data set: 0 = every sample in index order; else that many, choose_samples(N, points, seed, "
     "\"jacobian\") in shuffle order"},
};

// Points per batched product. A GEMM treats rows alike only within full row panels; a fixed block height that is
// a multiple of Eigen's double panels (6, 12, 24 rows for SSE, AVX, AVX-512) keeps a point's values independent of
// the batch it arrives in and of its place in it (the backward products have block_points * C rows).
constexpr std::size_t block_points = 24;

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

const genscope::table_spec& points_table() {
  static const genscope::table_spec spec{
      "points",
      "one chosen data point: its loss and margin, and the exact Jacobian norms on its linear region",
      {
          {"dataset", column_type::string, 1, "name of the data set the point is taken from", ""},
          {"index", column_type::int64, 1, "index of the point in its data set", ""},
          {"label", column_type::int64, 1, "the point's label y in its data set (the label trained on)", ""},
          {"predicted", column_type::int64, 1,
           "argmax of the logits, ties to the lower class; -1 when a logit is not finite", ""},
          {"correct", column_type::int64, 1, "1 when predicted equals label, else 0 (its mean is the accuracy)", "", true},
          {"margin", column_type::float64, 1, "logit margin f_y - max_{k != y} f_k (> 0: classified as y, no tie)",
           "", true},
          {"loss", column_type::float64, 1, "cross-entropy -log p_y of the softmax p of the logits", "", true},
          {"jacobian_frobenius", column_type::float64, 1,
           "||J||_F, J = (diag(p) - p p^T) A the Jacobian of the softmax output (Novak et al. 2018)", "", true},
          {"jacobian_spectral", column_type::float64, 1, "||J||_2, the largest singular value of J", "", true},
          {"linear_frobenius", column_type::float64, 1,
           "||A||_F, A = df/dx (C x n) the linear part of the network on the point's linear region", "", true},
          {"linear_spectral", column_type::float64, 1, "||A||_2, the largest singular value of A", "", true},
          {"boundary_units", column_type::int64, 1,
           "switch units exactly at a threshold at the point (a region boundary): a ReLU input at 0, a clip input "
           "at a bound, a max-pool window whose largest inputs tie",
           ""},
          {"flat_units", column_type::int64, 1,
           "boundary units that stay tied along e = (1, ..., 1)/sqrt(n) too (their pieces agree: kept as by the "
           "right-limit rule's tie)",
           ""},
      },
      "dataset"};
  return spec;
}

using row_matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using eigen_solver = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>;

Eigen::Index idx(std::size_t n) { return static_cast<Eigen::Index>(n); }

// Frobenius and spectral norm of a rows x cols row-major matrix, which is overwritten (scaled). The matrix is
// scaled by a power of two (exact) bringing its largest entry to [1, 2), so that neither squares nor the Gram
// matrix under- or overflow; the spectral norm is the square root of the Gram matrix's largest eigenvalue.
void norms(double* m, std::size_t rows, std::size_t cols, Eigen::MatrixXd& gram, eigen_solver& eig, double& frobenius,
           double& spectral) {
  Eigen::Map<Eigen::ArrayXd> a(m, idx(rows * cols));
  const double largest = a.abs().maxCoeff();
  if (!std::isfinite(largest)) {
    frobenius = spectral = nan;
    return;
  }
  if (largest == 0) {
    frobenius = spectral = 0;
    return;
  }
  const int e = std::ilogb(largest);
  if (e > -1000 && e < 1000)
    a *= std::ldexp(1.0, -e);
  else
    for (Eigen::Index k = 0; k < a.size(); ++k) a[k] = std::ldexp(a[k], -e);
  frobenius = std::ldexp(std::sqrt(a.square().sum()), e);
  const Eigen::Map<const row_matrix> mm(m, idx(rows), idx(cols));
  gram.setZero();
  gram.selfadjointView<Eigen::Lower>().rankUpdate(mm);  // the lower triangle, all the eigensolver reads
  eig.compute(gram, Eigen::EigenvaluesOnly);
  if (eig.info() != Eigen::Success) {
    spectral = nan;
    return;
  }
  spectral = std::ldexp(std::sqrt(std::max(0.0, eig.eigenvalues()(idx(rows) - 1))), e);
}

// Where one table row comes from.
struct point_ref {
  std::uint32_t set = 0;   // position in the analysis's data sets
  std::size_t index = 0;   // sample index in that data set
};

// All scratch of one compute() call (allocated per call: compute() runs on several threads at once).
struct scratch {
  std::vector<double> x;                   // 2 block_points x n: each point, then the tie-break direction e
  std::vector<std::vector<double>> forms;  // per node: values and slopes along e of every point
  genscope::switch_states states;          // per switch node: each point's pieces
  genscope::switch_states point_states;    // one point's pieces
  std::vector<double> seed, a;             // C x C identity; C x n linear part A of one point
  std::vector<std::vector<double>> back;   // per node: one point's C gradient rows
  std::vector<double> j, d;                // C x n softmax Jacobian; n
  Eigen::MatrixXd gram;
  eigen_solver eig;
};

class jacobian_analysis final : public genscope::analysis {
 public:
  explicit jacobian_analysis(std::size_t points) : points_(points) {}

  std::vector<genscope::table_spec> tables() const override { return {points_table()}; }

  void check(const std::vector<genscope::dataset_shape>& data, std::size_t /*model_input_dim*/) const override {
    if (data.empty()) throw std::invalid_argument("jacobian needs at least one data set (datasets = [...])");
    for (const genscope::dataset_shape& d : data)
      if (points_ > d.count)
        throw std::invalid_argument("option 'points' = " + std::to_string(points_) + " exceeds the " +
                                    std::to_string(d.count) + " samples of data set '" + d.name + "'");
  }

  void prepare(const genscope::network_backend& model, const std::vector<const genscope::dataset*>& data,
               std::uint64_t seed) override {
    const genscope::piecewise_linear_graph* view = model.piecewise_linear();
    if (view == nullptr)
      throw std::invalid_argument("jacobian needs a backend with a piecewise-linear view (capability "
                                  "piecewise_linear); the model's backend (" +
                                  model.describe() + ") offers none");
    if (data.empty()) throw std::invalid_argument("jacobian needs at least one data set (datasets = [...])");
    n_ = model.input_dim();
    classes_ = view->output_dim();
    if (view->input_dim() != n_ || classes_ != model.class_count())
      throw std::invalid_argument("jacobian: the piecewise-linear view has " + std::to_string(view->input_dim()) +
                                  " inputs and " + std::to_string(classes_) + " outputs, the model " +
                                  std::to_string(n_) + " and " + std::to_string(model.class_count()));
    if (classes_ < 2)
      throw std::invalid_argument("jacobian needs a model of at least 2 classes, this one has " +
                                  std::to_string(classes_));

    std::vector<point_ref> rows;
    for (std::size_t s = 0; s < data.size(); ++s) {
      const genscope::dataset& set = *data[s];
      const std::string name = "data set '" + set.name + "'";
      if (set.dim() != n_)
        throw std::invalid_argument(name + " has samples of dimension " + std::to_string(set.dim()) +
                                    ", the model takes " + std::to_string(n_));
      genscope::require_labels(set);
      if (points_ > set.size())
        throw std::invalid_argument("option 'points' = " + std::to_string(points_) + " exceeds the " +
                                    std::to_string(set.size()) + " samples of " + name);
      const std::vector<std::size_t> chosen = genscope::choose_points(set.size(), points_, seed, "jacobian");
      for (std::size_t i : chosen) {
        const std::int32_t y = set.labels[i];
        if (y < 0 || static_cast<std::size_t>(y) >= classes_)
          throw std::invalid_argument(name + ": sample " + std::to_string(i) + " has label " + std::to_string(y) +
                                      ", not a class of the model's " + std::to_string(classes_));
        rows.push_back({static_cast<std::uint32_t>(s), i});
      }
    }
    view_ = view;
    data_ = data;
    rows_ = std::move(rows);
  }

  std::size_t row_count(std::size_t table) const override {
    if (table != 0) throw std::out_of_range("jacobian has one table (0), not " + std::to_string(table));
    return rows_.size();
  }

  void compute(std::size_t table, std::size_t first, std::size_t count, genscope::table_batch& out) const override {
    if (view_ == nullptr) throw std::logic_error("jacobian: compute() before prepare()");
    if (first > row_count(table) || count > rows_.size() - first)
      throw std::out_of_range("jacobian: rows [" + std::to_string(first) + ", " + std::to_string(first + count) +
                              ") beyond the table's " + std::to_string(rows_.size()));
    if (out.rows() != count) throw std::invalid_argument("jacobian: the batch has the wrong number of rows");
    if (count == 0) return;
    scratch s;
    allocate(s);
    for (std::size_t b = 0; b < count; b += block_points)
      compute_block(s, first + b, std::min(block_points, count - b), b, out);
  }

 private:
  void allocate(scratch& s) const {
    s.x.resize(2 * block_points * n_);
    s.seed.assign(classes_ * classes_, 0.0);
    for (std::size_t i = 0; i < classes_; ++i) s.seed[i * classes_ + i] = 1.0;
    s.a.resize(classes_ * n_);
    s.j.resize(classes_ * n_);
    s.d.resize(n_);
    s.gram.resize(idx(classes_), idx(classes_));
  }

  // Boundary and flat units of point r (see the table's columns).
  void count_boundary(const scratch& s, std::size_t r, std::int64_t& boundary, std::int64_t& flat) const {
    boundary = flat = 0;
    for (std::size_t i = 1; i < view_->size(); ++i) {
      const auto& n = view_->at(i);
      if (!n.is_switch()) continue;
      const std::size_t win = view_->at(n.inputs[0]).width;
      const double* z = s.forms[n.inputs[0]].data() + 2 * r * win;
      const double* e = z + win;
      const genscope::switch_layer& rule = n.rule;
      for (std::size_t j = 0; j < n.width; ++j) {
        bool at = false, level = false;
        switch (rule.kind) {
          case genscope::switch_kind::relu:
          case genscope::switch_kind::leaky_relu:
            at = z[j] == 0;
            level = e[j] == 0;
            break;
          case genscope::switch_kind::clip:
            at = z[j] == rule.low || z[j] == rule.high;
            level = e[j] == 0;
            break;
          case genscope::switch_kind::max_pool: {
            // The winner by value then slope, and whether another input ties it in value (and in slope).
            const std::uint32_t first = rule.window_start[j], last = rule.window_start[j + 1];
            std::uint32_t top = rule.window_index[first];
            for (std::uint32_t k = first + 1; k < last; ++k) {
              const std::uint32_t q = rule.window_index[k];
              if (z[q] > z[top] || (z[q] == z[top] && e[q] > e[top])) top = q;
            }
            level = true;
            for (std::uint32_t k = first; k < last; ++k) {
              const std::uint32_t q = rule.window_index[k];
              if (q == top || z[q] != z[top]) continue;
              at = true;
              level = level && e[q] == e[top];
            }
            break;
          }
        }
        if (!at) continue;
        ++boundary;
        if (level) ++flat;
      }
    }
  }

  // Points first .. first + count - 1 (count <= block_points) into rows at .. at + count - 1 of `out`.
  void compute_block(scratch& s, std::size_t first, std::size_t count, std::size_t at,
                     genscope::table_batch& out) const {
    const std::size_t c = classes_;
    // Rows 2r and 2r + 1: point r and e = (1, ..., 1)/sqrt(n). A switch at its threshold takes the right-limit
    // piece along e; a unit's value never depends on it, only the pattern does. NaN propagates.
    std::fill(s.x.begin(), s.x.end(), 0.0);
    for (std::size_t r = 0; r < block_points; ++r) {
      if (r < count) {
        const point_ref& p = rows_[first + r];
        const float* row = data_[p.set]->x.row(p.index);
        std::copy(row, row + n_, s.x.data() + 2 * r * n_);
      }
      std::fill_n(s.x.data() + (2 * r + 1) * n_, n_, 1.0 / std::sqrt(static_cast<double>(n_)));
    }
    genscope::evaluate_forms(*view_, s.x.data(), block_points, 2, s.states, s.forms, true);

    auto& set_name = out.strings("dataset");
    auto& index = out.ints("index");
    auto& label = out.ints("label");
    auto& predicted = out.ints("predicted");
    auto& correct = out.ints("correct");
    auto& margin = out.reals("margin");
    auto& loss = out.reals("loss");
    auto& j_frobenius = out.reals("jacobian_frobenius");
    auto& j_spectral = out.reals("jacobian_spectral");
    auto& a_frobenius = out.reals("linear_frobenius");
    auto& a_spectral = out.reals("linear_spectral");
    auto& boundary = out.ints("boundary_units");
    auto& flat = out.ints("flat_units");
    for (std::size_t r = 0; r < count; ++r) {
      const std::size_t o = at + r;
      const point_ref& p = rows_[first + r];
      const genscope::dataset& set = *data_[p.set];
      const auto y = static_cast<std::size_t>(set.labels[p.index]);
      set_name[o] = set.name;
      index[o] = static_cast<std::int64_t>(p.index);
      label[o] = static_cast<std::int64_t>(y);
      count_boundary(s, r, boundary[o], flat[o]);
      const double* f = s.forms.back().data() + 2 * r * c;
      bool finite = true;
      std::size_t top = 0;
      for (std::size_t k = 0; k < c; ++k) {
        finite = finite && std::isfinite(f[k]);
        if (f[k] > f[top]) top = k;  // ties stay with the lower index
      }
      if (!finite) {
        predicted[o] = -1;
        correct[o] = 0;
        margin[o] = loss[o] = j_frobenius[o] = j_spectral[o] = a_frobenius[o] = a_spectral[o] = nan;
        continue;
      }
      predicted[o] = static_cast<std::int64_t>(top);
      // A = df/dx on the point's region: the C unit vectors back through the point's pieces.
      s.point_states.resize(s.states.size());
      for (std::size_t i = 0; i < s.states.size(); ++i) {
        const std::size_t w = view_->at(i).width;
        if (s.states[i].empty()) {
          s.point_states[i].clear();
          continue;
        }
        s.point_states[i].assign(s.states[i].begin() + static_cast<std::ptrdiff_t>(r * w),
                                 s.states[i].begin() + static_cast<std::ptrdiff_t>((r + 1) * w));
      }
      genscope::transpose_forms(*view_, s.point_states, 1, c, s.seed.data(), s.a.data(), s.back);
      double* a = s.a.data();
      correct[o] = top == y ? 1 : 0;
      double other = -std::numeric_limits<double>::infinity();
      for (std::size_t k = 0; k < c; ++k)
        if (k != y) other = std::max(other, f[k]);
      margin[o] = f[y] - other;

      // Softmax with the top logit subtracted: p_k = w_k / (1 + rest), w_top = 1.
      double rest = 0;
      for (std::size_t k = 0; k < c; ++k)
        if (k != top) rest += std::exp(f[k] - f[top]);
      loss[o] = (f[top] - f[y]) + std::log1p(rest);
      const double total = 1.0 + rest;
      auto prob = [&](std::size_t k) { return k == top ? 1.0 / total : std::exp(f[k] - f[top]) / total; };

      // J_i = p_i sum_{k != i} p_k (A_i - A_k) = p_i ((A_i - A_t) - D), D = sum_{k != t} p_k (A_k - A_t), t the
      // top class (sum_k p_k = 1): only differences of rows, weighted by the small probabilities for the top row.
      const double* at_row = a + top * n_;
      std::fill(s.d.begin(), s.d.end(), 0.0);
      for (std::size_t k = 0; k < c; ++k) {
        if (k == top) continue;
        const double pk = prob(k);
        if (pk == 0) continue;
        const double* ak = a + k * n_;
        for (std::size_t u = 0; u < n_; ++u) s.d[u] += pk * (ak[u] - at_row[u]);
      }
      for (std::size_t i = 0; i < c; ++i) {
        const double pi = prob(i);
        double* ji = s.j.data() + i * n_;
        const double* ai = a + i * n_;
        if (i == top)
          for (std::size_t u = 0; u < n_; ++u) ji[u] = -pi * s.d[u];
        else
          for (std::size_t u = 0; u < n_; ++u) ji[u] = pi * ((ai[u] - at_row[u]) - s.d[u]);
      }
      norms(s.j.data(), c, n_, s.gram, s.eig, j_frobenius[o], j_spectral[o]);
      norms(a, c, n_, s.gram, s.eig, a_frobenius[o], a_spectral[o]);
    }
  }

  std::size_t points_;
  const genscope::piecewise_linear_graph* view_ = nullptr;
  std::vector<const genscope::dataset*> data_;
  std::vector<point_ref> rows_;
  std::size_t n_ = 0, classes_ = 0;
};

genscope::plugin_object* create(const genscope::option_set& o) {
  return new jacobian_analysis(o.get_count("points", 0));  // 0: every point
}

}  // namespace

GENSCOPE_PLUGIN_WITH_CAPABILITIES(genscope::plugin_kind::analysis, "jacobian", "2.0.0",
                                  "exact input-output Jacobian norms, loss and margin per data point (Novak et al. "
                                  "2018)",
                                  options, &create, genscope::capability_piecewise_linear)
