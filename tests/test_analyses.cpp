// Analyses end to end: [analyses.NAME] through validation, `genscope run` and `genscope inspect`; the tables as
// declared; determinism over threads and batch sizes; every refusal one positioned line; misbehaving plugins.
#include "support.hpp"

#include "h5/h5.hpp"

#include <genscope/analysis.hpp>
#include <genscope/error.hpp>
#include <genscope/experiment.hpp>
#include <genscope/mlp.hpp>
#include <genscope/plugin_registry.hpp>
#include <genscope/table.hpp>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Catch::Matchers::Contains;
using genscope::testing::cli_result;
using genscope::testing::run_cli;
using genscope::testing::temp_dir;
using genscope::testing::write_file;
namespace h5 = genscope::h5;

const std::string test_plugin_root = std::string(GENSCOPE_TEST_BINARY_DIR) + "/test-plugins";
const std::string defects_env = "GENSCOPE_PLUGIN_PATH=" + test_plugin_root + "/defects";

// ---- experiments ---------------------------------------------------------------------------------

/// Two synthetic data sets of dimension 12 and a 12-16-16-3 model trained on `train` in a fraction of a second.
std::string head(const temp_dir& dir) {
  return fmt::format(R"(seed = 5
output = "{}"
model_cache = "{}"

[datasets.train]
source = "synthetic"
samples = 240
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

[models.net.train]
hidden = [16, 16]
epochs = 4
batch_size = 32
)",
                     dir / "results.h5", dir / "models");
}

/// One interval run: 60 pairwise lines through training points, bisection.
const std::string interval_run = R"(
[samplers.pairs]
plugin = "pairwise"
dataset = "train"
count = 60

[estimators.bisect]
plugin = "bisection"
T = 2.0
h = 0.1

[runs.lines]
model = "net"
sampler = "pairs"
estimator = "bisect"
batch_size = 16
)";

/// Both bundled analyses of the model at its training and test points: 40 + 40 Jacobian rows, 12 + 12 ellipses.
std::string both_analyses(std::size_t batch_size = 64) {
  return fmt::format(R"(
[analyses.sens]
plugin = "jacobian"
model = "net"
datasets = ["train", "test"]
points = 40
batch_size = {0}

[analyses.loops]
plugin = "transitions"
model = "net"
datasets = ["train", "test"]
triplets = 12
K = 64
batch_size = {0}
)",
                     batch_size);
}

const std::map<std::string, std::size_t> expected_rows{{"points", 80}, {"ellipses", 24}};

/// An analysis item `broken` of a test plugin over the training points, 8 rows a batch.
std::string defect_analysis(const std::string& plugin) {
  return "\n[analyses.broken]\nplugin = \"" + plugin + "\"\nmodel = \"net\"\ndatasets = [\"train\"]\nbatch_size = 8\n";
}

/// `text` with its first `from` replaced by `to`.
std::string edited(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

/// "exp.toml:LINE:COLUMN:" of the first `needle` in `text` at or after the first `after`.
std::string position_of(const std::string& text, const std::string& needle, const std::string& after = "") {
  const std::size_t at = text.find(needle, text.find(after));
  REQUIRE(at != std::string::npos);
  const std::string before = text.substr(0, at);
  const std::size_t newline = before.find_last_of('\n');
  const std::size_t column = newline == std::string::npos ? at + 1 : at - newline;
  return fmt::format("exp.toml:{}:{}:", 1 + std::count(before.begin(), before.end(), '\n'), column);
}

/// The build's plugins plus the logits_only backend and the defect plugins (tests/plugins).
const genscope::plugin_registry& test_plugins() {
  static const genscope::plugin_registry registry = [] {
    genscope::plugin_registry r;
    r.add_directory(GENSCOPE_TEST_PLUGIN_DIR);
    r.add_directory(test_plugin_root + "/logits_only");
    r.add_directory(test_plugin_root + "/defects");
    return r;
  }();
  return registry;
}

genscope::experiment validated(const std::string& text) {
  return genscope::parse_experiment(text, "exp.toml", test_plugins());
}

/// The one-line config_error validating `text` gives.
std::string refusal(const std::string& text) {
  std::string message;
  CHECK_THROWS_MATCHES(validated(text), genscope::config_error,
                       Catch::Matchers::Predicate<genscope::config_error>([&](const genscope::config_error& e) {
                         message = e.what();
                         return true;
                       }));
  CHECK(message.find('\n') == std::string::npos);
  return message;
}

/// `genscope` exited with 1 and wrote exactly one line, holding every part, on stderr.
void check_one_line_failure(const cli_result& r, const std::vector<std::string>& parts) {
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 1);
  CHECK(genscope::testing::line_count(r.err) == 1);
  for (const std::string& part : parts) CHECK_THAT(r.err, Contains(part));
}

