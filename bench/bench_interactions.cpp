// Benchmark of the interactions analysis: seconds per sample at n = 12 and 16 input patches on the quick start's
// MLP and the CNN study's LeNet-5, split into the 2^n masked forward passes and the transforms (the plain AND-OR
// split and the sparsifying Adam optimisation), the whole plugin on 1 and all threads, and the fast O(n 2^n)
// transforms against the dense 2^n x 2^n matrices of the published code at n = 10 and 12.
#include "bench_support.hpp"
#include "harsanyi.hpp"

#include <genscope/analysis.hpp>

#include <tbb/blocked_range.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

using namespace genscope;
using namespace genscope::bench;
namespace hx = genscope::interactions;

namespace {

// The plugin's fixed pass of masked inputs (interactions.cpp).
constexpr std::size_t masks_per_pass = 256;
// Dense and fast must agree within this fraction of the largest |value|; the target is informational.
constexpr double dense_tolerance = 1e-9;
constexpr double target_dense_ratio = 100;  // dense seconds / fast seconds at n = 12 (split and step), at least

struct network_case {
  std::string label, network;
  std::shared_ptr<network_backend> net;
};

struct grid_size {
  std::size_t rows, cols;
  std::size_t n() const { return rows * cols; }
  std::string text() const { return std::to_string(rows) + "x" + std::to_string(cols); }
};

option_set plugin_options(const grid_size& grid, std::size_t iterations, bool store_all) {
  option_set o;
  o.set("points", std::int64_t{1});
  o.set("grid", grid.text());
  o.set("iterations", static_cast<std::int64_t>(iterations));
  o.set("store_all", store_all);
  return o;
}

// One row of the interactions analysis (its sample: choose_samples for points = 1, seed 1) and the best seconds of
// its compute() over up to 3 runs within 3 s (one run at n = 16).
struct plugin_row {
  table_batch row;
  double seconds = 0;
};

plugin_row run_plugin(const plugin_registry& plugins, const network_backend& net, const dataset& data,
                      const option_set& o, int threads) {
  const tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
  auto a = plugins.create_analysis("interactions", o);
  a->prepare(net, {&data}, 1);
  plugin_row r;
  r.seconds = best_seconds(
      [&] {
        r.row.reset(a->tables()[0], 1);
        a->compute(0, 0, 1, r.row);
      },
      3, 3.0);
  return r;
}

// Each input's variable under the plugin's R x C grid over the input's last two axes (input (i, j) of an H x W
// plane is in patch (i R / H, j C / W), numbered row by row; every leading axis whole).
std::vector<std::uint32_t> grid_variables(const std::vector<std::size_t>& shape, const grid_size& grid) {
  if (shape.size() < 2) throw error("bench_interactions: the grid needs an input of at least two axes");
  const std::size_t height = shape[shape.size() - 2], width = shape.back();
  std::size_t dim = 1;
  for (const std::size_t s : shape) dim *= s;
  std::vector<std::uint32_t> variable(dim);
  for (std::size_t k = 0; k < dim; ++k) {
    const std::size_t i = (k / width) % height, j = k % width;
    variable[k] = static_cast<std::uint32_t>((i * grid.rows / height) * grid.cols + j * grid.cols / width);
  }
  return variable;
}

// f_y(x_S) for every mask S (masked inputs 0), in fixed passes of masks_per_pass masked inputs spread over the
// threads, as the plugin runs them.
std::vector<double> masked_logits(const network_backend& net, const float* x, const std::vector<std::uint32_t>& variable,
                                  std::size_t n, std::size_t y) {
  const std::size_t size = std::size_t{1} << n, dim = variable.size();
  const std::size_t passes = (size + masks_per_pass - 1) / masks_per_pass;
  std::vector<double> v(size);
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, passes, 1), [&](const tbb::blocked_range<std::size_t>& range) {
    matrix in, out;
    for (std::size_t pass = range.begin(); pass != range.end(); ++pass) {
      const std::size_t begin = pass * masks_per_pass, end = std::min(size, begin + masks_per_pass);
      in = matrix(end - begin, dim);
      for (std::size_t m = begin; m < end; ++m) {
        float* row = in.row(m - begin);
        for (std::size_t k = 0; k < dim; ++k) row[k] = ((m >> variable[k]) & 1u) != 0 ? x[k] : 0.0f;
      }
      net.logits(in, out);
      for (std::size_t m = begin; m < end; ++m) v[m] = static_cast<double>(out.row(m - begin)[y]);
    }
  });
  return v;
}

