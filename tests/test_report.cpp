// `genscope report` end to end: a tiny real experiment, its report's CSV values against values computed here
// from the results file (Kaplan-Meier quantiles and log-rank statistics by brute force, clipped ends counted from
// the status column; analysis quartiles, accuracies, Jacobian and transition means and the ROC AUC by brute force
// from the raw analysis columns), valid PNG/SVG figures, a headless browser rendering every figure, and bad inputs;
// and the Kaplan-Meier quartiles `genscope inspect` prints for the same file; the layer sections (geometry per layer and
// epoch, layer rewinding, feature quantization) against the raw tables and provenance of a second tiny experiment.
#include "support.hpp"

#include "h5/h5.hpp"
#include "report/sensitivity.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

using namespace genscope;
using genscope::testing::cli_result;
using genscope::testing::line_count;
using genscope::testing::read_file;
using genscope::testing::run_cli;
using genscope::testing::temp_dir;
using genscope::testing::write_file;

namespace fs = std::filesystem;

namespace {

// The data sets and models of the shared experiment: real labels and a `from` copy with permuted labels, a model
// on each; `clean`: 90 of the real samples with their real labels, the test points of both models' analyses.
std::string experiment_head(const std::string& output, const std::string& model_cache) {
  return fmt::format(R"(seed = 5
output = "{}"
model_cache = "{}"

[datasets.real]
source = "synthetic"
samples = 300
dim = 12
manifold_dim = 3
classes = 3
noise = 0.05
label_mode = "real"

[datasets.shuffled]
from = "real"
label_mode = "random"

[datasets.clean]
from = "real"
subset = 90

[models.net_real]
backend = "native"
dataset = "real"
[models.net_real.train]
hidden = [24, 24]
epochs = 12
batch_size = 32

[models.net_random]
backend = "native"
dataset = "shuffled"
[models.net_random.train]
hidden = [24, 24]
epochs = 12
batch_size = 32
)",
                     output, model_cache);
}

// Both sensitivity analyses of each model, on its training data set and on `clean`.
std::string analyses_text() {
  std::string text;
  for (const auto& [model, train] : {std::pair{"real", "real"}, {"random", "shuffled"}})
    text += fmt::format(R"(
[analyses.jac_{0}]
plugin = "jacobian"
model = "net_{0}"
datasets = ["{1}", "clean"]
points = 60

[analyses.ell_{0}]
plugin = "transitions"
model = "net_{0}"
datasets = ["{1}", "clean"]
triplets = 12
K = 200
)",
                        model, train);
  return text;
}

// The shared experiment: pairwise and random directions measured by bisection, local PCA directions measured by
// the exact walk (tangent/normal and region counts), and the analyses.
std::string experiment_text(const temp_dir& dir) {
  return experiment_head(dir / "results.h5", dir / "models") + R"(
[samplers.pairs_real]
plugin = "pairwise"
dataset = "real"
count = 120

[samplers.pairs_random]
plugin = "pairwise"
dataset = "shuffled"
count = 120

[samplers.dirs_real]
plugin = "random"
dataset = "real"
anchors = 30
per_anchor = 3

[samplers.dirs_random]
plugin = "random"
dataset = "shuffled"
anchors = 30
per_anchor = 3

[samplers.manifold]
plugin = "local_pca"
dataset = "real"
anchors = 20
k = 10
tangent_count = 3
normal_count = 3

[estimators.bisect]
plugin = "bisection"
T = 4.0
h = 0.05
tol = 1e-5

[estimators.walk]
plugin = "exact"
T = 20.0

[runs.real_pairs]
model = "net_real"
sampler = "pairs_real"
estimator = "bisect"

[runs.random_pairs]
model = "net_random"
sampler = "pairs_random"
estimator = "bisect"

[runs.real_dirs]
model = "net_real"
sampler = "dirs_real"
estimator = "bisect"

[runs.random_dirs]
model = "net_random"
sampler = "dirs_random"
estimator = "bisect"

[runs.real_manifold]
model = "net_real"
sampler = "manifold"
estimator = "walk"
)" + analyses_text();
}

using csv_rows = std::vector<std::map<std::string, std::string>>;

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> cells;
  std::string cur;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') cur += '"', ++i;
      else if (c == '"') quoted = false;
      else cur += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      cells.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  cells.push_back(cur);
  return cells;
}

csv_rows read_csv(const std::string& path) {
  REQUIRE(fs::exists(path));
  std::istringstream in(read_file(path));
  std::string line;
  REQUIRE(std::getline(in, line));
  const auto header = split_csv_line(line);
  csv_rows rows;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto cells = split_csv_line(line);
    REQUIRE(cells.size() == header.size());
    std::map<std::string, std::string> row;
    for (std::size_t i = 0; i < cells.size(); ++i) row[header[i]] = cells[i];
    rows.push_back(row);
  }
  return rows;
}

// Median by its definition: the middle order statistic, or the mean of the two middle ones.
double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct run_columns {
  std::vector<std::string> kind;
  std::vector<double> length, t_hi;
  std::vector<std::uint8_t> clipped_lo, clipped_hi;
  std::vector<std::int8_t> corrupted;  // anchor_corrupted (1/0/-1) when the file has it
};

std::map<std::string, run_columns> read_results(const std::string& path) {
  std::map<std::string, run_columns> out;
  const h5::file f = h5::file::open(path);
  const h5::group runs = f.root().open_group("runs");
  for (const std::string& r : runs.children()) {
    const h5::group g = runs.open_group(r);
    out[r] = {g.read_strings("kind"), g.read<double>("length"), g.read<double>("t_hi"),
              g.read<std::uint8_t>("clipped_lo"), g.read<std::uint8_t>("clipped_hi"), {}};
    if (g.has("anchor_corrupted")) out[r].corrupted = g.read<std::int8_t>("anchor_corrupted");
  }
  return out;
}

// The lengths of one run and kind, each censored when either end is clipped (the clipped_lo / clipped_hi columns).
struct censored_lengths {
  std::vector<double> v;
  std::vector<bool> censored;
  std::size_t clipped_lo = 0, clipped_hi = 0, n_censored = 0;
};

// anchors: "all", or "clean" / "corrupted" (rows whose anchor_corrupted is 0 / 1).
censored_lengths lengths_of(const run_columns& c, const std::string& kind, const std::string& anchors = "all") {
  censored_lengths l;
  for (std::size_t i = 0; i < c.kind.size(); ++i) {
    if (c.kind[i] != kind) continue;
    if (anchors == "clean" && (c.corrupted.empty() || c.corrupted[i] != 0)) continue;
    if (anchors == "corrupted" && (c.corrupted.empty() || c.corrupted[i] != 1)) continue;
    l.v.push_back(c.length[i]);
    l.censored.push_back(c.clipped_lo[i] || c.clipped_hi[i]);
    l.clipped_lo += c.clipped_lo[i] != 0;
    l.clipped_hi += c.clipped_hi[i] != 0;
    l.n_censored += l.censored.back();
  }
  return l;
}

// Kaplan-Meier quantile and Brookmeyer-Crowley 95% interval by brute force: walk the distinct uncensored lengths
// (a std::set), counting at risk (>= t) and events (== t, uncensored) by scanning the raw arrays.
struct km_oracle {
  double value, lo, hi;
  bool reached = false, lo_reached = false, hi_reached = false;
};

km_oracle km_quantile_oracle(const censored_lengths& l, double q) {
  std::set<double> times;
  for (std::size_t i = 0; i < l.v.size(); ++i)
    if (!l.censored[i]) times.insert(l.v[i]);
  const double largest = *std::max_element(l.v.begin(), l.v.end()), p = 1 - q, z = 1.959963984540054;
  km_oracle o{largest, largest, largest};
  double s = 1, greenwood = 0;
  bool in_set_before = false;
  for (double t : times) {
    double n = 0, d = 0;
    for (std::size_t i = 0; i < l.v.size(); ++i) n += l.v[i] >= t, d += l.v[i] == t && !l.censored[i];
    s *= 1 - d / n;
    if (d < n) greenwood += d / (n * (n - d));
    const double se = d < n ? s * std::sqrt(greenwood) : 0.0;
    if (!o.reached && s <= p * (1 + 1e-9)) o.value = t, o.reached = true;
    const bool in_set = std::abs(s - p) <= z * se;
    if (in_set && !o.lo_reached) o.lo = t, o.lo_reached = true;
    if (in_set_before && !in_set) o.hi = t, o.hi_reached = true;  // the first step after the set's last one
    if (in_set) o.hi = largest, o.hi_reached = false;
    in_set_before = in_set;
  }
  return o;
}

