// Synthetic data: Gaussian clusters on a random linear manifold of known dimension, plus isotropic noise.
#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/random.hpp>

#include "loaders.hpp"

#include <cmath>
#include <string>
#include <vector>

namespace genscope::detail {

namespace {

// Rows of a manifold_dim x dim matrix drawn from N(0, 1), orthonormalized by Gram-Schmidt.
std::vector<double> random_orthonormal_rows(std::size_t rows, std::size_t dim, std::uint64_t seed) {
  std::vector<double> u(rows * dim);
  rng gen(seed, stream_key("synthetic/basis"));
  for (std::size_t r = 0; r < rows; ++r) {
    double* row = u.data() + r * dim;
    while (true) {
      for (std::size_t j = 0; j < dim; ++j) row[j] = gen.normal();
      const double drawn_norm = std::sqrt([&] {
        double s = 0;
        for (std::size_t j = 0; j < dim; ++j) s += row[j] * row[j];
        return s;
      }());
      // Two passes of modified Gram-Schmidt keep the rows orthogonal to working precision.
      for (int pass = 0; pass < 2; ++pass) {
        for (std::size_t q = 0; q < r; ++q) {
          const double* prev = u.data() + q * dim;
          double dot = 0;
          for (std::size_t j = 0; j < dim; ++j) dot += row[j] * prev[j];
          for (std::size_t j = 0; j < dim; ++j) row[j] -= dot * prev[j];
        }
      }
      double norm = 0;
      for (std::size_t j = 0; j < dim; ++j) norm += row[j] * row[j];
      norm = std::sqrt(norm);
      // A draw almost inside the span of the previous rows is redrawn (probability ~0 unless rows == dim).
      if (norm > 1e-6 * drawn_norm && norm > 0) {
        for (std::size_t j = 0; j < dim; ++j) row[j] /= norm;
        break;
      }
    }
  }
  return u;
}

}  // namespace

/// Generates spec.samples samples (no subset, real labels, no hash); the spec is already validated.
/// Sample i depends only on the seed and i, not on how many samples are drawn.
dataset make_synthetic(const dataset_spec& spec) {
  const std::size_t m = spec.manifold_dim;
  const std::size_t dim = spec.dim;
  const std::size_t classes = spec.classes;
  const std::vector<double> u = random_orthonormal_rows(m, dim, spec.seed);

  std::vector<double> centres(classes * m);
  rng centre_gen(spec.seed, stream_key("synthetic/centres"));
  for (double& c : centres) c = spec.separation * centre_gen.normal();

  dataset data;
  data.name = spec.name;
  data.shape = {dim};
  data.class_count = classes;
  data.x = matrix(spec.samples, dim);
  data.labels.resize(spec.samples);
  data.source_index.resize(spec.samples);
  std::vector<double> z(m), x(dim);
  for (std::size_t i = 0; i < spec.samples; ++i) {
    // Balanced labels: every class gets the same number of samples, up to one.
    const std::size_t label = i % classes;
    rng gen(spec.seed, stream_key("synthetic/sample"), i);
    for (std::size_t k = 0; k < m; ++k) z[k] = centres[label * m + k] + spec.cluster_spread * gen.normal();
    for (std::size_t j = 0; j < dim; ++j) x[j] = spec.noise > 0 ? spec.noise * gen.normal() : 0.0;
    for (std::size_t k = 0; k < m; ++k)
      for (std::size_t j = 0; j < dim; ++j) x[j] += u[k * dim + j] * z[k];
    float* row = data.x.row(i);
    for (std::size_t j = 0; j < dim; ++j) row[j] = static_cast<float>(x[j]);
    data.labels[i] = static_cast<std::int32_t>(label);
    data.source_index[i] = static_cast<std::int64_t>(i);
  }
  data.true_labels = data.labels;

  data.tangent_basis = matrix(m, dim);
  for (std::size_t k = 0; k < m * dim; ++k) data.tangent_basis.data[k] = static_cast<float>(u[k]);
  return data;
}

}  // namespace genscope::detail
