// Oracle tests of the "plane_regions" analysis: its polygons tile the box, each holds the pattern and logits a
// double-precision forward pass finds inside it, a dense grid finds no other pattern, the exact estimator's walk
// along lines in the plane crosses exactly the predicted regions, decision regions in closed form, max pooling,
// clip and LeakyReLU graphs, determinism, and option / data errors.
#include "oracles.hpp"
#include "support.hpp"

#include "h5/h5.hpp"

#include <genscope/analysis.hpp>
#include <genscope/interval_estimator.hpp>
#include <genscope/network_graph.hpp>
#include <genscope/piecewise_linear.hpp>
#include <genscope/random.hpp>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <tbb/global_control.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <numbers>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace genscope;
using genscope::testing::temp_dir;

namespace {

// ---- one row of the table, read back ---------------------------------------------------------------------

struct pt {
  double s, t;
};

struct region_row {
  std::vector<pt> shape;
  std::vector<std::int64_t> pattern;
  std::int64_t digest = 0;
  std::vector<double> logits;  // C values of a, then b, then g
};

struct piece_row {
  std::vector<pt> shape;
  std::int64_t region = 0, label = 0, component = 0;
};

struct plane_row {
  std::vector<double> origin, axis_s, axis_t;
  double s_lo = 0, s_hi = 0, t_lo = 0, t_hi = 0;
  std::int64_t regions = 0, decision_regions = 0, status = 0;
  double area_error = 0;
  std::vector<region_row> region;
  std::vector<piece_row> piece;
};

// Offset of row r's values in a ragged column.
std::size_t start_of(const table_batch& b, const std::string& column, std::size_t r) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < r; ++i) start += b.counts(column)[i];
  return start;
}

std::vector<pt> polygons(const table_batch& b, const std::string& prefix, std::size_t r, std::size_t k,
                         std::size_t& vertex) {
  const auto& sizes = b.ints(prefix + "_sizes");
  const auto& values = b.reals(prefix + "_vertices");
  std::vector<pt> shape;
  for (std::int64_t v = 0; v < sizes[start_of(b, prefix + "_sizes", r) + k]; ++v, ++vertex)
    shape.push_back({values[2 * vertex], values[2 * vertex + 1]});
  return shape;
}

plane_row read_row(const table_batch& b, std::size_t r, std::size_t classes) {
  plane_row p;
  const std::size_t basis = start_of(b, "basis", r), dim = b.counts("basis")[r] / 3;
  const auto& bv = b.reals("basis");
  p.origin.assign(bv.begin() + static_cast<std::ptrdiff_t>(basis), bv.begin() + static_cast<std::ptrdiff_t>(basis + dim));
  p.axis_s.assign(bv.begin() + static_cast<std::ptrdiff_t>(basis + dim),
                  bv.begin() + static_cast<std::ptrdiff_t>(basis + 2 * dim));
  p.axis_t.assign(bv.begin() + static_cast<std::ptrdiff_t>(basis + 2 * dim),
                  bv.begin() + static_cast<std::ptrdiff_t>(basis + 3 * dim));
  const auto& box = b.reals("box");
  p.s_lo = box[4 * r];
  p.s_hi = box[4 * r + 1];
  p.t_lo = box[4 * r + 2];
  p.t_hi = box[4 * r + 3];
  p.regions = b.ints("regions")[r];
  p.decision_regions = b.ints("decision_regions")[r];
  p.status = b.ints("status")[r];
  p.area_error = b.reals("area_error")[r];
  std::size_t vertex = start_of(b, "region_vertices", r) / 2;
  std::size_t pattern = start_of(b, "region_patterns", r);
  const std::size_t first = start_of(b, "region_sizes", r);
  const std::size_t per_pattern = p.regions > 0 ? b.counts("region_patterns")[r] / static_cast<std::size_t>(p.regions) : 0;
  for (std::int64_t k = 0; k < p.regions; ++k) {
    region_row reg;
    reg.shape = polygons(b, "region", r, static_cast<std::size_t>(k), vertex);
    reg.pattern.assign(b.ints("region_patterns").begin() + static_cast<std::ptrdiff_t>(pattern),
                       b.ints("region_patterns").begin() + static_cast<std::ptrdiff_t>(pattern + per_pattern));
    pattern += per_pattern;
    reg.digest = b.ints("region_digests")[first + static_cast<std::size_t>(k)];
    const std::size_t logits = start_of(b, "region_logits", r) + static_cast<std::size_t>(k) * 3 * classes;
    reg.logits.assign(b.reals("region_logits").begin() + static_cast<std::ptrdiff_t>(logits),
                      b.reals("region_logits").begin() + static_cast<std::ptrdiff_t>(logits + 3 * classes));
    p.region.push_back(std::move(reg));
  }
  vertex = start_of(b, "piece_vertices", r) / 2;
  const std::size_t pieces = b.counts("piece_sizes")[r], pfirst = start_of(b, "piece_sizes", r);
  for (std::size_t k = 0; k < pieces; ++k) {
    piece_row pc;
    pc.shape = polygons(b, "piece", r, k, vertex);
    pc.region = b.ints("piece_region")[pfirst + k];
    pc.label = b.ints("piece_class")[pfirst + k];
    pc.component = b.ints("piece_component")[pfirst + k];
    p.piece.push_back(std::move(pc));
  }
  return p;
}

// ---- plane geometry, as a reader of the table would do it ------------------------------------------------

std::vector<double> at(const plane_row& p, double s, double t) {
  std::vector<double> x(p.origin.size());
  for (std::size_t j = 0; j < x.size(); ++j) x[j] = p.origin[j] + s * p.axis_s[j] + t * p.axis_t[j];
  return x;
}

double area(const std::vector<pt>& q) {
  double twice = 0;
  for (std::size_t i = 0; i < q.size(); ++i) {
    const pt& a = q[i];
    const pt& b = q[(i + 1) % q.size()];
    twice += a.s * b.t - b.s * a.t;
  }
  return twice / 2;
}

