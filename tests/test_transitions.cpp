// Oracle tests of the "transitions" analysis: the exact walk around the ellipse through three samples against
// dense sampling of phi, degenerate triplets, determinism over batches and rows, and option / data errors.
#include "oracles.hpp"
#include "support.hpp"

#include <genscope/analysis.hpp>
#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/mlp.hpp>
#include <genscope/plugin_registry.hpp>
#include <genscope/random.hpp>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numbers>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace genscope;
using genscope::testing::affine_layer_d;
using genscope::testing::gaussian_data;
using genscope::testing::make_data;
using genscope::testing::open_native;
using genscope::testing::random_net;
using genscope::testing::temp_dir;

namespace {

constexpr double two_pi = 2 * std::numbers::pi;

// ---- networks, data and the plugin as the host drives it ------------------------------------------------

option_set transitions_options(std::int64_t triplets, const std::string& labels = "same", std::int64_t k = 0,
                               std::int64_t max_transitions = 1000000) {
  option_set o;
  o.set("triplets", triplets);
  o.set("labels", labels);
  o.set("K", k);
  o.set("max_transitions", max_transitions);
  return o;
}

std::shared_ptr<analysis> prepared(const option_set& o, const network_backend& net,
                                   const std::vector<const dataset*>& data, std::uint64_t seed = 1) {
  auto a = testing::build_plugins().create_analysis("transitions", o);
  a->prepare(net, data, seed);
  return a;
}

/// Rows [first, first + count) of the table, checked against its spec as the host does.
table_batch rows_of(const analysis& a, std::size_t first, std::size_t count) {
  table_batch b;
  b.reset(a.tables().at(0), count);
  a.compute(0, first, count, b);
  b.check(a.tables().at(0), "analysis 'transitions'");
  return b;
}

table_batch all_rows(const analysis& a) { return rows_of(a, 0, a.row_count(0)); }

/// Every column of row r as text, for comparing rows across runs.
std::string row_text(const table_batch& b, std::size_t r) {
  const auto& p = b.ints("points");
  const auto& y = b.ints("labels");
  return fmt::format("{} [{} {} {}] [{} {} {}] {} {} {} {} {} {}", b.strings("dataset")[r], p[3 * r], p[3 * r + 1],
                     p[3 * r + 2], y[3 * r], y[3 * r + 1], y[3 * r + 2], b.strings("shape")[r],
                     b.ints("transitions")[r], b.ints("unit_flips")[r], b.ints("class_changes")[r],
                     b.ints("sampled")[r], b.ints("status")[r]);
}

// ---- the dense-sampling oracle ---------------------------------------------------------------------------

/// x(phi) = c + u cos(phi) + v sin(phi) through the row's p0, p1, p2 (docs/science.md), in the row's order.
struct ellipse {
  std::vector<double> c, u, v;
};

ellipse ellipse_of(const dataset& d, const table_batch& b, std::size_t r) {
  const auto& points = b.ints("points");
  const float* p0 = d.x.row(static_cast<std::size_t>(points[3 * r]));
  const float* p1 = d.x.row(static_cast<std::size_t>(points[3 * r + 1]));
  const float* p2 = d.x.row(static_cast<std::size_t>(points[3 * r + 2]));
  ellipse e;
  for (std::size_t j = 0; j < d.dim(); ++j) {
    const double a = p0[j], q = p1[j], s = p2[j];
    e.c.push_back((a + q + s) / 3);
    e.u.push_back((2 * a - q - s) / 3);
    e.v.push_back((q - s) / std::sqrt(3.0));
  }
  return e;
}

/// What dense sampling sees around the closed curve: steps whose pattern (pre-activation > 0) changes,
/// summed Hamming distances, steps whose class (argmax, ties low) changes; the last sample against the first.
struct loop_counts {
  std::int64_t transitions = 0, flips = 0, classes = 0;
  /// Steps that changed two or more units: two events may hide in one (not compared by ==).
  std::int64_t multi_flips = 0;
  bool operator==(const loop_counts& o) const {
    return transitions == o.transitions && flips == o.flips && classes == o.classes;
  }
};

struct dense_result {
  std::vector<loop_counts> at;  ///< one per stride
};

/// Samples phi_i = 2 pi (i + offset) / n, i < n, and counts on every stride-th sample (M = n / stride points;
/// with offset 0 these are bitwise the angles 2 pi j / M of the sampled count). The first layer along the
/// curve is exactly (W c + b) + (W u) cos(phi) + (W v) sin(phi): a layer of three inputs (1, cos, sin), so
/// wide inputs cost nothing per sample; deeper layers are evaluated by naive_forward.
dense_result dense_counts(const std::vector<affine_layer_d>& layers, const ellipse& e, std::size_t n,
                          const std::vector<std::size_t>& strides, double offset = 0) {
  std::vector<affine_layer_d> net = layers;
  const affine_layer_d& w = layers.front();
  affine_layer_d& first = net.front();
  first.in = 3;
  first.w.assign(3 * w.out, 0.0);
  first.b.assign(w.out, 0.0);
  for (std::size_t i = 0; i < w.out; ++i) {
    double a = w.b[i], b = 0, g = 0;
    for (std::size_t j = 0; j < w.in; ++j) {
      a += w.w[i * w.in + j] * e.c[j];
      b += w.w[i * w.in + j] * e.u[j];
      g += w.w[i * w.in + j] * e.v[j];
    }
    first.w[3 * i] = a;
    first.w[3 * i + 1] = b;
    first.w[3 * i + 2] = g;
  }
  dense_result out;
  out.at.resize(strides.size());
  std::vector<std::vector<double>> prev(strides.size());
  std::vector<int> prev_class(strides.size());
  std::vector<double> first_pre, pre, logits;
  int first_class = 0;
  auto step = [&](const std::vector<double>& a, int ca, const std::vector<double>& b, int cb, std::size_t s) {
    std::int64_t h = 0;
    for (std::size_t k = 0; k < a.size(); ++k) h += (a[k] > 0) != (b[k] > 0);
    out.at[s].transitions += h > 0;
    out.at[s].flips += h;
    out.at[s].classes += ca != cb;
    out.at[s].multi_flips += h >= 2;
  };
  for (std::size_t i = 0; i < n; ++i) {
    const double phi = two_pi * (static_cast<double>(i) + offset) / static_cast<double>(n);
    const double in[3] = {1.0, std::cos(phi), std::sin(phi)};
    testing::naive_forward(net, in, logits, &pre);
    const int cls = testing::argmax_low(logits);
    if (i == 0) {
      first_pre = pre;
      first_class = cls;
    }
    for (std::size_t s = 0; s < strides.size(); ++s) {
      if (i % strides[s] != 0) continue;
      if (i > 0) step(prev[s], prev_class[s], pre, cls, s);
      prev[s] = pre;
      prev_class[s] = cls;
    }
  }
  for (std::size_t s = 0; s < strides.size(); ++s) step(prev[s], prev_class[s], first_pre, first_class, s);
  return out;
}

/// dense_counts for every row of the table, on two threads (no Catch2 assertion inside).
std::vector<dense_result> dense_rows(const std::vector<affine_layer_d>& layers, const dataset& d, const table_batch& b,
                                     std::size_t n, const std::vector<std::size_t>& strides) {
  std::vector<dense_result> out(b.rows());
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < 2; ++t)
    pool.emplace_back([&, t] {
      for (std::size_t r = t; r < b.rows(); r += 2) out[r] = dense_counts(layers, ellipse_of(d, b, r), n, strides);
    });
  for (auto& th : pool) th.join();
  return out;
}

