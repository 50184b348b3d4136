// Tests of the bisection estimator plugin against a closed-form classifier whose class changes are known exactly.
#include <genscope/error.hpp>
#include <genscope/plugin_registry.hpp>
#include <genscope/random.hpp>

#include "support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

// A classifier of R^2 that looks only at the first coordinate s: class classes[k] on
// [breaks[k-1], breaks[k]) (one-hot logits), and NaN logits for s >= nan_from. Along
// x + t*d the class therefore changes exactly at t = (break - x_0) / d_0.
class band_backend final : public genscope::network_backend {
 public:
  band_backend(std::vector<double> breaks, std::vector<int> classes, double nan_from = inf)
      : breaks_(std::move(breaks)), classes_(std::move(classes)), nan_from_(nan_from) {}

  std::vector<std::size_t> input_shape() const override { return {2}; }
  std::size_t class_count() const override { return 4; }
  void logits(genscope::matrix_view x, genscope::matrix& out) const override {
    out.resize(x.rows, 4);
    std::fill(out.data.begin(), out.data.end(), 0.0f);
    for (std::size_t i = 0; i < x.rows; ++i) {
      const double s = x(i, 0);
      if (s >= nan_from_) {
        out(i, 0) = std::numeric_limits<float>::quiet_NaN();
        continue;
      }
      out(i, static_cast<std::size_t>(class_at(s))) = 1.0f;
    }
    rows_seen += x.rows;
    ++calls;
  }
  std::string model_digest() const override { return "band"; }
  std::string describe() const override { return "bands along the first coordinate"; }

  int class_at(double s) const {
    const auto k = std::upper_bound(breaks_.begin(), breaks_.end(), s) - breaks_.begin();
    return classes_[static_cast<std::size_t>(k)];
  }

  mutable std::size_t rows_seen = 0;  // single-threaded tests only
  mutable std::size_t calls = 0;

 private:
  std::vector<double> breaks_;
  std::vector<int> classes_;
  double nan_from_;
};

// Class 2 below -1.3, class 0 up to 1.234 except a class-1 excursion on [0.71, 0.73)
// (narrower than h = 0.05 and between the scan points 0.70 and 0.75), class 3 above.
band_backend main_bands() { return band_backend({-1.3, 0.71, 0.73, 1.234}, {2, 0, 1, 0, 3}); }

const genscope::plugin_registry& registry() { return genscope::testing::build_plugins(); }

std::shared_ptr<genscope::interval_estimator> make(double t_max = 4.0, double h = 0.05, double tol = 1e-4,
                                                   std::int64_t chunk = 16) {
  genscope::option_set o;
  o.set("T", t_max);
  o.set("h", h);
  o.set("tol", tol);
  o.set("scan_chunk", chunk);
  return registry().create_estimator("bisection", o);
}

struct probe {
  float x0, x1, d0, d1;
};

genscope::probe_batch batch(const std::vector<probe>& ps) {
  genscope::probe_batch b;
  b.resize(ps.size(), 2);
  for (std::size_t k = 0; k < ps.size(); ++k) {
    b.x(k, 0) = ps[k].x0;
    b.x(k, 1) = ps[k].x1;
    b.d(k, 0) = ps[k].d0;
    b.d(k, 1) = ps[k].d1;
  }
  return b;
}

genscope::interval_batch run(const genscope::interval_estimator& e, const genscope::network_backend& net,
                             const std::vector<probe>& ps) {
  genscope::interval_batch out;
  e.estimate(net, batch(ps), out);
  REQUIRE(out.size() == ps.size());
  return out;
}

// t_hi is the agreeing end of a bracket narrower than tol around the true change t_star.
void check_boundary(double t, double t_star, double tol) {
  INFO("t = " << t << ", exact " << t_star);
  CHECK(std::abs(t) <= std::abs(t_star) + 1e-6);
  CHECK(std::abs(t) >= std::abs(t_star) - tol - 1e-6);
}

