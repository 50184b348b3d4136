// Label corruption (label_mode = "corrupt") and data set transforms (avgpool2/4, pca): library, experiment
// file and an end-to-end run whose provenance records which labels changed.
#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/experiment.hpp>

#include "h5/h5.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

using namespace genscope;
using Catch::Matchers::Contains;
using genscope::testing::run_cli;
using genscope::testing::temp_dir;
using genscope::testing::write_file;

namespace {

dataset_spec synthetic(std::size_t samples = 1000, std::size_t classes = 5, std::uint64_t seed = 7) {
  dataset_spec s;
  s.name = "syn";
  s.source = "synthetic";
  s.samples = samples;
  s.dim = 10;
  s.manifold_dim = 3;
  s.classes = classes;
  s.noise = 0.1;
  s.seed = seed;
  return s;
}

dataset_spec corrupt(dataset_spec s, double p) {
  s.labels_mode = label_mode::corrupt;
  s.corruption = p;
  return s;
}

std::size_t changed_count(const dataset& d) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < d.size(); ++i) n += d.labels[i] != d.true_labels[i];
  return n;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const error& e) {
    return e.what();
  }
  FAIL("expected genscope::error");
  return {};
}

// ---- IDX files written by hand --------------------------------------------------------------

using bytes = std::vector<std::uint8_t>;

void write_idx(const std::string& path, const std::vector<std::uint32_t>& dims, const bytes& values) {
  bytes b = {0, 0, 0x08, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<std::uint8_t>(d >> shift));
  b.insert(b.end(), values.begin(), values.end());
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()),
                                              static_cast<std::streamsize>(b.size()));
}

const temp_dir& scratch() {
  static const temp_dir dir("variants");
  return dir;
}

/// Two images of rows x cols, pixel (i, r, c) = 10 * i + 3 * r + c; labels 0, 1.
dataset_spec idx_images(std::size_t rows, std::size_t cols) {
  const std::string tag = std::to_string(rows) + "x" + std::to_string(cols);
  bytes pixels;
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) pixels.push_back(static_cast<std::uint8_t>(10 * i + 3 * r + c));
  dataset_spec s;
  s.name = "img";
  s.images = scratch() / ("images-" + tag);
  s.labels = scratch() / ("labels-" + tag);
  write_idx(s.images, {2, static_cast<std::uint32_t>(rows), static_cast<std::uint32_t>(cols)}, pixels);
  write_idx(s.labels, {2}, {0, 1});
  return s;
}

// ---- linear algebra oracles, independent of Eigen -------------------------------------------

/// Covariance (1/N) of the rows of x, in double.
std::vector<std::vector<double>> covariance(const matrix& x) {
  const std::size_t N = x.rows, n = x.cols;
  std::vector<double> mean(n, 0.0);
  for (std::size_t r = 0; r < N; ++r)
    for (std::size_t j = 0; j < n; ++j) mean[j] += x(r, j);
  for (double& m : mean) m /= static_cast<double>(N);
  std::vector<std::vector<double>> c(n, std::vector<double>(n, 0.0));
  for (std::size_t r = 0; r < N; ++r)
    for (std::size_t a = 0; a < n; ++a)
      for (std::size_t b = 0; b < n; ++b) c[a][b] += (x(r, a) - mean[a]) * (x(r, b) - mean[b]);
  for (auto& row : c)
    for (double& v : row) v /= static_cast<double>(N);
  return c;
}

/// Top k eigenvalues by power iteration with deflation.
std::vector<double> top_eigenvalues(std::vector<std::vector<double>> c, std::size_t k) {
  const std::size_t n = c.size();
  std::vector<double> out;
  for (std::size_t e = 0; e < k; ++e) {
    std::vector<double> v(n);
    for (std::size_t j = 0; j < n; ++j) v[j] = 1.0 + 0.1 * static_cast<double>(j);
    double lambda = 0;
    for (int it = 0; it < 5000; ++it) {
      std::vector<double> w(n, 0.0);
      for (std::size_t a = 0; a < n; ++a)
        for (std::size_t b = 0; b < n; ++b) w[a] += c[a][b] * v[b];
      const double norm = std::sqrt(std::inner_product(w.begin(), w.end(), w.begin(), 0.0));
      lambda = std::inner_product(v.begin(), v.end(), w.begin(), 0.0);
      for (std::size_t j = 0; j < n; ++j) v[j] = w[j] / norm;
    }
    out.push_back(lambda);
    for (std::size_t a = 0; a < n; ++a)
      for (std::size_t b = 0; b < n; ++b) c[a][b] -= lambda * v[a] * v[b];
  }
  return out;
}