struct walk_row {
  std::int64_t transitions, flips, classes, sampled, status;
  std::string shape;
};

walk_row walk_of(const table_batch& b, std::size_t r) {
  return {b.ints("transitions")[r], b.ints("unit_flips")[r], b.ints("class_changes")[r], b.ints("sampled")[r],
          b.ints("status")[r], b.strings("shape")[r]};
}

std::string describe(const walk_row& w, const loop_counts& m, const loop_counts& m4, std::size_t big_m) {
  return fmt::format("walk: transitions {} flips {} classes {} (status {}); dense M={}: {} {} {}; 4M: {} {} {}",
                     w.transitions, w.flips, w.classes, w.status, big_m, m.transitions, m.flips, m.classes,
                     m4.transitions, m4.flips, m4.classes);
}

/// The walk against dense sampling at M and 4M points: the walk sees at least what sampling sees, and
/// exactly as much once sampling has converged (same counts at M and 4M, no step of 4M changing two units).
/// Returns whether it had converged.
bool compare_with_dense(const walk_row& w, const dense_result& d, std::size_t m_index, std::size_t m4_index,
                        std::size_t big_m, const std::string& what) {
  const loop_counts& m = d.at[m_index];
  const loop_counts& m4 = d.at[m4_index];
  INFO(what << "\n" << describe(w, m, m4, big_m));
  for (const loop_counts* seen : {&m, &m4}) {
    CHECK(w.transitions >= seen->transitions);
    CHECK(w.flips >= seen->flips);
    CHECK(w.classes >= seen->classes);
  }
  const bool converged = m == m4 && m4.multi_flips == 0;
  if (converged) {
    CHECK(w.transitions == m4.transitions);
    CHECK(w.flips == m4.flips);
    CHECK(w.classes == m4.classes);
  }
  return converged;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

// ---- oracle ------------------------------------------------------------------------------------------------

TEST_CASE("around random networks' ellipses the walk matches dense sampling of phi", "[transitions][oracle]") {
  const auto t0 = std::chrono::steady_clock::now();
  struct config {
    std::size_t in;
    std::vector<std::size_t> widths;  // hidden, then classes
  };
  const std::vector<config> configs = {{2, {6, 5, 3}},      {3, {10, 10, 10, 4}}, {5, {6, 5, 4}},
                                       {6, {10, 10, 10, 3}}, {8, {6, 5, 3}},      {8, {10, 10, 10, 4}}};
  temp_dir dir("transitions-oracle");
  // N = 200,000 samples; strides 100, 25, 4, 1 give M = 2,000, 8,000, 50,000, 200,000.
  const std::size_t n = 200000;
  const std::vector<std::size_t> strides = {100, 25, 4, 1};
  std::size_t ellipses = 0, converged_2000 = 0, converged_50000 = 0, sampled_checked = 0;
  for (std::uint64_t seed = 1; seed <= 2; ++seed)
    for (std::size_t k = 0; k < configs.size(); ++k) {
      const config& cfg = configs[k];
      const auto layers = random_net(cfg.in, cfg.widths, 100 * seed + k);
      const auto backend = open_native(dir, fmt::format("net{}_{}", seed, k), layers);
      const dataset data = gaussian_data("cloud", 30, cfg.in, 3, seed * 7 + k);
      const std::string labels = (seed + k) % 2 == 0 ? "same" : "different";
      // The same rows with K = M = 2,000 and K = M = 50,000: the sampled column against the oracle at each.
      const auto a2000 = prepared(transitions_options(6, labels, 2000), *backend, {&data}, seed);
      const auto a50000 = prepared(transitions_options(6, labels, 50000), *backend, {&data}, seed);
      const table_batch b2000 = all_rows(*a2000), b50000 = all_rows(*a50000);
      REQUIRE(b2000.rows() == 6);
      const std::vector<dense_result> dense = dense_rows(testing::to_double(layers), data, b2000, n, strides);
      for (std::size_t r = 0; r < b2000.rows(); ++r) {
        const std::string what = fmt::format("seed {} net {} ({} inputs) row {}: {}", seed, k, cfg.in, r,
                                             row_text(b2000, r));
        INFO(what);
        const walk_row w = walk_of(b2000, r);
        const walk_row w50 = walk_of(b50000, r);
        CHECK(b50000.ints("points")[3 * r] == b2000.ints("points")[3 * r]);
        CHECK((w50.transitions == w.transitions && w50.flips == w.flips && w50.classes == w.classes));
        CHECK(w.shape == "ellipse");
        CHECK(w.status == 0);
        CHECK(w.flips >= w.transitions);
        const dense_result& d = dense[r];
        ++ellipses;
        converged_2000 += compare_with_dense(w, d, 0, 1, 2000, what);
        converged_50000 += compare_with_dense(w, d, 2, 3, 50000, what);
        // Novak et al.'s count with K = M is the oracle's flips seen at M (same angles, pattern = value > 0).
        CHECK(w.sampled == d.at[0].flips);
        CHECK(w50.sampled == d.at[2].flips);
        CHECK(w50.sampled <= w.flips);
        sampled_checked += 2;
      }
    }
  const double f2000 = static_cast<double>(converged_2000) / static_cast<double>(ellipses);
  const double f50000 = static_cast<double>(converged_50000) / static_cast<double>(ellipses);
  WARN(fmt::format("random networks: {} ellipses, dense sampling converged for {:.1f}% at M = 2,000 and {:.1f}% at "
                   "M = 50,000; {} sampled counts checked; {:.2f} s",
                   ellipses, 100 * f2000, 100 * f50000, sampled_checked, seconds_since(t0)));
  CHECK(ellipses == 72);
  CHECK(f50000 >= 0.9);  // the equality checks above are not vacuous
}

TEST_CASE("around a trained Fashion-MNIST MLP's ellipses the walk matches dense sampling of phi",
          "[transitions][oracle]") {
  const auto t0 = std::chrono::steady_clock::now();
  const testing::small_fashion_net fashion = testing::train_small_fashion_net();
  const dataset& train = fashion.data;
  const mlp& net = fashion.net;
  INFO("training accuracy " << fashion.train_accuracy);
  CHECK(fashion.train_accuracy > 0.7);
  const double train_seconds = seconds_since(t0);
  temp_dir dir("transitions-fashion");
  const auto backend = open_native(dir, "fashion", net);
  // K = 2,000: the sampled count costs K forward passes through the 784-wide first layer (the walk itself
  // takes about a millisecond); K = 50,000 is checked on the random networks.
  const auto a = prepared(transitions_options(5, "same", 2000), *backend, {&train}, 11);
  const table_batch b = all_rows(*a);
  REQUIRE(b.rows() == 5);
  const double walk_seconds = seconds_since(t0) - train_seconds;
  // N = 800,000 samples; strides 400, 100, 16, 4, 1 give M = 2,000, 8,000, 50,000, 200,000, 800,000.
  const std::vector<std::size_t> strides = {400, 100, 16, 4, 1};
  const auto layers = testing::to_double(net.layers());
  const std::vector<dense_result> dense = dense_rows(layers, train, b, 800000, strides);
  std::size_t converged_2000 = 0, converged_50000 = 0, converged_200000 = 0;
  std::int64_t transitions = 0;
  for (std::size_t r = 0; r < b.rows(); ++r) {
    const std::string what = fmt::format("row {}: {}", r, row_text(b, r));
    INFO(what);
    const walk_row w = walk_of(b, r);
    const auto& labels = b.ints("labels");
    CHECK((labels[3 * r] == labels[3 * r + 1] && labels[3 * r] == labels[3 * r + 2]));
    CHECK(w.shape == "ellipse");
    CHECK(w.status == 0);
    CHECK(w.flips >= w.transitions);
    transitions += w.transitions;
    converged_2000 += compare_with_dense(w, dense[r], 0, 1, 2000, what);
    converged_50000 += compare_with_dense(w, dense[r], 2, 3, 50000, what);
    converged_200000 += compare_with_dense(w, dense[r], 3, 4, 200000, what);
    CHECK(w.sampled == dense[r].at[0].flips);  // K = M = 2,000
  }
  WARN(fmt::format("Fashion-MNIST 784-32-32-10 (training accuracy {:.3f}): 5 same-label ellipses, {} transitions in "
                   "all; dense sampling converged for {}/5 at M = 2,000, {}/5 at M = 50,000, {}/5 at M = 200,000; "
                   "training {:.2f} s, walk (with K = 2,000) {:.2f} s, total {:.2f} s",
                   fashion.train_accuracy, transitions, converged_2000, converged_50000,
                   converged_200000, train_seconds, walk_seconds, seconds_since(t0)));
  CHECK(converged_200000 >= 4);
}

// ---- degenerate triplets -----------------------------------------------------------------------------------

namespace {

/// The one same-label triplet of three samples: its row (with K = 2,000) and the dense oracle on it.
struct single_triplet {
  dataset data;
  table_batch row;
  walk_row walk;
  dense_result dense;  // n = 200,000; strides 100, 25, 4, 1: M = 2,000, 8,000, 50,000, 200,000
};

single_triplet walk_single(const network_backend& net, const std::vector<affine_layer_d>& layers,
                           const std::vector<std::vector<float>>& points, std::uint64_t seed = 1,
                           double offset = 0) {
  single_triplet t;
  t.data = make_data("three", points, {0, 0, 0});
  t.row = all_rows(*prepared(transitions_options(1, "same", 2000), net, {&t.data}, seed));
  REQUIRE(t.row.rows() == 1);
  t.walk = walk_of(t.row, 0);
  t.dense = dense_counts(layers, ellipse_of(t.data, t.row, 0), 200000, {100, 25, 4, 1}, offset);
  return t;
}

/// The oracle must have converged on these single cases, and then the walk equals it.
void require_dense_equality(const single_triplet& t) {
  INFO(row_text(t.row, 0) << "\n" << describe(t.walk, t.dense.at[2], t.dense.at[3], 50000) << ", steps changing "
                           << "two or more units at 4M: " << t.dense.at[3].multi_flips);
  REQUIRE(compare_with_dense(t.walk, t.dense, 2, 3, 50000, "single triplet"));
}

void check_segment(const single_triplet& t) {
  CHECK(t.walk.shape == "segment");
  CHECK(t.walk.status == 0);
  CHECK(t.walk.transitions > 0);
  CHECK(t.walk.sampled == t.dense.at[0].flips);
  require_dense_equality(t);
}

}  // namespace

TEST_CASE("two equal points give a segment traversed there and back", "[transitions][boundary]") {
  temp_dir dir("transitions-segment");
  const auto layers = random_net(4, {10, 10, 10, 3}, 21);
  const auto net = open_native(dir, "net", layers);
  const std::vector<float> a = {1.5f, -0.25f, 0.75f, -1.0f}, b = {-1.0f, 0.5f, -1.25f, 1.5f};
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    check_segment(walk_single(*net, testing::to_double(layers), {a, b, b}, seed));
  }
}

