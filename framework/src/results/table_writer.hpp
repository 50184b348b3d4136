// One writer for every declared table (interval runs and analyses): column datasets appended batch by batch.
#pragma once

#include "h5/h5.hpp"

#include <genscope/export.hpp>
#include <genscope/table.hpp>

#include <memory>
#include <string>

namespace genscope {

/// Appends batches of one declared table to an HDF5 group, in the order given.
///
/// Each column is a dataset of the group named like the column (int64, float64 or UTF-8
/// strings; rows x width when width > 1) with a `description` attribute; a ragged column
/// stores its values flat plus INDEX_start and INDEX_count (one row per table row). The group
/// records the table's `description`, `columns` (names in order), `measures` (the measured
/// columns, column_spec::measure) and `group_by`.
class GENSCOPE_API table_writer {
 public:
  /// Checks the spec (check_table_spec) and creates the columns; `owner` names the producer
  /// in messages, e.g. "analysis 'sens' (plugin 'jacobian')".
  table_writer(h5::group group, table_spec spec, std::string owner);
  /// Continues the table that `group` already holds (a resumed results file) after its last row.
  /// Throws io_error naming the group when its columns are not those of `spec` or disagree in length.
  static table_writer resume(h5::group group, table_spec spec, std::string owner);
  ~table_writer();
  table_writer(table_writer&&) noexcept;
  table_writer& operator=(table_writer&&) = delete;

  /// Checks `batch` against the spec (table_batch::check) and appends its rows.
  void append(const table_batch& batch);
  std::size_t rows() const noexcept { return rows_; }
  const h5::group& group() const noexcept { return group_; }
  const table_spec& spec() const noexcept { return spec_; }

 private:
  table_writer(h5::group group, table_spec spec, std::string owner, bool existing);
  struct columns;
  h5::group group_;
  table_spec spec_;
  std::string owner_;
  std::unique_ptr<columns> columns_;
  std::size_t rows_ = 0;
};

}  // namespace genscope
