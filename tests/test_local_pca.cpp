// Tests of the local_pca sampler plugin on synthetic manifolds with a known tangent space.
// Oracles: a naive O(N^2) neighbour search in double, the n x n covariance of each neighbourhood
// (the plugin only ever forms the k x k Gram matrix), principal angles by SVD, closed forms.
#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/plugin_registry.hpp>
#include <genscope/sampling.hpp>

#include "support.hpp"

#include <catch2/catch.hpp>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Dense>
#pragma GCC diagnostic pop
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using option_list = std::vector<std::pair<std::string, genscope::option_value>>;

const genscope::plugin_registry& registry() { return genscope::testing::build_plugins(); }

// Options not given keep the plugin's defaults (filled in by the registry).
std::shared_ptr<genscope::direction_sampler> make_sampler(const option_list& given) {
  genscope::option_set o;
  for (const auto& [name, value] : given) o.set(name, value);
  return registry().create_sampler("local_pca", o);
}

genscope::option_value integer(std::int64_t v) { return v; }
genscope::option_value real(double v) { return v; }
genscope::option_value text(const char* v) { return std::string(v); }

genscope::dataset synthetic(std::size_t manifold_dim, double noise, std::size_t dim = 16, std::size_t samples = 600,
                            std::size_t classes = 2, std::uint64_t seed = 7) {
  genscope::dataset_spec spec;
  spec.name = "synthetic";
  spec.source = "synthetic";
  spec.samples = samples;
  spec.dim = dim;
  spec.manifold_dim = manifold_dim;
  spec.classes = classes;
  spec.noise = noise;
  spec.seed = seed;
  return genscope::build_dataset(spec);
}

genscope::probe_batch all_probes(const genscope::direction_sampler& s) {
  genscope::probe_batch b;
  s.sample(0, s.probe_count(), b);
  return b;
}

double row_norm(const genscope::matrix& m, std::size_t i) {
  double s = 0;
  for (std::size_t c = 0; c < m.cols; ++c) s += static_cast<double>(m(i, c)) * m(i, c);
  return std::sqrt(s);
}

double row_dot(const genscope::matrix& a, std::size_t i, const genscope::matrix& b, std::size_t j) {
  double s = 0;
  for (std::size_t c = 0; c < a.cols; ++c) s += static_cast<double>(a(i, c)) * b(j, c);
  return s;
}

void require_finite(const genscope::probe_batch& b) {
  for (float v : b.d.data) REQUIRE(std::isfinite(v));
  for (float v : b.x.data) REQUIRE(std::isfinite(v));
  for (float v : b.explained_variance) REQUIRE(std::isfinite(v));
}

// Norm of the component of row i of d inside the span of the orthonormal rows of `basis`.
double in_span(const genscope::matrix& d, std::size_t i, const genscope::matrix& basis) {
  double s = 0;
  for (std::size_t r = 0; r < basis.rows; ++r) {
    const double dot = row_dot(d, i, basis, r);
    s += dot * dot;
  }
  return std::sqrt(s);
}

// Naive neighbour search in double: the k nearest other samples (same label if asked),
// ascending distance, ties by index.
std::vector<std::size_t> naive_neighbours(const genscope::dataset& data, std::size_t i, std::size_t k, bool same) {
  std::vector<std::pair<double, std::size_t>> cand;
  for (std::size_t j = 0; j < data.size(); ++j) {
    if (j == i || (same && data.labels[j] != data.labels[i])) continue;
    double s = 0;
    for (std::size_t c = 0; c < data.dim(); ++c) {
      const double diff = static_cast<double>(data.x(j, c)) - data.x(i, c);
      s += diff * diff;
    }
    cand.emplace_back(s, j);
  }
  std::sort(cand.begin(), cand.end());
  std::vector<std::size_t> out;
  for (std::size_t r = 0; r < k; ++r) out.push_back(cand[r].second);
  return out;
}

// The oracle PCA: eigen-decomposition of the n x n covariance of the neighbourhood.
struct covariance_pca {
  std::vector<double> lambda;  // descending
  Eigen::MatrixXd vectors;     // n x n, column j goes with lambda[j]
  Eigen::MatrixXd centred;     // k x n
  Eigen::MatrixXd covariance;  // n x n
};

