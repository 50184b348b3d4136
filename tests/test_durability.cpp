// Nothing lost, nothing overwritten: kill -9 at random moments then --resume, stop signals, a full disk,
// a closed pipe, concurrent trainers on one model cache; results compared by h5py (tests/compare_results.py).
#include "support.hpp"

#include "h5/h5.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <random>
#include <thread>

#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace {

using namespace genscope;
using genscope::testing::differences;
using genscope::testing::line_count;
using genscope::testing::read_file;
using genscope::testing::replace;
using genscope::testing::run_cli;
using genscope::testing::temp_dir;
using genscope::testing::write_experiment;
namespace fs = std::filesystem;

/// Training of a few hundred milliseconds, two runs and an analysis of about a second each on 2 cores.
std::string durable_experiment(const fs::path& dir, const std::string& extra = "") {
  return fmt::format(R"(seed = 11
output = "{}"
model_cache = "{}"

[datasets.train]
source = "synthetic"
samples = 1500
dim = 24
manifold_dim = 4
classes = 4
noise = 0.05

[models.net]
backend = "native"
dataset = "train"

[models.net.train]
hidden = [96, 96]
epochs = 40
batch_size = 32

[samplers.pairs]
plugin = "pairwise"
dataset = "train"
count = 12000

[estimators.bisect]
plugin = "bisection"
T = 3.0
h = 0.05
tol = 1e-5

[estimators.exact]
plugin = "exact"
T = 3.0

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
points = 600
batch_size = 16
{})",
                     (dir / "results.h5").string(), (dir / "models").string(), extra);
}

/// A running `genscope` process started without a shell, so that signals reach it directly.
class child {
 public:
  explicit child(const std::vector<std::string>& args, const fs::path& log) {
    std::vector<std::string> argv_text{GENSCOPE_TEST_CLI};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_text) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    REQUIRE(rc == 0);
  }
  void signal(int s) const { ::kill(pid_, s); }
  /// Waits for the exit; returns the exit code, or 128 + the signal that ended it.
  int wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

/// Waits (up to a minute) until `file` exists.
void wait_for(const fs::path& file) {
  const auto start = std::chrono::steady_clock::now();
  while (!fs::exists(file) && seconds_since(start) < 60) std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

/// Requires dir/results.h5.partial to be a readable partial file, resumes it to completion and requires the
/// result to equal dir/reference.h5.
void resume_to_reference(const temp_dir& dir, const std::string& exp) {
  {
    const h5::file f = h5::file::open(dir.path() / "results.h5.partial");
    CHECK(f.root().attr_string("status") == "partial");
  }
  const auto r = run_cli("run --quiet --resume " + exp);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(differences(dir.path() / "reference.h5", dir.path() / "results.h5") == "");
}

/// The uninterrupted reference run of `text`, written to dir/reference.h5; returns its wall time.
double reference_run(const temp_dir& dir, const std::string& text) {
  const std::string exp = write_experiment(dir, text);
  const auto start = std::chrono::steady_clock::now();
  const auto r = run_cli("run --quiet " + exp + " -o " + (dir.path() / "reference.h5").string());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return seconds_since(start);
}

}  // namespace