pt centroid(const std::vector<pt>& q) {
  pt c{0, 0};
  for (const pt& v : q) {
    c.s += v.s / static_cast<double>(q.size());
    c.t += v.t / static_cast<double>(q.size());
  }
  return c;
}

// The smallest signed distance from x to the polygon's edges (positive inside a counter-clockwise polygon).
double inside_by(const std::vector<pt>& q, const pt& x) {
  double least = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < q.size(); ++i) {
    const pt& a = q[i];
    const pt& b = q[(i + 1) % q.size()];
    const double length = std::hypot(b.s - a.s, b.t - a.t);
    if (length == 0) continue;
    least = std::min(least, ((b.s - a.s) * (x.t - a.t) - (b.t - a.t) * (x.s - a.s)) / length);
  }
  return least;
}

bool convex_ccw(const std::vector<pt>& q) {
  if (q.size() < 3) return false;
  for (std::size_t i = 0; i < q.size(); ++i) {
    const pt& a = q[i];
    const pt& b = q[(i + 1) % q.size()];
    const pt& c = q[(i + 2) % q.size()];
    if ((b.s - a.s) * (c.t - b.t) - (b.t - a.t) * (c.s - b.s) < -1e-12) return false;
  }
  return area(q) > 0;
}

double logit_at(const region_row& r, std::size_t classes, std::size_t k, const pt& x) {
  return r.logits[k] + r.logits[classes + k] * x.s + r.logits[2 * classes + k] * x.t;
}

// ---- the analysis as the host drives it ------------------------------------------------------------------

std::shared_ptr<analysis> prepared(const std::vector<std::pair<std::string, option_value>>& settings,
                                   const network_backend& net, const std::vector<const dataset*>& data,
                                   std::uint64_t seed = 1) {
  auto a = testing::make_analysis("plane_regions", settings);
  a->prepare(net, data, seed);
  return a;
}

table_batch all_rows(const analysis& a) {
  table_batch b = testing::whole_table(a, 0);
  b.check(a.tables().at(0), "analysis 'plane_regions'");
  return b;
}

// What a point's independent evaluation says: its pattern (one state per switch unit, node order) and its logits.
using evaluate_fn = std::function<void(const std::vector<double>& x, std::vector<std::int64_t>& pattern,
                                       std::vector<double>& pre, std::vector<double>& logits)>;

// An MLP's pattern and logits by the oracles' plain double loops (a ReLU is active when its input is > 0).
evaluate_fn mlp_oracle(const std::vector<dense_layer>& layers) {
  return [layers_d = testing::to_double(layers)](const std::vector<double>& x, std::vector<std::int64_t>& pattern,
                                                  std::vector<double>& pre, std::vector<double>& logits) {
    testing::naive_forward(layers_d, x.data(), logits, &pre);
    pattern.clear();
    for (double z : pre) pattern.push_back(z > 0 ? 1 : 0);
  };
}

struct tally {
  std::size_t regions = 0, grid_points = 0, near_boundary = 0, pieces = 0;
};

// Every check of one row against the oracle: convex polygons inside the box that tile it, each region's pattern
// and logits those of its interior, every grid point's pattern that of the region holding it, each decision piece's
// class the oracle's argmax, the pieces of a region tiling it.
void check_row(const plane_row& p, std::size_t classes, const evaluate_fn& oracle, tally& t, std::size_t grid = 120) {
  REQUIRE(p.status == 0);
  REQUIRE(p.regions == static_cast<std::int64_t>(p.region.size()));
  const double box_area = (p.s_hi - p.s_lo) * (p.t_hi - p.t_lo);
  const double scale = std::max(p.s_hi - p.s_lo, p.t_hi - p.t_lo);
  double total = 0;
  std::set<std::vector<std::int64_t>> patterns;
  std::set<std::int64_t> digests;
  std::vector<std::int64_t> pattern;
  std::vector<double> pre, logits;
  for (const region_row& r : p.region) {
    INFO("region with " << r.shape.size() << " vertices");
    CHECK(convex_ccw(r.shape));
    for (const pt& v : r.shape) {
      CHECK(v.s >= p.s_lo - 1e-12 * scale);
      CHECK(v.s <= p.s_hi + 1e-12 * scale);
      CHECK(v.t >= p.t_lo - 1e-12 * scale);
      CHECK(v.t <= p.t_hi + 1e-12 * scale);
    }
    total += area(r.shape);
    // The interior point's pattern and logits.
    const pt c = centroid(r.shape);
    oracle(at(p, c.s, c.t), pattern, pre, logits);
    std::size_t differ = 0;
    for (std::size_t u = 0; u < pattern.size(); ++u)
      if (pattern[u] != r.pattern.at(u)) {
        ++differ;
        CHECK(std::abs(pre[u]) < 1e-9);  // only a unit at zero to rounding may differ
      }
    t.near_boundary += differ > 0;
    double top = 1;
    for (double v : logits) top = std::max(top, std::abs(v));
    for (std::size_t k = 0; k < classes; ++k) CHECK(std::abs(logit_at(r, classes, k, c) - logits[k]) <= 1e-9 * top);
    CHECK(patterns.insert(r.pattern).second);  // one polygon per pattern
    digests.insert(r.digest);
    ++t.regions;
  }
  CHECK(digests.size() == p.region.size());
  CHECK(std::abs(total - box_area) <= 1e-9 * box_area);
  CHECK(p.area_error <= 1e-9);
  // A dense grid: every point lies in exactly one polygon (boundaries aside), whose pattern it has.
  for (std::size_t i = 0; i < grid; ++i)
    for (std::size_t j = 0; j < grid; ++j) {
      const pt x{p.s_lo + (p.s_hi - p.s_lo) * (static_cast<double>(i) + 0.5) / static_cast<double>(grid),
                 p.t_lo + (p.t_hi - p.t_lo) * (static_cast<double>(j) + 0.37) / static_cast<double>(grid)};
      std::size_t holding = 0, clear = 0;
      const region_row* found = nullptr;
      for (const region_row& r : p.region) {
        const double by = inside_by(r.shape, x);
        if (by >= -1e-12 * scale) {
          ++holding;
          found = &r;
        }
        clear += by > 1e-9 * scale;
      }
      ++t.grid_points;
      INFO("grid point (" << x.s << ", " << x.t << ")");
      CHECK(holding >= 1);
      CHECK(clear <= 1);
      if (holding != 1) continue;
      oracle(at(p, x.s, x.t), pattern, pre, logits);
      for (std::size_t u = 0; u < pattern.size(); ++u)
        if (pattern[u] != found->pattern.at(u)) CHECK(std::abs(pre[u]) < 1e-9);
    }
  // Decision pieces: the argmax at their interior, inside their region, tiling it.
  std::vector<double> piece_area(p.region.size(), 0.0);
  for (const piece_row& pc : p.piece) {
    CHECK(convex_ccw(pc.shape));
    REQUIRE(pc.region >= 0);
    REQUIRE(pc.region < p.regions);
    piece_area[static_cast<std::size_t>(pc.region)] += area(pc.shape);
    const pt c = centroid(pc.shape);
    CHECK(inside_by(p.region[static_cast<std::size_t>(pc.region)].shape, c) > -1e-12 * scale);
    oracle(at(p, c.s, c.t), pattern, pre, logits);
    std::vector<double> sorted = logits;
    std::sort(sorted.rbegin(), sorted.rend());
    if (sorted[0] - sorted[1] > 1e-9) CHECK(testing::argmax_low(logits) == pc.label);
    CHECK(pc.component >= 0);
    CHECK(pc.component < p.decision_regions);
    ++t.pieces;
  }
  for (std::size_t r = 0; r < p.region.size(); ++r)
    CHECK(std::abs(piece_area[r] - area(p.region[r].shape)) <= 1e-9 * box_area);
}