covariance_pca oracle_pca(const genscope::dataset& data, const std::vector<std::size_t>& nb) {
  const auto n = static_cast<Eigen::Index>(data.dim());
  const auto k = static_cast<Eigen::Index>(nb.size());
  Eigen::MatrixXd x(k, n);
  for (Eigen::Index j = 0; j < k; ++j)
    for (Eigen::Index c = 0; c < n; ++c)
      x(j, c) = data.x(nb[static_cast<std::size_t>(j)], static_cast<std::size_t>(c));
  covariance_pca out;
  out.centred = x.rowwise() - x.colwise().mean();
  out.covariance = out.centred.transpose() * out.centred / static_cast<double>(k - 1);
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(out.covariance);
  out.vectors.resize(n, n);
  for (Eigen::Index j = 0; j < n; ++j) {
    out.lambda.push_back(std::max(0.0, eig.eigenvalues()(n - 1 - j)));
    out.vectors.col(j) = eig.eigenvectors().col(n - 1 - j);
  }
  return out;
}

double cosine_with(const genscope::matrix& d, std::size_t i, const Eigen::VectorXd& v) {
  double s = 0;
  for (std::size_t c = 0; c < d.cols; ++c) s += static_cast<double>(d(i, c)) * v(static_cast<Eigen::Index>(c));
  return std::fabs(s) / v.norm();
}

// Largest principal angle between span(rows first..first+m of d) and span(rows of `truth`):
// acos of the smallest singular value of Q_est^T Q_true, both n x m with orthonormal columns.
double largest_principal_angle(const genscope::matrix& d, std::size_t first, std::size_t m,
                               const genscope::matrix& truth) {
  const auto n = static_cast<Eigen::Index>(d.cols);
  Eigen::MatrixXd q_est(n, static_cast<Eigen::Index>(m));
  Eigen::MatrixXd q_true(n, static_cast<Eigen::Index>(truth.rows));
  for (Eigen::Index c = 0; c < n; ++c) {
    for (std::size_t j = 0; j < m; ++j) q_est(c, static_cast<Eigen::Index>(j)) = d(first + j, static_cast<std::size_t>(c));
    for (std::size_t j = 0; j < truth.rows; ++j)
      q_true(c, static_cast<Eigen::Index>(j)) = truth(j, static_cast<std::size_t>(c));
  }
  // Cosines of the principal angles: singular values of Q_est^T Q_true. Near 0, acos loses half the
  // digits, so the sine of the largest angle comes from the residual (I - Q_true Q_true^T) Q_est,
  // whose largest singular value it is; the two must agree (cos^2 + sin^2 = 1).
  const Eigen::JacobiSVD<Eigen::MatrixXd> cosines(q_est.transpose() * q_true);
  const double cos_largest = cosines.singularValues().minCoeff();
  const Eigen::MatrixXd residual = q_est - q_true * (q_true.transpose() * q_est);
  const Eigen::JacobiSVD<Eigen::MatrixXd> sines(residual);
  const double sin_largest = sines.singularValues().maxCoeff();
  CHECK(cos_largest * cos_largest + sin_largest * sin_largest == Approx(1).margin(1e-6));
  return std::atan2(sin_largest, cos_largest);
}

bool same_probes(const genscope::probe_batch& a, const genscope::probe_batch& b) {
  return a.anchor == b.anchor && a.partners == b.partners && a.kind == b.kind && a.tangent_dim == b.tangent_dim &&
         a.explained_variance == b.explained_variance && a.x.data == b.x.data && a.d.data == b.d.data;
}

// Copies probes of `part` into `whole` at their global positions (whole already sized).
void place(const genscope::probe_batch& part, genscope::probe_batch& whole) {
  for (std::size_t k = 0; k < part.size(); ++k) {
    const std::size_t g = part.first + k;
    whole.anchor[g] = part.anchor[k];
    whole.partners[g] = part.partners[k];
    whole.kind[g] = part.kind[k];
    whole.tangent_dim[g] = part.tangent_dim[k];
    whole.explained_variance[g] = part.explained_variance[k];
    std::copy(part.x.row(k), part.x.row(k) + part.x.cols, whole.x.row(g));
    std::copy(part.d.row(k), part.d.row(k) + part.d.cols, whole.d.row(g));
  }
}

// Small hand-made data set: `groups` labels, each `per_group` copies of one point (dim 4).
genscope::dataset duplicates(std::size_t groups, std::size_t per_group) {
  genscope::dataset data;
  data.name = "duplicates";
  data.shape = {4};
  data.x = genscope::matrix(groups * per_group, 4);
  for (std::size_t g = 0; g < groups; ++g)
    for (std::size_t r = 0; r < per_group; ++r) {
      const std::size_t i = g * per_group + r;
      for (std::size_t c = 0; c < 4; ++c) data.x(i, c) = 0.3f + 1.7f * static_cast<float>(g) + 0.11f * static_cast<float>(c);
      data.labels.push_back(static_cast<std::int32_t>(g));
    }
  data.true_labels = data.labels;
  data.class_count = groups;
  genscope::hash_dataset(data);
  return data;
}

}  // namespace

