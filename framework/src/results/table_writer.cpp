// Writes declared tables column by column: one dataset per column, ragged columns with their index.
#include "results/table_writer.hpp"

#include <genscope/error.hpp>

#include <optional>
#include <variant>

namespace genscope {

namespace {

using any_column = std::variant<h5::column<std::int64_t>, h5::column<double>, h5::column<std::string>>;

any_column make_column(const h5::group& g, const column_spec& c) {
  const std::size_t width = c.width == ragged ? 1 : c.width;
  switch (c.type) {
    case column_type::int64: return h5::column<std::int64_t>(g, c.name, 4096, width);
    case column_type::float64: return h5::column<double>(g, c.name, 4096, width);
    case column_type::string: break;
  }
  return h5::column<std::string>(g, c.name, 4096, width);
}

any_column open_column(const h5::group& g, const column_spec& c) {
  switch (c.type) {
    case column_type::int64: return h5::column<std::int64_t>::open(g, c.name);
    case column_type::float64: return h5::column<double>::open(g, c.name);
    case column_type::string: break;
  }
  return h5::column<std::string>::open(g, c.name);
}

}  // namespace

struct table_writer::columns {
  std::vector<any_column> values;
  /// Per column: the start/count index of a ragged column, absent otherwise.
  struct ragged_index {
    h5::column<std::uint64_t> start, count;
    std::uint64_t next = 0;
  };
  std::vector<std::unique_ptr<ragged_index>> index;
};

table_writer::table_writer(h5::group group, table_spec spec, std::string owner)
    : table_writer(std::move(group), std::move(spec), std::move(owner), false) {}

table_writer table_writer::resume(h5::group group, table_spec spec, std::string owner) {
  return table_writer(std::move(group), std::move(spec), std::move(owner), true);
}

table_writer::table_writer(h5::group group, table_spec spec, std::string owner, bool existing)
    : group_(std::move(group)), spec_(std::move(spec)), owner_(std::move(owner)), columns_(std::make_unique<columns>()) {
  check_table_spec(spec_, owner_);
  std::vector<std::string> names, measures;
  for (const column_spec& c : spec_.columns) {
    names.push_back(c.name);
    if (c.measure && c.width == 1 && c.type != column_type::string) measures.push_back(c.name);
  }
  const auto refuse = [&](const std::string& why) {
    throw io_error(group_.file_path(), "cannot continue table '" + group_.path() + "' of " + owner_ + ": " + why);
  };
  if (existing && (!group_.has_attr("columns") || group_.attr_strings("columns") != names))
    refuse("its columns are not those the plugin declares now");
  if (!existing) {
    group_.set_attr("description", spec_.description);
    group_.set_attr("group_by", spec_.group_by);
  }
  std::optional<std::size_t> stored_rows;
  const auto agree = [&](std::size_t rows, const std::string& column) {
    if (stored_rows && *stored_rows != rows)
      refuse("column '" + column + "' holds " + std::to_string(rows) + " rows, others " + std::to_string(*stored_rows));
    stored_rows = rows;
  };
  for (const column_spec& c : spec_.columns) {
    const std::string stem = c.ragged_index.empty() ? c.name : c.ragged_index;
    if (existing) {
      columns_->values.push_back(open_column(group_, c));
      if (c.width == ragged) {
        auto index = std::make_unique<columns::ragged_index>(
            columns::ragged_index{h5::column<std::uint64_t>::open(group_, stem + "_start"),
                                  h5::column<std::uint64_t>::open(group_, stem + "_count"), 0});
        agree(index->start.size(), stem + "_start");
        agree(index->count.size(), stem + "_count");
        index->next = std::visit([](const auto& col) { return col.size(); }, columns_->values.back());
        columns_->index.push_back(std::move(index));
      } else {
        agree(std::visit([](const auto& col) { return col.size(); }, columns_->values.back()), c.name);
        columns_->index.push_back(nullptr);
      }
      continue;
    }
    columns_->values.push_back(make_column(group_, c));
    std::visit([&](const auto& col) { col.set_attr("description", c.description); }, columns_->values.back());
    if (c.width == ragged) {
      columns_->index.push_back(std::make_unique<columns::ragged_index>(
          columns::ragged_index{h5::column<std::uint64_t>(group_, stem + "_start"),
                                h5::column<std::uint64_t>(group_, stem + "_count"), 0}));
    } else {
      columns_->index.push_back(nullptr);
    }
  }
  rows_ = stored_rows.value_or(0);
  if (!existing) {
    group_.set_attr("columns", names);
    group_.set_attr("measures", measures);
  }
}

table_writer::~table_writer() = default;
table_writer::table_writer(table_writer&&) noexcept = default;

void table_writer::append(const table_batch& batch) {
  batch.check(spec_, owner_);
  for (std::size_t k = 0; k < spec_.columns.size(); ++k) {
    std::visit(
        [&](auto& col) {
          using T = std::decay_t<decltype(col)>;
          if constexpr (std::is_same_v<T, h5::column<std::int64_t>>) col.append(std::get<std::vector<std::int64_t>>(batch.column(k)));
          else if constexpr (std::is_same_v<T, h5::column<double>>) col.append(std::get<std::vector<double>>(batch.column(k)));
          else col.append(std::get<std::vector<std::string>>(batch.column(k)));
        },
        columns_->values[k]);
    if (auto& index = columns_->index[k]) {
      const std::vector<std::uint64_t>& counts = batch.counts(k);
      std::vector<std::uint64_t> start(counts.size());
      for (std::size_t r = 0; r < counts.size(); ++r) {
        start[r] = index->next;
        index->next += counts[r];
      }
      index->start.append(start);
      index->count.append(counts);
    }
  }
  rows_ += batch.rows();
}

}  // namespace genscope
