// Per analysis table and group: count, quartiles and mean of each numeric column (`genscope inspect`, the report).
#include "inspect/analysis_summary.hpp"

#include "inspect/summary.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <ostream>

namespace genscope {

std::vector<std::string> column_as_keys(const h5::group& table, const std::string& column) {
  if (table.info(column).cls == h5::dataset_info::element::string) return table.read_strings(column);
  std::vector<std::string> keys;
  for (std::int64_t v : table.read<std::int64_t>(column)) keys.push_back(std::to_string(v));
  return keys;
}

namespace {

/// The measured columns of a table (or, without that record, its width-1 numeric columns), in declared order.
std::vector<std::string> numeric_columns(const h5::group& table) {
  std::vector<std::string> out;
  const std::vector<std::string> declared = table.has_attr("measures") ? table.attr_strings("measures")
                                            : table.has_attr("columns") ? table.attr_strings("columns")
                                                                        : table.children();
  for (const std::string& c : declared) {
    if (!table.has(c)) continue;
    const h5::dataset_info info = table.info(c);
    const bool numeric = info.cls == h5::dataset_info::element::integer ||
                         info.cls == h5::dataset_info::element::floating;
    if (numeric && info.dims.size() == 1) out.push_back(c);
  }
  return out;
}

column_summary summarize_column(const std::string& name, const std::vector<double>& all,
                                const std::vector<std::size_t>& rows) {
  column_summary s;
  s.column = name;
  std::vector<double> v;
  for (std::size_t r : rows)
    if (std::isfinite(all[r])) v.push_back(all[r]);
  s.count = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.q1 = quantile(v, 0.25);
  s.median = quantile(v, 0.5);
  s.q3 = quantile(v, 0.75);
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  return s;
}

}  // namespace

std::vector<table_group_summary> summarize_analyses(const h5::group& root) {
  std::vector<table_group_summary> out;
  if (!root.has("analyses")) return out;
  const h5::group analyses = root.open_group("analyses");
  for (const std::string& name : analyses.children()) {
    const h5::group a = analyses.open_group(name);
    const std::string plugin = a.has_attr("analysis_plugin") ? a.attr_string("analysis_plugin") : "?";
    const std::vector<std::string> tables = a.has_attr("tables") ? a.attr_strings("tables") : a.children();
    for (const std::string& table_name : tables) {
      if (!a.has(table_name)) continue;
      const h5::group t = a.open_group(table_name);
      const std::string group_by = t.has_attr("group_by") ? t.attr_string("group_by") : "";
      const std::vector<std::string> columns = numeric_columns(t);
      std::vector<std::vector<double>> values;
      std::vector<std::pair<std::string, std::size_t>> sizes;
      for (const std::string& c : columns) {
        values.push_back(t.read<double>(c));
        sizes.emplace_back(c, values.back().size());
      }
      const std::size_t rows = h5::same_rows(t, sizes);
      // Rows per group, groups in order of first appearance.
      std::vector<std::string> order;
      std::map<std::string, std::vector<std::size_t>> groups;
      if (group_by.empty() || !t.has(group_by)) {
        order.emplace_back();
        groups[""].resize(rows);
        std::iota(groups[""].begin(), groups[""].end(), std::size_t{0});
      } else {
        const std::vector<std::string> keys = column_as_keys(t, group_by);
        if (!columns.empty()) h5::same_rows(t, {sizes.front(), {group_by, keys.size()}});
        for (std::size_t r = 0; r < keys.size(); ++r) {
          auto& g = groups[keys[r]];
          if (g.empty()) order.push_back(keys[r]);
          g.push_back(r);
        }
      }
      for (const std::string& key : order) {
        table_group_summary s;
        s.analysis = name;
        s.plugin = plugin;
        s.table = table_name;
        s.group_by = group_by;
        s.group = key;
        s.rows = groups[key].size();
        for (std::size_t k = 0; k < columns.size(); ++k) {
          if (columns[k] == group_by) continue;
          s.columns.push_back(summarize_column(columns[k], values[k], groups[key]));
        }
        out.push_back(std::move(s));
      }
    }
  }
  return out;
}

void print_analysis_summaries(const std::vector<table_group_summary>& tables, std::ostream& out) {
  for (const table_group_summary& t : tables) {
    const std::string group = t.group_by.empty() ? "" : fmt::format(", {} = {}", t.group_by, t.group);
    out << fmt::format("\nanalysis {} ({}), table {}{}: {} rows\n", t.analysis, t.plugin, t.table, group, t.rows);
    std::size_t w = 6;
    for (const column_summary& c : t.columns) w = std::max(w, c.column.size());
    out << fmt::format("  {:<{}}  {:>6}  {:>10}  {:>10}  {:>10}  {:>10}\n", "column", w, "count", "q1", "median", "q3",
                       "mean");
    for (const column_summary& c : t.columns)
      out << fmt::format("  {:<{}}  {:>6}  {:>10.4g}  {:>10.4g}  {:>10.4g}  {:>10.4g}\n", c.column, w, c.count, c.q1,
                         c.median, c.q3, c.mean);
  }
}

}  // namespace genscope
