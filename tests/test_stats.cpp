// Statistics of `genscope report` against independent oracles: hand-computed cases, brute-force pair counting,
// published values of the Kolmogorov distribution, and properties (symmetry, identical samples, bootstrap shrinkage).
#include "report/stats.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

using namespace genscope;

namespace {

// U of `a` by counting every pair: a > b counts 1, a tie 1/2.
double brute_force_u(const std::vector<double>& a, const std::vector<double>& b) {
  double u = 0;
  for (double x : a)
    for (double y : b) u += x > y ? 1.0 : x == y ? 0.5 : 0.0;
  return u;
}

// D by evaluating both empirical CDFs at every sample point.
double brute_force_d(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0;
  std::vector<double> points = a;
  points.insert(points.end(), b.begin(), b.end());
  for (double p : points) {
    const double fa = static_cast<double>(std::count_if(a.begin(), a.end(), [&](double x) { return x <= p; })) / a.size();
    const double fb = static_cast<double>(std::count_if(b.begin(), b.end(), [&](double x) { return x <= p; })) / b.size();
    d = std::max(d, std::abs(fa - fb));
  }
  return d;
}

std::vector<double> normal_sample(std::size_t n, double mean, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> dist(mean, 1.0);
  std::vector<double> v(n);
  for (double& x : v) x = dist(rng);
  return v;
}

// Values with many ties: integers 0..5.
std::vector<double> tied_sample(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<double> v(n);
  for (double& x : v) x = static_cast<double>(rng() % 6);
  return v;
}

}  // namespace

TEST_CASE("median interpolates between the middle order statistics", "[stats]") {
  CHECK(stats::median({3, 1, 2}) == 2.0);
  CHECK(stats::median({4, 1, 3, 2}) == 2.5);
  CHECK(stats::median({7}) == 7.0);
}

TEST_CASE("Kolmogorov distribution matches published values", "[stats]") {
  // Critical values of the Kolmogorov distribution: Q(1.36) ~ 0.049 (alpha 0.05), Q(1.63) ~ 0.0098 (alpha 0.01),
  // Q(1.224) ~ 0.10; and the series 2 sum (-1)^(k-1) exp(-2 k^2 l^2) evaluated to many terms (scipy's
  // kstwobign.sf gives the same digits: 0.9639452436648751 at 0.5, 0.2699996716773546 at 1).
  CHECK(stats::kolmogorov_q(1.36) == Approx(0.049485876755377876).epsilon(1e-9));
  CHECK(stats::kolmogorov_q(1.63) == Approx(0.009846364888486529).epsilon(1e-9));
  CHECK(stats::kolmogorov_q(1.224) == Approx(0.10).margin(0.001));
  CHECK(stats::kolmogorov_q(0.5) == Approx(0.9639452436648751).epsilon(1e-9));
  CHECK(stats::kolmogorov_q(1.0) == Approx(0.26999967167735456).epsilon(1e-9));
  CHECK(stats::kolmogorov_q(2.0) == Approx(0.0006709252557796953).epsilon(1e-9));
  CHECK(stats::kolmogorov_q(0.0) == 1.0);
  CHECK(stats::kolmogorov_q(0.1) == Approx(1.0).margin(1e-12));
  // The two series agree where the implementation switches between them, and Q decreases.
  CHECK(stats::kolmogorov_q(1.18 - 1e-12) == Approx(stats::kolmogorov_q(1.18 + 1e-12)).epsilon(1e-9));
  double last = 1.0;
  for (double l = 0.05; l < 3.0; l += 0.05) {
    const double q = stats::kolmogorov_q(l);
    CHECK(q <= last + 1e-15);
    last = q;
  }
}

TEST_CASE("Kolmogorov-Smirnov D by hand and by brute force", "[stats]") {
  const auto sep = stats::kolmogorov_smirnov({1, 2, 3}, {4, 5, 6});
  CHECK(sep.statistic == 1.0);
  CHECK(sep.p == Approx(stats::kolmogorov_q(std::sqrt(9.0 / 6.0))).epsilon(1e-12));
  CHECK(stats::kolmogorov_smirnov({1, 2, 3, 4}, {3, 4, 5, 6}).statistic == 0.5);
  for (unsigned seed = 1; seed <= 5; ++seed) {
    const auto a = normal_sample(37, 0.0, seed), b = normal_sample(53, 0.4, seed + 100);
    CHECK(stats::kolmogorov_smirnov(a, b).statistic == Approx(brute_force_d(a, b)).epsilon(1e-12));
    const auto ta = tied_sample(40, seed), tb = tied_sample(25, seed + 7);
    CHECK(stats::kolmogorov_smirnov(ta, tb).statistic == Approx(brute_force_d(ta, tb)).epsilon(1e-12));
    // Symmetric in its arguments.
    CHECK(stats::kolmogorov_smirnov(a, b).p == Approx(stats::kolmogorov_smirnov(b, a).p).epsilon(1e-12));
  }
}