// Log-rank statistic, O_a, E_a and V by brute force over the pooled distinct event times.
std::array<double, 4> log_rank_oracle(const censored_lengths& a, const censored_lengths& b) {
  std::set<double> times;
  for (const censored_lengths* l : {&a, &b})
    for (std::size_t i = 0; i < l->v.size(); ++i)
      if (!l->censored[i]) times.insert(l->v[i]);
  double o = 0, e = 0, var = 0;
  for (double t : times) {
    double na = 0, nb = 0, da = 0, db = 0;
    for (std::size_t i = 0; i < a.v.size(); ++i) na += a.v[i] >= t, da += a.v[i] == t && !a.censored[i];
    for (std::size_t i = 0; i < b.v.size(); ++i) nb += b.v[i] >= t, db += b.v[i] == t && !b.censored[i];
    const double n = na + nb, d = da + db;
    o += da;
    e += d * na / n;
    if (n > 1) var += d * na * nb * (n - d) / (n * n * (n - 1));
  }
  return {(o - e) * (o - e) / var, o, e, var};
}

// A Kaplan-Meier cell as the report writes it: the value, ">value" when not reached.
std::string km_cell(double value, bool reached) { return fmt::format("{}{:.6g}", reached ? "" : ">", value); }

bool is_png(const std::string& path) {
  const std::string s = read_file(path);
  return s.size() > 100 && s.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0 && s.find("IEND") != std::string::npos;
}

bool is_svg(const std::string& path) {
  const std::string s = read_file(path);
  return s.find("<svg") != std::string::npos && s.find("</svg>") != std::string::npos;
}

// One experiment run shared by the tests of this file (trains two tiny models once).
const temp_dir& experiment() {
  static temp_dir dir("report");
  static bool done = false;
  if (!done) {
    write_file(dir / "experiment.toml", experiment_text(dir));
    const cli_result r = run_cli("run --quiet " + (dir / "experiment.toml"));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    done = true;
  }
  return dir;
}

// A quantile by numpy's default definition: linear interpolation between the order statistics.
double numpy_quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(pos);
  const double frac = pos - static_cast<double>(lo);
  return frac == 0 ? v[lo] : v[lo] + frac * (v[lo + 1] - v[lo]);
}

double mean_or_nan(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? NAN : sum / static_cast<double>(v.size());
}

// A numeric cell of the report against the value expected here: "n/a" where that is NaN.
void check_cell(const std::map<std::string, std::string>& row, const std::string& column, double expected) {
  INFO(column << " = " << row.at(column) << ", expected " << expected);
  if (std::isnan(expected))
    CHECK(row.at(column) == "n/a");
  else
    CHECK(std::stod(row.at(column)) == Approx(expected).epsilon(1e-5).margin(1e-12));
}

// The raw columns of an analysis table, read straight from the results file: `dataset` and numeric ones.
struct analysis_rows {
  std::vector<std::string> dataset;
  std::map<std::string, std::vector<double>> values;
  std::vector<std::string> measures;
};

analysis_rows read_analysis(const std::string& path, const std::string& analysis, const std::string& table,
                            const std::vector<std::string>& columns) {
  const h5::file f = h5::file::open(path);
  const h5::group t = f.root().open_group("analyses").open_group(analysis).open_group(table);
  analysis_rows a;
  a.dataset = t.read_strings("dataset");
  a.measures = t.attr_strings("measures");
  std::vector<std::string> all = columns;
  all.insert(all.end(), a.measures.begin(), a.measures.end());
  for (const std::string& c : all) {
    if (t.info(c).cls == h5::dataset_info::element::floating) {
      a.values[c] = t.read<double>(c);
    } else {
      const auto ints = t.read<std::int64_t>(c);
      a.values[c].assign(ints.begin(), ints.end());
    }
    REQUIRE(a.values[c].size() == a.dataset.size());
  }
  return a;
}

// The values of `column` at the rows whose dataset is (or, with `equal` false, is not) `dataset`.
std::vector<double> rows_of(const analysis_rows& a, const std::string& column, const std::string& dataset,
                            bool equal = true) {
  std::vector<double> v;
  for (std::size_t r = 0; r < a.dataset.size(); ++r)
    if ((a.dataset[r] == dataset) == equal) v.push_back(a.values.at(column)[r]);
  return v;
}

// The report of the shared experiment, written once for the analysis tests.
const std::string& analysis_report() {
  static const std::string out = experiment() / "report-analyses";
  static bool done = false;
  if (!done) {
    const cli_result r =
        run_cli("report " + (experiment() / "results.h5") + " -o " + out + " --bootstrap 300 --seed 4");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    done = true;
  }
  return out;
}

const std::vector<std::pair<std::string, std::string>> analysis_tables = {
    {"jac_real", "points"}, {"jac_random", "points"}, {"ell_real", "ellipses"}, {"ell_random", "ellipses"}};

void require_one_line_error(const cli_result& r, std::initializer_list<std::string> needles) {
  INFO("stderr: " << r.err << "stdout: " << r.out);
  REQUIRE(r.exit_code == 1);
  REQUIRE(line_count(r.err) == 1);
  REQUIRE(r.err.rfind("genscope: error: ", 0) == 0);
  for (const auto& n : needles) CHECK(r.err.find(n) != std::string::npos);
}

}  // namespace