// Bisection steps from a bracket of width w to one below tol: the least m with w / 2^m < tol.
std::uint64_t bisection_steps(double w, double tol) {
  std::uint64_t m = 0;
  while (w / std::pow(2.0, static_cast<double>(m)) >= tol) ++m;
  return m;
}

}  // namespace

TEST_CASE("bisection finds both class changes of a closed-form classifier", "[interface]") {
  const auto net = main_bands();
  const auto e = make();
  // Along d = (2, 5) from the origin, s = 2t: changes at t = 0.617 (to 3) and t = -0.65 (to 2);
  // the excursion at t in [0.355, 0.365) lies between the scan points 0.35 and 0.40 and is missed.
  const auto out = run(*e, net, {{0, 0, 2, 5}});
  CHECK(out.class0[0] == 0);
  check_boundary(out.t_hi[0], 1.234 / 2, 1e-4);
  check_boundary(out.t_lo[0], -1.3 / 2, 1e-4);
  CHECK(out.class_hi[0] == 3);
  CHECK(out.class_lo[0] == 2);
  CHECK(out.status[0] == 0);
}

TEST_CASE("bisection finds an excursion wider than the scan step", "[interface]") {
  // A class-1 excursion on [0.71, 0.78) contains the scan point s = 0.75, so it is found
  // and bisection then locates its start.
  const band_backend wide({-1.3, 0.71, 0.78, 1.234}, {2, 0, 1, 0, 3});
  const auto e = make();
  const auto out = run(*e, wide, {{0, 0, 1, 0}});
  check_boundary(out.t_hi[0], 0.71, 1e-4);
  CHECK(out.class_hi[0] == 1);
}

TEST_CASE("bisection misses an excursion narrower than h", "[boundary]") {
  const auto net = main_bands();
  const auto e = make();
  const auto out = run(*e, net, {{0, 0, 1, 0}});
  // The exact interval ends at 0.71 (class 1), but bisection is only an estimate.
  check_boundary(out.t_hi[0], 1.234, 1e-4);
  CHECK(out.class_hi[0] == 3);
  // With a finer scan the excursion is found: h = 0.005 puts a scan point at 0.715.
  const auto fine = make(4.0, 0.005, 1e-4);
  const auto out_fine = run(*fine, net, {{0, 0, 1, 0}});
  check_boundary(out_fine.t_hi[0], 0.71, 1e-4);
  CHECK(out_fine.class_hi[0] == 1);
}

TEST_CASE("bisection reaches the requested tolerance", "[boundary]") {
  const auto net = main_bands();
  for (double tol : {1e-2, 1e-4, 1e-7}) {
    const auto e = make(4.0, 0.05, tol);
    const auto out = run(*e, net, {{0.1f, -3, 1, 0}});
    check_boundary(out.t_hi[0], 1.234 - 0.1f, tol);
    check_boundary(out.t_lo[0], -1.3 - 0.1f, tol);
  }
}

TEST_CASE("bisection flags clipped sides when nothing changes up to T", "[boundary]") {
  const auto net = main_bands();
  const auto e = make();
  // s = 0.1 t stays in [-0.4, 0.4] for |t| <= 4: class 0 throughout.
  const auto out = run(*e, net, {{0, 0, 0.1f, 0}});
  CHECK(out.t_hi[0] == 4.0);
  CHECK(out.t_lo[0] == -4.0);
  CHECK(out.class_hi[0] == -1);
  CHECK(out.class_lo[0] == -1);
  CHECK(out.status[0] == (genscope::status_clipped_hi | genscope::status_clipped_lo));
  // Every scan point k*h for k = 1..80 on both sides, plus t = 0.
  CHECK(out.cost[0] == 1 + 2 * 80);
}

TEST_CASE("bisection clips one side only", "[boundary]") {
  const auto net = main_bands();
  const auto e = make(1.0, 0.05, 1e-4);
  // s = t: the change at 1.234 is beyond T = 1, the one at -1.3 too; from s = -0.5 the
  // lower change at -1.3 is at t = -0.8, inside T.
  const auto out = run(*e, net, {{-0.5f, 0, 1, 0}});
  CHECK(out.status[0] == genscope::status_clipped_hi);
  CHECK(out.t_hi[0] == 1.0);
  check_boundary(out.t_lo[0], -0.8, 1e-4);
  CHECK(out.class_lo[0] == 2);
}

