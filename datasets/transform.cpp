// Dataset transforms applied after subset and label mode: k x k average pooling and PCA projection.
#include <genscope/datasets.hpp>
#include <genscope/error.hpp>

// GCC 12 flags _mm512_undefined_pd() inside Eigen's AVX-512 packet code as
// maybe-uninitialized; the value is a don't-care operand, never read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Dense>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace genscope {

void avgpool(dataset& data, std::size_t k) {
  const std::size_t rank = data.shape.size();
  if (k == 0) throw error("avgpool: pool size must be at least 1");
  if (rank < 2 || data.shape[rank - 1] % k != 0 || data.shape[rank - 2] % k != 0)
    throw error("avgpool: the sample shape must have rank >= 2 with its last two dims divisible by " +
                std::to_string(k));
  const std::size_t h = data.shape[rank - 2], w = data.shape[rank - 1];
  const std::size_t ho = h / k, wo = w / k;
  std::size_t planes = 1;
  for (std::size_t i = 0; i + 2 < rank; ++i) planes *= data.shape[i];
  if (planes * h * w != data.dim())
    throw error("avgpool: sample shape does not match the sample dimension " + std::to_string(data.dim()));
  matrix out(data.size(), planes * ho * wo);
  const double scale = 1.0 / static_cast<double>(k * k);
  for (std::size_t r = 0; r < data.size(); ++r) {
    const float* src = data.x.row(r);
    float* dst = out.row(r);
    for (std::size_t p = 0; p < planes; ++p)
      for (std::size_t i = 0; i < ho; ++i)
        for (std::size_t j = 0; j < wo; ++j) {
          double s = 0;
          for (std::size_t a = 0; a < k; ++a)
            for (std::size_t b = 0; b < k; ++b) s += src[p * h * w + (i * k + a) * w + (j * k + b)];
          dst[p * ho * wo + i * wo + j] = static_cast<float>(s * scale);
        }
  }
  data.x = std::move(out);
  data.shape[rank - 2] = ho;
  data.shape[rank - 1] = wo;
  data.tangent_basis = matrix();  // no longer an orthonormal basis of the pooled data's manifold
}

pca_basis fit_pca(const matrix& x, std::size_t d) {
  const std::size_t N = x.rows, n = x.cols;
  if (N == 0) throw error("fit_pca: no fitting samples");
  if (d == 0 || d > n)
    throw error("fit_pca: " + std::to_string(d) + " components requested of data of dimension " + std::to_string(n));
  using mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const auto nn = static_cast<Eigen::Index>(n);
  Eigen::RowVectorXd mean = Eigen::RowVectorXd::Zero(nn);
  for (std::size_t r = 0; r < N; ++r)
    for (std::size_t j = 0; j < n; ++j) mean(static_cast<Eigen::Index>(j)) += x.row(r)[j];
  mean /= static_cast<double>(N);
  // Covariance (1/N) accumulated over blocks of centred rows, in double (memory: one block, not N x n).
  Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(nn, nn);
  constexpr std::size_t block = 2048;
  mat xc;
  for (std::size_t first = 0; first < N; first += block) {
    const std::size_t rows = std::min(block, N - first);
    xc.resize(static_cast<Eigen::Index>(rows), nn);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t j = 0; j < n; ++j)
        xc(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(j)) =
            x.row(first + r)[j] - mean(static_cast<Eigen::Index>(j));
    cov.selfadjointView<Eigen::Lower>().rankUpdate(xc.transpose(), 1.0 / static_cast<double>(N));
  }
  cov.triangularView<Eigen::StrictlyUpper>() = cov.transpose();
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(cov);
  if (solver.info() != Eigen::Success) throw error("fit_pca: the eigen decomposition of the covariance failed");
  pca_basis b;
  b.dim = n;
  b.mean.assign(mean.data(), mean.data() + n);
  b.components.resize(d * n);
  b.variances.resize(d);
  for (std::size_t i = 0; i < d; ++i) {
    const auto col = static_cast<Eigen::Index>(n - 1 - i);  // eigenvalues come in increasing order
    Eigen::VectorXd v = solver.eigenvectors().col(col);
    Eigen::Index big = 0;
    v.cwiseAbs().maxCoeff(&big);
    if (v(big) < 0) v = -v;
    std::copy(v.data(), v.data() + n, b.components.begin() + static_cast<std::ptrdiff_t>(i * n));
    b.variances[i] = std::max(0.0, solver.eigenvalues()(col));
  }
  return b;
}

void project_pca(dataset& data, const pca_basis& basis) {
  const std::size_t n = basis.dim, d = basis.variances.size();
  if (data.dim() != n)
    throw error("project_pca: data of dimension " + std::to_string(data.dim()) + ", projection fitted on dimension " +
                std::to_string(n));
  matrix out(data.size(), d);
  std::vector<double> centred(n);
  for (std::size_t r = 0; r < data.size(); ++r) {
    const float* src = data.x.row(r);
    for (std::size_t j = 0; j < n; ++j) centred[j] = src[j] - basis.mean[j];
    for (std::size_t i = 0; i < d; ++i) {
      const double* v = basis.components.data() + i * n;
      double s = 0;
      for (std::size_t j = 0; j < n; ++j) s += centred[j] * v[j];
      out.row(r)[i] = static_cast<float>(s);
    }
  }
  data.x = std::move(out);
  data.shape = {d};
  data.tangent_basis = matrix();  // the projected data's manifold basis is not recomputed
}

}  // namespace genscope