std::string save(const temp_dir& dir, const std::string& text) {
  write_file(dir / "exp.toml", text);
  return dir / "exp.toml";
}

// ---- independent readings of a results file -------------------------------------------------------

/// numpy's default (linear) quantile at q = k/4 of sorted values: h = (n - 1) k / 4 split into whole and quarter parts.
double quartile(const std::vector<double>& sorted, std::size_t k) {
  const std::size_t whole = (sorted.size() - 1) * k / 4, quarters = (sorted.size() - 1) * k % 4;
  if (quarters == 0) return sorted[whole];
  return sorted[whole] + static_cast<double>(quarters) / 4.0 * (sorted[whole + 1] - sorted[whole]);
}

/// A measured column as doubles, int64 or float64.
std::vector<double> numbers(const h5::group& table, const std::string& column) {
  if (table.info(column).cls == h5::dataset_info::element::floating) return table.read<double>(column);
  const std::vector<std::int64_t> ints = table.read<std::int64_t>(column);
  return {ints.begin(), ints.end()};
}

/// One row of a summary block of `genscope inspect`: count, q1, median, q3, mean.
struct printed_row {
  std::size_t count = 0;
  double q1 = 0, median = 0, q3 = 0, mean = 0;
};

/// The rows of the block headed `header` in inspect's output, by column name.
std::map<std::string, printed_row> inspect_block(const std::string& out, const std::string& header) {
  std::map<std::string, printed_row> rows;
  const std::size_t at = out.find(header + "\n");
  REQUIRE(at != std::string::npos);
  std::istringstream lines(out.substr(at + header.size() + 1));
  std::string line;
  std::getline(lines, line);  // column titles
  CHECK_THAT(line, Contains("column") && Contains("median"));
  while (std::getline(lines, line) && !line.empty()) {
    std::istringstream fields(line);
    std::string name;
    printed_row r;
    fields >> name >> r.count >> r.q1 >> r.median >> r.q3 >> r.mean;
    REQUIRE_FALSE(fields.fail());
    rows[name] = r;
  }
  return rows;
}

/// Printed with 4 significant digits: equal to `exact` within half a unit of the fourth digit.
bool printed_as(double printed, double exact) { return std::abs(printed - exact) <= 5.01e-4 * std::abs(exact); }

/// Every dataset of two groups is identical: same shape and the same bytes (strings: the same text).
void check_same_datasets(const h5::group& a, const h5::group& b) {
  REQUIRE(a.children() == b.children());
  for (const std::string& name : a.children()) {
    INFO(a.path() << "/" << name);
    const h5::dataset_info info = a.info(name);
    REQUIRE(info.dims == b.info(name).dims);
    if (info.cls == h5::dataset_info::element::string) {
      CHECK(a.read_strings(name) == b.read_strings(name));
    } else if (info.cls == h5::dataset_info::element::floating) {
      const std::vector<double> x = a.read<double>(name), y = b.read<double>(name);
      REQUIRE(x.size() == y.size());
      CHECK(std::memcmp(x.data(), y.data(), x.size() * sizeof(double)) == 0);
    } else {
      CHECK(a.read<std::int64_t>(name) == b.read<std::int64_t>(name));
    }
  }
}

std::vector<std::string> column_names(const genscope::table_spec& t) {
  std::vector<std::string> names;
  for (const genscope::column_spec& c : t.columns) names.push_back(c.name);
  return names;
}

std::vector<std::string> measure_names(const genscope::table_spec& t) {
  std::vector<std::string> names;
  for (const genscope::column_spec& c : t.columns)
    if (c.measure) names.push_back(c.name);
  return names;
}

}  // namespace

// ---- end to end ----------------------------------------------------------------------------------

