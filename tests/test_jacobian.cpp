// Oracle tests of the jacobian analysis plugin: central finite differences, brute-force masked weight products in
// long double, confident points (1 - p_top down to 1e-18), crafted region boundaries, batching, the backend's own
// logits, misuse.
#include "oracles.hpp"
#include "support.hpp"

#include <genscope/analysis.hpp>
#include <genscope/dataset.hpp>
#include <genscope/datasets.hpp>
#include <genscope/mlp.hpp>
#include <genscope/network_backend.hpp>
#include <genscope/plugin_registry.hpp>
#include <genscope/random.hpp>
#include <genscope/sampling.hpp>
#include <genscope/table.hpp>

#include <catch2/catch.hpp>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Dense>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

using namespace genscope;
using genscope::testing::affine_layer_d;

namespace {

using ld = long double;
using ld_rows = std::vector<std::vector<ld>>;  // a matrix as its rows

// Measured worst errors, printed when JACOBIAN_TEST_REPORT is set (for tuning tolerances).
void report(const char* what, double value) {
  if (std::getenv("JACOBIAN_TEST_REPORT") != nullptr) std::printf("jacobian test: %s = %.3g\n", what, value);
}

// ---- networks, data and the analysis ---------------------------------------------------------------

/// Layers of the given sizes (input first): weights N(0, gain^2 * 2/in) (He), biases N(0, 0.1^2), in float.
std::vector<dense_layer> he_layers(const std::vector<std::size_t>& sizes, std::uint64_t seed, double gain = 1.0) {
  rng gen(seed, stream_key("jacobian test weights"));
  std::vector<dense_layer> net(sizes.size() - 1);
  for (std::size_t l = 0; l < net.size(); ++l) {
    net[l].weight = matrix(sizes[l + 1], sizes[l]);
    const double sd = gain * std::sqrt(2.0 / static_cast<double>(sizes[l]));
    for (float& w : net[l].weight.data) w = static_cast<float>(sd * gen.normal());
    net[l].bias.resize(sizes[l + 1]);
    for (float& b : net[l].bias) b = static_cast<float>(0.1 * gen.normal());
  }
  return net;
}

/// A layer with the given weights (out x in, row-major) and biases.
dense_layer dense(std::size_t in, const std::vector<float>& w, const std::vector<float>& b) {
  dense_layer l;
  l.weight = matrix(b.size(), in);
  REQUIRE(w.size() == l.weight.data.size());
  l.weight.data = w;
  l.bias = b;
  return l;
}

/// A model file of `layers` opened through the native backend plugin (the file lives as long as the object).
struct native_net {
  std::vector<dense_layer> layers;
  testing::temp_dir dir{"jacobian"};
  std::shared_ptr<network_backend> backend;

