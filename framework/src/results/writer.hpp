// The results file: a group per run and per analysis table, plus provenance (docs/results-format.md),
// kept in memory and saved atomically so that a crash at any instant leaves a readable file.
#pragma once

#include "durable/durable.hpp"
#include "h5/h5.hpp"
#include "results/table_writer.hpp"

#include <genscope/export.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace genscope {

inline constexpr const char* results_format_name = "genscope-results";
inline constexpr std::int64_t results_format_version = 2;

/// Owns the results of one `genscope run` until finish() writes `output`.
///
/// The file lives in memory. checkpoint() saves it whole to OUTPUT.partial with
/// durable::replace_file, so OUTPUT.partial is at every instant a complete HDF5 file (root
/// attribute status = "partial") holding what the last checkpoint held, and a crash loses at
/// most the work since then. finish() marks it complete, saves it as `output` and removes
/// OUTPUT.partial: a file under the final name is always complete. A lock (OUTPUT.lock, dropped
/// by the kernel if the process dies) keeps a second process from writing the same output.
class GENSCOPE_API results_writer {
 public:
  /// Starts afresh. Throws io_error when OUTPUT.partial exists (the results of an interrupted
  /// run: resume() continues them; nothing is overwritten) or another process writes `output`.
  static results_writer start(std::string output, double checkpoint_seconds);
  /// Continues OUTPUT.partial as saved by the last checkpoint; throws io_error when it is
  /// missing, damaged or not a partial GenScope results file.
  static results_writer resume(std::string output, double checkpoint_seconds);
  /// Fresh results that are never saved (no lock, no partial file): the provenance of --train-only, dropped.
  static results_writer scratch(std::string output);
  ~results_writer();
  results_writer(results_writer&&) noexcept;
  results_writer(const results_writer&) = delete;
  results_writer& operator=(const results_writer&) = delete;
  results_writer& operator=(results_writer&&) = delete;

  h5::group root() const { return file_.root(); }
  /// Group /provenance/<section>/<name>, created on first use.
  h5::group provenance(const std::string& section, const std::string& name) const;
  /// Group /runs/<name> holding the interval table `spec`, with its column writer; in a resumed
  /// file an existing group is continued (table_writer::resume) after its last saved row.
  table_writer begin_run(const std::string& name, const table_spec& spec, const std::string& owner) const;
  /// Group /analyses/<name> (its attributes are the analysis's provenance); opened when it exists.
  h5::group begin_analysis(const std::string& name) const;
  /// Group /analyses/<analysis>/<table> holding `spec`, with its column writer (continued as
  /// begin_run when it exists).
  table_writer begin_table(const h5::group& analysis, const table_spec& spec, const std::string& owner) const;

  /// Saves to OUTPUT.partial when `checkpoint_seconds` have passed since the last save (and at
  /// least 20 times the last save's duration, so saving a large file costs at most ~5% of the
  /// time), or always with `force`. Throws io_error naming the file (a full disk); the previous
  /// OUTPUT.partial is then kept unchanged.
  void checkpoint(bool force = false);
  /// Marks the file complete, saves it as `output` and removes OUTPUT.partial.
  void finish();
  /// Marks the file complete and returns its bytes instead of saving it (an MPI rank's shard, which rank 0
  /// writes merged); OUTPUT.partial stays until discard_partial().
  std::string complete_image();
  /// Removes OUTPUT.partial and closes the file: its results were written elsewhere.
  void discard_partial();

  const std::string& output() const noexcept { return output_; }
  std::string partial_path() const { return output_ + ".partial"; }
  /// Whether any checkpoint reached OUTPUT.partial (an error before the first one leaves nothing).
  bool saved() const noexcept { return saved_; }

 private:
  results_writer(std::string output, double checkpoint_seconds, std::unique_ptr<durable::file_lock> lock,
                 h5::file file, bool saved);

  std::string output_;
  double checkpoint_seconds_;
  std::unique_ptr<durable::file_lock> lock_;
  h5::file file_;
  bool saved_;
  std::chrono::steady_clock::time_point last_save_;
  double last_save_cost_ = 0;
};

/// Local time as ISO 8601 with offset, e.g. 2026-11-23T09:12:01+0000.
GENSCOPE_API std::string iso_time_now();

}  // namespace genscope