// The parameters where the line (s0, t0) + tau (cos a, sin a) enters each polygon it crosses over a stretch, sorted.
std::vector<std::pair<double, std::size_t>> crossings(const std::vector<std::vector<pt>>& shapes, pt start, pt dir) {
  std::vector<std::pair<double, std::size_t>> enter;
  for (std::size_t k = 0; k < shapes.size(); ++k) {
    const auto& q = shapes[k];
    double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < q.size(); ++i) {
      const pt& a = q[i];
      const pt& b = q[(i + 1) % q.size()];
      // Inside: cross(b - a, x - a) >= 0, affine in tau: c0 + c1 tau.
      const double c0 = (b.s - a.s) * (start.t - a.t) - (b.t - a.t) * (start.s - a.s);
      const double c1 = (b.s - a.s) * dir.t - (b.t - a.t) * dir.s;
      if (c1 == 0) {
        if (c0 < 0) lo = hi + 1;
        continue;
      }
      const double root = -c0 / c1;
      if (c1 > 0) lo = std::max(lo, root);
      else hi = std::min(hi, root);
    }
    if (hi - lo > 1e-12) enter.emplace_back(lo, k);
  }
  std::sort(enter.begin(), enter.end());
  return enter;
}

}  // namespace

TEST_CASE("plane_regions: polygons tile the box and hold the pattern and logits of their interior (random MLPs)",
          "[plane_regions][oracle]") {
  temp_dir dir("planes");
  tally t;
  for (std::uint64_t seed = 0; seed < 4; ++seed) {
    const std::size_t in = 3 + seed;
    const auto layers = testing::random_net(in, {10 + 2 * seed, 8, 4}, 50 + seed);
    const auto net = testing::open_native(dir, fmt::format("net{}", seed), layers);
    const dataset data = testing::gaussian_data("data", 40, in, 4, seed);
    const auto a = prepared({{"planes", std::int64_t{2}}}, *net, {&data}, seed);
    const table_batch b = all_rows(*a);
    for (std::size_t r = 0; r < b.rows(); ++r) {
      INFO("net " << seed << " plane " << r);
      const plane_row p = read_row(b, r, 4);
      CHECK(p.regions > 10);
      check_row(p, 4, mlp_oracle(layers), t);
    }
  }
  INFO(t.regions << " regions, " << t.pieces << " pieces, " << t.grid_points << " grid points");
  CHECK(t.regions > 200);
  CHECK(t.near_boundary * 100 <= t.regions);  // an interior point almost never sits at a unit's zero
}

TEST_CASE("plane_regions: a trained Fashion-MNIST MLP's planes through three images pass every oracle check",
          "[plane_regions][oracle]") {
  const testing::small_fashion_net trained = testing::train_small_fashion_net();
  temp_dir dir("planes-fashion");
  const auto net = testing::open_native(dir, "fashion", trained.net);
  const auto a = prepared({{"planes", std::int64_t{1}}}, *net, {&trained.data}, 7);
  const table_batch b = all_rows(*a);
  tally t;
  const plane_row p = read_row(b, 0, 10);
  INFO(p.regions << " regions, " << p.decision_regions << " decision regions");
  CHECK(p.regions > 50);
  check_row(p, 10, mlp_oracle(trained.net.layers()), t, 60);
  // The three images sit in decision pieces of their predicted classes, and there are at least as many decision
  // regions as predicted classes among them.
  const auto& samples = b.reals("samples");
  std::vector<std::int64_t> pattern;
  std::vector<double> pre, logits;
  std::set<int> predicted;
  for (std::size_t q = 0; q < 3; ++q) {
    const pt x{samples[2 * q], samples[2 * q + 1]};
    mlp_oracle(trained.net.layers())(at(p, x.s, x.t), pattern, pre, logits);
    predicted.insert(testing::argmax_low(logits));
    std::size_t holding = 0;
    for (const piece_row& pc : p.piece)
      if (inside_by(pc.shape, x) > 1e-9) {
        ++holding;
        CHECK(pc.label == testing::argmax_low(logits));
      }
    CHECK(holding <= 1);
  }
  CHECK(p.decision_regions >= static_cast<std::int64_t>(predicted.size()));
}