// The plugin's default optimisation, read from its descriptor's options, so that the bench times what it runs.
struct optimisation_defaults {
  std::size_t iterations = 0;
  double learning_rate = 0, final_learning_rate = 0, noise_bound = 0;
};

optimisation_defaults read_defaults(const plugin_registry& plugins) {
  const plugin_info& info = plugins.require(plugin_kind::analysis, "interactions");
  auto text = [&](const std::string& name) -> std::string {
    for (const option_spec& o : info.options)
      if (name == o.name) return o.default_value;
    throw error("bench_interactions: plugin 'interactions' has no option '" + name + "'");
  };
  return {std::stoul(text("iterations")), std::stod(text("learning_rate")), std::stod(text("final_learning_rate")),
          std::stod(text("noise_bound"))};
}

// Seconds of the fast transforms on v: the plain split, and the default optimisation (best of up to 3 runs within
// 3 s: one run at n = 16).
struct fast_figures {
  double split_s = 0, optimisation_s = 0;
  std::size_t iterations = 0;
  double step_s() const { return optimisation_s / static_cast<double>(iterations); }
};

fast_figures time_fast(const std::vector<double>& v, const optimisation_defaults& d) {
  fast_figures f;
  f.iterations = d.iterations;
  f.split_s = best_seconds([&] { (void)hx::decompose_and_or(v, {}); }, 50, 0.5);
  const hx::sparsify_settings s =
      hx::relative_settings(v, d.iterations, d.learning_rate, d.final_learning_rate, d.noise_bound);
  f.optimisation_s = best_seconds([&] { (void)hx::decompose_and_or(v, s); }, 3, 3.0);
  return f;
}

double max_abs(const std::vector<double>& a) {
  double m = 0;
  for (const double x : a) m = std::max(m, std::abs(x));
  return m;
}

// max |a - b| / max |b|.
double relative_difference(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  const double scale = max_abs(b);
  return scale > 0 ? d / scale : d;
}

// The published code's transforms as dense 2^n x 2^n matrices (row-major, double), in GenScope's mask order and
// its conventions (harsanyi.hpp's and_or_split): I_and = A v_and with A[S][T] = (-1)^{|S|-|T|} for T subset of S,
// I_or = O v_or with O[S][N \ T] = -(-1)^{|S|-|T|}.
struct dense_transforms {
  std::size_t size = 0;
  std::vector<double> and_matrix, or_matrix;

  explicit dense_transforms(std::size_t n) : size(std::size_t{1} << n), and_matrix(size * size), or_matrix(size * size) {
    const std::size_t full = size - 1;
    for (std::size_t s = 0; s < size; ++s)
      for (std::size_t t = s;; t = (t - 1) & s) {  // every subset t of s
        const double sign = ((hx::order_of(s) - hx::order_of(t)) & 1) != 0 ? -1.0 : 1.0;
        and_matrix[s * size + t] = sign;
        or_matrix[s * size + (full ^ t)] = -sign;
        if (t == 0) break;
      }
  }

  // y = M x, or M^T x when `transposed`.
  std::vector<double> apply(const std::vector<double>& m, const std::vector<double>& x, bool transposed) const {
    std::vector<double> y(size);
    const auto n = static_cast<blasint>(size);
    cblas_dgemv(CblasRowMajor, transposed ? CblasTrans : CblasNoTrans, n, n, 1.0, m.data(), n, x.data(), 1, 0.0,
                y.data(), 1);
    return y;
  }
};

// Dense against fast at one n, on the set function v.
struct dense_figures {
  std::size_t n = 0;
  double matrix_mib = 0, build_s = 0, split_s = 0, step_s = 0;
  double split_difference = 0, gradient_difference = 0;  // relative to the largest |fast value|
  fast_figures fast;
};