TEST_CASE("report writes tables whose values match the results file", "[report]") {
  const temp_dir& dir = experiment();
  const std::string out = dir / "report";
  const cli_result r = run_cli("report " + (dir / "results.h5") + " -o " + out + " --bootstrap 400 --seed 3");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  // Progress on stderr, the tables on stdout.
  CHECK(r.err.find("report: wrote") != std::string::npos);
  for (const char* name : {"lengths.csv", "comparisons.csv", "interpolated.csv", "training.csv"})
    CHECK(r.out.find(name) != std::string::npos);

  const auto results = read_results(dir / "results.h5");
  REQUIRE(results.size() == 5);

  // Per run and kind, recomputed here: clipped ends and censored lengths counted from the clipped_lo/hi columns,
  // Kaplan-Meier quartiles and the median's interval by brute force, the raw (uncensored) median by definition.
  const auto lengths = read_csv(out + "/lengths.csv");
  std::set<std::string> seen;
  std::size_t censored_rows = 0;
  for (const auto& row : lengths) {
    INFO(row.at("run") << " " << row.at("kind"));
    REQUIRE(results.count(row.at("run")) == 1);
    INFO(row.at("anchors"));
    // Rows split by clean and corrupted anchors exist only where the file has an anchor_corrupted column.
    if (row.at("anchors") != "all") CHECK_FALSE(results.at(row.at("run")).corrupted.empty());
    const auto l = lengths_of(results.at(row.at("run")), row.at("kind"), row.at("anchors"));
    const std::size_t n = l.v.size();
    CHECK(std::stoul(row.at("n")) == n);
    CHECK(std::stoul(row.at("clipped_lo")) == l.clipped_lo);
    CHECK(std::stoul(row.at("clipped_hi")) == l.clipped_hi);
    CHECK(std::stod(row.at("clipped_ends_frac")) ==
          Approx(static_cast<double>(l.clipped_lo + l.clipped_hi) / (2.0 * n)).epsilon(1e-5));
    CHECK(std::stoul(row.at("censored")) == l.n_censored);
    CHECK(std::stod(row.at("censored_frac")) == Approx(static_cast<double>(l.n_censored) / n).epsilon(1e-5));
    censored_rows += l.n_censored > 0;
    const auto med = km_quantile_oracle(l, 0.5), q1 = km_quantile_oracle(l, 0.25), q3 = km_quantile_oracle(l, 0.75);
    CHECK(row.at("km_median") == km_cell(med.value, med.reached));
    CHECK(row.at("km_ci_lo") == km_cell(med.lo, med.lo_reached));
    CHECK(row.at("km_ci_hi") == km_cell(med.hi, med.hi_reached));
    CHECK(row.at("km_q1") == km_cell(q1.value, q1.reached));
    CHECK(row.at("km_q3") == km_cell(q3.value, q3.reached));
    CHECK(std::stod(row.at("raw_median")) == Approx(median_of(l.v)).epsilon(1e-5));
    CHECK(std::stod(row.at("raw_ci_lo")) <= std::stod(row.at("raw_median")));
    CHECK(std::stod(row.at("raw_ci_hi")) >= std::stod(row.at("raw_median")));
    if (row.at("anchors") == "all") seen.insert(row.at("run") + "/" + row.at("kind"));
  }
  CHECK(censored_rows > 0);  // the experiment clips some ends, so censoring is exercised
  CHECK(seen == std::set<std::string>{"real_pairs/pairwise", "random_pairs/pairwise", "real_dirs/random",
                                      "random_dirs/random", "real_manifold/tangent", "real_manifold/normal"});
  const auto label_of = [&](const std::string& run) {
    for (const auto& row : lengths)
      if (row.at("run") == run) return row.at("labels");
    return std::string();
  };
  CHECK(label_of("real_pairs") == "real");
  CHECK(label_of("random_pairs") == "random");

  // Interpolated fractions (t_hi >= 1) of the pairwise runs.
  const auto interp = read_csv(out + "/interpolated.csv");
  REQUIRE(interp.size() == 2);
  for (const auto& row : interp) {
    const run_columns& c = results.at(row.at("run"));
    std::size_t n = 0, yes = 0;
    for (std::size_t i = 0; i < c.kind.size(); ++i)
      if (c.kind[i] == "pairwise") ++n, yes += c.t_hi[i] >= 1.0;
    CHECK(row.at("kind") == "pairwise");
    CHECK(std::stoul(row.at("n")) == n);
    CHECK(std::stoul(row.at("interpolated")) == yes);
    CHECK(std::stod(row.at("fraction")) == Approx(static_cast<double>(yes) / n).epsilon(1e-5));
  }

  // Comparisons: real vs random for pairwise and random directions, tangent vs normal; clipped ends, KM medians
  // and the log-rank statistics recomputed by brute force.
  const auto cmp = read_csv(out + "/comparisons.csv");
  std::map<std::string, std::map<std::string, std::string>> by_kind;
  for (const auto& row : cmp)
    if (row.at("comparison").rfind("corrupted:", 0) != 0) by_kind[row.at("kind")] = row;
  REQUIRE(by_kind.count("pairwise") == 1);
  REQUIRE(by_kind.count("random") == 1);
  REQUIRE(by_kind.count("tangent/normal") == 1);
  for (const auto& [kind, runs] : std::map<std::string, std::pair<std::string, std::string>>{
           {"pairwise", {"real_pairs", "random_pairs"}}, {"random", {"real_dirs", "random_dirs"}}}) {
    const auto& row = by_kind.at(kind);
    CHECK(row.at("a") == runs.first + " (real)");
    CHECK(row.at("b") == runs.second + " (random)");
    const auto a = lengths_of(results.at(runs.first), kind), b = lengths_of(results.at(runs.second), kind);
    for (const auto& [side, lp] : {std::pair<std::string, const censored_lengths*>{"a", &a}, {"b", &b}}) {
      INFO(kind << " side " << side);
      const censored_lengths& l = *lp;
      const std::size_t n = l.v.size();
      CHECK(std::stoul(row.at("n_" + side)) == n);
      CHECK(std::stoul(row.at("clipped_ends_" + side)) == l.clipped_lo + l.clipped_hi);
      CHECK(std::stod(row.at("clipped_ends_frac_" + side)) ==
            Approx(static_cast<double>(l.clipped_lo + l.clipped_hi) / (2.0 * n)).epsilon(1e-5));
      CHECK(std::stoul(row.at("censored_" + side)) == l.n_censored);
      CHECK(std::stod(row.at("censored_frac_" + side)) == Approx(static_cast<double>(l.n_censored) / n).epsilon(1e-5));
      const auto med = km_quantile_oracle(l, 0.5);
      CHECK(row.at("km_median_" + side) == km_cell(med.value, med.reached));
      CHECK(row.at("km_ci_lo_" + side) == km_cell(med.lo, med.lo_reached));
      CHECK(row.at("km_ci_hi_" + side) == km_cell(med.hi, med.hi_reached));
    }
    const auto [chi2, observed, expected, variance] = log_rank_oracle(a, b);
    CHECK(std::stod(row.at("logrank_chi2")) == Approx(chi2).epsilon(1e-5).margin(1e-9));
    CHECK(std::stod(row.at("logrank_observed_a")) == observed);
    CHECK(std::stod(row.at("logrank_expected_a")) == Approx(expected).epsilon(1e-5));
    CHECK(std::stod(row.at("logrank_variance")) == Approx(variance).epsilon(1e-5));
    // Chi-square with 1 d.o.f.: P(X >= x) = erfc(sqrt(x / 2)).
    CHECK(std::stod(row.at("logrank_p")) == Approx(std::erfc(std::sqrt(chi2 / 2))).epsilon(1e-3).margin(1e-12));
  }
  // The tangent/normal row of the exact walk: its log-rank statistic too.
  {
    const auto& row = by_kind.at("tangent/normal");
    const auto t = lengths_of(results.at("real_manifold"), "tangent"), n = lengths_of(results.at("real_manifold"), "normal");
    CHECK(std::stoul(row.at("censored_a")) == t.n_censored);
    CHECK(std::stoul(row.at("censored_b")) == n.n_censored);
    CHECK(std::stod(row.at("logrank_chi2")) == Approx(log_rank_oracle(t, n)[0]).epsilon(1e-5).margin(1e-9));
  }

  // Training curves of both models.
  const auto training = read_csv(out + "/training.csv");
  REQUIRE(training.size() == 2);
  for (const auto& row : training) {
    CHECK(row.at("epochs") == "12");
    CHECK(row.at("note").empty());
  }

  // The same seed gives the same bootstrap intervals.
  const cli_result again = run_cli("report --quiet " + (dir / "results.h5") + " -o " + (dir / "report2") +
                                   " --bootstrap 400 --seed 3");
  REQUIRE(again.exit_code == 0);
  CHECK(read_file(out + "/lengths.csv") == read_file(dir / "report2/lengths.csv"));
  CHECK(read_file(out + "/comparisons.csv") == read_file(dir / "report2/comparisons.csv"));
}

TEST_CASE("inspect prints Kaplan-Meier length quartiles that match a brute-force computation", "[report]") {
  const temp_dir& dir = experiment();
  const cli_result r = run_cli("inspect " + (dir / "results.h5"));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const auto results = read_results(dir / "results.h5");
  std::istringstream in(r.out);
  std::string line;
  REQUIRE(std::getline(in, line));
  const std::regex gap("\\s{2,}");
  const auto split = [&](const std::string& l) {
    std::vector<std::string> cells;
    for (std::sregex_token_iterator it(l.begin(), l.end(), gap, -1), end; it != end; ++it)
      if (!it->str().empty()) cells.push_back(*it);
    return cells;
  };
  const auto header = split(line);
  REQUIRE(header.size() == 14);
  CHECK(header[3] == "length_q1");
  CHECK(header[4] == "median");
  CHECK(header[5] == "median_95ci");
  CHECK(header[6] == "length_q3");
  CHECK(header[7] == "censored");
  const auto text = [](double v, bool reached) { return fmt::format("{}{:.4g}", reached ? "" : ">", v); };
  std::set<std::string> seen;
  std::size_t censored_rows = 0;
  while (std::getline(in, line) && line.rfind("length:", 0) != 0) {
    const auto cells = split(line);
    REQUIRE(cells.size() == 14);
    INFO(line);
    REQUIRE(results.count(cells[0]) == 1);
    const auto l = lengths_of(results.at(cells[0]), cells[1]);
    const auto q1 = km_quantile_oracle(l, 0.25), med = km_quantile_oracle(l, 0.5), q3 = km_quantile_oracle(l, 0.75);
    CHECK(cells[2] == std::to_string(l.v.size()));
    CHECK(cells[3] == text(q1.value, q1.reached));
    CHECK(cells[4] == text(med.value, med.reached));
    CHECK(cells[5] == fmt::format("[{}, {}]", text(med.lo, med.lo_reached), text(med.hi, med.hi_reached)));
    CHECK(cells[6] == text(q3.value, q3.reached));
    CHECK(cells[7] == fmt::format("{:.1f}%", 100.0 * l.n_censored / l.v.size()));
    CHECK(cells[8] == fmt::format("{:.1f}%", 100.0 * l.clipped_lo / l.v.size()));
    CHECK(cells[9] == fmt::format("{:.1f}%", 100.0 * l.clipped_hi / l.v.size()));
    censored_rows += l.n_censored > 0;
    seen.insert(cells[0] + "/" + cells[1]);
  }
  CHECK(seen.size() == 6);
  CHECK(censored_rows > 0);
  // The footnote explains the censoring.
  CHECK(r.out.find("Kaplan-Meier") != std::string::npos);
  CHECK(r.out.find("\">x\": not reached") != std::string::npos);
}