TEST_CASE("plane_regions: decision regions of a network whose classes split the plane at |x| = 1 (closed form)",
          "[plane_regions][oracle]") {
  // Hidden units relu(x) and relu(-x); logits 1 and relu(x) + relu(-x) = |x|: two linear regions (x < 0, x > 0),
  // class 1 where |x| > 1 (two decision regions) and class 0 between (one, across both linear regions).
  dense_layer hidden{matrix(2, 2), {0, 0}};
  hidden.weight(0, 0) = 1;
  hidden.weight(1, 0) = -1;
  dense_layer out{matrix(2, 2), {1, 0}};
  out.weight(1, 0) = 1;
  out.weight(1, 1) = 1;
  temp_dir dir("planes-closed");
  const auto net = testing::open_native(dir, "abs", std::vector<dense_layer>{hidden, out});
  const dataset data = testing::make_data("data", {{0, 0}, {1, 0}, {0, 1}}, {0, 1, 2});
  const auto a = prepared({{"points", std::string("0,1,2")}, {"extent", 3.0}}, *net, {&data});
  const table_batch b = all_rows(*a);
  const plane_row p = read_row(b, 0, 2);
  // Centroid (1/3, 1/3), axes x and y: s = x - 1/3; the box's half-side is 3 |(2/3, -1/3)| = sqrt(5).
  const double h = std::sqrt(5.0);
  CHECK(p.s_hi == Approx(h).epsilon(1e-12));
  CHECK(p.t_lo == Approx(-h).epsilon(1e-12));
  REQUIRE(p.regions == 2);
  CHECK(p.decision_regions == 3);
  REQUIRE(p.piece.size() == 4);
  std::map<std::int64_t, double> by_class;
  for (const piece_row& pc : p.piece) by_class[pc.label] += area(pc.shape);
  // Class 0 on -1 < x < 1: a strip 2 wide; class 1 the rest of the 2h x 2h box.
  CHECK(by_class[0] == Approx(2 * 2 * h).epsilon(1e-12));
  CHECK(by_class[1] == Approx(4 * h * h - 4 * h).epsilon(1e-12));
  // The left region (x < 0) has unit 2 active only; its area is (h - 1/3) 2h.
  for (const region_row& r : p.region) {
    const bool left = centroid(r.shape).s < -1.0 / 3;
    CHECK(r.pattern == (left ? std::vector<std::int64_t>{0, 1} : std::vector<std::int64_t>{1, 0}));
    CHECK(area(r.shape) == Approx((left ? h - 1.0 / 3 : h + 1.0 / 3) * 2 * h).epsilon(1e-12));
  }
  tally t;
  check_row(p, 2, mlp_oracle({hidden, out}), t);
}

TEST_CASE("plane_regions: the exact estimator's walk along lines in the plane crosses exactly the predicted regions",
          "[plane_regions][oracle]") {
  temp_dir dir("planes-walk");
  std::size_t lines = 0, crossed = 0;
  for (std::uint64_t seed = 0; seed < 3; ++seed) {
    const std::size_t in = 4;
    const auto layers = testing::random_net(in, {12, 10, 3}, 70 + seed);
    const auto net = testing::open_native(dir, fmt::format("net{}", seed), layers);
    const dataset data = testing::gaussian_data("data", 30, in, 3, 10 + seed);
    const table_batch b = all_rows(*prepared({}, *net, {&data}, seed));
    const plane_row p = read_row(b, 0, 3);
    REQUIRE(p.status == 0);
    std::vector<std::vector<pt>> regions, pieces;
    for (const region_row& r : p.region) regions.push_back(r.shape);
    for (const piece_row& pc : p.piece) pieces.push_back(pc.shape);
    rng gen(seed, stream_key("plane walk lines"));
    for (int line = 0; line < 12; ++line) {
      // A start in the middle half of the box and a direction in the plane, both exact in float.
      const pt start{p.s_lo / 2 + gen.uniform() * (p.s_hi - p.s_lo) / 2, p.t_lo / 2 + gen.uniform() * (p.t_hi - p.t_lo) / 2};
      const double angle = gen.uniform() * std::numbers::pi;
      probe_batch probe;
      probe.resize(1, in);
      const std::vector<double> x = at(p, start.s, start.t);
      for (std::size_t j = 0; j < in; ++j) {
        probe.x(0, j) = static_cast<float>(x[j]);
        probe.d(0, j) = static_cast<float>(std::cos(angle) * p.axis_s[j] + std::sin(angle) * p.axis_t[j]);
      }
      // The float probe as a line of the plane: its start and direction projected (the rest is rounding).
      std::vector<double> xf(in), df(in);
      for (std::size_t j = 0; j < in; ++j) {
        xf[j] = probe.x(0, j) - p.origin[j];
        df[j] = probe.d(0, j);
      }
      auto project = [&](const std::vector<double>& v) {
        double s = 0, t = 0;
        for (std::size_t j = 0; j < in; ++j) {
          s += v[j] * p.axis_s[j];
          t += v[j] * p.axis_t[j];
        }
        return pt{s, t};
      };
      const pt s0 = project(xf), dir0 = project(df);
      // T: the line stays in the box on both sides.
      double reach = std::numeric_limits<double>::infinity();
      for (const auto& [lo, hi, x0, d0] : {std::array{p.s_lo, p.s_hi, s0.s, dir0.s}, std::array{p.t_lo, p.t_hi, s0.t, dir0.t}})
        if (d0 != 0) reach = std::min(reach, std::min(std::abs((hi - x0) / d0), std::abs((lo - x0) / d0)));
      option_set o;
      o.set("T", reach * 0.999);
      o.set("record_breakpoints", true);
      const auto walk = testing::build_plugins().create_estimator("exact", o);
      interval_batch out;
      walk->estimate(*net, probe, out);
      const double t_lo = out.t_lo[0], t_hi = out.t_hi[0];
      std::vector<double> walked = out.extra.reals("breakpoints");
      std::sort(walked.begin(), walked.end());
      // The partition's region boundaries strictly inside (t_lo, t_hi).
      std::vector<double> predicted;
      for (const auto& [enter, k] : crossings(regions, s0, dir0))
        if (enter > t_lo + 1e-7 && enter < t_hi - 1e-7) predicted.push_back(enter);
      INFO("net " << seed << " line " << line << ": (" << t_lo << ", " << t_hi << "), walked " << walked.size()
                  << ", predicted " << predicted.size());
      REQUIRE(walked.size() == predicted.size());
      for (std::size_t k = 0; k < walked.size(); ++k) CHECK(walked[k] == Approx(predicted[k]).margin(1e-6));
      CHECK(out.regions_lo[0] + out.regions_hi[0] - 1 == static_cast<std::int64_t>(walked.size()) + 1);
      // The interval's ends are where the decision pieces along the line change class, and the class past them.
      const auto along = crossings(pieces, s0, dir0);
      for (std::size_t k = 1; k < along.size(); ++k) {
        const double where = along[k].first;
        const std::int64_t before = p.piece[along[k - 1].second].label, after = p.piece[along[k].second].label;
        if (before == after) continue;
        if (where > 0 && (out.status[0] & status_clipped_hi) == 0 && where < t_hi + 1e-6) {
          CHECK(where == Approx(t_hi).margin(1e-6));
          CHECK(after == out.class_hi[0]);
        }
        if (where < 0 && (out.status[0] & status_clipped_lo) == 0 && where > t_lo - 1e-6) {
          CHECK(where == Approx(t_lo).margin(1e-6));
          CHECK(before == out.class_lo[0]);
        }
      }
      ++lines;
      crossed += walked.size();
    }
  }
  INFO(lines << " lines, " << crossed << " crossings");
  CHECK(crossed > 3 * lines);
}

