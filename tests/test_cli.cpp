// End-to-end tests of the genscope CLI: a full run, its results file, thread independence, bad inputs.
#include "support.hpp"

#include "h5/h5.hpp"
#include "inspect/summary.hpp"

#include <genscope/datasets.hpp>
#include <genscope/mlp.hpp>
#include <genscope/version.hpp>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <regex>

using namespace genscope;
using genscope::testing::cli_result;
using genscope::testing::line_count;
using genscope::testing::run_cli;
using genscope::testing::temp_dir;
using genscope::testing::replace;
using genscope::testing::write_experiment;
using genscope::testing::write_file;

namespace {

// Small synthetic experiment: trains in about a second, 300 pairwise probes with bisection.
std::string experiment_text(const temp_dir& dir, const std::string& extra_runs = "") {
  return fmt::format(R"(seed = 3
output = "{}"
model_cache = "{}"

[datasets.train]
source = "synthetic"
samples = 400
dim = 20
manifold_dim = 3
classes = 4
noise = 0.05

[models.net]
backend = "native"
dataset = "train"

[models.net.train]
hidden = [32, 32]
epochs = 15
batch_size = 32

[samplers.pairs]
plugin = "pairwise"
dataset = "train"
count = 300

[estimators.bisect]
plugin = "bisection"
T = 3.0
h = 0.05
tol = 1e-5

[runs.main]
model = "net"
sampler = "pairs"
estimator = "bisect"
batch_size = 16
{})",
                     dir / "results.h5", dir / "models", extra_runs);
}

dataset_spec same_data_as_experiment() {
  dataset_spec s;
  s.source = "synthetic";
  s.samples = 400;
  s.dim = 20;
  s.manifold_dim = 3;
  s.classes = 4;
  s.noise = 0.05;
  s.seed = 3;
  return s;
}

/// The run must fail with exit code 1 and exactly one line on stderr containing every needle.
void require_one_line_error(const cli_result& r, std::initializer_list<std::string> needles) {
  INFO("stderr: " << r.err << "stdout: " << r.out);
  REQUIRE(r.exit_code == 1);
  REQUIRE(line_count(r.err) == 1);
  REQUIRE(r.err.rfind("genscope: error: ", 0) == 0);
  for (const auto& n : needles) REQUIRE(r.err.find(n) != std::string::npos);
}

/// A valid two-layer model file made through the library, optionally poisoned with a NaN.
std::string write_model(const temp_dir& dir, const std::string& name, bool nan) {
  dense_layer l1{matrix(8, 20), std::vector<float>(8, 0.1f)};
  dense_layer l2{matrix(4, 8), std::vector<float>(4, 0.0f)};
  for (std::size_t i = 0; i < l1.weight.data.size(); ++i) l1.weight.data[i] = 0.01f * static_cast<float>(i % 7);
  for (std::size_t i = 0; i < l2.weight.data.size(); ++i) l2.weight.data[i] = 0.02f * static_cast<float>(i % 5);
  if (nan) l2.weight(1, 3) = std::numeric_limits<float>::quiet_NaN();
  const std::string path = dir / name;
  save_model(path, mlp({l1, l2}, {20}), training_record{});
  return path;
}

}  // namespace