  explicit native_net(std::vector<dense_layer> l) : layers(std::move(l)) {
    const std::string path = dir / "model.h5";
    save_model(path, mlp(layers, {layers.front().weight.cols}), training_record{});
    option_set o;
    o.set("path", path);
    backend = testing::build_plugins().create_backend("native", o);
  }
  std::vector<affine_layer_d> exact() const { return testing::to_double(layers); }
};

dataset make_data(const std::string& name, matrix x, const std::vector<std::int32_t>& labels, std::size_t classes) {
  dataset d;
  d.name = name;
  d.shape = {x.cols};
  d.x = std::move(x);
  d.labels = labels;
  d.true_labels = labels;
  d.class_count = classes;
  return d;
}

/// `count` standard Gaussian points of dimension n with uniformly random labels in [0, classes).
dataset gaussian_data(const std::string& name, std::size_t count, std::size_t n, std::size_t classes,
                      std::uint64_t seed) {
  rng gen(seed, stream_key("jacobian test data"));
  matrix x(count, n);
  for (float& v : x.data) v = static_cast<float>(gen.normal());
  std::vector<std::int32_t> labels(count);
  for (auto& y : labels) y = static_cast<std::int32_t>(gen.below(classes));
  return make_data(name, std::move(x), labels, classes);
}

std::shared_ptr<analysis> make_jacobian(std::int64_t points = 0) {
  option_set o;
  o.set("points", points);
  return testing::build_plugins().create_analysis("jacobian", o);
}

/// Rows [first, first + count) of the points table, in one compute() call.
table_batch rows_of(const analysis& a, std::size_t first, std::size_t count) {
  const table_spec spec = a.tables().at(0);
  table_batch out;
  out.reset(spec, count);
  a.compute(0, first, count, out);
  out.check(spec, "analysis 'jacobian'");
  return out;
}

/// prepare(), then the whole table in one call.
table_batch whole_table(analysis& a, const network_backend& net, const std::vector<const dataset*>& data,
                        std::uint64_t seed = 7) {
  a.prepare(net, data, seed);
  return rows_of(a, 0, a.row_count(0));
}

// ---- oracles --------------------------------------------------------------------------------------------

/// The linear region of x and the network's affine map on it, in long double straight from the weights (forward
/// mode, no backward product): the activation pattern by the right-limit rule along e = (1, ..., 1)/sqrt(n) (a unit
/// at 0 is active when its slope along e, through the pattern already chosen below, is > 0), and
/// A = W_L D_{L-1} W_{L-1} ... D_1 W_1 as a brute-force product of the masked matrices.
struct region {
  std::vector<std::vector<int>> active;  // per hidden layer
  long boundary = 0, flat = 0;
  ld min_rel_pre = std::numeric_limits<ld>::infinity();  // min over hidden layers of min |z| / max |z|
  std::vector<ld> logits;
  ld_rows a;  // C x n
};

region region_of(const std::vector<affine_layer_d>& layers, const float* x) {
  region r;
  const std::size_t n = layers.front().in;
  std::vector<ld> v(x, x + n), s(n, 1.0L / std::sqrt(static_cast<ld>(n)));
  ld_rows prod(n, std::vector<ld>(n, 0));  // d(layer input)/dx
  for (std::size_t j = 0; j < n; ++j) prod[j][j] = 1;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const affine_layer_d& w = layers[l];
    std::vector<ld> z(w.out), slope(w.out);
    ld_rows next(w.out, std::vector<ld>(n, 0));
    for (std::size_t i = 0; i < w.out; ++i) {
      z[i] = w.b[i];
      for (std::size_t j = 0; j < w.in; ++j) {
        const ld wij = w.w[i * w.in + j];
        z[i] += wij * v[j];
        slope[i] += wij * s[j];
        for (std::size_t c = 0; c < n; ++c) next[i][c] += wij * prod[j][c];
      }
    }
    if (l + 1 == layers.size()) {
      r.logits = z;
      r.a = next;
      break;
    }
    ld largest = 0, smallest = std::numeric_limits<ld>::infinity();
    std::vector<int>& on = r.active.emplace_back(w.out);
    for (std::size_t i = 0; i < w.out; ++i) {
      on[i] = z[i] > 0 || (z[i] == 0 && slope[i] > 0);
      r.boundary += z[i] == 0;
      r.flat += z[i] == 0 && slope[i] == 0;
      largest = std::max(largest, std::fabs(z[i]));
      smallest = std::min(smallest, std::fabs(z[i]));
      if (on[i]) continue;
      z[i] = slope[i] = 0;
      std::fill(next[i].begin(), next[i].end(), 0.0L);
    }
    r.min_rel_pre = std::min(r.min_rel_pre, largest > 0 ? smallest / largest : 0);
    v = std::move(z);
    s = std::move(slope);
    prod = std::move(next);
  }
  return r;
}

template <class T>
std::vector<T> softmax(const std::vector<T>& f) {
  const T top = *std::max_element(f.begin(), f.end());
  std::vector<T> p(f.size());
  T total = 0;
  for (std::size_t k = 0; k < f.size(); ++k) total += p[k] = std::exp(f[k] - top);
  for (T& v : p) v /= total;
  return p;
}

/// J = (diag(p) - p p^T) A, written as is.
ld_rows jacobian_as_written(const std::vector<ld>& p, const ld_rows& a) {
  ld_rows j(a.size(), std::vector<ld>(a[0].size(), 0));
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t k = 0; k < a.size(); ++k) {
      const ld coef = (i == k ? p[i] : 0) - p[i] * p[k];
      for (std::size_t c = 0; c < a[0].size(); ++c) j[i][c] += coef * a[k][c];
    }
  return j;
}

/// J_i = p_i sum_{k != i} p_k (A_i - A_k): the same matrix without the cancellation of p_top - p_top^2.
ld_rows jacobian_by_differences(const std::vector<ld>& p, const ld_rows& a) {
  ld_rows j(a.size(), std::vector<ld>(a[0].size(), 0));
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t c = 0; c < a[0].size(); ++c) {
      ld sum = 0;
      for (std::size_t k = 0; k < a.size(); ++k)
        if (k != i) sum += p[k] * (a[i][c] - a[k][c]);
      j[i][c] = p[i] * sum;
    }
  return j;
}

struct norm_pair {
  ld frobenius = 0;
  double spectral = 0;
};