TEST_CASE("local_pca principal tangent directions span the true tangent space", "[accuracy]") {
  // dim 16, 3-dimensional manifold, 300 samples per label, k = 30 same-label neighbours.
  // Perturbation theory: the angle grows like noise * sqrt(n - m) / (local tangent spread);
  // the k = 30 nearest of 300 points of a unit 3-D Gaussian spread about 0.3 per direction.
  const std::vector<double> noises = {0.0, 0.001, 0.01, 0.05};
  // Measured (seed 7): largest angles 2e-7 (float rounding), 0.0036, 0.033, 0.16.
  const std::vector<double> bound = {1e-5, 0.01, 0.1, 0.5};
  std::vector<double> mean_angle;
  for (std::size_t level = 0; level < noises.size(); ++level) {
    const auto data = synthetic(3, noises[level]);
    auto sampler = make_sampler({{"anchors", integer(60)}, {"k", integer(30)}, {"tangent_dim", integer(3)},
                                 {"tangent_count", integer(3)}, {"tangent_mode", text("principal")},
                                 {"normal_count", integer(0)}});
    sampler->prepare(data, 5);
    REQUIRE(sampler->probe_count() == 180);
    const auto b = all_probes(*sampler);
    require_finite(b);
    double worst = 0;
    double sum = 0;
    for (std::size_t a = 0; a < 60; ++a) {
      for (std::size_t s = 0; s < 3; ++s) {
        const std::size_t p = 3 * a + s;
        CHECK(b.kind[p] == "tangent");
        CHECK(b.tangent_dim[p] == 3);
        CHECK(std::fabs(row_norm(b.d, p) - 1) < 1e-6);
        for (std::size_t t = 0; t < s; ++t) CHECK(std::fabs(row_dot(b.d, p, b.d, 3 * a + t)) < 1e-6);
      }
      const double angle = largest_principal_angle(b.d, 3 * a, 3, data.tangent_basis);
      worst = std::max(worst, angle);
      sum += angle;
    }
    INFO("noise " << noises[level] << ": largest angle " << worst << ", mean " << sum / 60);
    CHECK(worst < bound[level]);
    mean_angle.push_back(sum / 60);
  }
  // The error grows with the noise, roughly in proportion to it once it dominates float rounding.
  for (std::size_t level = 1; level < noises.size(); ++level) CHECK(mean_angle[level] > mean_angle[level - 1]);
  CHECK(mean_angle[2] / mean_angle[1] > 5);  // noise x 10
  CHECK(mean_angle[2] / mean_angle[1] < 20);
  CHECK(mean_angle[3] / mean_angle[2] > 2.5);  // noise x 5
  CHECK(mean_angle[3] / mean_angle[2] < 10);
}

TEST_CASE("local_pca random tangent directions lie in the true tangent space", "[accuracy]") {
  const auto data = synthetic(2, 0.0);
  auto sampler = make_sampler({{"anchors", integer(40)}, {"tangent_count", integer(5)}, {"normal_count", integer(0)},
                               {"variance_fraction", real(1.0)}});
  sampler->prepare(data, 3);
  const auto b = all_probes(*sampler);
  require_finite(b);
  for (std::size_t p = 0; p < b.size(); ++p) {
    CHECK(b.kind[p] == "tangent");
    CHECK(b.tangent_dim[p] == 2);
    CHECK(std::fabs(row_norm(b.d, p) - 1) < 1e-6);
    CHECK(in_span(b.d, p, data.tangent_basis) == Approx(1).margin(1e-5));
  }
}

TEST_CASE("local_pca normal directions are unit vectors orthogonal to the tangent space", "[accuracy]") {
  for (const char* mode : {"random", "least_variance"}) {
    for (double noise : {0.0, 0.001}) {
      INFO("normal_mode " << mode << ", noise " << noise);
      const auto data = synthetic(3, noise);
      auto sampler = make_sampler({{"anchors", integer(40)}, {"k", integer(25)}, {"tangent_dim", integer(3)},
                                   {"tangent_count", integer(3)}, {"tangent_mode", text("principal")},
                                   {"normal_count", integer(6)}, {"normal_mode", text(mode)}});
      sampler->prepare(data, 8);
      const auto b = all_probes(*sampler);
      require_finite(b);
      REQUIRE(b.size() == 40 * 9);
      const double true_bound = noise == 0 ? 1e-4 : 0.03;
      for (std::size_t p = 0; p < b.size(); ++p) {
        const std::size_t slot = p % 9;
        if (slot < 3) continue;
        CHECK(b.kind[p] == "normal");
        CHECK(std::fabs(row_norm(b.d, p) - 1) < 1e-6);
        // Orthogonal to the true tangent space ...
        CHECK(in_span(b.d, p, data.tangent_basis) < true_bound);
        // ... and, to rounding, to the estimated one (the anchor's tangent probes) and to one another.
        const std::size_t first = p - slot;
        for (std::size_t s = 0; s < 3; ++s) CHECK(std::fabs(row_dot(b.d, p, b.d, first + s)) < 1e-6);
        if (std::string(mode) == "least_variance" && noise > 0)
          for (std::size_t s = 3; s < slot; ++s) CHECK(std::fabs(row_dot(b.d, p, b.d, first + s)) < 1e-6);
      }
    }
  }
}