TEST_CASE("run writes each analysis's declared tables with provenance, and inspect summarizes them exactly",
          "[analyses][interface]") {
  temp_dir dir("analyses-cli");
  const std::string text = head(dir) + interval_run + both_analyses();
  const cli_result r = run_cli("run --quiet " + save(dir, text));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(std::filesystem::exists(dir / "results.h5"));
  CHECK_FALSE(std::filesystem::exists(dir / "results.h5.partial"));
  CHECK_THAT(r.out, Contains("analysis sens (jacobian), table points, dataset = train: 40 rows"));

  // The declared tables, from the plugins themselves with the options validation fills in.
  const genscope::experiment exp = validated(text);
  REQUIRE(exp.analyses.size() == 2);

  const cli_result inspect = run_cli("inspect " + (dir / "results.h5"));
  INFO(inspect.err);
  REQUIRE(inspect.exit_code == 0);

  const h5::file f = h5::file::open(dir / "results.h5");
  const h5::group root = f.root();
  CHECK(root.attr_int("format_version") == 2);
  CHECK(root.attr_string("status") == "complete");
  const h5::group run = root.open_group("runs").open_group("lines");
  CHECK(run.attr_int("complete") == 1);
  CHECK(run.read<std::int64_t>("probe").size() == 60);
  const std::string model_digest =
      root.open_group("provenance").open_group("models").open_group("net").attr_string("digest");

  for (const genscope::analysis_spec& spec : exp.analyses) {
    INFO("analysis " << spec.name);
    const h5::group a = root.open_group("analyses").open_group(spec.name);
    CHECK(a.attr_string("analysis") == spec.name);
    CHECK(a.attr_string("analysis_plugin") == spec.plugin);
    CHECK_FALSE(a.attr_string("analysis_version").empty());
    CHECK(a.attr_string("model") == "net");
    CHECK(a.attr_string("model_digest") == model_digest);
    CHECK(a.attr_strings("datasets") == std::vector<std::string>{"train", "test"});
    CHECK(a.attr_strings("dataset_sha256").size() == 2);
    CHECK(a.attr_int("complete") == 1);
    CHECK(a.attr_int("batch_size") == 64);
    CHECK(a.attr_int("seed") == 5);
    CHECK_THAT(a.attr_string("options"), Contains(spec.plugin == "jacobian" ? "points = 40" : "triplets = 12"));
    for (const char* attr : {"start_time", "end_time", "seconds", "prepare_seconds"}) CHECK(a.has_attr(attr));

    const std::vector<genscope::table_spec> tables =
        test_plugins().create_analysis(spec.plugin, spec.options)->tables();
    std::vector<std::string> table_names;
    for (const genscope::table_spec& t : tables) table_names.push_back(t.name);
    CHECK(a.attr_strings("tables") == table_names);

    for (const genscope::table_spec& spec_t : tables) {
      INFO("table " << spec_t.name);
      const h5::group t = a.open_group(spec_t.name);
      const auto rows = static_cast<std::size_t>(t.attr_int("rows"));
      CHECK(rows == expected_rows.at(spec_t.name));
      CHECK(t.attr_strings("columns") == column_names(spec_t));
      CHECK(t.attr_strings("measures") == measure_names(spec_t));
      CHECK(t.attr_string("group_by") == spec_t.group_by);
      CHECK(t.has_attr("compute_seconds"));
      for (const genscope::column_spec& c : spec_t.columns) {
        INFO("column " << c.name);
        REQUIRE(t.has(c.name));
        const h5::dataset_info info = t.info(c.name);
        CHECK(info.dims == (c.width == 1 ? std::vector<std::size_t>{rows} : std::vector<std::size_t>{rows, c.width}));
        CHECK(info.type_name == genscope::to_string(c.type));
        CHECK(t.has_attr_of(c.name, "description"));
      }

      // inspect: one block per group of rows; every number recomputed here from the raw columns.
      REQUIRE(spec_t.group_by == "dataset");
      const std::vector<std::string> groups = t.read_strings("dataset");
      for (const std::string& group : {std::string("train"), std::string("test")}) {
        const std::size_t group_rows = static_cast<std::size_t>(std::count(groups.begin(), groups.end(), group));
        CHECK(group_rows == rows / 2);
        const std::string header = fmt::format("analysis {} ({}), table {}, dataset = {}: {} rows", spec.name,
                                               spec.plugin, spec_t.name, group, group_rows);
        const std::map<std::string, printed_row> printed = inspect_block(inspect.out, header);
        CHECK(printed.size() == measure_names(spec_t).size());
        for (const std::string& column : measure_names(spec_t)) {
          INFO("measure " << column << ", " << group);
          const std::vector<double> all = numbers(t, column);
          std::vector<double> v;
          for (std::size_t i = 0; i < all.size(); ++i)
            if (groups[i] == group && std::isfinite(all[i])) v.push_back(all[i]);
          REQUIRE_FALSE(v.empty());
          std::sort(v.begin(), v.end());
          double sum = 0;
          for (double x : v) sum += x;
          REQUIRE(printed.count(column) == 1);
          const printed_row& p = printed.at(column);
          CHECK(p.count == v.size());
          CHECK(printed_as(p.q1, quartile(v, 1)));
          CHECK(printed_as(p.median, quartile(v, 2)));
          CHECK(printed_as(p.q3, quartile(v, 3)));
          CHECK(printed_as(p.mean, sum / static_cast<double>(v.size())));
        }
      }
    }
  }

  // Width-3 columns hold three samples of the row's data set, sharing one label (labels = "same").
  const h5::group ellipses = root.open_group("analyses").open_group("loops").open_group("ellipses");
  const std::vector<std::int64_t> labels = ellipses.read<std::int64_t>("labels");
  REQUIRE(labels.size() == 24 * 3);
  for (std::size_t row = 0; row < 24; ++row) {
    CHECK(labels[3 * row] == labels[3 * row + 1]);
    CHECK(labels[3 * row] == labels[3 * row + 2]);
  }
}

