// Benchmark of the exact estimator on MLPs and CNNs: probes/s, regions/s and ratios against forward passes, bisection, 1 thread, OpenBLAS and PyTorch.
#include "bench_support.hpp"
#include "h5/h5.hpp"
#include "torch_reference.hpp"

#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/mlp.hpp>
#include <genscope/plugin_registry.hpp>
#include <genscope/random.hpp>


#include <tbb/blocked_range.h>
#include <tbb/global_control.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

using namespace genscope;
using namespace genscope::bench;

namespace {

constexpr double t_max = 2.0;                       // T: search limit of both estimators
constexpr double bisection_h = t_max / 64;          // scan step
constexpr double bisection_tol = 1e-6 * t_max;     // bisection tolerance, and the threshold for "differs"
// Ends closer than this are the same boundary placed by float32 logits (bisection) and by the double
// walk (exact): such gaps measure 2e-6 to 1e-5 on the quick start's networks, missed excursions 0.1 and more.
constexpr double rounding_gap = 1e-4;
constexpr std::size_t mlp_probe_count = 1000;
constexpr std::size_t lenet_probe_count = 200;
// A ResNet probe crosses some 50,000 regions at T = 2 (about 40 s on one thread): a few probes, one per batch so
// that the threads share them.
constexpr std::size_t resnet_probe_count = 4;
constexpr std::size_t probes_per_batch = 32;
constexpr std::size_t resnet_probes_per_batch = 1;
constexpr std::size_t mlp_forward_rows = 4096;      // "large batch" of the forward-pass reference
constexpr std::size_t cnn_forward_rows = 1024;
constexpr int torch_threads = 2;                    // PyTorch's threads: the machine's 2 cores
constexpr std::uint64_t seed = 1;                   // the quick start's experiment seed
// Each estimator configuration is repeated (best time kept) while it stays under this budget.
constexpr double repeat_budget_s = 3.0;
constexpr int max_repeats = 3;
constexpr int forward_repeats = 10;

// Targets: informational only, a bench never fails on time.
constexpr double target_region_cost = 0.1;        // at most
constexpr double target_exact_vs_bisection = 5.0; // at least
constexpr double target_threads = 1.8;            // at least
constexpr double target_forward_efficiency = 0.7; // at least
constexpr double target_exact_vs_torch = 10.0;    // at least, on the MLPs

// Probes of one sampler run, cut into the batches the estimators receive.
struct probe_set {
  std::vector<probe_batch> batches;
  std::size_t count = 0;
};

probe_set make_probes(const plugin_registry& plugins, const dataset& data, std::size_t count,
                      std::size_t per_batch = probes_per_batch) {
  option_set options;
  options.set("count", static_cast<std::int64_t>(count));
  options.set("same_label", true);
  auto sampler = plugins.create_sampler("pairwise", options);
  sampler->prepare(data, seed);
  probe_set out;
  out.count = sampler->probe_count();
  for (std::size_t first = 0; first < out.count; first += per_batch) {
    probe_batch b;
    sampler->sample(first, std::min(per_batch, out.count - first), b);
    b.first = first;
    out.batches.push_back(std::move(b));
  }
  return out;
}

// One pass of `estimator` over every batch, batches spread over at most `threads` threads as the
// pipeline spreads them; returns the wall time.
double estimate_all(const interval_estimator& estimator, const network_backend& net, const probe_set& probes,
                    int threads, std::vector<interval_batch>& results) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
  results.assign(probes.batches.size(), interval_batch{});
  const auto start = clock_type::now();
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, probes.batches.size(), 1),
                    [&](const tbb::blocked_range<std::size_t>& r) {
                      for (std::size_t b = r.begin(); b != r.end(); ++b)
                        estimator.estimate(net, probes.batches[b], results[b]);
                    });
  return seconds_since(start);
}

double timed_estimates(const interval_estimator& estimator, const network_backend& net, const probe_set& probes,
                       int threads, std::vector<interval_batch>& results) {
  return best_seconds([&] { estimate_all(estimator, net, probes, threads, results); }, max_repeats, repeat_budget_s);
}

