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

/// `mpirun -n RANKS genscope` as root may run it, with OpenMPI's default placement (a rank per core, bound).
std::string mpirun(std::size_t ranks) {
  return fmt::format("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -n {} {}", ranks,
                     genscope_cli.string());
}

/// The experiment in `folder`: `probes` pairwise probes by the exact walk (and by bisection when `bisect`), and the
/// jacobian analysis on `points` training images.
std::string experiment_text(const fs::path& folder, std::size_t probes, std::size_t points, bool bisect) {
  const std::string bisected = R"(
[runs.bisected]
model = "real"
sampler = "pairs"
estimator = "bisect"
)";
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

{}
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
                     (folder / "results.h5").string(), fs::absolute("models").string(), probes,
                     bisect ? bisected : std::string(), points);
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
  const auto write = [&](const fs::path& path, const std::string& text) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs(text.c_str(), f);
    std::fclose(f);
  };
  const std::size_t points = 1000;
  std::printf("experiments: Fashion-MNIST 784-256-256-10 (quick start's real labels), N pairwise probes by bisection "
              "and by the exact walk, jacobian on %zu points\n",
              points);
  const fs::path exp = dir / "experiment.toml";
  write(exp, experiment_text(dir, 12000, points, true));
  // The model: trained once into the cache (or reused), outside every timing.
  const double train_s = timed(fmt::format("{} run --train-only --quiet {}", genscope_cli.string(), exp.string()));
  std::printf("training or reusing the model (not timed below): %.1f s\n", train_s);
  const double launch = timed(mpirun(2) + " --version");
  const double inputs = timed(fmt::format("{} run --train-only --quiet --threads 1 {}", genscope_cli.string(),
                                          exp.string()));
  std::printf("serial parts: mpirun start and MPI_Init %.2f s; data sets and model on rank 0 %.2f s\n\n", launch,
              inputs);

  // 1. Parallel efficiency: 1 process and 2 ranks alternating (best of `trials`), so both see the same load.
  std::printf("MPI, 1 thread per process: 1 process against mpirun -n 2 on the same experiment\n");
  std::printf("  %8s %10s %10s %9s %11s %6s\n", "probes", "1 proc s", "2 ranks s", "speed-up", "efficiency", "equal");
  for (const auto& [probes, trials] : {std::pair{12000, 2}, std::pair{36000, 2}}) {
    write(exp, experiment_text(dir, probes, points, true));
    double one = 1e300, two = 1e300;
    for (int trial = 0; trial < trials; ++trial) {
      fs::remove(dir / "one.h5");
      fs::remove(dir / "two.h5");
      one = std::min(one, timed(fmt::format("{} run --threads 1 --quiet {} -o {}", genscope_cli.string(),
                                            exp.string(), (dir / "one.h5").string())));
      two = std::min(two, timed(fmt::format("{} run --threads 1 --quiet {} -o {}", mpirun(2), exp.string(),
                                            (dir / "two.h5").string())));
    }
    std::printf("  %8d %10.2f %10.2f %9.2f %11.2f %6s\n", probes, one, two, one / two, one / (2 * two),
                same_results(dir / "one.h5", dir / "two.h5") ? "yes" : "NO");
  }
  std::printf("  (target: efficiency >= 0.9; 'equal': the 2-rank file equals the 1-process file, h5py)\n\n");

  // 2. Merging N shards: the shards computed one after another (as array tasks would, here sequentially), of a
  // lighter experiment (the same without bisection and fewer probes): merging reads rows, not work.
  const fs::path light = dir / "light.toml";
  const std::size_t light_probes = 3000;
  write(light, experiment_text(dir, light_probes, points, false));
  fs::remove(dir / "one.h5");
  const double light_one = timed(fmt::format("{} run --threads 1 --quiet {} -o {}", genscope_cli.string(),
                                             light.string(), (dir / "one.h5").string()));
  std::printf("merging N shards of the same experiment without bisection, %zu probes (1 process: %.2f s; genscope "
              "merge, best of 3):\n",
              light_probes, light_one);
  std::printf("  %6s %10s %12s %12s %12s %14s\n", "N", "shards s", "merge s", "per shard ms", "output MB",
              "merge / 1 proc");
  for (const std::size_t n : {2, 8, 32}) {
    std::vector<std::string> files;
    double shards_s = 0;
    for (std::size_t i = 0; i < n; ++i) {
      shards_s += timed(fmt::format("{} run --threads 1 --quiet --shard {}/{} {}", genscope_cli.string(), i, n,
                                    light.string()));
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
                static_cast<double>(fs::file_size(merged)) / 1e6, merge_s / light_one,
                same_results(dir / "one.h5", merged) ? "" : "  (differs from one process!)");
    for (const std::string& file : files) fs::remove(file);
    fs::remove(merged);
  }
  std::printf("\n'shards s' sums the N shard jobs' wall times (each builds the data and loads the model itself, as an "
              "array task does); '1 proc' is the single process's wall time above.\n");
  return 0;
}