TEST_CASE("the documented pandas snippet reads an analysis table", "[analyses][interface]") {
  temp_dir dir("analyses-pandas");
  const cli_result r = run_cli("run --quiet " + save(dir, head(dir) + both_analyses()));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  // docs/results-format.md, "Reading into pandas", on this file's transitions table.
  write_file(dir / "read.py", R"(import sys
import h5py, pandas as pd
with h5py.File(sys.argv[1]) as f:
    df = pd.DataFrame({k: c.asstr()[:] if c.dtype.kind == "O" else list(c[:]) if c.ndim > 1 else c[:] for k, c in f["analyses/loops/ellipses"].items()})
df = df.join(pd.DataFrame(df.pop("points").tolist()).add_prefix("points_"))
medians = df.groupby("dataset").transitions.median()
print(len(df), sorted(df.columns).index("points_2") >= 0, medians["train"], medians["test"])
)");
  const std::string out = dir / "read.txt";
  const std::string command = "/usr/bin/python3 " + (dir / "read.py") + " " + (dir / "results.h5") + " > " + out;
  REQUIRE(std::system(command.c_str()) == 0);
  std::istringstream printed(genscope::testing::read_file(out));
  std::size_t rows = 0;
  std::string has_points_2;
  double train_median = 0, test_median = 0;
  printed >> rows >> has_points_2 >> train_median >> test_median;
  CHECK(rows == 24);
  CHECK(has_points_2 == "True");

  const h5::file f = h5::file::open(dir / "results.h5");
  const h5::group t = f.root().open_group("analyses").open_group("loops").open_group("ellipses");
  const std::vector<std::string> groups = t.read_strings("dataset");
  const std::vector<double> counts = numbers(t, "transitions");
  for (const auto& [group, median] : {std::pair{"train", train_median}, std::pair{"test", test_median}}) {
    std::vector<double> v;
    for (std::size_t i = 0; i < counts.size(); ++i)
      if (groups[i] == group) v.push_back(counts[i]);
    std::sort(v.begin(), v.end());
    CHECK(median == quartile(v, 2));
  }
}

TEST_CASE("analysis and run columns do not depend on the thread count or the batch size",
          "[analyses][interface][regression]") {
  temp_dir dir("analyses-determinism");
  write_file(dir / "one.toml", head(dir) + interval_run + both_analyses(1));
  write_file(dir / "many.toml", head(dir) + interval_run + both_analyses(64));
  const cli_result one = run_cli("run --quiet --threads 1 -o " + (dir / "one.h5") + " " + (dir / "one.toml"));
  INFO(one.err);
  REQUIRE(one.exit_code == 0);
  const cli_result many = run_cli("run --quiet --threads 2 -o " + (dir / "many.h5") + " " + (dir / "many.toml"));
  INFO(many.err);
  REQUIRE(many.exit_code == 0);

  const h5::file a = h5::file::open(dir / "one.h5");
  const h5::file b = h5::file::open(dir / "many.h5");
  CHECK(a.root().attr_int("threads") == 1);
  CHECK(b.root().attr_int("threads") == 2);
  const h5::group analyses_a = a.root().open_group("analyses"), analyses_b = b.root().open_group("analyses");
  REQUIRE(analyses_a.children() == std::vector<std::string>{"loops", "sens"});
  for (const std::string& name : analyses_a.children()) {
    const h5::group ga = analyses_a.open_group(name), gb = analyses_b.open_group(name);
    CHECK(ga.attr_int("batch_size") == 1);
    CHECK(gb.attr_int("batch_size") == 64);
    REQUIRE(ga.children() == gb.children());
    for (const std::string& table : ga.children()) check_same_datasets(ga.open_group(table), gb.open_group(table));
  }
  check_same_datasets(a.root().open_group("runs").open_group("lines"), b.root().open_group("runs").open_group("lines"));
}

TEST_CASE("an experiment with analyses and no runs writes an empty /runs", "[analyses][interface]") {
  temp_dir dir("analyses-only");
  const cli_result r = run_cli("run --quiet " + save(dir, head(dir) + both_analyses()));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("analysis loops (transitions), table ellipses, dataset = test: 12 rows"));
  const h5::file f = h5::file::open(dir / "results.h5");
  CHECK(f.root().attr_int("format_version") == 2);
  CHECK(f.root().open_group("runs").children().empty());
  const h5::group analyses = f.root().open_group("analyses");
  CHECK(analyses.children() == std::vector<std::string>{"loops", "sens"});
  for (const std::string& name : analyses.children()) CHECK(analyses.open_group(name).attr_int("complete") == 1);
  CHECK(analyses.open_group("sens").open_group("points").attr_int("rows") == 80);
}