TEST_CASE("three distinct collinear points give a segment", "[transitions][boundary]") {
  temp_dir dir("transitions-collinear");
  const auto layers = random_net(4, {10, 10, 10, 3}, 22);
  const auto net = open_native(dir, "net", layers);
  // p, p + d, p + 3d: exactly representable, so exactly collinear.
  const std::vector<float> p = {-1.0f, 0.5f, -0.75f, 1.25f}, d = {0.5f, -0.25f, 0.5f, -0.5f};
  std::vector<std::vector<float>> points;
  for (float t : {0.0f, 1.0f, 3.0f}) {
    std::vector<float> x(p.size());
    for (std::size_t j = 0; j < p.size(); ++j) x[j] = p[j] + t * d[j];
    points.push_back(x);
  }
  check_segment(walk_single(*net, testing::to_double(layers), points));
}

TEST_CASE("three equal points are a point: nothing changes", "[transitions][boundary]") {
  temp_dir dir("transitions-point");
  const auto layers = random_net(3, {6, 5, 3}, 23);
  const auto net = open_native(dir, "net", layers);
  const std::vector<float> a = {0.25f, -1.5f, 0.5f};
  const single_triplet t = walk_single(*net, testing::to_double(layers), {a, a, a});
  CHECK(t.walk.shape == "point");
  CHECK(t.walk.transitions == 0);
  CHECK(t.walk.flips == 0);
  CHECK(t.walk.classes == 0);
  CHECK(t.walk.sampled == 0);
  CHECK(t.walk.status == 0);
}

