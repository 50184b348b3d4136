// The results file: a group per run and per analysis table, plus provenance (docs/results-format.md).
#pragma once

#include "h5/h5.hpp"
#include "results/table_writer.hpp"

#include <genscope/export.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace genscope {

inline constexpr const char* results_format_name = "genscope-results";
inline constexpr std::int64_t results_format_version = 2;

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
  /// Group /runs/<name> holding the interval table `spec`, with its column writer.
  table_writer begin_run(const std::string& name, const table_spec& spec, const std::string& owner) const;
  /// Group /analyses/<name> (its attributes are the analysis's provenance).
  h5::group begin_analysis(const std::string& name) const;
  /// Group /analyses/<analysis>/<table> holding `spec`, with its column writer.
  table_writer begin_table(const h5::group& analysis, const table_spec& spec, const std::string& owner) const;
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