TEST_CASE("local_pca variance rule recovers the manifold dimension", "[accuracy]") {
  for (std::size_t m : {1u, 2u, 3u, 5u}) {
    // Nearly noise-free: the noise carries well under 1% of a neighbourhood's variance.
    for (const auto& [noise, fraction] : {std::pair{0.0003, 0.99}, std::pair{0.0, 1.0}}) {
      INFO("manifold_dim " << m << ", noise " << noise << ", variance_fraction " << fraction);
      const auto data = synthetic(m, noise);
      auto sampler = make_sampler({{"anchors", integer(50)}, {"variance_fraction", real(fraction)},
                                   {"tangent_count", integer(1)}, {"normal_count", integer(1)}});
      sampler->prepare(data, 2);
      const auto b = all_probes(*sampler);
      require_finite(b);
      std::size_t right = 0;
      for (std::size_t p = 0; p < b.size(); ++p) {
        right += b.tangent_dim[p] == static_cast<std::int32_t>(m);
        CHECK(b.explained_variance[p] >= fraction - 1e-6);
        CHECK(b.explained_variance[p] <= 1.0f);
      }
      CHECK(right == b.size());
    }
  }
}

TEST_CASE("local_pca explained variance and tangent dimension and directions match the covariance oracle",
          "[accuracy]") {
  // Noisy data (the neighbourhood has full rank k - 1 < n) so every eigenvalue matters.
  const auto data = synthetic(3, 0.2, 24, 400, 2, 11);
  const std::size_t k = 15;
  for (bool same : {true, false}) {
    for (std::int64_t fixed : {std::int64_t{3}, std::int64_t{0}}) {
      INFO("same_label " << same << ", tangent_dim " << fixed);
      const std::size_t tangent_count = 3;
      // rank 14 - m least-variance directions, then the rest of zero variance (rank < n = 24).
      const std::size_t normal_count = 13;
      auto sampler = make_sampler({{"anchors", integer(25)}, {"k", integer(k)}, {"same_label", same},
                                   {"tangent_dim", integer(fixed)}, {"variance_fraction", real(0.8)},
                                   {"tangent_count", integer(tangent_count)}, {"tangent_mode", text("principal")},
                                   {"normal_count", integer(normal_count)}, {"normal_mode", text("least_variance")}});
      sampler->prepare(data, 4);
      const auto b = all_probes(*sampler);
      require_finite(b);
      const auto anchors = genscope::choose_samples(data.size(), 25, 4, "anchors");
      const std::size_t per = tangent_count + normal_count;
      REQUIRE(b.size() == 25 * per);
      std::size_t separated = 0;
      std::size_t zero_variance = 0;
      for (std::size_t a = 0; a < 25; ++a) {
        const std::size_t i = anchors[a];
        const auto pca = oracle_pca(data, naive_neighbours(data, i, k, same));
        const double total = std::accumulate(pca.lambda.begin(), pca.lambda.end(), 0.0);
        std::size_t rank = 0;
        while (rank < pca.lambda.size() && pca.lambda[rank] > 1e-9 * pca.lambda[0]) ++rank;
        REQUIRE(rank == k - 1);
        std::size_t m = static_cast<std::size_t>(fixed);
        if (fixed == 0) {
          double cumulative = 0;
          for (m = 0; cumulative < 0.8 * total;) cumulative += pca.lambda[m++];
        }
        double top = 0;
        for (std::size_t j = 0; j < m; ++j) top += pca.lambda[j];
        for (std::size_t s = 0; s < per; ++s) {
          const std::size_t p = a * per + s;
          INFO("anchor " << i << ", slot " << s);
          CHECK(b.anchor[p] == static_cast<std::int64_t>(i));
          CHECK(b.partners[p] == std::array<std::int64_t, 2>{-1, -1});
          CHECK(b.tangent_dim[p] == static_cast<std::int32_t>(m));
          CHECK(b.explained_variance[p] == Approx(top / total).margin(1e-6));
          for (std::size_t c = 0; c < data.dim(); ++c) CHECK(b.x(p, c) == data.x(i, c));
          CHECK(std::fabs(row_norm(b.d, p) - 1) < 1e-6);
          // The oracle eigenvector a slot should match, where its eigenvalue is well separated.
          std::size_t j = k;  // k: none (a zero-variance slot)
          if (s < tangent_count) {
            CHECK(b.kind[p] == "tangent");
            j = s % m;
          } else {
            CHECK(b.kind[p] == "normal");
            const std::size_t t = s - tangent_count;
            if (t < rank - m) j = rank - 1 - t;
          }
          Eigen::VectorXd dir(static_cast<Eigen::Index>(data.dim()));
          for (std::size_t c = 0; c < data.dim(); ++c) dir(static_cast<Eigen::Index>(c)) = b.d(p, c);
          if (j < k) {
            // The variance along d is eigenvalue j (whatever the multiplicity) ...
            CHECK(dir.dot(pca.covariance * dir) == Approx(pca.lambda[j]).margin(1e-6 * pca.lambda[0]));
            // ... and d is eigenvector j where that eigenvalue is well separated from its neighbours.
            const double below = j + 1 < rank ? pca.lambda[j] - pca.lambda[j + 1] : pca.lambda[j];
            const double above = j > 0 ? pca.lambda[j - 1] - pca.lambda[j] : pca.lambda[0];
            if (std::min(below, above) > 0.05 * pca.lambda[j]) {
              ++separated;
              CHECK(cosine_with(b.d, p, pca.vectors.col(static_cast<Eigen::Index>(j))) > 1 - 1e-6);
            }
          } else {
            // Zero variance: orthogonal to every centred neighbour.
            ++zero_variance;
            for (Eigen::Index r = 0; r < pca.centred.rows(); ++r)
              CHECK(std::fabs(pca.centred.row(r).dot(dir)) < 1e-5 * pca.centred.row(r).norm());
          }
        }
      }
      // Both branches were exercised on many probes.
      CHECK(separated > 100);
      CHECK(zero_variance > 25);
    }
  }
}