TEST_CASE("bisection scans up to T itself when T is not a multiple of h", "[boundary]") {
  // T = 1, h = 0.3: scan points 0.3, 0.6, 0.9 and 1.0; a change at 0.95 lies between the last two.
  const band_backend net({-10, 0.95}, {1, 0, 2});
  const auto e = make(1.0, 0.3, 1e-4, 1);
  const auto out = run(*e, net, {{0, 0, 1, 0}});
  check_boundary(out.t_hi[0], 0.95, 1e-4);
  CHECK(out.class_hi[0] == 2);
  CHECK(out.status[0] == genscope::status_clipped_lo);
  // t = 0, four scan points up, bisection of [0.9, 1.0], four scan points down.
  CHECK(out.cost[0] == 1 + 4 + bisection_steps(0.1, 1e-4) + 4);
}

TEST_CASE("bisection with h = T scans T only", "[boundary]") {
  const band_backend net({-10, 0.5}, {1, 0, 2});
  const auto e = make(1.0, 1.0, 1e-3, 1);
  const auto out = run(*e, net, {{0, 0, 1, 0}});
  check_boundary(out.t_hi[0], 0.5, 1e-3);
  CHECK(out.cost[0] == 1 + 1 + bisection_steps(1.0, 1e-3) + 1);
}

TEST_CASE("bisection reports a zero direction without scanning", "[boundary]") {
  const auto net = main_bands();
  const auto e = make();
  const auto out = run(*e, net, {{2, 0, 0, 0}, {0, 0, 1, 0}});
  CHECK(out.status[0] == genscope::status_zero_direction);
  CHECK(out.t_lo[0] == 0.0);
  CHECK(out.t_hi[0] == 0.0);
  CHECK(out.class0[0] == 3);
  CHECK(out.class_lo[0] == -1);
  CHECK(out.class_hi[0] == -1);
  CHECK(out.cost[0] == 1);
  CHECK(out.status[1] == 0);  // its neighbour in the batch is unaffected
}

TEST_CASE("bisection stops a side where the network returns NaN", "[boundary]") {
  const band_backend net({-1.3, 1.234}, {2, 0, 3}, 0.5);
  const auto e = make(4.0, 0.05, 1e-4, 1);
  const auto out = run(*e, net, {{0, 0, 1, 0}});
  CHECK((out.status[0] & genscope::status_nonfinite) != 0);
  CHECK(out.class_hi[0] == -1);
  // The last scan point before s = 0.5 agreed; the NaN at 0.5 ends the side.
  CHECK(out.t_hi[0] == Approx(0.45));
  // The other side is unaffected.
  check_boundary(out.t_lo[0], -1.3, 1e-4);
  CHECK(out.class_lo[0] == 2);
}

TEST_CASE("bisection reports NaN at the anchor without scanning", "[boundary]") {
  const band_backend net({-1.3, 1.234}, {2, 0, 3}, -100);
  const auto e = make();
  const auto out = run(*e, net, {{0, 0, 1, 0}});
  CHECK(out.status[0] == genscope::status_nonfinite);
  CHECK(out.class0[0] == -1);
  CHECK(out.t_lo[0] == 0.0);
  CHECK(out.t_hi[0] == 0.0);
  CHECK(out.cost[0] == 1);
}