TEST_CASE("run writes a complete results file with provenance and consistent columns", "[interface]") {
  temp_dir dir("cli-run");
  const std::string text = experiment_text(dir);
  const auto r = run_cli("run --quiet " + write_experiment(dir, text));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(r.out.find("main") != std::string::npos);
  REQUIRE(r.out.find("pairwise") != std::string::npos);
  REQUIRE(std::filesystem::exists(dir / "results.h5"));
  REQUIRE_FALSE(std::filesystem::exists(dir / "results.h5.partial"));

  const h5::file f = h5::file::open(dir / "results.h5");
  const h5::group root = f.root();
  CHECK(root.attr_string("status") == "complete");
  CHECK(root.attr_string("experiment") == text);
  CHECK_FALSE(root.attr_string("genscope_version").empty());
  CHECK_FALSE(root.attr_string("git_commit").empty());
  CHECK_FALSE(root.attr_string("host").empty());
  CHECK_FALSE(root.attr_string("end_time").empty());

  // Independent oracle: rebuild the data set and recompute |x_j - x_i| and the length column.
  const dataset data = build_dataset(same_data_as_experiment());
  const h5::group run = root.open_group("runs").open_group("main");
  CHECK(run.attr_string("dataset_sha256") == data.sha256);
  CHECK(root.open_group("provenance").open_group("datasets").open_group("train").attr_string("sha256") == data.sha256);
  CHECK(run.attr_int("complete") == 1);
  const auto probe = run.read<std::uint64_t>("probe");
  const auto anchor = run.read<std::int64_t>("anchor");
  const auto partner = run.read<std::int64_t>("partner_1");
  const auto d_norm = run.read<double>("d_norm");
  const auto t_lo = run.read<double>("t_lo");
  const auto t_hi = run.read<double>("t_hi");
  const auto length = run.read<double>("length");
  const auto label = run.read<std::int32_t>("anchor_label");
  const auto kind = run.read_strings("kind");
  REQUIRE(probe.size() == 300);
  for (std::size_t i = 0; i < probe.size(); ++i) {
    CHECK(probe[i] == i);
    const auto a = static_cast<std::size_t>(anchor[i]);
    const auto p = static_cast<std::size_t>(partner[i]);
    CHECK(data.labels[a] == data.labels[p]);
    CHECK(label[i] == data.labels[a]);
    double s = 0;
    for (std::size_t j = 0; j < data.dim(); ++j) {
      const double diff = static_cast<double>(data.x(p, j)) - data.x(a, j);
      s += diff * diff;
    }
    CHECK(d_norm[i] == Approx(std::sqrt(s)).epsilon(1e-6));
    CHECK(length[i] == Approx((t_hi[i] - t_lo[i]) * d_norm[i]).epsilon(1e-12));
    CHECK(t_lo[i] <= 0.0);
    CHECK(t_hi[i] >= 0.0);
    CHECK(kind[i] == "pairwise");
  }
}

TEST_CASE("the documented h5py/pandas snippet reads a run", "[interface]") {
  temp_dir dir("cli-pandas");
  const auto r = run_cli("run --quiet " + write_experiment(dir, experiment_text(dir)));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::string json = dir / "read.json";
  const std::string cmd = std::string("/usr/bin/python3 ") + GENSCOPE_TEST_SOURCE_DIR + "/tests/read_results.py " +
                          (dir / "results.h5") + " main > " + json;
  REQUIRE(std::system(cmd.c_str()) == 0);
  const std::string out = genscope::testing::read_file(json);
  INFO(out);
  CHECK(out.find("\"rows\": 300") != std::string::npos);
  CHECK(out.find("\"kinds\": [\"pairwise\"]") != std::string::npos);
  CHECK(out.find("\"status\": \"complete\"") != std::string::npos);
  for (const char* attr : {"experiment", "genscope_version", "git_commit", "host", "seed", "start_time", "end_time"})
    CHECK(out.find(std::string("\"") + attr + "\"") != std::string::npos);
  // The median the C++ summary computes agrees with pandas'.
  const auto rows = summarize(dir / "results.h5").rows;
  REQUIRE(rows.size() == 1);
  const auto pos = out.find("\"median_length\": ");
  REQUIRE(pos != std::string::npos);
  CHECK(std::stod(out.substr(pos + 17)) == Approx(rows[0].length_median).epsilon(1e-12));
}

TEST_CASE("results do not depend on the thread count, and trained models are reused", "[interface]") {
  temp_dir dir("cli-threads");
  const std::string file = write_experiment(dir, experiment_text(dir));
  const auto one = run_cli("run --threads 1 -o " + (dir / "one.h5") + " " + file);
  INFO(one.err);
  REQUIRE(one.exit_code == 0);
  const auto two = run_cli("run --threads 2 -o " + (dir / "two.h5") + " " + file);
  INFO(two.err);
  REQUIRE(two.exit_code == 0);
  CHECK(two.err.find("reusing") != std::string::npos);

  const h5::file a = h5::file::open(dir / "one.h5");
  const h5::file b = h5::file::open(dir / "two.h5");
  const h5::group ra = a.root().open_group("runs").open_group("main");
  const h5::group rb = b.root().open_group("runs").open_group("main");
  CHECK(a.root().attr_int("threads") == 1);
  for (const char* col : {"t_lo", "t_hi", "length", "d_norm"}) CHECK(ra.read<double>(col) == rb.read<double>(col));
  for (const char* col : {"anchor", "partner_1"}) CHECK(ra.read<std::int64_t>(col) == rb.read<std::int64_t>(col));
  for (const char* col : {"class", "class_lo", "class_hi"}) CHECK(ra.read<std::int32_t>(col) == rb.read<std::int32_t>(col));
  CHECK(ra.read<std::uint64_t>("cost") == rb.read<std::uint64_t>("cost"));
}