/// Variance (1/N) and mean of column j.
std::pair<double, double> column_moments(const matrix& x, std::size_t j) {
  double s = 0, s2 = 0;
  for (std::size_t r = 0; r < x.rows; ++r) s += x(r, j);
  const double mean = s / static_cast<double>(x.rows);
  for (std::size_t r = 0; r < x.rows; ++r) s2 += (x(r, j) - mean) * (x(r, j) - mean);
  return {s2 / static_cast<double>(x.rows), mean};
}

}  // namespace

// ===== label corruption =======================================================================

TEST_CASE("corrupt: exactly round(pN) labels change, each to another class, x and true labels kept",
          "[interface]") {
  const dataset real = build_dataset(synthetic());
  for (const double p : {0.1, 0.25, 0.3, 0.777}) {
    const dataset d = build_dataset(corrupt(synthetic(), p));
    INFO("p = " << p);
    CHECK(changed_count(d) == static_cast<std::size_t>(std::llround(p * 1000)));
    CHECK(d.true_labels == real.labels);
    CHECK(d.x.data == real.x.data);
    CHECK(d.class_count == real.class_count);
    for (std::size_t i = 0; i < d.size(); ++i) {
      CHECK(d.labels[i] >= 0);
      CHECK(d.labels[i] < 5);
    }
    CHECK(d.sha256 != real.sha256);
    CHECK_THAT(d.description, Contains("labels=corrupt") && Contains("corruption="));
  }
}

TEST_CASE("corrupt: round(pN) rounds halves up (7 samples at p = 0.5 change 4)", "[boundary]") {
  dataset d;
  d.class_count = 3;
  d.labels = {0, 1, 2, 0, 1, 2, 0};
  d.x = matrix(7, 1);
  corrupt_labels(d, 0.5, 1);
  CHECK(changed_count(d) == 4);
  CHECK(d.true_labels == std::vector<std::int32_t>{0, 1, 2, 0, 1, 2, 0});
}

TEST_CASE("corrupt: p = 0 changes nothing, p = 1 changes every label", "[boundary]") {
  const dataset real = build_dataset(synthetic());
  const dataset none = build_dataset(corrupt(synthetic(), 0.0));
  CHECK(none.labels == real.labels);
  CHECK(none.sha256 == real.sha256);  // same content
  const dataset all = build_dataset(corrupt(synthetic(), 1.0));
  CHECK(changed_count(all) == all.size());
}

TEST_CASE("corrupt: two classes, p = 1 swaps every label", "[boundary]") {
  const dataset d = build_dataset(corrupt(synthetic(200, 2), 1.0));
  for (std::size_t i = 0; i < d.size(); ++i) CHECK(d.labels[i] == 1 - d.true_labels[i]);
}