namespace {

// A small graph network with every other switch: conv 1 -> 3 channels (2x2) on a 1x3x3 input, clip(0, 1), max
// pooling 2x2 (one window per channel), dense 3 -> 5, LeakyReLU(0.1), dense 5 -> 4.
std::vector<graph_op> switch_graph_ops(std::uint64_t seed) {
  rng gen(seed, stream_key("plane graph"));
  auto fill = [&](std::vector<float>& v, std::size_t n, double scale) {
    v.resize(n);
    for (float& x : v) x = static_cast<float>(gen.normal() * scale);
  };
  std::vector<graph_op> ops(7);
  ops[0].kind = op_kind::conv;
  ops[0].inputs = {0};
  ops[0].out_channels = 3;
  ops[0].window.kernel_h = ops[0].window.kernel_w = 2;
  fill(ops[0].weight, 3 * 4, 0.7);
  fill(ops[0].bias, 3, 0.3);
  ops[1].kind = op_kind::clip;
  ops[1].inputs = {1};
  ops[1].low = 0;
  ops[1].high = 1;
  ops[2].kind = op_kind::max_pool;
  ops[2].inputs = {2};
  ops[2].window.kernel_h = ops[2].window.kernel_w = 2;
  ops[2].window.stride_h = ops[2].window.stride_w = 2;
  ops[3].kind = op_kind::reshape;
  ops[3].inputs = {3};
  ops[3].shape = {3};
  ops[4].kind = op_kind::dense;
  ops[4].inputs = {4};
  fill(ops[4].weight, 5 * 3, 1.0);
  fill(ops[4].bias, 5, 0.3);
  ops[5].kind = op_kind::leaky_relu;
  ops[5].inputs = {5};
  ops[5].negative_slope = 0.1f;
  ops[6].kind = op_kind::dense;
  ops[6].inputs = {6};
  fill(ops[6].weight, 4 * 5, 1.0);
  fill(ops[6].bias, 4, 0.1);
  return ops;
}

// The same network in plain double loops: its pattern (clip pieces 0/1/2, window argmax, LeakyReLU signs, in
// node order) and logits; `pre` gets each switch unit's distance from its nearest threshold (ties by rounding).
evaluate_fn switch_graph_oracle(const std::vector<graph_op>& ops) {
  return [ops](const std::vector<double>& x, std::vector<std::int64_t>& pattern, std::vector<double>& pre,
               std::vector<double>& logits) {
    pattern.clear();
    pre.clear();
    double conv[3][2][2];
    for (std::size_t c = 0; c < 3; ++c)
      for (std::size_t i = 0; i < 2; ++i)
        for (std::size_t j = 0; j < 2; ++j) {
          double v = ops[0].bias[c];
          for (std::size_t di = 0; di < 2; ++di)
            for (std::size_t dj = 0; dj < 2; ++dj) v += ops[0].weight[c * 4 + di * 2 + dj] * x[(i + di) * 3 + j + dj];
          conv[c][i][j] = v;
          pattern.push_back(v <= 0 ? 0 : v <= 1 ? 1 : 2);
          pre.push_back(std::min(std::abs(v), std::abs(v - 1)));
          conv[c][i][j] = std::clamp(v, 0.0, 1.0);
        }
    std::vector<double> pooled(3);
    for (std::size_t c = 0; c < 3; ++c) {
      const double w[4] = {conv[c][0][0], conv[c][0][1], conv[c][1][0], conv[c][1][1]};
      std::size_t best = 0;
      for (std::size_t k = 1; k < 4; ++k)
        if (w[k] > w[best]) best = k;
      double gap = std::numeric_limits<double>::infinity();
      for (std::size_t k = 0; k < 4; ++k)
        if (k != best) gap = std::min(gap, std::abs(w[best] - w[k]));
      pattern.push_back(static_cast<std::int64_t>(best));
      pre.push_back(gap);
      pooled[c] = w[best];
    }
    std::vector<double> hidden(5);
    for (std::size_t i = 0; i < 5; ++i) {
      double v = ops[4].bias[i];
      for (std::size_t j = 0; j < 3; ++j) v += ops[4].weight[i * 3 + j] * pooled[j];
      pattern.push_back(v > 0 ? 1 : 0);
      pre.push_back(std::abs(v));
      hidden[i] = v > 0 ? v : 0.1f * v;
    }
    logits.assign(4, 0.0);
    for (std::size_t i = 0; i < 4; ++i) {
      double v = ops[6].bias[i];
      for (std::size_t j = 0; j < 5; ++j) v += ops[6].weight[i * 5 + j] * hidden[j];
      logits[i] = v;
    }
  };
}

}  // namespace

