// Benchmark of the exact estimator: probes/s, regions/s and ratios against forward passes, bisection, 1 thread and OpenBLAS.
#include "bench_support.hpp"
#include "h5/h5.hpp"

#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/mlp.hpp>
#include <genscope/plugin_registry.hpp>
#include <genscope/random.hpp>


#include <tbb/blocked_range.h>
#include <tbb/global_control.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>

#include <unistd.h>

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
constexpr std::size_t probe_count = 1000;
constexpr std::size_t probes_per_batch = 32;
constexpr std::size_t forward_rows = 4096;          // "large batch" of the forward-pass reference
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

bool cpu_has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

bool openblas_kernel_has_avx512() {
  std::string core = openblas_get_corename();
  std::transform(core.begin(), core.end(), core.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return core == "skylakex" || core == "cooperlake" || core == "sapphirerapids";
}

// Probes of one sampler run, cut into the batches the estimators receive.
struct probe_set {
  std::vector<probe_batch> batches;
  std::size_t count = 0;
};

probe_set make_probes(const plugin_registry& plugins, const dataset& data) {
  option_set options;
  options.set("count", std::int64_t{probe_count});
  options.set("same_label", true);
  auto sampler = plugins.create_sampler("pairwise", options);
  sampler->prepare(data, seed);
  probe_set out;
  out.count = sampler->probe_count();
  for (std::size_t first = 0; first < out.count; first += probes_per_batch) {
    probe_batch b;
    sampler->sample(first, std::min(probes_per_batch, out.count - first), b);
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
  return best_seconds([&] { net.logits(x, logits); }, forward_repeats, std::numeric_limits<double>::infinity());
}

// Best time of the same chain of layer products as a forward pass, M = forward_rows, in OpenBLAS
// sgemm (no bias, no ReLU: the GEMMs alone are the machine's limit for this work).
double blas_seconds(const std::vector<std::pair<std::size_t, std::size_t>>& shapes, int threads) {
  openblas_set_num_threads(threads);
  std::size_t widest = 0;
  for (const auto& [in, out] : shapes) widest = std::max({widest, in, out});
  std::vector<float> a(forward_rows * widest), b(forward_rows * widest);
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
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(forward_rows), static_cast<int>(out),
                  static_cast<int>(in), 1.0f, in_ptr, static_cast<int>(in), weights[l].data(), static_cast<int>(in),
                  0.0f, out_ptr, static_cast<int>(out));
      std::swap(in_ptr, out_ptr);
    }
  };
  chain();  // warm-up: start OpenBLAS's threads
  return best_seconds(chain, forward_repeats, std::numeric_limits<double>::infinity());
}

// A He-initialized (normal, std sqrt(2 / fan_in), zero bias) MLP with a fixed seed.
mlp random_mlp(const std::vector<std::size_t>& widths, const std::vector<std::size_t>& input_shape) {
  std::vector<dense_layer> layers;
  for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
    dense_layer layer;
    layer.weight = matrix(widths[l + 1], widths[l]);
    layer.bias.assign(widths[l + 1], 0.0f);
    rng gen(seed, stream_key("bench_exact_he"), l);
    const double std_dev = std::sqrt(2.0 / static_cast<double>(widths[l]));
    for (float& v : layer.weight.data) v = static_cast<float>(std_dev * gen.normal());
    layers.push_back(std::move(layer));
  }
  return mlp(std::move(layers), input_shape);
}

// Saved to a temporary file and loaded back through the native plugin, so the random network is
// served exactly as a trained one is.
std::shared_ptr<network_backend> load_random_mlp(const plugin_registry& plugins, const mlp& net) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("genscope-bench-exact-" + std::to_string(::getpid()) + ".h5");
  save_model(path.string(), net, training_record{});
  struct remove_file {
    std::filesystem::path p;
    ~remove_file() {
      std::error_code ec;
      std::filesystem::remove(p, ec);
    }
  } cleanup{path};
  option_set options;
  options.set("path", path.string());
  return plugins.create_backend("native", options);
}

struct network_case {
  std::string label;
  std::shared_ptr<network_backend> net;
  std::vector<std::pair<std::size_t, std::size_t>> shapes;
  const probe_set* probes = nullptr;
  std::string probe_note;
};

// Per side: lo, hi.
struct side_counts {
  std::size_t lo = 0, hi = 0;
  void add(bool is_hi) { ++(is_hi ? hi : lo); }
  std::string text() const { return std::to_string(lo) + " / " + std::to_string(hi); }
};