TEST_CASE("corrupt: new labels are uniform over the other classes (chi-square)", "[interface]") {
  // 5 classes, 4000 samples of each; p = 1: for each true class, 4 equally likely new ones.
  dataset d;
  d.class_count = 5;
  for (std::int32_t i = 0; i < 20000; ++i) d.labels.push_back(i % 5);
  d.x = matrix(20000, 1);
  corrupt_labels(d, 1.0, 12345);
  std::vector<std::vector<double>> counts(5, std::vector<double>(5, 0.0));
  for (std::size_t i = 0; i < d.size(); ++i) counts[d.true_labels[i]][d.labels[i]] += 1;
  double chi2 = 0;
  for (std::size_t t = 0; t < 5; ++t)
    for (std::size_t c = 0; c < 5; ++c) {
      if (t == c) {
        CHECK(counts[t][c] == 0);
        continue;
      }
      chi2 += (counts[t][c] - 1000.0) * (counts[t][c] - 1000.0) / 1000.0;
    }
  // 15 degrees of freedom: the 99.99th percentile is about 44.3.
  CHECK(chi2 < 44.3);
  // With p = 0.5 the corrupted samples are spread over the classes (each true class ~1000 of 2000 changed).
  dataset h;
  h.class_count = 5;
  for (std::int32_t i = 0; i < 10000; ++i) h.labels.push_back(i % 5);
  h.x = matrix(10000, 1);
  corrupt_labels(h, 0.5, 99);
  std::vector<double> per_class(5, 0.0);
  for (std::size_t i = 0; i < h.size(); ++i) per_class[h.true_labels[i]] += h.labels[i] != h.true_labels[i];
  double chi2_pos = 0;
  for (double c : per_class) chi2_pos += (c - 1000.0) * (c - 1000.0) / 1000.0;
  CHECK(chi2_pos < 25.0);  // 4 dof: 99.99th percentile about 23.5, loosened for the hypergeometric spread
}

TEST_CASE("corrupt: deterministic per seed, different for another seed, independent of the subset stream",
          "[interface]") {
  const dataset a = build_dataset(corrupt(synthetic(), 0.4));
  const dataset b = build_dataset(corrupt(synthetic(), 0.4));
  CHECK(a.labels == b.labels);
  CHECK(a.sha256 == b.sha256);
  dataset_spec other = corrupt(synthetic(), 0.4);
  dataset plain = build_dataset(synthetic());
  corrupt_labels(plain, 0.4, 8);  // same data, another corruption seed
  CHECK(plain.labels != a.labels);
  CHECK(changed_count(plain) == 400);
  other.subset = 500;
  const dataset sub = build_dataset(other);
  CHECK(changed_count(sub) == 200);
}

TEST_CASE("corrupt: peek reports the untouched shape, count and classes", "[interface]") {
  const dataset_shape s = peek_dataset(corrupt(synthetic(), 0.5));
  CHECK(s.shape == std::vector<std::size_t>{10});
  CHECK(s.count == 1000);
  CHECK(s.class_count == 5);
  CHECK(std::string(label_mode_name(label_mode::corrupt)) == "corrupt");
  CHECK(std::string(label_mode_name(label_mode::random)) == "random");
  CHECK(std::string(label_mode_name(label_mode::real)) == "real");
}

TEST_CASE("corruption outside 0 to 1 or NaN is refused", "[negative]") {
  for (const double p : {-0.1, 1.5, std::numeric_limits<double>::infinity()}) {
    INFO("p = " << p);
    CHECK_THAT(error_of([&] { peek_dataset(corrupt(synthetic(), p)); }),
               Contains("dataset 'syn'") && Contains("corruption") && Contains("[0, 1]"));
    CHECK_THAT(error_of([&] { build_dataset(corrupt(synthetic(), p)); }), Contains("corruption"));
  }
  dataset d = build_dataset(synthetic());
  CHECK_THAT(error_of([&] { corrupt_labels(d, std::numeric_limits<double>::quiet_NaN(), 1); }),
             Contains("[0, 1]"));
  CHECK_THAT(error_of([&] { corrupt_labels(d, 2.0, 1); }), Contains("[0, 1]"));
}

TEST_CASE("label_mode corrupt without corruption is refused", "[negative]") {
  dataset_spec s = synthetic();
  s.labels_mode = label_mode::corrupt;
  CHECK_THAT(error_of([&] { peek_dataset(s); }), Contains("needs 'corruption'"));
}

TEST_CASE("corruption with label_mode real or random is refused", "[negative]") {
  dataset_spec s = synthetic();
  s.corruption = 0.2;
  CHECK_THAT(error_of([&] { peek_dataset(s); }), Contains("'corruption' applies only") && Contains("\"real\""));
  s.labels_mode = label_mode::random;
  CHECK_THAT(error_of([&] { build_dataset(s); }), Contains("\"random\""));
}

