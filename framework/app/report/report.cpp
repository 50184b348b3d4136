// `genscope report`: reads a results file, computes the tables and statistics, draws figures with gnuplot
// and writes a self-contained index.html (docs/report.md).
#include "report/report.hpp"

#include "report/figures.hpp"
#include "report/interactions.hpp"
#include "report/layers.hpp"
#include "report/planes.hpp"

#include "h5/h5.hpp"
#include "report/sensitivity.hpp"
#include "report/stats.hpp"
#include "inspect/analysis_summary.hpp"
#include "inspect/summary.hpp"

#include <genscope/error.hpp>
#include <genscope/interval_estimator.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <ostream>
#include <set>
#include <sstream>

namespace fs = std::filesystem;

namespace genscope::report {

namespace {

struct run_data {
  std::string name, dataset, model, sampler, sampler_plugin, estimator, estimator_plugin;
  /// What must match for two runs to be compared: sampler and estimator options, input dimension
  /// and data transform (everything but the label regime).
  std::string setting;
  std::string regime;  ///< "real", "random", "corrupt p=0.2", or "unknown"
  std::vector<std::string> kind;
  std::vector<double> length, t_hi;
  std::vector<double> partner_t;  ///< where the line reaches its partner point (-1: none; all -1 in older files)
  std::vector<std::uint32_t> status;  ///< status bits: status_censored marks a censored length
  std::vector<std::int64_t> regions_lo, regions_hi;
  std::vector<std::int8_t> corrupted;  ///< anchor_corrupted; empty when the column is absent
};

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

std::vector<run_data> read_runs(const h5::group& root, std::ostream& log, bool quiet) {
  std::vector<run_data> runs;
  if (!root.has("runs")) return runs;  // a file with analyses only
  const h5::group prov = root.open_group("provenance");
  const bool has_datasets = prov.has("datasets");
  const h5::group runs_g = root.open_group("runs");
  for (const std::string& name : runs_g.children()) {
    const h5::group g = runs_g.open_group(name);
    run_data r;
    r.name = name;
    r.dataset = attr_text(g, "dataset");
    r.model = attr_text(g, "model");
    r.sampler = attr_text(g, "sampler");
    r.sampler_plugin = attr_text(g, "sampler_plugin");
    r.estimator = attr_text(g, "estimator");
    r.estimator_plugin = attr_text(g, "estimator_plugin");
    r.regime = label_regime(root, r.dataset);
    if (has_datasets && !r.dataset.empty()) {
      const h5::group ds = prov.open_group("datasets");
      if (ds.has(r.dataset)) {
        const h5::group d = ds.open_group(r.dataset);
        r.setting = fmt::format("data dim {}{}", attr_text(d, "dim"),
                                d.has_attr("transform") && attr_text(d, "transform") != "none"
                                    ? " (" + attr_text(d, "transform") + ")"
                                    : std::string());
      }
    }
    r.setting = fmt::format("{}; sampler options: {}; estimator options: {}", r.setting,
                            attr_text(g, "sampler_options"), attr_text(g, "estimator_options"));
    r.kind = g.read_strings("kind");
    r.length = g.read<double>("length");
    r.t_hi = g.read<double>("t_hi");
    r.partner_t = g.has("partner_t") ? g.read<double>("partner_t") : std::vector<double>(r.t_hi.size(), -1.0);
    r.status = g.read<std::uint32_t>("status");
    r.regions_lo = g.read<std::int64_t>("regions_lo");
    r.regions_hi = g.read<std::int64_t>("regions_hi");
    if (g.has("anchor_corrupted")) r.corrupted = g.read<std::int8_t>("anchor_corrupted");
    h5::same_rows(g, {{"kind", r.kind.size()}, {"length", r.length.size()}, {"t_hi", r.t_hi.size()},
                      {"partner_t", r.partner_t.size()}, {"status", r.status.size()},
                      {"regions_lo", r.regions_lo.size()}, {"regions_hi", r.regions_hi.size()},
                      {"anchor_corrupted", r.corrupted.empty() ? r.kind.size() : r.corrupted.size()}});
    if (!quiet)
      log << fmt::format("report: run {}: {} probes, labels {}, sampler {} ({}), estimator {} ({})\n", name,
                         r.kind.size(), r.regime, r.sampler, r.sampler_plugin, r.estimator, r.estimator_plugin);
    runs.push_back(std::move(r));
  }
  return runs;
}

// The lengths of one run and kind (and anchor subset) with their censoring: a probe with a clipped end (the search
// reached T without a class change) or an end cut by max_regions has a right-censored length (status_censored:
// the true length is at least this one).
struct sample {
  std::string label;
  std::vector<double> length;
  std::vector<bool> censored;
  std::size_t clipped_lo = 0, clipped_hi = 0;  ///< clipped ends on each side
  std::size_t n() const { return length.size(); }
  std::size_t censored_count() const { return static_cast<std::size_t>(std::count(censored.begin(), censored.end(), true)); }
  std::size_t clipped_ends() const { return clipped_lo + clipped_hi; }
};

sample select(const run_data& r, const std::string& kind, int corrupted = -2) {
  sample s;
  for (std::size_t i = 0; i < r.kind.size(); ++i)
    if (r.kind[i] == kind && (corrupted == -2 || (!r.corrupted.empty() && r.corrupted[i] == corrupted))) {
      const bool lo = (r.status[i] & status_clipped_lo) != 0, hi = (r.status[i] & status_clipped_hi) != 0;
      s.length.push_back(r.length[i]);
      s.censored.push_back((r.status[i] & status_censored) != 0);
      s.clipped_lo += lo;
      s.clipped_hi += hi;
    }
  return s;
}

double fraction(std::size_t part, std::size_t whole) {
  return whole ? static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

// "12 of 240 ends clipped (5.0%), 10 of 120 lengths censored (8.3%)".
std::string clip_text(const sample& s) {
  return fmt::format("{} of {} ends clipped ({:.1f}%), {} of {} lengths censored ({:.1f}%)", s.clipped_ends(),
                     2 * s.n(), 100 * fraction(s.clipped_ends(), 2 * s.n()), s.censored_count(), s.n(),
                     100 * fraction(s.censored_count(), s.n()));
}

// "Clipped: label: 12 of 240 ends ...; label: ...".
std::string clip_summary(const std::vector<sample>& samples) {
  std::string t = "Clipped: ";
  for (std::size_t i = 0; i < samples.size(); ++i)
    t += (i ? "; " : "") + samples[i].label + ": " + clip_text(samples[i]);
  return t + ".";
}

// A Kaplan-Meier quantile or interval end: the value, or ">x" when not reached (x: the largest length).
std::string km_text(double value, bool reached) { return (reached ? "" : ">") + num(value); }

std::vector<std::string> kinds_of(const run_data& r) {
  std::vector<std::string> k;
  for (const auto& s : r.kind)
    if (std::find(k.begin(), k.end(), s) == k.end()) k.push_back(s);
  return k;
}

// Real labels first, then random, then the rest alphabetically.
int regime_rank(const std::string& regime) { return regime == "real" ? 0 : regime == "random" ? 1 : 2; }

struct group_key {
  std::string sampler_plugin, estimator_plugin, kind, setting;
  auto operator<=>(const group_key&) const = default;
};

struct member {
  const run_data* run;
  sample lengths;
};

std::string label_of(const run_data& r) { return r.name + " (" + r.regime + ")"; }

// Histogram (log-spaced bins) of the observed lengths and Kaplan-Meier survival curves (log x, censored lengths
// marked) of several samples, overlaid; adds both figures to `sec` with captions that state the clipped ends of
// every sample. Nothing is drawn when no length is positive.
void draw_distributions(figure_writer& fw, section& sec, const std::string& stem, const std::string& title,
                        const std::string& caption, const std::vector<sample>& samples) {
  double lo = INFINITY, hi = 0;
  for (const sample& smp : samples)
    for (double x : smp.length)
      if (x > 0 && std::isfinite(x)) lo = std::min(lo, x), hi = std::max(hi, x);
  if (!(hi > 0)) return;
  if (hi <= lo * 1.0001) lo /= 1.5, hi *= 1.5;
  const int bins = 30;
  const double llo = std::log10(lo), lhi = std::log10(hi) + 1e-9;
  std::string hist, km, hist_plot, km_plot;
  int km_block = 0;
  for (std::size_t s = 0; s < samples.size(); ++s) {
    const sample& smp = samples[s];
    const std::vector<double>& v = smp.length;
    std::vector<double> count(bins, 0);
    for (double x : v)
      if (x > 0 && std::isfinite(x))
        count[std::clamp(static_cast<int>((std::log10(x) - llo) / (lhi - llo) * bins), 0, bins - 1)] += 1;
    hist += "# " + smp.label + "\n";
    const double n = static_cast<double>(v.size());
    for (int b = 0; b <= bins; ++b)
      hist += fmt::format("{:.9g} {:.9g}\n", std::pow(10.0, llo + (lhi - llo) * b / bins),
                          count[static_cast<std::size_t>(std::min(b, bins - 1))] / n);
    hist += "\n\n";
    const std::string sep = s == 0 ? "plot " : ", \\\n     ";
    hist_plot += sep + fmt::format("dat index {} using 1:2 with steps lw 2 title {}", s, gp_quote(smp.label));
    if (v.empty()) continue;
    // Kaplan-Meier: S just before the axis' first value (steps at lengths <= 0 are off a log axis), then each
    // step, then flat to the largest length (the end of follow-up); gnuplot's `steps` draws a right-continuous
    // step function from these points.
    const stats::km_curve curve = stats::kaplan_meier(v, smp.censored);
    if (curve.max_value < lo) continue;
    double s0 = 1;
    for (const auto& st : curve.steps)
      if (st.time < lo) s0 = st.survival;
    km += "# " + smp.label + "\n" + fmt::format("{:.9g} {:.9g}\n", lo, s0);
    double last_t = lo, last_s = s0;
    for (const auto& st : curve.steps)
      if (st.time >= lo) {
        km += fmt::format("{:.9g} {:.9g}\n", st.time, st.survival);
        last_t = st.time, last_s = st.survival;
      }
    if (curve.max_value > last_t) km += fmt::format("{:.9g} {:.9g}\n", curve.max_value, last_s);
    km += "\n\n";
    km_plot += (km_block == 0 ? "plot " : ", \\\n     ") +
               fmt::format("dat index {} using 1:2 with steps lw 2 lt {} title {}", km_block, s + 1, gp_quote(smp.label));
    ++km_block;
    std::string marks;
    for (std::size_t i = 0; i < v.size(); ++i)
      if (smp.censored[i] && v[i] >= lo) marks += fmt::format("{:.9g} {:.9g}\n", v[i], curve.survival_at(v[i]));
    if (marks.empty()) continue;
    km += "# " + smp.label + ": censored lengths\n" + marks + "\n\n";
    km_plot += fmt::format(", \\\n     dat index {} using 1:2 with points pt 1 ps 0.7 lt {} notitle", km_block, s + 1);
    ++km_block;
  }
  const std::string clipped = clip_summary(samples);
  const auto add = [&](const std::string& fig, const std::string& data, const std::string& body, const std::string& what) {
    fw.draw(fig, data, body);
    sec.figs.push_back(fig);
    sec.captions.push_back(caption + ": " + what + ". " + clipped);
  };
  add(stem + "-hist", hist,
      "set title " + gp_quote(title + ": histogram of observed interval lengths") +
          "\nset logscale x\nset xlabel 'interval length (input units, log scale)'\nset ylabel 'fraction of probes'\n" +
          hist_plot,
      "histogram of observed interval lengths (log-spaced bins; a censored length counts at its observed value)");
  add(stem + "-km", km,
      "set title " + gp_quote(title + ": Kaplan-Meier survival of interval lengths (+: censored)") +
          "\nset logscale x\nset yrange [0:1.02]\nset xlabel 'interval length (input units, log scale)'\n"
          "set ylabel 'fraction of probes with length > x'\n" +
          km_plot,
      "Kaplan-Meier survival S(x) = P(length > x), lengths with a clipped end right-censored (+)");
}

// n, clipped ends (count, fraction of 2n), censored lengths (count, fraction), KM median and its interval.
std::vector<std::string> sample_cells(const sample& s, const stats::km_quantile& m) {
  return {std::to_string(s.n()),
          std::to_string(s.clipped_ends()),
          num(fraction(s.clipped_ends(), 2 * s.n())),
          std::to_string(s.censored_count()),
          num(fraction(s.censored_count(), s.n())),
          km_text(m.value, m.reached),
          km_text(m.lo, m.lo_reached),
          km_text(m.hi, m.hi_reached)};
}

// A row of comparisons.csv: both samples' clipping and Kaplan-Meier medians, and the log-rank test of a vs b.
std::vector<std::string> compare(const std::string& id, const std::string& kind, const sample& a, const sample& b) {
  const auto median = [](const sample& s) {
    return stats::km_quantile_of(stats::kaplan_meier(s.length, s.censored), 0.5);
  };
  const stats::log_rank_result lr = stats::log_rank(a.length, a.censored, b.length, b.censored);
  std::vector<std::string> cells = {id, kind, a.label};
  for (auto& x : sample_cells(a, median(a))) cells.push_back(std::move(x));
  cells.push_back(b.label);
  for (auto& x : sample_cells(b, median(b))) cells.push_back(std::move(x));
  for (std::string x : {num(lr.statistic), num(lr.observed_a), num(lr.expected_a), num(lr.variance),
                        fmt::format("{:.4g}", lr.p)})
    cells.push_back(std::move(x));
  return cells;
}

const std::vector<std::string> comparison_header = {
    "comparison",     "kind",        "a",           "n_a",           "clipped_ends_a", "clipped_ends_frac_a",
    "censored_a",     "censored_frac_a", "km_median_a", "km_ci_lo_a", "km_ci_hi_a",     "b",
    "n_b",            "clipped_ends_b", "clipped_ends_frac_b", "censored_b", "censored_frac_b", "km_median_b",
    "km_ci_lo_b",     "km_ci_hi_b",  "logrank_chi2", "logrank_observed_a", "logrank_expected_a", "logrank_variance",
    "logrank_p"};

// The section's table of comparison rows (comparisons.csv's columns), created empty on first use.
std::vector<std::vector<std::string>>& comparison_rows(section& s) {
  if (s.tables.empty()) s.tables.push_back({"", "", comparison_header, {}});
  return s.tables.front().rows;
}

std::string html_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::string h = "<div class=\"tw\"><table>\n<tr>";
  for (const auto& c : header) h += "<th>" + html_escape(c) + "</th>";
  h += "</tr>\n";
  for (const auto& r : rows) {
    h += "<tr>";
    for (const auto& c : r) h += "<td>" + html_escape(c) + "</td>";
    h += "</tr>\n";
  }
  return h + "</table></div>\n";
}

std::string html_figure(const std::string& stem, const std::string& caption) {
  return "<figure><a href=\"" + stem + ".svg\"><img id=\"fig-" + stem + "\" src=\"" + stem + ".png\" alt=\"" +
         html_escape(caption) + "\"></a><figcaption>" + html_escape(caption) + " (<a href=\"" + stem +
         ".svg\">SVG</a>)</figcaption></figure>\n";
}

void write_csv(const fs::path& path, const table& t) {
  std::string text;
  auto line = [&](const std::vector<std::string>& cells) {
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i > 0) text += ',';
      text += csv_field(cells[i]);
    }
    text += '\n';
  };
  line(t.header);
  for (const auto& r : t.rows) line(r);
  write_text(path, text);
}