struct figures {
  double forward_all_s = 0, forward_one_s = 0;  // one batch of forward_rows
  double blas_s = 0, blas_one_s = 0;
  bool exact_ok = false;
  std::string exact_note;
  double exact_all_s = 0, exact_one_s = 0;
  double regions_mean = 0;
  std::int64_t regions_max = 0, regions_total = 0;
  std::size_t max_region_sides = 0;  // sides where the walk hit its region limit (ends are lower bounds)
  double bisection_s = 0;
  double bisection_cost_mean = 0;
  side_counts differ;          // |bisection - exact| > tol, split into the three below
  side_counts rounding;        // ... by at most rounding_gap: float32 vs double at a boundary
  side_counts missed;          // ... bisection further out: an excursion the scan stepped over
  side_counts short_of_exact;  // ... bisection nearer 0 by more than rounding_gap: a change the walk missed
};

// How the ends of the two estimators compare, per side. The walk is exact up to double rounding and
// bisection evaluates float32 logits, so close to a boundary where two logits run nearly parallel the two
// can place it a few 1e-6 apart in either direction; a class excursion narrower than h that the scan
// steps over moves bisection's end much further out.
void compare_ends(const std::vector<interval_batch>& exact, const std::vector<interval_batch>& bisection, figures& f) {
  const auto compare = [&](double e, double b, bool is_hi) {
    const double gap = std::abs(b - e);
    if (gap <= bisection_tol) return;
    f.differ.add(is_hi);
    if (gap <= rounding_gap) f.rounding.add(is_hi);
    else if (std::abs(b) > std::abs(e)) f.missed.add(is_hi);
    else f.short_of_exact.add(is_hi);
  };
  for (std::size_t b = 0; b < exact.size(); ++b)
    for (std::size_t k = 0; k < exact[b].size(); ++k) {
      compare(exact[b].t_lo[k], bisection[b].t_lo[k], false);
      compare(exact[b].t_hi[k], bisection[b].t_hi[k], true);
    }
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
                const interval_estimator& bisection, const matrix& forward_input) {
  figures f;
  f.forward_all_s = forward_seconds(*c.net, forward_input, all_threads());
  f.forward_one_s = forward_seconds(*c.net, forward_input, 1);

  std::vector<interval_batch> bisection_results;
  f.bisection_s = timed_estimates(bisection, *c.net, *c.probes, all_threads(), bisection_results);
  double cost = 0;
  for (const interval_batch& r : bisection_results)
    for (std::uint64_t v : r.cost) cost += static_cast<double>(v);
  f.bisection_cost_mean = cost / static_cast<double>(c.probes->count);

  f.exact_note = exact_missing;
  if (exact != nullptr) {
    std::vector<interval_batch> exact_results;
    try {
      measure_exact(*exact, c, f, exact_results);
      compare_ends(exact_results, bisection_results, f);
    } catch (const std::exception& e) {
      f.exact_ok = false;
      f.exact_note = describe(e);
    }
  }
  return f;
}

// ---- printing ----