TEST_CASE("local_pca probes do not depend on batching or thread count and kinds follow the slots", "[regression]") {
  const auto data = synthetic(3, 0.05);
  for (const char* tmode : {"random", "principal"}) {
    for (const char* nmode : {"random", "least_variance"}) {
      INFO(tmode << " / " << nmode);
      auto sampler = make_sampler({{"anchors", integer(20)}, {"tangent_count", integer(3)},
                                   {"tangent_mode", text(tmode)}, {"normal_count", integer(4)},
                                   {"normal_mode", text(nmode)}});
      sampler->prepare(data, 21);
      const std::size_t total = sampler->probe_count();
      REQUIRE(total == 140);
      const auto whole = all_probes(*sampler);
      require_finite(whole);
      for (std::size_t p = 0; p < total; ++p) CHECK(whole.kind[p] == (p % 7 < 3 ? "tangent" : "normal"));

      for (std::size_t chunk : {1u, 5u, 13u, 64u}) {
        genscope::probe_batch joined = whole;
        std::fill(joined.d.data.begin(), joined.d.data.end(), -7.0f);
        for (std::size_t first = 0; first < total; first += chunk) {
          genscope::probe_batch part;
          sampler->sample(first, std::min(chunk, total - first), part);
          CHECK(part.first == first);
          place(part, joined);
        }
        CHECK(same_probes(joined, whole));
      }
      for (int threads : {1, 2, 4}) {
        genscope::probe_batch joined = whole;
        std::fill(joined.d.data.begin(), joined.d.data.end(), -7.0f);
        const std::size_t chunk = 6;
        std::vector<genscope::probe_batch> parts((total + chunk - 1) / chunk);
        tbb::task_arena arena(threads);
        arena.execute([&] {
          tbb::parallel_for(std::size_t{0}, parts.size(), [&](std::size_t c) {
            sampler->sample(c * chunk, std::min(chunk, total - c * chunk), parts[c]);
          });
        });
        for (const auto& part : parts) place(part, joined);
        CHECK(same_probes(joined, whole));
      }
    }
  }
}