/// Frobenius norm in long double; spectral norm by Eigen's JacobiSVD (in double) of the matrix itself.
norm_pair norms_of(const ld_rows& m) {
  norm_pair out;
  Eigen::MatrixXd d(static_cast<Eigen::Index>(m.size()), static_cast<Eigen::Index>(m[0].size()));
  for (std::size_t i = 0; i < m.size(); ++i)
    for (std::size_t c = 0; c < m[0].size(); ++c) {
      out.frobenius += m[i][c] * m[i][c];
      d(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(c)) = static_cast<double>(m[i][c]);
    }
  out.frobenius = std::sqrt(out.frobenius);
  out.spectral = Eigen::JacobiSVD<Eigen::MatrixXd>(d).singularValues()(0);
  return out;
}

double rel(double got, ld want) { return static_cast<double>(std::fabs(got - want) / std::fabs(want)); }

/// Worst relative errors of the four norms of one table row against a region's A and a J.
struct norm_errors {
  double linear = 0, jacobian = 0;
  void add(const table_batch& t, std::size_t row, const ld_rows& a, const ld_rows& j) {
    const norm_pair na = norms_of(a), nj = norms_of(j);
    linear = std::max({linear, rel(t.reals("linear_frobenius")[row], na.frobenius),
                       rel(t.reals("linear_spectral")[row], na.spectral)});
    jacobian = std::max({jacobian, rel(t.reals("jacobian_frobenius")[row], nj.frobenius),
                         rel(t.reals("jacobian_spectral")[row], nj.spectral)});
  }
};

}  // namespace

// ---- oracles --------------------------------------------------------------------------------------------

TEST_CASE("jacobian norms match central finite differences of the softmax output", "[jacobian][oracle]") {
  const native_net net(he_layers({12, 32, 32, 16, 5}, 1));
  const std::vector<affine_layer_d> layers = net.exact();
  const dataset data = gaussian_data("fd", 60, 12, 5, 2);
  const auto a = make_jacobian();
  const table_batch t = whole_table(*a, *net.backend, {&data});
  REQUIRE(t.rows() == 60);

  const double h = 1e-6;
  std::size_t used = 0;
  double worst_f = 0, worst_s = 0;
  for (std::size_t i = 0; i < t.rows(); ++i) {
    const float* x = data.x.row(i);
    if (region_of(layers, x).min_rel_pre < 1e-3) continue;  // a step of h might leave the region
    std::vector<double> xd(x, x + 12), f_plus, f_minus;
    Eigen::MatrixXd j(5, 12);
    double p_top = 0;
    for (Eigen::Index c = 0; c < 12; ++c) {
      const auto cc = static_cast<std::size_t>(c);
      xd[cc] = static_cast<double>(x[cc]) + h;
      testing::naive_forward(layers, xd.data(), f_plus);
      xd[cc] = static_cast<double>(x[cc]) - h;
      testing::naive_forward(layers, xd.data(), f_minus);
      xd[cc] = x[cc];
      const std::vector<double> p_plus = softmax(f_plus), p_minus = softmax(f_minus);
      for (Eigen::Index k = 0; k < 5; ++k)
        j(k, c) = (p_plus[static_cast<std::size_t>(k)] - p_minus[static_cast<std::size_t>(k)]) / (2 * h);
      p_top = std::max(p_top, *std::max_element(p_plus.begin(), p_plus.end()));
    }
    if (p_top > 0.999) continue;  // J too small for a difference quotient to resolve
    ++used;
    worst_f = std::max(worst_f, rel(t.reals("jacobian_frobenius")[i], j.norm()));
    worst_s = std::max(worst_s, rel(t.reals("jacobian_spectral")[i],
                                    Eigen::JacobiSVD<Eigen::MatrixXd>(j).singularValues()(0)));
  }
  report("finite differences, points used", static_cast<double>(used));
  report("finite differences, ||J||_F relative error", worst_f);
  report("finite differences, ||J||_2 relative error", worst_s);
  CHECK(used >= 30);
  CHECK(worst_f < 1e-6);
  CHECK(worst_s < 1e-6);
}