TEST_CASE("bisection cost is about T/h scan points plus log2(h/tol) bisection steps per side", "[interface]") {
  // Changes at s = 1.234 and s = -1.31, both away from the scan grid's points.
  const band_backend net({-1.31, 1.234}, {2, 0, 3});
  const double h = 0.05;
  const double tol = 1e-4;
  // With one scan point per forward, the count is exact: the first scan point past each
  // change (ceil(t*/h)) and then the bisection steps.
  const auto exact = make(4.0, h, tol, 1);
  const auto out = run(*exact, net, {{0, 0, 1, 0}});
  const auto up = static_cast<std::uint64_t>(std::ceil(1.234 / h));
  const auto down = static_cast<std::uint64_t>(std::ceil(1.31 / h));
  const std::uint64_t steps = bisection_steps(h, tol);
  CHECK(steps == 9);  // log2(0.05 / 1e-4) = 8.97
  CHECK(out.cost[0] == 1 + up + steps + down + steps);
  // With chunks of 16 a side may evaluate up to 15 scan points past its change.
  const auto chunked = make(4.0, h, tol, 16);
  const auto out16 = run(*chunked, net, {{0, 0, 1, 0}});
  CHECK(out16.cost[0] >= out.cost[0]);
  CHECK(out16.cost[0] <= out.cost[0] + 2 * 15);
}

TEST_CASE("bisection batches scan points across probes into matrix-shaped forwards", "[interface]") {
  const auto net = main_bands();
  const auto e = make(4.0, 0.05, 1e-4, 16);
  std::vector<probe> ps(32, probe{0, 0, 0.1f, 0});  // all clipped: 80 scan points per side
  const auto out = run(*e, net, ps);
  // t = 0, then 5 chunks of 16 points: 6 forwards of 32 probes x 2 sides x 16 rows.
  CHECK(net.calls == 6);
  CHECK(net.rows_seen == 32 + 32 * 2 * 80);
  for (std::size_t k = 0; k < ps.size(); ++k) CHECK(out.cost[k] == 161);
}

TEST_CASE("bisection results do not depend on batching or scan_chunk", "[regression]") {
  // Bands at least 1 wide and |d_0| <= 1 mean no scan step (at most 0.05 in s) skips
  // a band: the first change along each side is at the next break, an independent oracle.
  // The breaks are floats and |d_0| >= 0.25, so rounding rows to float moves t by < 1e-6.
  const band_backend net({-3, -1.5, -0.5, 0.5, 1.5, 3}, {0, 1, 2, 3, 0, 1, 2});
  const std::vector<double> breaks = {-3, -1.5, -0.5, 0.5, 1.5, 3};
  std::vector<probe> ps;
  genscope::rng random(1234);
  for (int k = 0; k < 60; ++k) {
    ps.push_back({static_cast<float>(random.uniform() * 6 - 3), static_cast<float>(random.normal()),
                  static_cast<float>((random.uniform() < 0.5 ? -1 : 1) * (0.25 + 0.75 * random.uniform())),
                  static_cast<float>(random.normal())});
  }
  const double t_max = 4.0;
  const auto e = make(t_max, 0.05, 1e-4, 16);
  const auto whole = run(*e, net, ps);

  for (std::size_t k = 0; k < ps.size(); ++k) {
    const double x0 = ps[k].x0;
    const double d0 = ps[k].d0;
    double up = inf;
    double down = -inf;
    for (double b : breaks) {
      const double t = (b - x0) / d0;
      if (t > 0) up = std::min(up, t);
      if (t < 0) down = std::max(down, t);
    }
    INFO("probe " << k);
    if (up > t_max) {
      CHECK((whole.status[k] & genscope::status_clipped_hi) != 0);
    } else if (up < t_max - 1e-3) {
      check_boundary(whole.t_hi[k], up, 1e-4);
      CHECK(whole.class_hi[k] == net.class_at(x0 + (up + 1e-3) * d0));
    }
    if (down < -t_max) {
      CHECK((whole.status[k] & genscope::status_clipped_lo) != 0);
    } else if (down > -t_max + 1e-3) {
      check_boundary(whole.t_lo[k], down, 1e-4);
      CHECK(whole.class_lo[k] == net.class_at(x0 + (down - 1e-3) * d0));
    }
  }

  auto same = [&](const genscope::interval_batch& part, std::size_t offset, bool with_cost) {
    for (std::size_t k = 0; k < part.size(); ++k) {
      CHECK(part.t_lo[k] == whole.t_lo[k + offset]);
      CHECK(part.t_hi[k] == whole.t_hi[k + offset]);
      CHECK(part.class0[k] == whole.class0[k + offset]);
      CHECK(part.class_lo[k] == whole.class_lo[k + offset]);
      CHECK(part.class_hi[k] == whole.class_hi[k + offset]);
      CHECK(part.status[k] == whole.status[k + offset]);
      if (with_cost) CHECK(part.cost[k] == whole.cost[k + offset]);
    }
  };
  // One probe per batch, and an uneven split.
  for (std::size_t k = 0; k < ps.size(); ++k) same(run(*e, net, {ps[k]}), k, true);
  same(run(*e, net, std::vector<probe>(ps.begin(), ps.begin() + 23)), 0, true);
  same(run(*e, net, std::vector<probe>(ps.begin() + 23, ps.end())), 23, true);
  // The scan grid and the bisection do not depend on the chunk size, only the cost does.
  same(run(*make(t_max, 0.05, 1e-4, 1), net, ps), 0, false);
  same(run(*make(t_max, 0.05, 1e-4, 1000), net, ps), 0, false);
}

