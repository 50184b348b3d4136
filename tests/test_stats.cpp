// Statistics of `genscope report` against independent oracles: hand-computed cases, brute-force pair counting,
// published values of the Kolmogorov distribution, and properties (symmetry, identical samples, bootstrap shrinkage);
// Kaplan-Meier curves, quantiles and the log-rank test by hand and against brute force.
#include "report/stats.hpp"

#include <genscope/error.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <stdexcept>
#include <string>

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

// Log-rank statistic computed naively from the raw arrays: for every distinct event time (a std::set of the
// uncensored values), count at risk (value >= t) and events (value == t, uncensored) per group by scanning.
stats::log_rank_result brute_force_log_rank(const std::vector<double>& a, const std::vector<bool>& ca,
                                            const std::vector<double>& b, const std::vector<bool>& cb) {
  std::set<double> times;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!ca[i]) times.insert(a[i]);
  for (std::size_t i = 0; i < b.size(); ++i)
    if (!cb[i]) times.insert(b[i]);
  stats::log_rank_result r;
  for (double t : times) {
    double na = 0, nb = 0, da = 0, db = 0;
    for (std::size_t i = 0; i < a.size(); ++i) na += a[i] >= t, da += a[i] == t && !ca[i];
    for (std::size_t i = 0; i < b.size(); ++i) nb += b[i] >= t, db += b[i] == t && !cb[i];
    const double n = na + nb, d = da + db;
    r.observed_a += da;
    r.expected_a += d * na / n;
    if (n > 1) r.variance += d * na * nb * (n - d) / (n * n * (n - 1));
  }
  r.statistic = (r.observed_a - r.expected_a) * (r.observed_a - r.expected_a) / r.variance;
  r.p = std::erfc(std::sqrt(r.statistic / 2));  // chi-square with 1 d.o.f.: P(X >= x) = P(|N(0,1)| >= sqrt(x))
  return r;
}

// Lengths with ties (multiples of 0.5) and censoring, the censored ones biased to the top as clipped ones are.
void censored_sample(std::size_t n, double scale, unsigned seed, std::vector<double>& v, std::vector<bool>& c) {
  std::mt19937 rng(seed);
  v.resize(n);
  c.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    v[i] = 0.5 * static_cast<double>(1 + rng() % static_cast<unsigned>(20 * scale));
    c[i] = rng() % 100 < (v[i] > 5 * scale ? 40u : 10u);
  }
}

// The message of the genscope::error `f` throws (fails the test when it throws nothing or something else).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const genscope::error& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("not a genscope::error: " << e.what());
  }
  FAIL("no exception");
  return "";
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