TEST_CASE("plane_regions: clip, max pooling and LeakyReLU switches cut the plane as a double forward pass says",
          "[plane_regions][oracle]") {
  temp_dir dir("planes-graph");
  tally t;
  for (std::uint64_t seed = 0; seed < 3; ++seed) {
    const std::vector<graph_op> ops = switch_graph_ops(seed);
    const std::string path = dir / fmt::format("graph{}.h5", seed);
    save_network(path, network_graph({1, 3, 3}, ops), "");
    option_set o;
    o.set("path", path);
    const auto net = testing::build_plugins().create_backend("native", o);
    dataset data = testing::gaussian_data("data", 30, 9, 4, 20 + seed);
    data.shape = {1, 3, 3};
    const table_batch b = all_rows(*prepared({{"planes", std::int64_t{2}}}, *net, {&data}, seed));
    for (std::size_t r = 0; r < b.rows(); ++r) {
      INFO("graph " << seed << " plane " << r);
      const plane_row p = read_row(b, r, 4);
      CHECK(p.region.front().pattern.size() == 12 + 3 + 5);
      check_row(p, 4, switch_graph_oracle(ops), t);
    }
  }
  INFO(t.regions << " regions");
  CHECK(t.regions > 50);
}

TEST_CASE("plane_regions: rows do not depend on the thread count, the batching or the other rows",
          "[plane_regions][determinism]") {
  temp_dir dir("planes-determinism");
  const auto layers = testing::random_net(5, {14, 9, 3}, 91);
  const auto net = testing::open_native(dir, "net", layers);
  const dataset data = testing::gaussian_data("data", 30, 5, 3, 4);
  const std::vector<std::pair<std::string, option_value>> settings{{"planes", std::int64_t{3}}};
  table_batch many;
  {
    const tbb::global_control two(tbb::global_control::max_allowed_parallelism, 2);
    many = all_rows(*prepared(settings, *net, {&data}));
  }
  const tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
  const auto a = prepared(settings, *net, {&data});
  for (std::size_t r = 0; r < 3; ++r) {
    table_batch single;
    single.reset(a->tables()[0], 1);
    a->compute(0, r, 1, single);
    const plane_row x = read_row(many, r, 3), y = read_row(single, 0, 3);
    CHECK(x.regions == y.regions);
    CHECK(x.decision_regions == y.decision_regions);
    REQUIRE(x.region.size() == y.region.size());
    for (std::size_t k = 0; k < x.region.size(); ++k) {
      CHECK(x.region[k].digest == y.region[k].digest);
      CHECK(x.region[k].logits == y.region[k].logits);
      REQUIRE(x.region[k].shape.size() == y.region[k].shape.size());
      for (std::size_t v = 0; v < x.region[k].shape.size(); ++v) {
        CHECK(x.region[k].shape[v].s == y.region[k].shape[v].s);
        CHECK(x.region[k].shape[v].t == y.region[k].shape[v].t);
      }
    }
  }
  // More planes append rows without changing the first ones.
  const table_batch fewer = all_rows(*prepared({{"planes", std::int64_t{1}}}, *net, {&data}));
  CHECK(read_row(fewer, 0, 3).region.size() == read_row(many, 0, 3).region.size());
  CHECK(fewer.ints("points")[0] == many.ints("points")[0]);
}

TEST_CASE("plane_regions: max_regions keeps the first regions found and says so, and collinear samples span no plane",
          "[plane_regions][boundary]") {
  temp_dir dir("planes-status");
  const auto layers = testing::random_net(4, {12, 8, 3}, 5);
  const auto net = testing::open_native(dir, "net", layers);
  const dataset data = testing::gaussian_data("data", 30, 4, 3, 6);
  const table_batch full = all_rows(*prepared({}, *net, {&data}));
  const std::int64_t regions = full.ints("regions")[0];
  REQUIRE(regions > 10);
  const table_batch capped = all_rows(*prepared({{"max_regions", std::int64_t{7}}}, *net, {&data}));
  CHECK(capped.ints("regions")[0] == 7);
  CHECK(capped.ints("status")[0] == 1);
  CHECK(full.ints("status")[0] == 0);
  // The regions kept are the first ones of the full partition, on one thread as on two.
  table_batch capped_one;
  {
    const tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
    capped_one = all_rows(*prepared({{"max_regions", std::int64_t{7}}}, *net, {&data}));
  }
  for (std::size_t k = 0; k < 7; ++k) {
    CHECK(capped.ints("region_digests")[k] == full.ints("region_digests")[k]);
    CHECK(capped_one.ints("region_digests")[k] == full.ints("region_digests")[k]);
  }
  // Exactly max_regions regions: nothing left out.
  const table_batch exact = all_rows(*prepared({{"max_regions", regions}}, *net, {&data}));
  CHECK(exact.ints("regions")[0] == regions);
  CHECK(exact.ints("status")[0] == 0);
  // Three collinear samples: status 2, nothing cut, the row still written.
  const dataset line = testing::make_data("line", {{0, 0, 0, 0}, {1, 1, 0, 0}, {2, 2, 0, 0}, {3, 1, 2, 0}}, {0, 1, 2, 0});
  const table_batch flat = all_rows(*prepared({{"points", std::string("0,1,2")}}, *net, {&line}));
  CHECK(flat.ints("status")[0] == 2);
  CHECK(flat.ints("regions")[0] == 0);
  CHECK(std::isnan(flat.reals("area_error")[0]));
  // A plane through a sample along two random directions: p0 at the origin, the box from the data's spread.
  const table_batch random = all_rows(*prepared({{"plane", std::string("directions")}}, *net, {&data}));
  const plane_row p = read_row(random, 0, 3);
  tally t;
  check_row(p, 3, mlp_oracle(layers), t, 40);
  CHECK(random.ints("points")[1] == -1);
  const float* p0 = data.x.row(static_cast<std::size_t>(random.ints("points")[0]));
  for (std::size_t j = 0; j < 4; ++j) CHECK(p.origin[j] == static_cast<double>(p0[j]));
  double st = 0;
  for (std::size_t j = 0; j < 4; ++j) st += p.axis_s[j] * p.axis_t[j];
  CHECK(std::abs(st) < 1e-12);
}