double flops_per_input(const std::vector<std::pair<std::size_t, std::size_t>>& shapes) {
  double f = 0;
  for (const auto& [in, out] : shapes) f += 2.0 * static_cast<double>(in) * static_cast<double>(out);
  return f;
}

// Best time of one forward pass of the backend over `x`, with at most `threads` threads.
double forward_seconds(const network_backend& net, const matrix& x, int threads) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
  matrix logits;
  net.logits(x, logits);  // warm-up: page in buffers, start the workers
  return best_seconds([&] { net.logits(x, logits); }, forward_repeats, repeat_budget_s);
}

// Best time of the same chain of layer products as a forward pass, M = mlp_forward_rows, in OpenBLAS
// sgemm (no bias, no ReLU: the GEMMs alone are the machine's limit for this work).
double blas_seconds(const std::vector<std::pair<std::size_t, std::size_t>>& shapes, int threads) {
  openblas_set_num_threads(threads);
  std::size_t widest = 0;
  for (const auto& [in, out] : shapes) widest = std::max({widest, in, out});
  std::vector<float> a(mlp_forward_rows * widest), b(mlp_forward_rows * widest);
  std::vector<std::vector<float>> weights;
  rng gen(seed, stream_key("bench_exact_blas"));
  for (const auto& [in, out] : shapes) {
    std::vector<float> w(in * out);
    // Scaled so activations stay O(1) along the chain (no overflow, no denormals).
    const double scale = std::sqrt(1.0 / static_cast<double>(in));
    for (float& v : w) v = static_cast<float>(scale * gen.normal());
    weights.push_back(std::move(w));
  }
  for (float& v : a) v = static_cast<float>(gen.uniform());
  const auto chain = [&] {
    float* in_ptr = a.data();
    float* out_ptr = b.data();
    for (std::size_t l = 0; l < shapes.size(); ++l) {
      const auto [in, out] = shapes[l];
      // C (M x out) = A (M x in) * W^T, W stored out x in row-major as dense_layer stores it.
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(mlp_forward_rows), static_cast<int>(out),
                  static_cast<int>(in), 1.0f, in_ptr, static_cast<int>(in), weights[l].data(), static_cast<int>(in),
                  0.0f, out_ptr, static_cast<int>(out));
      std::swap(in_ptr, out_ptr);
    }
  };
  chain();  // warm-up: start OpenBLAS's threads
  return best_seconds(chain, forward_repeats, std::numeric_limits<double>::infinity());
}

struct network_case {
  std::string label;
  std::string network;  // what it is, in a table cell
  std::shared_ptr<network_backend> net;
  bool mlp = true;                                          // OpenBLAS's chain and FLOP counts apply
  std::vector<std::pair<std::size_t, std::size_t>> shapes;  // MLPs: (in, out) of each layer
  const probe_set* probes = nullptr;
  std::string probe_note;
  const dataset* data = nullptr;  // the forward pass's inputs: its samples, cycled
  std::size_t forward_rows = mlp_forward_rows;
  std::string torch_kind, torch_weights;  // bench/torch_reference.py measure's KIND and WEIGHTS; empty: none
};

// Per side: lo, hi.
struct side_counts {
  std::size_t lo = 0, hi = 0;
  void add(bool is_hi) { ++(is_hi ? hi : lo); }
  std::string text() const { return std::to_string(lo) + " / " + std::to_string(hi); }
};

// How two estimates of the same ends compare, per side: ends further apart than tol, split into the three kinds.
struct end_comparison {
  side_counts differ;          // |other - exact| > tol, split into the three below
  side_counts rounding;        // ... by at most rounding_gap: float32 vs double at a boundary
  side_counts missed;          // ... the other further out: an excursion its scan stepped over
  side_counts short_of_exact;  // ... the other nearer 0 by more than rounding_gap: a change the walk missed
};

