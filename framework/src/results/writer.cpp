// Keeps a results file in memory, saves it atomically as OUTPUT.partial, and as OUTPUT once complete.
#include "results/writer.hpp"

#include <genscope/error.hpp>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <system_error>

namespace genscope {

namespace fs = std::filesystem;

namespace {

void create_parent(const std::string& output) {
  const fs::path parent = fs::path(output).parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw io_error(output, "cannot create folder '" + parent.string() + "': " + ec.message());
}

std::unique_ptr<durable::file_lock> lock_output(const std::string& output) {
  create_parent(output);
  auto lock = std::make_unique<durable::file_lock>(output + ".lock", false);
  durable::remove_stale_temporaries(output);
  durable::remove_stale_temporaries(output + ".partial");
  return lock;
}

h5::group child(const h5::group& g, const std::string& name) {
  return g.has(name) ? g.open_group(name) : g.create_group(name);
}

/// An empty results file in memory, named `name` in messages.
h5::file fresh_results(const std::string& name) {
  h5::file file = h5::file::create_in_memory(name);
  const h5::group r = file.root();
  r.set_attr("format", std::string(results_format_name));
  r.set_attr("format_version", results_format_version);
  r.set_attr("status", std::string("partial"));
  r.create_group("runs");
  r.create_group("analyses");
  r.create_group("provenance");
  return file;
}

table_writer open_table(const h5::group& parent, const std::string& name, const table_spec& spec,
                        const std::string& owner) {
  if (parent.has(name)) return table_writer::resume(parent.open_group(name), spec, owner);
  return table_writer(parent.create_group(name), spec, owner);
}

}  // namespace

results_writer::results_writer(std::string output, double checkpoint_seconds,
                               std::unique_ptr<durable::file_lock> lock, h5::file file, bool saved)
    : output_(std::move(output)),
      checkpoint_seconds_(checkpoint_seconds),
      lock_(std::move(lock)),
      file_(std::move(file)),
      saved_(saved),
      last_save_(std::chrono::steady_clock::now()) {}

results_writer results_writer::start(std::string output, double checkpoint_seconds) {
  auto lock = lock_output(output);
  const std::string partial = output + ".partial";
  std::error_code ec;
  if (fs::exists(partial, ec))
    throw io_error(partial, "holds the results of an interrupted run: continue them with --resume, or move the "
                            "file away to start afresh (it is not overwritten)");
  return results_writer(std::move(output), checkpoint_seconds, std::move(lock), fresh_results(partial), false);
}

results_writer results_writer::scratch(std::string output) {
  h5::file file = fresh_results(output);
  return results_writer(std::move(output), 0, nullptr, std::move(file), false);
}

results_writer results_writer::resume(std::string output, double checkpoint_seconds) {
  auto lock = lock_output(output);
  const std::string partial = output + ".partial";
  h5::file file = h5::file::open_in_memory(partial);
  const h5::group r = file.root();
  const auto attr = [&](const char* name) { return r.has_attr(name) ? r.attr_string(name) : std::string(); };
  if (attr("format") != results_format_name)
    throw io_error(partial, "is not a GenScope results file (no format = \"genscope-results\")");
  if (!r.has_attr("format_version") || r.attr_int("format_version") != results_format_version)
    throw io_error(partial, "was written in another results format version; start afresh");
  if (attr("status") != "partial") throw io_error(partial, "is not marked partial (status '" + attr("status") + "')");
  for (const char* group : {"runs", "analyses", "provenance"})
    if (!r.has(group)) throw io_error(partial, std::string("lacks the group /") + group + " (damaged?)");
  return results_writer(std::move(output), checkpoint_seconds, std::move(lock), std::move(file), true);
}

results_writer::~results_writer() = default;
results_writer::results_writer(results_writer&&) noexcept = default;

h5::group results_writer::provenance(const std::string& section, const std::string& name) const {
  return child(child(file_.root().open_group("provenance"), section), name);
}

table_writer results_writer::begin_run(const std::string& name, const table_spec& spec,
                                       const std::string& owner) const {
  return open_table(file_.root().open_group("runs"), name, spec, owner);
}

h5::group results_writer::begin_analysis(const std::string& name) const {
  return child(file_.root().open_group("analyses"), name);
}

table_writer results_writer::begin_table(const h5::group& analysis, const table_spec& spec,
                                         const std::string& owner) const {
  return open_table(analysis, spec.name, spec, owner);
}

void results_writer::checkpoint(bool force) {
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_save_).count();
  if (!force && since < std::max(checkpoint_seconds_, 20 * last_save_cost_)) return;
  file_.save_atomically(partial_path());
  saved_ = true;
  last_save_ = std::chrono::steady_clock::now();
  last_save_cost_ = std::chrono::duration<double>(last_save_ - now).count();
}

void results_writer::finish() {
  file_.root().set_attr("status", std::string("complete"));
  try {
    file_.save_atomically(output_);
  } catch (...) {
    file_.root().set_attr("status", std::string("partial"));  // what a later checkpoint saves is not complete
    throw;
  }
  std::error_code ec;
  fs::remove(partial_path(), ec);
  file_.close();
}

std::string results_writer::complete_image() {
  file_.root().set_attr("status", std::string("complete"));
  std::string bytes = file_.image();
  file_.root().set_attr("status", std::string("partial"));  // what a later checkpoint saves is not complete
  return bytes;
}

void results_writer::discard_partial() {
  std::error_code ec;
  fs::remove(partial_path(), ec);
  file_.close();
}

std::string iso_time_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tm);
  return buf;
}

}  // namespace genscope