TEST_CASE("kill -9 at random moments, then --resume, gives the uninterrupted results column for column",
          "[durability]") {
  temp_dir dir("durable-kill");
  const std::string text = durable_experiment(dir.path());
  const double total = reference_run(dir, text);
  const std::string exp = (dir.path() / "experiment.toml").string();
  // Each trial starts from nothing (no model cache, so some kills land during training), is killed after a
  // random delay, and is then resumed, itself killed once more in half of the trials.
  std::mt19937 gen(20261201);
  std::uniform_real_distribution<double> moment(0.02, 0.95);
  int during_training = 0, during_runs = 0, temporaries_left = 0;
  for (int trial = 0; trial < 10; ++trial) {
    fs::remove_all(dir.path() / "models");
    fs::remove(dir.path() / "results.h5");
    fs::remove(dir.path() / "results.h5.partial");
    const double first_kill = moment(gen) * total;
    child first({"run", "--quiet", "--checkpoint-seconds", "0", exp}, dir.path() / "first.log");
    std::this_thread::sleep_for(std::chrono::duration<double>(first_kill));
    first.signal(SIGKILL);
    const int code = first.wait();
    if (code == 0) continue;  // finished before the kill: nothing to resume
    REQUIRE(code == 128 + SIGKILL);
    // A kill before the run made its model cache leaves no folder at all.
    const bool model_saved = fs::is_directory(dir.path() / "models") &&
                             std::any_of(fs::directory_iterator(dir.path() / "models"), fs::directory_iterator(),
                                         [](const fs::directory_entry& e) { return e.path().extension() == ".h5"; });
    during_training += !model_saved;
    during_runs += model_saved && fs::exists(dir.path() / "results.h5.partial");
    for (const auto& e : fs::recursive_directory_iterator(dir.path()))
      temporaries_left += e.path().filename().string().find(".tmp-") != std::string::npos;
    if (fs::exists(dir.path() / "results.h5.partial")) {
      // What a kill leaves is always a readable HDF5 file marked partial.
      const h5::file f = h5::file::open(dir.path() / "results.h5.partial");
      CHECK(f.root().attr_string("status") == "partial");
    }
    if (trial % 2 == 1) {
      child second({"run", "--quiet", "--resume", "--checkpoint-seconds", "0", exp}, dir.path() / "second.log");
      std::this_thread::sleep_for(std::chrono::duration<double>(moment(gen) * total / 2));
      second.signal(SIGKILL);
      second.wait();
    }
    const auto r = run_cli("run --quiet --resume --checkpoint-seconds 0 " + exp);
    INFO("trial " << trial << ", killed after " << first_kill << " s of " << total << " s: " << r.err);
    REQUIRE(r.exit_code == 0);
    REQUIRE_FALSE(fs::exists(dir.path() / "results.h5.partial"));
    CHECK(differences(dir.path() / "reference.h5", dir.path() / "results.h5") == "");
  }
  INFO("kills during training " << during_training << ", during runs " << during_runs << ", temporaries left "
                                << temporaries_left);
  CHECK(during_training >= 1);
  CHECK(during_runs >= 1);
}

TEST_CASE("kill -9 while a checkpoint is being written leaves the previous one readable, --resume completes",
          "[durability]") {
  temp_dir dir("durable-kill-write");
  const std::string text = durable_experiment(dir.path());
  reference_run(dir, text);  // caches the model: the checkpoints written are the results'
  const std::string exp = (dir.path() / "experiment.toml").string();
  int caught = 0;
  for (int trial = 0; trial < 3; ++trial) {
    fs::remove(dir.path() / "results.h5");
    fs::remove(dir.path() / "results.h5.partial");
    child c({"run", "--quiet", "--checkpoint-seconds", "0", exp}, dir.path() / "first.log");
    // Watch for a checkpoint's temporary file and kill the writer as soon as one appears.
    const auto start = std::chrono::steady_clock::now();
    bool seen = false;
    const std::string partial_temp = "results.h5.partial.tmp-";
    while (!seen && seconds_since(start) < 30) {
      if (fs::exists(dir.path() / "results.h5.partial"))  // not the very first checkpoint
        for (const auto& e : fs::directory_iterator(dir.path()))
          seen = seen || e.path().filename().string().rfind(partial_temp, 0) == 0;
    }
    c.signal(SIGKILL);
    if (c.wait() != 128 + SIGKILL) continue;
    caught += seen;
    resume_to_reference(dir, exp);
    // The dead writer's temporary is removed by the next run on that output.
    for (const auto& e : fs::directory_iterator(dir.path()))
      CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
  }
  CHECK(caught >= 1);
}