// ---- analyses ---------------------------------------------------------------------------------------------------

// Overlaid empirical CDFs F(x) = (values <= x) / n of the finite values, one curve per group, at most about 2,000
// steps per curve (every k-th order statistic and the largest); a log x axis when every value is positive and they
// span two decades or more. Adds the figure to `sec`; draws nothing and returns false when no value is finite.
bool draw_cdfs(figure_writer& fw, section& sec, const std::string& stem, const std::string& title,
               const std::string& xlabel, const std::string& caption,
               const std::vector<std::pair<std::string, std::vector<double>>>& groups) {
  std::string data, plot;
  double lo = INFINITY, hi = -INFINITY;
  int block = 0;
  for (const auto& [label, values] : groups) {
    std::vector<double> v;
    std::copy_if(values.begin(), values.end(), std::back_inserter(v), [](double x) { return std::isfinite(x); });
    if (v.empty()) continue;
    std::sort(v.begin(), v.end());
    lo = std::min(lo, v.front());
    hi = std::max(hi, v.back());
    const std::size_t n = v.size(), stride = (n + 1999) / 2000;
    data += "# " + label + "\n" + fmt::format("{:.9g} 0\n", v.front());
    for (std::size_t i = 0; i < n; ++i)
      if ((i + 1) % stride == 0 || i + 1 == n)
        data += fmt::format("{:.9g} {:.9g}\n", v[i], static_cast<double>(i + 1) / static_cast<double>(n));
    data += "\n\n";
    plot += (block == 0 ? "plot " : ", \\\n     ") +
            fmt::format("dat index {} using 1:2 with steps lw 2 title {}", block, gp_quote(label));
    ++block;
  }
  if (block == 0) return false;
  const bool log_x = lo > 0 && hi >= 100 * lo;
  fw.draw(stem, data,
          "set title " + gp_quote(title) + "\nset yrange [0:1.02]\nset xlabel " +
              gp_quote(xlabel + (log_x ? " (log scale)" : "")) + "\nset ylabel 'fraction of values <= x'\n" +
              (log_x ? "set logscale x\n" : "") + plot);
  sec.figs.push_back(stem);
  sec.captions.push_back(caption);
  return true;
}

