// Declared tables: checking a schema and shaping, addressing and checking a batch of rows.
#include <genscope/error.hpp>
#include <genscope/table.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <set>

namespace genscope {

namespace {

bool valid_column_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::size_t size_of(const table_batch::values& v) {
  return std::visit([](const auto& vec) { return vec.size(); }, v);
}

}  // namespace

const char* to_string(column_type t) noexcept {
  switch (t) {
    case column_type::int64: return "int64";
    case column_type::float64: return "float64";
    case column_type::string: return "string";
  }
  return "?";
}

std::size_t table_spec::column_index(std::string_view column) const {
  for (std::size_t k = 0; k < columns.size(); ++k)
    if (columns[k].name == column) return k;
  throw error(fmt::format("table '{}' has no column '{}'", name, column));
}

void check_table_spec(const table_spec& spec, const std::string& owner) {
  const auto fail = [&](const std::string& what) {
    throw error(fmt::format("{}: table '{}': {}", owner, spec.name, what));
  };
  if (!valid_column_name(spec.name)) fail("the table name must be [a-z0-9_]+");
  if (spec.columns.empty()) fail("declares no columns");
  std::set<std::string> names;
  for (const column_spec& c : spec.columns) {
    if (!valid_column_name(c.name)) fail(fmt::format("column '{}' is not named [a-z0-9_]+", c.name));
    if (c.type != column_type::int64 && c.type != column_type::float64 && c.type != column_type::string)
      fail(fmt::format("column '{}' has an unknown type", c.name));
    if (!names.insert(c.name).second) fail(fmt::format("column '{}' is declared twice", c.name));
    if (c.width == ragged) {
      const std::string index = c.ragged_index.empty() ? c.name : c.ragged_index;
      if (!valid_column_name(index)) fail(fmt::format("ragged index '{}' is not named [a-z0-9_]+", index));
      for (const char* suffix : {"_start", "_count"})
        if (!names.insert(index + suffix).second)
          fail(fmt::format("column '{}{}' (index of ragged column '{}') is declared twice", index, suffix, c.name));
    }
  }
  if (!spec.group_by.empty()) {
    const auto it = std::find_if(spec.columns.begin(), spec.columns.end(),
                                 [&](const column_spec& c) { return c.name == spec.group_by; });
    if (it == spec.columns.end()) fail(fmt::format("group_by names no column ('{}')", spec.group_by));
    if (it->width != 1 || it->type == column_type::float64)
      fail(fmt::format("group_by column '{}' must be a string or int64 column of width 1", spec.group_by));
  }
}

void table_batch::reset(const table_spec& spec, std::size_t rows) {
  rows_ = rows;
  names_.clear();
  columns_.clear();
  counts_.clear();
  for (const column_spec& c : spec.columns) {
    names_.push_back(c.name);
    const std::size_t n = c.width == ragged ? 0 : rows * c.width;
    switch (c.type) {
      case column_type::int64: columns_.emplace_back(std::vector<std::int64_t>(n, 0)); break;
      case column_type::float64: columns_.emplace_back(std::vector<double>(n, 0.0)); break;
      case column_type::string: columns_.emplace_back(std::vector<std::string>(n)); break;
    }
    counts_.emplace_back(c.width == ragged ? std::vector<std::uint64_t>(rows, 0) : std::vector<std::uint64_t>());
  }
}

std::size_t table_batch::index(std::string_view name) const {
  for (std::size_t k = 0; k < names_.size(); ++k)
    if (names_[k] == name) return k;
  throw error(fmt::format("table batch has no column '{}'", name));
}

namespace {
template <class T>
std::vector<T>& typed(std::vector<table_batch::values>& columns, const std::vector<std::string>& names,
                      std::size_t k, const char* type) {
  auto* v = std::get_if<std::vector<T>>(&columns.at(k));
  if (v == nullptr) throw error(fmt::format("column '{}' is not of type {}", names.at(k), type));
  return *v;
}
}  // namespace

std::vector<std::int64_t>& table_batch::ints(std::size_t k) {
  return typed<std::int64_t>(columns_, names_, k, "int64");
}
std::vector<double>& table_batch::reals(std::size_t k) { return typed<double>(columns_, names_, k, "float64"); }
std::vector<std::string>& table_batch::strings(std::size_t k) {
  return typed<std::string>(columns_, names_, k, "string");
}

void table_batch::copy_column(std::size_t k, const table_batch& from, std::size_t j) {
  if (columns_.at(k).index() != from.columns_.at(j).index())
    throw error(fmt::format("column '{}' cannot take column '{}' of another type", names_.at(k), from.names_.at(j)));
  columns_[k] = from.columns_[j];
  counts_.at(k) = from.counts_.at(j);
}

void table_batch::check(const table_spec& spec, const std::string& owner) const {
  const auto fail = [&](const std::string& what) {
    throw error(fmt::format("{}: table '{}': {}", owner, spec.name, what));
  };
  if (columns_.size() != spec.columns.size())
    fail(fmt::format("returned {} columns, the table declares {}", columns_.size(), spec.columns.size()));
  for (std::size_t k = 0; k < spec.columns.size(); ++k) {
    const column_spec& c = spec.columns[k];
    if (names_[k] != c.name) fail(fmt::format("column {} is '{}', the table declares '{}'", k, names_[k], c.name));
    const std::size_t expected_type = c.type == column_type::int64 ? 0 : c.type == column_type::float64 ? 1 : 2;
    if (columns_[k].index() != expected_type) fail(fmt::format("column '{}' is not of type {}", c.name, to_string(c.type)));
    const std::size_t n = size_of(columns_[k]);
    if (c.width == ragged) {
      if (counts_[k].size() != rows_)
        fail(fmt::format("ragged column '{}' has {} counts for {} rows", c.name, counts_[k].size(), rows_));
      const std::uint64_t total = std::accumulate(counts_[k].begin(), counts_[k].end(), std::uint64_t{0});
      if (total != n) fail(fmt::format("ragged column '{}' holds {} values but its counts add up to {}", c.name, n, total));
    } else if (n != rows_ * c.width) {
      fail(fmt::format("column '{}' holds {} values for {} rows of width {}", c.name, n, rows_, c.width));
    }
  }
}

}  // namespace genscope
