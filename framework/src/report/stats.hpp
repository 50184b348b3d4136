// Two-sample statistics for `genscope report`: bootstrap intervals of the median, Mann-Whitney U, Kolmogorov-Smirnov.
#pragma once

#include <genscope/export.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace genscope::stats {

/// Median with linear interpolation (numpy's default); `values` need not be sorted, must be non-empty.
GENSCOPE_API double median(std::vector<double> values);

struct median_interval {
  double median = 0;
  double lo = 0, hi = 0;  ///< percentile bootstrap interval
};

/// Percentile bootstrap interval of the median: `resamples` resamples with replacement drawn from a
/// std::mt19937_64 seeded with `seed` (deterministic), interval = the (1-level)/2 and (1+level)/2
/// quantiles of the resampled medians. `values` must be non-empty.
GENSCOPE_API median_interval bootstrap_median(const std::vector<double>& values, std::size_t resamples,
                                              std::uint64_t seed, double level = 0.95);

struct test_result {
  double statistic = 0;  ///< U of the first sample (Mann-Whitney) or D (Kolmogorov-Smirnov)
  double z = 0;          ///< Mann-Whitney: the standardized statistic (0 for KS)
  double p = 1;          ///< two-sided p-value
};

/// Mann-Whitney U test, two-sided, normal approximation with tie correction and continuity
/// correction (scipy.stats.mannwhitneyu(method="asymptotic", use_continuity=True)).
/// U counts pairs (a, b) with a > b plus half the ties. Both samples must be non-empty.
GENSCOPE_API test_result mann_whitney(const std::vector<double>& a, const std::vector<double>& b);

/// Kolmogorov distribution survival function Q_KS(lambda) = 2 sum_{k>=1} (-1)^(k-1) exp(-2 k^2 lambda^2).
GENSCOPE_API double kolmogorov_q(double lambda);

/// Two-sample Kolmogorov-Smirnov: D = sup |F_a - F_b|, p = Q_KS(sqrt(n m / (n + m)) * D) (asymptotic).
GENSCOPE_API test_result kolmogorov_smirnov(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace genscope::stats