TEST_CASE("a run that fails keeps finished runs and batches in a file marked partial", "[negative]") {
  temp_dir dir("cli-partial");
  const std::string extra = R"(
[estimators.failing]
plugin = "fail_at"
fail_at = 100

[runs.later]
model = "net"
sampler = "pairs"
estimator = "failing"
batch_size = 16
)";
  const std::string env = std::string("GENSCOPE_PLUGIN_PATH=") + GENSCOPE_TEST_BINARY_DIR + "/test-plugins/failing";
  const auto r = run_cli("run --quiet " + write_experiment(dir, experiment_text(dir, extra)), env);
  require_one_line_error(r, {"fail_at", "reached probe 100", "results.h5.partial"});
  REQUIRE_FALSE(std::filesystem::exists(dir / "results.h5"));
  REQUIRE(std::filesystem::exists(dir / "results.h5.partial"));
  const h5::file f = h5::file::open(dir / "results.h5.partial");
  CHECK(f.root().attr_string("status") == "partial");
  const h5::group runs = f.root().open_group("runs");
  CHECK(runs.open_group("main").attr_int("complete") == 1);
  CHECK(runs.open_group("main").read<double>("t_hi").size() == 300);
  const h5::group later = runs.open_group("later");
  CHECK(later.attr_int("complete") == 0);
  // Exactly the batches before the failing one (probe 100 lies in batch 6), whatever the thread count.
  const auto rows = later.read<std::uint64_t>("probe");
  CHECK(rows.size() == 96);
  for (std::size_t i = 0; i < rows.size(); ++i) CHECK(rows[i] == i);
}

TEST_CASE("missing dataset files are refused before any work", "[negative]") {
  temp_dir dir("cli-missing-data");
  std::string text = replace(experiment_text(dir), "source = \"synthetic\"", "source = \"idx\"\ndir = \"/nonexistent/fmnist\"");
  text = replace(text, "samples = 400\ndim = 20\nmanifold_dim = 3\nclasses = 4\nnoise = 0.05\n", "");
  const auto r = run_cli("run " + write_experiment(dir, text));
  require_one_line_error(r, {"/nonexistent/fmnist"});
  CHECK_FALSE(std::filesystem::exists(dir / "results.h5.partial"));
}

TEST_CASE("corrupt dataset files are refused naming the file", "[negative]") {
  temp_dir dir("cli-corrupt-data");
  std::filesystem::create_directories(dir / "idx");
  write_file(dir / "idx/train-images-idx3-ubyte", std::string("\x00\x00\x08\x03\x00\x00\x00\x05garbage", 15));
  write_file(dir / "idx/train-labels-idx1-ubyte", std::string("\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02\x03\x04\x05", 13));
  std::string text = replace(experiment_text(dir), "source = \"synthetic\"", "source = \"idx\"\ndir = \"" + (dir / "idx") + "\"");
  text = replace(text, "samples = 400\ndim = 20\nmanifold_dim = 3\nclasses = 4\nnoise = 0.05\n", "");
  const auto r = run_cli("run " + write_experiment(dir, text));
  require_one_line_error(r, {"train-images-idx3-ubyte"});
}

TEST_CASE("a truncated model file is refused naming the file", "[negative]") {
  temp_dir dir("cli-truncated-model");
  const std::string model = write_model(dir, "model.h5", false);
  std::filesystem::resize_file(model, std::filesystem::file_size(model) / 2);
  std::string text = replace(experiment_text(dir), "dataset = \"train\"\n\n[models.net.train]\nhidden = [32, 32]\nepochs = 15\nbatch_size = 32\n",
                             "path = \"" + model + "\"\n");
  const auto r = run_cli("run " + write_experiment(dir, text));
  require_one_line_error(r, {"model.h5"});
}

TEST_CASE("a model file containing NaN is refused naming the file", "[negative]") {
  temp_dir dir("cli-nan-model");
  const std::string model = write_model(dir, "nan.h5", true);
  std::string text = replace(experiment_text(dir), "dataset = \"train\"\n\n[models.net.train]\nhidden = [32, 32]\nepochs = 15\nbatch_size = 32\n",
                             "path = \"" + model + "\"\n");
  const auto r = run_cli("run " + write_experiment(dir, text));
  require_one_line_error(r, {"nan.h5", "NaN"});
}

TEST_CASE("a loaded model is usable when valid (control for the model negatives)", "[interface]") {
  temp_dir dir("cli-loaded-model");
  const std::string model = write_model(dir, "model.h5", false);
  std::string text = replace(experiment_text(dir), "dataset = \"train\"\n\n[models.net.train]\nhidden = [32, 32]\nepochs = 15\nbatch_size = 32\n",
                             "path = \"" + model + "\"\n");
  const auto r = run_cli("run --quiet " + write_experiment(dir, text));
  INFO(r.err);
  CHECK(r.exit_code == 0);
}

