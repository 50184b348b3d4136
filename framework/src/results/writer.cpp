// Writes run columns batch by batch and keeps a results file marked partial until it is complete.
#include "results/writer.hpp"

#include <genscope/error.hpp>

#include <cmath>
#include <ctime>
#include <filesystem>
#include <system_error>

namespace genscope {

struct run_writer::columns {
  explicit columns(const h5::group& g)
      : probe(g, "probe"), anchor(g, "anchor"), partner_1(g, "partner_1"), partner_2(g, "partner_2"),
        kind(g, "kind"), anchor_label(g, "anchor_label"), anchor_corrupted(g, "anchor_corrupted"), d_norm(g, "d_norm"), t_lo(g, "t_lo"), t_hi(g, "t_hi"),
        length(g, "length"), class0(g, "class"), class_lo(g, "class_lo"), class_hi(g, "class_hi"),
        clipped_lo(g, "clipped_lo"), clipped_hi(g, "clipped_hi"), status(g, "status"), cost(g, "cost"),
        regions_lo(g, "regions_lo"), regions_hi(g, "regions_hi"), flips_lo(g, "flips_lo"), flips_hi(g, "flips_hi"),
        tangent_dim(g, "tangent_dim"), explained_variance(g, "explained_variance") {}

  h5::column<std::uint64_t> probe;
  h5::column<std::int64_t> anchor, partner_1, partner_2;
  h5::column<std::string> kind;
  h5::column<std::int32_t> anchor_label;
  h5::column<std::int8_t> anchor_corrupted;
  h5::column<double> d_norm, t_lo, t_hi, length;
  h5::column<std::int32_t> class0, class_lo, class_hi;
  h5::column<std::uint8_t> clipped_lo, clipped_hi;
  h5::column<std::uint32_t> status;
  h5::column<std::uint64_t> cost;
  h5::column<std::int64_t> regions_lo, regions_hi, flips_lo, flips_hi;
  h5::column<std::int32_t> tangent_dim;
  h5::column<float> explained_variance;
  /// Ragged breakpoint record, created with the first batch that carries one.
  struct ragged {
    explicit ragged(const h5::group& g)
        : start(g, "breakpoint_start"), count(g, "breakpoint_count"), values(g, "breakpoints") {}
    h5::column<std::uint64_t> start, count;
    h5::column<double> values;
  };
  std::unique_ptr<ragged> breakpoints;
};

run_writer::run_writer(h5::group group) : group_(std::move(group)), columns_(std::make_unique<columns>(group_)) {}
run_writer::~run_writer() = default;
run_writer::run_writer(run_writer&&) noexcept = default;

std::size_t run_writer::rows() const noexcept { return columns_->probe.size(); }

void run_writer::append(const probe_batch& probes, const interval_batch& results,
                        const std::vector<std::int32_t>& labels, const std::vector<std::int32_t>& true_labels) {
  const std::size_t n = probes.size();
  if (probes.tangent_dim.size() != n || probes.explained_variance.size() != n)
    throw error(group_.file_path() + ": sampler returned tangent_dim/explained_variance for " +
                std::to_string(probes.tangent_dim.size()) + "/" + std::to_string(probes.explained_variance.size()) +
                " of " + std::to_string(n) + " probes (probe_batch::resize sets them)");
  if (results.size() != n)
    throw error(group_.file_path() + ": estimator returned " + std::to_string(results.size()) + " results for " +
                std::to_string(n) + " probes");
  std::vector<std::uint64_t> index(n);
  std::vector<std::int64_t> p1(n), p2(n);
  std::vector<std::int32_t> label(n);
  std::vector<std::int8_t> corrupted(n);
  std::vector<double> norm(n), length(n);
  std::vector<std::uint8_t> clo(n), chi(n);
  for (std::size_t k = 0; k < n; ++k) {
    index[k] = probes.first + k;
    p1[k] = probes.partners[k][0];
    p2[k] = probes.partners[k][1];
    const std::int64_t a = probes.anchor[k];
    const bool has_anchor = a >= 0 && static_cast<std::size_t>(a) < labels.size();
    label[k] = has_anchor ? labels[static_cast<std::size_t>(a)] : -1;
    corrupted[k] = !has_anchor ? std::int8_t{-1}
                   : static_cast<std::size_t>(a) < true_labels.size()
                       ? static_cast<std::int8_t>(true_labels[static_cast<std::size_t>(a)] != label[k])
                       : std::int8_t{0};
    double s = 0;
    const float* d = probes.d.row(k);
    for (std::size_t j = 0; j < probes.d.cols; ++j) s += static_cast<double>(d[j]) * d[j];
    norm[k] = std::sqrt(s);
    length[k] = (results.t_hi[k] - results.t_lo[k]) * norm[k];
    clo[k] = (results.status[k] & status_clipped_lo) != 0;
    chi[k] = (results.status[k] & status_clipped_hi) != 0;
  }
  auto& c = *columns_;
  c.probe.append(index);
  c.anchor.append(probes.anchor);
  c.partner_1.append(p1);
  c.partner_2.append(p2);
  c.kind.append(probes.kind);
  c.anchor_label.append(label);
  c.anchor_corrupted.append(corrupted);
  c.d_norm.append(norm);
  c.t_lo.append(results.t_lo);
  c.t_hi.append(results.t_hi);
  c.length.append(length);
  c.class0.append(results.class0);
  c.class_lo.append(results.class_lo);
  c.class_hi.append(results.class_hi);
  c.clipped_lo.append(clo);
  c.clipped_hi.append(chi);
  c.status.append(results.status);
  c.cost.append(results.cost);
  c.regions_lo.append(results.regions_lo);
  c.regions_hi.append(results.regions_hi);
  c.flips_lo.append(results.flips_lo);
  c.flips_hi.append(results.flips_hi);
  c.tangent_dim.append(probes.tangent_dim);
  c.explained_variance.append(probes.explained_variance);
  if (!results.breakpoint_count.empty()) {
    if (results.breakpoint_count.size() != n)
      throw error(group_.file_path() + ": estimator recorded breakpoints for " +
                  std::to_string(results.breakpoint_count.size()) + " of " + std::to_string(n) + " probes");
    if (!c.breakpoints) {
      if (rows() != n) throw error(group_.file_path() + ": breakpoints recorded for some batches of a run only");
      c.breakpoints = std::make_unique<columns::ragged>(group_);
    }
    std::vector<std::uint64_t> start(n);
    std::uint64_t next = c.breakpoints->values.size();
    for (std::size_t k = 0; k < n; ++k) {
      start[k] = next;
      next += results.breakpoint_count[k];
    }
    c.breakpoints->start.append(start);
    c.breakpoints->count.append(results.breakpoint_count);
    c.breakpoints->values.append(results.breakpoints);
  }
}

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

run_writer results_writer::begin_run(const std::string& name) const {
  return run_writer(file_.root().open_group("runs").create_group(name));
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
