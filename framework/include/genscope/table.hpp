// Declared result tables: the schema a plugin announces before any work, and rows filled column by column.
#pragma once

#include <genscope/export.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace genscope {

/// Element type of a result column. Stored in HDF5 as int64, float64 or variable-length UTF-8.
enum class column_type : std::uint32_t { int64 = 1, float64 = 2, string = 3 };

/// "int64", "float64" or "string".
GENSCOPE_API const char* to_string(column_type t) noexcept;

/// Values per row of a column that has a variable number of them (see column_spec::width).
inline constexpr std::size_t ragged = 0;

/// One column of a table.
///
/// - `name`: [a-z0-9_]+, unique within its table; the HDF5 dataset's name.
/// - `width`: values per row, >= 1 (width 3 is a float64[3] column, stored as rows x 3), or
///   `ragged`: each row holds its own number of values, stored flat in NAME with one row per
///   table row in INDEX_start (offset into NAME) and INDEX_count, INDEX = `ragged_index`
///   (defaults to NAME when empty).
/// - `description`: one line, stored as the dataset's `description` attribute.
/// - `measure`: a measured quantity (not an index, label or flag): `genscope inspect`
///   summarises it and the report draws its distribution. Meaningful for numeric
///   columns of width 1; recorded in the table's `measures` attribute.
struct GENSCOPE_API column_spec {
  std::string name;
  column_type type = column_type::float64;
  std::size_t width = 1;
  std::string description;
  std::string ragged_index;
  bool measure = false;
};

/// A table: what one row means and its columns, declared before any row is computed.
struct GENSCOPE_API table_spec {
  std::string name;         ///< [a-z0-9_]+, unique among the tables of one analysis
  std::string description;  ///< what one row is, one line
  std::vector<column_spec> columns;
  /// Optional: a string or int64 column whose values split summaries (`genscope inspect`, the
  /// report), e.g. the data set a point came from. Empty for none.
  std::string group_by;

  /// Index of the column named `name`; throws genscope::error naming the table when absent.
  std::size_t column_index(std::string_view name) const;
};

/// Checks a declared table: names [a-z0-9_]+ and unique (including ragged index columns), at
/// least one column, group_by naming a string or int64 column of width 1. Throws
/// genscope::error naming `owner` (e.g. "analysis 'jacobian'") and the table.
GENSCOPE_API void check_table_spec(const table_spec& spec, const std::string& owner);

/// Rows of one table, column by column, in the order of the spec's columns.
///
/// Column k of a fixed width w holds rows() * w values, row-major. A ragged column holds its
/// values flat (row after row) and one count per row (counts(k)). A plugin fills the vectors
/// in place; the host checks every size against the spec before writing.
class GENSCOPE_API table_batch {
 public:
  using values = std::variant<std::vector<std::int64_t>, std::vector<double>, std::vector<std::string>>;

  /// Shapes the batch for `rows` rows of `spec`: numbers 0, strings empty, ragged columns empty
  /// with counts 0. Keeps the column names for lookup by name.
  void reset(const table_spec& spec, std::size_t rows);

  std::size_t rows() const noexcept { return rows_; }
  std::size_t column_count() const noexcept { return columns_.size(); }
  /// Index of the column named `name`; throws genscope::error when absent.
  std::size_t index(std::string_view name) const;

  /// The values of a column by name or index; throws genscope::error when the type differs.
  std::vector<std::int64_t>& ints(std::string_view name) { return ints(index(name)); }
  std::vector<double>& reals(std::string_view name) { return reals(index(name)); }
  std::vector<std::string>& strings(std::string_view name) { return strings(index(name)); }
  std::vector<std::int64_t>& ints(std::size_t column);
  std::vector<double>& reals(std::size_t column);
  std::vector<std::string>& strings(std::size_t column);
  const std::vector<std::int64_t>& ints(std::string_view name) const { return const_cast<table_batch&>(*this).ints(name); }
  const std::vector<double>& reals(std::string_view name) const { return const_cast<table_batch&>(*this).reals(name); }
  const std::vector<std::string>& strings(std::string_view name) const {
    return const_cast<table_batch&>(*this).strings(name);
  }
  const values& column(std::size_t k) const { return columns_.at(k); }
  /// Per-row value counts of a ragged column (empty for a fixed-width column).
  std::vector<std::uint64_t>& counts(std::string_view name) { return counts_.at(index(name)); }
  std::vector<std::uint64_t>& counts(std::size_t column) { return counts_.at(column); }
  const std::vector<std::uint64_t>& counts(std::string_view name) const { return counts_.at(index(name)); }
  const std::vector<std::uint64_t>& counts(std::size_t column) const { return counts_.at(column); }

  /// Copies column `from_column` of `from` (values and ragged counts) into column `column`;
  /// throws genscope::error when the types differ.
  void copy_column(std::size_t column, const table_batch& from, std::size_t from_column);

  /// Checks every column's size against `spec` (same columns, rows * width values, ragged
  /// counts summing to the values); throws genscope::error naming `owner` and the column.
  void check(const table_spec& spec, const std::string& owner) const;

 private:
  std::size_t rows_ = 0;
  std::vector<std::string> names_;
  std::vector<values> columns_;
  std::vector<std::vector<std::uint64_t>> counts_;
};

}  // namespace genscope