TEST_CASE("report figures are valid PNG and SVG and every one renders in a headless browser", "[report]") {
  const temp_dir& dir = experiment();
  const std::string out = dir / "report-fig";
  const cli_result r = run_cli("report --quiet " + (dir / "results.h5") + " -o " + out + " --bootstrap 100");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::string html = read_file(out + "/index.html");
  REQUIRE_FALSE(html.empty());
  // Self-contained: no network resources.
  CHECK(html.find("http://") == std::string::npos);
  CHECK(html.find("https://") == std::string::npos);
  CHECK(html.find("<style>") != std::string::npos);

  // Every PNG written is shown in the page with a fixed id and a link to its SVG.
  std::set<std::string> stems;
  for (const auto& e : fs::directory_iterator(out))
    if (e.path().extension() == ".png") stems.insert(e.path().stem().string());
  for (const std::string expected :
       {"cmp1-hist", "cmp1-km", "interpolated", "training1", "training2", "regions4", "kinds4-hist", "kinds4-km",
        "sensitivity-gap-jacobian", "sensitivity-gap-transitions", "analysis-jac_real-points-jacobian_frobenius",
        "analysis-ell_random-ellipses-transitions"})
    CHECK(stems.count(expected) == 1);
  REQUIRE(stems.size() >= 10);
  for (const auto& s : stems) {
    INFO(s);
    CHECK(is_png(out + "/" + s + ".png"));
    CHECK(is_svg(out + "/" + s + ".svg"));
    CHECK(html.find("<img id=\"fig-" + s + "\" src=\"" + s + ".png\"") != std::string::npos);
    CHECK(html.find("href=\"" + s + ".svg\"") != std::string::npos);
  }
  // Every length figure's caption states the clipped ends of each sample it shows.
  for (const auto& s : stems) {
    if (!s.ends_with("-hist") && !s.ends_with("-km") && !s.starts_with("regions")) continue;
    INFO(s);
    const std::regex caption("id=\"fig-" + s + "\"[^>]*></a><figcaption>[^<]*Clipped: [^<]* ends clipped \\(");
    CHECK(std::regex_search(html, caption));
  }
  // Provenance header.
  CHECK(html.find("experiment.toml") != std::string::npos);
  CHECK(html.find("git commit") != std::string::npos);

  const std::string chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium))
    FAIL("chromium is missing (" << chromium << "): it is a declared dependency (scripts/install-deps); "
                                 "install it to run the rendering test");
  const std::string dom = dir / "dom.html";
  const std::string cmd = "timeout 120 " + chromium +
                          " --headless --no-sandbox --disable-gpu --virtual-time-budget=5000 --dump-dom 'file://" +
                          fs::absolute(out + "/index.html").string() + "' > " + dom + " 2> " + (dir / "chromium.err");
  const int rc = std::system(cmd.c_str());
  INFO("chromium stderr: " << read_file(dir / "chromium.err"));
  REQUIRE(rc == 0);
  const std::string rendered = read_file(dom);
  REQUIRE(rendered.find("data-rendered-images=\"" + std::to_string(stems.size()) + "\"") != std::string::npos);
  for (const auto& s : stems) {
    INFO(s);
    const std::regex img("<img[^>]*id=\"fig-" + s + "\"[^>]*>");
    std::smatch m;
    REQUIRE(std::regex_search(rendered, m, img));
    CHECK(m.str().find("data-rendered=\"yes\"") != std::string::npos);
  }
}

TEST_CASE("report notes a model file that is gone and still writes the rest", "[report]") {
  const temp_dir& dir = experiment();
  temp_dir copy("report-gone");
  fs::copy_file(dir / "results.h5", copy / "results.h5");
  // The results file names model files in dir/models; hide them by renaming the folder for this run.
  fs::rename(dir / "models", dir / "models-hidden");
  const cli_result r = run_cli("report " + (copy / "results.h5") + " -o " + (copy / "out") + " --bootstrap 50");
  fs::rename(dir / "models-hidden", dir / "models");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("is gone") != std::string::npos);
  const auto training = read_csv(copy / "out/training.csv");
  REQUIRE(training.size() == 2);
  for (const auto& row : training) CHECK(row.at("note").find("is gone") != std::string::npos);
  CHECK_FALSE(fs::exists(copy / "out/training1.png"));
  CHECK(fs::exists(copy / "out/index.html"));
}

TEST_CASE("report accepts an output folder relative to the working directory", "[report]") {
  const temp_dir& dir = experiment();
  temp_dir work("report-relative");
  // `make run` writes its report as results/paper-quick-report: gnuplot runs inside that folder, so the
  // relative path must be resolved before it does.
  const cli_result r =
      run_cli("report --quiet " + (dir / "results.h5") + " -o nested/out --bootstrap 50", "cd " + work.path().string() + " &&");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(fs::exists(work / "nested/out/index.html"));
  CHECK(fs::exists(work / "nested/out/interpolated.png"));
}

TEST_CASE("report summarises every analysis table per group, matching the raw columns", "[report]") {
  const std::string& out = analysis_report();
  const std::string results = experiment() / "results.h5";
  const std::string html = read_file(out + "/index.html");
  for (const auto& [analysis, table] : analysis_tables) {
    INFO(analysis << "/" << table);
    const analysis_rows a = read_analysis(results, analysis, table, {});
    REQUIRE_FALSE(a.measures.empty());
    CHECK(html.find(fmt::format("Analysis {} (plugin {}): table {}", analysis,
                                table == "points" ? "jacobian" : "transitions", table)) != std::string::npos);
    // Quartiles, count and mean of each measured column per data set, recomputed from the finite raw values.
    const auto rows = read_csv(out + "/analysis-" + analysis + "-" + table + ".csv");
    std::set<std::string> seen;
    for (const auto& row : rows) {
      const std::string group = row.at("group"), column = row.at("column");
      INFO(group << " " << column);
      REQUIRE(std::count(a.measures.begin(), a.measures.end(), column) == 1);
      const std::vector<double> raw = rows_of(a, column, group);
      std::vector<double> finite;
      std::copy_if(raw.begin(), raw.end(), std::back_inserter(finite), [](double x) { return std::isfinite(x); });
      REQUIRE_FALSE(finite.empty());
      CHECK(std::stoul(row.at("rows")) == raw.size());
      CHECK(std::stoul(row.at("count")) == finite.size());
      check_cell(row, "q1", numpy_quantile(finite, 0.25));
      check_cell(row, "median", numpy_quantile(finite, 0.5));
      check_cell(row, "q3", numpy_quantile(finite, 0.75));
      check_cell(row, "mean", mean_or_nan(finite));
      seen.insert(group + "/" + column);
    }
    std::set<std::string> expected;
    for (const std::string& d : std::set<std::string>(a.dataset.begin(), a.dataset.end()))
      for (const std::string& c : a.measures) expected.insert(d + "/" + c);
    CHECK(seen == expected);
    // One CDF figure per measured column.
    for (const std::string& c : a.measures) {
      const std::string stem = out + "/analysis-" + analysis + "-" + table + "-" + c;
      INFO(stem);
      CHECK(is_png(stem + ".png"));
      CHECK(is_svg(stem + ".svg"));
    }
  }
}