struct figures {
  double forward_all_s = 0, forward_one_s = 0;  // one batch of the case's forward_rows
  double blas_s = 0, blas_one_s = 0;
  bool exact_ok = false;
  std::string exact_note;
  double exact_all_s = 0, exact_one_s = 0;
  double regions_mean = 0;
  std::int64_t regions_max = 0, regions_total = 0;
  std::size_t max_region_sides = 0;  // sides where the walk hit its region limit (ends are lower bounds)
  double bisection_s = 0;
  double bisection_cost_mean = 0;
  end_comparison bisection_vs_exact;
  torch_figures torch;
  end_comparison torch_vs_exact;
};

// How another estimator's ends compare with the walk's, per side. The walk is exact up to double rounding and
// bisection evaluates float32 logits, so close to a boundary where two logits run nearly parallel the two can
// place it a few 1e-6 apart in either direction; a class excursion narrower than h that the scan steps over moves
// bisection's end much further out. Ends in probe order.
end_comparison compare_ends(const std::vector<interval_batch>& exact, const std::vector<double>& t_lo,
                            const std::vector<double>& t_hi) {
  end_comparison out;
  const auto compare = [&](double e, double b, bool is_hi) {
    const double gap = std::abs(b - e);
    if (gap <= bisection_tol) return;
    out.differ.add(is_hi);
    if (gap <= rounding_gap) out.rounding.add(is_hi);
    else if (std::abs(b) > std::abs(e)) out.missed.add(is_hi);
    else out.short_of_exact.add(is_hi);
  };
  std::size_t p = 0;
  for (const interval_batch& r : exact)
    for (std::size_t k = 0; k < r.size(); ++k, ++p) {
      compare(r.t_lo[k], t_lo[p], false);
      compare(r.t_hi[k], t_hi[p], true);
    }
  return out;
}

void measure_exact(const interval_estimator& exact, const network_case& c, figures& f,
                   std::vector<interval_batch>& results) {
  f.exact_all_s = timed_estimates(exact, *c.net, *c.probes, all_threads(), results);
  std::vector<interval_batch> one;
  f.exact_one_s = timed_estimates(exact, *c.net, *c.probes, 1, one);
  std::size_t probes = 0;
  for (const interval_batch& r : results)
    for (std::size_t k = 0; k < r.size(); ++k) {
      if (r.regions_lo[k] < 1 || r.regions_hi[k] < 1) throw error("exact: the estimator reported no region counts");
      const std::int64_t regions = r.regions_lo[k] + r.regions_hi[k] - 1;
      f.regions_total += regions;
      f.regions_max = std::max(f.regions_max, regions);
      if (r.status[k] & status_max_regions) ++f.max_region_sides;
      ++probes;
    }
  f.regions_mean = static_cast<double>(f.regions_total) / static_cast<double>(std::max<std::size_t>(probes, 1));
  f.exact_ok = true;
}

figures measure(const network_case& c, const interval_estimator* exact, const std::string& exact_missing,
                const interval_estimator& bisection, const std::filesystem::path& scratch) {
  figures f;
  matrix forward_input(c.forward_rows, c.data->dim());
  for (std::size_t i = 0; i < c.forward_rows; ++i)
    std::copy(c.data->x.row(i % c.data->size()), c.data->x.row(i % c.data->size()) + c.data->dim(),
              forward_input.row(i));
  f.forward_all_s = forward_seconds(*c.net, forward_input, all_threads());
  f.forward_one_s = forward_seconds(*c.net, forward_input, 1);

  std::vector<interval_batch> bisection_results;
  f.bisection_s = timed_estimates(bisection, *c.net, *c.probes, all_threads(), bisection_results);
  double cost = 0;
  std::vector<double> bisection_lo, bisection_hi;
  for (const interval_batch& r : bisection_results) {
    for (std::uint64_t v : r.cost) cost += static_cast<double>(v);
    bisection_lo.insert(bisection_lo.end(), r.t_lo.begin(), r.t_lo.end());
    bisection_hi.insert(bisection_hi.end(), r.t_hi.begin(), r.t_hi.end());
  }
  f.bisection_cost_mean = cost / static_cast<double>(c.probes->count);
  if (!c.torch_kind.empty())
    f.torch = torch_measure(c.torch_kind, c.torch_weights, c.probes->batches, t_max, bisection_h, bisection_tol,
                            torch_threads, c.forward_rows, scratch);

  f.exact_note = exact_missing;
  if (exact != nullptr) {
    std::vector<interval_batch> exact_results;
    try {
      measure_exact(*exact, c, f, exact_results);
      f.bisection_vs_exact = compare_ends(exact_results, bisection_lo, bisection_hi);
      if (f.torch.ok) f.torch_vs_exact = compare_ends(exact_results, f.torch.t_lo, f.torch.t_hi);
    } catch (const std::exception& e) {
      f.exact_ok = false;
      f.exact_note = describe(e);
    }
  }
  return f;
}

