// `genscope report` end to end: a tiny real experiment, its report's CSV values against values computed here
// from the results file, valid PNG/SVG figures, a headless browser rendering every figure, and bad inputs.
#include "support.hpp"

#include "h5/h5.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
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

// Real labels and a `from` copy with permuted labels, a model on each, pairwise and random directions measured
// by bisection, plus local PCA directions measured by the exact walk (tangent/normal and region counts).
std::string experiment_text(const temp_dir& dir) {
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
)",
                     dir / "results.h5", dir / "models");
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
  std::vector<std::int8_t> corrupted;  // anchor_corrupted (1/0/-1) when the file has it
};

std::map<std::string, run_columns> read_results(const std::string& path) {
  std::map<std::string, run_columns> out;
  const h5::file f = h5::file::open(path);
  const h5::group runs = f.root().open_group("runs");
  for (const std::string& r : runs.children()) {
    const h5::group g = runs.open_group(r);
    out[r] = {g.read_strings("kind"), g.read<double>("length"), g.read<double>("t_hi"), {}};
    if (g.has("anchor_corrupted")) out[r].corrupted = g.read<std::int8_t>("anchor_corrupted");
  }
  return out;
}

// anchors: "all", or "clean" / "corrupted" (rows whose anchor_corrupted is 0 / 1).
std::vector<double> lengths_of(const run_columns& c, const std::string& kind, const std::string& anchors = "all") {
  std::vector<double> v;
  for (std::size_t i = 0; i < c.kind.size(); ++i) {
    if (c.kind[i] != kind) continue;
    if (anchors == "clean" && (c.corrupted.empty() || c.corrupted[i] != 0)) continue;
    if (anchors == "corrupted" && (c.corrupted.empty() || c.corrupted[i] != 1)) continue;
    v.push_back(c.length[i]);
  }
  return v;
}

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

  // Medians per run and kind, recomputed here.
  const auto lengths = read_csv(out + "/lengths.csv");
  std::set<std::string> seen;
  for (const auto& row : lengths) {
    INFO(row.at("run") << " " << row.at("kind"));
    REQUIRE(results.count(row.at("run")) == 1);
    INFO(row.at("anchors"));
    // Rows split by clean and corrupted anchors exist only where the file has an anchor_corrupted column.
    if (row.at("anchors") != "all") CHECK_FALSE(results.at(row.at("run")).corrupted.empty());
    const auto v = lengths_of(results.at(row.at("run")), row.at("kind"), row.at("anchors"));
    CHECK(std::stoul(row.at("n")) == v.size());
    const double med = median_of(v);
    CHECK(std::stod(row.at("median")) == Approx(med).epsilon(1e-5));
    CHECK(std::stod(row.at("ci_lo")) <= std::stod(row.at("median")));
    CHECK(std::stod(row.at("ci_hi")) >= std::stod(row.at("median")));
    if (row.at("anchors") == "all") seen.insert(row.at("run") + "/" + row.at("kind"));
  }
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

  // Comparisons: real vs random for pairwise and random directions, tangent vs normal; U by pair counting.
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
    double u = 0;
    for (double x : a)
      for (double y : b) u += x > y ? 1.0 : x == y ? 0.5 : 0.0;
    CHECK(std::stod(row.at("mw_u")) == Approx(u).epsilon(1e-5));
    CHECK(std::stod(row.at("median_a")) == Approx(median_of(a)).epsilon(1e-5));
    CHECK(std::stod(row.at("median_b")) == Approx(median_of(b)).epsilon(1e-5));
    for (const char* p : {"mw_p", "ks_p"}) {
      CHECK(std::stod(row.at(p)) >= 0.0);
      CHECK(std::stod(row.at(p)) <= 1.0);
    }
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
  for (const std::string expected : {"cmp1-hist", "interpolated", "training1", "training2", "regions4", "tn4-cdf"})
    CHECK(stems.count(expected) == 1);
  REQUIRE(stems.size() >= 10);
  for (const auto& s : stems) {
    INFO(s);
    CHECK(is_png(out + "/" + s + ".png"));
    CHECK(is_svg(out + "/" + s + ".svg"));
    CHECK(html.find("<img id=\"fig-" + s + "\" src=\"" + s + ".png\"") != std::string::npos);
    CHECK(html.find("href=\"" + s + ".svg\"") != std::string::npos);
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