TEST_CASE("a training run killed between epochs continues from its saved state to the same model", "[durability]") {
  temp_dir dir("durable-train");
  const std::string text = durable_experiment(dir.path());
  reference_run(dir, text);
  const std::string exp = (dir.path() / "experiment.toml").string();
  const fs::path models = dir.path() / "models";
  fs::remove_all(models);
  child first({"run", "--quiet", "--checkpoint-seconds", "0", exp}, dir.path() / "first.log");
  // Wait for a saved training state, then kill.
  const auto start = std::chrono::steady_clock::now();
  auto state_file = [&]() -> fs::path {
    if (!fs::is_directory(models)) return {};
    for (const auto& e : fs::directory_iterator(models))
      if (e.path().extension() == ".state") return e.path();
    return {};
  };
  while (state_file().empty() && seconds_since(start) < 60) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  first.signal(SIGKILL);
  first.wait();
  REQUIRE_FALSE(state_file().empty());
  const auto r = run_cli("run --resume " + exp);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("continuing the interrupted training after epoch") != std::string::npos);
  CHECK(state_file().empty());  // removed once the model is saved
  CHECK(differences(dir.path() / "reference.h5", dir.path() / "results.h5") == "");
}

TEST_CASE("SIGTERM, SIGINT and SIGHUP save the results so far, exit non-zero with a resume hint", "[durability]") {
  temp_dir dir("durable-signals");
  const std::string text = durable_experiment(dir.path());
  reference_run(dir, text);
  const std::string exp = (dir.path() / "experiment.toml").string();
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    fs::remove(dir.path() / "results.h5");
    // The model is cached by the reference run: the signal lands during a run, once a first batch is saved.
    child c({"run", "--quiet", "--checkpoint-seconds", "0", exp}, dir.path() / "signal.log");
    wait_for(dir.path() / "results.h5.partial");
    c.signal(sig);
    const int code = c.wait();
    const std::string err = read_file((dir.path() / "signal.log").string());
    INFO("signal " << sig << ": " << err);
    REQUIRE(code == 1);
    CHECK(line_count(err) == 1);
    CHECK(err.find(sig == SIGTERM ? "stopped by SIGTERM" : sig == SIGINT ? "stopped by SIGINT" : "stopped by SIGHUP") !=
          std::string::npos);
    CHECK(err.find("--resume") != std::string::npos);
    REQUIRE(fs::exists(dir.path() / "results.h5.partial"));
    CHECK_FALSE(fs::exists(dir.path() / "results.h5"));
    resume_to_reference(dir, exp);
  }
}

TEST_CASE("a rerun without --resume never overwrites a partial file", "[durability][negative]") {
  temp_dir dir("durable-rerun");
  const std::string exp = write_experiment(dir, durable_experiment(dir.path()));
  child c({"run", "--quiet", "--checkpoint-seconds", "0", exp}, dir.path() / "first.log");
  wait_for(dir.path() / "results.h5.partial");
  c.signal(SIGTERM);
  REQUIRE(c.wait() == 1);
  REQUIRE(fs::exists(dir.path() / "results.h5.partial"));
  const std::string before = read_file((dir.path() / "results.h5.partial").string());
  const auto r = run_cli("run --quiet " + exp);
  CHECK(r.exit_code == 1);
  CHECK(line_count(r.err) == 1);
  CHECK(r.err.find("results.h5.partial") != std::string::npos);
  CHECK(r.err.find("--resume") != std::string::npos);
  CHECK(read_file((dir.path() / "results.h5.partial").string()) == before);
}

TEST_CASE("resuming after the experiment changed is refused naming the change", "[durability][negative]") {
  temp_dir dir("durable-changed");
  const std::string text = durable_experiment(dir.path());
  const std::string exp = write_experiment(dir, text);
  child c({"run", "--quiet", "--checkpoint-seconds", "0", exp}, dir.path() / "first.log");
  wait_for(dir.path() / "results.h5.partial");
  c.signal(SIGTERM);
  REQUIRE(c.wait() == 1);
  REQUIRE(fs::exists(dir.path() / "results.h5.partial"));
  const std::string before = read_file((dir.path() / "results.h5.partial").string());
  write_experiment(dir, replace(text, "count = 12000", "count = 12001"));
  const auto r = run_cli("run --quiet --resume " + exp);
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(line_count(r.err) == 1);
  CHECK(r.err.find("samplers.pairs.count is 12001, was 12000") != std::string::npos);
  CHECK(read_file((dir.path() / "results.h5.partial").string()) == before);
  // Comments and layout are not changes.
  write_experiment(dir, "# a comment\n" + text);
  const auto ok = run_cli("run --quiet --resume " + exp);
  INFO(ok.err);
  CHECK(ok.exit_code == 0);
}