// The images of `data` (1 x 28 x 28) as CIFAR-shaped 3 x 32 x 32 inputs: zero-padded by 2 pixels, the same
// values in all three channels; labels unchanged.
dataset cifar_shaped_data(const dataset& data) {
  if (data.shape != std::vector<std::size_t>{28, 28} && data.shape != std::vector<std::size_t>{1, 28, 28})
    throw error("cifar_shaped_data: expects 28 x 28 images");
  dataset out = data;
  out.name = data.name + "-3x32x32";
  out.shape = {3, 32, 32};
  out.x = matrix(data.size(), 3 * 32 * 32);
  std::fill(out.x.data.begin(), out.x.data.end(), 0.0f);
  for (std::size_t i = 0; i < data.size(); ++i)
    for (std::size_t ch = 0; ch < 3; ++ch)
      for (std::size_t r = 0; r < 28; ++r)
        std::copy(data.x.row(i) + r * 28, data.x.row(i) + (r + 1) * 28, out.x.row(i) + ch * 1024 + (r + 2) * 32 + 2);
  out.description = data.description + ", padded to 3 x 32 x 32";
  return out;
}

// ---- printing ----

constexpr int label_width = 44;
constexpr int column_width = 16;

void print_row(const char* label, const std::vector<std::string>& cells) {
  std::printf("%-*s", label_width, label);
  for (const std::string& c : cells) std::printf("%*s", column_width, c.c_str());
  std::printf("\n");
}

std::string fixed(double v, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, v);
  return text;
}

std::string readable(double v) {  // 3 significant figures without exponents for the usual ranges
  if (!std::isfinite(v)) return "-";
  const double a = std::abs(v);
  return fixed(v, a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : a >= 0.1 ? 3 : 4);
}

