// Sampler plugin "local_pca": unit tangent and normal directions of the data manifold, estimated at
// seeded anchors by PCA of each anchor's k nearest neighbours (through the k x k Gram matrix).
#include <genscope/direction_sampler.hpp>
#include <genscope/neighbours.hpp>
#include <genscope/plugin.hpp>
#include <genscope/random.hpp>
#include <genscope/sampling.hpp>

// GCC 12 flags _mm512_undefined_pd() inside Eigen's AVX-512 packet code as
// maybe-uninitialized; the value is a don't-care operand, never read.
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
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using genscope::option_spec;
using genscope::option_type;

const option_spec options[] = {
    {"anchors", option_type::integer, "200",
     "number of anchors, chosen like the random sampler's (choose_samples, stream \"anchors\")"},
    {"k", option_type::integer, "20", "neighbours of each anchor whose PCA gives the tangent space (k >= 2)"},
    {"same_label", option_type::boolean, "true", "neighbours share the anchor's label; false: any label"},
    {"tangent_dim", option_type::integer, "0",
     "tangent dimension m, 1..k-1 and below the data dimension; 0: the variance_fraction rule"},
    {"variance_fraction", option_type::real, "0.9",
     "with tangent_dim = 0: m is the smallest number of principal directions explaining this fraction, (0, 1]"},
    {"tangent_count", option_type::integer, "4", "tangent directions per anchor"},
    {"tangent_mode", option_type::string, "random",
     "\"random\": random unit combinations of the m principal directions; \"principal\": the principal directions"},
    {"normal_count", option_type::integer, "4", "normal directions per anchor"},
    {"normal_mode", option_type::string, "random",
     "\"random\": Gaussian vectors minus their tangent component; \"least_variance\": least-variance principal "
     "directions outside the tangent space"},
};

enum class tangent_mode { principal, random };
enum class normal_mode { random, least_variance };

struct settings {
  std::size_t anchors = 0;
  std::size_t k = 0;
  bool same_label = true;
  std::size_t tangent_dim = 0;  // 0: variance rule
  double variance_fraction = 0.9;
  std::size_t tangent_count = 0;
  tangent_mode tangent = tangent_mode::random;
  std::size_t normal_count = 0;
  normal_mode normal = normal_mode::random;
};

// The PCA of one anchor's neighbourhood.
struct neighbourhood_pca {
  std::size_t rank = 0;       // significant principal directions (columns of v)
  std::size_t m = 0;          // tangent dimension used (<= rank)
  double explained = 0;       // sum of the top m eigenvalues / sum of all
  Eigen::MatrixXd v;          // n x rank, orthonormal columns, by decreasing variance
};

// Largest relative rounding of a float32 value (round to nearest).
constexpr double float_unit_roundoff = 0x1.0p-24;

class local_pca_sampler final : public genscope::direction_sampler {
 public:
  explicit local_pca_sampler(const settings& s) : s_(s) {}

  void check(const genscope::dataset_shape& shape) const override {
    std::size_t dim = 1;
    for (std::size_t e : shape.shape) dim *= e;
    check_sizes(shape.count, dim, "the data set");
  }

  std::size_t probe_count() const override { return s_.anchors * per_anchor(); }

