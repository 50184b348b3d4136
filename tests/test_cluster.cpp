// One experiment over many processes: shards merged and MPI ranks give the single-process file (h5py compares).
#include "support.hpp"

#include "h5/h5.hpp"

#include <genscope/shards.hpp>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <cstdio>
#include <map>
#include <regex>
#include <thread>

#include <unistd.h>

namespace {

using namespace genscope;
using genscope::testing::cli_result;
using genscope::testing::differences;
using genscope::testing::line_count;
using genscope::testing::read_file;
using genscope::testing::replace;
using genscope::testing::run_cli;
using genscope::testing::temp_dir;
using genscope::testing::write_experiment;
namespace fs = std::filesystem;

/// Two runs (bisection; the exact walk, whose breakpoints are a ragged column) and an analysis, with batch
/// counts that leave some shards of 4 or 5 a batch more than others: 700 probes in 11 batches of 64, 100 rows
/// in 7 batches of 16.
std::string cluster_experiment(const temp_dir& dir, const std::string& extra = "") {
  return fmt::format(R"(seed = 11
output = "{}"
model_cache = "{}"

[datasets.train]
source = "synthetic"
samples = 600
dim = 12
manifold_dim = 3
classes = 3
noise = 0.05

[models.net]
backend = "native"
dataset = "train"

[models.net.train]
hidden = [32, 32]
epochs = 5
batch_size = 32

[samplers.pairs]
plugin = "pairwise"
dataset = "train"
count = 700

[estimators.bisect]
plugin = "bisection"
T = 3.0

[estimators.exact]
plugin = "exact"
T = 3.0
record_breakpoints = true

[runs.bisected]
model = "net"
sampler = "pairs"
estimator = "bisect"
batch_size = 64

[runs.walked]
model = "net"
sampler = "pairs"
estimator = "exact"
batch_size = 64

[analyses.sens]
plugin = "jacobian"
model = "net"
datasets = ["train"]
points = 100
batch_size = 16
{})",
                     dir / "results.h5", dir / "models", extra);
}