TEST_CASE("jacobian agrees with the brute-force product of the masked weight matrices", "[jacobian][oracle]") {
  const std::vector<std::vector<std::size_t>> shapes{{30, 64, 48, 7}, {8, 16, 16, 16, 16, 16, 3}, {6, 4}};
  for (std::size_t s = 0; s < shapes.size(); ++s) {
    const std::vector<std::size_t>& shape = shapes[s];
    const native_net net(he_layers(shape, 10 + s));
    const std::vector<affine_layer_d> layers = net.exact();
    const dataset data = gaussian_data("brute", 50, shape.front(), shape.back(), 20 + s);
    const auto a = make_jacobian();
    const table_batch t = whole_table(*a, *net.backend, {&data});
    REQUIRE(t.rows() == 50);
    norm_errors err;
    std::size_t with_j = 0;
    for (std::size_t i = 0; i < t.rows(); ++i) {
      const region r = region_of(layers, data.x.row(i));
      REQUIRE(r.min_rel_pre > 1e-9);  // the pattern cannot depend on rounding
      CHECK(t.ints("boundary_units")[i] == 0);
      CHECK(t.ints("flat_units")[i] == 0);
      // J as written where p_top is not extreme; confident points use the form by differences (next test).
      const std::vector<ld> p = softmax(r.logits);
      const bool moderate = *std::max_element(p.begin(), p.end()) <= 0.99;
      with_j += moderate;
      err.add(t, i, r.a, moderate ? jacobian_as_written(p, r.a) : jacobian_by_differences(p, r.a));
    }
    INFO("network " << s);
    report("brute force, ||A|| relative error", err.linear);
    report("brute force, ||J|| relative error", err.jacobian);
    CHECK(with_j >= 20);
    CHECK(err.linear < 1e-10);
    CHECK(err.jacobian < 1e-9);
  }
}

TEST_CASE("jacobian on a trained Fashion-MNIST MLP agrees with the masked product and finite differences",
          "[jacobian][oracle]") {
  const testing::small_fashion_net fashion = testing::train_small_fashion_net();
  const dataset& train = fashion.data;
  const native_net net(fashion.net.layers());
  CHECK(fashion.train_accuracy > 0.7);
  const std::vector<affine_layer_d> layers = net.exact();
  const auto a = make_jacobian(60);
  const table_batch t = whole_table(*a, *net.backend, {&train});
  REQUIRE(t.rows() == 60);
  norm_errors err;
  const double h = 1e-7;
  std::size_t differenced = 0;
  double worst_fd = 0;
  for (std::size_t i = 0; i < t.rows(); ++i) {
    const float* x = train.x.row(static_cast<std::size_t>(t.ints("index")[i]));
    const region r = region_of(layers, x);
    const std::vector<ld> p = softmax(r.logits);
    err.add(t, i, r.a, jacobian_by_differences(p, r.a));
    // Central differences over all 784 pixels where the step stays inside the region and J is resolvable.
    if (r.min_rel_pre < 1e-3 || *std::max_element(p.begin(), p.end()) > 0.999) continue;
    ++differenced;
    std::vector<double> xd(x, x + train.dim()), f_plus, f_minus;
    Eigen::MatrixXd j(10, static_cast<Eigen::Index>(train.dim()));
    for (std::size_t c = 0; c < train.dim(); ++c) {
      xd[c] = static_cast<double>(x[c]) + h;
      testing::naive_forward(layers, xd.data(), f_plus);
      xd[c] = static_cast<double>(x[c]) - h;
      testing::naive_forward(layers, xd.data(), f_minus);
      xd[c] = x[c];
      const std::vector<double> pp = softmax(f_plus), pm = softmax(f_minus);
      for (std::size_t k = 0; k < 10; ++k) j(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(c)) = (pp[k] - pm[k]) / (2 * h);
    }
    worst_fd = std::max(worst_fd, rel(t.reals("jacobian_frobenius")[i], j.norm()));
  }
  report("trained Fashion-MNIST, ||A|| relative error (masked product)", err.linear);
  report("trained Fashion-MNIST, ||J|| relative error (masked product)", err.jacobian);
  report("trained Fashion-MNIST, ||J||_F relative error (finite differences)", worst_fd);
  report("trained Fashion-MNIST, points differenced", static_cast<double>(differenced));
  CHECK(err.linear < 1e-10);
  CHECK(err.jacobian < 1e-9);
  CHECK(differenced >= 10);
  CHECK(worst_fd < 1e-5);
}

