// The report's view of analysis tables, and Novak et al. (2018)'s sensitivity against generalization: per analysed
// model (label regime), accuracy on its training and test points, Jacobian norms and ellipse transitions there, the
// ROC AUC of the Jacobian norm for a test point's misclassification; across regimes, correlations with exact
// permutation p-values (docs/report.md, "Sensitivity and generalization"; docs/science.md, "Sensitivity").
#pragma once

#include "h5/h5.hpp"

#include <genscope/export.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace genscope::report {

inline constexpr double not_available = std::numeric_limits<double>::quiet_NaN();

// ---- reading a results file for the report ----------------------------------------------------------------------

/// Attribute `name` of `g` as text: a string as is, a number formatted ({:.6g} for a real); "" when absent or of
/// another type.
GENSCOPE_API std::string attr_text(const h5::group& g, const char* name);

/// A number as the report's tables write it: {:.6g}, "nan" for NaN.
GENSCOPE_API std::string num(double v);

/// One table of an analysis (/analyses/<analysis>/<table>).
struct analysis_table_info {
  std::string name, description;
  std::vector<std::string> columns;   ///< declared columns, in order (the `columns` attribute)
  std::vector<std::string> measures;  ///< measured numeric columns (the `measures` attribute)
  std::string group_by;               ///< a column name, or "" for none
  std::size_t rows = 0;
};

/// One analysis (/analyses/<name>) with its attributes.
struct analysis_info {
  std::string name, plugin, version, options, model, model_digest;
  std::vector<std::string> datasets;
  bool complete = false;  ///< the `complete` attribute is 1: every table was written to the end
  std::vector<analysis_table_info> tables;
};

/// Every analysis of an open results file, in file order (none when the file has no /analyses group), checked
/// against its own declarations: each declared column exists, the measured columns and the group column are
/// declared, and those have one value per row (`rows`, or the group column's length when a partial file lacks
/// it). Throws io_error naming the file and the object at fault.
GENSCOPE_API std::vector<analysis_info> read_analyses(const h5::group& root);

/// The label regime of data set `dataset` from /provenance/datasets/<dataset>: its `label_mode` ("real",
/// "random"), "corrupt p=<corruption>" for label_mode "corrupt", or "unknown" when the file does not say.
GENSCOPE_API std::string label_regime(const h5::group& root, const std::string& dataset);

// ---- statistics ------------------------------------------------------------------------------------------------

/// ROC AUC of a score for telling positives from negatives: the probability that a random positive scores higher
/// than a random negative, ties counted half, i.e. the Mann-Whitney U of the positives divided by
/// n_pos * n_neg (stats::mann_whitney). NaN when either sample is empty.
GENSCOPE_API double roc_auc(const std::vector<double>& positives, const std::vector<double>& negatives);

struct auc_interval {
  double auc = not_available;
  double lo = not_available, hi = not_available;  ///< percentile bootstrap interval
};

/// roc_auc with a stratified percentile bootstrap interval: each of `resamples` resamples draws n_pos positives and
/// n_neg negatives with replacement (indices from std::mt19937_64(seed) by rejection sampling, as
/// stats::bootstrap_median); the interval is the (1 - level)/2 and (1 + level)/2 quantiles (linear interpolation)
/// of the resampled AUCs. resamples = 0: lo = hi = auc. All NaN when either sample is empty.
GENSCOPE_API auc_interval bootstrap_auc(const std::vector<double>& positives, const std::vector<double>& negatives,
                                        std::size_t resamples, std::uint64_t seed, double level = 0.95);

/// Pearson's r of paired samples; NaN when they have fewer than 2 pairs or either has no variance.
GENSCOPE_API double pearson(const std::vector<double>& x, const std::vector<double>& y);

/// Spearman's rho: Pearson's r of the ranks (ties get their average rank).
GENSCOPE_API double spearman(const std::vector<double>& x, const std::vector<double>& y);

/// The largest sample for which permutation_p enumerates every permutation (8! = 40,320).
inline constexpr std::size_t max_exact_permutation_n = 8;

/// Exact two-sided permutation p-value of a correlation: the fraction of all n! orderings of y (the observed one
/// included) whose correlation with x is at least as large in absolute value as the observed one (up to a
/// relative 1e-9). `spearman_rank` chooses Spearman's rho, else Pearson's r. NaN when n > max_exact_permutation_n
/// (not computed) or when the observed correlation is NaN. With distinct values the smallest possible p is 2 / n!.
GENSCOPE_API double permutation_p(const std::vector<double>& x, const std::vector<double>& y, bool spearman_rank);

// ---- sensitivity per analysed model ------------------------------------------------------------------------------

/// One analysed model (a label regime). Points are rows of its first `jacobian` analysis (table `points`), ellipses
/// rows of its first `transitions` analysis (table `ellipses`). Train rows: `dataset` equals the model's training
/// data set (/provenance/models/<model> attribute `train_dataset`); test rows: every other data set. Means and
/// medians skip non-finite values; NaN stands for "not available".
struct regime_row {
  std::string model, regime, train_dataset;
  std::vector<std::string> test_datasets;         ///< the other data sets, in order of appearance
  std::string jacobian_analysis, transitions_analysis;  ///< "" when the model has none
  std::size_t train_points = 0, test_points = 0;
  double train_accuracy = not_available, test_accuracy = not_available;  ///< mean of `correct`
  double gap = not_available;                                            ///< train - test accuracy
  double jf_train_mean = not_available, jf_train_median = not_available;  ///< jacobian_frobenius
  double jf_test_mean = not_available, jf_test_median = not_available;
  std::size_t train_ellipses = 0, test_ellipses = 0;
  double transitions_train_mean = not_available, transitions_test_mean = not_available;
  std::size_t sampled_ellipses = 0;  ///< ellipses (train and test) with a sampled count (>= 0; -1: K = 0)
  double sampled_mean = not_available, unit_flips_mean = not_available;  ///< over those ellipses
  double sampled_below_flips = not_available;  ///< fraction of those with sampled < unit_flips
  std::size_t test_errors = 0;                 ///< test points with correct == 0 and a finite ||J||_F
  auc_interval auc;  ///< ||J||_F at test points as a score for correct == 0
  /// Sort key: real first, then corrupt by increasing corruption, then random, then unknown.
  double order = 0;
};

/// One row per model that has a `jacobian` or `transitions` analysis, sorted by regime (regime_row::order). The
/// AUC's bootstrap uses `resamples` and `seed`. Skipped analyses (a second one of a model) are appended to `notes`.
GENSCOPE_API std::vector<regime_row> sensitivity_rows(const h5::group& root, const std::vector<analysis_info>& analyses,
                                                      std::size_t resamples, std::uint64_t seed,
                                                      std::vector<std::string>& notes);

/// A correlation across regimes of the generalization gap with another per-regime quantity.
struct correlation {
  std::string quantity;  ///< what the gap is correlated with
  std::size_t regimes = 0;  ///< regimes where both values are available
  double pearson_r = not_available, pearson_p = not_available;
  double spearman_rho = not_available, spearman_p = not_available;
};

/// Correlates `gap` with `quantity` over the pairs where both are finite; the p-values by permutation_p.
GENSCOPE_API correlation correlate(const std::string& quantity, const std::vector<double>& gap,
                                   const std::vector<double>& values);

}  // namespace genscope::report