TEST_CASE("local_pca is deterministic for a seed and uses the shared anchors", "[interface]") {
  const auto data = synthetic(2, 0.05);
  auto a = make_sampler({{"anchors", integer(30)}});
  auto b = make_sampler({{"anchors", integer(30)}});
  auto c = make_sampler({{"anchors", integer(30)}});
  a->prepare(data, 42);
  b->prepare(data, 42);
  c->prepare(data, 43);
  const auto pa = all_probes(*a);
  const auto pb = all_probes(*b);
  const auto pc = all_probes(*c);
  CHECK(same_probes(pa, pb));
  CHECK_FALSE(same_probes(pa, pc));
  // Defaults: 4 tangent + 4 normal probes per anchor, anchors from choose_samples(N, anchors, seed, "anchors").
  REQUIRE(pa.size() == 240);
  const auto anchors = genscope::choose_samples(data.size(), 30, 42, "anchors");
  for (std::size_t p = 0; p < pa.size(); ++p) CHECK(pa.anchor[p] == static_cast<std::int64_t>(anchors[p / 8]));
  // Random tangent directions are distinct draws within an anchor.
  CHECK(std::fabs(row_dot(pa.d, 0, pa.d, 1)) < 1 - 1e-3);
}

TEST_CASE("local_pca on duplicate points gives a zero tangent space and no NaN", "[boundary]") {
  // Every neighbourhood is k copies of one point: total variance 0.
  const auto data = duplicates(3, 6);
  for (const char* tmode : {"random", "principal"}) {
    for (const char* nmode : {"random", "least_variance"}) {
      for (std::int64_t fixed : {std::int64_t{0}, std::int64_t{2}}) {
        INFO(tmode << " / " << nmode << " / tangent_dim " << fixed);
        auto sampler = make_sampler({{"anchors", integer(18)}, {"k", integer(5)}, {"tangent_dim", integer(fixed)},
                                     {"tangent_count", integer(2)}, {"tangent_mode", text(tmode)},
                                     {"normal_count", integer(3)}, {"normal_mode", text(nmode)}});
        sampler->prepare(data, 1);
        const auto b = all_probes(*sampler);
        require_finite(b);
        for (std::size_t p = 0; p < b.size(); ++p) {
          CHECK(b.tangent_dim[p] == 0);
          CHECK(b.explained_variance[p] == 0.0f);
          if (p % 5 < 2) {
            CHECK(b.kind[p] == "tangent");
            CHECK(row_norm(b.d, p) == 0.0);
          } else {
            CHECK(b.kind[p] == "normal");
            CHECK(std::fabs(row_norm(b.d, p) - 1) < 1e-6);
          }
        }
      }
    }
  }
}

TEST_CASE("local_pca caps the tangent dimension at the neighbourhood's rank", "[boundary]") {
  // Points on a line in R^5: rank 1 whatever tangent_dim asks.
  genscope::dataset data;
  data.name = "line";
  data.shape = {5};
  const double u[5] = {0.48, -0.6, 0.0, 0.64, 0.0};  // unit
  const double origin[5] = {1.3, -0.7, 2.1, 0.4, -1.9};
  data.x = genscope::matrix(10, 5);
  for (std::size_t i = 0; i < 10; ++i) {
    const double t = 0.37 * static_cast<double>(i) - 1.1;
    for (std::size_t c = 0; c < 5; ++c) data.x(i, c) = static_cast<float>(origin[c] + t * u[c]);
    data.labels.push_back(0);
  }
  data.true_labels = data.labels;
  data.class_count = 1;
  genscope::hash_dataset(data);
  auto sampler = make_sampler({{"anchors", integer(10)}, {"k", integer(6)}, {"tangent_dim", integer(3)},
                               {"tangent_count", integer(3)}, {"tangent_mode", text("principal")},
                               {"normal_count", integer(2)}});
  sampler->prepare(data, 1);
  const auto b = all_probes(*sampler);
  require_finite(b);
  for (std::size_t p = 0; p < b.size(); ++p) {
    CHECK(b.tangent_dim[p] == 1);
    CHECK(b.explained_variance[p] == Approx(1).margin(1e-6));
    double along = 0;
    for (std::size_t c = 0; c < 5; ++c) along += b.d(p, c) * u[c];
    if (p % 5 < 3) {
      CHECK(std::fabs(along) == Approx(1).margin(1e-6));  // slot s uses direction s mod 1
    } else {
      CHECK(std::fabs(along) < 1e-5);
      CHECK(std::fabs(row_norm(b.d, p) - 1) < 1e-6);
    }
  }

  // On a 2-dimensional manifold, tangent_dim = 4 gives m = 2 and principal slots 2, 3 repeat 0, 1.
  const auto plane = synthetic(2, 0.0);
  auto capped = make_sampler({{"anchors", integer(10)}, {"tangent_dim", integer(4)}, {"tangent_count", integer(4)},
                              {"tangent_mode", text("principal")}, {"normal_count", integer(0)}});
  capped->prepare(plane, 1);
  const auto c = all_probes(*capped);
  for (std::size_t p = 0; p < c.size(); ++p) {
    CHECK(c.tangent_dim[p] == 2);
    if (p % 4 >= 2)
      for (std::size_t col = 0; col < c.d.cols; ++col) CHECK(c.d(p, col) == c.d(p - 2, col));
  }
}

