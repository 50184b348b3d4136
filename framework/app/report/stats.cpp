// Bootstrap median intervals, the two-sample tests of `genscope report`, Kaplan-Meier curves and quantiles and the
// log-rank test (see stats.hpp and docs/report.md).
#include "report/stats.hpp"

#include "inspect/summary.hpp"

#include <genscope/error.hpp>

#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/normal.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <numbers>
#include <random>
#include <stdexcept>
#include <string>

namespace genscope::stats {

double median(std::vector<double> values) {
  if (values.empty()) throw std::invalid_argument("median of an empty sample");
  std::sort(values.begin(), values.end());
  return quantile(values, 0.5);
}

void resample_with_replacement(std::mt19937_64& rng, const std::vector<double>& from, std::vector<double>& to) {
  // Indices by rejection sampling: the same stream on every platform (unlike std::uniform_int_distribution).
  const std::uint64_t n = from.size();
  const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % n;
  for (double& v : to) {
    std::uint64_t u = rng();
    while (u >= limit) u = rng();
    v = from[u % n];
  }
}

median_interval bootstrap_median(const std::vector<double>& values, std::size_t resamples, std::uint64_t seed,
                                 double level) {
  median_interval r;
  r.median = median(values);
  if (resamples == 0) {
    r.lo = r.hi = r.median;
    return r;
  }
  std::mt19937_64 rng(seed);
  std::vector<double> sample(values.size()), medians;
  medians.reserve(resamples);
  for (std::size_t b = 0; b < resamples; ++b) {
    resample_with_replacement(rng, values, sample);
    std::sort(sample.begin(), sample.end());
    medians.push_back(quantile(sample, 0.5));
  }
  std::sort(medians.begin(), medians.end());
  r.lo = quantile(medians, (1 - level) / 2);
  r.hi = quantile(medians, (1 + level) / 2);
  return r;
}

namespace {

double normal_sf(double z) { return 0.5 * std::erfc(z / std::numbers::sqrt2); }

}  // namespace

test_result mann_whitney(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.empty() || b.empty()) throw std::invalid_argument("Mann-Whitney U of an empty sample");
  struct item {
    double v;
    bool first;
  };
  std::vector<item> all;
  all.reserve(a.size() + b.size());
  for (double v : a) all.push_back({v, true});
  for (double v : b) all.push_back({v, false});
  std::sort(all.begin(), all.end(), [](const item& x, const item& y) { return x.v < y.v; });
  const double n1 = static_cast<double>(a.size()), n2 = static_cast<double>(b.size()), n = n1 + n2;
  double rank_sum = 0, tie_term = 0;
  for (std::size_t i = 0; i < all.size();) {
    std::size_t j = i;
    while (j < all.size() && all[j].v == all[i].v) ++j;
    const double mid = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;  // ranks i+1 .. j
    for (std::size_t k = i; k < j; ++k)
      if (all[k].first) rank_sum += mid;
    const double t = static_cast<double>(j - i);
    tie_term += t * t * t - t;
    i = j;
  }
  test_result r;
  r.statistic = rank_sum - n1 * (n1 + 1) / 2;
  const double mean = n1 * n2 / 2;
  const double var = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)));
  if (!(var > 0)) {  // every value equal: no evidence of a difference
    r.z = 0;
    r.p = 1;
    return r;
  }
  const double diff = std::abs(r.statistic - mean);
  r.z = std::max(0.0, diff - 0.5) / std::sqrt(var);
  r.p = std::min(1.0, 2 * normal_sf(r.z));
  return r;
}

double kolmogorov_q(double lambda) {
  if (lambda <= 0) return 1;
  if (lambda < 1.18) {
    // Jacobi theta form, fast for small lambda: 1 - sqrt(2 pi)/lambda sum exp(-(2k-1)^2 pi^2 / (8 lambda^2)).
    const double c = std::numbers::pi * std::numbers::pi / (8 * lambda * lambda);
    double s = 0;
    for (int k = 1; k <= 100; ++k) {
      const double term = std::exp(-(2.0 * k - 1) * (2.0 * k - 1) * c);
      s += term;
      if (term < 1e-17 * s) break;
    }
    return std::clamp(1 - std::sqrt(2 * std::numbers::pi) / lambda * s, 0.0, 1.0);
  }
  double s = 0;
  for (int k = 1; k <= 100; ++k) {
    const double term = std::exp(-2.0 * k * k * lambda * lambda);
    s += (k % 2 == 1 ? term : -term);
    if (term < 1e-17) break;
  }
  return std::clamp(2 * s, 0.0, 1.0);
}

test_result kolmogorov_smirnov(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.empty() || b.empty()) throw std::invalid_argument("Kolmogorov-Smirnov of an empty sample");
  std::vector<double> x = a, y = b;
  std::sort(x.begin(), x.end());
  std::sort(y.begin(), y.end());
  const double n = static_cast<double>(x.size()), m = static_cast<double>(y.size());
  std::size_t i = 0, j = 0;
  double d = 0;
  while (i < x.size() && j < y.size()) {
    const double v = std::min(x[i], y[j]);
    while (i < x.size() && x[i] == v) ++i;
    while (j < y.size() && y[j] == v) ++j;
    d = std::max(d, std::abs(static_cast<double>(i) / n - static_cast<double>(j) / m));
  }
  test_result r;
  r.statistic = d;
  r.p = kolmogorov_q(std::sqrt(n * m / (n + m)) * d);
  return r;
}

