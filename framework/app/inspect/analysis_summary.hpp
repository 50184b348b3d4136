// Summaries of analysis tables: per table and group, the count and quartiles of every measured column.
#pragma once

#include "h5/h5.hpp"

#include <genscope/export.hpp>

#include <cstddef>
#include <iosfwd>
#include <string>
#include <vector>

namespace genscope {

/// One numeric column (int64 or float64, one value per row) of one group of rows.
struct column_summary {
  std::string column;
  std::size_t count = 0;     ///< finite values
  double q1 = 0, median = 0, q3 = 0, mean = 0;  ///< quartiles: numpy's linear interpolation
};

/// The rows of one analysis table whose group column holds `group` (all rows when the table has none).
struct table_group_summary {
  std::string analysis, plugin, table;
  std::string group_by;  ///< the table's group column ("" for none)
  std::string group;     ///< its value for these rows
  std::size_t rows = 0;
  std::vector<column_summary> columns;
};

/// Every table under /analyses of an open results file, group by group (groups in order of first
/// appearance): its measured columns (column_spec::measure).
GENSCOPE_API std::vector<table_group_summary> summarize_analyses(const h5::group& root);

/// Prints one block per analysis table and group: a line naming them, then a row per column.
GENSCOPE_API void print_analysis_summaries(const std::vector<table_group_summary>& tables, std::ostream& out);

/// The values of a width-1 numeric or string column of `table` as text keys (for grouping).
GENSCOPE_API std::vector<std::string> column_as_keys(const h5::group& table, const std::string& column);

}  // namespace genscope