TEST_CASE("report's sensitivity table matches a brute-force recomputation from the analysis columns", "[report]") {
  const std::string& out = analysis_report();
  const std::string results = experiment() / "results.h5";
  const auto rows = read_csv(out + "/sensitivity.csv");
  REQUIRE(rows.size() == 2);
  // Real labels first.
  CHECK(rows[0].at("model") == "net_real");
  CHECK(rows[0].at("regime") == "real");
  CHECK(rows[1].at("model") == "net_random");
  CHECK(rows[1].at("regime") == "random");
  const h5::file f = h5::file::open(results);
  for (const auto& row : rows) {
    const std::string model = row.at("model"), suffix = model == "net_real" ? "real" : "random";
    INFO(model);
    const std::string train =
        f.root().open_group("provenance").open_group("models").open_group(model).attr_string("train_dataset");
    CHECK(row.at("train_dataset") == train);
    CHECK(row.at("test_datasets") == "clean");
    CHECK(row.at("jacobian_analysis") == "jac_" + suffix);
    CHECK(row.at("transitions_analysis") == "ell_" + suffix);

    const analysis_rows jac = read_analysis(results, "jac_" + suffix, "points", {"correct"});
    const auto train_correct = rows_of(jac, "correct", train), test_correct = rows_of(jac, "correct", train, false);
    const auto train_jf = rows_of(jac, "jacobian_frobenius", train);
    const auto test_jf = rows_of(jac, "jacobian_frobenius", train, false);
    CHECK(std::stoul(row.at("train_points")) == train_correct.size());
    CHECK(std::stoul(row.at("test_points")) == test_correct.size());
    const double train_acc = mean_or_nan(train_correct), test_acc = mean_or_nan(test_correct);
    check_cell(row, "train_accuracy", train_acc);
    check_cell(row, "test_accuracy", test_acc);
    check_cell(row, "gap", train_acc - test_acc);
    check_cell(row, "jf_train_mean", mean_or_nan(train_jf));
    check_cell(row, "jf_train_median", numpy_quantile(train_jf, 0.5));
    check_cell(row, "jf_test_mean", mean_or_nan(test_jf));
    check_cell(row, "jf_test_median", numpy_quantile(test_jf, 0.5));
    // AUC of ||J||_F for a test point's misclassification by counting every (error, correct) pair.
    double wins = 0, errors = 0, right = 0;
    for (std::size_t i = 0; i < test_jf.size(); ++i) {
      if (test_correct[i] != 0) continue;
      ++errors;
      for (std::size_t j = 0; j < test_jf.size(); ++j)
        if (test_correct[j] != 0) wins += test_jf[i] > test_jf[j] ? 1.0 : test_jf[i] == test_jf[j] ? 0.5 : 0.0;
    }
    for (double c : test_correct) right += c != 0;
    CHECK(std::stoul(row.at("test_errors")) == static_cast<std::size_t>(errors));
    const double auc = errors > 0 && right > 0 ? wins / (errors * right) : NAN;
    check_cell(row, "auc_jf_error", auc);
    if (!std::isnan(auc)) {
      CHECK(std::stod(row.at("auc_ci_lo")) <= std::stod(row.at("auc_jf_error")) + 1e-9);
      CHECK(std::stod(row.at("auc_ci_hi")) >= std::stod(row.at("auc_jf_error")) - 1e-9);
    }

    const analysis_rows ell = read_analysis(results, "ell_" + suffix, "ellipses", {});
    CHECK(std::stoul(row.at("train_ellipses")) == rows_of(ell, "transitions", train).size());
    CHECK(std::stoul(row.at("test_ellipses")) == rows_of(ell, "transitions", train, false).size());
    check_cell(row, "transitions_train_mean", mean_or_nan(rows_of(ell, "transitions", train)));
    check_cell(row, "transitions_test_mean", mean_or_nan(rows_of(ell, "transitions", train, false)));
    const auto& sampled = ell.values.at("sampled");
    const auto& flips = ell.values.at("unit_flips");
    double below = 0;
    for (std::size_t i = 0; i < sampled.size(); ++i) below += sampled[i] < flips[i];
    CHECK(std::stoul(row.at("sampled_ellipses")) == sampled.size());
    check_cell(row, "sampled_mean", mean_or_nan(sampled));
    check_cell(row, "unit_flips_mean", mean_or_nan(flips));
    check_cell(row, "sampled_below_flips_frac", below / static_cast<double>(sampled.size()));
  }
  // The random-label model generalizes worse (its test points carry the real labels).
  CHECK(std::stod(rows[1].at("gap")) > std::stod(rows[0].at("gap")));

  // Two regimes: r = +-1, and both orderings are as extreme, so p = 1.
  const auto correlations = read_csv(out + "/sensitivity-correlations.csv");
  REQUIRE(correlations.size() == 2);
  for (const auto& c : correlations) {
    INFO(c.at("quantity"));
    CHECK(c.at("regimes") == "2");
    CHECK(c.at("permutations") == "2");
    CHECK(std::abs(std::stod(c.at("pearson_r"))) == Approx(1));
    CHECK(std::stod(c.at("pearson_p")) == 1);
  }
  for (const char* stem : {"sensitivity-gap-jacobian", "sensitivity-gap-transitions"}) {
    CHECK(is_png(out + "/" + stem + ".png"));
    CHECK(is_svg(out + "/" + stem + ".svg"));
  }
  const std::string html = read_file(out + "/index.html");
  CHECK(html.find("Sensitivity and generalization (Novak et al. 2018)") != std::string::npos);
  CHECK(html.find("docs/science.md") != std::string::npos);
}

TEST_CASE("permutation p-values, correlations and the ROC AUC on hand examples", "[report]") {
  // x = 1..4, y = (2, 1, 4, 3): r = 3 / 5 = 0.6. Of the 24 orderings of y, sum x y (20 ... 30, r = (sum - 25) / 5)
  // is >= 28 for 5 and <= 22 for 5: p = 10 / 24. The ranks are the values, so Spearman's rho is the same.
  const std::vector<double> x = {1, 2, 3, 4}, y = {2, 1, 4, 3};
  CHECK(report::pearson(x, y) == Approx(0.6));
  CHECK(report::spearman(x, y) == Approx(0.6));
  CHECK(report::permutation_p(x, y, false) == Approx(10.0 / 24));
  CHECK(report::permutation_p(x, y, true) == Approx(10.0 / 24));
  // A perfect order of three: only it and its reverse are as extreme, p = 2 / 3!.
  CHECK(report::permutation_p({1, 2, 3}, {10, 20, 40}, false) == Approx(1.0 / 3));
  CHECK(report::spearman({1, 2, 3}, {10, 20, 40}) == Approx(1));
  // Beyond 8 values no p-value; no variance, no correlation.
  const std::vector<double> nine = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  CHECK(std::isnan(report::permutation_p(nine, nine, false)));
  CHECK(std::isnan(report::pearson({1, 1, 1}, {1, 2, 3})));
  CHECK(std::isnan(report::permutation_p({1, 1, 1}, {1, 2, 3}, false)));
  // AUC: pairs (3, 1), (3, 2), (2, 1) won, (2, 2) tied: (3 + 0.5) / 4.
  CHECK(report::roc_auc({3, 2}, {1, 2}) == Approx(0.875));
  CHECK(std::isnan(report::roc_auc({}, {1, 2})));
  const std::vector<double> pos = {3, 2, 5, 0.5}, neg = {1, 2, 0.1};
  const auto ci = report::bootstrap_auc(pos, neg, 500, 7);
  CHECK(ci.auc == Approx(report::roc_auc(pos, neg)));
  CHECK(ci.lo <= ci.auc);
  CHECK(ci.hi >= ci.auc);
  const auto again = report::bootstrap_auc(pos, neg, 500, 7);
  CHECK(again.lo == ci.lo);
  CHECK(again.hi == ci.hi);
}

TEST_CASE("report on a results file with analyses and no runs", "[report]") {
  const temp_dir& dir = experiment();
  // The same data sets and models (taken from the model cache), the analyses only.
  write_file(dir / "analyses-only.toml", experiment_head(dir / "analyses-only.h5", dir / "models") + analyses_text());
  const cli_result run = run_cli("run --quiet " + (dir / "analyses-only.toml"));
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  const std::string out = dir / "report-analyses-only";
  const cli_result r = run_cli("report " + (dir / "analyses-only.h5") + " -o " + out + " --bootstrap 300 --seed 4");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_csv(out + "/lengths.csv").empty());
  // Same models, data, seed and bootstrap: the same sensitivity table as the file with runs.
  CHECK(read_file(out + "/sensitivity.csv") == read_file(analysis_report() + "/sensitivity.csv"));
  const std::string html = read_file(out + "/index.html");
  CHECK(html.find("no interval runs") != std::string::npos);
  CHECK(html.find("id=\"all-lengths\"") == std::string::npos);
  CHECK(html.find("id=\"kinds-within-runs\"") == std::string::npos);
  for (const auto& [analysis, table] : analysis_tables) {
    CHECK(fs::exists(out + "/analysis-" + analysis + "-" + table + ".csv"));
    CHECK(html.find("id=\"analysis-" + analysis + "-" + table + "\"") != std::string::npos);
  }
  for (const char* stem : {"sensitivity-gap-jacobian", "sensitivity-gap-transitions",
                           "analysis-jac_random-points-jacobian_frobenius", "training1"})
    CHECK(is_png(out + "/" + stem + ".png"));
  // Neither manifold_geometry nor feature_quantization analyses nor rewound models: no layer sections.
  for (const char* csv : {"geometry-layers.csv", "rewinding.csv", "quantization.csv"})
    CHECK_FALSE(fs::exists(out + "/" + csv));
  for (const char* id : {"geometry-layers", "rewinding", "quantization"})
    CHECK(html.find(std::string("id=\"") + id + "\"") == std::string::npos);
}