TEST_CASE("Kaplan-Meier curve and Greenwood errors by hand", "[stats]") {
  // The classic example, * = censored: 6 6 6 6* 7 9* 10 10* 11* 13. Events come before censorings at the same
  // time, so 6* and 10* are at risk at 6 and 10. Steps (n at risk, d events):
  //   t = 6:  n = 10, d = 3: S = 7/10                    = 0.7
  //   t = 7:  n = 6,  d = 1: S = 0.7 * 5/6               = 0.583333
  //   (9* leaves: no step)
  //   t = 10: n = 4,  d = 1: S = 0.583333 * 3/4          = 0.4375
  //   (11* leaves)
  //   t = 13: n = 1,  d = 1: S = 0.4375 * 0/1            = 0
  // Greenwood sum d/(n(n-d)): 3/70 = 0.0428571; + 1/30 = 8/105 = 0.0761905; + 1/12 = 67/420 = 0.1595238;
  // se = S sqrt(sum): 0.7 * 0.2070197 = 0.1449138; 0.583333 * 0.2760262 = 0.1610153; 0.4375 * 0.3994043 = 0.1747394;
  // at t = 13 S = 0 and the sum is undefined (n = d): se = 0 by the documented convention.
  const std::vector<double> v = {6, 6, 6, 6, 7, 9, 10, 10, 11, 13};
  const std::vector<bool> c = {false, false, false, true, false, true, false, true, true, false};
  const auto km = stats::kaplan_meier(v, c);
  CHECK(km.n == 10);
  CHECK(km.censored == 4);
  CHECK(km.max_value == 13.0);
  REQUIRE(km.steps.size() == 4);
  const double time[] = {6, 7, 10, 13}, surv[] = {0.7, 0.7 * 5 / 6, 0.7 * 5 / 6 * 0.75, 0};
  const double se[] = {0.7 * std::sqrt(3.0 / 70), 0.7 * 5 / 6 * std::sqrt(8.0 / 105), 0.4375 * std::sqrt(67.0 / 420), 0};
  const std::size_t at_risk[] = {10, 6, 4, 1}, events[] = {3, 1, 1, 1}, cens[] = {1, 0, 1, 0};
  for (std::size_t i = 0; i < 4; ++i) {
    INFO("step " << i);
    CHECK(km.steps[i].time == time[i]);
    CHECK(km.steps[i].at_risk == at_risk[i]);
    CHECK(km.steps[i].events == events[i]);
    CHECK(km.steps[i].censored == cens[i]);
    CHECK(km.steps[i].survival == Approx(surv[i]).margin(1e-14));
    CHECK(km.steps[i].se == Approx(se[i]).margin(1e-14));
  }
  CHECK(km.steps[0].se == Approx(0.1449138).epsilon(1e-6));
  CHECK(km.steps[1].se == Approx(0.1610153).epsilon(1e-6));
  CHECK(km.steps[2].se == Approx(0.1747394).epsilon(1e-6));
  // S between and before steps.
  CHECK(km.survival_at(5.9) == 1.0);
  CHECK(km.survival_at(6.0) == Approx(0.7));
  CHECK(km.survival_at(9.0) == Approx(0.583333).epsilon(1e-5));
  CHECK(km.survival_at(12.0) == Approx(0.4375));

  // Median: the first S <= 0.5 is 0.4375 at t = 10; q1: S <= 0.75 at t = 6; q3: S <= 0.25 at t = 13.
  // Brookmeyer-Crowley 95% interval of the median, z = 1.959964: |S - 0.5| <= z se at t = 6 (0.2 <= 0.2840),
  // t = 7 (0.0833 <= 0.3156), t = 10 (0.0625 <= 0.3425), not at t = 13 (S = 0, se = 0): [6, 13].
  const auto med = stats::km_quantile_of(km, 0.5);
  CHECK(med.reached);
  CHECK(med.value == 10.0);
  CHECK(med.lo_reached);
  CHECK(med.hi_reached);
  CHECK(med.lo == 6.0);
  CHECK(med.hi == 13.0);
  CHECK(stats::km_quantile_of(km, 0.25).value == 6.0);
  CHECK(stats::km_quantile_of(km, 0.75).value == 13.0);
}

TEST_CASE("Kaplan-Meier without censoring is the empirical distribution", "[stats]") {
  // Without censoring S(t) = 1 - F_n(t), Greenwood's variance reduces to S(1-S)/n, and the KM median is the
  // smallest t with F_n(t) >= 0.5 (the lower median x_(ceil(n/2)), not numpy's interpolated one).
  for (unsigned seed = 1; seed <= 6; ++seed) {
    const std::size_t n = 20 + seed;  // odd and even sizes
    const auto v = tied_sample(n, seed);
    const auto km = stats::kaplan_meier(v, std::vector<bool>(n, false));
    const auto ecdf = [&](double t) {
      return static_cast<double>(std::count_if(v.begin(), v.end(), [&](double x) { return x <= t; })) / n;
    };
    for (const auto& s : km.steps) {
      CHECK(s.survival == Approx(1 - ecdf(s.time)).margin(1e-12));
      CHECK(s.se == Approx(std::sqrt(s.survival * (1 - s.survival) / n)).margin(1e-12));
    }
    for (double q : {0.25, 0.5, 0.75}) {
      double smallest = 1e300;
      for (double t : v)
        if (ecdf(t) >= q) smallest = std::min(smallest, t);
      const auto k = stats::km_quantile_of(km, q);
      INFO("seed " << seed << " q " << q);
      CHECK(k.reached);
      CHECK(k.value == smallest);
    }
  }
  // 1..20 uncensored: median 10 (F = 0.5 exactly there). Interval: |S - 0.5| <= 1.96 sqrt(S(1-S)/20) holds from
  // S = 0.7 (t = 6: 0.2 <= 0.2008; t = 5: 0.25 > 0.1898) to S = 0.3 (t = 14), so it ends at t = 15: [6, 15].
  std::vector<double> v(20);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(20 - i);  // unsorted input
  const auto med = stats::km_quantile_of(stats::kaplan_meier(v, std::vector<bool>(20, false)), 0.5);
  CHECK(med.value == 10.0);
  CHECK(med.lo == 6.0);
  CHECK(med.hi == 15.0);
  CHECK(med.hi_reached);
}