 protected:
  void bind(const genscope::dataset& data, std::uint64_t seed) override {
    const std::size_t n = data.size();
    check_sizes(n, data.dim(), "data set '" + data.name + "'");
    genscope::require_labels(data);
    if (s_.same_label) {
      // Every sample needs k neighbours of its own label: say which option to change.
      std::map<std::int32_t, std::size_t> counts;
      for (std::int32_t label : data.labels) ++counts[label];
      for (const auto& [label, count] : counts)
        if (count < s_.k + 1)
          throw std::runtime_error("label " + std::to_string(label) + " of data set '" + data.name + "' has " +
                                   std::to_string(count) + " samples, fewer than k + 1 = " +
                                   std::to_string(s_.k + 1) + " needed for k = " + std::to_string(s_.k) +
                                   " same-label neighbours: lower option 'k' or set same_label = false");
    }
    std::shared_ptr<const genscope::knn_graph> graph;
    try {
      graph = genscope::shared_nearest_neighbours(data, s_.k, s_.same_label);
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string("nearest neighbours (option 'k' = ") + std::to_string(s_.k) +
                               ", same_label = " + (s_.same_label ? "true" : "false") + "): " + e.what());
    }
    if (!graph || graph->k != s_.k || graph->size() != n)
      throw std::runtime_error("nearest neighbours of data set '" + data.name + "' have the wrong shape");
    anchors_ = genscope::choose_samples(n, s_.anchors, seed, "anchors");
    graph_ = std::move(graph);
  }

  void fill(std::size_t first, std::size_t count, genscope::probe_batch& out) const override {
    const genscope::dataset& data = this->data();
    const std::size_t dim = data.dim();

    const std::size_t per = per_anchor();
    neighbourhood_pca pca;
    std::size_t cached = std::numeric_limits<std::size_t>::max();  // anchor slot whose PCA `pca` holds
    std::vector<double> d(dim);
    for (std::size_t b = 0; b < count; ++b) {
      const std::size_t p = first + b;
      const std::size_t a = p / per;
      const std::size_t slot = p % per;
      const std::size_t anchor = anchors_[a];
      if (a != cached) {
        pca = analyse(anchor);
        cached = a;
      }
      out.anchor[b] = static_cast<std::int64_t>(anchor);
      out.partners[b] = {-1, -1};
      out.tangent_dim[b] = static_cast<std::int32_t>(pca.m);
      out.explained_variance[b] = static_cast<float>(pca.explained);
      const float* xa = data.x.row(anchor);
      std::copy(xa, xa + dim, out.x.row(b));

      if (slot < s_.tangent_count) {
        out.kind[b] = "tangent";
        tangent_direction(pca, slot, p, d);
      } else {
        out.kind[b] = "normal";
        normal_direction(pca, slot - s_.tangent_count, p, d);
      }
      float* row = out.d.row(b);
      for (std::size_t c = 0; c < dim; ++c) row[c] = static_cast<float>(d[c]);
    }
  }

 private:
  std::size_t per_anchor() const { return s_.tangent_count + s_.normal_count; }

  void check_sizes(std::size_t count, std::size_t dim, const std::string& what) const {
    if (s_.anchors > count)
      throw std::invalid_argument("option 'anchors' = " + std::to_string(s_.anchors) + " exceeds the " +
                                  std::to_string(count) + " samples of " + what);
    if (s_.k + 1 > count)
      throw std::invalid_argument("option 'k' = " + std::to_string(s_.k) + " needs at least k + 1 = " +
                                  std::to_string(s_.k + 1) + " samples, " + what + " has " +
                                  std::to_string(count));
    if (s_.tangent_dim >= dim)
      throw std::invalid_argument("option 'tangent_dim' = " + std::to_string(s_.tangent_dim) +
                                  " must be below the data dimension " + std::to_string(dim) + " of " + what);
  }

  // PCA of the k neighbours of `anchor` through their k x k Gram matrix (never an n x n covariance).
  neighbourhood_pca analyse(std::size_t anchor) const {
    const std::size_t k = s_.k;
    const std::size_t n = data().dim();
    const auto kk = static_cast<Eigen::Index>(k);
    const auto nn = static_cast<Eigen::Index>(n);
    const std::int64_t* nb = graph_->neighbours(anchor);

    Eigen::MatrixXd c(kk, nn);  // neighbours as rows, then centred on their mean
    double frobenius2 = 0;      // of the uncentred neighbours, for the float32 rounding level
    for (Eigen::Index j = 0; j < kk; ++j) {
      const float* row = data().x.row(static_cast<std::size_t>(nb[j]));
      for (Eigen::Index col = 0; col < nn; ++col) {
        const double value = row[col];
        c(j, col) = value;
        frobenius2 += value * value;
      }
    }
    const Eigen::RowVectorXd mean = c.colwise().mean();
    c.rowwise() -= mean;
    Eigen::MatrixXd gram = c * c.transpose();
    gram = 0.5 * (gram + gram.transpose()).eval();
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(gram);
    if (eig.info() != Eigen::Success)
      throw std::runtime_error("local_pca: the eigensolver failed on the neighbourhood of sample " +
                               std::to_string(anchor));

    // Eigenvalues by decreasing size (Eigen gives them ascending), negatives from rounding clamped to 0.
    std::vector<double> lambda(k);
    double total = 0;
    for (std::size_t j = 0; j < k; ++j) {
      lambda[j] = std::max(0.0, eig.eigenvalues()(kk - 1 - static_cast<Eigen::Index>(j)));
      total += lambda[j];
    }
    // Eigenvalues at or below the tolerance are zero: below the eigensolver's accuracy relative to
    // the largest, or below what rounding the neighbours to float32 can produce.
    const double rounding = 4 * float_unit_roundoff;
    const double tolerance = std::max(1e-10 * lambda[0], rounding * rounding * frobenius2);
    std::size_t rank = 0;
    while (rank < k && lambda[rank] > tolerance) ++rank;

    // Principal directions (C^T u_j) / sqrt(lambda_j), re-orthonormalized by two passes of
    // modified Gram-Schmidt in order of decreasing variance.
    neighbourhood_pca pca;
    pca.v.resize(nn, static_cast<Eigen::Index>(rank));
    std::size_t kept = 0;
    for (std::size_t j = 0; j < rank; ++j) {
      Eigen::VectorXd u = c.transpose() * eig.eigenvectors().col(kk - 1 - static_cast<Eigen::Index>(j));
      u /= std::sqrt(lambda[j]);
      for (int pass = 0; pass < 2; ++pass)
        for (std::size_t q = 0; q < kept; ++q) {
          const auto col = pca.v.col(static_cast<Eigen::Index>(q));
          u -= col.dot(u) * col;
        }
      const double norm = u.norm();
      if (!(norm > 0.5)) break;  // numerically dependent on the ones before: treat it and the rest as zero
      pca.v.col(static_cast<Eigen::Index>(kept)) = u / norm;
      ++kept;
    }
    rank = kept;
    pca.v.conservativeResize(nn, static_cast<Eigen::Index>(rank));
    pca.rank = rank;

    if (s_.tangent_dim > 0) {
      pca.m = std::min(s_.tangent_dim, rank);
    } else {
      pca.m = rank;
      double cumulative = 0;
      for (std::size_t j = 0; j < rank; ++j) {
        cumulative += lambda[j];
        if (cumulative >= s_.variance_fraction * total) {
          pca.m = j + 1;
          break;
        }
      }
    }
    double top = 0;
    for (std::size_t j = 0; j < pca.m; ++j) top += lambda[j];
    pca.explained = pca.m > 0 && total > 0 ? std::clamp(top / total, 0.0, 1.0) : 0.0;
    return pca;
  }

  // Tangent slot `slot` of probe p: principal direction (slot mod m), or a random unit combination of
  // the m principal directions; d = 0 when m = 0 (a neighbourhood without variance).
  void tangent_direction(const neighbourhood_pca& pca, std::size_t slot, std::size_t p, std::vector<double>& d) const {
    std::fill(d.begin(), d.end(), 0.0);
    if (pca.m == 0) return;
    const std::size_t n = d.size();
    if (s_.tangent == tangent_mode::principal) {
      const auto col = pca.v.col(static_cast<Eigen::Index>(slot % pca.m));
      for (std::size_t c = 0; c < n; ++c) d[c] = col(static_cast<Eigen::Index>(c));
      return;
    }
    genscope::rng random(seed(), genscope::stream_key("local_pca/tangent"), p);
    Eigen::VectorXd g(static_cast<Eigen::Index>(pca.m));
    double norm = 0;
    while (norm == 0) {
      for (Eigen::Index j = 0; j < g.size(); ++j) g(j) = random.normal();
      norm = g.norm();
    }
    const Eigen::VectorXd combination = pca.v.leftCols(g.size()) * (g / norm);
    const double length = combination.norm();  // 1 up to rounding: the columns are orthonormal
    for (std::size_t c = 0; c < n; ++c) d[c] = combination(static_cast<Eigen::Index>(c)) / length;
  }

  // Normal slot `t` of probe p (see README.md): a least-variance principal direction outside the tangent
  // space, or a Gaussian vector with its component in the span of the first q principal directions
  // removed (q = m for "random"; q = rank for least_variance slots past the rank - m such directions).
  void normal_direction(const neighbourhood_pca& pca, std::size_t t, std::size_t p, std::vector<double>& d) const {
    std::fill(d.begin(), d.end(), 0.0);
    const std::size_t n = d.size();
    std::size_t q = pca.m;
    if (s_.normal == normal_mode::least_variance) {
      const std::size_t outside = pca.rank - pca.m;
      if (t < outside) {
        const auto col = pca.v.col(static_cast<Eigen::Index>(pca.rank - 1 - t));
        for (std::size_t c = 0; c < n; ++c) d[c] = col(static_cast<Eigen::Index>(c));
        return;
      }
      q = pca.rank < n ? pca.rank : pca.m;
    }
    if (q >= n) return;  // the tangent space is the whole space: no normal direction (d = 0)
    genscope::rng random(seed(), genscope::stream_key("local_pca/normal"), p);
    Eigen::VectorXd g(static_cast<Eigen::Index>(n));
    const auto basis = pca.v.leftCols(static_cast<Eigen::Index>(q));
    for (int attempt = 0; attempt < 64; ++attempt) {
      for (Eigen::Index c = 0; c < g.size(); ++c) g(c) = random.normal();
      const double drawn = g.norm();
      // Project twice: the second pass removes what rounding left of the tangent component.
      for (int pass = 0; pass < 2; ++pass) g -= basis * (basis.transpose() * g).eval();
      const double norm = g.norm();
      if (norm > 1e-6 * drawn && norm > 0) {
        for (std::size_t c = 0; c < n; ++c) d[c] = g(static_cast<Eigen::Index>(c)) / norm;
        return;
      }
    }
    // Not reached in practice (each draw fails with probability ~0); d stays 0 rather than NaN.
  }

  settings s_;
  std::shared_ptr<const genscope::knn_graph> graph_;
  std::vector<std::size_t> anchors_;
};