TEST_CASE("jacobian keeps loss and ||J|| accurate on confident points (1 - p_top from 1e-12 to 1e-18)",
          "[jacobian][oracle]") {
  std::vector<dense_layer> layers = he_layers({10, 32, 32, 4}, 5);
  const dataset candidates = gaussian_data("candidates", 600, 10, 4, 6);
  // Scale the last layer so that the median gap between the two top logits becomes 35 (1 - p_top ~ e^-35).
  {
    const std::vector<affine_layer_d> d = testing::to_double(layers);
    std::vector<ld> gaps;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      std::vector<ld> f = region_of(d, candidates.x.row(i)).logits;
      std::sort(f.begin(), f.end());
      gaps.push_back(f[3] - f[2]);
    }
    std::nth_element(gaps.begin(), gaps.begin() + 300, gaps.end());
    const auto scale = static_cast<float>(35 / gaps[300]);
    for (float& w : layers.back().weight.data) w *= scale;
    for (float& b : layers.back().bias) b *= scale;
  }
  const native_net net(layers);
  const std::vector<affine_layer_d> exact = net.exact();

  // Keep the candidates with 1e-18 <= 1 - p_top <= 1e-12; half of them labelled with the top class.
  std::vector<std::size_t> keep;
  std::vector<std::int32_t> labels;
  std::size_t beyond_double = 0;  // 1 - p_top below double's resolution at 1
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const std::vector<ld> f = region_of(exact, candidates.x.row(i)).logits;
    const auto top = static_cast<std::size_t>(std::max_element(f.begin(), f.end()) - f.begin());
    ld rest = 0;
    for (std::size_t k = 0; k < f.size(); ++k)
      if (k != top) rest += std::exp(f[k] - f[top]);
    const ld one_minus_top = rest / (1 + rest);
    if (one_minus_top < 1e-18L || one_minus_top > 1e-12L) continue;
    beyond_double += one_minus_top < 1.1e-16L;
    keep.push_back(i);
    labels.push_back(keep.size() % 2 == 0 ? static_cast<std::int32_t>(top) : candidates.labels[i]);
  }
  report("confident points", static_cast<double>(keep.size()));
  report("confident points with 1 - p_top < 1.1e-16", static_cast<double>(beyond_double));
  REQUIRE(keep.size() >= 40);
  REQUIRE(beyond_double >= 5);
  matrix x(keep.size(), 10);
  for (std::size_t r = 0; r < keep.size(); ++r)
    std::copy(candidates.x.row(keep[r]), candidates.x.row(keep[r]) + 10, x.row(r));
  const dataset data = make_data("confident", std::move(x), labels, 4);

  const auto a = make_jacobian();
  const table_batch t = whole_table(*a, *net.backend, {&data});
  double worst_loss = 0, worst_naive = 0;
  norm_errors err;
  std::size_t tiny_losses = 0;
  for (std::size_t i = 0; i < t.rows(); ++i) {
    const region r = region_of(exact, data.x.row(i));
    const std::vector<ld>& f = r.logits;
    const auto y = static_cast<std::size_t>(labels[i]);
    const auto top = static_cast<std::size_t>(std::max_element(f.begin(), f.end()) - f.begin());
    ld rest = 0;
    for (std::size_t k = 0; k < f.size(); ++k)
      if (k != top) rest += std::exp(f[k] - f[top]);
    const ld loss = (f[top] - f[y]) + std::log1p(rest);
    const double got = t.reals("loss")[i];
    CHECK(std::isfinite(got));
    CHECK(got > 0);
    tiny_losses += got < 1e-11;
    worst_loss = std::max(worst_loss, rel(got, loss));
    const std::vector<ld> p = softmax(f);
    err.add(t, i, r.a, jacobian_by_differences(p, r.a));
    // How far the matrix as written would be off with p rounded to double (not asserted: it shows what the
    // test exercises).
    std::vector<ld> p_double(p.begin(), p.end());
    for (ld& v : p_double) v = static_cast<double>(v);
    ld_rows as_written = jacobian_as_written(p_double, r.a);
    for (auto& row : as_written)
      for (ld& v : row) v = static_cast<double>(v);
    worst_naive = std::max(worst_naive, rel(static_cast<double>(norms_of(as_written).frobenius),
                                            norms_of(jacobian_by_differences(p, r.a)).frobenius));
  }
  report("confident, loss relative error", worst_loss);
  report("confident, ||A|| relative error", err.linear);
  report("confident, ||J|| relative error", err.jacobian);
  report("confident, ||J||_F relative error of diag(p) - p p^T in double (not asserted)", worst_naive);
  CHECK(tiny_losses >= 10);
  CHECK(worst_loss < 1e-10);
  CHECK(err.linear < 1e-10);
  CHECK(err.jacobian < 1e-6);
}

// ---- region boundaries ------------------------------------------------------------------------------------

namespace {

/// 2 inputs, hidden layers of 3 and 3 units, 3 classes; small exact weights so that chosen points put units
/// exactly at 0:
///   u0 = x0 - x1 (slope 0 along e), u1 = x0, u2 = x1 - 1;
///   v0 = 3 u0 - u1 + 2 u2 + 1, v1 = u0 + u1 + u2, v2 = u1 - 4 u2 - 1;
///   f = W (v0, v1, v2) with W = [[1, 2, 5], [-1, 2, -3], [0.5, -1, 7]].
std::vector<dense_layer> crafted_layers() {
  return {dense(2, {1, -1, 1, 0, 0, 1}, {0, 0, -1}), dense(3, {3, -1, 2, 1, 1, 1, 0, 1, -4}, {1, 0, -1}),
          dense(3, {1, 2, 5, -1, 2, -3, 0.5f, -1, 7}, {0, 0, 0})};
}

}  // namespace