// One section per analysis table: the model and data sets; per group the count, quartiles and mean of every
// measured column (summarize_analyses), also the table `csv` (analysis-<name>-<table>.csv); and per measured column
// a figure of its empirical CDF per group.
section analysis_section(const h5::group& root, const analysis_info& a, const analysis_table_info& t,
                         const std::vector<table_group_summary>& summaries, figure_writer& fw, table& csv,
                         const std::function<void(const std::string&)>& note) {
  const std::string stem = "analysis-" + a.name + "-" + t.name;
  const std::string per = t.group_by.empty() ? "" : " per " + t.group_by;
  section s;
  s.anchor = stem;
  s.title = fmt::format("Analysis {} (plugin {}): table {}", a.name, a.plugin, t.name);
  s.text = fmt::format("Model {} (digest {}), data sets: {}. {} rows{}, each {}. Options: {}.{}", a.model,
                       a.model_digest.substr(0, 12), joined(a.datasets, ", "), t.rows,
                       t.group_by.empty() ? "" : ", grouped by " + t.group_by, t.description,
                       a.options.empty() ? "none" : a.options,
                       a.complete ? "" : " The analysis did not finish (a partial file): these are the rows written.");
  csv = {stem,
         fmt::format("Analysis {} ({}), table {}: measured columns{}: count of finite values, quartiles (linear "
                     "interpolation) and mean",
                     a.name, a.plugin, t.name, per),
         {"group", "rows", "column", "count", "q1", "median", "q3", "mean"},
         {}};
  for (const table_group_summary& g : summaries)
    if (g.analysis == a.name && g.table == t.name)
      for (const column_summary& c : g.columns) {
        const auto value = [&](double v) { return c.count ? num(v) : std::string("n/a"); };
        csv.rows.push_back({g.group_by.empty() ? "all" : g.group, std::to_string(g.rows), c.column,
                            std::to_string(c.count), value(c.q1), value(c.median), value(c.q3), value(c.mean)});
      }
  s.tables = {csv};

  const h5::group tg = root.open_group("analyses").open_group(a.name).open_group(t.name);
  // The group of every row ("all" without group_by), sized by the rows stored, never by an attribute.
  std::vector<std::string> keys = t.group_by.empty() ? std::vector<std::string>() : column_as_keys(tg, t.group_by);
  std::vector<std::string> order = t.group_by.empty() ? std::vector<std::string>{"all"} : std::vector<std::string>();
  for (const std::string& k : keys)
    if (std::find(order.begin(), order.end(), k) == order.end()) order.push_back(k);
  for (const std::string& column : t.measures) {
    if (column == t.group_by) continue;
    const std::vector<double> values = tg.read<double>(column);
    if (t.group_by.empty()) keys.assign(values.size(), "all");
    h5::same_rows(tg, {{column, values.size()}, {t.group_by.empty() ? column : t.group_by, keys.size()}});
    std::vector<std::pair<std::string, std::vector<double>>> groups;
    std::string counts;
    for (const std::string& k : order) {
      std::vector<double> v;
      for (std::size_t r = 0; r < values.size(); ++r)
        if (keys[r] == k) v.push_back(values[r]);
      const auto finite = static_cast<std::size_t>(std::count_if(v.begin(), v.end(), [](double x) { return std::isfinite(x); }));
      counts += fmt::format("{}{}: {} values", counts.empty() ? "" : "; ", k, finite);
      if (finite < v.size()) counts += fmt::format(" ({} not finite, left out)", v.size() - finite);
      groups.emplace_back(k, std::move(v));
    }
    const std::string title = fmt::format("{}, {}: {}{}", a.name, t.name, column, per);
    if (!draw_cdfs(fw, s, stem + "-" + column, title, column,
                   fmt::format("{}: empirical CDF of {}{} ({})", a.name, column, per, counts), groups))
      note(title + ": no finite value, no figure");
  }
  return s;
}