TEST_CASE("malformed TOML is reported with its position", "[negative]") {
  temp_dir dir("cli-toml");
  const std::string file = write_experiment(dir, "seed = 3\noutput = = \"x.h5\"\n");
  const auto r = run_cli("run " + file);
  require_one_line_error(r, {file + ":2:"});
}

TEST_CASE("an unknown plugin is refused with the closest name", "[negative]") {
  temp_dir dir("cli-unknown-plugin");
  const std::string text = replace(experiment_text(dir), "plugin = \"bisection\"", "plugin = \"bisecton\"");
  const std::string file = write_experiment(dir, text);
  const auto r = run_cli("run " + file);
  require_one_line_error(r, {file + ":", "bisecton", "bisection"});
}

TEST_CASE("a plugin built for another API version is refused naming it and both versions", "[negative]") {
  const std::string plugin_dir = std::string(GENSCOPE_TEST_BINARY_DIR) + "/test-plugins/abi_mismatch";
  std::string library;
  for (const auto& e : std::filesystem::directory_iterator(plugin_dir)) library = e.path().filename().string();
  // libgenscope_<kind>_<name>.so
  const std::smatch m = [&] {
    std::smatch sm;
    REQUIRE(std::regex_match(library, sm, std::regex("libgenscope_(backend|sampler|estimator)_(\\w+)\\.so")));
    return sm;
  }();
  REQUIRE(m[1] == "estimator");
  const std::string name = m[2];
  const std::string env = "GENSCOPE_PLUGIN_PATH=" + plugin_dir;

  const auto listing = run_cli("plugins", env);
  CHECK(listing.exit_code == 1);
  CHECK(listing.err.find(library) != std::string::npos);
  CHECK(listing.out.find("bisection") != std::string::npos);  // the good plugins are still listed

  temp_dir dir("cli-abi");
  const std::string text = replace(experiment_text(dir), "plugin = \"bisection\"\nT = 3.0\nh = 0.05\ntol = 1e-5",
                                   "plugin = \"" + name + "\"");
  const auto r = run_cli("run " + write_experiment(dir, text), env);
  require_one_line_error(r, {library, "999", std::to_string(plugin_api_version)});
}

TEST_CASE("an unwritable output path is refused before any work", "[negative]") {
  temp_dir dir("cli-unwritable");
  write_file(dir / "a-file", "not a folder");
  const std::string text = replace(experiment_text(dir), "output = \"" + (dir / "results.h5") + "\"",
                                   "output = \"" + (dir / "a-file") + "/results.h5\"");
  const auto r = run_cli("run " + write_experiment(dir, text));
  require_one_line_error(r, {"a-file/results.h5"});
  CHECK_FALSE(std::filesystem::exists(dir / "models"));  // nothing was trained
}

/// No model was trained (the cache folder may exist, created by validation, but holds no model).
bool nothing_trained(const temp_dir& dir) {
  if (!std::filesystem::exists(dir / "models")) return true;
  return std::filesystem::is_empty(dir / "models");
}

TEST_CASE("output paths that are devices, folders or inputs are refused before any work", "[negative][regression]") {
  temp_dir dir("cli-outputs");
  const std::string experiment = write_experiment(dir, experiment_text(dir));
  const std::string before = genscope::testing::read_file(experiment);
  // A scratch /dev/null (character device 1:3), made where the test can see it is left alone.
  const std::string device = dir / "null";
  const bool have_device = std::system(("mknod '" + device + "' c 1 3 2>/dev/null").c_str()) == 0;
  if (!have_device) WARN("mknod is not permitted here: the device case uses /dev/null itself");
  const std::string dev = have_device ? device : "/dev/null";
  std::filesystem::create_directories(dir / "a-folder");
  struct bad_output {
    std::string output, why;
  };
  const std::vector<bad_output> cases = {
      {dev, "is a device"},
      {dir / "a-folder", "is a folder"},
      {dir / "out/foo/", "ends in '/'"},
      {"", "it is empty"},
      {experiment, "it is the experiment file"},
      {dir / "models/results.h5", "inside the model cache"},
  };
  for (const bad_output& c : cases) {
    INFO("-o '" << c.output << "'");
    const auto r = run_cli(fmt::format("run '{}' -o '{}'", experiment, c.output));
    CHECK(r.exit_code == 2);
    CHECK(line_count(r.err) == 1);
    CHECK_THAT(r.err, Catch::Contains("cannot be written") && Catch::Contains(c.why));
    CHECK(nothing_trained(dir));
  }
  CHECK(genscope::testing::read_file(experiment) == before);
  if (have_device) CHECK(std::filesystem::is_character_file(device));
  // The same rules for the file's own `output`, as a positioned config error.
  const std::string model = write_model(dir, "loaded.h5", false);
  std::string text = replace(experiment_text(dir), "output = \"" + (dir / "results.h5") + "\"",
                             "output = \"" + model + "\"");
  text += "\n[models.loaded]\nbackend = \"native\"\npath = \"" + model + "\"\n";
  const auto r = run_cli("run " + write_experiment(dir, text));
  require_one_line_error(r, {"experiment.toml:2:", "'output'", "model 'loaded''s file", "would be overwritten"});
  CHECK(load_model(model).net.input_dim() == 20);  // untouched
  // genscope train -o follows them too, before reading any data.
  const auto t = run_cli(fmt::format("train -o '{}' --epochs 1", dev));
  CHECK(t.exit_code == 2);
  CHECK_THAT(t.err, Catch::Contains("is a device"));
}