TEST_CASE("two processes writing one output: the second is refused while the first runs", "[durability][negative]") {
  temp_dir dir("durable-two-writers");
  const std::string exp = write_experiment(dir, durable_experiment(dir.path()));
  child c({"run", "--quiet", exp}, dir.path() / "first.log");
  wait_for(dir.path() / "results.h5.lock");
  const auto r = run_cli("run --quiet " + exp);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("locked by another running genscope process") != std::string::npos);
  CHECK(c.wait() == 0);
  CHECK(fs::exists(dir.path() / "results.h5"));
}

TEST_CASE("processes started together on one model cache all finish with the same model, trained once",
          "[durability]") {
  temp_dir dir("durable-cache");
  std::vector<std::string> experiments;
  for (int k = 0; k < 4; ++k) {
    // One cache, four outputs; only the output differs.
    std::string text = durable_experiment(dir.path());
    text = replace(text, (dir.path() / "results.h5").string(), (dir.path() / ("results" + std::to_string(k) + ".h5")).string());
    text = replace(text, "count = 12000", "count = 200");
    text = replace(text, "points = 600", "points = 20");
    const fs::path file = dir.path() / ("experiment" + std::to_string(k) + ".toml");
    std::ofstream(file) << text;
    experiments.push_back(file.string());
  }
  std::vector<child> processes;
  for (int k = 0; k < 4; ++k)
    processes.emplace_back(std::vector<std::string>{"run", experiments[static_cast<std::size_t>(k)]},
                           dir.path() / ("log" + std::to_string(k)));
  for (child& p : processes) CHECK(p.wait() == 0);
  int trained = 0;
  std::string digest;
  for (int k = 0; k < 4; ++k) {
    const std::string log = read_file((dir.path() / ("log" + std::to_string(k))).string());
    trained += log.find("model net: training") != std::string::npos;
    const h5::file f = h5::file::open(dir.path() / ("results" + std::to_string(k) + ".h5"));
    const std::string d = f.root().open_group("provenance").open_group("models").open_group("net").attr_string("digest");
    if (k == 0) digest = d;
    CHECK(d == digest);
  }
  CHECK(trained == 1);
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir.path() / "models")) {
    INFO(e.path());
    CHECK(e.path().extension() == ".h5");
    ++files;
  }
  CHECK(files == 1);
}

TEST_CASE("a closed output pipe does not lose the results", "[durability]") {
  temp_dir dir("durable-pipe");
  const std::string exp = write_experiment(dir, replace(durable_experiment(dir.path()), "count = 12000", "count = 500"));
  const std::string cmd = std::string("set -o pipefail; ") + GENSCOPE_TEST_CLI + " run " + exp + " 2>&1 | head -c 10 > /dev/null";
  const int status = std::system(("bash -c \"" + cmd + "\"").c_str());
  CHECK(WIFEXITED(status));
  CHECK(fs::exists(dir.path() / "results.h5"));
  const h5::file f = h5::file::open(dir.path() / "results.h5");
  CHECK(f.root().attr_string("status") == "complete");
  CHECK(f.root().open_group("runs").open_group("walked").read<double>("t_hi").size() == 500);
}

namespace {

/// A tmpfs of `kib` KiB mounted at `at` for the life of the object (needs root; skipped otherwise).
class tiny_disk {
 public:
  tiny_disk(const fs::path& at, int kib) : at_(at) {
    fs::create_directories(at);
    mounted_ = ::mount("tmpfs", at.c_str(), "tmpfs", 0, ("size=" + std::to_string(kib) + "k").c_str()) == 0;
  }
  ~tiny_disk() {
    if (mounted_) ::umount2(at_.c_str(), MNT_DETACH);
  }
  tiny_disk(const tiny_disk&) = delete;
  tiny_disk& operator=(const tiny_disk&) = delete;
  bool mounted() const noexcept { return mounted_; }