TEST_CASE("corrupting labels of a one-class data set is refused", "[negative]") {
  CHECK_THAT(error_of([&] { build_dataset(corrupt(synthetic(100, 1), 0.5)); }), Contains("another class"));
  CHECK_NOTHROW(build_dataset(corrupt(synthetic(100, 1), 0.0)));
}

// ===== transforms =============================================================================

TEST_CASE("avgpool2 on a hand-made 4x6 IDX image equals the hand-computed means", "[interface]") {
  dataset_spec s = idx_images(4, 6);
  s.transform = "avgpool2";
  const dataset d = build_dataset(s);
  REQUIRE(d.shape == std::vector<std::size_t>{2, 3});
  REQUIRE(d.dim() == 6);
  // Pixel (i, r, c) = 10 i + 3 r + c; the mean over rows 2a..2a+1, cols 2b..2b+1 is 10 i + 3 (2a + 0.5) + 2b + 0.5.
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t a = 0; a < 2; ++a)
      for (std::size_t b = 0; b < 3; ++b) {
        const double expected = (10.0 * i + 3.0 * (2 * a + 0.5) + 2.0 * b + 0.5) / 255.0;
        CHECK(d.x(i, a * 3 + b) == Approx(expected).epsilon(1e-6));
      }
  CHECK(d.labels == std::vector<std::int32_t>{0, 1});
  CHECK_THAT(d.description, Contains("transform=avgpool2"));
  // The hash covers the pooled data.
  dataset copy = d;
  hash_dataset(copy);
  CHECK(copy.sha256 == d.sha256);
  s.transform = "none";
  CHECK(build_dataset(s).sha256 != d.sha256);
  s.transform = "avgpool2";
  CHECK(peek_dataset(s).shape == std::vector<std::size_t>{2, 3});
}

TEST_CASE("avgpool4 of a 4x4 image is its mean, channels are pooled separately", "[interface]") {
  dataset_spec s = idx_images(4, 4);
  s.transform = "avgpool4";
  const dataset d = build_dataset(s);
  REQUIRE(d.shape == std::vector<std::size_t>{1, 1});
  // Mean of 3 r + c over r, c in 0..3 is 4.5 + 1.5 = 6.
  CHECK(d.x(0, 0) == Approx(6.0 / 255).epsilon(1e-6));
  CHECK(d.x(1, 0) == Approx(16.0 / 255).epsilon(1e-6));

  dataset c;
  c.shape = {2, 2, 2};  // two channels of 2x2
  c.x = matrix(1, 8);
  const float v[8] = {1, 2, 3, 4, 10, 20, 30, 40};
  std::copy(v, v + 8, c.x.row(0));
  c.labels = {0};
  avgpool(c, 2);
  CHECK(c.shape == std::vector<std::size_t>{2, 1, 1});
  CHECK(c.x(0, 0) == Approx(2.5));
  CHECK(c.x(0, 1) == Approx(25.0));
}

TEST_CASE("peek of Fashion-MNIST with avgpool2 / avgpool4 / pca gives 14x14, 7x7, {d}", "[interface]") {
  dataset_spec s;
  s.split = "t10k";
  s.transform = "avgpool2";
  CHECK(peek_dataset(s).shape == std::vector<std::size_t>{14, 14});
  s.transform = "avgpool4";
  CHECK(peek_dataset(s).shape == std::vector<std::size_t>{7, 7});
  s.transform = "pca";
  s.pca_dim = 50;
  CHECK(peek_dataset(s).shape == std::vector<std::size_t>{50});
  CHECK(peek_dataset(s).count == 10000);
}