TEST_CASE("Mann-Whitney U by brute-force pair counting and hand-computed p-values", "[stats]") {
  // a = {1,2,3}, b = {4,5,6}: U = 0, mean 4.5, variance 9/12 * 7, z = (4.5 - 0.5)/sqrt(5.25) = 1.74574,
  // p = 2 (1 - Phi(z)) = 0.0808556 (scipy.stats.mannwhitneyu(method="asymptotic") gives 0.0808556).
  const auto r = stats::mann_whitney({1, 2, 3}, {4, 5, 6});
  CHECK(r.statistic == 0.0);
  CHECK(r.z == Approx(1.7457431218879391).epsilon(1e-12));
  CHECK(r.p == Approx(0.0808555983700523).epsilon(1e-9));
  // Ties: a = {1,1,2}, b = {1,2,2}: midranks 2 and 5, U = 3, tie term 2 * (27 - 3) = 48,
  // variance 9/12 * (7 - 48/30) = 4.05, z = (1.5 - 0.5)/sqrt(4.05), p = 0.6192568.
  const auto t = stats::mann_whitney({1, 1, 2}, {1, 2, 2});
  CHECK(t.statistic == 3.0);
  CHECK(t.p == Approx(0.6192567541768621).epsilon(1e-9));
  for (unsigned seed = 1; seed <= 5; ++seed) {
    const auto a = normal_sample(31, 0.0, seed), b = normal_sample(44, 0.3, seed + 50);
    const auto ab = stats::mann_whitney(a, b), ba = stats::mann_whitney(b, a);
    CHECK(ab.statistic == Approx(brute_force_u(a, b)).epsilon(1e-12));
    CHECK(ab.statistic + ba.statistic == Approx(31.0 * 44.0).epsilon(1e-12));
    CHECK(ab.p == Approx(ba.p).epsilon(1e-12));
    const auto ta = tied_sample(30, seed), tb = tied_sample(20, seed + 9);
    CHECK(stats::mann_whitney(ta, tb).statistic == Approx(brute_force_u(ta, tb)).epsilon(1e-12));
  }
  // A clear shift is detected by both tests.
  const auto a = normal_sample(400, 0.0, 3), b = normal_sample(400, 1.0, 4);
  CHECK(stats::mann_whitney(a, b).p < 1e-20);
  CHECK(stats::kolmogorov_smirnov(a, b).p < 1e-20);
}

TEST_CASE("identical samples give p = 1", "[stats]") {
  const auto a = normal_sample(50, 0.0, 11);
  CHECK(stats::mann_whitney(a, a).p == 1.0);
  CHECK(stats::kolmogorov_smirnov(a, a).statistic == 0.0);
  CHECK(stats::kolmogorov_smirnov(a, a).p == 1.0);
  const std::vector<double> c(20, 2.5);
  CHECK(stats::mann_whitney(c, c).p == 1.0);
  CHECK(stats::kolmogorov_smirnov(c, c).p == 1.0);
}

TEST_CASE("bootstrap interval of the median: contains it, deterministic, shrinks with n", "[stats]") {
  const auto small = normal_sample(40, 5.0, 21), large = normal_sample(4000, 5.0, 22);
  const auto s = stats::bootstrap_median(small, 2000, 7), l = stats::bootstrap_median(large, 2000, 7);
  CHECK(s.median == stats::median(small));
  CHECK(s.lo <= s.median);
  CHECK(s.median <= s.hi);
  CHECK(l.lo <= l.median);
  CHECK(l.median <= l.hi);
  // Width ~ 1/sqrt(n): 100 times the samples, about a tenth of the width.
  CHECK(l.hi - l.lo < 0.3 * (s.hi - s.lo));
  CHECK(l.hi - l.lo > 0.0);
  // The large sample's interval covers the true median 5 (not guaranteed, but with this seed and n it is).
  CHECK(l.lo < 5.0);
  CHECK(l.hi > 5.0);
  const auto again = stats::bootstrap_median(small, 2000, 7);
  CHECK(again.lo == s.lo);
  CHECK(again.hi == s.hi);
  const auto none = stats::bootstrap_median(small, 0, 7);
  CHECK(none.lo == none.median);
  CHECK(none.hi == none.median);
}

TEST_CASE("statistics refuse empty samples", "[stats][negative]") {
  CHECK_THROWS_AS(stats::median({}), std::invalid_argument);
  CHECK_THROWS_AS(stats::mann_whitney({}, {1.0}), std::invalid_argument);
  CHECK_THROWS_AS(stats::kolmogorov_smirnov({1.0}, {}), std::invalid_argument);
  CHECK_THROWS_AS(stats::bootstrap_median({}, 10, 1), std::invalid_argument);
}