dense_figures compare_dense(const std::vector<double>& v, std::size_t n, const fast_figures& fast) {
  dense_figures f;
  f.n = n;
  f.fast = fast;
  const std::size_t size = v.size(), full = size - 1;
  auto start = clock_type::now();
  const dense_transforms dense(n);
  f.build_s = seconds_since(start);
  f.matrix_mib = static_cast<double>(size * size * sizeof(double)) / (1024.0 * 1024.0);

  // The plain split: v_and = v_or = v / 2, one product per transform.
  std::vector<double> half(v);
  for (double& x : half) x *= 0.5;
  std::vector<double> dense_and, dense_or;
  f.split_s = best_seconds(
      [&] {
        dense_and = dense.apply(dense.and_matrix, half, false);
        dense_or = dense.apply(dense.or_matrix, half, false);
      },
      10, 2.0);
  const hx::and_or_split plain = hx::decompose_and_or(v, {});
  f.split_difference = std::max(relative_difference(dense_and, plain.and_effects),
                                relative_difference(dense_or, plain.or_effects));

  // One optimisation step's products: the two forward ones and the two transposed ones that carry the
  // subgradient sign(I) back to v_and and v_or (harsanyi.hpp does the latter by moebius_supersets).
  std::vector<double> sign_and(size, 0.0), sign_or(size, 0.0);
  for (std::size_t s = 1; s < size; ++s) {
    sign_and[s] = plain.and_effects[s] > 0 ? 1.0 : (plain.and_effects[s] < 0 ? -1.0 : 0.0);
    sign_or[s] = plain.or_effects[s] > 0 ? 1.0 : (plain.or_effects[s] < 0 ? -1.0 : 0.0);
  }
  std::vector<double> grad_and, grad_or;
  f.step_s = best_seconds(
      [&] {
        dense_and = dense.apply(dense.and_matrix, half, false);
        dense_or = dense.apply(dense.or_matrix, half, false);
        grad_and = dense.apply(dense.and_matrix, sign_and, true);
        grad_or = dense.apply(dense.or_matrix, sign_or, true);
      },
      10, 3.0);
  std::vector<double> fast_and(sign_and), fast_or_u(size);
  hx::moebius_supersets(fast_and);
  for (std::size_t s = 0; s < size; ++s) fast_or_u[s] = -sign_or[s];
  hx::moebius_supersets(fast_or_u);  // with respect to u(T) = v_or(N \ T)
  std::vector<double> fast_or(size);
  for (std::size_t t = 0; t < size; ++t) fast_or[t] = fast_or_u[full ^ t];
  f.gradient_difference =
      std::max(relative_difference(grad_and, fast_and), relative_difference(grad_or, fast_or));
  return f;
}