constexpr int label_width = 44;
constexpr int column_width = 23;

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
    std::printf("bench_exact: exact region walk vs forward passes, bisection, 1 thread and OpenBLAS\n");
    std::printf("load average at start: %s (1, 5, 15 min; figures are noisy above 0.5)\n", load_average().c_str());
    std::printf("threads: %d (TBB default concurrency)\nOpenBLAS: %s\n", all_threads(), openblas_text().c_str());

    const plugin_registry plugins = plugin_registry::discover();
    const quickstart_networks nets = load_quickstart_networks(plugins, results_path);
    const dataset real_data = quickstart_data(label_mode::real, seed);
    const dataset random_data = quickstart_data(label_mode::random, seed);
    warn_if_data_differs(results_path, {&real_data, &random_data});
    const probe_set real_probes = make_probes(plugins, real_data);
    const probe_set random_probes = make_probes(plugins, random_data);

    std::vector<network_case> cases;
    cases.push_back({"real", nets.real, {}, &real_probes, "real labels"});
    cases.push_back({"random", nets.random, {}, &random_probes, "random labels"});
    cases.push_back({"random-init", load_random_mlp(plugins, random_mlp({784, 1024, 1024, 1024, 10}, real_data.shape)),
                     {}, &real_probes, "real labels"});
    for (network_case& c : cases) {
      // The backend hides its mlp; the layer shapes come from its piecewise-linear view.
      const piecewise_linear_graph* view = c.net->piecewise_linear();
      if (view == nullptr) throw error("native backend offers no piecewise-linear view");
      for (std::size_t i = 1; i < view->size(); ++i)
        if (!view->at(i).is_switch()) c.shapes.emplace_back(view->at(i).affine->input_dim(0), view->at(i).width);
    }

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

    matrix forward_input(forward_rows, real_data.dim());
    for (std::size_t i = 0; i < forward_rows; ++i)
      std::copy(real_data.x.row(i % real_data.size()), real_data.x.row(i % real_data.size()) + real_data.dim(),
                forward_input.row(i));

    std::vector<figures> all;
    for (const network_case& c : cases) {
      std::fprintf(stderr, "bench_exact: measuring %s (%s)\n", c.label.c_str(), c.net->describe().c_str());
      all.push_back(measure(c, exact.get(), exact_missing, *bisection, forward_input));
    }
    // OpenBLAS last: its threads spin for a while after each call and would steal cores from TBB.
    for (std::size_t i = 0; i < cases.size(); ++i) {
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
    const auto rows_per_s = [](const figures& f) { return static_cast<double>(forward_rows) / f.forward_all_s; };
    const auto gflops = [&](const network_case& c, double seconds) {
      return flops_per_input(c.shapes) * static_cast<double>(forward_rows) / seconds / 1e9;
    };
    const auto probes_per_s = [](const network_case& c, double seconds) {
      return static_cast<double>(c.probes->count) / seconds;
    };

    std::printf("\nprobes: %zu pairwise same-label probes over the quick start's 2,000 training images, "
                "batches of %zu; T = %g\n"
                "bisection: h = T/64 = %g, tol = 1e-6*T = %g (scan_chunk default); %d threads unless noted\n\n",
                real_probes.count, probes_per_batch, t_max, bisection_h, bisection_tol, n);
    print_row("", cells([](const network_case& c, const figures&) { return c.label; }));
    print_row("network", cells([](const network_case& c, const figures&) {
                const std::string d = c.net->describe();
                return d.substr(0, d.find(' '));
              }));
    print_row("probes' labels", cells([](const network_case& c, const figures&) { return c.probe_note; }));
    std::printf("\n");
    print_row("forward, batch 4096: inputs/s", cells([&](const network_case&, const figures& f) {
                return readable(rows_per_s(f));
              }));
    print_row("forward, batch 4096: GFLOP/s", cells([&](const network_case& c, const figures& f) {
                return readable(gflops(c, f.forward_all_s));
              }));
    print_row("forward, batch 4096: GFLOP/s, 1 thread", cells([&](const network_case& c, const figures& f) {
                return readable(gflops(c, f.forward_one_s));
              }));
    print_row("OpenBLAS sgemm chain, M 4096: GFLOP/s", cells([&](const network_case& c, const figures& f) {
                return readable(gflops(c, f.blas_s));
              }));
    print_row("OpenBLAS sgemm chain: GFLOP/s, 1 thread", cells([&](const network_case& c, const figures& f) {
                return readable(gflops(c, f.blas_one_s));
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
    print_row("ends differing by > tol, lo / hi:", exact_cell([](const network_case&, const figures& f) {
                return f.differ.text();
              }));
    print_row("  <= 1e-4 apart (float32 vs double)", exact_cell([](const network_case&, const figures& f) {
                return f.rounding.text();
              }));
    print_row("  bisection past exact (missed excursion)", exact_cell([](const network_case&, const figures& f) {
                return f.missed.text();
              }));
    print_row("  bisection short of exact (should be 0)", exact_cell([](const network_case&, const figures& f) {
                return f.short_of_exact.text();
              }));

    const std::vector<ratio_row> ratios = {
        {"region cost (s/region / s/input, 1 thread)", "<= 0.1", target_region_cost, true,
         [](const network_case&, const figures& f) -> std::optional<double> {
           if (!f.exact_ok || f.regions_total == 0) return std::nullopt;
           return (f.exact_one_s / static_cast<double>(f.regions_total)) /
                  (f.forward_one_s / static_cast<double>(forward_rows));
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
         [](const network_case&, const figures& f) -> std::optional<double> { return f.blas_s / f.forward_all_s; }},
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
        row.push_back(readable(*v) + (ok ? " ok" : " below target"));
      }
      print_row(r.label, row);
    }

    std::printf("\n");
    if (cpu_has_avx512() && !openblas_kernel_has_avx512())
      // OPENBLAS_CORETYPE (set in some environments) can force an AVX2 kernel, about half as fast here.
      std::printf("note: OpenBLAS ran its %s kernel (no AVX-512) on a CPU with AVX-512, so forward efficiency is "
                  "overstated; unset OPENBLAS_CORETYPE (or set SkylakeX) for its AVX-512 kernel\n",
                  openblas_get_corename());
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
