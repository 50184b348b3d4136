// Estimator plugin "bisection": scans t = h, 2h, ... up to T on each side and bisects the first class change.
#include <genscope/interval_estimator.hpp>
#include <genscope/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using genscope::option_spec;
using genscope::option_type;

const option_spec options[] = {
    {"T", option_type::real, "4.0", "search limit: no class change is looked for beyond |t| = T"},
    {"h", option_type::real, "0.05", "scan step in units of t; a class excursion narrower than h can be missed"},
    {"tol", option_type::real, "1e-4", "bisection stops when the bracket is narrower than tol (units of t)"},
    {"scan_chunk", option_type::integer, "16", "scan points evaluated per probe and side in one forward batch"},
};

// Forward batches are capped so a huge probe batch does not allocate huge matrices.
constexpr std::size_t max_rows_per_forward = 16384;

std::string number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  return text;
}

// One side (sign +1 or -1) of one probe; `a` and `b` are |t|.
struct side_job {
  std::size_t probe = 0;
  double sign = 1;
  bool bisecting = false;
  std::uint64_t next = 1;  // next scan point (1-based)
  double a = 0;            // last |t| whose class agreed with class0
  double b = 0;            // first |t| whose class differed (bisecting only)
  std::int32_t class_b = -1;
};

class bisection_estimator final : public genscope::interval_estimator {
 public:
  bisection_estimator(double t_max, double h, double tol, std::size_t chunk)
      : t_max_(t_max), h_(h), tol_(tol), chunk_(chunk) {
    // Scan points are k*h (multiplied, not accumulated, so every probe sees
    // the same values) for k*h <= T, then T itself unless the last one is T.
    steps_ = static_cast<std::uint64_t>(std::floor(t_max_ / h_));
    if (static_cast<double>(steps_ + 1) * h_ <= t_max_ * (1 + 1e-12)) ++steps_;  // T/h rounded down too far
    const bool ends_at_t = static_cast<double>(steps_) * h_ >= t_max_ * (1 - 1e-12);
    point_count_ = ends_at_t ? steps_ : steps_ + 1;
  }

  void estimate(const genscope::network_backend& net, const genscope::probe_batch& probes,
                genscope::interval_batch& out) const override {
    const std::size_t count = probes.size();
    const std::size_t dim = net.input_dim();
    if (count > 0 && (probes.x.cols != dim || probes.d.cols != dim || probes.x.rows != count ||
                      probes.d.rows != count))
      throw std::invalid_argument("bisection: probes are " + std::to_string(probes.x.cols) +
                                  " wide, the backend takes inputs of " + std::to_string(dim));
    out.resize(count);
    if (count == 0) return;

    std::vector<int> classes;
    evaluate(net, probes.x, count, classes);
    std::vector<side_job> jobs;
    for (std::size_t p = 0; p < count; ++p) {
      const int c0 = classes[p];
      out.class0[p] = c0;
      out.cost[p] = 1;
      const float* d = probes.d.row(p);
      if (std::all_of(d, d + dim, [](float v) { return v == 0.0f; })) {
        out.status[p] |= genscope::status_zero_direction;
        if (c0 < 0) out.status[p] |= genscope::status_nonfinite;
        continue;
      }
      if (c0 < 0) {
        out.status[p] |= genscope::status_nonfinite;
        continue;
      }
      jobs.push_back({p, +1.0});
      jobs.push_back({p, -1.0});
    }

    genscope::matrix rows;
    std::vector<double> row_t;           // |t| of each row
    std::vector<std::size_t> job_first;  // first row of each job in this forward
    std::vector<std::size_t> job_rows;
    while (!jobs.empty()) {
      // Take jobs in order until the forward batch is full; every job advances
      // independently of which others share its batch.
      std::size_t taken = 0;
      std::size_t total = 0;
      job_first.clear();
      job_rows.clear();
      row_t.clear();
      while (taken < jobs.size()) {
        const side_job& job = jobs[taken];
        const std::size_t m = job.bisecting ? 1 : static_cast<std::size_t>(std::min<std::uint64_t>(
                                                      chunk_, point_count_ - job.next + 1));
        if (taken > 0 && total + m > max_rows_per_forward) break;
        job_first.push_back(total);
        job_rows.push_back(m);
        for (std::size_t q = 0; q < m; ++q)
          row_t.push_back(job.bisecting ? job.a + 0.5 * (job.b - job.a) : point(job.next + q));
        total += m;
        ++taken;
      }
      rows.resize(total, dim);
      for (std::size_t j = 0; j < taken; ++j) {
        const side_job& job = jobs[j];
        const float* x = probes.x.row(job.probe);
        const float* d = probes.d.row(job.probe);
        for (std::size_t q = 0; q < job_rows[j]; ++q) {
          const double t = job.sign * row_t[job_first[j] + q];
          float* r = rows.row(job_first[j] + q);
          for (std::size_t c = 0; c < dim; ++c) r[c] = static_cast<float>(x[c] + t * d[c]);
        }
      }
      evaluate(net, rows, total, classes);

      std::vector<side_job> remaining;
      for (std::size_t j = 0; j < taken; ++j) {
        side_job job = jobs[j];
        out.cost[job.probe] += job_rows[j];
        if (advance(job, out, &classes[job_first[j]], &row_t[job_first[j]], job_rows[j]))
          remaining.push_back(job);
      }
      remaining.insert(remaining.end(), jobs.begin() + static_cast<std::ptrdiff_t>(taken), jobs.end());
      jobs.swap(remaining);
    }
  }