namespace {

/// A 2-input network whose first layer has `crafted` rows (integer weights and biases, exact in float),
/// then five random rows; hidden widths crafted + 5 and 6, three classes.
std::vector<dense_layer> crafted_net(const std::vector<std::vector<float>>& crafted, std::uint64_t seed) {
  std::vector<dense_layer> layers = random_net(2, {crafted.size() + 5, 6, 3}, seed);
  for (std::size_t i = 0; i < crafted.size(); ++i) {
    layers[0].weight(i, 0) = crafted[i][0];
    layers[0].weight(i, 1) = crafted[i][1];
    layers[0].bias[i] = crafted[i][2];
  }
  return layers;
}

}  // namespace

TEST_CASE("a unit crossing zero exactly at p0: the change is counted once and the pattern closes",
          "[transitions][boundary]") {
  // A = (0, 0), B = (3, 0), C = (0, 3). Whatever the order, c + u is exactly p0 and the tangent there is
  // along p1 - p2. Unit 0 is zero at A (x1 + 3 x2), unit 1 at B (2 x1 + x2 - 6), unit 2 at C (3 x1 - x2 + 3),
  // each crossing the ellipse transversally, and no two of them meet on it (no simultaneous flips); so p0
  // always lies exactly on a region boundary.
  temp_dir dir("transitions-p0");
  const auto layers = crafted_net({{1, 3, 0}, {2, 1, -6}, {3, -1, 3}}, 24);
  const auto net = open_native(dir, "net", layers);
  std::set<std::int64_t> firsts;
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    const single_triplet t = walk_single(*net, testing::to_double(layers), {{0, 0}, {3, 0}, {0, 3}}, seed);
    firsts.insert(t.row.ints("points")[0]);
    CHECK(t.walk.shape == "ellipse");
    CHECK((t.walk.status & 4) == 0);
    CHECK(t.walk.status == 0);
    CHECK(t.walk.sampled == t.dense.at[0].flips);
    require_dense_equality(t);
  }
  CHECK(firsts.size() == 3);  // every point served as p0
}

