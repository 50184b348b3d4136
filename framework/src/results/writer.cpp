// Keeps a results file marked partial until it is complete; runs and analyses write through table_writer.
#include "results/writer.hpp"

#include <genscope/error.hpp>

#include <ctime>
#include <filesystem>
#include <system_error>

namespace genscope {

namespace {
h5::file create_partial(const std::string& output) {
  const std::filesystem::path parent = std::filesystem::path(output).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) throw io_error(output, "cannot create folder '" + parent.string() + "': " + ec.message());
  }
  return h5::file::create(output + ".partial");
}

h5::group child(const h5::group& g, const std::string& name) {
  return g.has(name) ? g.open_group(name) : g.create_group(name);
}
}  // namespace

results_writer::results_writer(std::string output) : output_(std::move(output)), file_(create_partial(output_)) {
  const h5::group r = file_.root();
  r.set_attr("format", std::string(results_format_name));
  r.set_attr("format_version", results_format_version);
  r.set_attr("status", std::string("partial"));
  r.create_group("runs");
  r.create_group("analyses");
  r.create_group("provenance");
}

results_writer::~results_writer() {
  if (finished_) return;
  try {
    file_.close();  // stays "partial": every appended batch is already in it
  } catch (...) {
    // Destructors must not throw; the original error is what the user needs to see.
  }
}

h5::group results_writer::provenance(const std::string& section, const std::string& name) const {
  return child(child(file_.root().open_group("provenance"), section), name);
}

table_writer results_writer::begin_run(const std::string& name, const table_spec& spec,
                                       const std::string& owner) const {
  return table_writer(file_.root().open_group("runs").create_group(name), spec, owner);
}

h5::group results_writer::begin_analysis(const std::string& name) const {
  return file_.root().open_group("analyses").create_group(name);
}

table_writer results_writer::begin_table(const h5::group& analysis, const table_spec& spec,
                                         const std::string& owner) const {
  return table_writer(analysis.create_group(spec.name), spec, owner);
}

void results_writer::finish() {
  file_.root().set_attr("status", std::string("complete"));
  file_.close();
  std::error_code ec;
  std::filesystem::rename(partial_path(), output_, ec);
  if (ec) throw io_error(output_, "cannot rename '" + partial_path() + "' into place: " + ec.message());
  finished_ = true;
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