/// The single-process results of `exp`, written to dir/reference.h5.
void reference_run(const temp_dir& dir, const std::string& exp) {
  const auto r = run_cli("run --quiet " + exp + " -o " + (dir / "reference.h5"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
}

/// Whether this build's genscope joins MPI jobs (genscope --version says so).
bool have_mpi() {
  static const bool yes = run_cli("--version").out.find("MPI: ") != std::string::npos;
  if (!yes) WARN("genscope was built without MPI (libopenmpi-dev absent): the MPI checks are skipped");
  return yes;
}

/// `mpirun -n N genscope ARGS`, allowed as root and on more ranks than cores.
cli_result run_mpi(std::size_t ranks, const std::string& args, const std::string& env = "") {
  const std::string launcher = fmt::format("{} OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun "
                                           "--oversubscribe -n {} {}",
                                           env, ranks, GENSCOPE_TEST_CLI);
  // run_cli prefixes the CLI: give it the launcher as the environment part and the arguments after the CLI.
  return run_cli(args, launcher.substr(0, launcher.size() - std::string(GENSCOPE_TEST_CLI).size() - 1));
}

}  // namespace

TEST_CASE("shard_batches splits batches into contiguous balanced blocks covering each once", "[cluster]") {
  for (std::size_t count = 1; count <= 12; ++count)
    for (std::size_t batches = 0; batches <= 40; ++batches) {
      std::size_t next = 0, smallest = batches, largest = 0;
      for (std::size_t i = 0; i < count; ++i) {
        const auto [first, last] = shard_batches(shard{i, count}, batches);
        REQUIRE(first == next);
        REQUIRE(last >= first);
        smallest = std::min(smallest, last - first);
        largest = std::max(largest, last - first);
        next = last;
      }
      REQUIRE(next == batches);
      REQUIRE(largest - smallest <= 1);
    }
  // Far beyond 2^32 batches and 10,000 shards: no overflow.
  const std::size_t huge = std::size_t{1} << 50;
  CHECK(shard_batches(shard{9999, 10000}, huge).second == huge);
  CHECK(shard_batches(shard{5000, 10000}, huge).first == huge / 2);
}

TEST_CASE("shard I/N, Slurm's array variables and shard file names", "[cluster]") {
  CHECK(parse_shard("3/8", "--shard") == shard{3, 8});
  CHECK(parse_shard("0/1", "--shard") == shard{0, 1});
  CHECK(shard_path("out/x.h5", shard{3, 8}) == "out/x.shard-3-of-8.h5");
  CHECK(shard_path("results", shard{0, 2}) == "results.shard-0-of-2.h5");
  CHECK(whole_output("out/x.shard-3-of-8.h5") == "out/x.h5");
  CHECK(whole_output(shard_path("a.b/c.d.h5", shard{11, 12})) == "a.b/c.d.h5");
  for (const char* other : {"out/x.h5", "x.shard-3-8.h5", "x.shard--of-8.h5", "x.shard-a-of-8.h5", "x.shard-3-of-8"})
    CHECK(whole_output(other).empty());
  std::map<std::string, std::string> env;
  const auto getenv = [&](const char* name) -> const char* {
    const auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  env = {{"SLURM_ARRAY_TASK_ID", "2"}, {"SLURM_ARRAY_TASK_COUNT", "4"}};
  CHECK(slurm_array_shard(getenv) == shard{2, 4});
  env = {{"SLURM_ARRAY_TASK_ID", "3"}, {"SLURM_ARRAY_TASK_COUNT", "4"}, {"SLURM_ARRAY_TASK_MIN", "0"},
         {"SLURM_ARRAY_TASK_MAX", "3"}, {"SLURM_ARRAY_TASK_STEP", "1"}};
  CHECK(slurm_array_shard(getenv) == shard{3, 4});
}

TEST_CASE("malformed shards and Slurm array variables are refused naming them", "[cluster][negative]") {
  for (const char* bad : {"3/3", "1", "a/4", "-1/4", "1/0", "1/4/2", "", " 1/4", "1/ 4"})
    CHECK_THROWS_WITH(parse_shard(bad, "--shard"), Catch::Contains("--shard \"" + std::string(bad) + "\""));
  std::map<std::string, std::string> env;
  const auto getenv = [&](const char* name) -> const char* {
    const auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  CHECK_THROWS_WITH(slurm_array_shard(getenv), Catch::Contains("SLURM_ARRAY_TASK_ID is unset"));
  env = {{"SLURM_ARRAY_TASK_ID", "2"}};
  CHECK_THROWS_WITH(slurm_array_shard(getenv), Catch::Contains("SLURM_ARRAY_TASK_COUNT is unset"));
  env = {{"SLURM_ARRAY_TASK_ID", "x"}, {"SLURM_ARRAY_TASK_COUNT", "4"}};
  CHECK_THROWS_WITH(slurm_array_shard(getenv), Catch::Contains("SLURM_ARRAY_TASK_ID is \"x\""));
  // --array=0-8:2 (5 tasks, IDs 0 to 8): even its task 4 is refused, rather than leaving shards uncomputed.
  env = {{"SLURM_ARRAY_TASK_ID", "4"}, {"SLURM_ARRAY_TASK_COUNT", "5"}, {"SLURM_ARRAY_TASK_MIN", "0"},
         {"SLURM_ARRAY_TASK_MAX", "8"}, {"SLURM_ARRAY_TASK_STEP", "2"}};
  CHECK_THROWS_WITH(slurm_array_shard(getenv), Catch::Contains("--array=0-4"));
  // One task rerun alone (--array=3) is an array of one task, 3 to 3: it must say which shard it is.
  env = {{"SLURM_ARRAY_TASK_ID", "3"}, {"SLURM_ARRAY_TASK_COUNT", "1"}, {"SLURM_ARRAY_TASK_MIN", "3"},
         {"SLURM_ARRAY_TASK_MAX", "3"}};
  CHECK_THROWS_WITH(slurm_array_shard(getenv), Catch::Contains("--shard I/N"));
  const auto r = run_cli("run --quiet --shard 4/4 nothing.toml");
  CHECK(r.exit_code != 0);
  CHECK(line_count(r.err) == 1);
  CHECK(r.err.find("--shard \"4/4\"") != std::string::npos);
}

TEST_CASE("every shard of a split, merged, equals the single-process results", "[cluster]") {
  temp_dir dir("cluster-shards");
  const std::string exp = write_experiment(dir, cluster_experiment(dir));
  reference_run(dir, exp);
  // 5 shards: 11 batches of a run give blocks of 2 and 3; 7 analysis batches give blocks of 1 and 2.
  for (const std::size_t count : {1, 2, 5}) {
    std::vector<std::string> shards;
    // Computed in reverse order, and through SLURM_ARRAY_TASK_ID for the last split, as array tasks are.
    for (std::size_t i = count; i-- > 0;) {
      const auto r = count == 5 ? run_cli("run --quiet --shard slurm " + exp,
                                          fmt::format("SLURM_ARRAY_TASK_ID={} SLURM_ARRAY_TASK_COUNT={}", i, count))
                                : run_cli(fmt::format("run --quiet --shard {}/{} {}", i, count, exp));
      INFO(r.err);
      REQUIRE(r.exit_code == 0);
      shards.push_back(dir / fmt::format("results.shard-{}-of-{}.h5", i, count));
      REQUIRE(fs::exists(shards.back()));
    }
    CHECK_FALSE(fs::exists(dir / "results.h5"));
    const auto m = run_cli(fmt::format("merge --quiet {}", fmt::join(shards, " ")));
    INFO(m.err);
    REQUIRE(m.exit_code == 0);
    CHECK(differences(dir / "reference.h5", dir / "results.h5") == "");
    // The shard files are kept; the merged file is complete and says where it came from.
    for (const std::string& s : shards) CHECK(fs::exists(s));
    const h5::file merged = h5::file::open(dir / "results.h5");
    CHECK(merged.root().attr_string("status") == "complete");
    CHECK(merged.root().attr_strings("merged_from").size() == count);
    CHECK_FALSE(merged.root().has_attr("shard_index"));
    // The ragged column is there to be offset: breakpoints of several shards.
    CHECK(merged.root().open_group("runs/walked").read<double>("breakpoints").size() > 1000);
    fs::remove(dir / "results.h5");
    for (const std::string& s : shards) fs::remove(s);
  }
}

TEST_CASE("resuming keeps a finished shard, as a requeued array task finds it", "[cluster]") {
  temp_dir dir("cluster-requeue");
  const std::string exp = write_experiment(dir, cluster_experiment(dir));
  REQUIRE(run_cli("run --quiet --shard 1/2 " + exp).exit_code == 0);
  const std::string shard = dir / "results.shard-1-of-2.h5";
  const auto written = fs::last_write_time(shard);
  const std::string bytes = read_file(shard);
  // Its summary says whose rows it shows.
  CHECK(run_cli("inspect " + shard).out.rfind("shard 1 of 2: the rows below are this shard's only", 0) == 0);
  const auto again = run_cli("run --resume --shard 1/2 " + exp);
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  CHECK(again.err.find("complete results of this experiment: kept") != std::string::npos);
  CHECK(fs::last_write_time(shard) == written);
  CHECK(read_file(shard) == bytes);
  // Another experiment's complete file under the same name is computed afresh (and replaced).
  genscope::testing::write_file(exp, replace(cluster_experiment(dir), "count = 700", "count = 600"));
  const auto changed = run_cli("run --resume --shard 1/2 " + exp);
  INFO(changed.err);
  REQUIRE(changed.exit_code == 0);
  CHECK(changed.err.find("kept") == std::string::npos);
  CHECK(h5::file::open(shard).root().open_group("runs/bisected").attr_int("probes") == 600);
}

TEST_CASE("merge refuses missing, duplicate, unfinished and foreign shards, naming them", "[cluster][negative]") {
  temp_dir dir("cluster-merge-bad");
  const std::string exp = write_experiment(dir, cluster_experiment(dir));
  const auto shard_file = [&](std::size_t i, std::size_t n) { return dir / fmt::format("results.shard-{}-of-{}.h5", i, n); };
  for (std::size_t i = 0; i < 3; ++i) REQUIRE(run_cli(fmt::format("run --quiet --shard {}/3 {}", i, exp)).exit_code == 0);
  REQUIRE(run_cli(fmt::format("run --quiet --shard 0/2 {}", exp)).exit_code == 0);
  // The same split of an experiment with another seed.
  const std::string other_exp = dir / "other.toml";
  genscope::testing::write_file(other_exp, replace(cluster_experiment(dir), "seed = 11", "seed = 12"));
  REQUIRE(run_cli(fmt::format("run --quiet --shard 1/3 {} -o {}", other_exp, dir / "other.h5")).exit_code == 0);
  const std::string foreign = dir / "other.shard-1-of-3.h5";

  const auto refused = [&](const std::string& args, std::initializer_list<std::string> needles) {
    const auto r = run_cli("merge " + args + " -o " + (dir / "merged.h5"));
    INFO(r.err);
    CHECK(r.exit_code == 1);
    CHECK(line_count(r.err) == 1);
    for (const std::string& n : needles) CHECK(r.err.find(n) != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "merged.h5"));
  };
  refused(shard_file(0, 3) + " " + shard_file(2, 3), {"shard 1 of 3 is missing", "results.shard-1-of-3.h5"});
  refused(shard_file(0, 3) + " " + shard_file(1, 3) + " " + shard_file(1, 3) + " " + shard_file(2, 3),
          {"shard 1 of 3 is given twice"});
  refused(shard_file(0, 3) + " " + foreign + " " + shard_file(2, 3),
          {foreign, "another experiment", "seed"});
  refused(shard_file(0, 3) + " " + shard_file(1, 3) + " " + shard_file(0, 2), {"different splits"});
  refused(shard_file(0, 3) + " " + shard_file(1, 3) + " " + dir / "nothing.h5", {"nothing.h5"});
  // A whole results file is not a shard.
  REQUIRE(run_cli("run --quiet " + exp + " -o " + (dir / "whole.h5")).exit_code == 0);
  refused(dir / "whole.h5", {"whole.h5", "not a shard"});
  // An unfinished shard (what a killed task leaves) is named, with how to finish it.
  fs::copy_file(shard_file(1, 3), dir / "unfinished.h5");
  {
    h5::file f = h5::file::open(dir / "unfinished.h5", true);
    f.root().set_attr("status", std::string("partial"));
  }
  refused(shard_file(0, 3) + " " + (dir / "unfinished.h5") + " " + shard_file(2, 3), {"unfinished.h5", "--resume"});
  // A shard computed by another build of GenScope.
  fs::copy_file(shard_file(1, 3), dir / "other-build.h5");
  {
    h5::file f = h5::file::open(dir / "other-build.h5", true);
    f.root().set_attr("git_commit", std::string("0123456789ab"));
  }
  refused(shard_file(0, 3) + " " + (dir / "other-build.h5") + " " + shard_file(2, 3),
          {"other-build.h5", "other software", "git_commit is 0123456789ab"});
  // Damaged files: not HDF5 at all, and a shard cut short.
  genscope::testing::write_file(dir / "garbage.h5", "not an HDF5 file");
  refused(shard_file(0, 3) + " " + (dir / "garbage.h5") + " " + shard_file(2, 3), {"garbage.h5"});
  {
    const std::string bytes = read_file(shard_file(1, 3));
    genscope::testing::write_file(dir / "cut.h5", bytes.substr(0, bytes.size() / 2));
  }
  refused(shard_file(0, 3) + " " + (dir / "cut.h5") + " " + shard_file(2, 3), {"cut.h5"});
  // An existing output is never replaced.
  genscope::testing::write_file(dir / "merged.h5", "keep me");
  const auto r = run_cli(fmt::format("merge {} {} {} -o {}", shard_file(0, 3), shard_file(1, 3), shard_file(2, 3),
                                     dir / "merged.h5"));
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("merged.h5") != std::string::npos);
  CHECK(read_file(dir / "merged.h5") == "keep me");
}

TEST_CASE("mpirun -n 2 and -n 4 write the single-process results, training once", "[cluster][mpi]") {
  if (!have_mpi()) return;
  temp_dir dir("cluster-mpi");
  const std::string exp = write_experiment(dir, cluster_experiment(dir));
  reference_run(dir, exp);
  fs::remove_all(dir / "models");  // the MPI job trains the model itself
  for (const std::size_t ranks : {2, 4}) {
    const std::string out = dir / fmt::format("mpi{}.h5", ranks);
    const auto r = run_mpi(ranks, fmt::format("run --threads 1 {} -o {}", exp, out));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(differences(dir / "reference.h5", out) == "");
    // Progress and the summary print once, from rank 0; the model is trained once (by the first job only).
    std::size_t trained = 0;
    for (std::size_t at = 0; (at = r.err.find("model net: training", at)) != std::string::npos; ++at) ++trained;
    CHECK(trained == (ranks == 2 ? 1 : 0));
    std::size_t summaries = 0;
    for (std::size_t at = 0; (at = r.out.find("cost per run", at)) != std::string::npos; ++at) ++summaries;
    CHECK(summaries == 1);
    // Each rank's partial file is gone once the one results file is written.
    for (std::size_t k = 0; k < ranks; ++k)
      CHECK_FALSE(fs::exists(dir / fmt::format("mpi{}.shard-{}-of-{}.h5.partial", ranks, k, ranks)));
  }
}

TEST_CASE("a rank that fails fails the MPI job with one line naming the rank, and keeps every rank's work",
          "[cluster][mpi][negative]") {
  if (!have_mpi()) return;
  temp_dir dir("cluster-mpi-fail");
  // Probe 500 lies in rank 1's half (batches 5 to 10 of 11): rank 0 finishes, rank 1 fails.
  const std::string exp = write_experiment(
      dir, replace(cluster_experiment(dir, "\n[estimators.failing]\nplugin = \"fail_at\"\nfail_at = 500\n"),
                   "estimator = \"exact\"", "estimator = \"failing\""));
  const std::string env = std::string("GENSCOPE_PLUGIN_PATH=") + GENSCOPE_TEST_BINARY_DIR + "/test-plugins/failing";
  const auto r = run_mpi(2, "run --quiet " + exp, env);
  INFO(r.err);
  CHECK(r.exit_code != 0);
  std::size_t ours = 0;
  for (std::size_t at = 0; (at = r.err.find("genscope: error: ", at)) != std::string::npos; ++at) ++ours;
  CHECK(ours == 1);
  CHECK(r.err.find("genscope: error: rank 1 of 2: plugin 'fail_at'") != std::string::npos);
  CHECK(r.err.find("reached probe 500") != std::string::npos);
  CHECK(r.err.find("results.shard-1-of-2.h5.partial") != std::string::npos);
  CHECK(r.err.find("mpirun -n 2 genscope run") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "results.h5"));
  for (std::size_t k = 0; k < 2; ++k) {
    const h5::file f = h5::file::open(dir / fmt::format("results.shard-{}-of-2.h5.partial", k));
    const h5::group runs = f.root().open_group("runs");
    CHECK(runs.open_group("bisected").attr_int("complete") == 1);
    CHECK(runs.open_group("walked").attr_int("complete") == (k == 0 ? 1 : 0));
  }
}