TEST_CASE("pca in 2-D: variances and directions match the closed form", "[interface]") {
  // Points with covariance [[a, b], [b, c]]: eigenvalues (a + c)/2 +- sqrt(((a - c)/2)^2 + b^2).
  dataset d;
  d.name = "two";
  d.shape = {2};
  const std::vector<std::pair<float, float>> pts{{2, 1}, {-1, 0.5f}, {0.5f, -2}, {3, 2}, {-2, -1}, {1, 0}};
  d.x = matrix(pts.size(), 2);
  for (std::size_t i = 0; i < pts.size(); ++i) {
    d.x(i, 0) = pts[i].first;
    d.x(i, 1) = pts[i].second;
  }
  d.labels.assign(pts.size(), 0);
  const auto cov = covariance(d.x);
  const double a = cov[0][0], b = cov[0][1], c = cov[1][1];
  const double l1 = (a + c) / 2 + std::sqrt((a - c) * (a - c) / 4 + b * b);
  const double l2 = (a + c) / 2 - std::sqrt((a - c) * (a - c) / 4 + b * b);
  const pca_basis basis = fit_pca(d.x, 2);
  REQUIRE(basis.variances.size() == 2);
  CHECK(basis.variances[0] == Approx(l1).epsilon(1e-12));
  CHECK(basis.variances[1] == Approx(l2).epsilon(1e-12));
  // First direction along (b, l1 - a), sign: its largest |entry| positive.
  double vx = b, vy = l1 - a;
  const double norm = std::hypot(vx, vy);
  vx /= norm;
  vy /= norm;
  if ((std::abs(vx) >= std::abs(vy) ? vx : vy) < 0) {
    vx = -vx;
    vy = -vy;
  }
  CHECK(basis.components[0] == Approx(vx).epsilon(1e-9));
  CHECK(basis.components[1] == Approx(vy).epsilon(1e-9));
  dataset p = d;
  project_pca(p, basis);
  CHECK(p.shape == std::vector<std::size_t>{2});
  CHECK(column_moments(p.x, 0).first == Approx(l1).epsilon(1e-5));
  CHECK(column_moments(p.x, 1).first == Approx(l2).epsilon(1e-5));
}

TEST_CASE("pca: projected variances decrease and equal the covariance's top eigenvalues (power iteration)",
          "[interface]") {
  dataset_spec s = synthetic(600, 4);
  s.noise = 0.5;
  const dataset raw = build_dataset(s);
  s.transform = "pca";
  s.pca_dim = 4;
  const dataset d = build_dataset(s);
  REQUIRE(d.shape == std::vector<std::size_t>{4});
  REQUIRE(d.dim() == 4);
  CHECK(peek_dataset(s).shape == std::vector<std::size_t>{4});
  CHECK(d.labels == raw.labels);
  CHECK(d.tangent_basis.rows == 0);
  const std::vector<double> eig = top_eigenvalues(covariance(raw.x), 4);
  for (std::size_t j = 0; j < 4; ++j) {
    const auto [var, mean] = column_moments(d.x, j);
    INFO("component " << j);
    CHECK(var == Approx(eig[j]).epsilon(1e-4));
    CHECK(mean == Approx(0.0).margin(1e-4));
    if (j > 0) CHECK(var <= column_moments(d.x, j - 1).first);
  }
  // Components are uncorrelated.
  for (std::size_t j = 0; j < 4; ++j)
    for (std::size_t k = j + 1; k < 4; ++k) {
      double cross = 0;
      for (std::size_t r = 0; r < d.size(); ++r) cross += d.x(r, j) * d.x(r, k);
      CHECK(cross / static_cast<double>(d.size()) == Approx(0.0).margin(1e-4 * eig[0]));
    }
  // Deterministic.
  CHECK(build_dataset(s).sha256 == d.sha256);
  CHECK(d.sha256 != raw.sha256);
}

TEST_CASE("pca_fit: a data set is projected with the basis of another", "[interface]") {
  const dataset_spec train_spec = synthetic(500, 4, 7);
  dataset_spec test_spec = synthetic(200, 4, 9);
  test_spec.name = "test";
  test_spec.transform = "pca";
  test_spec.pca_dim = 3;
  test_spec.pca_fit = "syn";
  const dataset train = build_dataset(train_spec);
  const dataset test_raw = build_dataset(synthetic(200, 4, 9));
  const dataset test = build_dataset(test_spec, &train);
  dataset expected = test_raw;
  project_pca(expected, fit_pca(train.x, 3));
  CHECK(test.x.data == expected.x.data);
  CHECK_THAT(test.description, Contains("pca_fit=syn"));
  // A self-fitted projection differs.
  test_spec.pca_fit.clear();
  CHECK(build_dataset(test_spec).x.data != test.x.data);
}