TEST_CASE("plane_regions refuses bad options and data, naming them", "[plane_regions][negative]") {
  auto refused = [](const std::vector<std::pair<std::string, option_value>>& settings, const std::string& part) {
    INFO(part);
    CHECK_THROWS_WITH(testing::make_analysis("plane_regions", settings), Catch::Contains(part));
  };
  refused({{"planes", std::int64_t{0}}}, "option 'planes'");
  refused({{"points", std::string("1,2")}}, "option 'points'");
  refused({{"points", std::string("1,2,x")}}, "option 'points'");
  refused({{"points", std::string("1,-2,3")}}, "option 'points'");
  refused({{"points", std::string("1,2,3")}, {"planes", std::int64_t{2}}}, "'planes' must be 1");
  refused({{"labels", std::string("any")}}, "option 'labels'");
  refused({{"plane", std::string("sphere")}}, "option 'plane'");
  refused({{"extent", 0.0}}, "option 'extent'");
  refused({{"extent", std::numeric_limits<double>::quiet_NaN()}}, "option 'extent'");
  refused({{"max_regions", std::int64_t{0}}}, "option 'max_regions'");
  refused({{"checkpoints", std::string("3,x")}}, "checkpoints");
  // Data the analysis cannot serve.
  const auto a = testing::make_analysis("plane_regions", {{"points", std::string("0,1,9")}});
  CHECK_THROWS_WITH(a->check({{{4}, 5, 3, "train"}}, 4), Catch::Contains("sample 9") && Catch::Contains("'train'"));
  const auto b = testing::make_analysis("plane_regions", {});
  CHECK_THROWS_WITH(b->check({{{4}, 2, 3, "pair"}}, 4), Catch::Contains("'pair'") && Catch::Contains("three"));
  CHECK_THROWS_WITH(b->check({{{4}, 10, 2, "two"}}, 4), Catch::Contains("fewer than three"));
  CHECK_THROWS_WITH(b->check({}, 4), Catch::Contains("no data set"));
  temp_dir dir("planes-negative");
  const auto net = testing::open_native(dir, "net", testing::random_net(4, {6, 3}, 1));
  const dataset same = testing::make_data("same", {{0, 0, 0, 0}, {1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}}, {0, 0, 1, 1});
  CHECK_THROWS_WITH(prepared({{"labels", std::string("same")}}, *net, {&same}), Catch::Contains("no label with three"));
  const dataset wide = testing::gaussian_data("wide", 10, 5, 3, 1);
  CHECK_THROWS_WITH(prepared({}, *net, {&wide}), Catch::Contains("takes 4 inputs"));
  // Patterns that could not fit: 3,000 switch units x 100,000 regions.
  const auto broad = testing::open_native(dir, "broad", testing::random_net(4, {3000, 3}, 2));
  const dataset four = testing::gaussian_data("four", 10, 4, 3, 1);
  CHECK_THROWS_WITH(prepared({}, *broad, {&four}), Catch::Contains("option 'patterns'") && Catch::Contains("3000"));
  CHECK_NOTHROW(prepared({{"patterns", false}}, *broad, {&four}));
}

namespace {

// The polygon blocks of a report figure's data block `index` (blocks split by two blank lines, polygons by one):
// per polygon its vertex rows "s t value".
std::vector<std::vector<std::vector<double>>> figure_polygons(const std::string& text, std::size_t index) {
  std::vector<std::vector<std::vector<double>>> out;
  std::size_t block = 0, blanks = 0;
  std::istringstream in(text);
  std::string line;
  std::vector<std::vector<double>> current;
  while (std::getline(in, line)) {
    if (line.empty()) {
      if (!current.empty() && block == index) out.push_back(current);
      current.clear();
      if (++blanks == 2) ++block;
      continue;
    }
    blanks = 0;
    std::istringstream row(line);
    std::vector<double> values;
    double v = 0;
    while (row >> v) values.push_back(v);
    current.push_back(values);
  }
  if (!current.empty() && block == index) out.push_back(current);
  return out;
}

std::string plane_experiment(const std::string& dir) {
  return fmt::format(R"(seed = 4
output = "{0}/results.h5"
model_cache = "{0}/models"

[datasets.train]
source = "synthetic"
samples = 300
dim = 6
manifold_dim = 2
classes = 4
noise = 0.05

[models.net]
backend = "native"
dataset = "train"

[models.net.train]
hidden = [24, 24]
epochs = 30
batch_size = 32
checkpoints = [1]

[analyses.slice]
plugin = "plane_regions"
model = "net"
datasets = ["train"]
planes = 2
checkpoints = "all"
)",
                     dir);
}

}  // namespace