TEST_CASE("a unit touching zero exactly at p0 does not flip", "[transitions][boundary]") {
  // A = (0, 0), B = (3, 0), C = (0, 3); unit 0 = x1 + x2 is zero at A and its gradient (1, 1) is normal to
  // the tangent B - C there: along the ellipse with p0 = A it is 2 (1 - cos phi) >= 0, touching zero at
  // phi = 0 only. Dense sampling on angles offset by half a step never lands on the touch.
  // Not checked: the sampled column takes a pattern as value > 0, so it sees this unit off at phi = 0 only and
  // counts two flips the walk (right-limit rule) does not; docs/science.md states sampled <= unit_flips for
  // patterns taken by the right-limit rule.
  temp_dir dir("transitions-touch");
  const auto layers = crafted_net({{1, 1, 0}}, 25);
  const auto net = open_native(dir, "net", layers);
  bool seen = false;
  for (std::uint64_t seed = 1; seed <= 40 && !seen; ++seed) {
    const single_triplet t = walk_single(*net, testing::to_double(layers), {{0, 0}, {3, 0}, {0, 3}}, seed, 0.5);
    if (t.row.ints("points")[0] != 0) continue;  // the touch is exact only at phi = 0
    seen = true;
    CHECK(t.walk.status == 0);
    require_dense_equality(t);
  }
  CHECK(seen);
}