namespace {

// The layer sections' experiment: a 10-16-16-3 MLP trained on synthetic data with 40% of its labels corrupted
// (checkpoints after epochs 2 and 5), its class-manifold geometry at every checkpoint for clean and relabelled
// samples, three models with layers rewound, and four one-hidden-layer networks (widths 8 and 32, initialization
// scales 0.01 and 1) trained by full-batch gradient descent with their first-layer feature clusters.
struct quantized_net {
  std::string name;
  std::int64_t width;
  double scale;
};
const std::vector<quantized_net> quantized_nets = {
    {"q8_small", 8, 0.01}, {"q8_large", 8, 1.0}, {"q32_small", 32, 0.01}, {"q32_large", 32, 1.0}};
struct rewinding {
  std::string model, layers;
  std::int64_t to;
};
const std::vector<rewinding> rewindings = {{"rw3_e2", "3", 2}, {"rw3_e5", "3", 5}, {"rw23_e2", "2,3", 2}};

const temp_dir& layers_experiment() {
  static temp_dir dir("report-layers");
  static bool done = false;
  if (done) return dir;
  const std::string train = R"(train = { hidden = [16, 16], epochs = 8, batch_size = 32, checkpoints = [2, 5] })";
  std::string text = fmt::format(R"(seed = 2
output = "{}"
model_cache = "{}"

[datasets.clean]
source = "synthetic"
samples = 240
dim = 10
manifold_dim = 3
classes = 3
noise = 0.05

[datasets.noisy]
from = "clean"
label_mode = "corrupt"
corruption = 0.4

[datasets.gauss]
source = "synthetic"
samples = 12
dim = 3
manifold_dim = 3
classes = 2
separation = 0.0

[models.net]
backend = "native"
dataset = "noisy"
test = "clean"
{}

[analyses.geometry]
plugin = "manifold_geometry"
model = "net"
datasets = ["noisy"]
checkpoints = "all"
subsets = "clean,relabelled"
samples = 10
n_t = 20
)",
                                 dir / "layers.h5", dir / "models", train);
  for (const rewinding& r : rewindings)
    text += fmt::format(R"(
[models.{}]
backend = "native"
dataset = "noisy"
test = "clean"
rewind_layers = "{}"
rewind_to = {}
{}
)",
                        r.model, r.layers, r.to, train);
  for (const quantized_net& q : quantized_nets)
    text += fmt::format(R"(
[models.{0}]
backend = "native"
dataset = "gauss"
train = {{ hidden = [{1}], init_scale = {2}, optimizer = "sgd", momentum = 0.0, learning_rate = 0.5, batch_size = 100, epochs = 60 }}

[analyses.fq_{0}]
plugin = "feature_quantization"
model = "{0}"
datasets = ["gauss"]
)",
                        q.name, q.width, q.scale);
  write_file(dir / "layers.toml", text);
  const cli_result run = run_cli("run --quiet " + (dir / "layers.toml"));
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  const cli_result r = run_cli("report --quiet " + (dir / "layers.h5") + " -o " + (dir / "report"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  done = true;
  return dir;
}

// The numbers of one figure's data file: per block (its "# label" line), the rows of numbers.
std::map<std::string, std::vector<std::vector<double>>> figure_blocks(const std::string& path) {
  std::map<std::string, std::vector<std::vector<double>>> blocks;
  std::istringstream in(read_file(path));
  std::string line, label;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      label = line.substr(2);
      continue;
    }
    std::istringstream cells(line);
    std::vector<double> row;
    for (double v; cells >> v;) row.push_back(v);
    blocks[label].push_back(row);
  }
  return blocks;
}

// The geometry per layer and epoch against the manifolds table.
void check_geometry_section() {
  const temp_dir& dir = layers_experiment();
  const std::string out = dir / "report";
  // Recomputed here from the raw table: per (epoch, subset, layer), over the manifolds whose three measures are
  // finite, capacity averaged inversely, radius and dimension arithmetically, with standard errors (n - 1).
  const h5::file f = h5::file::open(dir / "layers.h5");
  const h5::group t = f.root().open_group("analyses").open_group("geometry").open_group("manifolds");
  const auto epoch = t.read<std::int64_t>("epoch"), layer_index = t.read<std::int64_t>("layer_index");
  const auto subset = t.read_strings("subset"), layer = t.read_strings("layer");
  const auto capacity = t.read<double>("capacity"), radius = t.read<double>("radius"),
             dimension = t.read<double>("dimension");
  struct expected_cell {
    std::string layer;
    std::size_t rows = 0;
    std::vector<double> capacity, radius, dimension;
  };
  std::map<std::string, expected_cell> expected;  // "epoch/subset/layer_index"
  for (std::size_t r = 0; r < epoch.size(); ++r) {
    expected_cell& c = expected[fmt::format("{}/{}/{}", epoch[r], subset[r], layer_index[r])];
    c.layer = layer[r];
    ++c.rows;
    if (std::isfinite(capacity[r]) && std::isfinite(radius[r]) && std::isfinite(dimension[r])) {
      c.capacity.push_back(capacity[r]);
      c.radius.push_back(radius[r]);
      c.dimension.push_back(dimension[r]);
    }
  }
  const auto sem = [](const std::vector<double>& v) {
    const double m = mean_or_nan(v);
    double ss = 0;
    for (double x : v) ss += (x - m) * (x - m);
    return v.size() < 2 ? NAN : std::sqrt(ss / static_cast<double>(v.size() - 1) / static_cast<double>(v.size()));
  };
  const auto rows = read_csv(out + "/geometry-layers.csv");
  std::set<std::string> seen, epochs_seen;
  for (const auto& row : rows) {
    const std::string key = row.at("epoch") + "/" + row.at("subset") + "/" + row.at("layer_index");
    INFO(key);
    REQUIRE(expected.count(key) == 1);
    const expected_cell& c = expected.at(key);
    CHECK(row.at("analysis") == "geometry");
    CHECK(row.at("model") == "net");
    CHECK(row.at("regime") == "corrupt p=0.4");
    CHECK(row.at("layer") == c.layer);
    CHECK(std::stoul(row.at("manifolds")) == c.rows);
    CHECK(std::stoul(row.at("measured")) == c.radius.size());
    std::vector<double> inverse;
    for (double a : c.capacity) inverse.push_back(1 / a);
    check_cell(row, "capacity", 1 / mean_or_nan(inverse));
    check_cell(row, "radius", mean_or_nan(c.radius));
    check_cell(row, "radius_sem", sem(c.radius));
    check_cell(row, "dimension", mean_or_nan(c.dimension));
    check_cell(row, "dimension_sem", sem(c.dimension));
    seen.insert(key);
    epochs_seen.insert(row.at("epoch"));
  }
  CHECK(seen.size() == expected.size());
  CHECK(epochs_seen == std::set<std::string>{"0", "2", "5"});  // checkpoints 2 and 5, then the final weights
  // Each figure's curves hold the same means: one block per epoch and subset, points (layer_index, mean).
  for (const std::string measure : {"capacity", "radius", "dimension"}) {
    const std::string stem = out + "/geometry-geometry-" + measure;
    CHECK(is_png(stem + ".png"));
    CHECK(is_svg(stem + ".svg"));
    const auto blocks = figure_blocks(out + "/data/geometry-geometry-" + measure + ".dat");
    CHECK(blocks.size() == 6);  // 3 epochs x 2 subsets
    for (const auto& row : rows) {
      const std::string label =
          (row.at("epoch") == "0" ? std::string("final") : "epoch " + row.at("epoch")) + " " + row.at("subset");
      INFO(measure << " " << label);
      REQUIRE(blocks.count(label) == 1);
      const auto& points = blocks.at(label);
      const auto it = std::find_if(points.begin(), points.end(),
                                   [&](const auto& p) { return p.at(0) == std::stod(row.at("layer_index")); });
      REQUIRE(it != points.end());
      CHECK(it->at(1) == Approx(std::stod(row.at(measure))).epsilon(1e-5));
    }
  }
  const std::string html = read_file(out + "/index.html");
  CHECK(html.find("Class manifolds per layer across training (Stephenson et al. 2021)") != std::string::npos);
}