TEST_CASE("Kaplan-Meier quantiles not reached when the top of the sample is censored", "[stats]") {
  // 1 2 3 4* 5* 6* 7*: four of seven censored at the top. S = 6/7, 5/7, 4/7 = 0.571 at t = 1, 2, 3 and never
  // reaches 0.5: the median is not reached, known only to exceed 7 (the largest observation). q1 is reached at
  // t = 2 (5/7 <= 0.75). Median interval: |S - 0.5| <= z se fails at t = 1 (0.357 > 0.259), holds at t = 2
  // (0.214 <= 0.335) and t = 3 (0.071 <= 0.367), the last step with S > 0: lower end 2, upper end not reached.
  const std::vector<double> v = {5, 1, 7, 2, 6, 3, 4};
  const std::vector<bool> c = {true, false, true, false, true, false, true};
  const auto km = stats::kaplan_meier(v, c);
  const auto med = stats::km_quantile_of(km, 0.5);
  CHECK_FALSE(med.reached);
  CHECK(med.value == 7.0);
  CHECK(med.lo_reached);
  CHECK(med.lo == 2.0);
  CHECK_FALSE(med.hi_reached);
  CHECK(med.hi == 7.0);
  const auto q1 = stats::km_quantile_of(km, 0.25);
  CHECK(q1.reached);
  CHECK(q1.value == 2.0);
  CHECK_FALSE(stats::km_quantile_of(km, 0.75).reached);
  // Every observation censored: no step, nothing reached.
  const auto none = stats::km_quantile_of(stats::kaplan_meier({3, 1, 2}, {true, true, true}), 0.5);
  CHECK_FALSE(none.reached);
  CHECK_FALSE(none.lo_reached);
  CHECK_FALSE(none.hi_reached);
  CHECK(none.value == 3.0);
}