namespace {

// Empty samples, sizes that differ and NaN values are refused with the function's name.
void check_censored_sample(const char* what, const char* which, const std::vector<double>& values,
                           const std::vector<bool>& censored) {
  const std::string name = *which ? fmt::format("sample {}", which) : std::string("the sample");
  if (values.empty()) throw error(fmt::format("{}: {} is empty", what, name));
  if (values.size() != censored.size())
    throw error(fmt::format("{}: {} has {} values but {} censoring flags", what, name, values.size(),
                            censored.size()));
  for (std::size_t i = 0; i < values.size(); ++i)
    if (std::isnan(values[i])) throw error(fmt::format("{}: {} has a NaN value (index {})", what, name, i));
}

struct observation {
  double value;
  bool censored;
};

std::vector<observation> sorted_observations(const std::vector<double>& values, const std::vector<bool>& censored) {
  std::vector<observation> obs(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) obs[i] = {values[i], censored[i]};
  std::sort(obs.begin(), obs.end(), [](const observation& a, const observation& b) { return a.value < b.value; });
  return obs;
}

}  // namespace

double km_curve::survival_at(double t) const {
  // The last step with time <= t.
  const auto it = std::upper_bound(steps.begin(), steps.end(), t,
                                   [](double v, const km_step& s) { return v < s.time; });
  return it == steps.begin() ? 1.0 : std::prev(it)->survival;
}

km_curve kaplan_meier(const std::vector<double>& values, const std::vector<bool>& censored) {
  check_censored_sample("Kaplan-Meier", "", values, censored);
  const std::vector<observation> obs = sorted_observations(values, censored);
  km_curve c;
  c.n = obs.size();
  c.max_value = obs.back().value;
  double s = 1, greenwood = 0;
  for (std::size_t i = 0; i < obs.size();) {
    std::size_t j = i, events = 0;
    while (j < obs.size() && obs[j].value == obs[i].value) events += !obs[j].censored, ++j;
    const std::size_t at_risk = obs.size() - i, cens = (j - i) - events;
    c.censored += cens;
    if (events > 0) {
      const double n = static_cast<double>(at_risk), d = static_cast<double>(events);
      s *= 1 - d / n;
      if (events < at_risk) greenwood += d / (n * (n - d));
      c.steps.push_back({obs[i].value, at_risk, events, cens, s, events < at_risk ? s * std::sqrt(greenwood) : 0.0});
    }
    i = j;
  }
  return c;
}

km_quantile km_quantile_of(const km_curve& curve, double q, double level) {
  if (!(q > 0 && q < 1)) throw error(fmt::format("Kaplan-Meier quantile: q = {} is not in (0, 1)", q));
  if (!(level > 0 && level < 1))
    throw error(fmt::format("Kaplan-Meier quantile: confidence level {} is not in (0, 1)", level));
  if (curve.n == 0) throw error("Kaplan-Meier quantile: the curve has no observations");
  const double p = 1 - q, z = boost::math::quantile(boost::math::normal(), (1 + level) / 2);
  km_quantile r;
  r.q = q;
  r.value = r.lo = r.hi = curve.max_value;
  r.reached = r.lo_reached = r.hi_reached = false;
  const auto& st = curve.steps;
  for (const km_step& s : st)
    if (s.survival <= p * (1 + 1e-9)) {
      r.value = s.time;
      r.reached = true;
      break;
    }
  // Brookmeyer-Crowley: the steps i with |S_i - p| <= z se_i; S is constant from t_i to t_{i+1}.
  std::size_t last = st.size();
  for (std::size_t i = 0; i < st.size(); ++i)
    if (std::abs(st[i].survival - p) <= z * st[i].se) {
      if (!r.lo_reached) r.lo = st[i].time, r.lo_reached = true;
      last = i;
    }
  if (last + 1 < st.size()) {
    r.hi = st[last + 1].time;
    r.hi_reached = true;
  }
  return r;
}

log_rank_result log_rank(const std::vector<double>& a_values, const std::vector<bool>& a_censored,
                         const std::vector<double>& b_values, const std::vector<bool>& b_censored) {
  check_censored_sample("log-rank test", "a", a_values, a_censored);
  check_censored_sample("log-rank test", "b", b_values, b_censored);
  // Pooled and sorted, with the group of each observation; walk the distinct values in order.
  struct item {
    double value;
    bool censored, in_a;
  };
  std::vector<item> all;
  all.reserve(a_values.size() + b_values.size());
  for (std::size_t i = 0; i < a_values.size(); ++i) all.push_back({a_values[i], a_censored[i], true});
  for (std::size_t i = 0; i < b_values.size(); ++i) all.push_back({b_values[i], b_censored[i], false});
  std::sort(all.begin(), all.end(), [](const item& x, const item& y) { return x.value < y.value; });
  double at_risk_a = static_cast<double>(a_values.size()), at_risk_b = static_cast<double>(b_values.size());
  log_rank_result r;
  for (std::size_t i = 0; i < all.size();) {
    std::size_t j = i;
    double d_a = 0, d_b = 0, leave_a = 0, leave_b = 0;
    for (; j < all.size() && all[j].value == all[i].value; ++j) {
      (all[j].in_a ? leave_a : leave_b) += 1;
      if (!all[j].censored) (all[j].in_a ? d_a : d_b) += 1;
    }
    const double n = at_risk_a + at_risk_b, d = d_a + d_b;
    if (d > 0) {
      r.observed_a += d_a;
      r.expected_a += d * at_risk_a / n;
      if (n > 1) r.variance += d * (at_risk_a / n) * (at_risk_b / n) * (n - d) / (n - 1);
    }
    at_risk_a -= leave_a;
    at_risk_b -= leave_b;
    i = j;
  }
  if (r.variance > 0) {
    const double diff = r.observed_a - r.expected_a;
    r.statistic = diff * diff / r.variance;
    r.p = boost::math::cdf(boost::math::complement(boost::math::chi_squared(1.0), r.statistic));
  }
  return r;
}

}  // namespace genscope::stats