// The rewinding table against each rewound model's recorded accuracies.
void check_rewinding_section() {
  const temp_dir& dir = layers_experiment();
  const std::string out = dir / "report";
  const h5::file f = h5::file::open(dir / "layers.h5");
  const h5::group models = f.root().open_group("provenance").open_group("models");
  const h5::group final_weights = models.open_group("net");
  const auto rows = read_csv(out + "/rewinding.csv");
  REQUIRE(rows.size() == rewindings.size());
  // Ordered by layer set (fewest layers first), then by epoch.
  const std::vector<std::string> order = {"rw3_e2", "rw3_e5", "rw23_e2"};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    const auto r = std::find_if(rewindings.begin(), rewindings.end(), [&](const rewinding& w) { return w.model == order[i]; });
    INFO(r->model);
    CHECK(row.at("model") == r->model);
    CHECK(row.at("rewind_layers") == r->layers);
    CHECK(row.at("rewind_to") == std::to_string(r->to));
    CHECK(row.at("checkpoint") == "0");
    CHECK(row.at("regime") == "corrupt p=0.4");
    const h5::group g = models.open_group(r->model);
    CHECK(row.at("model_file") == g.attr_string("model_file"));
    CHECK(g.attr_string("model_file") == final_weights.attr_string("model_file"));  // one training, shared
    check_cell(row, "train_accuracy", g.attr_double("train_accuracy"));
    check_cell(row, "test_accuracy", g.attr_double("test_accuracy"));
    CHECK(row.at("reference") == "net");
    check_cell(row, "reference_train_accuracy", final_weights.attr_double("train_accuracy"));
    check_cell(row, "reference_test_accuracy", final_weights.attr_double("test_accuracy"));
  }
  // Rewinding changes the served weights: the digests differ from the final weights'.
  CHECK(models.open_group("rw3_e2").attr_string("digest") != final_weights.attr_string("digest"));
  CHECK(is_png(out + "/rewinding1.png"));
  CHECK(is_svg(out + "/rewinding1.svg"));
  const auto blocks = figure_blocks(out + "/data/rewinding1.dat");
  REQUIRE(blocks.count("layers 3") == 1);
  REQUIRE(blocks.at("layers 3").size() == 2);
  CHECK(blocks.at("layers 3")[1][0] == 5);
  CHECK(blocks.at("layers 3")[1][1] == Approx(models.open_group("rw3_e5").attr_double("test_accuracy")));
  CHECK(blocks.at("layers 3")[1][2] == Approx(models.open_group("rw3_e5").attr_double("train_accuracy")));
  CHECK(read_file(out + "/index.html").find("id=\"rewinding\"") != std::string::npos);
}

// The feature quantization table against the summary tables and the networks' widths and scales.
void check_quantization_section() {
  const temp_dir& dir = layers_experiment();
  const std::string out = dir / "report";
  const h5::file f = h5::file::open(dir / "layers.h5");
  const auto rows = read_csv(out + "/quantization.csv");
  REQUIRE(rows.size() == quantized_nets.size());
  // By width, then by scale: the order of quantized_nets.
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    const quantized_net& q = quantized_nets[i];
    INFO(q.name);
    CHECK(row.at("analysis") == "fq_" + q.name);
    CHECK(row.at("model") == q.name);
    CHECK(row.at("dataset") == "gauss");
    CHECK(row.at("width") == std::to_string(q.width));
    check_cell(row, "init_scale", q.scale);
    check_cell(row, "learning_rate", 0.5);
    CHECK(row.at("epochs") == "60");
    const h5::group s = f.root().open_group("analyses").open_group("fq_" + q.name).open_group("summary");
    REQUIRE(s.read<std::int64_t>("epoch") == std::vector<std::int64_t>{0});
    for (const char* c : {"features", "clusters", "clusters_for_mass"})
      CHECK(row.at(c) == std::to_string(s.read<std::int64_t>(c)[0]));
    check_cell(row, "top_fraction", s.read<double>("top_fraction")[0]);
    check_cell(row, "mass_participation", s.read<double>("mass_participation")[0]);
    check_cell(row, "train_accuracy",
               f.root().open_group("provenance").open_group("models").open_group(q.name).attr_double("train_accuracy"));
  }
  for (const std::string measure : {"clusters", "clusters_for_mass"})
    for (const std::string axis : {"width", "scale"}) {
      const std::string stem = "quantization-gauss-" + measure + "-" + axis;
      INFO(stem);
      CHECK(is_png(out + "/" + stem + ".png"));
      CHECK(is_svg(out + "/" + stem + ".svg"));
      // Against width: one curve per scale, its points (width, value) in increasing width.
      if (axis != "width") continue;
      const auto blocks = figure_blocks(out + "/data/" + stem + ".dat");
      CHECK(blocks.size() == 2);
      for (const auto& row : rows) {
        const auto& points = blocks.at("init_scale " + row.at("init_scale"));
        const auto it = std::find_if(points.begin(), points.end(),
                                     [&](const auto& p) { return p.at(0) == std::stod(row.at("width")); });
        REQUIRE(it != points.end());
        CHECK(it->at(1) == std::stod(row.at(measure)));
      }
    }
  CHECK(read_file(out + "/index.html").find("Feature quantization (Maennel et al. 2018)") != std::string::npos);
}

}  // namespace

// One experiment for the three sections (run once per process: ctest runs each test case in its own).
TEST_CASE("report's layer sections match the raw tables and provenance of their results file", "[report]") {
  SECTION("geometry per layer and epoch") { check_geometry_section(); }
  SECTION("layer rewinding") { check_rewinding_section(); }
  SECTION("feature quantization") { check_quantization_section(); }
}

TEST_CASE("report's interactions figures and dynamics table match the raw table", "[report]") {
  temp_dir dir("report-interactions");
  const std::string text = fmt::format(R"(seed = 3
output = "{}"
model_cache = "{}"

[datasets.train]
source = "synthetic"
samples = 200
dim = 12
manifold_dim = 3
classes = 3
noise = 0.05

[datasets.test]
source = "synthetic"
samples = 90
dim = 12
classes = 3
seed = 17

[models.net]
backend = "native"
dataset = "train"
test = "test"
train = {{ hidden = [16, 16], epochs = 6, batch_size = 32, checkpoints = [2, 4] }}

[models.on_test]
backend = "native"
dataset = "test"
train = {{ hidden = [16, 16], epochs = 6, batch_size = 32 }}

[analyses.shared]
plugin = "interactions"
model = "net"
reference_model = "on_test"
datasets = ["train", "test"]
grid = "1x6"
points = 4
iterations = 100
checkpoints = "all"

[analyses.alone]
plugin = "interactions"
model = "net"
datasets = ["train"]
grid = "1x4"
points = 3
iterations = 0
)",
                                       dir / "results.h5", dir / "models");
  write_file(dir / "exp.toml", text);
  const cli_result run = run_cli("run --quiet " + (dir / "exp.toml"));
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  const std::string out = dir / "report";
  const cli_result r = run_cli("report " + (dir / "results.h5") + " -o " + out + " --bootstrap 0");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  for (const char* stem : {"analysis-shared-samples-dynamics", "analysis-shared-samples-orders-generalizable",
                           "analysis-shared-samples-orders-nongeneralizable", "analysis-shared-samples-gap",
                           "analysis-alone-samples-dynamics", "analysis-alone-samples-orders-all"})
    CHECK(is_png(out + "/" + std::string(stem) + ".png"));
  CHECK_FALSE(fs::exists(out + "/analysis-alone-samples-gap.png"));  // no reference model, one data set

  // The dynamics table: per (epoch, data set) means over the raw rows; the final weights at epoch 6.
  const h5::file f = h5::file::open(dir / "results.h5");
  const h5::group t = f.root().open_group("analyses").open_group("shared").open_group("samples");
  const auto epochs = t.read<std::int64_t>("epoch");
  const auto datasets = t.read_strings("dataset");
  const auto loss = t.read<double>("loss");
  const auto gen = t.read<double>("generalizable_strength"), non = t.read<double>("nongeneralizable_strength");
  const csv_rows table = read_csv(out + "/analysis-shared-samples-dynamics.csv");
  REQUIRE(table.size() == 6);  // epochs 2, 4, 6 x data sets train, test
  for (const auto& row : table) {
    const std::int64_t epoch = std::stoll(row.at("epoch"));
    const std::int64_t stored = epoch == 6 ? 0 : epoch;
    double count = 0, loss_sum = 0, gen_sum = 0, non_sum = 0;
    for (std::size_t i = 0; i < epochs.size(); ++i) {
      if (epochs[i] != stored || datasets[i] != row.at("dataset")) continue;
      ++count;
      loss_sum += loss[i];
      for (std::size_t k = 1; k <= 6; ++k) {
        gen_sum += gen[7 * i + k];
        non_sum += non[7 * i + k];
      }
    }
    REQUIRE(count == 4);
    CHECK(std::stod(row.at("loss")) == Approx(loss_sum / count).epsilon(1e-3));
    CHECK(std::stod(row.at("generalizable")) == Approx(gen_sum / count).epsilon(1e-3));
    CHECK(std::stod(row.at("nongeneralizable")) == Approx(non_sum / count).epsilon(1e-3));
    CHECK(std::stod(row.at("nongeneralizable_fraction")) == Approx(non_sum / (gen_sum + non_sum)).epsilon(1e-3));
  }
  for (const auto& row : read_csv(out + "/analysis-alone-samples-dynamics.csv")) {
    CHECK(row.at("generalizable") == "n/a");
    CHECK(row.at("epoch") == "6");
  }
}

