// MPI's parallel efficiency (2 ranks x 1 thread against 1 process x 1 thread) and the cost of merging N shards.
//
// The experiment is the quick start's real-label network (its data, training table and model cache, so a
// `make bench` reuses the trained model) probed by bisection and by the exact walk, plus the jacobian
// analysis: the three kinds of work a cluster job splits. Every job runs the genscope CLI as a user would,
// timed from outside (wall clock, process start to exit). Figures feed docs/scaling.md.
#include "bench_support.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using genscope::bench::clock_type;
using genscope::bench::seconds_since;

const fs::path genscope_cli = fs::read_symlink("/proc/self/exe").parent_path() / "genscope";

/// Runs a shell command; exits the bench with its output when it fails.
double timed(const std::string& command) {
  const auto start = clock_type::now();
  const int status = std::system((command + " > /tmp/bench_cluster.log 2>&1").c_str());
  const double s = seconds_since(start);
  if (status != 0) {
    std::fprintf(stderr, "bench_cluster: failed: %s\n", command.c_str());
    std::system("tail -5 /tmp/bench_cluster.log >&2");
    std::exit(1);
  }
  return s;
}

std::string mpirun(std::size_t ranks) {
  return fmt::format("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe --bind-to none "
                     "-n {} {}",
                     ranks, genscope_cli.string());
}

std::string experiment_text(const fs::path& folder, std::size_t probes, std::size_t points) {
  return fmt::format(R"(seed = 1
output = "{}"
model_cache = "{}"

[datasets.real]
source = "idx"
dir = "/usr/share/datasets/fashion-mnist"
split = "train"
subset = 2000
label_mode = "real"

[datasets.test]
split = "t10k"
subset = 1000

[models.real]
backend = "native"
dataset = "real"
test = "test"

[models.real.train]
hidden = [256, 256]
optimizer = "adam"
learning_rate = 1e-3
batch_size = 128
epochs = 40

[samplers.pairs]
plugin = "pairwise"
dataset = "real"
count = {}
same_label = true

[estimators.bisect]
plugin = "bisection"
T = 16.0
h = 0.05
tol = 1e-4

[estimators.exact]
plugin = "exact"
T = 16.0

[runs.bisected]
model = "real"
sampler = "pairs"
estimator = "bisect"

[runs.walked]
model = "real"
sampler = "pairs"
estimator = "exact"

[analyses.sens]
plugin = "jacobian"
model = "real"
datasets = ["real"]
points = {}
)",
                     (folder / "results.h5").string(), fs::absolute("models").string(), probes, points);
}

bool same_results(const fs::path& a, const fs::path& b) {
  const fs::path compare = fs::path(GENSCOPE_BENCH_SOURCE_DIR) / "tests" / "compare_results.py";
  return std::system(fmt::format("/usr/bin/python3 '{}' '{}' '{}' > /dev/null 2>&1", compare.string(), a.string(),
                                 b.string())
                         .c_str()) == 0;
}

}  // namespace

int main() {
  genscope::bench::print_bench_header(
      "bench_cluster: one experiment on MPI ranks and as merged shards, against one process (genscope CLI, wall "
      "clock)",
      false);
  if (std::system(fmt::format("{} --version | grep -q 'MPI: '", genscope_cli.string()).c_str()) != 0) {
    std::printf("genscope was built without MPI (libopenmpi-dev absent): nothing to measure\n");
    return 0;
  }
  std::system(fmt::format("{} --version; mpirun --version | head -1", genscope_cli.string()).c_str());
  const genscope::bench::scratch_folder scratch("bench-cluster");
  const fs::path dir = scratch.path();
  const std::size_t probes = 3000, points = 300;
  const fs::path exp = dir / "experiment.toml";
  std::FILE* f = std::fopen(exp.c_str(), "w");
  std::fputs(experiment_text(dir, probes, points).c_str(), f);
  std::fclose(f);
  std::printf("experiment: Fashion-MNIST 784-256-256-10 (quick start's real labels), %zu pairwise probes by bisection "
              "and by the exact walk, jacobian on %zu points\n",
              probes, points);

  // The model: trained once into the cache (or reused), outside every timing.
  const double train_s = timed(fmt::format("{} run --train-only --quiet {}", genscope_cli.string(), exp.string()));
  std::printf("training or reusing the model (not timed below): %.1f s\n\n", train_s);

  // 1. Parallel efficiency: best of two of each, alternating, so both see the same machine load.
  double one = 1e300, two = 1e300;
  for (int trial = 0; trial < 2; ++trial) {
    fs::remove(dir / "one.h5");
    fs::remove(dir / "two.h5");
    one = std::min(one, timed(fmt::format("{} run --threads 1 --quiet {} -o {}", genscope_cli.string(), exp.string(),
                                          (dir / "one.h5").string())));
    two = std::min(two, timed(fmt::format("{} run --threads 1 --quiet {} -o {}", mpirun(2), exp.string(),
                                          (dir / "two.h5").string())));
  }
  const double launch = timed(mpirun(2) + " --version");
  const double inputs = timed(fmt::format("{} run --train-only --quiet --threads 1 {}", genscope_cli.string(),
                                          exp.string()));
  std::printf("MPI, same experiment, 1 thread per process (best of 2):\n");
  std::printf("  1 process             %8.2f s\n", one);
  std::printf("  2 ranks (mpirun -n 2) %8.2f s   speed-up %.2f   parallel efficiency %.2f (target >= 0.9)\n", two,
              one / two, one / (2 * two));
  std::printf("  of which serial: mpirun start and MPI_Init %.2f s; data and model on rank 0 %.2f s\n", launch, inputs);
  std::printf("  results equal to one process's (h5py): %s\n\n", same_results(dir / "one.h5", dir / "two.h5") ? "yes" : "NO");

  // 2. Merging N shards: the shards computed one after another (as array tasks would, here sequentially).
  std::printf("merging N shards of the same experiment (genscope merge, best of 3):\n");
  std::printf("  %6s %10s %12s %12s %12s %14s\n", "N", "shards s", "merge s", "per shard ms", "output MB",
              "merge / 1 proc");
  for (const std::size_t n : {2, 8, 32}) {
    std::vector<std::string> files;
    double shards_s = 0;
    for (std::size_t i = 0; i < n; ++i) {
      shards_s += timed(fmt::format("{} run --threads 1 --quiet --shard {}/{} {}", genscope_cli.string(), i, n,
                                    exp.string()));
      files.push_back((dir / fmt::format("results.shard-{}-of-{}.h5", i, n)).string());
    }
    std::string list;
    for (const std::string& file : files) list += " '" + file + "'";
    const fs::path merged = dir / fmt::format("merged-{}.h5", n);
    const double merge_s = genscope::bench::best_seconds(
        [&] {
          fs::remove(merged);
          timed(fmt::format("{} merge --quiet{} -o {}", genscope_cli.string(), list, merged.string()));
        },
        3, 60);
    std::printf("  %6zu %10.2f %12.3f %12.2f %12.2f %14.4f%s\n", n, shards_s, merge_s, 1e3 * merge_s / n,
                static_cast<double>(fs::file_size(merged)) / 1e6, merge_s / one,
                same_results(dir / "one.h5", merged) ? "" : "  (differs from one process!)");
    for (const std::string& file : files) fs::remove(file);
    fs::remove(merged);
  }
  std::printf("\n'shards s' sums the N shard jobs' wall times (each builds the data and loads the model itself, as an "
              "array task does); '1 proc' is the single process's wall time above.\n");
  return 0;
}
