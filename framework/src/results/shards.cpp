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
#include <ostream>
#include <set>

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

std::optional<shard> slurm_array_shard(const std::function<const char*(const char*)>& getenv) {
  const char* id = getenv("SLURM_ARRAY_TASK_ID");
  if (id == nullptr) return std::nullopt;
  const auto number = [&](const char* name, const char* value) {
    const auto v = value == nullptr ? std::nullopt : decimal(value);
    if (!v)
      throw error(fmt::format("{} is {}, not a count; genscope run takes its shard from SLURM_ARRAY_TASK_ID, "
                              "SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT (or --shard I/N)",
                              name, value == nullptr ? "unset" : fmt::format("\"{}\"", value)));
    return *v;
  };
  const std::size_t task = number("SLURM_ARRAY_TASK_ID", id);
  const std::size_t count = number("SLURM_ARRAY_TASK_COUNT", getenv("SLURM_ARRAY_TASK_COUNT"));
  const char* min_text = getenv("SLURM_ARRAY_TASK_MIN");
  const std::size_t min = min_text == nullptr ? 0 : number("SLURM_ARRAY_TASK_MIN", min_text);
  if (task < min || task - min >= count || count == 0)
    throw error(fmt::format("SLURM_ARRAY_TASK_ID {} is not one of the {} tasks from SLURM_ARRAY_TASK_MIN {}: submit "
                            "the array as --array=0-{} (no step), or give --shard I/N",
                            task, count, min, count == 0 ? 0 : count - 1));
  return shard{task - min, count};
}

std::pair<std::size_t, std::size_t> shard_batches(const shard& s, std::size_t batches) {
  // Block i starts at floor(i * batches / count), so sizes differ by at most one; with batches = q * count + r
  // that is i * q + floor(i * r / count), whose products stay far below 2^64 (i, r < count).
  const std::size_t q = batches / s.count, r = batches % s.count;
  const auto start = [&](std::size_t i) { return i * q + i * r / s.count; };
  return {start(s.index), start(s.index + 1)};
}

std::string shard_path(const std::string& output, const shard& s) {
  const std::filesystem::path p(output);
  const std::string stem = p.extension() == ".h5" ? (p.parent_path() / p.stem()).string() : output;
  return fmt::format("{}.shard-{}-of-{}.h5", stem, s.index, s.count);
}

failed_elsewhere::failed_elsewhere() : error("failed on another rank, which rank 0 reports") {}
failed_elsewhere::~failed_elsewhere() = default;

void rank_group::broadcast(std::string& bytes) const {
  std::uint64_t size = bytes.size();
  broadcast_bytes(&size, sizeof size);
  bytes.resize(size);
  broadcast_bytes(bytes.data(), size);
}