TEST_CASE("plane_regions through genscope run: h5py reads the polygons as the README says, the report draws them",
          "[plane_regions][report]") {
  temp_dir dir("planes-report");
  const auto run = testing::run_cli("run --quiet '" + testing::write_experiment(dir, plane_experiment(dir.path().string())) + "'");
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  // The README's h5py lines: every row's regions tile its box.
  const std::string script = dir / "read.py";
  testing::write_file(script, R"(import sys, h5py, numpy as np
t = h5py.File(sys.argv[1])["analyses/slice/planes"]
for r in range(len(t["regions"])):
    s, n = t["region_sizes_start"][r], t["region_sizes_count"][r]
    v0, nv = t["region_vertices_start"][r], t["region_vertices_count"][r]
    polygons = np.split(t["region_vertices"][v0:v0 + nv].reshape(-1, 2), np.cumsum(t["region_sizes"][s:s + n])[:-1])
    area = sum(0.5 * np.sum(q[:, 0] * np.roll(q[:, 1], -1) - np.roll(q[:, 0], -1) * q[:, 1]) for q in polygons)
    lo, hi, bottom, top = t["box"][r]
    print(r, t["epoch"][r], len(polygons), t["regions"][r], abs(area - (hi - lo) * (top - bottom)) / ((hi - lo) * (top - bottom)))
)");
  const std::string listing = dir / "listing.txt";
  REQUIRE(std::system(("/usr/bin/python3 '" + script + "' '" + (dir / "results.h5") + "' > '" + listing + "'").c_str()) == 0);
  std::istringstream rows(testing::read_file(listing));
  std::size_t r = 0, epoch = 0, polygons = 0, regions = 0, count = 0;
  double error = 0;
  std::set<std::size_t> epochs;
  while (rows >> r >> epoch >> polygons >> regions >> error) {
    CHECK(polygons == regions);
    CHECK(regions > 1);
    CHECK(error < 1e-9);
    epochs.insert(epoch);
    ++count;
  }
  CHECK(count == 4);  // two planes, at checkpoint 1 and for the final weights
  CHECK(epochs == std::set<std::size_t>{0, 1});

  // scripts/plane_density.py: the two densities times their areas give back every row's region count.
  const std::string densities = dir / "densities.txt";
  REQUIRE(std::system(("/usr/bin/python3 '" GENSCOPE_TEST_SOURCE_DIR "/scripts/plane_density.py' '" +
                       (dir / "results.h5") + "' > '" + densities + "'")
                          .c_str()) == 0);
  {
    const h5::file f = h5::file::open(dir / "results.h5");
    const h5::group t = f.root().open_group("analyses").open_group("slice").open_group("planes");
    const auto box = t.read<double>("box");
    const auto samples = t.read<double>("samples");
    const auto counts = t.read<std::int64_t>("regions");
    std::istringstream lines(testing::read_file(densities));
    std::string header, name;
    std::getline(lines, header);
    std::size_t row = 0;
    std::int64_t epoch = 0, regions_read = 0, decisions = 0;
    double inside = 0, outside = 0;
    while (lines >> name >> epoch >> regions_read >> decisions >> inside >> outside) {
      REQUIRE(row < 4);
      CHECK(regions_read == counts[row]);
      const double* q = &samples[6 * row];
      const double triangle = std::abs((q[2] - q[0]) * (q[5] - q[1]) - (q[4] - q[0]) * (q[3] - q[1])) / 2;
      const double area = (box[4 * row + 1] - box[4 * row]) * (box[4 * row + 3] - box[4 * row + 2]);
      CHECK(inside * triangle + outside * (area - triangle) == Approx(static_cast<double>(regions_read)).epsilon(0.002));
      ++row;
    }
    CHECK(row == 4);
  }

  const auto report = testing::run_cli("report --quiet '" + (dir / "results.h5") + "' -o '" + (dir / "report") + "'");
  INFO(report.err);
  REQUIRE(report.exit_code == 0);
  const h5::file f = h5::file::open(dir / "results.h5");
  const h5::group t = f.root().open_group("analyses").open_group("slice").open_group("planes");
  const auto piece_count = t.read<std::uint64_t>("piece_sizes_count");
  const auto piece_start = t.read<std::uint64_t>("piece_sizes_start");
  const auto classes = t.read<std::int64_t>("piece_class");
  const auto region_count = t.read<std::uint64_t>("region_sizes_count");
  for (std::size_t row = 0; row < 4; ++row) {
    const std::string stem = dir / fmt::format("report/analysis-slice-planes-plane{}", row);
    CHECK(std::filesystem::file_size(stem + ".png") > 1000);
    const std::string data = testing::read_file(dir / fmt::format("report/data/analysis-slice-planes-plane{}.dat", row));
    const auto pieces = figure_polygons(data, 0);
    REQUIRE(pieces.size() == piece_count[row]);
    for (std::size_t k = 0; k < pieces.size(); ++k) {
      CHECK(pieces[k].front() == pieces[k].back());  // closed
      CHECK(pieces[k].front().at(2) == static_cast<double>(classes[piece_start[row] + k]));
    }
    CHECK(figure_polygons(data, 1).size() == region_count[row]);
  }
}

TEST_CASE("the report refuses plane_regions polygons that do not match their vertices", "[plane_regions][negative]") {
  temp_dir dir("planes-broken");
  {
    const h5::file f = h5::file::create(dir / "broken.h5");
    const h5::group root = f.root();
    root.set_attr("format", std::string("genscope-results"));
    root.create_group("provenance");
    const h5::group a = root.create_group("analyses").create_group("slice");
    a.set_attr("analysis_plugin", std::string("plane_regions"));
    a.set_attr("tables", std::vector<std::string>{"planes"});
    const h5::group t = a.create_group("planes");
    t.set_attr("columns", std::vector<std::string>{"dataset", "regions"});
    t.set_attr("measures", std::vector<std::string>{"regions"});
    t.set_attr("group_by", std::string("dataset"));
    t.set_attr("rows", std::int64_t{1});
    t.write_strings("dataset", {"train"});
    t.write("epoch", std::vector<std::int64_t>{0});
    t.write("regions", std::vector<std::int64_t>{1});
    t.write("decision_regions", std::vector<std::int64_t>{1});
    t.write("box", std::vector<double>{-1, 1, -1, 1}, {1, 4});
    t.write("samples", std::vector<double>{0, 0, 0.5, 0, 0, 0.5}, {1, 6});
    t.write("points", std::vector<std::int64_t>{0, 1, 2}, {1, 3});
    for (const std::string prefix : {"region", "piece"}) {
      t.write(prefix + "_sizes", std::vector<std::int64_t>{4});
      // Four vertices announced, three given.
      t.write(prefix + "_vertices", std::vector<double>{-1, -1, 1, -1, 1, 1});
      t.write(prefix + "_sizes_start", std::vector<std::uint64_t>{0});
      t.write(prefix + "_sizes_count", std::vector<std::uint64_t>{1});
      t.write(prefix + "_vertices_start", std::vector<std::uint64_t>{0});
      t.write(prefix + "_vertices_count", std::vector<std::uint64_t>{6});
    }
    t.write("piece_class", std::vector<std::int64_t>{0});
  }
  const auto r = testing::run_cli("report --quiet '" + (dir / "broken.h5") + "' -o '" + (dir / "out") + "'");
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(testing::line_count(r.err) == 1);
  CHECK(r.err.find("/analyses/slice/planes") != std::string::npos);
  CHECK(r.err.find("row 0") != std::string::npos);
}