TEST_CASE("pooling a sample shape that is not divisible, or of rank 1, is refused", "[negative]") {
  dataset_spec s = idx_images(3, 4);
  s.transform = "avgpool2";
  CHECK_THAT(error_of([&] { peek_dataset(s); }), Contains("divisible by 2") && Contains("3x4"));
  CHECK_THAT(error_of([&] { build_dataset(s); }), Contains("divisible by 2"));
  s.transform = "avgpool4";
  s = idx_images(4, 6);
  s.transform = "avgpool4";
  CHECK_THAT(error_of([&] { peek_dataset(s); }), Contains("divisible by 4"));
  dataset_spec flat = synthetic();
  flat.transform = "avgpool2";
  CHECK_THAT(error_of([&] { peek_dataset(flat); }), Contains("rank >= 2"));
}

TEST_CASE("pca_dim 0, above the dimension, or without transform pca is refused", "[negative]") {
  dataset_spec s = synthetic();
  s.transform = "pca";
  CHECK_THAT(error_of([&] { peek_dataset(s); }), Contains("pca_dim"));
  s.pca_dim = 11;
  CHECK_THAT(error_of([&] { peek_dataset(s); }), Contains("pca_dim = 11 exceeds the sample dimension 10"));
  CHECK_THAT(error_of([&] { build_dataset(s); }), Contains("exceeds"));
  s.transform = "none";
  s.pca_dim = 3;
  CHECK_THAT(error_of([&] { peek_dataset(s); }), Contains("'pca_dim' applies only"));
  s.pca_dim = 0;
  s.pca_fit = "other";
  CHECK_THAT(error_of([&] { peek_dataset(s); }), Contains("'pca_fit' applies only"));
  CHECK_THROWS_AS(fit_pca(matrix(5, 3), 4), error);
  CHECK_THROWS_AS(fit_pca(matrix(5, 3), 0), error);
}

TEST_CASE("an unknown transform is refused", "[negative]") {
  dataset_spec s = synthetic();
  s.transform = "avgpool3";
  CHECK_THAT(error_of([&] { peek_dataset(s); }), Contains("unknown transform 'avgpool3'"));
}

TEST_CASE("pca_fit of another dimension, or not given, is refused when building", "[negative]") {
  dataset_spec s = synthetic();
  s.transform = "pca";
  s.pca_dim = 2;
  s.pca_fit = "other";
  CHECK_THAT(error_of([&] { build_dataset(s); }), Contains("fitting data set was not given"));
  dataset_spec small = synthetic();
  small.dim = 6;
  const dataset other = build_dataset(small);
  CHECK_THAT(error_of([&] { build_dataset(s, &other); }),
             Contains("dimension 6") && Contains("dimension 10"));
}

// ===== experiment files =======================================================================

namespace {

const plugin_registry& registry() { return genscope::testing::build_plugins(); }

std::string experiment_text(const temp_dir& dir, const std::string& datasets, const std::string& dataset_used) {
  return fmt::format(R"(seed = 5
output = "{}"
model_cache = "{}"

[datasets.train]
source = "synthetic"
samples = 400
dim = 12
manifold_dim = 3
classes = 4
noise = 0.05
label_mode = "corrupt"
corruption = 0.25
{}
[models.net]
backend = "native"
dataset = "{}"

[models.net.train]
hidden = [16]
epochs = 3
batch_size = 32

[samplers.pairs]
plugin = "pairwise"
dataset = "{}"
count = 120

[estimators.bisect]
plugin = "bisection"
T = 2.0
h = 0.1

[runs.main]
model = "net"
sampler = "pairs"
estimator = "bisect"
batch_size = 16
)",
                     dir / "results.h5", dir / "models", datasets, dataset_used, dataset_used);
}