// A regime's label in the sensitivity figures: the regime, or "model (regime)" when another model shares it.
std::string regime_label(const std::vector<regime_row>& rows, const regime_row& r) {
  const auto same = std::count_if(rows.begin(), rows.end(), [&](const regime_row& o) { return o.regime == r.regime; });
  return same > 1 ? r.model + " (" + r.regime + ")" : r.regime;
}

// Scatter of the generalization gap against a per-regime quantity, one labelled point per regime where both exist.
void draw_gap_scatter(figure_writer& fw, section& sec, const std::vector<regime_row>& rows, const std::string& stem,
                      const std::string& quantity, double regime_row::*field) {
  std::string data;
  std::size_t points = 0;
  for (const regime_row& r : rows)
    if (std::isfinite(r.gap) && std::isfinite(r.*field)) {
      std::string label = regime_label(rows, r);
      std::replace(label.begin(), label.end(), '"', '\'');
      data += fmt::format("{:.9g} {:.9g} \"{}\"\n", r.*field, r.gap, label);
      ++points;
    }
  if (points == 0) return;
  fw.draw(stem, data,
          "set title " + gp_quote("Generalization gap vs " + quantity) + "\nset xlabel " + gp_quote(quantity) +
              "\nset ylabel 'gap = train - test accuracy'\nset offsets graph 0.1, graph 0.25, graph 0.1, graph 0.1\n"
              "unset key\nplot dat using 1:2 with points pt 7 ps 1.5, dat using 1:2:3 with labels left offset char 1,0.5");
  sec.figs.push_back(stem);
  sec.captions.push_back(fmt::format("Generalization gap vs {}, one point per label regime ({} regimes)", quantity, points));
}

std::string factorial_text(std::size_t n) {
  std::size_t f = 1;
  for (std::size_t k = 2; k <= n; ++k) f *= k;
  return std::to_string(f);
}

// "Sensitivity and generalization (Novak et al. 2018)": one row per analysed model (sensitivity.csv), the gap's
// correlations across regimes (sensitivity-correlations.csv) and two scatter plots.
section sensitivity_section(const std::vector<regime_row>& rows, const options& opt, figure_writer& fw,
                            table& per_regime, table& correlations) {
  section s;
  s.anchor = "sensitivity";
  s.title = "Sensitivity and generalization (Novak et al. 2018)";
  s.text = fmt::format(
      "Novak et al. (2018) found that networks that generalize worse are more sensitive to their input near the data. "
      "One row per analysed model, i.e. per label regime (the label_mode and corruption of the model's training data "
      "set). Train points are the rows of its jacobian and transitions tables whose dataset is the model's training "
      "data set (with the labels it was trained on); test points are the rows of every other data set (column "
      "test_datasets). Accuracy is the mean of correct (predicted class = the data set's label) on the analysed "
      "points, not on the whole data sets; gap = train - test accuracy. ||J||_F is the Frobenius norm of the "
      "Jacobian of the softmax output at a point, exact on its linear region; transitions counts the "
      "activation-pattern changes around an ellipse through three same-label points, walked exactly; sampled is Novak "
      "et al.'s estimate from K sampled patterns, which can only miss unit flips (sampled_below_flips_frac: the "
      "fraction of ellipses where it does). auc_jf_error: ||J||_F at a test point as a score for its "
      "misclassification (correct = 0), the Mann-Whitney U / (n_errors n_correct), ties counted half (0.5: no better "
      "than chance), with a stratified percentile bootstrap 95% interval ({} resamples, seed {}); n/a when the test "
      "points are all right or all wrong. Across regimes, the gap is correlated with the mean test ||J||_F and the "
      "mean test transitions (Pearson r, Spearman rho) with exact permutation p-values over all n! orderings (not "
      "computed for n > {}). With n regimes the smallest possible p is 2/n! (1 for two regimes, 1/3 for three), and "
      "the regimes share data, architecture and training, so these correlations describe this sweep: weak evidence "
      "at best. Definitions: docs/science.md, section Sensitivity; the CDFs of ||J||_F at train and test points are "
      "in each jacobian analysis's section below.",
      opt.bootstrap, opt.seed, max_exact_permutation_n);
  per_regime = {"sensitivity",
                "Sensitivity and generalization per label regime (train points: the model's training data set; test "
                "points: the other data sets)",
                {"model", "regime", "train_dataset", "test_datasets", "jacobian_analysis", "transitions_analysis",
                 "train_points", "test_points", "train_accuracy", "test_accuracy", "gap", "jf_train_mean",
                 "jf_train_median", "jf_test_mean", "jf_test_median", "train_ellipses", "test_ellipses",
                 "transitions_train_mean", "transitions_test_mean", "sampled_ellipses", "sampled_mean",
                 "unit_flips_mean", "sampled_below_flips_frac", "test_errors", "auc_jf_error", "auc_ci_lo",
                 "auc_ci_hi"},
                {}};
  std::vector<double> gap, jf, transitions;
  for (const regime_row& r : rows) {
    per_regime.rows.push_back(
        {r.model, r.regime, r.train_dataset, joined(r.test_datasets, " "), r.jacobian_analysis, r.transitions_analysis,
         std::to_string(r.train_points), std::to_string(r.test_points), cell(r.train_accuracy), cell(r.test_accuracy),
         cell(r.gap), cell(r.jf_train_mean), cell(r.jf_train_median), cell(r.jf_test_mean), cell(r.jf_test_median),
         std::to_string(r.train_ellipses), std::to_string(r.test_ellipses), cell(r.transitions_train_mean),
         cell(r.transitions_test_mean), std::to_string(r.sampled_ellipses), cell(r.sampled_mean),
         cell(r.unit_flips_mean), cell(r.sampled_below_flips), std::to_string(r.test_errors), cell(r.auc.auc),
         cell(r.auc.lo), cell(r.auc.hi)});
    gap.push_back(r.gap);
    jf.push_back(r.jf_test_mean);
    transitions.push_back(r.transitions_test_mean);
  }
  correlations = {"sensitivity-correlations",
                  "Correlation across label regimes of the generalization gap with each quantity (exact permutation "
                  "p-values, two-sided)",
                  {"quantity", "regimes", "permutations", "pearson_r", "pearson_p", "spearman_rho", "spearman_p"},
                  {}};
  for (const correlation& c : {correlate("mean test ||J||_F", gap, jf), correlate("mean test transitions", gap, transitions)}) {
    const bool exact = c.regimes <= max_exact_permutation_n;
    const auto p = [&](double v) { return exact ? cell(v) : std::string("not computed"); };
    correlations.rows.push_back({c.quantity, std::to_string(c.regimes),
                                 exact ? factorial_text(c.regimes) : fmt::format("not computed (n > {})", max_exact_permutation_n),
                                 cell(c.pearson_r), p(c.pearson_p), cell(c.spearman_rho), p(c.spearman_p)});
  }
  s.tables = {per_regime, correlations};
  draw_gap_scatter(fw, s, rows, "sensitivity-gap-jacobian", "mean ||J||_F at test points", &regime_row::jf_test_mean);
  draw_gap_scatter(fw, s, rows, "sensitivity-gap-transitions", "mean transitions on test ellipses",
                   &regime_row::transitions_test_mean);
  return s;
}

}  // namespace

