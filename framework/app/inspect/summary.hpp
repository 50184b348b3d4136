// Summary statistics of a results file per run and direction kind, and per analysis table (`genscope inspect`).
#pragma once

#include "report/stats.hpp"
#include "inspect/analysis_summary.hpp"

#include <genscope/export.hpp>

#include <cstddef>
#include <iosfwd>
#include <string>
#include <vector>

namespace genscope {

struct summary_row {
  std::string run;
  std::string kind;
  std::size_t count = 0;
  /// Quartiles of the interval length in input units ignoring censoring (numpy's definition, as pandas';
  /// clipped lengths taken at their observed values). `genscope inspect` prints the Kaplan-Meier ones below.
  double length_q1 = 0, length_median = 0, length_q3 = 0;
  /// Kaplan-Meier quartiles of the length, a probe with an end clipped or cut by max_regions being right-censored (its true length
  /// is at least the observed one); the median with its Brookmeyer-Crowley 95% interval (stats::km_quantile_of).
  stats::km_quantile km_q1, km_median, km_q3;
  std::size_t censored = 0;  ///< probes with status_censored bits: their length is right-censored
  double t_hi_median = 0;
  double interpolated = -1;  ///< of the probes with partner_t > 0, the fraction with t_hi >= partner_t (-1: none)
  double clipped_lo = 0;     ///< fraction whose lower end reached -T without a class change
  double clipped_hi = 0;     ///< fraction whose upper end reached +T without a class change
  double mean_cost = 0;      ///< forward passes per probe
  double regions_median = -1;  ///< linear regions crossed by the interval (-1: not measured)
  double regions_mean = -1;
};

/// Where a run's time went: inside the sampler and the estimator (summed over worker threads).
struct run_cost {
  std::string run;
  std::string sampler;         ///< item name
  std::string sampler_plugin;
  std::size_t probes = 0;
  double prepare_seconds = -1;   ///< sampler prepare(), e.g. the k-NN graph (-1: not recorded)
  double sampling_seconds = -1;  ///< sampler sample() calls, summed over threads
  double estimator_seconds = -1; ///< estimator calls, summed over threads
  double wall_seconds = -1;      ///< the run from start to end
};

struct results_summary {
  /// A shard's results (genscope run --shard I/N): its index and the shard count; {0, 0} for whole results.
  std::size_t shard_index = 0, shard_count = 0;
  std::vector<summary_row> rows;  ///< per run and direction kind
  std::vector<run_cost> runs;     ///< per run
  std::vector<table_group_summary> analyses;  ///< per analysis table and group
};

/// Reads every run and analysis table of a results file (complete or partial). Throws io_error
/// naming the file when it is missing or not a GenScope results file.
GENSCOPE_API results_summary summarize(const std::string& path);

/// Prints, for a shard's results, a line saying the rows are that shard's only; then the rows as an aligned table (Kaplan-Meier length quartiles, the median's 95% interval, `>x` where a
/// quantile or interval end is not reached, the censored fraction, clipping per end, ...), a footnote explaining
/// the columns, then the cost of each run, then each analysis table's columns per group.
GENSCOPE_API void print_summary(const results_summary& summary, std::ostream& out);

/// Quantile with linear interpolation between order statistics (numpy's default);
/// `sorted` must be sorted and non-empty.
GENSCOPE_API double quantile(const std::vector<double>& sorted, double q);

}  // namespace genscope