TEST_CASE("an experiment with runs only still works and writes format version 2 with an empty /analyses",
          "[analyses][interface][regression]") {
  temp_dir dir("analyses-runs-only");
  const cli_result r = run_cli("run --quiet " + save(dir, head(dir) + interval_run));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("lines") && Contains("pairwise"));
  CHECK_THAT(r.out, !Contains("analysis "));
  const h5::file f = h5::file::open(dir / "results.h5");
  CHECK(f.root().attr_int("format_version") == 2);
  CHECK(f.root().attr_string("status") == "complete");
  CHECK(f.root().open_group("analyses").children().empty());
  CHECK(f.root().open_group("runs").open_group("lines").attr_int("complete") == 1);
  const cli_result inspect = run_cli("inspect " + (dir / "results.h5"));
  CHECK(inspect.exit_code == 0);
  CHECK_THAT(inspect.out, Contains("lines") && !Contains("analysis "));
}

// ---- validation: one positioned line naming the key or plugin --------------------------------------

TEST_CASE("an unknown analysis plugin suggests the near name", "[analyses][negative]") {
  temp_dir dir("analyses-unknown");
  const std::string text = edited(head(dir) + both_analyses(), "\"jacobian\"", "\"jacobain\"");
  CHECK_THAT(refusal(text), Contains(position_of(text, "\"jacobain\"")) && Contains("analysis 'sens'") &&
                                Contains("unknown analysis 'jacobain'") && Contains("did you mean 'jacobian'?"));
  // The same through the command line: exit 1, one line, the file's path and position.
  const std::string file = save(dir, text);
  const std::string position = position_of(text, "\"jacobain\"").substr(std::string("exp.toml").size());
  check_one_line_failure(run_cli("run " + file), {file + position, "jacobain", "did you mean 'jacobian'?"});
  CHECK_FALSE(std::filesystem::exists(dir / "models"));  // refused before any work
}

TEST_CASE("an analysis without model or datasets is refused naming the missing key", "[analyses][negative]") {
  temp_dir dir("analyses-missing");
  const std::string text = head(dir) + both_analyses();
  SECTION("model") {
    const std::string bad = edited(text, "model = \"net\"\ndatasets", "datasets");
    CHECK_THAT(refusal(bad), Contains(position_of(bad, "sens]")) && Contains("[analyses.sens]") &&
                                 Contains("missing required key 'model'"));
  }
  SECTION("datasets") {
    const std::string bad = edited(text, "datasets = [\"train\", \"test\"]\npoints", "points");
    CHECK_THAT(refusal(bad), Contains(position_of(bad, "sens]")) && Contains("[analyses.sens]") &&
                                 Contains("missing required key 'datasets'"));
  }
}

TEST_CASE("datasets must be a non-empty array of known data set names", "[analyses][negative]") {
  temp_dir dir("analyses-datasets");
  const std::string text = head(dir) + both_analyses();
  SECTION("a string") {
    const std::string bad = edited(text, "[\"train\", \"test\"]", "\"train\"");
    CHECK_THAT(refusal(bad), Contains(position_of(bad, "\"train\"", "[analyses.sens]")) &&
                                 Contains("'analyses.sens.datasets' must be an array of strings, not a string"));
  }
  SECTION("empty") {
    const std::string bad = edited(text, "[\"train\", \"test\"]", "[]");
    CHECK_THAT(refusal(bad),
               Contains(position_of(bad, "[]")) && Contains("'analyses.sens.datasets' names no data set"));
  }
  SECTION("an unknown name") {
    const std::string bad = edited(text, "[\"train\", \"test\"]", "[\"train\", \"tset\"]");
    CHECK_THAT(refusal(bad), Contains(position_of(bad, "\"tset\"")) && Contains("unknown dataset 'tset'") &&
                                 Contains("'analyses.sens.datasets[1]'") && Contains("did you mean 'test'?"));
  }
  SECTION("an element that is not a string") {
    const std::string bad = edited(text, "[\"train\", \"test\"]", "[\"train\", 2]");
    CHECK_THAT(refusal(bad), Contains(position_of(bad, "2]", "[analyses.sens]")) &&
                                 Contains("'analyses.sens.datasets[1]'"));
  }
}

TEST_CASE("a data set whose dimension differs from the model's input is pointed at", "[analyses][negative]") {
  temp_dir dir("analyses-dim");
  const std::string text = edited(head(dir) + "\n[datasets.wide]\nsource = \"synthetic\"\ndim = 10\n" + both_analyses(),
                                  "[\"train\", \"test\"]", "[\"train\", \"wide\"]");
  CHECK_THAT(refusal(text), Contains(position_of(text, "\"wide\"")) && Contains("analysis 'sens'") &&
                                Contains("model 'net' takes inputs of dimension 12") &&
                                Contains("dataset 'wide' has dimension 10"));
}

