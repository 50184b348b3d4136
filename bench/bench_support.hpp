// Shared by the benches: timing, machine description, and the quick start's trained networks and data.
#pragma once

#include "h5/h5.hpp"

#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/mlp.hpp>
#include <genscope/random.hpp>
#include <genscope/network_backend.hpp>
#include <genscope/plugin_registry.hpp>

// OpenBLAS's own cblas.h (from pkg-config's include folder): it declares openblas_set_num_threads,
// and cannot resolve to the reference BLAS header through Debian's alternatives.
#include <cblas.h>

#include <tbb/info.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace genscope::bench {

using clock_type = std::chrono::steady_clock;

inline double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

inline std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  if (!(in >> one >> five >> fifteen)) return "unknown";
  return one + " " + five + " " + fifteen;
}

inline int all_threads() { return tbb::info::default_concurrency(); }

inline std::string openblas_text() {
  std::string text = std::string(openblas_get_config()) + ", kernel " + openblas_get_corename();
  if (const char* forced = std::getenv("OPENBLAS_CORETYPE"))
    text += std::string(" (set by OPENBLAS_CORETYPE=") + forced + ")";
  else
    text += " (detected)";
  return text;
}

inline bool cpu_has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

// Whether the kernel OpenBLAS picked (or OPENBLAS_CORETYPE forced) uses AVX-512.
inline bool openblas_kernel_has_avx512() {
  std::string core = openblas_get_corename();
  std::transform(core.begin(), core.end(), core.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return core == "skylakex" || core == "cooperlake" || core == "sapphirerapids";
}

/// The lines every bench starts with: its title (what it measures), the load average, the threads and, for a bench
/// that uses it, OpenBLAS's build and kernel.
inline void print_bench_header(const std::string& title, bool with_openblas) {
  std::printf("%s\n", title.c_str());
  std::printf("load average at start: %s (1, 5, 15 min; figures are noisy above 0.5)\n", load_average().c_str());
  std::printf("threads: %d (TBB default concurrency)\n", all_threads());
  if (with_openblas) std::printf("OpenBLAS: %s\n", openblas_text().c_str());
}

// Best wall time of `fn`: at least one run, more while the total stays under the budget.
inline double best_seconds(const std::function<void()>& fn, int max_runs, double budget_s) {
  double best = std::numeric_limits<double>::infinity();
  double total = 0;
  for (int run = 0; run < max_runs && (run == 0 || total + best <= budget_s); ++run) {
    const auto start = clock_type::now();
    fn();
    const double s = seconds_since(start);
    best = std::min(best, s);
    total += s;
  }
  return best;
}

/// A fresh folder under the temporary folder for the files a bench writes, named for the bench and its process,
/// removed with everything in it when the object goes.
class scratch_folder {
 public:
  explicit scratch_folder(const std::string& bench)
      : path_(std::filesystem::temp_directory_path() / ("genscope-" + bench + "-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path_);
  }
  ~scratch_folder() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  scratch_folder(const scratch_folder&) = delete;
  scratch_folder& operator=(const scratch_folder&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The quick start writes the model path relative to the folder it ran in (normally the repository root).
// Resolved against the working directory first, then against the folders around the results file.
inline std::string resolve_model_file(const std::string& recorded, const std::string& results_path) {
  namespace fs = std::filesystem;
  const fs::path p(recorded);
  if (p.is_absolute() || fs::exists(p)) return recorded;
  const fs::path results_dir = fs::absolute(results_path).parent_path();
  for (const fs::path& base : {results_dir, results_dir.parent_path()})
    if (fs::exists(base / p)) return (base / p).string();
  return recorded;  // load_model then names the missing file
}

struct quickstart_model {
  std::string path;
  std::string digest;
};

inline quickstart_model read_quickstart_model(const h5::group& models, const std::string& name, const std::string& results) {
  if (!models.has(name))
    throw error(results + " has no /provenance/models/" + name + ": run `make run` first");
  const h5::group g = models.open_group(name);
  return {resolve_model_file(g.attr_string("model_file"), results), g.attr_string("digest")};
}

/// The quick start's two networks (models "real" and "random" of results/quickstart.h5) through the native backend.
struct quickstart_networks {
  std::shared_ptr<network_backend> real, random;
  std::string real_path, random_path;  ///< their model files
};

/// Opens the quick start's results file and its models; throws error with what to run when they are missing.
inline quickstart_networks load_quickstart_networks(const plugin_registry& plugins, const std::string& results_path) {
  if (!std::filesystem::exists(results_path))
    throw error(results_path + " not found: run `make run` first (it trains the quick start's networks)");
  const h5::file results = h5::file::open(results_path);
  const h5::group root = results.root();
  if (!root.has("provenance") || !root.open_group("provenance").has("models"))
    throw error(results_path + " has no /provenance/models: run `make run` first");
  const h5::group models = root.open_group("provenance").open_group("models");
  const auto backend = [&](const std::string& name, std::string& path) {
    const quickstart_model m = read_quickstart_model(models, name, results_path);
    path = m.path;
    option_set options;
    options.set("path", m.path);
    auto net = plugins.create_backend("native", options);
    if (net->model_digest() != m.digest)
      std::printf("warning: %s differs from the model %s recorded (digest)\n", m.path.c_str(), results_path.c_str());
    return net;
  };
  quickstart_networks nets;
  nets.real = backend("real", nets.real_path);
  nets.random = backend("random", nets.random_path);
  return nets;
}

/// The quick start's 2,000 training images with real or permuted labels (experiments/quickstart.toml's data).
inline dataset quickstart_data(label_mode labels, std::uint64_t seed = 1) {
  dataset_spec spec;
  spec.name = labels == label_mode::real ? "real" : "random";
  spec.source = "idx";
  spec.split = "train";
  spec.subset = 2000;
  spec.labels_mode = labels;
  spec.seed = seed;
  return build_dataset(spec);
}

/// Prints a warning for each data set whose hash differs from the one the results file recorded.
inline void warn_if_data_differs(const std::string& results_path, std::initializer_list<const dataset*> data) {
  const h5::file results = h5::file::open(results_path);
  const h5::group root = results.root();
  if (!root.has("provenance") || !root.open_group("provenance").has("datasets")) return;
  const h5::group recorded = root.open_group("provenance").open_group("datasets");
  for (const dataset* d : data)
    if (recorded.has(d->name) && recorded.open_group(d->name).attr_string("sha256") != d->sha256)
      std::printf("warning: data set '%s' differs from the one %s recorded\n", d->name.c_str(), results_path.c_str());
}

// A He-initialized (normal, std sqrt(2 / fan_in), zero bias) MLP, seed 1.
inline mlp random_mlp(const std::vector<std::size_t>& widths, const std::vector<std::size_t>& input_shape) {
  std::vector<dense_layer> layers;
  for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
    dense_layer layer;
    layer.weight = matrix(widths[l + 1], widths[l]);
    layer.bias.assign(widths[l + 1], 0.0f);
    rng gen(1, stream_key("bench_exact_he"), l);
    const double std_dev = std::sqrt(2.0 / static_cast<double>(widths[l]));
    for (float& v : layer.weight.data) v = static_cast<float>(std_dev * gen.normal());
    layers.push_back(std::move(layer));
  }
  return mlp(std::move(layers), input_shape);
}

// Saved to a file in the bench's scratch folder and loaded back through the native plugin, so the random network
// is served exactly as a trained one is.
inline std::shared_ptr<network_backend> load_random_mlp(const plugin_registry& plugins, const mlp& net,
                                                        const std::filesystem::path& scratch) {
  const std::filesystem::path path = scratch / "random-init.h5";
  save_model(path.string(), net, training_record{});
  option_set options;
  options.set("path", path.string());
  return plugins.create_backend("native", options);
}

}  // namespace genscope::bench