TEST_CASE("report refuses an analysis table that lacks a declared column", "[report][negative]") {
  temp_dir dir("report-badtable");
  {
    const h5::file f = h5::file::create(dir / "broken.h5");
    const h5::group root = f.root();
    root.set_attr("format", std::string("genscope-results"));
    root.create_group("provenance");
    const h5::group a = root.create_group("analyses").create_group("sens");
    a.set_attr("analysis_plugin", std::string("jacobian"));
    a.set_attr("tables", std::vector<std::string>{"points"});
    const h5::group t = a.create_group("points");
    t.set_attr("columns", std::vector<std::string>{"dataset", "correct", "jacobian_frobenius"});
    t.set_attr("measures", std::vector<std::string>{"jacobian_frobenius"});
    t.set_attr("group_by", std::string("dataset"));
    t.set_attr("rows", std::int64_t{2});
    t.write_strings("dataset", {"train", "test"});
    t.write("correct", std::vector<std::int64_t>{1, 0});
  }
  require_one_line_error(run_cli("report " + (dir / "broken.h5") + " -o " + (dir / "out")),
                         {"broken.h5", "/analyses/sens/points", "jacobian_frobenius", "missing"});
}

TEST_CASE("inspect and report refuse columns of different lengths, naming table and column", "[report][negative]") {
  // Found by fuzzing: a measured column shorter than the group_by column was read out of bounds (ASan), and a
  // run's columns were indexed by the length of 'kind'.
  temp_dir dir("report-ragged");
  {
    const h5::file f = h5::file::create(dir / "analysis.h5");
    const h5::group root = f.root();
    root.set_attr("format", std::string("genscope-results"));
    root.create_group("runs");
    root.create_group("provenance");
    const h5::group a = root.create_group("analyses").create_group("sens");
    a.set_attr("analysis_plugin", std::string("jacobian"));
    a.set_attr("tables", std::vector<std::string>{"points"});
    const h5::group t = a.create_group("points");
    t.set_attr("columns", std::vector<std::string>{"dataset", "jacobian_frobenius"});
    t.set_attr("measures", std::vector<std::string>{"jacobian_frobenius"});
    t.set_attr("group_by", std::string("dataset"));
    t.write_strings("dataset", {"train", "test", "test"});
    t.write("jacobian_frobenius", std::vector<double>{1.0});
  }
  for (const std::string& command : {"inspect " + (dir / "analysis.h5"),
                                     "report " + (dir / "analysis.h5") + " -o " + (dir / "out1")})
    require_one_line_error(run_cli(command), {"analysis.h5", "/analyses/sens/points", "jacobian_frobenius"});
  {
    const h5::file f = h5::file::create(dir / "run.h5");
    const h5::group root = f.root();
    root.set_attr("format", std::string("genscope-results"));
    root.create_group("analyses");
    root.create_group("provenance");
    const h5::group g = root.create_group("runs").create_group("r");
    g.write_strings("kind", {"pairwise", "pairwise", "pairwise"});
    g.write("length", std::vector<double>{1, 2, 3});
    g.write("t_hi", std::vector<double>{1, 2});
    g.write("status", std::vector<std::uint32_t>{0, 0, 0});
    g.write("cost", std::vector<std::uint64_t>{1, 1, 1});
    g.write("regions_lo", std::vector<std::int64_t>{1, 1, 1});
    g.write("regions_hi", std::vector<std::int64_t>{1, 1, 1});
  }
  for (const std::string& command : {"inspect " + (dir / "run.h5"), "report " + (dir / "run.h5") + " -o " + (dir / "out2")})
    require_one_line_error(run_cli(command), {"run.h5", "/runs/r", "column 't_hi' holds 2 rows, column 'kind' 3"});
}

TEST_CASE("report refuses an interactions table whose by-order columns do not fit its rows", "[report][negative]") {
  temp_dir dir("report-interactions-bad");
  {
    const h5::file f = h5::file::create(dir / "bad.h5");
    const h5::group root = f.root();
    root.set_attr("format", std::string("genscope-results"));
    root.create_group("runs");
    root.create_group("provenance");
    const h5::group a = root.create_group("analyses").create_group("inter");
    a.set_attr("analysis_plugin", std::string("interactions"));
    a.set_attr("tables", std::vector<std::string>{"samples"});
    const h5::group t = a.create_group("samples");
    const std::vector<std::string> columns{"dataset", "epoch", "loss", "salient_and", "salient_or",
                                           "generalizable_strength", "nongeneralizable_strength", "and_strength",
                                           "or_strength"};
    t.set_attr("columns", columns);
    t.set_attr("measures", std::vector<std::string>{"loss"});
    t.write_strings("dataset", {"train", "train"});
    t.write("epoch", std::vector<std::int64_t>{0, 0});
    t.write("loss", std::vector<double>{0.5, 0.7});
    t.write("salient_and", std::vector<std::int64_t>{1, 2});
    t.write("salient_or", std::vector<std::int64_t>{1, 2});
    t.write("generalizable_strength", std::vector<double>(8, 0.1), {2, 4});
    t.write("nongeneralizable_strength", std::vector<double>(8, 0.1), {2, 4});
    t.write("and_strength", std::vector<double>(8, 0.1), {2, 4});
    t.write("or_strength", std::vector<double>(6, 0.1), {2, 3});  // another width
  }
  require_one_line_error(run_cli("report --quiet " + (dir / "bad.h5") + " -o " + (dir / "out")),
                         {"bad.h5", "/analyses/inter/samples", "by-order columns"});
}

TEST_CASE("report refuses a missing results file", "[report][negative]") {
  temp_dir dir("report-missing");
  require_one_line_error(run_cli("report " + (dir / "nope.h5") + " -o " + (dir / "out")), {"nope.h5", "no such"});
}

TEST_CASE("report refuses a file that is not a results file", "[report][negative]") {
  temp_dir dir("report-notresults");
  write_file(dir / "text.h5", "this is not HDF5\n");
  require_one_line_error(run_cli("report " + (dir / "text.h5") + " -o " + (dir / "out")), {"text.h5"});
  {
    const h5::file f = h5::file::create(dir / "other.h5");
    f.root().set_attr("format", std::string("genscope-mlp"));
  }
  require_one_line_error(run_cli("report " + (dir / "other.h5") + " -o " + (dir / "out")),
                         {"other.h5", "not a GenScope results file"});
}

TEST_CASE("report refuses an unwritable output folder", "[report][negative]") {
  const temp_dir& dir = experiment();
  temp_dir tmp("report-unwritable");
  write_file(tmp / "file", "x");
  // A folder below a regular file cannot be created, whoever runs the test (root included).
  require_one_line_error(run_cli("report " + (dir / "results.h5") + " -o " + (tmp / "file/out")),
                         {tmp / "file/out", "cannot create"});
}

TEST_CASE("report names the gnuplot script when gnuplot cannot run", "[report][negative]") {
  const temp_dir& dir = experiment();
  temp_dir tmp("report-nognuplot");
  require_one_line_error(run_cli("report --quiet " + (dir / "results.h5") + " -o " + (tmp / "out") +
                                 " --gnuplot /nonexistent/gnuplot"),
                         {".gp", "gnuplot"});
  // A gnuplot that fails: the script is named with the failure.
  write_file(tmp / "bad-gnuplot", "#!/bin/sh\necho 'line 3: boom' >&2\nexit 1\n");
  fs::permissions(tmp / "bad-gnuplot", fs::perms::owner_all);
  require_one_line_error(run_cli("report --quiet " + (dir / "results.h5") + " -o " + (tmp / "out2") + " --gnuplot " +
                                 (tmp / "bad-gnuplot")),
                         {".gp", "gnuplot failed", "boom"});
}

TEST_CASE("report requires -o", "[report][negative]") {
  const cli_result r = run_cli("report some.h5");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("output") != std::string::npos);
  const cli_result help = run_cli("report --help");
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("--bootstrap") != std::string::npos);
  CHECK(help.out.find("--seed") != std::string::npos);
}