TEST_CASE("an MPI rank killed mid-run fails the job, and --resume on the same ranks finishes it exactly",
          "[cluster][mpi][durability]") {
  if (!have_mpi()) return;
  temp_dir dir("cluster-mpi-kill");
  // Enough probes that the ranks compute for a few seconds, checkpointing every batch.
  const std::string exp = write_experiment(dir, replace(cluster_experiment(dir), "count = 700", "count = 60000"));
  reference_run(dir, exp);
  // Kill rank 1 (found by the rank its launcher gave it) once it has saved some rows.
  const std::string partial = dir / "results.shard-1-of-2.h5.partial";
  const std::string killer = fmt::format(
      "(for i in $(seq 600); do [ -f '{}' ] && break; sleep 0.05; done; "
      "for p in $(pgrep -f 'genscope run --checkpoint-seconds 0'); do "
      "grep -qa OMPI_COMM_WORLD_RANK=1 /proc/$p/environ 2>/dev/null && kill -9 $p; done) &",
      partial);
  const auto killed = run_mpi(2, "run --checkpoint-seconds 0 --quiet " + exp, killer);
  INFO(killed.err);
  REQUIRE(killed.exit_code != 0);
  CHECK(killed.err.find("exited on signal 9") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "results.h5"));
  REQUIRE(fs::exists(partial));
  const auto resumed = run_mpi(2, "run --quiet --resume " + exp);
  INFO(resumed.err);
  REQUIRE(resumed.exit_code == 0);
  CHECK(differences(dir / "reference.h5", dir / "results.h5") == "");
}