TEST_CASE("data sets an analysis cannot serve are refused at validation, before any training",
          "[analyses][negative]") {
  temp_dir dir("analyses-serve");
  SECTION("more jacobian points than a data set holds") {
    const std::string text = edited(head(dir) + both_analyses(), "points = 40", "points = 100");
    CHECK_THAT(refusal(text), Contains("analysis 'sens'") && Contains("option 'points' = 100") &&
                                  Contains("90 samples of data set 'test'"));
  }
  SECTION("a data set too small for an ellipse") {
    const std::string text =
        edited(edited(edited(head(dir) + "\n[datasets.tiny]\nsource = \"synthetic\"\nsamples = 2\ndim = 12\n"
                                          "classes = 2\n" + both_analyses(),
                             "[\"train\", \"test\"]", "[\"train\", \"tiny\"]"),  // jacobian's
                      "[\"train\", \"test\"]", "[\"train\", \"tiny\"]"),         // transitions'
               "points = 40", "points = 2");
    CHECK_THAT(refusal(text), Contains("data set 'tiny' has 2 samples; an ellipse needs three"));
  }
  SECTION("a data set with more classes than the model") {
    const std::string text = edited(head(dir) + "\n[datasets.many]\nsource = \"synthetic\"\ndim = 12\nclasses = 5\n" +
                                        both_analyses(),
                                    "[\"train\", \"test\"]", "[\"train\", \"many\"]");
    CHECK_THAT(refusal(text), Contains(position_of(text, "\"many\"")) &&
                                  Contains("dataset 'many' has 5 classes, but model 'net' has 3"));
  }
  CHECK_FALSE(std::filesystem::exists(dir / "models"));
}

TEST_CASE("an unknown option of the analysis plugin suggests the near one", "[analyses][negative]") {
  temp_dir dir("analyses-option");
  const std::string text = edited(head(dir) + both_analyses(), "points = 40", "pointz = 40");
  CHECK_THAT(refusal(text), Contains(position_of(text, "pointz")) &&
                                Contains("unknown option 'pointz' of analysis plugin 'jacobian' in [analyses.sens]") &&
                                Contains("did you mean 'points'?"));
}

TEST_CASE("a bad option value is refused by the plugin at validation, naming the option", "[analyses][negative]") {
  temp_dir dir("analyses-value");
  const std::string text = head(dir) + both_analyses();
  SECTION("transitions labels = sideways") {
    const std::string bad = edited(text, "K = 64", "K = 64\nlabels = \"sideways\"");
    CHECK_THAT(refusal(bad), Contains(position_of(bad, "labels =")) && Contains("analysis 'loops'") &&
                                 Contains("plugin 'transitions'") && Contains("option 'labels'") &&
                                 Contains("sideways"));
  }
  SECTION("jacobian points = -1") {
    const std::string bad = edited(text, "points = 40", "points = -1");
    CHECK_THAT(refusal(bad), Contains(position_of(bad, "points = -1")) && Contains("analysis 'sens'") &&
                                 Contains("plugin 'jacobian'") && Contains("option 'points'") && Contains("-1"));
  }
  SECTION("batch_size = 0") {
    const std::string bad = edited(text, "batch_size = 64", "batch_size = 0");
    CHECK_THAT(refusal(bad), Contains(position_of(bad, "0\n", "batch_size = 0")) &&
                                 Contains("'analyses.sens.batch_size' must be an int between 1 and 4294967296 (2^32), not 0"));
  }
}

TEST_CASE("both analyses refuse a backend without a piecewise-linear view", "[analyses][negative]") {
  temp_dir dir("analyses-logits-only");
  genscope::dense_layer hidden{genscope::matrix(6, 12), std::vector<float>(6, 0.1f)};
  genscope::dense_layer out{genscope::matrix(3, 6), std::vector<float>(3, 0.0f)};
  std::fill(hidden.weight.data.begin(), hidden.weight.data.end(), 0.05f);
  std::fill(out.weight.data.begin(), out.weight.data.end(), -0.03f);
  genscope::save_model(dir / "net.h5", genscope::mlp({hidden, out}, {12}), genscope::training_record{});
  const std::string loaded = "[models.net]\nbackend = \"logits_only\"\npath = \"" + (dir / "net.h5") + "\"\n";
  std::string text = head(dir);
  text = text.substr(0, text.find("[models.net]")) + loaded + both_analyses();

  CHECK_THAT(refusal(text), Contains(position_of(text, "\"net\"", "[analyses.sens]")) &&
                                Contains("analysis 'sens' (plugin 'jacobian') needs a piecewise-linear view") &&
                                Contains("backend 'logits_only' of model 'net'"));
  const std::string transitions_only = text.substr(0, text.find("[analyses.sens]")) +
                                       text.substr(text.find("[analyses.loops]"));
  CHECK_THAT(refusal(transitions_only),
             Contains(position_of(transitions_only, "\"net\"", "[analyses.loops]")) &&
                 Contains("analysis 'loops' (plugin 'transitions') needs a piecewise-linear view") &&
                 Contains("backend 'logits_only' of model 'net'"));
  // Control: the same model served by the native backend validates.
  CHECK(validated(edited(text, "\"logits_only\"", "\"native\"")).analyses.size() == 2);
}