// "0.0123" style seconds, wide enough for the tables.
std::string seconds_text(double s) {
  char buffer[32];
  if (s < 1e-3) std::snprintf(buffer, sizeof buffer, "%.2e", s);
  else std::snprintf(buffer, sizeof buffer, "%.4f", s);
  return buffer;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string results_path = argc > 1 ? argv[1] : "results/quickstart.h5";
    print_bench_header("bench_interactions: AND-OR (Harsanyi) interactions between n input patches (analysis "
                       "'interactions'): seconds per sample, forward passes and transforms, vs dense transform matrices",
                       true);
    openblas_set_num_threads(all_threads());

    const plugin_registry plugins = plugin_registry::discover();
    const optimisation_defaults defaults = read_defaults(plugins);
    const quickstart_networks nets = load_quickstart_networks(plugins, results_path);
    const dataset data = quickstart_data(label_mode::real);
    warn_if_data_differs(results_path, {&data});

    std::vector<network_case> cases;
    cases.push_back({"mlp", "784-256-256-10, quick start, real labels", nets.real});
    const std::string lenet_onnx = resolve_model_file("data/cnn/real.onnx", results_path);
    if (std::filesystem::exists(lenet_onnx)) {
      option_set options;
      options.set("path", lenet_onnx);
      cases.push_back({"lenet5", "LeNet-5 (ONNX), trained, real labels", plugins.create_backend("native", options)});
    } else {
      std::printf("lenet5: %s not found: run experiments/cnn/train_cnn.py first (the CNN rows are left out)\n",
                  lenet_onnx.c_str());
    }
    const grid_size grids[] = {{3, 4}, {4, 4}};

    std::printf("\nOne sample per network (the plugin's choice for points = 1, seed 1; its label as the target), "
                "R x C patches of the 28 x 28 image.\n");
    std::printf("forward: the 2^n masked inputs in passes of %zu over all threads, network_backend::logits;\n"
                "split: decompose_and_or with iterations 0 (the plain half-half AND-OR split, 1 thread);\n"
                "Adam: the sparsifying optimisation with the plugin's defaults (%zu steps, lr %g, final lr %g, times "
                "max_S |v(x_S) - v(x_{})| / phi^n; noise %g times |v(x_N) - v(x_{})|), 1 thread.\n\n",
                masks_per_pass, defaults.iterations, defaults.learning_rate, defaults.final_learning_rate,
                defaults.noise_bound);
    std::printf("%-7s %3s %5s %8s %10s %11s %10s %11s %12s %10s  %s\n", "network", "n", "grid", "inputs", "forward s",
                "inputs/s", "split s", "Adam s/it", "all Adam s", "sum s", "forward vs plugin's v");
    std::vector<double> mlp_v12;  // the MLP's v at n = 12, for the dense comparison
    fast_figures mlp_fast12;
    for (const network_case& c : cases)
      for (const grid_size& grid : grids) {
        const std::size_t n = grid.n(), size = std::size_t{1} << n;
        // The plugin's own outputs with masked inputs at 0 and v = f_y, for checking the forward passes below.
        option_set check_options = plugin_options(grid, 0, true);
        check_options.set("baseline", std::string("zero"));
        check_options.set("output", std::string("logit"));
        const plugin_row check = run_plugin(plugins, *c.net, data, check_options, all_threads());
        const auto index = static_cast<std::size_t>(check.row.ints("index")[0]);
        const auto target = static_cast<std::size_t>(check.row.ints("target")[0]);
        const std::vector<std::uint32_t> variable = grid_variables(c.net->input_shape(), grid);
        std::vector<double> logits_v;
        const double forward_s = best_seconds(
            [&] { logits_v = masked_logits(*c.net, data.x.row(index), variable, n, target); }, 3, 4.0);
        const double forward_difference = relative_difference(logits_v, check.row.reals("outputs"));

        // The set function the plugin decomposes by default (log-odds, mean baseline).
        const plugin_row plain = run_plugin(plugins, *c.net, data, plugin_options(grid, 0, true), all_threads());
        const std::vector<double>& v = plain.row.reals("outputs");
        const fast_figures fast = time_fast(v, defaults);
        std::printf("%-7s %3zu %5s %8zu %10s %11.0f %10s %11s %12s %10s  max rel. diff %.1e%s\n", c.label.c_str(), n,
                    grid.text().c_str(), size, seconds_text(forward_s).c_str(), static_cast<double>(size) / forward_s,
                    seconds_text(fast.split_s).c_str(), seconds_text(fast.step_s()).c_str(),
                    seconds_text(fast.optimisation_s).c_str(),
                    seconds_text(forward_s + fast.split_s + fast.optimisation_s).c_str(), forward_difference,
                    forward_difference == 0 ? " (bit for bit)" : "");
        if (c.label == "mlp" && n == 12) {
          mlp_v12 = v;
          mlp_fast12 = fast;
        }
      }
    std::printf("forward vs plugin's v: the forward passes above (masked inputs 0, v = f_y) against the plugin's "
                "'outputs' (store_all, baseline \"zero\", output \"logit\"), relative to the largest |v|\n");

    std::printf("\nThe whole plugin, one row (one sample) through the analysis API, default options but the grid:\n\n");
    std::printf("%-7s %3s %5s %16s %16s %16s %9s\n", "network", "n", "grid", "iterations=0 s", "default 1 thr s",
                "default all s", "speedup");
    std::vector<std::pair<std::string, double>> n16_seconds;
    for (const network_case& c : cases)
      for (const grid_size& grid : grids) {
        const double plain_s = run_plugin(plugins, *c.net, data, plugin_options(grid, 0, false), all_threads()).seconds;
        const option_set default_options = plugin_options(grid, defaults.iterations, false);
        const double one = run_plugin(plugins, *c.net, data, default_options, 1).seconds;
        const double all = run_plugin(plugins, *c.net, data, default_options, all_threads()).seconds;
        std::printf("%-7s %3zu %5s %16s %16s %16s %8.2fx\n", c.label.c_str(), grid.n(), grid.text().c_str(),
                    seconds_text(plain_s).c_str(), seconds_text(one).c_str(), seconds_text(all).c_str(), one / all);
        if (grid.n() == 16) n16_seconds.emplace_back(c.label, all);
      }
    std::printf("(compute() of the row, best of up to 3 runs within 3 s: one run at n = 16; the optimisation is "
                "sequential, so only the forward passes gain from threads)\n");
    for (const auto& [label, seconds] : n16_seconds)
      std::printf("n = 16 on %d threads: %s: %.1f s per sample and model with the default options\n", all_threads(),
                  label.c_str(), seconds);

    // Dense matrices at n = 10 (the MLP on a 2 x 5 grid) and n = 12 (the MLP's v above).
    std::printf("\nDense 2^n x 2^n AND and OR matrices (as the published Python code builds them: (-1)^{|S|-|T|} for T "
                "subset of S; OR on complements), double, OpenBLAS dgemv on %d threads, against the fast transforms "
                "(1 thread), on the MLP's v:\n\n",
                all_threads());
    std::vector<dense_figures> dense;
    {
      const grid_size grid10{2, 5};
      const plugin_row row = run_plugin(plugins, *nets.real, data, plugin_options(grid10, 0, true), all_threads());
      const std::vector<double>& v10 = row.row.reals("outputs");
      dense.push_back(compare_dense(v10, grid10.n(), time_fast(v10, defaults)));
    }
    if (!mlp_v12.empty()) dense.push_back(compare_dense(mlp_v12, 12, mlp_fast12));
    std::printf("%3s %12s %9s | %12s %10s %11s %9s | %12s %11s %11s %9s | %10s %10s\n", "n", "matrix MiB", "build s",
                "dense split", "fast split", "fast/dense", "speed-up", "dense s/it", "fast s/it", "fast/dense",
                "speed-up", "diff split", "diff grad");
    bool agree = true;
    for (const dense_figures& d : dense) {
      std::printf("%3zu %5.0f (x 2) %9s | %12s %10s %11.2e %8.0fx | %12s %11s %11.2e %8.0fx | %10.1e %10.1e\n", d.n,
                  d.matrix_mib, seconds_text(d.build_s).c_str(), seconds_text(d.split_s).c_str(),
                  seconds_text(d.fast.split_s).c_str(), d.fast.split_s / d.split_s, d.split_s / d.fast.split_s,
                  seconds_text(d.step_s).c_str(), seconds_text(d.fast.step_s()).c_str(), d.fast.step_s() / d.step_s,
                  d.step_s / d.fast.step_s(), d.split_difference, d.gradient_difference);
      agree = agree && d.split_difference < dense_tolerance && d.gradient_difference < dense_tolerance;
    }
    std::printf(
        "matrix MiB: one matrix, 2^2n doubles (two are held: AND and OR); at n = 16 each would take 32 GiB.\n"
        "split: I_and = A v/2 and I_or = O v/2 (two dgemv) against decompose_and_or with iterations 0.\n"
        "s/it: one optimisation step's products, the two forward ones and the two transposed ones (A^T sign(I_and), "
        "O^T sign(I_or)), against one whole Adam step of decompose_and_or (transforms, objective and update; "
        "%zu steps timed; the dense step's elementwise work is not counted).\n"
        "diff: max |dense - fast| / max |fast|, on the interactions (split) and on the transposed products (grad); "
        "must be below %.0e.\n",
        defaults.iterations, dense_tolerance);
    for (const dense_figures& d : dense)
      if (d.n == 12) {
        for (const auto& [what, ratio] : {std::pair{"split", d.split_s / d.fast.split_s},
                                          std::pair{"optimisation step", d.step_s / d.fast.step_s()}})
          std::printf("target: the fast %s at least %.0fx faster than the dense matrices at n = 12: %.0fx %s\n", what,
                      target_dense_ratio, ratio, ratio >= target_dense_ratio ? "ok" : "below");
        std::printf("dense optimisation at n = 12, %zu steps: %.0f s of products alone (extrapolated from the step), "
                    "against %.2f s measured for the fast one\n",
                    defaults.iterations, d.step_s * static_cast<double>(defaults.iterations), d.fast.optimisation_s);
      }
    if (cpu_has_avx512() && !openblas_kernel_has_avx512())
      // OPENBLAS_CORETYPE (set in some environments) can force an AVX2 kernel.
      std::printf("note: OpenBLAS ran its %s kernel (no AVX-512) on a CPU with AVX-512, so the dense products are "
                  "slower than they could be; unset OPENBLAS_CORETYPE (or set SkylakeX) for its AVX-512 kernel\n",
                  openblas_get_corename());
    if (!agree) {
      std::fprintf(stderr, "bench_interactions: the dense and fast transforms disagree by more than %.0e\n",
                   dense_tolerance);
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_interactions: %s\n", e.what());
    return 1;
  }
}
