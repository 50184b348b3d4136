// The results file: one group per run with one column per field, plus provenance (docs/results-format.md).
#pragma once

#include "h5/h5.hpp"

#include <genscope/direction_sampler.hpp>
#include <genscope/export.hpp>
#include <genscope/interval_estimator.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace genscope {

inline constexpr const char* results_format_name = "genscope-results";
inline constexpr std::int64_t results_format_version = 1;

/// Appends batches of one run to its group, in the order given.
class GENSCOPE_API run_writer {
 public:
  explicit run_writer(h5::group group);
  ~run_writer();
  run_writer(run_writer&&) noexcept;
  run_writer& operator=(run_writer&&) = delete;

  /// `labels` are the sampler's data set labels (anchor_label column; -1 when anchor < 0) and
  /// `true_labels` its source labels before relabelling (anchor_corrupted column: 1 when the anchor's
  /// label differs from its true label, 0 when not, -1 when anchor < 0).
  void append(const probe_batch& probes, const interval_batch& results, const std::vector<std::int32_t>& labels,
              const std::vector<std::int32_t>& true_labels);
  std::size_t rows() const noexcept;
  const h5::group& group() const noexcept { return group_; }

 private:
  struct columns;
  h5::group group_;
  std::unique_ptr<columns> columns_;
};

/// Owns `output + ".partial"` until finish() renames it to `output`. Destroyed
/// without finish(), it leaves the partial file closed and marked status = "partial".
class GENSCOPE_API results_writer {
 public:
  /// Creates the folder if needed and the partial file; throws io_error naming it.
  explicit results_writer(std::string output);
  ~results_writer();
  results_writer(const results_writer&) = delete;
  results_writer& operator=(const results_writer&) = delete;

  h5::group root() const { return file_.root(); }
  /// Group /provenance/<section>/<name>, created on first use.
  h5::group provenance(const std::string& section, const std::string& name) const;
  /// Group /runs/<name>, with its column writer.
  run_writer begin_run(const std::string& name) const;
  void flush() const { file_.flush(); }
  /// Marks the file complete, closes it and renames it to the output path.
  void finish();

  const std::string& output() const noexcept { return output_; }
  std::string partial_path() const { return output_ + ".partial"; }

 private:
  std::string output_;
  h5::file file_;
  bool finished_ = false;
};

/// Local time as ISO 8601 with offset, e.g. 2026-11-23T09:12:01+0000.
GENSCOPE_API std::string iso_time_now();

}  // namespace genscope
