// Analysis tables for `genscope report` and the sensitivity-vs-generalization statistics (see sensitivity.hpp).
#include "report/sensitivity.hpp"

#include "report/stats.hpp"
#include "inspect/summary.hpp"

#include <genscope/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

namespace genscope::report {

std::string num(double v) {
  if (std::isnan(v)) return "nan";
  return fmt::format("{:.6g}", v);
}

std::string attr_text(const h5::group& g, const char* name) {
  if (!g.has_attr(name)) return "";
  try {
    return g.attr_string(name);
  } catch (const std::exception&) {
  }
  try {
    return std::to_string(g.attr_int(name));
  } catch (const std::exception&) {
  }
  try {
    return num(g.attr_double(name));
  } catch (const std::exception&) {
  }
  return "";
}

namespace {

std::vector<std::string> attr_list(const h5::group& g, const char* name) {
  return g.has_attr(name) ? g.attr_strings(name) : std::vector<std::string>{};
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Rows of a stored column: the first dimension (the index column's for a ragged one is not needed here).
std::size_t stored_rows(const h5::group& t, const std::string& column) {
  const std::vector<std::size_t> dims = t.dims(column);
  return dims.empty() ? 1 : dims.front();
}

analysis_table_info read_table(const h5::group& a, const std::string& name) {
  const std::string file = a.file_path();
  if (!a.has(name)) throw io_error(file, fmt::format("analysis {}: declared table '{}' is missing", a.path(), name));
  const h5::group t = a.open_group(name);
  analysis_table_info info{.name = name, .description = attr_text(t, "description"), .columns = attr_list(t, "columns"),
                           .measures = attr_list(t, "measures"), .group_by = attr_text(t, "group_by")};
  for (const std::string& c : info.columns)
    if (!t.has(c))
      throw io_error(file, fmt::format("analysis table {}: declared column '{}' is missing ({})", t.path(), c,
                                       t.listing()));
  std::vector<std::string> used = info.measures;
  if (!info.group_by.empty()) used.push_back(info.group_by);
  for (const std::string& c : used)
    if (!contains(info.columns, c))
      throw io_error(file, fmt::format("analysis table {}: column '{}' is measured or grouped by but not declared in "
                                       "its columns attribute",
                                       t.path(), c));
  const bool has_rows = t.has_attr("rows");
  info.rows = has_rows ? static_cast<std::size_t>(t.attr_int("rows")) : used.empty() ? 0 : stored_rows(t, used.back());
  for (const std::string& c : used)
    if (stored_rows(t, c) != info.rows)
      throw io_error(file, fmt::format("analysis table {}: column '{}' has {} values, the table {} rows", t.path(), c,
                                       stored_rows(t, c), info.rows));
  return info;
}

analysis_info read_analysis(const h5::group& a, const std::string& name) {
  analysis_info info;
  info.name = name;
  info.datasets = attr_list(a, "datasets");
  info.complete = attr_text(a, "complete") == "1";
  for (const auto& [field, attr] : {std::pair{&analysis_info::plugin, "analysis_plugin"},
                                    {&analysis_info::version, "analysis_version"}, {&analysis_info::options, "options"},
                                    {&analysis_info::model, "model"}, {&analysis_info::model_digest, "model_digest"}})
    info.*field = attr_text(a, attr);
  // A partial file may lack `tables` (written last): its table groups are what was begun.
  for (const std::string& t : a.has_attr("tables") ? a.attr_strings("tables") : a.children())
    info.tables.push_back(read_table(a, t));
  return info;
}

}  // namespace

std::vector<analysis_info> read_analyses(const h5::group& root) {
  if (!root.has("analyses")) return {};
  const h5::group all = root.open_group("analyses");
  std::vector<analysis_info> out;
  for (const std::string& name : all.children()) out.push_back(read_analysis(all.open_group(name), name));
  return out;
}

std::string label_regime(const h5::group& root, const std::string& dataset) {
  if (dataset.empty() || !root.has("provenance")) return "unknown";
  const h5::group prov = root.open_group("provenance");
  if (!prov.has("datasets") || !prov.open_group("datasets").has(dataset)) return "unknown";
  const h5::group d = prov.open_group("datasets").open_group(dataset);
  const std::string mode = attr_text(d, "label_mode");
  if (mode.empty()) return "unknown";
  if (mode == "corrupt" && d.has_attr("corruption")) return "corrupt p=" + attr_text(d, "corruption");
  return mode;
}

// ---- statistics ------------------------------------------------------------------------------------------------

double roc_auc(const std::vector<double>& positives, const std::vector<double>& negatives) {
  if (positives.empty() || negatives.empty()) return not_available;
  return stats::mann_whitney(positives, negatives).statistic /
         (static_cast<double>(positives.size()) * static_cast<double>(negatives.size()));
}

auc_interval bootstrap_auc(const std::vector<double>& positives, const std::vector<double>& negatives,
                           std::size_t resamples, std::uint64_t seed, double level) {
  auc_interval r;
  r.auc = roc_auc(positives, negatives);
  if (std::isnan(r.auc)) return r;
  if (resamples == 0) {
    r.lo = r.hi = r.auc;
    return r;
  }
  std::mt19937_64 rng(seed);
  std::vector<double> pos(positives.size()), neg(negatives.size()), aucs;
  aucs.reserve(resamples);
  for (std::size_t b = 0; b < resamples; ++b) {
    stats::resample_with_replacement(rng, positives, pos);
    stats::resample_with_replacement(rng, negatives, neg);
    aucs.push_back(roc_auc(pos, neg));
  }
  std::sort(aucs.begin(), aucs.end());
  r.lo = quantile(aucs, (1 - level) / 2);
  r.hi = quantile(aucs, (1 + level) / 2);
  return r;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const std::size_t n = x.size();
  if (n < 2 || y.size() != n) return not_available;
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(n);
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / static_cast<double>(n);
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (!(sxx > 0) || !(syy > 0)) return not_available;
  return sxy / std::sqrt(sxx * syy);
}

namespace {

// Ranks 1..n, ties sharing their average rank.
std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<std::size_t> order(v.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j < order.size() && v[order[j]] == v[order[i]]) ++j;
    for (std::size_t k = i; k < j; ++k) r[order[k]] = static_cast<double>(i + j + 1) / 2;  // mean of i+1 .. j
    i = j;
  }
  return r;
}

}  // namespace

double spearman(const std::vector<double>& x, const std::vector<double>& y) { return pearson(ranks(x), ranks(y)); }

double permutation_p(const std::vector<double>& x, const std::vector<double>& y, bool spearman_rank) {
  const std::size_t n = x.size();
  if (n > max_exact_permutation_n || y.size() != n) return not_available;
  const auto statistic = [&](const std::vector<double>& yy) { return spearman_rank ? spearman(x, yy) : pearson(x, yy); };
  const double observed = statistic(y);
  if (std::isnan(observed)) return not_available;
  const double threshold = std::abs(observed) * (1 - 1e-9);
  std::vector<std::size_t> perm(n);
  std::iota(perm.begin(), perm.end(), std::size_t{0});
  std::vector<double> permuted(n);
  std::size_t total = 0, extreme = 0;
  do {
    for (std::size_t i = 0; i < n; ++i) permuted[i] = y[perm[i]];
    ++total;
    extreme += std::abs(statistic(permuted)) >= threshold;
  } while (std::next_permutation(perm.begin(), perm.end()));
  return static_cast<double>(extreme) / static_cast<double>(total);
}

correlation correlate(const std::string& quantity, const std::vector<double>& gap, const std::vector<double>& values) {
  correlation c;
  c.quantity = quantity;
  std::vector<double> x, y;
  for (std::size_t i = 0; i < gap.size() && i < values.size(); ++i)
    if (std::isfinite(gap[i]) && std::isfinite(values[i])) x.push_back(values[i]), y.push_back(gap[i]);
  c.regimes = x.size();
  c.pearson_r = pearson(x, y);
  c.spearman_rho = spearman(x, y);
  c.pearson_p = permutation_p(x, y, false);
  c.spearman_p = permutation_p(x, y, true);
  return c;
}

// ---- sensitivity per analysed model ------------------------------------------------------------------------------

namespace {

double mean_of(const std::vector<double>& v) {
  double sum = 0;
  std::size_t n = 0;
  for (double x : v)
    if (std::isfinite(x)) sum += x, ++n;
  return n ? sum / static_cast<double>(n) : not_available;
}

double median_of(const std::vector<double>& v) {
  std::vector<double> finite;
  for (double x : v)
    if (std::isfinite(x)) finite.push_back(x);
  return finite.empty() ? not_available : stats::median(std::move(finite));
}

// The rows of one table split into train (dataset == train_dataset) and test rows, per column.
struct split_columns {
  std::map<std::string, std::vector<double>> train, test;
  std::vector<std::string> test_datasets;
};

split_columns split(const h5::group& table, const std::string& train_dataset, const std::vector<std::string>& columns) {
  split_columns s;
  const std::vector<std::string> dataset = table.read_strings("dataset");
  for (const std::string& c : columns) {
    const std::vector<double> values = table.read<double>(c);
    if (values.size() != dataset.size())
      throw io_error(table.file_path(), fmt::format("analysis table {}: column '{}' has {} values, 'dataset' {}",
                                                    table.path(), c, values.size(), dataset.size()));
    for (std::size_t r = 0; r < values.size(); ++r)
      (dataset[r] == train_dataset ? s.train : s.test)[c].push_back(values[r]);
  }
  for (const std::string& d : dataset)
    if (d != train_dataset && !contains(s.test_datasets, d)) s.test_datasets.push_back(d);
  return s;
}

void add_jacobian(regime_row& row, const h5::group& table, std::size_t resamples, std::uint64_t seed) {
  split_columns s = split(table, row.train_dataset, {"correct", "jacobian_frobenius"});
  row.train_points = s.train["correct"].size();
  row.test_points = s.test["correct"].size();
  row.train_accuracy = mean_of(s.train["correct"]);
  row.test_accuracy = mean_of(s.test["correct"]);
  row.gap = row.train_accuracy - row.test_accuracy;
  row.jf_train_mean = mean_of(s.train["jacobian_frobenius"]);
  row.jf_train_median = median_of(s.train["jacobian_frobenius"]);
  row.jf_test_mean = mean_of(s.test["jacobian_frobenius"]);
  row.jf_test_median = median_of(s.test["jacobian_frobenius"]);
  row.test_datasets = s.test_datasets;
  std::vector<double> wrong, right;
  const std::vector<double>& correct = s.test["correct"];
  const std::vector<double>& jf = s.test["jacobian_frobenius"];
  for (std::size_t i = 0; i < jf.size(); ++i)
    if (std::isfinite(jf[i])) (correct[i] == 0 ? wrong : right).push_back(jf[i]);
  row.test_errors = wrong.size();
  row.auc = bootstrap_auc(wrong, right, resamples, seed);
}

void add_transitions(regime_row& row, const h5::group& table) {
  split_columns s = split(table, row.train_dataset, {"transitions", "unit_flips", "sampled"});
  row.train_ellipses = s.train["transitions"].size();
  row.test_ellipses = s.test["transitions"].size();
  row.transitions_train_mean = mean_of(s.train["transitions"]);
  row.transitions_test_mean = mean_of(s.test["transitions"]);
  for (const std::string& d : s.test_datasets)
    if (!contains(row.test_datasets, d)) row.test_datasets.push_back(d);
  std::vector<double> sampled, flips;
  std::size_t below = 0;
  for (auto* part : {&s.train, &s.test})
    for (std::size_t i = 0; i < (*part)["sampled"].size(); ++i) {
      const double k = (*part)["sampled"][i], f = (*part)["unit_flips"][i];
      if (k < 0) continue;  // K = 0: no sampled count
      sampled.push_back(k);
      flips.push_back(f);
      below += k < f;
    }
  row.sampled_ellipses = sampled.size();
  row.sampled_mean = mean_of(sampled);
  row.unit_flips_mean = mean_of(flips);
  if (!sampled.empty()) row.sampled_below_flips = static_cast<double>(below) / static_cast<double>(sampled.size());
}

double regime_order(const h5::group& root, const std::string& train_dataset, const std::string& regime) {
  if (regime == "real") return 0;
  if (regime == "random") return 3;
  if (regime.rfind("corrupt", 0) == 0) {
    const h5::group d = root.open_group("provenance").open_group("datasets").open_group(train_dataset);
    return 1 + (d.has_attr("corruption") ? d.attr_double("corruption") : 1.0);
  }
  return 4;
}

}  // namespace

std::vector<regime_row> sensitivity_rows(const h5::group& root, const std::vector<analysis_info>& analyses,
                                         std::size_t resamples, std::uint64_t seed, std::vector<std::string>& notes) {
  std::vector<regime_row> rows;
  const h5::group all = root.open_group("analyses");
  for (const analysis_info& a : analyses) {
    const bool jacobian = a.plugin == "jacobian", transitions = a.plugin == "transitions";
    if (!jacobian && !transitions) continue;
    const std::string table = jacobian ? "points" : "ellipses";
    if (std::none_of(a.tables.begin(), a.tables.end(), [&](const analysis_table_info& t) { return t.name == table; })) {
      notes.push_back(fmt::format("analysis {} ({}): no table '{}', left out of the sensitivity section", a.name,
                                  a.plugin, table));
      continue;
    }
    auto it = std::find_if(rows.begin(), rows.end(), [&](const regime_row& r) { return r.model == a.model; });
    if (it == rows.end()) {
      regime_row r;
      r.model = a.model;
      const std::string object = "provenance/models/" + a.model;
      if (root.has("provenance") && root.open_group("provenance").has("models") &&
          root.open_group("provenance").open_group("models").has(a.model))
        r.train_dataset = attr_text(root.open_group("provenance").open_group("models").open_group(a.model), "train_dataset");
      else
        notes.push_back(fmt::format("model {}: no /{} in the file: its training data set is unknown (every point "
                                    "counts as a test point)",
                                    a.model, object));
      r.regime = label_regime(root, r.train_dataset);
      r.order = regime_order(root, r.train_dataset, r.regime);
      rows.push_back(std::move(r));
      it = std::prev(rows.end());
    }
    std::string& owner = jacobian ? it->jacobian_analysis : it->transitions_analysis;
    if (!owner.empty()) {
      notes.push_back(fmt::format("analysis {} ({}): model {} already has analysis {}: left out of the sensitivity "
                                  "section",
                                  a.name, a.plugin, a.model, owner));
      continue;
    }
    owner = a.name;
    const h5::group t = all.open_group(a.name).open_group(table);
    if (jacobian)
      add_jacobian(*it, t, resamples, seed);
    else
      add_transitions(*it, t);
  }
  std::stable_sort(rows.begin(), rows.end(), [](const regime_row& a, const regime_row& b) { return a.order < b.order; });
  return rows;
}

}  // namespace genscope::report
