// Summary statistics of a results file per run and direction kind (`genscope inspect`).
#pragma once

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
  double length_q1 = 0, length_median = 0, length_q3 = 0;  ///< interval length in input units
  double t_hi_median = 0;
  double interpolated = -1;  ///< fraction with t_hi >= 1 (pairwise kinds only; -1 otherwise)
  double clipped_lo = 0;     ///< fraction whose lower end reached -T without a class change
  double clipped_hi = 0;     ///< fraction whose upper end reached +T without a class change
  double mean_cost = 0;      ///< forward passes per probe
  double regions_median = -1;  ///< linear regions crossed by the interval (-1: not measured)
  double regions_mean = -1;
};

/// Reads every run of a results file (complete or partial). Throws io_error
/// naming the file when it is missing or not a GenScope results file.
GENSCOPE_API std::vector<summary_row> summarize(const std::string& path);

/// Prints rows as an aligned table.
GENSCOPE_API void print_summary(const std::vector<summary_row>& rows, std::ostream& out);

/// Quantile with linear interpolation between order statistics (numpy's default);
/// `sorted` must be sorted and non-empty.
GENSCOPE_API double quantile(const std::vector<double>& sorted, double q);

}  // namespace genscope
