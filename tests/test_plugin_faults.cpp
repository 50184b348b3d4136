// Plugins cannot take the host down: contract breaches at run time (wrong lengths, NaN, foreign exceptions,
// too few logits) are one line naming the plugin, and a plugin whose factory aborts spoils only itself.
#include "support.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <string>

namespace {

using genscope::testing::cli_result;
using genscope::testing::line_count;
using genscope::testing::replace;
using genscope::testing::run_cli;
using genscope::testing::temp_dir;
using genscope::testing::write_experiment;

const std::string defects_env =
    "GENSCOPE_PLUGIN_PATH=" + std::string(GENSCOPE_TEST_BINARY_DIR) + "/test-plugins/defects";

/// A small trained model and one run whose sampler and estimator are chosen by the test.
std::string experiment(const temp_dir& dir, const std::string& sampler, const std::string& estimator,
                       const std::string& backend = "native") {
  std::string model = backend == "native" ? "backend = \"native\"\ndataset = \"train\"\n\n[models.net.train]\nhidden = "
                                            "[16]\nepochs = 2\nbatch_size = 32\n"
                                          : "backend = \"" + backend + "\"\n";
  return fmt::format(R"(seed = 2
output = "{}"
model_cache = "{}"

[datasets.train]
source = "synthetic"
samples = 120
dim = 20
manifold_dim = 3
classes = 4

[models.net]
{}
[samplers.s]
plugin = "{}"
dataset = "train"

[estimators.e]
plugin = "{}"

[runs.r]
model = "net"
sampler = "s"
estimator = "e"
batch_size = 16
)",
                     dir / "results.h5", dir / "models", model, sampler, estimator);
}

/// The run fails with exit code 1 and one line naming `plugin` and containing `needle`; finished batches are kept.
void require_refused(const cli_result& r, const std::string& plugin, const std::string& needle) {
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 1);
  CHECK(line_count(r.err) == 1);
  CHECK(r.err.find("plugin '" + plugin + "'") != std::string::npos);
  CHECK(r.err.find(needle) != std::string::npos);
}

}  // namespace

TEST_CASE("a sampler whose fill() leaves a column short is refused naming it", "[negative][plugins]") {
  temp_dir dir("fault-short-fill");
  const auto r = run_cli("run --quiet " + write_experiment(dir, experiment(dir, "short_fill", "bisection")), defects_env);
  require_refused(r, "short_fill", "fill() left 15 values of 'kind' for 16 probes");
}

TEST_CASE("a sampler that puts NaN in a direction is refused naming it", "[negative][plugins]") {
  temp_dir dir("fault-nan-direction");
  const auto r = run_cli("run --quiet " + write_experiment(dir, experiment(dir, "nan_direction", "bisection")), defects_env);
  require_refused(r, "nan_direction", "fill() put a non-finite value in 'd' (probe 15, coordinate 0)");
}

TEST_CASE("an estimator returning NaN is refused naming it", "[negative][plugins]") {
  temp_dir dir("fault-nan-interval");
  const auto r = run_cli("run --quiet " + write_experiment(dir, experiment(dir, "pairwise", "nan_interval")), defects_env);
  require_refused(r, "nan_interval", "returned t_hi = nan for probe 15 of the batch (must be a finite number >= 0)");
  // The first batch failed: nothing had been computed, nothing is left behind.
  CHECK_FALSE(std::filesystem::exists(dir / "results.h5.partial"));
}

TEST_CASE("an estimator returning a column of the wrong length is refused naming it", "[negative][plugins]") {
  temp_dir dir("fault-short-result");
  const auto r = run_cli("run --quiet " + write_experiment(dir, experiment(dir, "pairwise", "short_result")), defects_env);
  require_refused(r, "short_result", "returned 15 values of 't_hi' for 16 probes");
}

TEST_CASE("an estimator throwing something that is not a std::exception is a plugin error, not an abort",
          "[negative][plugins]") {
  temp_dir dir("fault-throws-int");
  const auto r =
      run_cli("run --quiet " + write_experiment(dir, experiment(dir, "pairwise", "throws_int_estimate")), defects_env);
  require_refused(r, "throws_int_estimate", "estimator 'e': threw an exception that is not a std::exception");
}

TEST_CASE("a backend whose logits have the wrong shape is refused naming it", "[negative][plugins]") {
  temp_dir dir("fault-bad-logits");
  const auto r =
      run_cli("run --quiet " + write_experiment(dir, experiment(dir, "pairwise", "bisection", "bad_logits")), defects_env);
  require_refused(r, "bad_logits", "logits() returned 16 x 3 (48 values) for 16 inputs of a 4-class model");
}

TEST_CASE("a backend whose hidden activations have the wrong shape is refused naming it", "[negative][plugins]") {
  temp_dir dir("fault-bad-activations");
  const std::string text = fmt::format(R"(seed = 2
output = "{}"

[datasets.train]
source = "synthetic"
samples = 120
dim = 20
manifold_dim = 3
classes = 4

[models.net]
backend = "bad_logits"

[analyses.geometry]
plugin = "manifold_geometry"
model = "net"
datasets = ["train"]
layers = "hidden"
samples = 10
)",
                                       dir / "results.h5");
  const auto r = run_cli("run --quiet " + write_experiment(dir, text), defects_env);
  require_refused(r, "bad_logits", "activations() of layer 'hidden' returned 39 x 5 (195 values) for 40 inputs");
}

TEST_CASE("a plugin whose factory aborts affects neither `genscope plugins` nor runs that do not use it",
          "[negative][plugins]") {
  const auto listing = run_cli("plugins --kind analysis", defects_env);
  INFO(listing.err);
  // 1, not 134 (SIGABRT): the folder also holds the libraries the registry refuses (test_plugins).
  CHECK(listing.exit_code == 1);
  for (std::size_t at = 0; (at = listing.err.find("genscope: error: ", at)) != std::string::npos; ++at)
    CHECK(listing.err.compare(at + 17, 3, "lib") == 0);
  CHECK(listing.out.find("aborting_factory") != std::string::npos);
  CHECK(listing.out.find("tables: cannot be listed: creating the plugin killed the process (Aborted)") !=
        std::string::npos);
  // The plugins after it are still listed, with their tables.
  CHECK(listing.out.find("table points:") != std::string::npos);
  temp_dir dir("fault-aborting");
  const auto run = run_cli("run --quiet " + write_experiment(dir, experiment(dir, "pairwise", "bisection")), defects_env);
  INFO(run.err);
  CHECK(run.exit_code == 0);
  CHECK(std::filesystem::exists(dir / "results.h5"));
}