struct ratio_row {
  const char* label;
  const char* target_text;
  double target;
  bool at_most;  // true: the ratio should stay at or below the target
  std::function<std::optional<double>(const network_case&, const figures&)> value;
};

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string results_path = argc > 1 ? argv[1] : "results/quickstart.h5";
    print_bench_header("bench_exact: exact region walk on MLPs and CNNs vs forward passes, bisection, 1 thread, "
                       "OpenBLAS and PyTorch",
                       true);

    const plugin_registry plugins = plugin_registry::discover();
    const quickstart_networks nets = load_quickstart_networks(plugins, results_path);
    const dataset real_data = quickstart_data(label_mode::real, seed);
    const dataset random_data = quickstart_data(label_mode::random, seed);
    warn_if_data_differs(results_path, {&real_data, &random_data});
    const probe_set real_probes = make_probes(plugins, real_data, mlp_probe_count);
    const probe_set random_probes = make_probes(plugins, random_data, mlp_probe_count);
    const probe_set lenet_probes = make_probes(plugins, real_data, lenet_probe_count);
    // CIFAR-shaped images for the ResNet: the same images padded to 32 x 32, in three equal channels.
    const dataset cifar_shaped = cifar_shaped_data(real_data);
    const probe_set resnet_probes = make_probes(plugins, cifar_shaped, resnet_probe_count, resnet_probes_per_batch);
    // Files the bench writes (the random-init model, PyTorch's ResNet, probes and PyTorch's results), removed at exit.
    const scratch_folder folder("bench-exact");
    const std::filesystem::path& scratch = folder.path();

    std::vector<network_case> cases;
    const auto mlp_case = [&](std::string label, std::string network, std::shared_ptr<network_backend> net,
                              const probe_set& probes, const dataset& data, std::string torch_weights) {
      network_case c;
      c.label = std::move(label);
      c.network = std::move(network);
      c.net = std::move(net);
      c.probes = &probes;
      c.probe_note = data.name == "real" ? "real labels" : "random labels";
      c.data = &data;
      if (!torch_weights.empty()) {
        c.torch_kind = "mlp";
        c.torch_weights = std::move(torch_weights);
      }
      // The backend hides its mlp; the layer shapes come from its piecewise-linear view.
      const piecewise_linear_graph* view = c.net->piecewise_linear();
      if (view == nullptr) throw error("native backend offers no piecewise-linear view");
      for (std::size_t i = 1; i < view->size(); ++i)
        if (!view->at(i).is_switch()) c.shapes.emplace_back(view->at(i).affine->input_dim(0), view->at(i).width);
      cases.push_back(std::move(c));
    };
    mlp_case("real", "784-256-256-10", nets.real, real_probes, real_data, nets.real_path);
    mlp_case("random", "784-256-256-10", nets.random, random_probes, random_data, nets.random_path);
    mlp_case("random-init", "784-1024x3-10",
             load_random_mlp(plugins, random_mlp({784, 1024, 1024, 1024, 10}, real_data.shape), scratch), real_probes,
             real_data, "");
    std::vector<std::string> missing_cases;
    const auto cnn_case = [&](std::string label, std::string network, const std::string& onnx,
                              const probe_set& probes, const dataset& data, std::string torch_kind,
                              std::string torch_weights) {
      network_case c;
      c.label = std::move(label);
      c.network = std::move(network);
      option_set options;
      options.set("path", onnx);
      c.net = plugins.create_backend("native", options);
      c.mlp = false;
      c.probes = &probes;
      c.probe_note = "real labels";
      c.data = &data;
      c.forward_rows = cnn_forward_rows;
      c.torch_kind = std::move(torch_kind);
      c.torch_weights = std::move(torch_weights);
      cases.push_back(std::move(c));
    };
    // LeNet-5: the CNN study's real-label network (experiments/cnn/train_cnn.py writes it).
    const std::string lenet_onnx = resolve_model_file("data/cnn/real.onnx", results_path);
    if (std::filesystem::exists(lenet_onnx))
      cnn_case("lenet5", "LeNet-5, ONNX", lenet_onnx, lenet_probes, real_data, "lenet",
               resolve_model_file("data/cnn/real.pt", results_path));
    else
      missing_cases.push_back("lenet5: " + lenet_onnx + " not found: run experiments/cnn/train_cnn.py first");
    // ResNet-8: built by PyTorch here, batch norm calibrated on the CIFAR-shaped images.
    {
      const h5::file images = h5::file::create((scratch / "images.h5").string());
      images.root().write("X", cifar_shaped.x.data, {cifar_shaped.size(), 3, 32, 32});
    }
    const std::string built = run_torch_script("build-resnet '" + scratch.string() + "' '" +
                                                   (scratch / "images.h5").string() + "'",
                                               scratch / "build-resnet.log");
    if (built.empty())
      cnn_case("resnet8", "ResNet-8, ONNX", (scratch / "resnet8.onnx").string(), resnet_probes, cifar_shaped, "resnet8",
               (scratch / "resnet8.pt").string());
    else
      missing_cases.push_back("resnet8: PyTorch could not build it: " + built);

    option_set exact_options;
    exact_options.set("T", t_max);
    std::shared_ptr<interval_estimator> exact;
    std::string exact_missing;
    try {
      exact = plugins.create_estimator("exact", exact_options);
    } catch (const std::exception& e) {
      exact_missing = describe(e);
    }
    option_set bisection_options;
    bisection_options.set("T", t_max);
    bisection_options.set("h", bisection_h);
    bisection_options.set("tol", bisection_tol);
    const auto bisection = plugins.create_estimator("bisection", bisection_options);

    std::vector<figures> all;
    for (const network_case& c : cases) {
      std::fprintf(stderr, "bench_exact: measuring %s (%s)\n", c.label.c_str(), c.net->describe().c_str());
      all.push_back(measure(c, exact.get(), exact_missing, *bisection, scratch));
    }
    // OpenBLAS last: its threads spin for a while after each call and would steal cores from TBB.
    for (std::size_t i = 0; i < cases.size(); ++i) {
      if (!cases[i].mlp) continue;
      all[i].blas_s = blas_seconds(cases[i].shapes, all_threads());
      all[i].blas_one_s = blas_seconds(cases[i].shapes, 1);
    }

    // ---- the table ----
    const int n = all_threads();
    const auto cells = [&](const std::function<std::string(const network_case&, const figures&)>& cell) {
      std::vector<std::string> out;
      for (std::size_t i = 0; i < cases.size(); ++i) out.push_back(cell(cases[i], all[i]));
      return out;
    };
    const auto exact_cell = [&](const std::function<std::string(const network_case&, const figures&)>& cell) {
      return cells([&](const network_case& c, const figures& f) -> std::string {
        return f.exact_ok ? cell(c, f) : "n/a";
      });
    };
    const auto mlp_cell = [&](const std::function<std::string(const network_case&, const figures&)>& cell) {
      return cells([&](const network_case& c, const figures& f) -> std::string { return c.mlp ? cell(c, f) : "n/a"; });
    };
    const auto torch_cell = [&](const std::function<std::string(const network_case&, const figures&)>& cell) {
      return cells([&](const network_case& c, const figures& f) -> std::string {
        return f.torch.ok ? cell(c, f) : "n/a";
      });
    };
    const auto rows_per_s = [](const network_case& c, double seconds) {
      return static_cast<double>(c.forward_rows) / seconds;
    };
    const auto gflops = [&](const network_case& c, double seconds) {
      return flops_per_input(c.shapes) * static_cast<double>(c.forward_rows) / seconds / 1e9;
    };
    const auto probes_per_s = [](const network_case& c, double seconds) {
      return static_cast<double>(c.probes->count) / seconds;
    };
    const auto comparison_rows = [&](const char* what, const std::function<const end_comparison*(const figures&)>& get,
                                     bool needs_torch) {
      const auto cell = [&](const std::function<std::string(const end_comparison&)>& text) {
        return exact_cell([&](const network_case&, const figures& f) -> std::string {
          return needs_torch && !f.torch.ok ? "n/a" : text(*get(f));
        });
      };
      print_row(what, cell([](const end_comparison& e) { return e.differ.text(); }));
      print_row("  <= 1e-4 apart (float32 vs double)", cell([](const end_comparison& e) { return e.rounding.text(); }));
      print_row("  further out (missed excursion)", cell([](const end_comparison& e) { return e.missed.text(); }));
      print_row("  short of exact (should be 0)", cell([](const end_comparison& e) { return e.short_of_exact.text(); }));
    };

    std::printf("\nprobes: pairwise same-label probes over the quick start's 2,000 training images (the ResNet: the "
                "same images padded to 3x32x32), batches of %zu (the ResNet: %zu); T = %g\n"
                "bisection (GenScope's and PyTorch's): h = T/64 = %g, tol = 1e-6*T = %g; %d threads unless noted, "
                "PyTorch %d threads\n",
                probes_per_batch, resnet_probes_per_batch, t_max, bisection_h, bisection_tol, n, torch_threads);
    for (std::size_t i = 0; i < cases.size(); ++i)
      if (all[i].torch.ok) {
        std::printf("PyTorch: %s (Debian's python3-torch), bench/torch_reference.py\n", all[i].torch.version.c_str());
        break;
      }
    std::printf("\n");
    print_row("", cells([](const network_case& c, const figures&) { return c.label; }));
    print_row("network", cells([](const network_case& c, const figures&) { return c.network; }));
    print_row("probes", cells([](const network_case& c, const figures&) { return std::to_string(c.probes->count); }));
    print_row("probes' labels", cells([](const network_case& c, const figures&) { return c.probe_note; }));
    std::printf("\n");
    print_row("forward: batch", cells([](const network_case& c, const figures&) {
                return std::to_string(c.forward_rows);
              }));
    print_row("forward: inputs/s", cells([&](const network_case& c, const figures& f) {
                return readable(rows_per_s(c, f.forward_all_s));
              }));
    print_row("forward: inputs/s, 1 thread", cells([&](const network_case& c, const figures& f) {
                return readable(rows_per_s(c, f.forward_one_s));
              }));
    print_row("forward: GFLOP/s", mlp_cell([&](const network_case& c, const figures& f) {
                return readable(gflops(c, f.forward_all_s));
              }));
    print_row("forward: GFLOP/s, 1 thread", mlp_cell([&](const network_case& c, const figures& f) {
                return readable(gflops(c, f.forward_one_s));
              }));
    print_row("OpenBLAS sgemm chain, M 4096: GFLOP/s", mlp_cell([&](const network_case& c, const figures& f) {
                return readable(gflops(c, f.blas_s));
              }));
    print_row("OpenBLAS sgemm chain: GFLOP/s, 1 thread", mlp_cell([&](const network_case& c, const figures& f) {
                return readable(gflops(c, f.blas_one_s));
              }));
    print_row("PyTorch forward: inputs/s", torch_cell([&](const network_case&, const figures& f) {
                return readable(static_cast<double>(f.torch.infer_batch) / f.torch.infer_dense_s);
              }));
    print_row("PyTorch forward, oneDNN: inputs/s", torch_cell([&](const network_case&, const figures& f) {
                return readable(static_cast<double>(f.torch.infer_batch) / f.torch.infer_mkldnn_s);
              }));
    std::printf("\n");
    print_row("exact: probes/s", exact_cell([&](const network_case& c, const figures& f) {
                return readable(probes_per_s(c, f.exact_all_s));
              }));
    print_row("exact: probes/s, 1 thread", exact_cell([&](const network_case& c, const figures& f) {
                return readable(probes_per_s(c, f.exact_one_s));
              }));
    print_row("exact: regions/s", exact_cell([](const network_case&, const figures& f) {
                return readable(static_cast<double>(f.regions_total) / f.exact_all_s);
              }));
    print_row("exact: regions per probe, mean", exact_cell([](const network_case&, const figures& f) {
                return readable(f.regions_mean);
              }));
    print_row("exact: regions per probe, max", exact_cell([](const network_case&, const figures& f) {
                return std::to_string(f.regions_max);
              }));
    print_row("exact: us per region, 1 thread", exact_cell([](const network_case&, const figures& f) {
                return readable(1e6 * f.exact_one_s / static_cast<double>(f.regions_total));
              }));
    print_row("exact: sides stopped at max_regions", exact_cell([](const network_case&, const figures& f) {
                return std::to_string(f.max_region_sides);
              }));
    print_row("bisection: probes/s", cells([&](const network_case& c, const figures& f) {
                return readable(probes_per_s(c, f.bisection_s));
              }));
    print_row("bisection: forward passes per probe", cells([](const network_case&, const figures& f) {
                return readable(f.bisection_cost_mean);
              }));
    print_row("PyTorch bisection, oneDNN: probes/s", torch_cell([&](const network_case& c, const figures& f) {
                return readable(probes_per_s(c, f.torch.bisection_s));
              }));
    print_row("PyTorch bisection: inputs per probe", torch_cell([&](const network_case& c, const figures& f) {
                return readable(static_cast<double>(f.torch.rows_evaluated) / static_cast<double>(c.probes->count));
              }));
    comparison_rows("bisection ends off exact by > tol, lo / hi",
                    [](const figures& f) { return &f.bisection_vs_exact; }, false);
    comparison_rows("PyTorch ends off exact by > tol, lo / hi", [](const figures& f) { return &f.torch_vs_exact; },
                    true);

    const std::vector<ratio_row> ratios = {
        {"region cost (s/region / s/input, 1 thread)", "<= 0.1", target_region_cost, true,
         [](const network_case& c, const figures& f) -> std::optional<double> {
           if (!f.exact_ok || f.regions_total == 0) return std::nullopt;
           return (f.exact_one_s / static_cast<double>(f.regions_total)) /
                  (f.forward_one_s / static_cast<double>(c.forward_rows));
         }},
        {"exact vs PyTorch bisection (probes/s)", ">= 10", target_exact_vs_torch, false,
         [](const network_case&, const figures& f) -> std::optional<double> {
           if (!f.exact_ok || !f.torch.ok) return std::nullopt;
           return f.torch.bisection_s / f.exact_all_s;
         }},
        {"exact vs bisection (probes/s)", ">= 5", target_exact_vs_bisection, false,
         [](const network_case&, const figures& f) -> std::optional<double> {
           if (!f.exact_ok) return std::nullopt;
           return f.bisection_s / f.exact_all_s;
         }},
        {"threads (exact probes/s, all / 1 thread)", ">= 1.8", target_threads, false,
         [](const network_case&, const figures& f) -> std::optional<double> {
           if (!f.exact_ok) return std::nullopt;
           return f.exact_one_s / f.exact_all_s;
         }},
        {"forward efficiency (native / OpenBLAS)", ">= 0.7", target_forward_efficiency, false,
         [](const network_case& c, const figures& f) -> std::optional<double> {
           if (!c.mlp) return std::nullopt;
           return f.blas_s / f.forward_all_s;
         }},
        {"inference (native / faster PyTorch path)", ">= 1", 1.0, false,
         [](const network_case& c, const figures& f) -> std::optional<double> {
           if (!f.torch.ok) return std::nullopt;
           const double torch_per_input =
               std::min(f.torch.infer_dense_s, f.torch.infer_mkldnn_s) / static_cast<double>(f.torch.infer_batch);
           return torch_per_input / (f.forward_all_s / static_cast<double>(c.forward_rows));
         }},
    };
    std::printf("\n");
    std::vector<std::string> header{"target"};
    for (const network_case& c : cases) header.push_back(c.label);
    print_row("ratio", header);
    for (const ratio_row& r : ratios) {
      std::vector<std::string> row{r.target_text};
      for (std::size_t i = 0; i < cases.size(); ++i) {
        const std::optional<double> v = r.value(cases[i], all[i]);
        if (!v) {
          row.push_back("n/a");
          continue;
        }
        const bool ok = r.at_most ? *v <= r.target : *v >= r.target;
        row.push_back(readable(*v) + (ok ? " ok" : " below"));
      }
      print_row(r.label, row);
    }
    std::printf("(the 10x target is the MLPs'; on the CNNs the ratio is reported)\n");

    std::printf("\n");
    if (cpu_has_avx512() && !openblas_kernel_has_avx512())
      // OPENBLAS_CORETYPE (set in some environments) can force an AVX2 kernel, about half as fast here.
      std::printf("note: OpenBLAS ran its %s kernel (no AVX-512) on a CPU with AVX-512, so forward efficiency is "
                  "overstated; unset OPENBLAS_CORETYPE (or set SkylakeX) for its AVX-512 kernel\n",
                  openblas_get_corename());
    for (const std::string& m : missing_cases) std::printf("not measured: %s\n", m.c_str());
    for (std::size_t i = 0; i < cases.size(); ++i)
      if (!cases[i].torch_kind.empty() && !all[i].torch.ok)
        std::printf("PyTorch: not available on %s: %s\n", cases[i].label.c_str(), all[i].torch.note.c_str());
    if (exact == nullptr) std::printf("exact: not available: %s\n", exact_missing.c_str());
    else
      for (std::size_t i = 0; i < cases.size(); ++i)
        if (!all[i].exact_ok)
          std::printf("exact: not available on %s: %s\n", cases[i].label.c_str(), all[i].exact_note.c_str());
    std::printf("load average at end: %s\n", load_average().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_exact: %s\n", describe(e).c_str());
    return 1;
  }
}