TEST_CASE("jacobian takes the right limit along e at a point on a region boundary", "[jacobian][boundary]") {
  const native_net net(crafted_layers());
  const std::vector<affine_layer_d> layers = net.exact();
  matrix x(5, 2);
  x.data = {
      3, 1,  // u2 = 0, slope > 0: active
      5, 2,  // v2 = 0, slope (1 - 4)/sqrt(2) < 0: inactive
      2, 2,  // u0 = 0 with slope 0: flat, inactive
      1, 1,  // u0 flat, u2 = 0 active, v0 = 0 active only because u2 is, v2 = 0 inactive
      1, 2,  // inside a region
  };
  const dataset data = make_data("boundary", std::move(x), {0, 1, 2, 1, 0}, 3);
  const auto a = make_jacobian();
  const table_batch t = whole_table(*a, *net.backend, {&data});
  const std::vector<long> boundary{1, 1, 1, 4, 0}, flat{0, 0, 1, 1, 0};
  const std::vector<std::vector<std::vector<int>>> pattern{
      {{1, 1, 1}, {1, 1, 1}}, {{1, 1, 1}, {1, 1, 0}}, {{0, 1, 1}, {1, 1, 0}}, {{0, 1, 1}, {1, 1, 0}},
      {{0, 1, 1}, {1, 1, 0}}};
  norm_errors err;
  for (std::size_t i = 0; i < 5; ++i) {
    INFO("point " << i);
    const region r = region_of(layers, data.x.row(i));
    CHECK(r.active == pattern[i]);  // the oracle's rule, checked by hand
    CHECK(r.boundary == boundary[i]);
    CHECK(r.flat == flat[i]);
    CHECK(t.ints("boundary_units")[i] == boundary[i]);
    CHECK(t.ints("flat_units")[i] == flat[i]);
    err.add(t, i, r.a, jacobian_by_differences(softmax(r.logits), r.a));
  }
  report("boundary, ||A|| relative error", err.linear);
  report("boundary, ||J|| relative error", err.jacobian);
  CHECK(err.linear < 1e-14);
  CHECK(err.jacobian < 1e-12);
  // Point 3: u2 taken as inactive (the rule z > 0 alone) would change A; the right limit must be what was taken:
  // A = W D2 V D1 U with D1 = diag(0, 1, 1), D2 = diag(1, 1, 0) is [[1, 4], [3, 0], [-1.5, 0]]; ||A||_F^2 = 28.25.
  CHECK(t.reals("linear_frobenius")[3] == Approx(std::sqrt(28.25)).epsilon(1e-14));
  // Its logits (2, 2, -1) tie: the lower class is predicted, and the margin of label 1 is 0.
  CHECK(t.ints("predicted")[3] == 0);
  CHECK(t.ints("correct")[3] == 0);
  CHECK(t.reals("margin")[3] == 0.0);
}

TEST_CASE("jacobian reports a point with non-finite coordinates as a row, not an error", "[jacobian][boundary]") {
  const native_net net(crafted_layers());
  matrix x(2, 2);
  x.data = {std::numeric_limits<float>::quiet_NaN(), 1, 1, 2};
  const dataset data = make_data("nan", std::move(x), {0, 0}, 3);
  const auto a = make_jacobian();
  const table_batch t = whole_table(*a, *net.backend, {&data});
  CHECK(t.ints("predicted")[0] == -1);
  CHECK(t.ints("correct")[0] == 0);
  for (const char* c : {"margin", "loss", "jacobian_frobenius", "jacobian_spectral", "linear_frobenius"})
    CHECK(std::isnan(t.reals(c)[0]));
  CHECK(std::isfinite(t.reals("jacobian_frobenius")[1]));
}

// ---- determinism and the points option ------------------------------------------------------------------