std::string config_error_of(const std::string& text) {
  try {
    parse_experiment(text, "exp.toml", registry());
  } catch (const config_error& e) {
    return e.what();
  }
  FAIL("expected a config_error");
  return {};
}

}  // namespace

TEST_CASE("experiment file: corrupt, transform and pca_fit keys reach the spec, pca_fit orders the build",
          "[interface]") {
  temp_dir dir("variants-exp");
  const std::string extra = R"(
[datasets.proj]
from = "train"
label_mode = "real"
transform = "pca"
pca_dim = 5
pca_fit = "train"
)";
  const experiment e = parse_experiment(experiment_text(dir, extra, "proj"), "exp.toml", registry());
  REQUIRE(e.datasets.size() == 2);
  const dataset_spec& train = e.datasets[0].name == "train" ? e.datasets[0] : e.datasets[1];
  const dataset_spec& proj = e.datasets[0].name == "proj" ? e.datasets[0] : e.datasets[1];
  CHECK(train.labels_mode == label_mode::corrupt);
  CHECK(train.corruption == 0.25);
  CHECK(proj.labels_mode == label_mode::real);
  CHECK(std::isnan(proj.corruption));  // qualifies label_mode: not inherited when label_mode is set
  CHECK(proj.transform == "pca");
  CHECK(proj.pca_dim == 5);
  CHECK(proj.pca_fit == "train");
  const auto pos = [&](const std::string& item) {
    return std::find(e.build_order.begin(), e.build_order.end(), item) - e.build_order.begin();
  };
  CHECK(pos("datasets.train") < pos("datasets.proj"));
  CHECK(pos("datasets.proj") < pos("models.net"));
}

TEST_CASE("experiment file: bad corruption values are refused at the value", "[negative]") {
  temp_dir dir("variants-exp");
  const std::string base = experiment_text(dir, "", "train");
  const auto with = [&](const std::string& from, const std::string& to) {
    std::string t = base;
    t.replace(t.find(from), from.size(), to);
    return t;
  };
  CHECK_THAT(config_error_of(with("corruption = 0.25", "corruption = 1.5")),
             Contains("exp.toml:") && Contains("datasets.train.corruption") && Contains("[0, 1]"));
  CHECK_THAT(config_error_of(with("corruption = 0.25", "corruption = nan")), Contains("corruption"));
  CHECK_THAT(config_error_of(with("corruption = 0.25", "corruption = -0.5")), Contains("corruption"));
  CHECK_THAT(config_error_of(with("corruption = 0.25\n", "")), Contains("needs 'corruption'"));
  CHECK_THAT(config_error_of(with("label_mode = \"corrupt\"", "label_mode = \"random\"")),
             Contains("'corruption' applies only"));
  CHECK_THAT(config_error_of(with("label_mode = \"corrupt\"", "label_mode = \"noisy\"")), Contains("corrupt"));
}

TEST_CASE("experiment file: bad transforms and pca_fit references are refused", "[negative]") {
  temp_dir dir("variants-exp");
  const auto proj = [&](const std::string& keys) {
    return experiment_text(dir, "\n[datasets.proj]\nsource = \"synthetic\"\ndim = 12\nclasses = 4\n" + keys, "train");
  };
  CHECK_THAT(config_error_of(proj("transform = \"pca\"\npca_dim = 3\npca_fit = \"nope\"\n")),
             Contains("nope"));
  CHECK_THAT(config_error_of(proj("transform = \"pca\"\npca_dim = 3\npca_fit = \"wide\"\n[datasets.wide]\n"
                                  "source = \"synthetic\"\ndim = 20\n")),
             Contains("pca_fit = \"wide\" has samples of dimension 20") && Contains("dimension 12"));
  CHECK_THAT(config_error_of(proj("transform = \"pca\"\npca_dim = 0\n")), Contains("pca_dim"));
  CHECK_THAT(config_error_of(proj("transform = \"pca\"\npca_dim = 13\n")), Contains("exceeds"));
  CHECK_THAT(config_error_of(proj("transform = \"avgpool2\"\n")), Contains("rank >= 2"));
  CHECK_THAT(config_error_of(proj("transform = \"blur\"\n")), Contains("transform"));
  // A model whose data set is projected takes the projected dimension: a run on the raw data set mismatches.
  std::string text = experiment_text(dir, "\n[datasets.proj]\nfrom = \"train\"\ntransform = \"pca\"\npca_dim = 4\n",
                                     "proj");
  text.replace(text.find("dataset = \"proj\"\ncount"), 16, "dataset = \"train\"");
  CHECK_THAT(config_error_of(text), Contains("dimension 4") && Contains("dimension 12"));
}