TEST_CASE("a shard and MPI ranks together are refused once", "[cluster][mpi][negative]") {
  if (!have_mpi()) return;
  temp_dir dir("cluster-mpi-shard");
  const std::string exp = write_experiment(dir, cluster_experiment(dir));
  const auto r = run_mpi(2, "run --quiet --shard 0/2 " + exp);
  CHECK(r.exit_code != 0);
  std::size_t ours = 0;
  for (std::size_t at = 0; (at = r.err.find("genscope: error: ", at)) != std::string::npos; ++at) ++ours;
  CHECK(ours == 1);
  CHECK(r.err.find("2 MPI ranks together") != std::string::npos);
}

namespace {

/// A one-node Slurm (tests/slurm/cluster) in `folder` for the life of the object.
class slurm_cluster {
 public:
  explicit slurm_cluster(const std::string& folder) : folder_(folder) {
    started_ = std::system(fmt::format("'{}' start '{}' > '{}.log' 2>&1", script(), folder_, folder_).c_str()) == 0;
  }
  ~slurm_cluster() { std::system(fmt::format("'{}' stop '{}' > /dev/null 2>&1", script(), folder_).c_str()); }
  slurm_cluster(const slurm_cluster&) = delete;
  slurm_cluster& operator=(const slurm_cluster&) = delete;
  bool started() const { return started_; }
  std::string log() const { return read_file(folder_ + ".log"); }
  std::string env() const { return "SLURM_CONF='" + folder_ + "/slurm.conf'"; }

