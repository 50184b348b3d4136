// Plugin kind "estimator": turns probes into generalization intervals using a backend.
#pragma once

#include <genscope/direction_sampler.hpp>
#include <genscope/export.hpp>
#include <genscope/network_backend.hpp>
#include <genscope/plugin.hpp>
#include <genscope/table.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace genscope {

/// Per-probe outcome bits (status column). A numerical outcome is a status, never an exception.
enum status_bits : std::uint32_t {
  status_clipped_lo = 1u << 0,   ///< t_lo reached -T without a class change
  status_clipped_hi = 1u << 1,   ///< t_hi reached +T without a class change
  status_zero_direction = 1u << 2, ///< d is zero: no interval (t_lo = t_hi = 0)
  status_nonfinite = 1u << 3,    ///< the network returned NaN/inf on this line
  status_max_regions = 1u << 4,  ///< the walk stopped after max_regions regions on a side: that end is a lower bound
  status_degenerate = 1u << 5,   ///< a tie (logits or units exactly at zero) was resolved by the documented rule
};

/// The status bits that make a probe's interval length a lower bound (right-censored): an end
/// clipped at T, or a walk stopped by max_regions (docs/science.md, "Censored interval ends").
inline constexpr std::uint32_t status_censored = status_clipped_lo | status_clipped_hi | status_max_regions;

/// Results for a batch of probes, column-wise; every vector has size().
/// See docs/science.md for the definitions of t_lo and t_hi.
struct GENSCOPE_API interval_batch {
  std::vector<double> t_lo;             ///< in [-T, 0]
  std::vector<double> t_hi;             ///< in [0, T]
  std::vector<std::int32_t> class0;     ///< c(x)
  std::vector<std::int32_t> class_lo;   ///< class just below t_lo (-1 when clipped)
  std::vector<std::int32_t> class_hi;   ///< class just above t_hi (-1 when clipped)
  std::vector<std::uint32_t> status;    ///< status_bits
  std::vector<std::uint64_t> cost;      ///< forward passes spent (one input row = one pass)
  /// Linear regions crossed from t = 0 to t_lo / t_hi, the region at t = 0
  /// included on both sides (so the interval crosses regions_lo + regions_hi - 1),
  /// and unit sign changes (flips) on each side. -1: not measured by this estimator.
  std::vector<std::int64_t> regions_lo, regions_hi, flips_lo, flips_hi;
  /// The estimator's own per-probe columns (interval_estimator::extra_columns), one row
  /// per probe; the estimator reset()s it when it declares any, else it stays empty.
  table_batch extra;

  std::size_t size() const noexcept { return t_lo.size(); }
  /// Resizes every column to n probes (ends 0, classes -1, counts -1) and empties `extra`.
  void resize(std::size_t n);
  /// What the host checks after estimate(): every column holds `probes` values, t_lo is a finite
  /// number <= 0 and t_hi a finite number >= 0. Throws std::runtime_error naming the column and probe.
  void check(std::size_t probes) const;
};

/// Computes intervals. An estimator needing more than logits (e.g. the
/// piecewise-linear view) declares it in its descriptor's capabilities. Contract:
/// - estimate() fills `out` (resized to probes.size()) with one result per
///   probe, in probe order. It is const and is called from several threads at
///   once on different batches with the same backend.
/// - It depends only on the probes and the backend (no hidden randomness), so
///   results are identical whatever the batching and thread count.
/// - Per-probe numerical trouble is reported in `status`; exceptions are for
///   misuse only (e.g. probe width differs from the backend's input).
/// - extra_columns() declares per-probe columns of the estimator's own (fixed
///   by its options, asked before any work); estimate() then fills them in
///   `out.extra`, reset to those columns and probes.size() rows. The results
///   file stores them in the run's group next to the interval columns; their
///   names must not clash with those (the host refuses a clash, naming both).
class GENSCOPE_API interval_estimator : public plugin_object {
 public:
  ~interval_estimator() override;

  virtual void estimate(const network_backend& net, const probe_batch& probes,
                        interval_batch& out) const = 0;
  /// Extra per-probe columns; none by default.
  virtual std::vector<column_spec> extra_columns() const;
};

}  // namespace genscope