 private:
  fs::path at_;
  bool mounted_ = false;
};

/// Runs `genscope run` on `text` and requires one line naming `file` and the full disk (no crash, exit 1).
void require_disk_full_error(const temp_dir& dir, const std::string& text, const std::string& options,
                             const std::string& file) {
  const auto r = run_cli("run --quiet " + options + write_experiment(dir, text));
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(line_count(r.err) == 1);
  CHECK(r.err.find("No space left on device") != std::string::npos);
  CHECK(r.err.find(file) != std::string::npos);
}

}  // namespace

TEST_CASE("a full disk is one clear error naming the file, finished runs are kept, no crash",
          "[durability][negative]") {
  temp_dir dir("durable-full");
  const fs::path disk = dir.path() / "disk";
  const tiny_disk tmpfs(disk, 1500);
  if (!tmpfs.mounted()) {
    WARN("cannot mount a tmpfs here (not root?): the full-disk test did not run");
    return;
  }
  // A small first run fits; the next run's results do not.
  std::string text = replace(durable_experiment(dir.path()), "[runs.bisected]", R"([samplers.few]
plugin = "pairwise"
dataset = "train"
count = 300

[runs.small]
model = "net"
sampler = "few"
estimator = "exact"
batch_size = 64

[runs.bisected])");
  text = replace(text, (dir.path() / "results.h5").string(), (disk / "results.h5").string());
  text = replace(text, "count = 12000", "count = 60000");
  require_disk_full_error(dir, text, "--checkpoint-seconds 0 ", (disk / "results.h5").string());
  REQUIRE(fs::exists(disk / "results.h5.partial"));
  const h5::file f = h5::file::open(disk / "results.h5.partial");
  CHECK(f.root().attr_string("status") == "partial");
  CHECK(f.root().open_group("runs").open_group("small").attr_int("complete") == 1);
  for (const auto& e : fs::directory_iterator(disk)) CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
}

TEST_CASE("a full disk under the model cache is one clear error and no crash", "[durability][negative]") {
  temp_dir dir("durable-full-cache");
  const fs::path disk = dir.path() / "disk";
  const tiny_disk tmpfs(disk, 64);
  if (!tmpfs.mounted()) {
    WARN("cannot mount a tmpfs here (not root?): the full-disk test did not run");
    return;
  }
  std::string text = replace(durable_experiment(dir.path()), (dir.path() / "models").string(), (disk / "models").string());
  text = replace(text, "hidden = [96, 96]", "hidden = [256, 256]");
  text = replace(text, "epochs = 40", "epochs = 2");
  require_disk_full_error(dir, text, "", (disk / "models").string());
}

TEST_CASE("GENSCOPE_MEMORY_LIMIT caps one array, a malformed value is refused naming it", "[durability][negative]") {
  temp_dir dir("durable-memory");
  const std::string exp = write_experiment(dir, replace(durable_experiment(dir.path()), "count = 12000", "count = 100"));
  REQUIRE(run_cli("run --quiet " + exp).exit_code == 0);
  const std::string results = (dir.path() / "results.h5").string();
  const auto small = run_cli("inspect " + results, "GENSCOPE_MEMORY_LIMIT=1K");
  CHECK(small.exit_code == 1);
  CHECK(line_count(small.err) == 1);
  CHECK(small.err.find(results) != std::string::npos);
  CHECK(small.err.find("more than the 1.0 KB one array may take (GENSCOPE_MEMORY_LIMIT") != std::string::npos);
  const auto bad = run_cli("inspect " + results, "GENSCOPE_MEMORY_LIMIT=12Q");
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("GENSCOPE_MEMORY_LIMIT = '12Q' is not a positive number of bytes") != std::string::npos);
  CHECK(run_cli("inspect " + results, "GENSCOPE_MEMORY_LIMIT=1G").exit_code == 0);
}