TEST_CASE("local_pca same_label = false serves a label with fewer than k + 1 samples", "[boundary]") {
  auto data = synthetic(2, 0.01, 8, 100, 2);
  data.labels[0] = 9;  // a label with one sample
  data.class_count = 10;
  genscope::hash_dataset(data);
  auto sampler = make_sampler({{"anchors", integer(100)}, {"k", integer(10)}, {"same_label", false}});
  sampler->prepare(data, 1);
  const auto b = all_probes(*sampler);
  require_finite(b);
  CHECK(b.size() == 800);
}

// ---- bad input -----------------------------------------------------------------------------------

TEST_CASE("local_pca refuses tangent_dim above k - 1", "[negative]") {
  try {
    (void)make_sampler({{"k", integer(20)}, {"tangent_dim", integer(25)}});
    FAIL("tangent_dim = 25 with k = 20 was accepted");
  } catch (const genscope::plugin_error& e) {
    CHECK(e.plugin() == "local_pca");
    CHECK_THAT(e.what(), Catch::Contains("option 'tangent_dim' = 25 exceeds k - 1 = 19"));
  }
  CHECK_NOTHROW(make_sampler({{"k", integer(20)}, {"tangent_dim", integer(19)}}));
}

TEST_CASE("local_pca refuses a label with too few samples for k same-label neighbours", "[negative]") {
  auto data = synthetic(2, 0.01, 8, 100, 2);
  data.labels[0] = 9;
  data.class_count = 10;
  genscope::hash_dataset(data);
  auto sampler = make_sampler({{"anchors", integer(10)}, {"k", integer(10)}});
  CHECK_THROWS_WITH(sampler->prepare(data, 1), Catch::Contains("label 9") && Catch::Contains("1 samples") &&
                                                   Catch::Contains("'k'") && Catch::Contains("same_label"));
}

TEST_CASE("local_pca refuses anchors <= 0", "[negative]") {
  CHECK_THROWS_WITH(make_sampler({{"anchors", integer(0)}}), Catch::Contains("'anchors'") && Catch::Contains("got 0"));
  CHECK_THROWS_WITH(make_sampler({{"anchors", integer(-3)}}), Catch::Contains("'anchors'") && Catch::Contains("got -3"));
}

TEST_CASE("local_pca refuses k < 2", "[negative]") {
  CHECK_THROWS_WITH(make_sampler({{"k", integer(1)}, {"tangent_dim", integer(0)}}),
                    Catch::Contains("'k'") && Catch::Contains("between 2 and"));
  CHECK_THROWS_WITH(make_sampler({{"k", integer(-4)}}), Catch::Contains("'k'") && Catch::Contains("got -4"));
}

TEST_CASE("local_pca refuses a negative tangent_dim", "[negative]") {
  CHECK_THROWS_WITH(make_sampler({{"tangent_dim", integer(-1)}}),
                    Catch::Contains("'tangent_dim'") && Catch::Contains("between 0 and"));
}

TEST_CASE("local_pca refuses variance_fraction not above 0 or above 1", "[negative]") {
  for (double bad : {0.0, -0.2, 1.0000001, 3.0, std::numeric_limits<double>::quiet_NaN()}) {
    INFO(bad);
    CHECK_THROWS_WITH(make_sampler({{"variance_fraction", real(bad)}}),
                      Catch::Contains("'variance_fraction'") && Catch::Contains("(0, 1]"));
  }
  CHECK_NOTHROW(make_sampler({{"variance_fraction", real(1.0)}}));
}

TEST_CASE("local_pca refuses negative counts", "[negative]") {
  CHECK_THROWS_WITH(make_sampler({{"tangent_count", integer(-1)}}), Catch::Contains("'tangent_count'"));
  CHECK_THROWS_WITH(make_sampler({{"normal_count", integer(-2)}}), Catch::Contains("'normal_count'"));
}