TEST_CASE("an experiment with neither runs nor analyses is refused", "[analyses][negative]") {
  temp_dir dir("analyses-empty");
  CHECK_THAT(refusal(head(dir)), Contains("exp.toml:1:1:") && Contains("no runs or analyses"));
}

// ---- misbehaving plugins (tests/plugins/defects) ---------------------------------------------------

TEST_CASE("an analysis declaring a bad table is refused at validation naming the plugin", "[analyses][negative]") {
  temp_dir dir("analyses-bad-table");
  SECTION("a column name outside [a-z0-9_]+") {
    const std::string text = head(dir) + defect_analysis("bad_column_name");
    CHECK_THAT(refusal(text), Contains(position_of(text, "broken]")) && Contains("plugin 'bad_column_name'") &&
                                  Contains("table 'values'") && Contains("'Value-1'"));
  }
  SECTION("a column declared twice") {
    const std::string text = head(dir) + defect_analysis("duplicate_column");
    CHECK_THAT(refusal(text), Contains(position_of(text, "broken]")) && Contains("plugin 'duplicate_column'") &&
                                  Contains("table 'values'") && Contains("column 'index' is declared twice"));
  }
  SECTION("two tables of one name") {
    const std::string text = head(dir) + defect_analysis("duplicate_table");
    CHECK_THAT(refusal(text), Contains(position_of(text, "broken]")) && Contains("plugin 'duplicate_table'") &&
                                  Contains("two tables named 'values'"));
  }
}

TEST_CASE("an estimator extra column named like an interval column is refused at validation",
          "[analyses][negative]") {
  temp_dir dir("analyses-clash");
  const std::string text = edited(head(dir) + interval_run,
                                  "[estimators.bisect]\nplugin = \"bisection\"\nT = 2.0\nh = 0.1",
                                  "[estimators.bisect]\nplugin = \"extra_clash\"");
  CHECK_THAT(refusal(text), Contains(position_of(text, "bisect]")) && Contains("estimator 'extra_clash'") &&
                                Contains("extra column 't_lo'") && Contains("clashes"));
}

TEST_CASE("a batch with the wrong number of values stops the run naming analysis, table and column",
          "[analyses][negative]") {
  temp_dir dir("analyses-short-batch");
  const cli_result r = run_cli("run --quiet " + save(dir, head(dir) + interval_run + defect_analysis("wrong_count")),
                               defects_env);
  check_one_line_failure(r, {"analysis 'broken'", "wrong_count", "table 'values'", "column 'value'",
                             "the results so far are saved in " + (dir / "results.h5.partial")});
  REQUIRE_FALSE(std::filesystem::exists(dir / "results.h5"));
  REQUIRE(std::filesystem::exists(dir / "results.h5.partial"));
  const h5::file f = h5::file::open(dir / "results.h5.partial");
  CHECK(f.root().attr_string("status") == "partial");
  CHECK(f.root().open_group("runs").open_group("lines").attr_int("complete") == 1);
  const h5::group broken = f.root().open_group("analyses").open_group("broken");
  CHECK(broken.attr_int("complete") == 0);
  CHECK_FALSE(broken.has_attr("tables"));
  CHECK_FALSE(broken.has_attr("end_time"));
  // The two good batches (rows 0 to 15) are kept; the table being written has no row count.
  const h5::group values = broken.open_group("values");
  CHECK_FALSE(values.has_attr("rows"));
  const std::vector<std::int64_t> index = values.read<std::int64_t>("index");
  CHECK(index.size() == 16);
  for (std::size_t i = 0; i < index.size(); ++i) CHECK(index[i] == static_cast<std::int64_t>(i));
  CHECK(values.read<double>("value").size() == 16);
  // inspect reads the partial file.
  CHECK(run_cli("inspect " + (dir / "results.h5.partial")).exit_code == 0);
}

TEST_CASE("an analysis whose compute() throws stops the run with one line naming the plugin", "[analyses][negative]") {
  temp_dir dir("analyses-throws");
  const cli_result r = run_cli("run --quiet " + save(dir, head(dir) + defect_analysis("compute_throws")), defects_env);
  check_one_line_failure(r, {"plugin 'compute_throws'", "analysis 'broken'", "cannot compute row",
                             "the results so far are saved in " + (dir / "results.h5.partial")});
  REQUIRE(std::filesystem::exists(dir / "results.h5.partial"));
  const h5::file f = h5::file::open(dir / "results.h5.partial");
  CHECK(f.root().open_group("analyses").open_group("broken").attr_int("complete") == 0);
}

