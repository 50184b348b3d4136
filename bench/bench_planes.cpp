// Benchmark of the plane_regions analysis: exact linear regions per second on planes through three images, for the
// quick start's MLPs (real and permuted labels), the same MLP untrained and the CNN study's LeNet-5, on 1 and all
// threads, next to PyTorch sampling the same planes on a grid (how region pictures are usually drawn).
#include "bench_support.hpp"
#include "torch_reference.hpp"

#include <genscope/analysis.hpp>
#include <genscope/mlp.hpp>

#include <tbb/global_control.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

using namespace genscope;
using namespace genscope::bench;

namespace {

constexpr std::int64_t planes_per_network = 3;
constexpr std::int64_t grid_sides[] = {512, 2048};

struct network_case {
  std::string label, network;
  std::shared_ptr<network_backend> net;
  const dataset* data = nullptr;
  std::string torch_weights;  // an MLP model file PyTorch can read; empty: no grid comparison
};

struct plane_figures {
  double seconds = 0;
  std::int64_t regions = 0, decision_regions = 0, capped = 0;
  table_batch rows;
};

plane_figures run(const plugin_registry& plugins, const network_case& c, int threads) {
  const tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
  option_set o;
  o.set("planes", planes_per_network);
  o.set("patterns", false);
  auto a = plugins.create_analysis("plane_regions", o);
  a->prepare(*c.net, {c.data}, 1);
  plane_figures f;
  const auto start = clock_type::now();
  f.rows.reset(a->tables()[0], a->row_count(0));
  a->compute(0, 0, a->row_count(0), f.rows);
  f.seconds = seconds_since(start);
  for (std::size_t r = 0; r < f.rows.rows(); ++r) {
    f.regions += f.rows.ints("regions")[r];
    f.decision_regions += f.rows.ints("decision_regions")[r];
    f.capped += (f.rows.ints("status")[r] & 1) != 0;
  }
  return f;
}

// PyTorch's grid over row r's plane: seconds and distinct patterns found (a failure is returned as a note).
struct grid_figures {
  bool ok = false;
  std::string note;
  double seconds = 0;
  std::int64_t patterns = 0;
};

grid_figures torch_grid(const network_case& c, const table_batch& rows, std::size_t r, std::int64_t side, int threads,
                        const std::filesystem::path& scratch) {
  grid_figures g;
  try {
    const std::size_t dim = c.data->dim();
    std::size_t start = 0;
    for (std::size_t i = 0; i < r; ++i) start += rows.counts("basis")[i];
    const std::vector<double>& basis = rows.reals("basis");
    const auto part = [&](std::size_t k) {
      return std::vector<double>(basis.begin() + static_cast<std::ptrdiff_t>(start + k * dim),
                                 basis.begin() + static_cast<std::ptrdiff_t>(start + (k + 1) * dim));
    };
    const std::filesystem::path plane = scratch / (c.label + "-plane.h5"), out = scratch / (c.label + "-grid.h5");
    {
      const h5::file file = h5::file::create(plane.string());
      file.root().write("origin", part(0));
      file.root().write("axis_s", part(1));
      file.root().write("axis_t", part(2));
      const std::vector<double>& box = rows.reals("box");
      file.root().write("box", std::vector<double>(box.begin() + static_cast<std::ptrdiff_t>(4 * r),
                                                   box.begin() + static_cast<std::ptrdiff_t>(4 * r + 4)));
    }
    const std::string failure =
        run_torch_script("plane-grid '" + c.torch_weights + "' '" + plane.string() + "' '" + out.string() +
                             "' --grid " + std::to_string(side) + " --threads " + std::to_string(threads),
                         scratch / (c.label + "-grid.log"));
    if (!failure.empty()) {
      g.note = failure;
      return g;
    }
    const h5::file file = h5::file::open(out.string());
    g.seconds = file.root().attr_double("seconds");
    g.patterns = file.root().attr_int("patterns");
    g.ok = true;
  } catch (const std::exception& e) {
    g.note = e.what();
  }
  return g;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string results_path = argc > 1 ? argv[1] : "results/quickstart.h5";
    print_bench_header("bench_planes: exact linear and decision regions on planes through three images "
                       "(plane_regions), regions per second, vs PyTorch sampling the plane on a grid",
                       false);

    const plugin_registry plugins = plugin_registry::discover();
    const quickstart_networks nets = load_quickstart_networks(plugins, results_path);
    const dataset real_data = quickstart_data(label_mode::real);
    const dataset random_data = quickstart_data(label_mode::random);
    warn_if_data_differs(results_path, {&real_data, &random_data});
    const scratch_folder folder("bench-planes");
    const std::filesystem::path& scratch = folder.path();

    std::vector<network_case> cases;
    cases.push_back({"real", "784-256-256-10, trained, real labels", nets.real, &real_data, nets.real_path});
    cases.push_back({"random", "784-256-256-10, trained, permuted labels", nets.random, &random_data, nets.random_path});
    const mlp untrained = random_mlp({784, 256, 256, 10}, real_data.shape);
    save_model((scratch / "untrained.h5").string(), untrained, training_record{});
    cases.push_back({"untrained", "784-256-256-10, He initialization", load_random_mlp(plugins, untrained, scratch),
                     &real_data, (scratch / "untrained.h5").string()});
    const std::string lenet_onnx = resolve_model_file("data/cnn/real.onnx", results_path);
    if (std::filesystem::exists(lenet_onnx)) {
      option_set options;
      options.set("path", lenet_onnx);
      cases.push_back({"lenet5", "LeNet-5 (ONNX), trained, real labels", plugins.create_backend("native", options),
                       &real_data, ""});
    } else {
      std::printf("lenet5: %s not found: run experiments/cnn/train_cnn.py first (the CNN row is left out)\n",
                  lenet_onnx.c_str());
    }

    std::printf("\n%d planes per network through three images of three different labels (seed 1), box half-side 1.5x "
                "the images' largest distance from their centroid; patterns not stored\n\n",
                static_cast<int>(planes_per_network));
    std::printf("%-10s %-40s %9s %9s %10s %10s %12s %8s\n", "network", "", "regions", "decision", "1 thread s",
                "all thr. s", "regions/s", "speedup");
    std::vector<plane_figures> measured;
    for (const network_case& c : cases) {
      const plane_figures one = run(plugins, c, 1);
      plane_figures all = run(plugins, c, all_threads());
      if (all.regions != one.regions || all.decision_regions != one.decision_regions)
        throw error("plane_regions gave different partitions on 1 and all threads for " + c.label);
      std::printf("%-10s %-40s %9lld %9lld %10.3f %10.3f %12.0f %7.2fx%s\n", c.label.c_str(), c.network.c_str(),
                  static_cast<long long>(all.regions), static_cast<long long>(all.decision_regions), one.seconds,
                  all.seconds, static_cast<double>(all.regions) / all.seconds, one.seconds / all.seconds,
                  all.capped ? "  (max_regions reached)" : "");
      measured.push_back(std::move(all));
    }

    std::printf("\nPyTorch (float32, %d threads) on a G x G grid over each MLP's first plane: distinct patterns found "
                "against the exact count, and time\n",
                all_threads());
    std::printf("%-10s %6s %9s %9s %10s %10s %9s\n", "network", "G", "exact", "found", "torch s", "exact s", "ratio");
    for (std::size_t k = 0; k < cases.size(); ++k) {
      const network_case& c = cases[k];
      if (c.torch_weights.empty()) continue;
      // The exact partition of the first plane alone, for the time ratio.
      const std::int64_t exact = measured[k].rows.ints("regions")[0];
      const tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(all_threads()));
      option_set o;
      o.set("patterns", false);
      auto a = plugins.create_analysis("plane_regions", o);
      a->prepare(*c.net, {c.data}, 1);
      table_batch first;
      const double exact_s = best_seconds(
          [&] {
            first.reset(a->tables()[0], 1);
            a->compute(0, 0, 1, first);
          },
          3, 10.0);
      for (const std::int64_t side : grid_sides) {
        const grid_figures g = torch_grid(c, measured[k].rows, 0, side, all_threads(), scratch);
        if (!g.ok) {
          std::printf("%-10s %6lld %9lld %9s %10s %10.3f %9s  (PyTorch: %s)\n", c.label.c_str(),
                      static_cast<long long>(side), static_cast<long long>(exact), "n/a", "n/a", exact_s, "n/a",
                      g.note.c_str());
          continue;
        }
        std::printf("%-10s %6lld %9lld %9lld %10.3f %10.3f %8.1fx\n", c.label.c_str(), static_cast<long long>(side),
                    static_cast<long long>(exact), static_cast<long long>(g.patterns), g.seconds, exact_s,
                    g.seconds / exact_s);
      }
    }
    std::printf(
        "\nratio: PyTorch's grid time / the exact partition's time for the same plane. A grid finds at most the regions "
        "that hold one of its points, so 'found' <= 'exact'; it cannot tell which regions it missed.\n"
        "Published anchors: SplineCam (Humayun et al., CVPR 2023; PyTorch on a GPU plus single-threaded graph-tool) and "
        "SyReNN (Sotoudeh and Thakur; C++ on 16 cores) compute the same exact 2-D partitions; neither paper's text we "
        "could read states regions per second, so no ratio against them is printed.\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_planes: %s\n", e.what());
    return 1;
  }
}