TEST_CASE("bisection handles an empty batch", "[boundary]") {
  const auto net = main_bands();
  const auto out = run(*make(), net, {});
  CHECK(out.size() == 0);
  CHECK(net.calls == 0);
}

TEST_CASE("bisection refuses probes of the wrong width", "[negative]") {
  const auto net = main_bands();
  genscope::probe_batch b;
  b.resize(1, 3);
  genscope::interval_batch out;
  CHECK_THROWS_WITH(make()->estimate(net, b, out), Catch::Contains("bisection") && Catch::Contains("3"));
}

TEST_CASE("bisection refuses more than 1e9 scan points per side instead of scanning nothing", "[negative]") {
  // T/h = 1e20 once overflowed the step count's conversion to an integer: no scan at all, and exit 0.
  CHECK_THROWS_WITH(make(1e10, 1e-10, 1e-11), Catch::Contains("plugin 'bisection'") && Catch::Contains("'T'") &&
                                                  Catch::Contains("'h'") && Catch::Contains("at most 1e+09"));
  CHECK_NOTHROW(make(1e4, 1e-5, 1e-6));  // exactly 1e9 points
}

TEST_CASE("bisection refuses T = 0", "[negative]") {
  CHECK_THROWS_WITH(make(0.0, 0.05, 1e-4), Catch::Contains("plugin 'bisection'") && Catch::Contains("'T'"));
}

TEST_CASE("bisection refuses a negative T", "[negative]") {
  CHECK_THROWS_WITH(make(-1.0, 0.05, 1e-4), Catch::Contains("'T'"));
}

TEST_CASE("bisection refuses h > T", "[negative]") {
  CHECK_THROWS_WITH(make(1.0, 1.5, 1e-4), Catch::Contains("'h'") && Catch::Contains("1.5"));
}

TEST_CASE("bisection refuses h = 0", "[negative]") {
  CHECK_THROWS_WITH(make(1.0, 0.0, 1e-4), Catch::Contains("'h'"));
}

TEST_CASE("bisection refuses tol = h", "[negative]") {
  CHECK_THROWS_WITH(make(1.0, 0.05, 0.05), Catch::Contains("'tol'"));
}

TEST_CASE("bisection refuses tol > h", "[negative]") {
  CHECK_THROWS_WITH(make(1.0, 0.05, 0.1), Catch::Contains("'tol'"));
}

TEST_CASE("bisection refuses tol = 0", "[negative]") {
  CHECK_THROWS_WITH(make(1.0, 0.05, 0.0), Catch::Contains("'tol'"));
}

TEST_CASE("bisection refuses scan_chunk = 0", "[negative]") {
  CHECK_THROWS_WITH(make(1.0, 0.05, 1e-4, 0), Catch::Contains("'scan_chunk'"));
}