// ---- reference models ----------------------------------------------------------------------------

/// The model trained on the test set, and the interactions of `net` at two checkpoints and its final weights with
/// that model as reference.
std::string with_reference(const temp_dir& dir) {
  return edited(head(dir), "epochs = 4\n", "epochs = 4\ncheckpoints = [1, 2]\n") + R"(
[models.on_test]
backend = "native"
dataset = "test"

[models.on_test.train]
hidden = [16, 16]
epochs = 4
batch_size = 32

[analyses.inter]
plugin = "interactions"
model = "net"
reference_model = "on_test"
datasets = ["train", "test"]
grid = "1x6"
points = 3
iterations = 50
checkpoints = "all"
)";
}

TEST_CASE("an analysis's reference model is built first, used and recorded with its digest", "[analyses][interface]") {
  temp_dir dir("analyses-reference");
  const cli_result r = run_cli("run --quiet " + save(dir, with_reference(dir)));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const h5::file f = h5::file::open(dir / "results.h5");
  const h5::group root = f.root();
  const h5::group a = root.open_group("analyses").open_group("inter");
  CHECK(a.attr_string("reference_model") == "on_test");
  CHECK(a.attr_string("reference_model_digest") ==
        root.open_group("provenance").open_group("models").open_group("on_test").attr_string("digest"));
  CHECK(a.attr_string("reference_model_digest") != a.attr_string("model_digest"));
  const h5::group t = a.open_group("samples");
  // Epochs 1, 2 and the final weights (0), each with 3 + 3 samples.
  const std::vector<std::int64_t> epochs = t.read<std::int64_t>("epoch");
  REQUIRE(epochs.size() == 18);
  CHECK(std::count(epochs.begin(), epochs.end(), 1) == 6);
  CHECK(std::count(epochs.begin(), epochs.end(), 0) == 6);
  // The reference is the same at every checkpoint: its output on a sample does not change with the epoch.
  const std::vector<double> reference = t.read<double>("reference_v_sample");
  for (std::size_t row = 6; row < 18; ++row) CHECK(reference[row] == reference[row % 6]);
  for (const double x : t.read<double>("generalizable_strength")) CHECK(std::isfinite(x));
}

TEST_CASE("reference_model is refused for plugins that take none, for the model itself and for other classes",
          "[analyses][negative]") {
  temp_dir dir("analyses-reference-bad");
  const std::string text = with_reference(dir);
  SECTION("a plugin that takes no reference model") {
    const std::string bad = edited(text, "plugin = \"interactions\"", "plugin = \"jacobian\"");
    const std::string jacobian = edited(bad, "grid = \"1x6\"\npoints = 3\niterations = 50\ncheckpoints = \"all\"\n",
                                        "points = 3\n");
    CHECK_THAT(refusal(jacobian), Contains(position_of(jacobian, "\"on_test\"", "[analyses.inter]")) &&
                                      Contains("plugin 'jacobian' takes no reference model"));
  }
  SECTION("the analysed model itself") {
    const std::string bad = edited(text, "reference_model = \"on_test\"", "reference_model = \"net\"");
    CHECK_THAT(refusal(bad), Contains("reference_model names the analysed model 'net' itself"));
  }
  SECTION("an unknown model") {
    const std::string bad = edited(text, "reference_model = \"on_test\"", "reference_model = \"on_tset\"");
    CHECK_THAT(refusal(bad), Contains("on_tset") && Contains("did you mean 'on_test'?"));
  }
  SECTION("a model of other classes or inputs") {
    const std::string other = text + R"(
[datasets.four]
source = "synthetic"
samples = 40
dim = 12
classes = 4

[datasets.wide]
source = "synthetic"
samples = 40
dim = 13
classes = 3

[models.four_classes]
backend = "native"
dataset = "four"

[models.four_classes.train]
hidden = [8]
epochs = 1

[models.wide_inputs]
backend = "native"
dataset = "wide"

[models.wide_inputs.train]
hidden = [8]
epochs = 1
)";
    const std::string classes = edited(other, "reference_model = \"on_test\"", "reference_model = \"four_classes\"");
    CHECK_THAT(refusal(classes), Contains("reference model 'four_classes' has 4 classes, model 'net' 3"));
    const std::string inputs = edited(other, "reference_model = \"on_test\"", "reference_model = \"wide_inputs\"");
    CHECK_THAT(refusal(inputs), Contains("reference model 'wide_inputs' takes inputs of dimension 13, model 'net' 12"));
  }
}
