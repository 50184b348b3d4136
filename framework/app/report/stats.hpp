// Statistics for `genscope report` and `genscope inspect`: bootstrap intervals of the median, Mann-Whitney U,
// Kolmogorov-Smirnov, and for right-censored samples (clipped interval ends) Kaplan-Meier curves, their quantiles
// with Brookmeyer-Crowley intervals, and the log-rank test.
#pragma once

#include <genscope/export.hpp>

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace genscope::stats {

/// Median with linear interpolation (numpy's default); `values` need not be sorted, must be non-empty.
GENSCOPE_API double median(std::vector<double> values);

/// Fills `to` (its size kept) with values drawn uniformly with replacement from `from` (non-empty),
/// by rejection sampling on `rng`: the same stream on every platform, unlike std::uniform_int_distribution.
GENSCOPE_API void resample_with_replacement(std::mt19937_64& rng, const std::vector<double>& from,
                                            std::vector<double>& to);

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

// ---- right-censored samples ------------------------------------------------------------------------------
//
// An observation is a value (an interval length) and a flag: censored means the true value is only known to be
// >= the value (an interval end reached the search limit T without a class change). The functions below take
// the values and the flags as two vectors of the same size. They throw genscope::error, naming the function
// and what is wrong, for an empty sample, sizes that differ, or a NaN value (infinite values are allowed).

/// One step of a Kaplan-Meier curve: a distinct value at which at least one event (uncensored observation) lies.
struct km_step {
  double time = 0;          ///< the value
  std::size_t at_risk = 0;  ///< n_i: observations (events or censored) with value >= time
  std::size_t events = 0;   ///< d_i: events with value == time
  std::size_t censored = 0; ///< censored observations with value == time (they are at risk at `time`)
  double survival = 1;      ///< S(time) = prod over steps j <= i of (1 - d_j / n_j); S is right-continuous
  /// Greenwood's standard error of S(time): S * sqrt(sum_{j <= i} d_j / (n_j (n_j - d_j))).
  /// 0 where S(time) = 0 (the last observations were all events; the sum is undefined there).
  double se = 0;
};

/// A Kaplan-Meier estimate of the survival function S(t) = P(value > t).
struct km_curve {
  std::vector<km_step> steps;      ///< by increasing time; empty when every observation is censored
  std::size_t n = 0;               ///< observations
  std::size_t censored = 0;        ///< censored observations
  double max_value = 0;            ///< the largest observation (event or censored): the end of follow-up
  /// S at `t` (1 before the first step, constant between steps). Undefined, and reported as the last step's
  /// value, beyond max_value.
  GENSCOPE_API double survival_at(double t) const;
};

/// The Kaplan-Meier estimate of `values`, where censored[i] marks values[i] as right-censored.
/// Ties follow the standard convention: at a value shared by events and censored observations, the events
/// come first, so the censored ones are still at risk there (n_i counts every value >= t_i).
GENSCOPE_API km_curve kaplan_meier(const std::vector<double>& values, const std::vector<bool>& censored);

/// A quantile of a Kaplan-Meier curve with its confidence interval.
struct km_quantile {
  double q = 0.5;      ///< the probability (0.5: the median)
  /// The smallest event time t with S(t) <= 1 - q (up to a relative tolerance of 1e-9 on 1 - q, so that
  /// a product of factors that equals 1 - q exactly counts). Not reached (S stays above 1 - q, because the
  /// largest values are censored): `value` is max_value, a lower bound of the quantile.
  double value = 0;
  bool reached = true;
  /// Brookmeyer-Crowley interval with Greenwood's standard error, untransformed (the original 1982 method):
  /// the set of t with |S(t) - (1 - q)| <= z se(t), z = the (1 + level)/2 standard normal quantile, S and se
  /// evaluated on the step function (S = 1 and se = 0 before the first step). lo is the smallest event time in
  /// the set; hi is the event time at which the set ends (the first step after the set's last step).
  /// lo_reached = false: the set is empty (lo = max_value, a lower bound); hi_reached = false: the set extends
  /// to the last step, whose S > 0, so the upper end lies beyond the data (hi = max_value, a lower bound).
  double lo = 0, hi = 0;
  bool lo_reached = true, hi_reached = true;
};

/// The q-quantile (0 < q < 1) of `curve` with its `level` (0 < level < 1) Brookmeyer-Crowley interval.
/// Throws genscope::error for q or level outside (0, 1) or a curve without observations.
GENSCOPE_API km_quantile km_quantile_of(const km_curve& curve, double q, double level = 0.95);

/// Log-rank (Mantel-Cox) test of two right-censored samples a and b.
struct log_rank_result {
  double statistic = 0;   ///< (O_a - E_a)^2 / V, chi-square with 1 degree of freedom under H0 (0 when V = 0)
  double observed_a = 0;  ///< O_a: events in a
  double expected_a = 0;  ///< E_a = sum over distinct event times of d_i n_a,i / n_i (pooled d_i and n_i)
  double variance = 0;    ///< V = sum of d_i (n_a,i / n_i) (n_b,i / n_i) (n_i - d_i) / (n_i - 1) over n_i > 1
  double p = 1;           ///< two-sided p = P(chi2_1 >= statistic) (Boost.Math); 1 when V = 0
};

/// Log-rank test that a and b come from the same survival function: at every distinct event time t_i of the
/// pooled sample, n_i counts the observations >= t_i (at risk; censored ones at t_i included, as in
/// kaplan_meier) and d_i the events at t_i, per group. No continuity correction (as R's survdiff).
GENSCOPE_API log_rank_result log_rank(const std::vector<double>& a_values, const std::vector<bool>& a_censored,
                                      const std::vector<double>& b_values, const std::vector<bool>& b_censored);

}  // namespace genscope::stats