TEST_CASE("a network without hidden layers has class changes only", "[transitions][boundary]") {
  temp_dir dir("transitions-linear");
  const auto layers = random_net(3, {4}, 26);
  const auto net = open_native(dir, "net", layers);
  const dataset data = gaussian_data("cloud", 30, 3, 3, 26);
  const auto a = prepared(transitions_options(8, "different", 100), *net, {&data});
  const table_batch b = all_rows(*a);
  std::int64_t changes = 0;
  for (std::size_t r = 0; r < b.rows(); ++r) {
    INFO(row_text(b, r));
    const walk_row w = walk_of(b, r);
    CHECK(w.transitions == 0);
    CHECK(w.flips == 0);
    CHECK(w.sampled == 0);
    CHECK(w.status == 0);
    const dense_result d = dense_counts(testing::to_double(layers), ellipse_of(data, b, r), 200000, {4, 1});
    CHECK(compare_with_dense(w, d, 0, 1, 50000, "linear"));
    changes += w.classes;
  }
  CHECK(changes > 0);
}

TEST_CASE("twin units flip together: one transition, two flips", "[transitions][boundary]") {
  // Each hidden unit duplicated, with its outgoing weights halved (exact in float): the same function, so the
  // same transitions and class changes, and every flip happens twice at one event.
  temp_dir dir("transitions-twins");
  const auto single = random_net(3, {8, 3}, 27);
  std::vector<dense_layer> twins = {{matrix(16, 3), std::vector<float>(16)}, {matrix(3, 16), single[1].bias}};
  for (std::size_t i = 0; i < 8; ++i)
    for (std::size_t copy = 0; copy < 2; ++copy) {
      for (std::size_t j = 0; j < 3; ++j) twins[0].weight(2 * i + copy, j) = single[0].weight(i, j);
      twins[0].bias[2 * i + copy] = single[0].bias[i];
      for (std::size_t k = 0; k < 3; ++k) twins[1].weight(k, 2 * i + copy) = single[1].weight(k, i) / 2;
    }
  const dataset data = gaussian_data("cloud", 30, 3, 3, 27);
  const table_batch one = all_rows(*prepared(transitions_options(8, "same", 1000), *open_native(dir, "one", single),
                                             {&data}));
  const table_batch two = all_rows(*prepared(transitions_options(8, "same", 1000), *open_native(dir, "two", twins),
                                             {&data}));
  std::int64_t transitions = 0;
  for (std::size_t r = 0; r < one.rows(); ++r) {
    INFO(row_text(one, r) << " | twins: " << row_text(two, r));
    const walk_row a = walk_of(one, r), b = walk_of(two, r);
    CHECK(b.transitions == a.transitions);
    CHECK(b.flips == 2 * a.flips);
    CHECK(b.classes == a.classes);
    CHECK(b.sampled == 2 * a.sampled);
    CHECK(b.status == 0);
    transitions += a.transitions;
  }
  CHECK(transitions > 0);
}

// ---- determinism and the interface ------------------------------------------------------------------------

TEST_CASE("the table does not depend on batching or threads", "[transitions][interface]") {
  temp_dir dir("transitions-batches");
  const auto layers = random_net(5, {10, 10, 10, 4}, 31);
  const auto net = open_native(dir, "net", layers);
  const dataset a = gaussian_data("a", 40, 5, 4, 31), b = gaussian_data("b", 25, 5, 4, 32);
  const auto analysis = prepared(transitions_options(7, "same", 500), *net, {&a, &b}, 9);
  REQUIRE(analysis->row_count(0) == 14);
  const table_batch whole = all_rows(*analysis);
  for (std::size_t step : {1, 2, 3}) {
    for (std::size_t first = 0; first < whole.rows(); first += step) {
      const std::size_t count = std::min(step, whole.rows() - first);
      const table_batch part = rows_of(*analysis, first, count);
      for (std::size_t r = 0; r < count; ++r) CHECK(row_text(part, r) == row_text(whole, first + r));
    }
  }
  // Two threads at once on different ranges.
  table_batch lo, hi;
  std::thread t1([&] { lo = rows_of(*analysis, 0, 7); });
  std::thread t2([&] { hi = rows_of(*analysis, 7, 7); });
  t1.join();
  t2.join();
  for (std::size_t r = 0; r < 7; ++r) {
    CHECK(row_text(lo, r) == row_text(whole, r));
    CHECK(row_text(hi, r) == row_text(whole, 7 + r));
  }
  // The same again from a fresh analysis.
  const table_batch again = all_rows(*prepared(transitions_options(7, "same", 500), *net, {&a, &b}, 9));
  for (std::size_t r = 0; r < whole.rows(); ++r) CHECK(row_text(again, r) == row_text(whole, r));
  for (std::size_t r = 0; r < whole.rows(); ++r) CHECK(whole.strings("dataset")[r] == (r < 7 ? "a" : "b"));
}