TEST_CASE("jacobian tables do not depend on the batching, and points chooses choose_samples' subset",
          "[jacobian][interface]") {
  const native_net net(he_layers({20, 40, 40, 6}, 30));
  const dataset first = gaussian_data("first", 70, 20, 6, 31);
  const dataset second = gaussian_data("second", 45, 20, 6, 32);
  const std::vector<const dataset*> data{&first, &second};
  const auto equal_rows = [](const table_batch& x, std::size_t i, const table_batch& y, std::size_t j) {
    bool same = x.strings("dataset")[i] == y.strings("dataset")[j];
    for (std::size_t k = 0; k < x.column_count(); ++k) {
      if (const auto* v = std::get_if<std::vector<std::int64_t>>(&x.column(k)))
        same = same && (*v)[i] == std::get<std::vector<std::int64_t>>(y.column(k))[j];
      if (const auto* v = std::get_if<std::vector<double>>(&x.column(k)))
        same = same && (*v)[i] == std::get<std::vector<double>>(y.column(k))[j];  // bit for bit
    }
    return same;
  };

  for (const std::int64_t points : {std::int64_t{0}, std::int64_t{17}}) {
    INFO("points = " << points);
    const auto a = make_jacobian(points);
    const table_batch whole = whole_table(*a, *net.backend, data, 11);
    const std::size_t rows = a->row_count(0);
    REQUIRE(rows == (points == 0 ? 115u : 34u));
    // The rows of the first data set first, each in its order.
    std::size_t r = 0;
    for (const dataset* d : data) {
      const std::vector<std::size_t> expected =
          points == 0 ? std::vector<std::size_t>{} : choose_samples(d->size(), 17, 11, "jacobian");
      const std::size_t count = points == 0 ? d->size() : 17;
      for (std::size_t k = 0; k < count; ++k, ++r) {
        CHECK(whole.strings("dataset")[r] == d->name);
        CHECK(whole.ints("index")[r] == static_cast<std::int64_t>(points == 0 ? k : expected[k]));
        CHECK(whole.ints("label")[r] == d->labels[static_cast<std::size_t>(whole.ints("index")[r])]);
      }
    }
    // Batches of 1, 3 and 7 rows, in turn.
    std::size_t at = 0, turn = 0;
    bool same = true;
    while (at < rows) {
      const std::size_t count = std::min<std::size_t>(std::vector<std::size_t>{1, 3, 7}[turn++ % 3], rows - at);
      const table_batch part = rows_of(*a, at, count);
      for (std::size_t i = 0; i < count; ++i) same = same && equal_rows(part, i, whole, at + i);
      at += count;
    }
    CHECK(same);
    // The same point gives the same row whether or not the others were chosen.
    if (points != 0) {
      const auto all = make_jacobian(0);
      const table_batch full = whole_table(*all, *net.backend, data, 11);
      bool same_point = true;
      for (std::size_t i = 0; i < rows; ++i) {
        const auto index = static_cast<std::size_t>(whole.ints("index")[i]);
        same_point = same_point && equal_rows(whole, i, full, i < 17 ? index : 70 + index);
      }
      CHECK(same_point);
    }
  }
}

TEST_CASE("jacobian's labels, predictions and margins agree with the backend's logits", "[jacobian][interface]") {
  const native_net net(he_layers({16, 48, 48, 8}, 40));
  dataset data = gaussian_data("logits", 200, 16, 8, 41);
  matrix logits;
  net.backend->logits(data.x, logits);
  std::vector<int> predicted;
  predict_classes(logits, predicted);
  for (std::size_t i = 0; i < data.size(); i += 2) data.labels[i] = predicted[i];  // half of them correct
  const auto a = make_jacobian();
  const table_batch t = whole_table(*a, *net.backend, {&data});
  std::size_t correct = 0;
  double worst_margin = 0;
  for (std::size_t i = 0; i < t.rows(); ++i) {
    INFO("point " << i);
    const auto y = static_cast<std::size_t>(data.labels[i]);
    const float* f = logits.row(i);
    float largest = 0, other = -std::numeric_limits<float>::infinity();
    std::vector<float> sorted(f, f + 8);
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t k = 0; k < 8; ++k) {
      largest = std::max(largest, std::fabs(f[k]));
      if (k != y) other = std::max(other, f[k]);
    }
    const double tol = 1e-5 * (1 + largest);
    CHECK(t.ints("label")[i] == data.labels[i]);
    if (sorted[7] - sorted[6] > tol) CHECK(t.ints("predicted")[i] == predicted[i]);
    const bool is_correct = t.ints("predicted")[i] == t.ints("label")[i];
    CHECK(t.ints("correct")[i] == (is_correct ? 1 : 0));
    const double margin = t.reals("margin")[i];
    worst_margin = std::max(worst_margin, std::fabs(margin - (f[y] - other)) / (1 + largest));
    CHECK(std::fabs(margin - (f[y] - other)) <= tol);
    CHECK((is_correct ? margin >= 0 : margin <= 0));
    // p_y >= 1/C when y is predicted; p_y <= 1/2 otherwise.
    if (is_correct)
      CHECK(t.reals("loss")[i] <= std::log(8.0) + 1e-12);
    else
      CHECK(t.reals("loss")[i] >= std::log(2.0) - 1e-12);
    correct += is_correct;
  }
  report("margin error vs float logits (relative to 1 + max |f|)", worst_margin);
  CHECK(correct >= 100);
  CHECK(correct < 200);
}