TEST_CASE("a missing experiment file is refused naming it", "[negative]") {
  const auto r = run_cli("run /nonexistent/experiment.toml");
  require_one_line_error(r, {"/nonexistent/experiment.toml"});
}

TEST_CASE("inspect refuses a file that is not a results file", "[negative]") {
  temp_dir dir("cli-inspect");
  write_file(dir / "junk.h5", "junk");
  const auto r = run_cli("inspect " + (dir / "junk.h5"));
  require_one_line_error(r, {"junk.h5"});
}

TEST_CASE("usage mistakes exit with code 2 and point to --help", "[negative]") {
  const auto unknown = run_cli("frobnicate");
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("--help") != std::string::npos);
  const auto missing = run_cli("run");
  CHECK(missing.exit_code == 2);
  const auto threads = run_cli("run --threads -1 x.toml");
  CHECK(threads.exit_code == 2);
}

TEST_CASE("every command has --help", "[interface]") {
  for (const char* cmd : {"run", "train", "plugins", "inspect"}) {
    const auto r = run_cli(std::string(cmd) + " --help");
    INFO(cmd);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("--help") != std::string::npos);
  }
  CHECK(run_cli("--help").exit_code == 0);
}

TEST_CASE("plugins lists native, pairwise and bisection with their options", "[interface]") {
  const auto r = run_cli("plugins");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  for (const char* needle : {"backend native", "sampler pairwise", "estimator bisection", "path", "count",
                             "same_label", "tol"})
    CHECK(r.out.find(needle) != std::string::npos);
}

TEST_CASE("train fits an MLP on Fashion-MNIST and stores the per-epoch curve", "[interface]") {
  temp_dir dir("cli-train");
  const std::string model = dir / "m.h5";
  const auto r = run_cli("train --subset 300 --labels random --hidden 24 --epochs 3 --test-subset 100 --seed 5 -o " + model);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(line_count(r.err) == 4);  // one line per epoch, then "saved"
  CHECK(r.err.find("epoch    3/3") != std::string::npos);
  const loaded_model m = load_model(model);
  CHECK(m.net.describe() == "784-24-10 ReLU MLP");
  CHECK(m.record.trained);
  CHECK(m.record.label_mode == "random");
  CHECK(m.record.config.seed == 5);
  REQUIRE(m.record.epochs.size() == 3);
  for (const auto& e : m.record.epochs) {
    CHECK(e.train_accuracy >= 0.0);
    CHECK(e.train_accuracy <= 1.0);
    CHECK(e.test_accuracy >= 0.0);  // a test set was given, so not NaN
  }
  // The training set's hash is that of the same subset built independently.
  dataset_spec spec;
  spec.subset = 300;
  spec.labels_mode = label_mode::random;
  CHECK(m.record.dataset_sha256 == build_dataset(spec).sha256);
}

TEST_CASE("train refuses bad arguments", "[negative]") {
  temp_dir dir("cli-train-bad");
  CHECK(run_cli("train --labels shuffled -o " + (dir / "m.h5")).exit_code == 2);
  CHECK(run_cli("train --hidden 16,x -o " + (dir / "m.h5")).exit_code == 2);
  CHECK(run_cli("train --epochs 3").exit_code == 2);  // no output file
  const auto r = run_cli("train --subset 100 --epochs 1 --dir /nonexistent -o " + (dir / "m.h5"));
  require_one_line_error(r, {"/nonexistent"});
  CHECK_FALSE(std::filesystem::exists(dir / "m.h5"));
}