genscope::plugin_object* create(const genscope::option_set& o) {
  settings s;
  s.anchors = o.get_count("anchors", 1);
  s.k = o.get_count("k", 2);
  s.same_label = o.get_bool("same_label");
  s.tangent_dim = o.get_count("tangent_dim", 0);
  if (s.tangent_dim > s.k - 1)
    throw std::invalid_argument("option 'tangent_dim' = " + std::to_string(s.tangent_dim) + " exceeds k - 1 = " +
                                std::to_string(s.k - 1) + " (k = " + std::to_string(s.k) +
                                " neighbours span at most k - 1 directions): lower tangent_dim or raise k");
  s.variance_fraction = o.get_real("variance_fraction");
  if (!(s.variance_fraction > 0 && s.variance_fraction <= 1))
    throw std::invalid_argument("option 'variance_fraction' must be in (0, 1], got " +
                                std::to_string(s.variance_fraction));
  s.tangent_count = o.get_count("tangent_count", 0);
  s.normal_count = o.get_count("normal_count", 0);
  if (s.tangent_count == 0 && s.normal_count == 0)
    throw std::invalid_argument("options 'tangent_count' and 'normal_count' are both 0: no probes to make");
  constexpr std::size_t max_per_anchor = std::size_t{1} << 20;
  if (s.tangent_count > max_per_anchor || s.normal_count > max_per_anchor)
    throw std::invalid_argument("options 'tangent_count' and 'normal_count' must be at most " +
                                std::to_string(max_per_anchor));
  if (s.anchors > std::numeric_limits<std::size_t>::max() / (s.tangent_count + s.normal_count))
    throw std::invalid_argument("option 'anchors' = " + std::to_string(s.anchors) + " makes too many probes");

  const std::string& tmode = o.get_string("tangent_mode");
  if (tmode == "principal") {
    s.tangent = tangent_mode::principal;
  } else if (tmode == "random") {
    s.tangent = tangent_mode::random;
  } else {
    throw std::invalid_argument("option 'tangent_mode' must be \"principal\" or \"random\", got \"" + tmode + "\"");
  }
  const std::string& nmode = o.get_string("normal_mode");
  if (nmode == "random") {
    s.normal = normal_mode::random;
  } else if (nmode == "least_variance") {
    s.normal = normal_mode::least_variance;
  } else {
    throw std::invalid_argument("option 'normal_mode' must be \"random\" or \"least_variance\", got \"" + nmode +
                                "\"");
  }
  if (s.tangent == tangent_mode::principal && s.tangent_dim > 0 && s.tangent_count > s.tangent_dim)
    throw std::invalid_argument("option 'tangent_count' = " + std::to_string(s.tangent_count) +
                                " exceeds tangent_dim = " + std::to_string(s.tangent_dim) +
                                " with tangent_mode = \"principal\" (each principal direction is used once): "
                                "lower tangent_count or use tangent_mode = \"random\"");
  return new local_pca_sampler(s);
}

}  // namespace

GENSCOPE_PLUGIN(genscope::plugin_kind::sampler, "local_pca", "1.0.0",
                "unit tangent and normal directions of the data manifold from local PCA of k nearest neighbours",
                options, &create)