TEST_CASE("a row's triplet depends only on the seed, its data set's position and its index",
          "[transitions][interface]") {
  temp_dir dir("transitions-rows");
  const auto layers = random_net(4, {6, 5, 3}, 32);
  const auto net = open_native(dir, "net", layers);
  const dataset a = gaussian_data("a", 30, 4, 3, 41), b = gaussian_data("b", 30, 4, 3, 42),
                c = gaussian_data("c", 45, 4, 3, 43);
  for (const std::string labels : {"same", "different"}) {
    INFO("labels = " << labels);
    const table_batch five = all_rows(*prepared(transitions_options(5, labels, 100), *net, {&a, &b}, 3));
    const table_batch eight = all_rows(*prepared(transitions_options(8, labels, 100), *net, {&a, &b}, 3));
    REQUIRE(five.rows() == 10);
    REQUIRE(eight.rows() == 16);
    for (std::size_t s = 0; s < 2; ++s)
      for (std::size_t r = 0; r < 5; ++r) CHECK(row_text(five, 5 * s + r) == row_text(eight, 8 * s + r));
    // Another data set in second position leaves the first one's rows alone.
    const table_batch other = all_rows(*prepared(transitions_options(5, labels, 100), *net, {&a, &c}, 3));
    for (std::size_t r = 0; r < 5; ++r) CHECK(row_text(other, r) == row_text(five, r));
    // Another seed draws other triplets.
    const table_batch reseeded = all_rows(*prepared(transitions_options(5, labels, 100), *net, {&a, &b}, 4));
    bool differs = false;
    for (std::size_t r = 0; r < 10; ++r) differs = differs || row_text(reseeded, r) != row_text(five, r);
    CHECK(differs);
  }
}

TEST_CASE("labels = same draws three samples of one label, different three labels", "[transitions][interface]") {
  temp_dir dir("transitions-labels");
  const auto layers = random_net(3, {6, 5, 4}, 33);
  const auto net = open_native(dir, "net", layers);
  const dataset data = gaussian_data("cloud", 40, 3, 4, 51);
  for (const std::string labels : {"same", "different"}) {
    const table_batch b = all_rows(*prepared(transitions_options(30, labels, 0), *net, {&data}, 5));
    const auto& points = b.ints("points");
    const auto& y = b.ints("labels");
    for (std::size_t r = 0; r < b.rows(); ++r) {
      INFO(labels << " " << row_text(b, r));
      for (std::size_t q = 0; q < 3; ++q) {
        REQUIRE(points[3 * r + q] >= 0);
        REQUIRE(points[3 * r + q] < 40);
        CHECK(y[3 * r + q] == data.labels[static_cast<std::size_t>(points[3 * r + q])]);
      }
      CHECK(points[3 * r] != points[3 * r + 1]);
      CHECK(points[3 * r] != points[3 * r + 2]);
      CHECK(points[3 * r + 1] != points[3 * r + 2]);
      if (labels == "same") {
        CHECK((y[3 * r] == y[3 * r + 1] && y[3 * r + 1] == y[3 * r + 2]));
      } else {
        CHECK((y[3 * r] != y[3 * r + 1] && y[3 * r] != y[3 * r + 2] && y[3 * r + 1] != y[3 * r + 2]));
      }
      CHECK(b.ints("sampled")[r] == -1);  // K = 0
    }
  }
}

namespace {

/// The same rows with the default max_transitions and with `cap`.
std::pair<table_batch, table_batch> full_and_capped(std::int64_t triplets, std::int64_t cap) {
  temp_dir dir("transitions-cap");
  const auto layers = random_net(4, {10, 10, 10, 3}, 34);
  const auto net = open_native(dir, "net", layers);
  const dataset data = gaussian_data("cloud", 30, 4, 3, 61);
  return {all_rows(*prepared(transitions_options(triplets, "same", 0), *net, {&data}, 2)),
          all_rows(*prepared(transitions_options(triplets, "same", 0, cap), *net, {&data}, 2))};
}

}  // namespace

TEST_CASE("max_transitions stops a walk with status 2 and lower bounds", "[transitions][interface]") {
  const auto [full, capped] = full_and_capped(10, 3);
  std::size_t stopped = 0;
  for (std::size_t r = 0; r < full.rows(); ++r) {
    INFO(row_text(full, r) << " / capped: " << row_text(capped, r));
    const walk_row f = walk_of(full, r), c = walk_of(capped, r);
    REQUIRE(f.status == 0);
    if (f.transitions > 3) {
      ++stopped;
      CHECK(c.status == 2);
      CHECK(c.transitions == 3);
      CHECK(c.flips <= f.flips);
      CHECK(c.flips >= 3);
      CHECK(c.classes <= f.classes);
    } else {
      CHECK(row_text(capped, r) == row_text(full, r));
    }
  }
  CHECK(stopped > 0);
}