// ===== end to end ==============================================================================

TEST_CASE("run: provenance records labels, true labels and changes, anchor_corrupted matches them",
          "[interface]") {
  temp_dir dir("variants-run");
  const std::string extra = R"(
[datasets.proj]
from = "train"
label_mode = "real"
transform = "pca"
pca_dim = 5
pca_fit = "train"
)";
  write_file(dir / "exp.toml", experiment_text(dir, extra, "train"));
  const auto r = run_cli("run --quiet " + (dir / "exp.toml"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);

  dataset_spec spec;
  spec.name = "train";
  spec.source = "synthetic";
  spec.samples = 400;
  spec.dim = 12;
  spec.manifold_dim = 3;
  spec.classes = 4;
  spec.noise = 0.05;
  spec.seed = 5;
  const dataset clean = build_dataset(spec);

  const h5::file f = h5::file::open(dir / "results.h5");
  const h5::group g = f.root().open_group("provenance").open_group("datasets").open_group("train");
  const auto labels = g.read<std::int32_t>("labels");
  const auto true_labels = g.read<std::int32_t>("true_labels");
  const auto changed = g.read<std::uint8_t>("label_changed");
  const auto source_index = g.read<std::int64_t>("source_index");
  REQUIRE(labels.size() == 400);
  CHECK(true_labels == clean.labels);
  CHECK(source_index == clean.source_index);
  std::size_t n_changed = 0;
  for (std::size_t i = 0; i < 400; ++i) {
    CHECK(changed[i] == (labels[i] != true_labels[i] ? 1 : 0));
    n_changed += changed[i];
  }
  CHECK(n_changed == 100);
  CHECK(g.attr_string("label_mode") == "corrupt");
  CHECK(g.attr_double("corruption") == 0.25);
  CHECK(g.attr_double("changed_fraction") == 0.25);
  CHECK(g.attr_string("transform") == "none");

  const h5::group p = f.root().open_group("provenance").open_group("datasets").open_group("proj");
  CHECK(p.attr_string("label_mode") == "real");
  CHECK_FALSE(p.has_attr("corruption"));
  CHECK(p.attr_double("changed_fraction") == 0.0);
  CHECK(p.attr_string("transform") == "pca");
  CHECK(p.attr_int("pca_dim") == 5);
  CHECK(p.attr_ints("shape") == std::vector<std::int64_t>{5});
  CHECK(p.attr_int("dim") == 5);
  dataset_spec proj = spec;
  proj.name = "proj";
  proj.transform = "pca";
  proj.pca_dim = 5;
  proj.pca_fit = "train";
  CHECK(p.attr_string("sha256") == build_dataset(proj, &clean).sha256);

  const h5::group run = f.root().open_group("runs").open_group("main");
  const auto anchor = run.read<std::int64_t>("anchor");
  const auto corrupted = run.read<std::int8_t>("anchor_corrupted");
  const auto anchor_label = run.read<std::int32_t>("anchor_label");
  REQUIRE(corrupted.size() == 120);
  std::size_t seen_corrupted = 0;
  for (std::size_t i = 0; i < anchor.size(); ++i) {
    if (anchor[i] < 0) {
      CHECK(corrupted[i] == -1);
      continue;
    }
    const auto a = static_cast<std::size_t>(anchor[i]);
    CHECK(corrupted[i] == changed[a]);
    CHECK(anchor_label[i] == labels[a]);
    seen_corrupted += corrupted[i] == 1;
  }
  CHECK(seen_corrupted > 0);
}