TEST_CASE("log-rank test by hand and against brute force", "[stats]") {
  // a = 1 3 3 4*, b = 2 3 3* 5. Distinct event times, (n_a, n_b, d_a, d_b):
  //   t = 1: (4, 4, 1, 0): E_a += 1 * 4/8 = 0.5;   V += 1 * (4/8)(4/8)(7/7)   = 0.25
  //   t = 2: (3, 4, 0, 1): E_a += 1 * 3/7;         V += 1 * (3/7)(4/7)(6/6)   = 12/49
  //   t = 3: (3, 3, 2, 1): E_a += 3 * 3/6 = 1.5;   V += 3 * (3/6)(3/6)(3/5)   = 0.45   (3* at risk at 3)
  //   t = 5: (0, 1, 0, 1): E_a += 0;               n = 1: no variance term
  // O_a = 3, E_a = 17/7, V = 0.7 + 12/49 = 46.3/49; chi2 = (4/7)^2 / V = 16/46.3 = 0.3455724,
  // p = P(chi2_1 >= 0.3455724) = erfc(sqrt(0.3455724 / 2)) = 0.5566303.
  const auto r = stats::log_rank({1, 3, 3, 4}, {false, false, false, true}, {2, 3, 3, 5}, {false, false, true, false});
  CHECK(r.observed_a == 3.0);
  CHECK(r.expected_a == Approx(17.0 / 7).epsilon(1e-12));
  CHECK(r.variance == Approx(46.3 / 49).epsilon(1e-12));
  CHECK(r.statistic == Approx(16 / 46.3).epsilon(1e-12));
  CHECK(r.p == Approx(0.556630278160234).epsilon(1e-9));
  // Swapping the groups: same statistic and p.
  const auto s = stats::log_rank({2, 3, 3, 5}, {false, false, true, false}, {1, 3, 3, 4}, {false, false, false, true});
  CHECK(s.statistic == Approx(r.statistic).epsilon(1e-12));
  CHECK(s.p == Approx(r.p).epsilon(1e-12));

  for (unsigned seed = 1; seed <= 8; ++seed) {
    std::vector<double> a, b;
    std::vector<bool> ca, cb;
    censored_sample(40 + seed, 1.0, seed, a, ca);
    censored_sample(55 - seed, seed % 2 ? 1.0 : 1.5, seed + 100, b, cb);
    const auto got = stats::log_rank(a, ca, b, cb), want = brute_force_log_rank(a, ca, b, cb);
    INFO("seed " << seed);
    CHECK(got.observed_a == want.observed_a);
    CHECK(got.expected_a == Approx(want.expected_a).epsilon(1e-12));
    CHECK(got.variance == Approx(want.variance).epsilon(1e-12));
    CHECK(got.statistic == Approx(want.statistic).epsilon(1e-10));
    CHECK(got.p == Approx(want.p).epsilon(1e-9));
  }
  // A clear shift is detected; identical samples give chi2 = 0 and p = 1; no events at all: V = 0, p = 1.
  std::vector<double> a, b;
  std::vector<bool> ca, cb;
  censored_sample(300, 1.0, 3, a, ca);
  censored_sample(300, 3.0, 4, b, cb);
  CHECK(stats::log_rank(a, ca, b, cb).p < 1e-10);
  CHECK(stats::log_rank(a, ca, a, ca).statistic == Approx(0.0).margin(1e-12));
  CHECK(stats::log_rank(a, ca, a, ca).p == Approx(1.0).margin(1e-12));
  const auto none = stats::log_rank({1, 2}, {true, true}, {3}, {true});
  CHECK(none.variance == 0.0);
  CHECK(none.p == 1.0);
}

TEST_CASE("censored statistics refuse empty, mismatched and NaN samples", "[stats][negative]") {
  const double nan = std::nan("");
  CHECK_THAT(error_of([] { stats::kaplan_meier({}, {}); }), Catch::Contains("Kaplan-Meier") && Catch::Contains("empty"));
  CHECK_THAT(error_of([] { stats::kaplan_meier({1, 2}, {false}); }),
             Catch::Contains("2 values but 1 censoring flags"));
  CHECK_THAT(error_of([&] { stats::kaplan_meier({1, nan}, {false, false}); }),
             Catch::Contains("NaN value (index 1)"));
  CHECK_THAT(error_of([] { stats::log_rank({}, {}, {1}, {false}); }), Catch::Contains("log-rank test: sample a is empty"));
  CHECK_THAT(error_of([] { stats::log_rank({1}, {false}, {}, {}); }), Catch::Contains("log-rank test: sample b is empty"));
  CHECK_THAT(error_of([] { stats::log_rank({1}, {false}, {1, 2}, {false}); }),
             Catch::Contains("sample b has 2 values but 1 censoring flags"));
  CHECK_THAT(error_of([&] { stats::log_rank({nan}, {false}, {1}, {false}); }), Catch::Contains("sample a has a NaN"));
  const auto km = stats::kaplan_meier({1, 2, 3}, {false, false, false});
  for (double q : {0.0, 1.0, -0.5, nan})
    CHECK_THAT(error_of([&] { stats::km_quantile_of(km, q); }), Catch::Contains("not in (0, 1)"));
  CHECK_THAT(error_of([&] { stats::km_quantile_of(km, 0.5, 1.0); }), Catch::Contains("confidence level"));
  CHECK_THAT(error_of([] { stats::km_quantile_of(stats::km_curve{}, 0.5); }), Catch::Contains("no observations"));
}