TEST_CASE("the largest accepted max_transitions does not stop the walk", "[transitions][boundary]") {
  const auto [full, big] = full_and_capped(3, 1000000000000);  // 1e12, the option's upper limit
  for (std::size_t r = 0; r < 3; ++r) CHECK(row_text(big, r) == row_text(full, r));
}

TEST_CASE("the table declares its columns", "[transitions][interface]") {
  const auto a = testing::build_plugins().create_analysis("transitions", option_set{});
  const auto tables = a->tables();
  REQUIRE(tables.size() == 1);
  CHECK(tables[0].name == "ellipses");
  CHECK(tables[0].group_by == "dataset");
  CHECK_NOTHROW(check_table_spec(tables[0], "analysis 'transitions'"));
  for (const char* name : {"transitions", "unit_flips", "class_changes", "sampled", "status"})
    CHECK(tables[0].columns.at(tables[0].column_index(name)).type == column_type::int64);
  CHECK(tables[0].columns.at(tables[0].column_index("points")).width == 3);
  CHECK(tables[0].columns.at(tables[0].column_index("labels")).width == 3);
  CHECK(tables[0].columns.at(tables[0].column_index("shape")).type == column_type::string);
}

// ---- errors ------------------------------------------------------------------------------------------------

TEST_CASE("bad options are refused naming the option", "[transitions][negative]") {
  struct bad {
    const char* option;
    option_value value;
  };
  const std::vector<bad> cases = {{"triplets", std::int64_t{0}},  {"labels", std::string("sideways")},
                                  {"K", std::int64_t{1}},         {"K", std::int64_t{-3}},
                                  {"max_transitions", std::int64_t{0}},
                                  {"max_transitions", std::int64_t{3000000000000000000}}};
  for (const bad& c : cases) {
    option_set o;
    o.set(c.option, c.value);
    INFO(c.option << " = " << to_string(c.value));
    try {
      (void)testing::build_plugins().create_analysis("transitions", o);
      FAIL("accepted");
    } catch (const plugin_error& e) {
      CHECK(e.plugin() == "transitions");
      CHECK_THAT(e.what(), Catch::Contains(fmt::format("'{}'", c.option)));
    }
  }
  CHECK_THROWS_WITH(testing::build_plugins().create_analysis("transitions", option_set{})->check({}, 2),
                    Catch::Contains("datasets"));
  option_set unknown;
  unknown.set("triplet", std::int64_t{5});
  CHECK_THROWS_WITH(testing::build_plugins().create_analysis("transitions", unknown),
                    Catch::Contains("unknown option 'triplet'"));
  CHECK_THROWS_AS(testing::build_plugins().create_analysis("transitions", unknown), plugin_error);
}

TEST_CASE("data that cannot serve the labels option are refused naming the data set", "[transitions][negative]") {
  temp_dir dir("transitions-data");
  const auto layers = random_net(2, {6, 5, 3}, 35);
  const auto net = open_native(dir, "net", layers);
  const auto same = testing::build_plugins().create_analysis("transitions", transitions_options(3, "same"));
  const auto different = testing::build_plugins().create_analysis("transitions", transitions_options(3, "different"));
  // Two samples of each label: no label has three.
  const dataset pairs = make_data("pairs", {{0, 0}, {1, 0}, {0, 1}, {1, 1}, {2, 0}, {0, 2}}, {0, 0, 1, 1, 2, 2});
  CHECK_THROWS_WITH(same->prepare(*net, {&pairs}, 1), Catch::Contains("'pairs'") && Catch::Contains("same"));
  // Two labels only.
  const dataset two = make_data("two_labels", {{0, 0}, {1, 0}, {0, 1}, {1, 1}}, {0, 1, 0, 1});
  CHECK_THROWS_WITH(different->prepare(*net, {&two}, 1),
                    Catch::Contains("'two_labels'") && Catch::Contains("different"));
  // The failing data set is named even when another one could serve.
  const dataset fine = gaussian_data("fine", 12, 2, 3, 1);
  CHECK_THROWS_WITH(same->prepare(*net, {&fine, &pairs}, 1), Catch::Contains("'pairs'"));
}

TEST_CASE("rows outside the table are refused", "[transitions][negative]") {
  temp_dir dir("transitions-range");
  const auto layers = random_net(2, {6, 5, 3}, 36);
  const auto net = open_native(dir, "net", layers);
  const dataset data = gaussian_data("cloud", 12, 2, 3, 2);
  const auto a = prepared(transitions_options(4), *net, {&data});
  table_batch b;
  b.reset(a->tables()[0], 2);
  CHECK_THROWS(a->compute(0, 3, 2, b));
  CHECK_THROWS(a->compute(0, 5, 0, b));
  const auto unprepared = testing::build_plugins().create_analysis("transitions", transitions_options(4));
  CHECK_THROWS(unprepared->compute(0, 0, 1, b));
}