 private:
  double point(std::uint64_t k) const {
    return k >= point_count_ ? t_max_ : std::min(static_cast<double>(k) * h_, t_max_);
  }

  static void evaluate(const genscope::network_backend& net, const genscope::matrix& x, std::size_t rows,
                       std::vector<int>& classes) {
    genscope::matrix logits;
    net.logits(genscope::matrix_view(x.data.data(), rows, x.cols), logits);
    if (logits.rows != rows || logits.data.size() != logits.rows * logits.cols)
      throw std::runtime_error("bisection: the backend returned " + std::to_string(logits.rows) +
                               " logit rows for " + std::to_string(rows) + " inputs");
    genscope::predict_classes(logits, classes);
  }

  // Applies one forward's classes to a job; returns whether the job goes on.
  bool advance(side_job& job, genscope::interval_batch& out, const int* classes, const double* ts,
               std::size_t m) const {
    const int c0 = out.class0[job.probe];
    for (std::size_t q = 0; q < m; ++q) {
      const int c = classes[q];
      if (c == c0) {
        job.a = ts[q];
        continue;
      }
      if (c < 0) {  // NaN/inf: nothing beyond this point on this side can be trusted
        finish(job, out, job.a, -1, genscope::status_nonfinite);
        return false;
      }
      job.b = ts[q];
      job.class_b = c;
      job.bisecting = true;
      break;
    }
    if (!job.bisecting) {
      job.next += m;
      if (job.next <= point_count_) return true;
      finish(job, out, t_max_, -1, job.sign > 0 ? genscope::status_clipped_hi : genscope::status_clipped_lo);
      return false;
    }
    const double mid = job.a + 0.5 * (job.b - job.a);
    // The second test stops a tol below the resolution of doubles near t.
    if (job.b - job.a < tol_ || mid <= job.a || mid >= job.b) {
      finish(job, out, job.a, job.class_b, 0);
      return false;
    }
    return true;
  }

  static void finish(const side_job& job, genscope::interval_batch& out, double t, int cls, std::uint32_t status) {
    if (job.sign > 0) {
      out.t_hi[job.probe] = t;
      out.class_hi[job.probe] = cls;
    } else {
      out.t_lo[job.probe] = -t;
      out.class_lo[job.probe] = cls;
    }
    out.status[job.probe] |= status;
  }

  double t_max_;
  double h_;
  double tol_;
  std::size_t chunk_;
  std::uint64_t steps_ = 0;        // scan points of the form k*h
  std::uint64_t point_count_ = 0;  // scan points in all (T appended when it is not k*h)
};

// The most scan points per side, T/h (each a forward pass).
constexpr double max_scan_points = 1e9;

genscope::plugin_object* create(const genscope::option_set& o) {
  const double t_max = o.get_real("T");
  const double h = o.get_real("h");
  const double tol = o.get_real("tol");
  const std::int64_t chunk = o.get_int("scan_chunk");
  if (!(t_max > 0) || !std::isfinite(t_max))
    throw std::invalid_argument("option 'T' must be a positive number, got " + number(t_max));
  if (!(h > 0) || h > t_max)
    throw std::invalid_argument("option 'h' must be in (0, T] = (0, " + number(t_max) + "], got " + number(h));
  if (!(tol > 0) || tol >= h)
    throw std::invalid_argument("option 'tol' must be in (0, h) = (0, " + number(h) + "), got " + number(tol));
  if (chunk < 1) throw std::invalid_argument("option 'scan_chunk' must be at least 1, got " + std::to_string(chunk));
  // T/h scan points per side: beyond this no run finishes, and beyond 2^64 the count is not even representable.
  if (t_max / h > max_scan_points)
    throw std::invalid_argument("options 'T' = " + number(t_max) + " and 'h' = " + number(h) + " ask for T/h = " +
                                number(t_max / h) + " scan points per side; at most " + number(max_scan_points));
  return new bisection_estimator(t_max, h, tol, static_cast<std::size_t>(chunk));
}

}  // namespace

GENSCOPE_PLUGIN(genscope::plugin_kind::estimator, "bisection", "1.0.0",
                "generalization interval by a fixed-step scan up to T, then bisection to tol at the first class change",
                options, &create)