TEST_CASE("local_pca refuses zero tangent and normal counts", "[negative]") {
  CHECK_THROWS_WITH(make_sampler({{"tangent_count", integer(0)}, {"normal_count", integer(0)}}),
                    Catch::Contains("'tangent_count'") && Catch::Contains("'normal_count'") &&
                        Catch::Contains("both 0"));
  CHECK_NOTHROW(make_sampler({{"tangent_count", integer(0)}, {"normal_count", integer(1)}}));
  CHECK_NOTHROW(make_sampler({{"tangent_count", integer(1)}, {"normal_count", integer(0)}}));
}

TEST_CASE("local_pca refuses unknown modes", "[negative]") {
  CHECK_THROWS_WITH(make_sampler({{"tangent_mode", text("pca")}}),
                    Catch::Contains("'tangent_mode'") && Catch::Contains("\"pca\""));
  CHECK_THROWS_WITH(make_sampler({{"normal_mode", text("orthogonal")}}),
                    Catch::Contains("'normal_mode'") && Catch::Contains("\"orthogonal\""));
}

TEST_CASE("local_pca refuses more principal tangent directions than tangent_dim", "[negative]") {
  CHECK_THROWS_WITH(make_sampler({{"tangent_dim", integer(2)}, {"tangent_count", integer(3)},
                                  {"tangent_mode", text("principal")}}),
                    Catch::Contains("'tangent_count' = 3 exceeds tangent_dim = 2"));
  CHECK_NOTHROW(make_sampler({{"tangent_dim", integer(2)}, {"tangent_count", integer(3)},
                              {"tangent_mode", text("random")}}));
}

TEST_CASE("local_pca check() refuses too many anchors", "[negative]") {
  auto sampler = make_sampler({{"anchors", integer(200)}});
  genscope::dataset_shape shape{{32}, 150, 4, "data"};
  CHECK_THROWS_WITH(sampler->check(shape), Catch::Contains("'anchors' = 200") && Catch::Contains("150"));
  shape.count = 200;
  CHECK_NOTHROW(sampler->check(shape));
}

TEST_CASE("local_pca check() refuses k >= number of samples", "[negative]") {
  auto sampler = make_sampler({{"anchors", integer(5)}, {"k", integer(20)}});
  genscope::dataset_shape shape{{4}, 20, 2, "data"};
  CHECK_THROWS_WITH(sampler->check(shape), Catch::Contains("'k' = 20") && Catch::Contains("21"));
  shape.count = 21;
  CHECK_NOTHROW(sampler->check(shape));
}

TEST_CASE("local_pca check() refuses tangent_dim >= data dimension", "[negative]") {
  auto sampler = make_sampler({{"anchors", integer(5)}, {"tangent_dim", integer(6)}, {"tangent_count", integer(2)}});
  genscope::dataset_shape shape{{2, 3}, 100, 2, "data"};
  CHECK_THROWS_WITH(sampler->check(shape), Catch::Contains("'tangent_dim' = 6") && Catch::Contains("dimension 6"));
  shape.shape = {7};
  CHECK_NOTHROW(sampler->check(shape));
}

TEST_CASE("local_pca prepare() repeats the shape checks on the data", "[negative]") {
  const auto data = synthetic(2, 0.01, 8, 50, 1);
  CHECK_THROWS_WITH(make_sampler({{"anchors", integer(51)}})->prepare(data, 1), Catch::Contains("'anchors' = 51"));
  CHECK_THROWS_WITH(make_sampler({{"anchors", integer(5)}, {"k", integer(50)}})->prepare(data, 1),
                    Catch::Contains("'k' = 50"));
  CHECK_THROWS_WITH(make_sampler({{"anchors", integer(5)}, {"tangent_dim", integer(8)}, {"k", integer(10)},
                                  {"tangent_count", integer(1)}})
                        ->prepare(data, 1),
                    Catch::Contains("'tangent_dim' = 8"));
}

TEST_CASE("local_pca refuses sample() before prepare() and probes past probe_count()", "[negative]") {
  auto sampler = make_sampler({{"anchors", integer(5)}});
  genscope::probe_batch b;
  CHECK_THROWS_WITH(sampler->sample(0, 1, b), Catch::Contains("before prepare()"));
  const auto data = synthetic(2, 0.01, 8, 100, 2);
  sampler->prepare(data, 1);
  REQUIRE(sampler->probe_count() == 40);
  CHECK_THROWS_AS(sampler->sample(35, 6, b), std::out_of_range);
  CHECK_THROWS_WITH(sampler->sample(35, 6, b), Catch::Equals("probes [35, 41) requested, the sampler has 40"));
  sampler->sample(40, 0, b);  // an empty batch at the end is fine
  CHECK(b.size() == 0);
}
