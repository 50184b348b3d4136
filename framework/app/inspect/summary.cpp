// Per run and direction kind: counts, Kaplan-Meier length quartiles (clipped lengths censored), interpolation
// fraction, clipping, cost.
#include "inspect/summary.hpp"

#include "h5/h5.hpp"
#include "results/writer.hpp"

#include <genscope/error.hpp>
#include <genscope/interval_estimator.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <ostream>

namespace genscope {

double quantile(const std::vector<double>& sorted, double q) {
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

namespace {

double attr_or(const h5::group& g, const char* name, double fallback) {
  return g.has_attr(name) ? g.attr_double(name) : fallback;
}

run_cost cost_of(const std::string& run, const h5::group& g, std::size_t rows) {
  run_cost c;
  c.run = run;
  if (g.has_attr("sampler")) c.sampler = g.attr_string("sampler");
  if (g.has_attr("sampler_plugin")) c.sampler_plugin = g.attr_string("sampler_plugin");
  c.probes = rows;
  c.prepare_seconds = attr_or(g, "sampler_prepare_seconds", -1);
  c.sampling_seconds = attr_or(g, "sampler_seconds", -1);
  c.estimator_seconds = attr_or(g, "estimator_seconds", -1);
  c.wall_seconds = attr_or(g, "seconds", -1);
  return c;
}

// "72 us", "12.3 ms", "4.56 s"; "-" when the file predates the attribute.
std::string duration_text(double seconds) {
  if (seconds < 0) return "-";
  if (seconds < 1e-3) return fmt::format("{:.0f} us", 1e6 * seconds);
  if (seconds < 1) return fmt::format("{:.1f} ms", 1e3 * seconds);
  return fmt::format("{:.2f} s", seconds);
}

// "12.3 ms (4.5 us/probe)".
std::string per_probe_text(double seconds, std::size_t probes) {
  if (seconds < 0 || probes == 0) return duration_text(seconds);
  const double per = seconds / static_cast<double>(probes);
  return duration_text(seconds) +
         (per < 1e-3 ? fmt::format(" ({:.2f} us/probe)", 1e6 * per) : fmt::format(" ({:.2f} ms/probe)", 1e3 * per));
}

// A Kaplan-Meier quantile or interval end: ">x" when not reached (x is the largest length, a lower bound).
std::string bound_text(double value, bool reached) {
  return fmt::format("{}{:.4g}", reached ? "" : ">", value);
}

}  // namespace

void print_run_summary(const results_summary& summary, std::ostream& out);

results_summary summarize(const std::string& path) {
  const h5::file f = h5::file::open(path);
  const h5::group root = f.root();
  if (!root.has_attr("format") || root.attr_string("format") != results_format_name)
    throw io_error(path, "not a GenScope results file (no format = \"genscope-results\" attribute)");
  results_summary summary;
  if (root.has_attr("shard_index") && root.has_attr("shard_count")) {
    summary.shard_index = static_cast<std::size_t>(root.attr_int("shard_index"));
    summary.shard_count = static_cast<std::size_t>(root.attr_int("shard_count"));
  }
  std::vector<summary_row>& rows = summary.rows;
  const h5::group runs = root.open_group("runs");
  for (const std::string& run : runs.children()) {
    const h5::group g = runs.open_group(run);
    const auto kind = g.read_strings("kind");
    const auto length = g.read<double>("length");
    const auto t_hi = g.read<double>("t_hi");
    const auto status = g.read<std::uint32_t>("status");
    const auto cost = g.read<std::uint64_t>("cost");
    const auto regions_lo = g.read<std::int64_t>("regions_lo");
    const auto regions_hi = g.read<std::int64_t>("regions_hi");
    // Where the line reaches the point its partners define (absent in files written before the column).
    const auto partner_t = g.has("partner_t") ? g.read<double>("partner_t") : std::vector<double>(kind.size(), -1.0);
    h5::same_rows(g, {{"kind", kind.size()}, {"length", length.size()}, {"t_hi", t_hi.size()},
                      {"status", status.size()}, {"cost", cost.size()}, {"regions_lo", regions_lo.size()},
                      {"regions_hi", regions_hi.size()}, {"partner_t", partner_t.size()}});
    summary.runs.push_back(cost_of(run, g, kind.size()));
    std::map<std::string, std::vector<std::size_t>> by_kind;
    for (std::size_t i = 0; i < kind.size(); ++i) by_kind[kind[i]].push_back(i);
    for (const auto& [k, idx] : by_kind) {
      summary_row r;
      r.run = run;
      r.kind = k;
      r.count = idx.size();
      std::vector<double> len, thi, regions;
      std::vector<bool> censored;
      std::size_t interpolated = 0, with_partner = 0, clipped_lo = 0, clipped_hi = 0;
      double total_cost = 0;
      for (std::size_t i : idx) {
        len.push_back(length[i]);
        censored.push_back((status[i] & status_censored) != 0);
        r.censored += censored.back();
        thi.push_back(t_hi[i]);
        if (partner_t[i] > 0) {
          ++with_partner;
          interpolated += t_hi[i] >= partner_t[i];
        }
        clipped_lo += (status[i] & status_clipped_lo) != 0;
        clipped_hi += (status[i] & status_clipped_hi) != 0;
        total_cost += static_cast<double>(cost[i]);
        if (regions_lo[i] >= 0 && regions_hi[i] >= 0)
          regions.push_back(static_cast<double>(regions_lo[i] + regions_hi[i] - 1));
      }
      const stats::km_curve km = stats::kaplan_meier(len, censored);
      r.km_q1 = stats::km_quantile_of(km, 0.25);
      r.km_median = stats::km_quantile_of(km, 0.5);
      r.km_q3 = stats::km_quantile_of(km, 0.75);
      std::sort(len.begin(), len.end());
      std::sort(thi.begin(), thi.end());
      r.length_q1 = quantile(len, 0.25);
      r.length_median = quantile(len, 0.5);
      r.length_q3 = quantile(len, 0.75);
      r.t_hi_median = quantile(thi, 0.5);
      const double n = static_cast<double>(idx.size());
      if (with_partner > 0) r.interpolated = static_cast<double>(interpolated) / static_cast<double>(with_partner);
      r.clipped_lo = static_cast<double>(clipped_lo) / n;
      r.clipped_hi = static_cast<double>(clipped_hi) / n;
      r.mean_cost = total_cost / n;
      if (!regions.empty()) {
        std::sort(regions.begin(), regions.end());
        r.regions_median = quantile(regions, 0.5);
        r.regions_mean = std::accumulate(regions.begin(), regions.end(), 0.0) / static_cast<double>(regions.size());
      }
      rows.push_back(std::move(r));
    }
  }
  summary.analyses = summarize_analyses(root);
  return summary;
}

void print_summary(const results_summary& summary, std::ostream& out) {
  if (summary.shard_count > 0)
    out << fmt::format("shard {} of {}: the rows below are this shard's only; genscope merge combines the {} shards "
                       "into the experiment's results (docs/cluster.md)\n\n",
                       summary.shard_index, summary.shard_count, summary.shard_count);
  print_run_summary(summary, out);
  print_analysis_summaries(summary.analyses, out);
}

void print_run_summary(const results_summary& summary, std::ostream& out) {
  const std::vector<summary_row>& rows = summary.rows;
  if (rows.empty()) return;
  std::size_t run_w = 3, kind_w = 4, ci_w = 11;
  std::vector<std::string> cis;
  for (const auto& r : rows) {
    run_w = std::max(run_w, r.run.size());
    kind_w = std::max(kind_w, r.kind.size());
    cis.push_back(fmt::format("[{}, {}]", bound_text(r.km_median.lo, r.km_median.lo_reached),
                              bound_text(r.km_median.hi, r.km_median.hi_reached)));
    ci_w = std::max(ci_w, cis.back().size());
  }
  out << fmt::format("{:<{}}  {:<{}}  {:>6}  {:>9}  {:>9}  {:>{}}  {:>9}  {:>8}  {:>7}  {:>7}  {:>8}  {:>8}  {:>8}  {:>15}\n",
                     "run", run_w, "kind", kind_w, "count", "length_q1", "median", "median_95ci", ci_w, "length_q3",
                     "censored", "clip_lo", "clip_hi", "t_hi_med", "t_hi>=1", "cost", "regions med/mean");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const summary_row& r = rows[i];
    const std::string interp = r.interpolated < 0 ? "-" : fmt::format("{:.1f}%", 100 * r.interpolated);
    const std::string regions =
        r.regions_median < 0 ? "-" : fmt::format("{:.0f} / {:.1f}", r.regions_median, r.regions_mean);
    const double censored = r.count ? static_cast<double>(r.censored) / static_cast<double>(r.count) : 0.0;
    out << fmt::format("{:<{}}  {:<{}}  {:>6}  {:>9}  {:>9}  {:>{}}  {:>9}  {:>7.1f}%  {:>6.1f}%  {:>6.1f}%  {:>8.4g}  {:>8}  "
                       "{:>8.1f}  {:>15}\n",
                       r.run, run_w, r.kind, kind_w, r.count, bound_text(r.km_q1.value, r.km_q1.reached),
                       bound_text(r.km_median.value, r.km_median.reached), cis[i], ci_w,
                       bound_text(r.km_q3.value, r.km_q3.reached), 100 * censored, 100 * r.clipped_lo,
                       100 * r.clipped_hi, r.t_hi_median, interp, r.mean_cost, regions);
  }
  out << "length: interval length in input units, (t_hi - t_lo) * |d|; length_q1/median/length_q3: its Kaplan-Meier "
         "quartiles, a length with a clipped end (or one cut by max_regions) being censored (at least the one seen);\n"
         "\">x\": not reached (S(t) stays above 1-q: too many long lengths censored), the quantile exceeds x, the largest "
         "length; median_95ci: Brookmeyer-Crowley 95% interval; censored: probes with an end clipped or cut by max_regions;\n"
         "clip_lo/hi: ends that reached the search limit; t_hi>=1: probes whose line reaches its partner point (pairwise, midline) with t_hi >= partner_t, interpolated; cost: forward "
         "passes per probe; regions: linear regions the interval crosses (exact estimator only)\n";
  if (summary.runs.empty()) return;
  out << "\ncost per run (plugin time summed over worker threads):\n";
  for (const auto& c : summary.runs)
    out << fmt::format("{:<{}}  {} probes  sampler {} ({}): prepare {}, sampling {};  estimator {};  wall {}\n", c.run,
                       run_w, c.probes, c.sampler.empty() ? "?" : c.sampler,
                       c.sampler_plugin.empty() ? "?" : c.sampler_plugin,
                       duration_text(c.prepare_seconds), per_probe_text(c.sampling_seconds, c.probes),
                       per_probe_text(c.estimator_seconds, c.probes), duration_text(c.wall_seconds));
}

}  // namespace genscope
