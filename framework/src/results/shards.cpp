// Shards of an experiment: parsing I/N, Slurm's array variables, balanced batch blocks, shard files and merging.
#include <genscope/error.hpp>
#include <genscope/experiment.hpp>
#include <genscope/shards.hpp>

#include "results/merge.hpp"
#include "results/writer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string_view>

namespace genscope {

namespace {

/// A decimal count: digits only (no sign, no space), or nothing when `text` is not one.
std::optional<std::size_t> decimal(std::string_view text) {
  std::size_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

shard parse_shard(std::string_view text, const std::string& what) {
  const auto slash = text.find('/');
  const auto index = slash == std::string_view::npos ? std::nullopt : decimal(text.substr(0, slash));
  const auto count = slash == std::string_view::npos ? std::nullopt : decimal(text.substr(slash + 1));
  if (!index || !count || *count == 0 || *index >= *count)
    throw error(fmt::format("{} \"{}\" is not a shard I/N with 0 <= I < N (e.g. 0/8 is the first of 8)", what, text));
  return shard{*index, *count};
}

shard slurm_array_shard(const std::function<const char*(const char*)>& getenv) {
  const auto number = [&](const char* name) {
    const char* value = getenv(name);
    const auto v = value == nullptr ? std::nullopt : decimal(value);
    if (!v)
      throw error(fmt::format("--shard slurm: {} is {}, not a count (outside a Slurm array task? give --shard I/N)",
                              name, value == nullptr ? "unset" : fmt::format("\"{}\"", value)));
    return *v;
  };
  const std::size_t task = number("SLURM_ARRAY_TASK_ID");
  const std::size_t count = number("SLURM_ARRAY_TASK_COUNT");
  const auto optional_number = [&](const char* name, std::size_t fallback) {
    return getenv(name) == nullptr ? fallback : number(name);
  };
  const std::size_t min = optional_number("SLURM_ARRAY_TASK_MIN", 0);
  const std::size_t max = optional_number("SLURM_ARRAY_TASK_MAX", count == 0 ? 0 : count - 1);
  const std::size_t step = optional_number("SLURM_ARRAY_TASK_STEP", 1);
  if (count == 0 || min != 0 || max != count - 1 || step != 1 || task >= count)
    throw error(fmt::format("--shard slurm: this array is tasks {} to {} in steps of {} ({} tasks), not 0 to N-1: "
                            "submit it as --array=0-{}, or give the shard of this task as --shard I/N (e.g. to rerun "
                            "one task alone)",
                            min, max, step, count, count == 0 ? 0 : count - 1));
  return shard{task, count};
}

std::pair<std::size_t, std::size_t> shard_batches(const shard& s, std::size_t batches) {
  // Block i starts at floor(i * batches / count), so sizes differ by at most one; with batches = q * count + r
  // that is i * q + floor(i * r / count), whose products stay far below 2^64 (i, r < count).
  const std::size_t q = batches / s.count, r = batches % s.count;
  const auto start = [&](std::size_t i) { return i * q + i * r / s.count; };
  return {start(s.index), start(s.index + 1)};
}

std::string whole_output(const std::string& shard_file) {
  // NAME.shard-I-of-N.h5, I and N decimal counts.
  static constexpr std::string_view tag = ".shard-", of = "-of-", h5 = ".h5";
  const auto at = shard_file.rfind(tag);
  if (at == std::string::npos || !shard_file.ends_with(h5)) return "";
  const std::string_view numbers =
      std::string_view(shard_file).substr(at + tag.size(), shard_file.size() - at - tag.size() - h5.size());
  const auto middle = numbers.find(of);
  if (middle == std::string_view::npos || !decimal(numbers.substr(0, middle)) ||
      !decimal(numbers.substr(middle + of.size())))
    return "";
  return shard_file.substr(0, at) + std::string(h5);
}

std::string shard_path(const std::string& output, const shard& s) {
  const std::filesystem::path p(output);
  const std::string stem = p.extension() == ".h5" ? (p.parent_path() / p.stem()).string() : output;
  return fmt::format("{}.shard-{}-of-{}.h5", stem, s.index, s.count);
}

namespace {

/// Table groups of a results file: /runs/NAME and /analyses/NAME/TABLE, as paths below the root.
std::vector<std::string> table_paths(const h5::group& root) {
  std::vector<std::string> paths;
  const h5::group runs = root.open_group("runs");
  for (const std::string& run : runs.children()) paths.push_back("runs/" + run);
  const h5::group analyses = root.open_group("analyses");
  for (const std::string& a : analyses.children())
    for (const std::string& t : analyses.open_group(a).children())
      if (analyses.open_group(a).open_group(t).has_attr("columns")) paths.push_back("analyses/" + a + "/" + t);
  return paths;
}

/// Rows of a table group: the length of a ragged column's STEM_count index, which has one entry a row, or else of
/// its first column (the writer keeps every column in step).
std::size_t table_rows(const h5::group& table) {
  const std::vector<std::string> columns = table.attr_strings("columns");
  const std::set<std::string> column_set(columns.begin(), columns.end());
  for (const std::string& name : table.children())
    if (!column_set.count(name) && name.ends_with("_count")) return table.dims(name).front();
  return columns.empty() ? 0 : table.dims(columns.front()).front();
}

/// Appends dataset `name` of `from` to the growing dataset `name` of `to`, adding `offset` to every value
/// (a ragged column's start index).
void append_dataset(const h5::group& from, const h5::group& to, const std::string& name, std::uint64_t offset) {
  const h5::dataset_info info = from.info(name);
  const std::size_t width = info.dims.size() > 1 ? info.dims[1] : 1;
  const auto append = [&]<class T>(std::vector<T> values) {
    if constexpr (!std::is_same_v<T, std::string>)
      for (T& v : values) v += static_cast<T>(offset);
    if (!values.empty()) h5::column<T>::open(to, name).append(values.data(), values.size() / width);
  };
  using element = h5::dataset_info::element;
  if (info.cls == element::string) append(from.read_strings(name));
  else if (info.cls == element::floating && info.size == 8) append(from.read<double>(name));
  else if (info.cls == element::integer && info.size == 8 && info.is_signed) append(from.read<std::int64_t>(name));
  else if (info.cls == element::integer && info.size == 8) append(from.read<std::uint64_t>(name));
  else throw io_error(from.file_path(), fmt::format("'{}/{}' is a {} dataset, which no GenScope table column is",
                                                    from.path(), name, info.type_name));
}

/// The name of the missing shard `index` of `count`: beside `known` (a shard file named by shard_path) when it
/// is one, else the shard file of `output`.
std::string missing_name(const std::string& known, std::size_t index, std::size_t count, const std::string& output) {
  const std::string whole = whole_output(known);
  return shard_path(whole.empty() ? output : whole, shard{index, count});
}

h5::file open_source(const shard_source& s, bool writable) {
  if (s.path.empty()) return h5::file::open_image(s.image, s.name, writable);
  return writable ? h5::file::open_in_memory(s.path) : h5::file::open(s.path);
}

/// What must agree between the shards of one merge, read from one shard file (then closed: a merge of
/// thousands of shards holds one file open at a time).
struct shard_identity {
  const shard_source* source = nullptr;
  shard part;
  std::string experiment;
  /// The software and inputs behind the results, by what they are: the results format and GenScope's version
  /// and commit, each data set's sha256 and model's digest, each run's and analysis's plugins and versions.
  std::map<std::string, std::string> stamps;
  std::vector<std::string> tables;
};

shard_identity identify(const shard_source& s) {
  const h5::file f = open_source(s, false);
  const h5::group r = f.root();
  const auto text = [&](const char* name) { return r.has_attr(name) ? r.attr_string(name) : std::string(); };
  if (text("format") != results_format_name) throw io_error(s.name, "is not a GenScope results file");
  if (!r.has_attr("shard_index") || !r.has_attr("shard_count"))
    throw io_error(s.name, "is not a shard's results (no shard_index): a whole experiment's results need no merge");
  if (text("status") != "complete")
    throw io_error(s.name, fmt::format("is not finished (status '{}'): finish it with genscope run --resume",
                                       text("status")));
  shard_identity id;
  id.source = &s;
  id.part = {static_cast<std::size_t>(r.attr_int("shard_index")), static_cast<std::size_t>(r.attr_int("shard_count"))};
  id.experiment = text("experiment");
  for (const char* name : {"format_version", "plugin_api_version"})
    id.stamps[name] = r.has_attr(name) ? std::to_string(r.attr_int(name)) : "none";
  for (const char* name : {"genscope_version", "git_commit"}) id.stamps[name] = text(name);
  const h5::group provenance = r.open_group("provenance");
  for (const auto& [section, key] : {std::pair{"datasets", "sha256"}, std::pair{"models", "digest"}}) {
    if (!provenance.has(section)) continue;
    const h5::group g = provenance.open_group(section);
    for (const std::string& name : g.children())
      id.stamps[fmt::format("{}/{} {}", section, name, key)] = g.open_group(name).attr_string(key);
  }
  const auto stamp_items = [&](const h5::group& g, const std::string& path, std::initializer_list<const char*> keys) {
    for (const char* key : keys)
      for (const char* part : {"_plugin", "_version"}) {
        const std::string name = std::string(key) + part;
        if (g.has_attr(name)) id.stamps[path + " " + name] = g.attr_string(name);
      }
  };
  for (const std::string& run : r.open_group("runs").children())
    stamp_items(r.open_group("runs").open_group(run), "runs/" + run, {"sampler", "estimator"});
  for (const std::string& a : r.open_group("analyses").children())
    stamp_items(r.open_group("analyses").open_group(a), "analyses/" + a, {"analysis"});
  id.tables = table_paths(r);
  return id;
}

/// The first stamp in which `a` and `b` differ, as "KEY is X in A but Y in B", or "" when none does.
std::string stamp_difference(const shard_identity& a, const shard_identity& b) {
  std::set<std::string> keys;
  for (const auto& [key, value] : a.stamps) keys.insert(key);
  for (const auto& [key, value] : b.stamps) keys.insert(key);
  for (const std::string& key : keys) {
    const auto in_a = a.stamps.find(key), in_b = b.stamps.find(key);
    const std::string va = in_a == a.stamps.end() ? "absent" : in_a->second.substr(0, 16);
    const std::string vb = in_b == b.stamps.end() ? "absent" : in_b->second.substr(0, 16);
    if (va != vb) return fmt::format("{} is {} in {} but {} in {}", key, vb, b.source->name, va, a.source->name);
  }
  return "";
}

/// Sums the double attributes named *seconds of `to` and `from` into `to` (the work time of every shard).
void add_seconds(const h5::group& from, const h5::group& to, const std::vector<std::string>& names) {
  for (const std::string& name : names)
    if (from.has_attr(name) && to.has_attr(name)) to.set_attr(name, to.attr_double(name) + from.attr_double(name));
}

constexpr const char* run_seconds[] = {"seconds", "sampler_prepare_seconds", "sampler_seconds", "estimator_seconds"};

}  // namespace

h5::file merge_shard_sources(const std::vector<shard_source>& sources, const std::string& output) {
  if (sources.empty()) throw error("merge: no shard files given");
  // Read and check every shard's identity before merging anything.
  std::vector<shard_identity> shards;
  for (const shard_source& s : sources) shards.push_back(identify(s));
  std::sort(shards.begin(), shards.end(), [](const shard_identity& a, const shard_identity& b) {
    return a.part.index < b.part.index;
  });
  const shard_identity& first = shards.front();
  const std::size_t count = first.part.count;
  std::vector<const shard_identity*> by_index(count, nullptr);
  for (const shard_identity& s : shards) {
    if (s.part.count != count)
      throw error(fmt::format("merge: {} is shard {} of {}, but {} is one of {}: shards of different splits",
                              s.source->name, s.part.index, s.part.count, first.source->name, count));
    if (s.part.index >= count)
      throw io_error(s.source->name, fmt::format("shard_index {} is not below shard_count {}", s.part.index, count));
    if (by_index[s.part.index] != nullptr)
      throw error(fmt::format("merge: shard {} of {} is given twice: {} and {}", s.part.index, count,
                              by_index[s.part.index]->source->name, s.source->name));
    by_index[s.part.index] = &s;
    if (const std::string change = experiment_change(first.experiment, s.experiment);
        !change.empty() || s.experiment.empty())
      throw error(fmt::format("merge: {} is a shard of another experiment than {} ({})", s.source->name,
                              first.source->name, change.empty() ? "no experiment text" : change));
    if (const std::string difference = stamp_difference(first, s); !difference.empty())
      throw error(fmt::format("merge: {} and {} were computed by other software or from other inputs ({}); the "
                              "shards cannot be merged",
                              first.source->name, s.source->name, difference));
    if (s.tables != first.tables)
      throw error(fmt::format("merge: {} holds other tables than {}", s.source->name, first.source->name));
  }
  std::vector<std::string> missing;
  for (std::size_t i = 0; i < count; ++i)
    if (by_index[i] == nullptr) missing.push_back(std::to_string(i));
  if (!missing.empty())
    throw error(fmt::format("merge: {} {} of {} {} missing ({}{})", missing.size() == 1 ? "shard" : "shards",
                            fmt::join(missing, ", "), count, missing.size() == 1 ? "is" : "are",
                            missing.size() == 1 ? "" : "the first: ",
                            missing_name(first.source->name, std::stoul(missing.front()), count, output)));

  // Shard 0, in memory and writable, becomes the merged file; the others' rows are appended in shard order, one
  // shard file open at a time.
  h5::file merged = open_source(*by_index[0]->source, true);
  const h5::group root = merged.root();
  struct table_state {
    std::string path;
    std::set<std::string> columns;
    std::vector<std::string> datasets;
    std::map<std::string, std::uint64_t> ragged_next;  ///< by STEM: the values its index points past so far
    std::size_t rows = 0;
  };
  std::vector<table_state> tables;
  for (const std::string& path : first.tables) {
    const h5::group to = root.open_group(path);
    table_state t{path, {}, to.children(), {}, table_rows(to)};
    const std::vector<std::string> columns = to.attr_strings("columns");
    t.columns.insert(columns.begin(), columns.end());
    for (const std::string& name : t.datasets)
      if (!t.columns.count(name) && name.ends_with("_start")) {
        const std::string stem = name.substr(0, name.size() - 6);
        std::uint64_t total = 0;
        for (std::uint64_t v : to.read<std::uint64_t>(stem + "_count")) total += v;
        t.ragged_next[stem] = total;
      }
    if (to.attr_int("shard_first_row") != 0)
      throw io_error(by_index[0]->source->name, fmt::format("table '{}': shard 0 does not start at row 0", path));
    tables.push_back(std::move(t));
  }
  for (std::size_t i = 1; i < count; ++i) {
    const shard_identity& s = *by_index[i];
    const h5::file file = open_source(*s.source, false);
    const h5::group from_root = file.root();
    for (table_state& t : tables) {
      const h5::group to = root.open_group(t.path);
      const h5::group from = from_root.open_group(t.path);
      const auto refuse = [&](const std::string& why) {
        throw io_error(s.source->name, fmt::format("table '{}': {}", t.path, why));
      };
      if (from.attr_strings("columns") != to.attr_strings("columns")) refuse("its columns differ from shard 0's");
      if (static_cast<std::size_t>(from.attr_int("shard_first_row")) != t.rows)
        refuse(fmt::format("starts at row {}, but the shards before it hold {} rows", from.attr_int("shard_first_row"),
                           t.rows));
      for (const std::string& name : t.datasets) {
        const bool start_index = !t.columns.count(name) && name.ends_with("_start");
        append_dataset(from, to, name, start_index ? t.ragged_next.at(name.substr(0, name.size() - 6)) : 0);
      }
      for (auto& [stem, next] : t.ragged_next)
        for (std::uint64_t v : from.read<std::uint64_t>(stem + "_count")) next += v;
      t.rows += table_rows(from);
      add_seconds(from, to, {std::begin(run_seconds), std::end(run_seconds)});
      add_seconds(from, to, {"compute_seconds"});
    }
    // Analyses' own work times (their tables' are summed above).
    const h5::group analyses = root.open_group("analyses");
    for (const std::string& a : analyses.children())
      add_seconds(from_root.open_group("analyses").open_group(a), analyses.open_group(a), {"seconds", "prepare_seconds"});
  }
  for (const table_state& t : tables) {
    const h5::group to = root.open_group(t.path);
    if (t.rows != static_cast<std::size_t>(to.attr_int("shard_total_rows")))
      throw error(fmt::format("merge: table '{}' holds {} rows from the {} shards, not the {} of the experiment",
                              t.path, t.rows, count, to.attr_int("shard_total_rows")));
    if (to.has_attr("rows")) to.set_attr("rows", static_cast<std::int64_t>(t.rows));
    to.remove_attr("shard_first_row");
    to.remove_attr("shard_total_rows");
  }
  std::vector<std::string> names;
  for (const shard_identity* s : by_index) names.push_back(s->source->name);
  root.remove_attr("shard_index");
  root.remove_attr("shard_count");
  root.set_attr("merged_from", names);
  root.set_attr("merged_at", iso_time_now());
  return merged;
}

void merge_shards(const std::vector<std::string>& shard_files, const std::string& output, std::ostream& log,
                  bool quiet) {
  std::error_code ec;
  if (std::filesystem::exists(output, ec))
    throw io_error(output, "exists; merge writes a new file and never replaces results (move it away first)");
  std::vector<shard_source> sources;
  for (const std::string& f : shard_files) sources.push_back({f, f, {}});
  const h5::file merged = merge_shard_sources(sources, output);
  merged.save_atomically(output);
  if (!quiet) log << fmt::format("merged {} shards into {}\n", shard_files.size(), output);
}

}  // namespace genscope