void print_table(const table& t, std::ostream& out) {
  std::vector<std::size_t> w(t.header.size(), 0);
  for (std::size_t i = 0; i < t.header.size(); ++i) w[i] = t.header[i].size();
  for (const auto& r : t.rows)
    for (std::size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], r[i].size());
  out << t.title << " (" << t.name << ".csv)\n";
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (std::size_t i = 0; i < cells.size() && i < w.size(); ++i)
      s += fmt::format("{}{:<{}}", i ? "  " : "", cells[i], w[i]);
    while (!s.empty() && s.back() == ' ') s.pop_back();
    out << s << "\n";
  };
  line(t.header);
  for (const auto& r : t.rows) line(r);
  if (t.rows.empty()) out << "(no rows)\n";
  out << "\n";
}

result write_report(const options& opt, std::ostream& log) {
  if (!fs::exists(opt.results)) throw io_error(opt.results, "no such results file");
  const h5::file f = h5::file::open(opt.results);
  const h5::group root = f.root();
  if (!root.has_attr("format") || root.attr_string("format") != "genscope-results")
    throw io_error(opt.results, "not a GenScope results file (no format = \"genscope-results\" attribute)");
  // /analyses is newer than /runs; a file may hold either or both.
  if (!root.has("provenance") || (!root.has("runs") && !root.has("analyses")))
    throw io_error(opt.results, "not a GenScope results file (no /provenance group, or neither /runs nor /analyses)");

  // Absolute: gnuplot runs inside DIR, and its log is written by a shell started there.
  const fs::path dir = fs::absolute(opt.out_dir);
  std::error_code ec;
  fs::create_directories(dir / "data", ec);
  if (!ec) fs::create_directories(dir / "gnuplot", ec);
  if (ec || !fs::is_directory(dir)) throw io_error(dir.string(), "cannot create the report folder: " + ec.message());
  {
    const fs::path probe = dir / ".genscope-write-test";
    std::ofstream t(probe);
    if (!t) throw io_error(dir.string(), "the report folder is not writable");
    t.close();
    fs::remove(probe, ec);
  }

  const std::vector<run_data> runs = read_runs(root, log, opt.quiet);
  const std::vector<analysis_info> analyses = read_analyses(root);
  figure_writer fw{dir, opt.gnuplot, {}};
  result res;
  std::vector<std::string> notes;
  auto note = [&](const std::string& s) {
    notes.push_back(s);
    if (!opt.quiet) log << "report: note: " << s << "\n";
  };

  // ---- per run and kind: the length distribution --------------------------------------------
  table lengths{"lengths",
                "Interval length (input units) per run and direction kind: clipped ends, Kaplan-Meier quartiles "
                "(lengths with a clipped end censored; >x: not reached) with the median's Brookmeyer-Crowley 95% "
                "interval; raw_*: ignoring censoring, median with bootstrap 95% interval",
                {"run", "labels", "sampler", "estimator", "kind", "anchors", "n", "clipped_lo", "clipped_hi",
                 "clipped_ends_frac", "censored", "censored_frac", "km_median", "km_ci_lo", "km_ci_hi", "km_q1", "km_q3",
                 "raw_median", "raw_ci_lo", "raw_ci_hi", "raw_q1", "raw_q3"},
                {}};
  for (const run_data& r : runs)
    for (const std::string& k : kinds_of(r)) {
      std::vector<std::pair<std::string, int>> subsets = {{"all", -2}};
      if (!r.corrupted.empty()) subsets.insert(subsets.end(), {{"clean", 0}, {"corrupted", 1}});
      for (const auto& [what, flag] : subsets) {
        const sample smp = select(r, k, flag);
        if (smp.length.empty()) continue;
        const stats::km_curve km = stats::kaplan_meier(smp.length, smp.censored);
        const auto q1 = stats::km_quantile_of(km, 0.25), med = stats::km_quantile_of(km, 0.5),
                   q3 = stats::km_quantile_of(km, 0.75);
        const auto m = stats::bootstrap_median(smp.length, opt.bootstrap, opt.seed);
        std::vector<double> v = smp.length;
        std::sort(v.begin(), v.end());
        lengths.rows.push_back({r.name, r.regime, r.sampler_plugin, r.estimator_plugin, k, what, std::to_string(v.size()),
                                std::to_string(smp.clipped_lo), std::to_string(smp.clipped_hi),
                                num(fraction(smp.clipped_ends(), 2 * smp.n())), std::to_string(smp.censored_count()),
                                num(fraction(smp.censored_count(), smp.n())), km_text(med.value, med.reached),
                                km_text(med.lo, med.lo_reached), km_text(med.hi, med.hi_reached),
                                km_text(q1.value, q1.reached), km_text(q3.value, q3.reached), num(m.median), num(m.lo),
                                num(m.hi), num(quantile(v, 0.25)), num(quantile(v, 0.75))});
      }
    }

  // ---- comparisons: same sampler plugin, estimator plugin and kind ----------------------------
  std::map<group_key, std::vector<member>> groups;
  for (const run_data& r : runs)
    for (const std::string& k : kinds_of(r)) {
      sample smp = select(r, k);
      smp.label = label_of(r);
      groups[{r.sampler_plugin, r.estimator_plugin, k, r.setting}].push_back({&r, std::move(smp)});
    }
  table comparisons{"comparisons",
                    "Two-sample comparisons of interval lengths: clipped ends, Kaplan-Meier medians with "
                    "Brookmeyer-Crowley 95% intervals, log-rank test (lengths with a clipped end censored)",
                    comparison_header,
                    {}};
  std::vector<section> sections;
  int gi = 0;
  for (auto& [key, members] : groups) {
    ++gi;
    std::stable_sort(members.begin(), members.end(), [](const member& a, const member& b) {
      return regime_rank(a.run->regime) < regime_rank(b.run->regime);
    });
    section s;
    s.anchor = fmt::format("cmp{}", gi);
    s.title = fmt::format("{}: sampler {}, estimator {}", key.kind, key.sampler_plugin, key.estimator_plugin);
    std::set<std::string> regimes;
    for (const auto& m : members) regimes.insert(m.run->regime);
    s.text = regimes.size() >= 2 ? fmt::format("{} runs, label regimes compared: ", members.size())
                                 : fmt::format("{} run(s), a single label regime (no comparison): ", members.size());
    for (auto it = regimes.begin(); it != regimes.end(); ++it) {
      if (it != regimes.begin()) s.text += ", ";
      s.text += *it;
    }
    s.text += ". Same setting: " + key.setting + ".";
    std::vector<sample> samples;
    for (const auto& m : members) samples.push_back(m.lengths);
    s.text += " " + clip_summary(samples);
    if (!opt.quiet) log << "report: drawing " << s.title << "\n";
    draw_distributions(fw, s, s.anchor, key.kind + " (" + key.sampler_plugin + ", " + key.estimator_plugin + ")",
                       "Interval lengths", samples);
    if (s.figs.empty()) note(s.title + ": no positive interval lengths, no figure");
    for (std::size_t i = 0; i < members.size(); ++i)
      for (std::size_t j = i + 1; j < members.size(); ++j) {
        if (members[i].run->regime == members[j].run->regime) continue;
        if (members[i].lengths.length.empty() || members[j].lengths.length.empty()) continue;
        const auto row = compare(s.anchor, key.kind, members[i].lengths, members[j].lengths);
        comparisons.rows.push_back(row);
        comparison_rows(s).push_back(row);
      }
    sections.push_back(std::move(s));
  }

  // ---- clean vs corrupted anchors within a run ----------------------------------------------
  section cr;
  cr.anchor = "corrupted";
  cr.title = "Clean vs corrupted anchors";
  cr.text = "Runs whose results have an anchor_corrupted column: intervals at anchors whose training label was kept "
            "(clean) vs changed (corrupted).";
  for (std::size_t ri = 0; ri < runs.size(); ++ri) {
    const run_data& r = runs[ri];
    if (r.corrupted.empty()) continue;
    int ki = 0;
    for (const std::string& k : kinds_of(r)) {
      ++ki;
      sample clean = select(r, k, 0), bad = select(r, k, 1);
      if (clean.length.empty() || bad.length.empty()) continue;
      clean.label = r.name + " clean anchors";
      bad.label = r.name + " corrupted anchors";
      draw_distributions(fw, cr, fmt::format("corrupted{}-{}", ri + 1, ki),
                         label_of(r) + ", " + k + ": clean vs corrupted anchors", label_of(r) + ", " + k, {clean, bad});
      const auto row = compare("corrupted:" + r.name, k, clean, bad);
      comparisons.rows.push_back(row);
      comparison_rows(cr).push_back(row);
    }
  }

  // ---- direction kinds within a run (e.g. tangent vs normal) ---------------------------------
  // A sampler that draws several kinds of direction in one run (local_pca: tangent and normal at the same
  // anchors) is compared kind against kind, in the order the kinds first appear.
  section tn;
  tn.anchor = "kinds-within-runs";
  tn.title = "Direction kinds within a run";
  tn.text = "Runs whose sampler draws several kinds of direction at the same anchors, compared kind against kind. "
            "Finding 2: with real labels the class should change much less along tangent than along normal "
            "directions.";
  for (std::size_t ri = 0; ri < runs.size(); ++ri) {
    const run_data& r = runs[ri];
    const std::vector<std::string> kinds = kinds_of(r);
    for (std::size_t a = 0; a < kinds.size(); ++a)
      for (std::size_t b = a + 1; b < kinds.size(); ++b) {
        sample first = select(r, kinds[a]), second = select(r, kinds[b]);
        first.label = r.name + " " + kinds[a];
        second.label = r.name + " " + kinds[b];
        const std::string stem = kinds.size() == 2 ? fmt::format("kinds{}", ri + 1) : fmt::format("kinds{}-{}-{}", ri + 1, a + 1, b + 1);
        draw_distributions(fw, tn, stem, fmt::format("{} ({}): {} vs {}", r.name, r.regime, kinds[a], kinds[b]),
                           label_of(r), {first, second});
        const auto row = compare(stem, kinds[a] + "/" + kinds[b], first, second);
        comparisons.rows.push_back(row);
        comparison_rows(tn).push_back(row);
      }
  }
  if (tn.figs.empty()) tn.text = "No run draws more than one kind of direction.";

  // ---- regions crossed vs length -----------------------------------------------------------
  section rg;
  rg.anchor = "regions";
  rg.title = "Linear regions crossed vs interval length";
  rg.text = "regions = regions_lo + regions_hi - 1 (exact estimator only; runs without region counts are skipped).";
  for (std::size_t ri = 0; ri < runs.size(); ++ri) {
    const run_data& r = runs[ri];
    std::string data, plot;
    std::vector<sample> shown;
    int block = 0;
    for (const std::string& k : kinds_of(r)) {
      std::string part;
      for (std::size_t i = 0; i < r.kind.size(); ++i)
        if (r.kind[i] == k && r.regions_lo[i] >= 0 && r.regions_hi[i] >= 0 && r.length[i] > 0)
          part += fmt::format("{:.9g} {}\n", r.length[i], r.regions_lo[i] + r.regions_hi[i] - 1);
      if (part.empty()) continue;
      shown.push_back(select(r, k));
      shown.back().label = k;
      data += "# " + k + "\n" + part + "\n\n";
      plot += (block == 0 ? "plot " : ", \\\n     ") +
              fmt::format("dat index {} using 1:2 with points pt 7 ps 0.5 title {}", block, gp_quote(k));
      ++block;
    }
    if (block == 0) continue;
    const std::string stem = fmt::format("regions{}", ri + 1);
    fw.draw(stem, data,
            "set title " + gp_quote(label_of(r) + ": regions crossed vs interval length") +
                "\nset logscale x\nset logscale y\nset xlabel 'interval length (input units, log scale)'\n"
                "set ylabel 'linear regions crossed (log scale)'\n" +
                plot);
    rg.figs.push_back(stem);
    rg.captions.push_back(label_of(r) + ": regions crossed vs interval length (a censored length is shown at its "
                          "observed value). " + clip_summary(shown));
  }
  if (rg.figs.empty()) rg.text = "No run measured linear regions (bisection does not count them).";

  // ---- interpolated pairs -------------------------------------------------------------------
  table interp{"interpolated",
               "Fraction of the probes whose line reaches a partner point (pairwise, midline: partner_t > 0) that are "
               "interpolated (t_hi >= partner_t)",
               {"run", "labels", "kind", "n", "interpolated", "fraction"}, {}};
  std::string bars;
  for (const run_data& r : runs)
    for (const std::string& k : kinds_of(r)) {
      std::size_t n = 0, yes = 0;
      for (std::size_t i = 0; i < r.kind.size(); ++i)
        if (r.kind[i] == k && r.partner_t[i] > 0) ++n, yes += r.t_hi[i] >= r.partner_t[i];
      if (n == 0) continue;
      const double frac = static_cast<double>(yes) / static_cast<double>(n);
      interp.rows.push_back({r.name, r.regime, k, std::to_string(n), std::to_string(yes), num(frac)});
      bars += fmt::format("{} {:.9g}\n", "\"" + r.name + " / " + k + "\"", frac);
    }
  section ip;
  ip.anchor = "interpolated";
  ip.title = "Interpolated pairs";
  ip.text = "Fraction of probes with t_hi >= partner_t: the network classifies the whole segment from the anchor to the "
            "point its partners define (the partner of a pair, the midpoint of a triangle's opposite side) alike.";
  if (!interp.rows.empty()) {
    fw.draw("interpolated", bars,
            "set title 'Fraction of probes interpolated (t_hi >= 1)'\nset style fill solid 0.6\nset boxwidth 0.6\n"
            "set yrange [0:1]\nset ylabel 'fraction'\nset xtics rotate by -30 noenhanced\nunset key\n"
            "plot dat using 0:2:xtic(1) with boxes");
    ip.figs.push_back("interpolated");
    ip.captions.push_back("Fraction of probes interpolated (t_hi >= partner_t), per run and direction kind");
  } else {
    ip.text = "No probe's line reaches a partner point (no pairwise or midline probes).";
  }
  ip.tables = {interp};

  // ---- training curves ------------------------------------------------------------------------
  table training{"training", "Training of each model (last epoch)",
                 {"model", "model_file", "epochs", "train_accuracy", "test_accuracy", "note"}, {}};
  section tr;
  tr.anchor = "training";
  tr.title = "Training curves";
  const h5::group prov = root.open_group("provenance");
  if (prov.has("models")) {
    const h5::group models = prov.open_group("models");
    int mi = 0;
    for (const std::string& m : models.children()) {
      ++mi;
      const std::string file = attr_text(models.open_group(m), "model_file");
      auto skip = [&](const std::string& why) {
        training.rows.push_back({m, file, "-", "-", "-", why});
        note("model " + m + ": " + why);
      };
      if (file.empty()) {
        skip("no model_file attribute: no training curve");
        continue;
      }
      const fs::path mpath = find_model_file(opt.results, file);
      if (!fs::exists(mpath)) {
        skip("model file " + file + " is gone: training curve skipped" +
             (mpath.is_relative() ? " (a relative path: run genscope report where genscope run ran)" : ""));
        continue;
      }
      if (mpath.extension() == ".onnx") {
        skip("an ONNX model holds no training curve (trained outside GenScope)");
        continue;
      }
      std::vector<std::int64_t> epoch;
      std::vector<double> train_acc, test_acc;
      try {
        const h5::file mf = h5::file::open(mpath.string());
        const h5::group mr = mf.root();
        if (!mr.has("training") || !mr.open_group("training").has("epoch")) {
          const bool untrained = mr.has("training") && mr.open_group("training").has_attr("epochs_run") &&
                                 mr.open_group("training").attr_int("epochs_run") == 0;
          skip(untrained ? "untrained (epochs = 0): the initialization, no training curve"
                         : "model file has no training curve");
          continue;
        }
        const h5::group t = mr.open_group("training");
        epoch = t.read<std::int64_t>("epoch");
        train_acc = t.read<double>("train_accuracy");
        test_acc = t.read<double>("test_accuracy");
      } catch (const std::exception& e) {
        skip(std::string("cannot read the training curve: ") + e.what());
        continue;
      }
      if (epoch.empty() || train_acc.size() != epoch.size() || test_acc.size() != epoch.size()) {
        skip("empty or inconsistent training curve");
        continue;
      }
      std::string data;
      bool has_test = false;
      for (std::size_t i = 0; i < epoch.size(); ++i) {
        has_test = has_test || !std::isnan(test_acc[i]);
        data += fmt::format("{} {:.9g} {}\n", epoch[i], train_acc[i],
                            std::isnan(test_acc[i]) ? std::string("?") : fmt::format("{:.9g}", test_acc[i]));
      }
      const std::string stem = fmt::format("training{}", mi);
      fw.draw(stem, data,
              "set title " + gp_quote("model " + m + ": accuracy per epoch") +
                  "\nset yrange [0:1.02]\nset xlabel 'epoch'\nset ylabel 'accuracy'\n"
                  "plot dat using 1:2 with lines lw 2 title 'train'" +
                  (has_test ? std::string(", dat using 1:3 with lines lw 2 title 'test'") : std::string()));
      tr.figs.push_back(stem);
      tr.captions.push_back("model " + m + ": train and test accuracy per epoch");
      training.rows.push_back({m, file, std::to_string(epoch.size()), num(train_acc.back()),
                               std::isnan(test_acc.back()) ? "-" : num(test_acc.back()), ""});
    }
  }
  tr.tables = {training};

  // ---- analyses: sensitivity vs generalization, layers and training, then one section per analysis table ----
  std::vector<section> analysis_sections;
  std::vector<table> analysis_tables;
  if (!analyses.empty()) {
    std::vector<std::string> skipped;
    const std::vector<regime_row> regimes = sensitivity_rows(root, analyses, opt.bootstrap, opt.seed, skipped);
    for (const std::string& n : skipped) note(n);
    if (!regimes.empty()) {
      if (!opt.quiet) log << "report: drawing the sensitivity section\n";
      table per_regime, correlations;
      analysis_sections.push_back(sensitivity_section(regimes, opt, fw, per_regime, correlations));
      analysis_tables.insert(analysis_tables.end(), {per_regime, correlations});
    }
  }
  // Geometry per layer and epoch, layer rewinding (models, with or without analyses), feature quantization.
  if (!opt.quiet) log << "report: drawing the layer sections\n";
  layer_sections(root, analyses, opt, fw, analysis_sections, analysis_tables, note);
  if (!analyses.empty()) {
    const std::vector<table_group_summary> summaries = summarize_analyses(root);
    for (const analysis_info& a : analyses)
      for (const analysis_table_info& t : a.tables) {
        if (!opt.quiet) log << fmt::format("report: drawing analysis {}, table {}\n", a.name, t.name);
        table csv;
        analysis_sections.push_back(analysis_section(root, a, t, summaries, fw, csv, note));
        if (a.plugin == "plane_regions" && t.name == "planes") draw_planes(root, a, t, fw, analysis_sections.back(), note);
        if (a.plugin == "interactions" && t.name == "samples")
          analysis_tables.push_back(draw_interactions(root, opt.results, a, t, fw, analysis_sections.back(), note));
        analysis_tables.push_back(std::move(csv));
      }
  }

  // ---- tables -------------------------------------------------------------------------------
  res.tables = {lengths, comparisons, interp, training};
  res.tables.insert(res.tables.end(), analysis_tables.begin(), analysis_tables.end());
  for (const table& t : res.tables) write_csv(dir / (t.name + ".csv"), t);
  res.figures = fw.figures;

  // ---- index.html ---------------------------------------------------------------------------
  std::string h = R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>GenScope report</title>
<style>
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { border-bottom: 2px solid #444; } h2 { border-bottom: 1px solid #aaa; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.5em; text-align: right; } th { background: #eee; }
td:first-child, th:first-child { text-align: left; }
figure { display: inline-block; margin: 0.5em; } figure img { max-width: 560px; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #555; } .note { color: #a50; } .tw { overflow-x: auto; }
dl.prov { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; } dl.prov dt { font-weight: bold; }
</style>
<script>
window.addEventListener('load', function () {
  var n = 0;
  document.querySelectorAll('img').forEach(function (img) {
    if (img.complete && img.naturalWidth > 0) { img.setAttribute('data-rendered', 'yes'); n++; }
    else img.setAttribute('data-rendered', 'no');
  });
  document.body.setAttribute('data-rendered-images', String(n));
});
</script>
</head><body>
<h1>GenScope report</h1>
<dl class="prov">
)";
  auto prov_item = [&](const std::string& label, const std::string& value) {
    h += "<dt>" + html_escape(label) + "</dt><dd>" + html_escape(value.empty() ? "-" : value) + "</dd>\n";
  };
  prov_item("results file", opt.results);
  prov_item("experiment file", attr_text(root, "experiment_file"));
  prov_item("git commit", attr_text(root, "git_commit"));
  prov_item("genscope version", attr_text(root, "genscope_version"));
  prov_item("seed", attr_text(root, "seed"));
  prov_item("start time", attr_text(root, "start_time"));
  prov_item("end time", attr_text(root, "end_time"));
  prov_item("status", attr_text(root, "status"));
  prov_item("host", attr_text(root, "host"));
  h += "</dl>\n";
  if (runs.empty())
    h += "<p>This file has no interval runs (no generalization intervals): only analyses.</p>\n";
  else
    h += "<p>Comparisons group runs with the same sampler plugin, estimator plugin and direction kind; their "
       "label regime comes from the data set's <code>label_mode</code>. An interval end that reached the search limit "
       "T without a class change is <b>clipped</b>, and the length of a probe with a clipped end is "
       "<b>right-censored</b>: the true length is at least the one recorded. Every table and figure states how many "
       "ends are clipped. Medians and quartiles are Kaplan-Meier estimates with a Brookmeyer-Crowley 95% interval "
       "(Greenwood standard error); <code>&gt;x</code> marks a quantile or interval end not reached (it exceeds x, the "
       "largest length). Samples are compared with the two-sided log-rank test (chi-square, 1 degree of freedom). "
       "The <code>raw_*</code> columns of lengths.csv ignore censoring (median with a percentile bootstrap 95% "
       "interval, " +
       std::to_string(opt.bootstrap) + " resamples, seed " + std::to_string(opt.seed) + ").</p>\n";
  if (!analyses.empty())
    h += "<p>Analyses (measurements other than intervals) follow the interval sections: the sensitivity of each "
         "analysed model against its generalization when jacobian or transitions analyses exist; class-manifold "
         "geometry per layer and epoch (manifold_geometry), layer rewinding and feature quantization "
         "(feature_quantization) when the file has them; then one section per analysis table with the quartiles of "
         "its measured columns and their empirical CDFs.</p>\n";
  h += "<p>Tables:";
  for (std::size_t i = 0; i < res.tables.size(); ++i)
    h += (i ? ", " : " ") + ("<a href=\"" + res.tables[i].name + ".csv\">" + res.tables[i].name + ".csv</a>");
  h += ".</p>\n<ul>\n";
  std::vector<section*> all_sections;
  for (auto& s : sections) all_sections.push_back(&s);
  if (!runs.empty()) all_sections.push_back(&tn);
  if (!cr.tables.empty()) all_sections.push_back(&cr);
  if (!runs.empty()) all_sections.insert(all_sections.end(), {&rg, &ip});
  for (auto& s : analysis_sections) all_sections.push_back(&s);
  all_sections.push_back(&tr);
  for (section* s : all_sections)
    h += "<li><a href=\"#" + s->anchor + "\">" + html_escape(s->title) + "</a></li>\n";
  h += "</ul>\n";
  for (section* s : all_sections) {
    h += "<section id=\"" + s->anchor + "\"><h2>" + html_escape(s->title) + "</h2>\n";
    if (!s->text.empty()) h += "<p>" + html_escape(s->text) + "</p>\n";
    for (std::size_t i = 0; i < s->figs.size(); ++i) h += html_figure(s->figs[i], s->captions[i]);
    for (const table& t : s->tables) {
      if (t.rows.empty()) continue;
      if (!t.title.empty())
        h += "<p>" + html_escape(t.title) +
             (t.name.empty() ? std::string() : " (<a href=\"" + t.name + ".csv\">" + t.name + ".csv</a>)") + ".</p>\n";
      h += html_table(t.header, t.rows);
    }
    h += "</section>\n";
  }
  if (!runs.empty())
    h += "<section id=\"all-lengths\"><h2>Interval lengths per run and kind</h2>\n<p>" + html_escape(lengths.title) +
         ".</p>\n" + html_table(lengths.header, lengths.rows) + "</section>\n";
  if (!notes.empty()) {
    h += "<section id=\"notes\"><h2>Notes</h2><ul>\n";
    for (const auto& n : notes) h += "<li class=\"note\">" + html_escape(n) + "</li>\n";
    h += "</ul></section>\n";
  }
  h += "</body></html>\n";
  write_text(dir / "index.html", h);
  if (!opt.quiet)
    log << fmt::format("report: wrote {} with {} figures and {} tables\n", (dir / "index.html").string(),
                       res.figures.size(), res.tables.size());
  return res;
}

}  // namespace genscope::report
