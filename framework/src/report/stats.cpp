// Bootstrap median intervals and the two-sample tests of `genscope report` (see stats.hpp and docs/report.md).
#include "report/stats.hpp"

#include "results/summary.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <random>
#include <stdexcept>

namespace genscope::stats {

double median(std::vector<double> values) {
  if (values.empty()) throw std::invalid_argument("median of an empty sample");
  std::sort(values.begin(), values.end());
  return quantile(values, 0.5);
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
  const std::uint64_t n = values.size();
  std::vector<double> sample(values.size()), medians;
  medians.reserve(resamples);
  for (std::size_t b = 0; b < resamples; ++b) {
    // Index by rejection sampling: the same stream on every platform (unlike std::uniform_int_distribution).
    const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % n;
    for (double& s : sample) {
      std::uint64_t u = rng();
      while (u >= limit) u = rng();
      s = values[u % n];
    }
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

}  // namespace genscope::stats