TEST_CASE("jacobian declares one points table and requires the piecewise-linear view", "[jacobian][interface]") {
  const plugin_info* info = testing::build_plugins().find(plugin_kind::analysis, "jacobian");
  REQUIRE(info != nullptr);
  CHECK((info->capabilities & capability_piecewise_linear) != 0);
  REQUIRE(info->options.size() == 1);
  CHECK(std::string(info->options[0].name) == "points");
  const std::vector<table_spec> tables = make_jacobian()->tables();
  REQUIRE(tables.size() == 1);
  CHECK_NOTHROW(check_table_spec(tables[0], "analysis 'jacobian'"));
  CHECK(tables[0].name == "points");
  CHECK(tables[0].group_by == "dataset");
  std::vector<std::string> names, measures;
  for (const column_spec& c : tables[0].columns) {
    names.push_back(c.name);
    if (c.measure) measures.push_back(c.name);
    CHECK(c.width == 1);
    CHECK(!c.description.empty());
  }
  CHECK(measures == std::vector<std::string>{"correct", "margin", "loss", "jacobian_frobenius", "jacobian_spectral",
                                             "linear_frobenius", "linear_spectral"});
  CHECK(names == std::vector<std::string>{"dataset", "index", "label", "predicted", "correct", "margin", "loss",
                                          "jacobian_frobenius", "jacobian_spectral", "linear_frobenius",
                                          "linear_spectral", "boundary_units", "flat_units"});
}

// ---- misuse ----------------------------------------------------------------------------------------------

namespace {

/// A backend that answers logits but offers no piecewise-linear view.
class logits_only final : public network_backend {
 public:
  explicit logits_only(const network_backend& inner) : inner_(inner) {}
  std::vector<std::size_t> input_shape() const override { return inner_.input_shape(); }
  std::size_t class_count() const override { return inner_.class_count(); }
  void logits(matrix_view x, matrix& out) const override { inner_.logits(x, out); }
  std::string model_digest() const override { return inner_.model_digest(); }
  std::string describe() const override { return "logits only"; }

 private:
  const network_backend& inner_;
};

}  // namespace

TEST_CASE("jacobian refuses a negative points option", "[jacobian][negative]") {
  CHECK_THROWS_WITH(make_jacobian(-1), Catch::Contains("'points'"));
}

TEST_CASE("jacobian refuses more points than a data set holds, naming it", "[jacobian][negative]") {
  const native_net net(crafted_layers());
  const dataset big = gaussian_data("big", 10, 2, 3, 50);
  const dataset small = gaussian_data("small_set", 4, 2, 3, 51);
  const auto a = make_jacobian(5);
  CHECK_THROWS_WITH(a->prepare(*net.backend, {&big, &small}, 1),
                    Catch::Contains("'small_set'") && Catch::Contains("'points'"));
}

TEST_CASE("jacobian refuses an unknown option", "[jacobian][negative]") {
  option_set o;
  o.set("point", std::int64_t{3});
  CHECK_THROWS_WITH(testing::build_plugins().create_analysis("jacobian", o), Catch::Contains("'point'"));
}

TEST_CASE("jacobian refuses a backend without a piecewise-linear view, naming the capability",
          "[jacobian][negative]") {
  const native_net net(crafted_layers());
  const logits_only hidden(*net.backend);
  const dataset data = gaussian_data("data", 4, 2, 3, 52);
  CHECK_THROWS_WITH(make_jacobian()->prepare(hidden, {&data}, 1), Catch::Contains("piecewise_linear"));
}

TEST_CASE("jacobian refuses no data sets, samples of the wrong dimension and labels beyond the model's classes",
          "[jacobian][negative]") {
  const native_net net(crafted_layers());
  const auto a = make_jacobian();
  CHECK_THROWS_WITH(a->check({}, 2), Catch::Contains("data set"));
  CHECK_THROWS_WITH(a->prepare(*net.backend, {}, 1), Catch::Contains("data set"));
  const dataset wide = gaussian_data("wide", 4, 3, 3, 53);
  CHECK_THROWS_WITH(a->prepare(*net.backend, {&wide}, 1), Catch::Contains("'wide'") && Catch::Contains("3"));
  const dataset many = gaussian_data("many_classes", 40, 2, 5, 54);
  CHECK_THROWS_WITH(a->prepare(*net.backend, {&many}, 1), Catch::Contains("'many_classes'"));
}