void on_every_rank(const rank_group& ranks, const std::function<void()>& step) {
  std::string failure;
  try {
    step();
  } catch (const std::exception& e) {
    failure = describe(e);
    if (failure.empty()) failure = "failed";
  } catch (...) {
    failure = "threw an exception that is not a std::exception";
  }
  const std::vector<std::string> all = ranks.all_gather(failure);
  std::vector<std::size_t> failed;
  for (std::size_t r = 0; r < all.size(); ++r)
    if (!all[r].empty()) failed.push_back(r);
  if (failed.empty()) return;
  if (ranks.rank() != 0) throw failed_elsewhere();
  const std::size_t first = failed.front();
  const std::string others = failed.size() == 1 ? std::string()
                             : failed.size() == all.size()
                                 ? fmt::format(" (every rank failed; rank {}'s error is shown)", first)
                                 : fmt::format(" ({} other ranks failed too)", failed.size() - 1);
  throw error(fmt::format("rank {} of {}: {}{}", first, all.size(), all[first], others));
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

/// Rows of a table group: the length of its first column (the writer keeps every column in step).
std::size_t table_rows(const h5::group& table) {
  const std::vector<std::string> columns = table.attr_strings("columns");
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

/// The name of the missing shard `index`: like that of `known` (a shard file named by shard_path) when it can
/// be, else the shard file of `output`.
std::string missing_name(const std::string& known, const shard& part, std::size_t index, const std::string& output) {
  const std::string suffix = fmt::format(".shard-{}-of-{}.h5", part.index, part.count);
  if (!known.ends_with(suffix)) return shard_path(output, shard{index, part.count});
  return known.substr(0, known.size() - suffix.size()) + fmt::format(".shard-{}-of-{}.h5", index, part.count);
}

struct opened_shard {
  const shard_source* source;
  h5::file file;
  shard part;
};

h5::file open_source(const shard_source& s, bool writable) {
  if (s.path.empty()) return h5::file::open_image(s.image, s.name, writable);
  return writable ? h5::file::open_in_memory(s.path) : h5::file::open(s.path);
}

/// The digests a shard's provenance records (data sets' sha256, models' digest), by "datasets/NAME" and
/// "models/NAME": shards that computed from different inputs must not be merged.
std::map<std::string, std::string> input_digests(const h5::group& root) {
  std::map<std::string, std::string> digests;
  const h5::group provenance = root.open_group("provenance");
  for (const auto& [section, key] : {std::pair{"datasets", "sha256"}, std::pair{"models", "digest"}}) {
    if (!provenance.has(section)) continue;
    const h5::group g = provenance.open_group(section);
    for (const std::string& name : g.children()) digests[std::string(section) + "/" + name] = g.open_group(name).attr_string(key);
  }
  return digests;
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
  std::vector<opened_shard> shards;
  for (const shard_source& s : sources) {
    h5::file f = open_source(s, false);
    const h5::group r = f.root();
    const auto text = [&](const char* name) { return r.has_attr(name) ? r.attr_string(name) : std::string(); };
    if (text("format") != results_format_name) throw io_error(s.name, "is not a GenScope results file");
    if (!r.has_attr("shard_index") || !r.has_attr("shard_count"))
      throw io_error(s.name, "is not a shard's results (no shard_index): a whole experiment's results need no merge");
    if (text("status") != "complete")
      throw io_error(s.name, fmt::format("is not finished (status '{}'): finish it with genscope run --resume",
                                         text("status")));
    const shard part{static_cast<std::size_t>(r.attr_int("shard_index")),
                     static_cast<std::size_t>(r.attr_int("shard_count"))};
    shards.push_back({&s, std::move(f), part});
  }
  std::sort(shards.begin(), shards.end(), [](const opened_shard& a, const opened_shard& b) {
    return a.part.index < b.part.index;
  });
  const opened_shard& first = shards.front();
  const std::size_t count = first.part.count;
  const std::string experiment = first.file.root().attr_string("experiment");
  const auto digests = input_digests(first.file.root());
  std::vector<const opened_shard*> by_index(count, nullptr);
  for (const opened_shard& s : shards) {
    if (s.part.count != count)
      throw error(fmt::format("merge: {} is shard {} of {}, but {} is one of {}: shards of different splits",
                              s.source->name, s.part.index, s.part.count, first.source->name, count));
    if (s.part.index >= count) throw io_error(s.source->name, fmt::format("shard_index {} is not below shard_count {}",
                                                                          s.part.index, count));
    if (by_index[s.part.index] != nullptr)
      throw error(fmt::format("merge: shard {} of {} is given twice: {} and {}", s.part.index, count,
                              by_index[s.part.index]->source->name, s.source->name));
    by_index[s.part.index] = &s;
    if (const std::string change = experiment_change(experiment, s.file.root().attr_string("experiment"));
        !change.empty() || s.file.root().attr_string("experiment").empty())
      throw error(fmt::format("merge: {} is a shard of another experiment than {} ({})", s.source->name,
                              first.source->name, change.empty() ? "no experiment text" : change));
    for (const auto& [item, digest] : input_digests(s.file.root())) {
      const auto it = digests.find(item);
      if (it == digests.end() || it->second != digest)
        throw error(fmt::format("merge: {} computed {} from other inputs than {} (digest {} vs {}); the shards "
                                "cannot be merged",
                                s.source->name, item, first.source->name, digest.substr(0, 12),
                                it == digests.end() ? std::string("none") : it->second.substr(0, 12)));
    }
  }
  std::vector<std::string> missing;
  for (std::size_t i = 0; i < count; ++i)
    if (by_index[i] == nullptr) missing.push_back(std::to_string(i));
  if (!missing.empty())
    throw error(fmt::format("merge: {} {} of {} {} missing ({}{})", missing.size() == 1 ? "shard" : "shards",
                            fmt::join(missing, ", "), count, missing.size() == 1 ? "is" : "are",
                            missing.size() == 1 ? "" : "the first: ",
                            missing_name(first.source->name, first.part, std::stoul(missing.front()), output)));

  // Shard 0, in memory and writable, becomes the merged file; the others' rows are appended in shard order.
  opened_shard& zero = *std::find_if(shards.begin(), shards.end(), [](const opened_shard& s) { return s.part.index == 0; });
  zero.file.close();  // HDF5 locks a file opened twice by one process
  h5::file merged = open_source(*zero.source, true);
  const h5::group root = merged.root();
  for (const std::string& path : table_paths(root)) {
    const h5::group to = root.open_group(path);
    const std::vector<std::string> columns = to.attr_strings("columns");
    const std::set<std::string> column_set(columns.begin(), columns.end());
    // Ragged index stems (STEM_start / STEM_count beside the columns) and the values they index so far.
    std::map<std::string, std::uint64_t> ragged_next;
    for (const std::string& name : to.children())
      if (!column_set.count(name) && name.ends_with("_start")) {
        const std::string stem = name.substr(0, name.size() - 6);
        std::uint64_t total = 0;
        for (std::uint64_t v : to.read<std::uint64_t>(stem + "_count")) total += v;
        ragged_next[stem] = total;
      }
    std::size_t rows = table_rows(to);
    const auto refuse = [&](const opened_shard& s, const std::string& why) {
      throw io_error(s.source->name, fmt::format("table '{}': {}", path, why));
    };
    if (to.attr_int("shard_first_row") != 0) refuse(zero, "shard 0 does not start at row 0");
    for (std::size_t i = 1; i < count; ++i) {
      const opened_shard& s = *by_index[i];
      const h5::group from_root = s.file.root();
      if (!from_root.has(path)) refuse(s, "missing in this shard");
      const h5::group from = from_root.open_group(path);
      if (!from.has_attr("columns") || from.attr_strings("columns") != columns)
        refuse(s, "its columns differ from shard 0's");
      if (static_cast<std::size_t>(from.attr_int("shard_first_row")) != rows)
        refuse(s, fmt::format("starts at row {}, but the shards before it hold {} rows",
                              from.attr_int("shard_first_row"), rows));
      for (const std::string& name : to.children()) {
        std::uint64_t offset = 0;
        if (!column_set.count(name) && name.ends_with("_start")) offset = ragged_next.at(name.substr(0, name.size() - 6));
        append_dataset(from, to, name, offset);
      }
      for (auto& [stem, next] : ragged_next)
        for (std::uint64_t v : from.read<std::uint64_t>(stem + "_count")) next += v;
      rows += table_rows(from);
      add_seconds(from, to, {std::begin(run_seconds), std::end(run_seconds)});
      add_seconds(from, to, {"compute_seconds"});
    }
    if (rows != static_cast<std::size_t>(to.attr_int("shard_total_rows")))
      throw error(fmt::format("merge: table '{}' holds {} rows from the {} shards, not the {} of the experiment",
                              path, rows, count, to.attr_int("shard_total_rows")));
    if (to.has_attr("rows")) to.set_attr("rows", static_cast<std::int64_t>(rows));
    to.remove_attr("shard_first_row");
    to.remove_attr("shard_total_rows");
  }
  // Analyses' own work times (their tables' are summed above).
  const h5::group analyses = root.open_group("analyses");
  for (const std::string& a : analyses.children())
    for (std::size_t i = 1; i < count; ++i) {
      const h5::group from = by_index[i]->file.root().open_group("analyses");
      if (from.has(a)) add_seconds(from.open_group(a), analyses.open_group(a), {"seconds", "prepare_seconds"});
    }
  std::vector<std::string> names;
  for (const opened_shard* s : by_index) names.push_back(s->source->name);
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