 private:
  static std::string script() { return std::string(GENSCOPE_TEST_SOURCE_DIR) + "/tests/slurm/cluster"; }
  std::string folder_;
  bool started_ = false;
};

/// The output of a shell command (stdout and stderr).
std::string shell(const std::string& command) {
  std::string out;
  if (std::FILE* p = ::popen((command + " 2>&1").c_str(), "r")) {
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    ::pclose(p);
  }
  return out;
}

}  // namespace

TEST_CASE("a real single-node Slurm runs genscope slurm's script and merges the single-process results",
          "[cluster][slurm]") {
  if (::getuid() != 0 ||
      shell("for c in slurmctld slurmd munged sbatch; do command -v $c || echo missing; done").find("missing") !=
          std::string::npos) {
    WARN("not root, or Debian's slurm-wlm and munge are absent: the Slurm check is skipped");
    return;
  }
  temp_dir dir("cluster-slurm");
  const std::string exp = write_experiment(dir, cluster_experiment(dir));
  reference_run(dir, exp);
  fs::remove_all(dir / "models");  // the training job trains the model
  const auto start = std::chrono::steady_clock::now();
  const slurm_cluster cluster(dir / "slurm");
  INFO(cluster.log());
  REQUIRE(cluster.started());
  const double start_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const auto written = run_cli(fmt::format("slurm {} --tasks 3 --cpus-per-task 1 --time 00:10:00 --mem 200M --merge-mem 300M "
                                           "--logs {} --script {}",
                                           exp, dir / "logs", dir / "submit.sh"));
  INFO(written.err);
  REQUIRE(written.exit_code == 0);
  const auto submitted = std::chrono::steady_clock::now();
  const std::string out = shell(fmt::format("cd '{}' && {} bash '{}'", dir.path().string(), cluster.env(), dir / "submit.sh"));
  INFO(out);
  // "submitted: training 1, 3 shards 2, merge 3; ..."
  std::smatch ids;
  REQUIRE(std::regex_search(out, ids, std::regex(R"(training (\d+), 3 shards (\d+), merge (\d+))")));
  const std::string jobs = fmt::format("{},{},{}", ids[1].str(), ids[2].str(), ids[3].str());
  std::string queued;
  for (int i = 0; i < 600; ++i) {
    queued = shell(cluster.env() + " squeue -h -j " + jobs);
    if (queued.find_first_not_of(" \n") == std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const double jobs_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - submitted).count();
  INFO("still queued: " << queued);
  INFO("merge job: " << shell(cluster.env() + " scontrol show job " + ids[3].str()));
  INFO("merge log: " << shell(fmt::format("cat '{}'/merge-*.log", dir / "logs")));
  REQUIRE(fs::exists(dir / "results.h5"));
  CHECK(differences(dir / "reference.h5", dir / "results.h5") == "");
  for (int i = 0; i < 3; ++i) CHECK(fs::exists(dir / fmt::format("results.shard-{}-of-3.h5", i)));
  // The model is trained by the training job, and only there.
  const std::string train_log = shell(fmt::format("cat '{}'/train-*.log", dir / "logs"));
  CHECK(train_log.find("model net: training") != std::string::npos);
  const std::string shard_logs = shell(fmt::format("cat '{}'/shard-*.log", dir / "logs"));
  CHECK(shard_logs.find("model net: reusing") != std::string::npos);
  CHECK(shard_logs.find("model net: training") == std::string::npos);
  WARN(fmt::format("Slurm: cluster started in {:.1f} s; training, 3 array tasks and merge done {:.1f} s after "
                   "submission",
                   start_seconds, jobs_seconds));
}

TEST_CASE("genscope slurm refuses a missing task count, a bad experiment and an unwritable script",
          "[cluster][negative]") {
  temp_dir dir("cluster-slurm-bad");
  const std::string exp = write_experiment(dir, cluster_experiment(dir));
  const auto no_tasks = run_cli("slurm " + exp);
  CHECK(no_tasks.exit_code == 2);
  CHECK(no_tasks.err.find("--tasks") != std::string::npos);
  const auto bad = run_cli("slurm --tasks 2 " + (dir / "nothing.toml"));
  CHECK(bad.exit_code == 1);
  CHECK(line_count(bad.err) == 1);
  CHECK(bad.err.find("nothing.toml") != std::string::npos);
  const auto over_input = run_cli(fmt::format("slurm --tasks 2 {} --script {}", exp, exp));
  CHECK(over_input.exit_code == 2);
  CHECK(over_input.err.find("--script") != std::string::npos);
  CHECK(read_file(exp) == cluster_experiment(dir));
  // Printed without --script: a bash script naming every job's command.
  const auto printed = run_cli("slurm --tasks 4 " + exp);
  REQUIRE(printed.exit_code == 0);
  CHECK(printed.out.rfind("#!/bin/bash", 0) == 0);
  CHECK(printed.out.find("--array=0-3") != std::string::npos);
  CHECK(printed.out.find("--train-only") != std::string::npos);
  CHECK(printed.out.find("results'.shard-{0..3}-of-4.h5") != std::string::npos);
}
