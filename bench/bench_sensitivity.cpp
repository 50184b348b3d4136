// Benchmark of Novak et al.'s measurements: exact Jacobian rows/s against one backward product per point
// (OpenBLAS), and exact ellipse transitions/s against the sampled count at K = 1,000 (OpenBLAS, PyTorch).
#include "bench_support.hpp"

#include <genscope/analysis.hpp>
#include <genscope/mlp.hpp>

#include <tbb/blocked_range.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <numbers>
#include <numeric>
#include <string>
#include <vector>

using namespace genscope;
using namespace genscope::bench;

namespace {

constexpr std::uint64_t seed = 1;
constexpr std::int64_t jacobian_points = 1000;   // training points per network
constexpr std::int64_t ellipses = 40;            // same-label training triplets per network
constexpr std::size_t sampled_k = 1000;          // Novak et al.'s sampled points per ellipse
constexpr std::size_t rows_per_batch = 96;  // a multiple of the jacobian's fixed block of 24 points
constexpr int repeats = 3;
constexpr double budget_s = 20.0;

// Every row of table 0 of a prepared analysis, in batches over `threads` threads.
void compute_all(const analysis& a, const table_spec& spec, int threads) {
  const std::size_t n = a.row_count(0);
  const std::size_t batches = (n + rows_per_batch - 1) / rows_per_batch;
  std::vector<table_batch> parts(batches);
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, batches), [&](const tbb::blocked_range<std::size_t>& r) {
    for (std::size_t b = r.begin(); b != r.end(); ++b) {
      const std::size_t first = b * rows_per_batch;
      const std::size_t count = std::min(rows_per_batch, n - first);
      parts[b].reset(spec, count);
      a.compute(0, first, count, parts[b]);
    }
  });
}

// The weights of the native network as float64 and float32 row-major matrices (out x in), for OpenBLAS.
struct dense_weights {
  std::vector<std::size_t> in, out;
  std::vector<std::vector<double>> w, b;
  std::vector<std::vector<float>> wf, bf;
};

dense_weights weights_of(const piecewise_linear_graph& view) {
  dense_weights d;
  for (std::size_t k = 1; k < view.size(); ++k) {
    if (view.at(k).is_switch()) continue;
    const affine_operator& op = *view.at(k).affine;
    const std::size_t in = op.input_dim(0), out = op.output_dim();
    std::vector<double> w(out * in), b(out, 0.0);
    // Column j of W is the change of y when input unit j moves by one.
    op.add_bias(1, b.data());
    for (std::size_t j = 0; j < in; ++j) {
      std::vector<double> col(out, 0.0);
      op.add_column(0, j, 1.0, col.data());
      for (std::size_t i = 0; i < out; ++i) w[i * in + j] = col[i];
    }
    d.in.push_back(in);
    d.out.push_back(out);
    d.wf.emplace_back(w.begin(), w.end());
    d.bf.emplace_back(b.begin(), b.end());
    d.w.push_back(std::move(w));
    d.b.push_back(std::move(b));
  }
  return d;
}

// The floor of the Jacobian: for n points, a forward pass in float64 (the pattern) and one backward product
// (C rows per point through every layer, W^T products), as plain OpenBLAS dgemm without masks.
double backward_product_seconds(const dense_weights& net, const dataset& data, std::size_t n) {
  const std::size_t layers = net.w.size();
  const std::size_t classes = net.out.back();
  std::vector<double> x(n * net.in[0]);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < net.in[0]; ++j) x[i * net.in[0] + j] = data.x.row(i)[j];
  return best_seconds(
      [&] {
        std::vector<double> a = x, y;
        for (std::size_t k = 0; k < layers; ++k) {
          y.assign(n * net.out[k], 0.0);
          cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n), static_cast<int>(net.out[k]),
                      static_cast<int>(net.in[k]), 1.0, a.data(), static_cast<int>(net.in[k]), net.w[k].data(),
                      static_cast<int>(net.in[k]), 0.0, y.data(), static_cast<int>(net.out[k]));
          for (double& v : y) v = std::max(v, 0.0);
          a.swap(y);
        }
        std::vector<double> g(n * classes * classes, 0.0), h;
        for (std::size_t i = 0; i < n; ++i)
          for (std::size_t c = 0; c < classes; ++c) g[(i * classes + c) * classes + c] = 1.0;
        for (std::size_t k = layers; k-- > 0;) {
          h.assign(n * classes * net.in[k], 0.0);
          cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(n * classes),
                      static_cast<int>(net.in[k]), static_cast<int>(net.out[k]), 1.0, g.data(),
                      static_cast<int>(net.out[k]), net.w[k].data(), static_cast<int>(net.in[k]), 0.0, h.data(),
                      static_cast<int>(net.in[k]));
          g.swap(h);
        }
      },
      repeats, budget_s);
}

// Novak et al.'s sampled count at its fastest: K points of each ellipse through the network in float32 with
// OpenBLAS sgemm, patterns compared between consecutive points. Returns seconds; `total` the summed counts.
double sampled_count_seconds(const dense_weights& net, const std::vector<std::vector<float>>& points, std::size_t dim,
                             std::int64_t& total) {
  const std::size_t hidden = net.w.size() - 1;
  return best_seconds(
      [&] {
        total = 0;
        std::vector<float> x(sampled_k * dim), y;
        std::vector<std::vector<std::uint8_t>> pattern(hidden);
        for (std::size_t e = 0; e + 2 < points.size(); e += 3) {
          const float *p0 = points[e].data(), *p1 = points[e + 1].data(), *p2 = points[e + 2].data();
          for (std::size_t i = 0; i < sampled_k; ++i) {
            const double phi = 2 * std::numbers::pi * static_cast<double>(i) / sampled_k;
            const float cs = static_cast<float>(std::cos(phi)), sn = static_cast<float>(std::sin(phi));
            for (std::size_t j = 0; j < dim; ++j) {
              const float c = (p0[j] + p1[j] + p2[j]) / 3, u = (2 * p0[j] - p1[j] - p2[j]) / 3,
                          v = (p1[j] - p2[j]) / std::sqrt(3.0f);
              x[i * dim + j] = c + u * cs + v * sn;
            }
          }
          std::vector<float> a = x;
          for (std::size_t k = 0; k < hidden; ++k) {
            const std::size_t w = net.out[k];
            y.resize(sampled_k * w);
            for (std::size_t i = 0; i < sampled_k; ++i) std::copy(net.bf[k].begin(), net.bf[k].end(), y.begin() + static_cast<std::ptrdiff_t>(i * w));
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(sampled_k), static_cast<int>(w),
                        static_cast<int>(net.in[k]), 1.0f, a.data(), static_cast<int>(net.in[k]), net.wf[k].data(),
                        static_cast<int>(net.in[k]), 1.0f, y.data(), static_cast<int>(w));
            pattern[k].resize(sampled_k * w);
            for (std::size_t i = 0; i < sampled_k * w; ++i) {
              pattern[k][i] = y[i] > 0;
              y[i] = std::max(y[i], 0.0f);
            }
            a.swap(y);
          }
          for (std::size_t k = 0; k < hidden; ++k)
            for (std::size_t i = 0; i < sampled_k; ++i) {
              const std::uint8_t* p = pattern[k].data() + i * net.out[k];
              const std::uint8_t* q = pattern[k].data() + ((i + 1) % sampled_k) * net.out[k];
              for (std::size_t j = 0; j < net.out[k]; ++j) total += p[j] != q[j];
            }
        }
      },
      repeats, budget_s);
}

std::shared_ptr<analysis> make_analysis(const plugin_registry& plugins, const std::string& name,
                                        const option_set& options, const network_backend& net, const dataset& data) {
  auto a = plugins.create_analysis(name, options);
  a->prepare(net, {&data}, seed);
  return a;
}

double mean_of(const std::vector<std::int64_t>& v) {
  return v.empty() ? 0.0 : static_cast<double>(std::accumulate(v.begin(), v.end(), std::int64_t{0})) / static_cast<double>(v.size());
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string results_path = argc > 1 ? argv[1] : "results/quickstart.h5";
    print_bench_header("bench_sensitivity: exact Jacobians and ellipse transitions (Novak et al. 2018)", true);
    openblas_set_num_threads(1);  // the comparisons below are per core; the analyses run on TBB threads
    const plugin_registry plugins = plugin_registry::discover();
    const quickstart_networks nets = load_quickstart_networks(plugins, results_path);
    const dataset real_data = quickstart_data(label_mode::real, seed);
    const dataset random_data = quickstart_data(label_mode::random, seed);
    warn_if_data_differs(results_path, {&real_data, &random_data});

    std::printf("\nJacobian (analysis jacobian): %lld training points per network, 784-256-256-10\n",
                static_cast<long long>(jacobian_points));
    std::printf("%-8s %14s %14s %16s %12s\n", "network", "rows/s 1 thr", "rows/s all", "backward rows/s", "ratio");
    for (const auto& [name, net, data] : {std::tuple{"real", nets.real, &real_data}, std::tuple{"random", nets.random, &random_data}}) {
      option_set o;
      o.set("points", jacobian_points);
      const auto a = make_analysis(plugins, "jacobian", o, *net, *data);
      const table_spec spec = a->tables().front();
      const double one = best_seconds([&] { compute_all(*a, spec, 1); }, repeats, budget_s);
      const double all = best_seconds([&] { compute_all(*a, spec, all_threads()); }, repeats, budget_s);
      const double floor = backward_product_seconds(weights_of(*net->piecewise_linear()), *data,
                                                    static_cast<std::size_t>(jacobian_points));
      const double n = static_cast<double>(jacobian_points);
      std::printf("%-8s %14.0f %14.0f %16.0f %11.2fx\n", name, n / one, n / all, n / floor, one / floor);
    }
    std::printf("ratio: one thread's time per point over one float64 forward pass plus one backward product of the C\n"
                "logit rows through every layer (OpenBLAS dgemm, 1 thread, batched over all points, no masks): the\n"
                "target is about 1x (the cost of one backward product per point, no more)\n");

    std::printf("\nTransitions (analysis transitions): %lld same-label training ellipses per network, sampled count at K = %zu\n",
                static_cast<long long>(ellipses), sampled_k);
    std::printf("%-8s %10s %10s %12s %14s %14s %8s\n", "network", "exact/s", "flips", "sampled", "K=1000 f32/s",
                "K=1000 f64/s", "speedup");
    for (const auto& [name, net, data] : {std::tuple{"real", nets.real, &real_data}, std::tuple{"random", nets.random, &random_data}}) {
      option_set o;
      o.set("triplets", ellipses);
      o.set("K", std::int64_t{0});
      const auto exact = make_analysis(plugins, "transitions", o, *net, *data);
      const table_spec spec = exact->tables().front();
      table_batch rows;
      const double exact_s = best_seconds([&] { compute_all(*exact, spec, 1); }, repeats, budget_s);
      rows.reset(spec, static_cast<std::size_t>(ellipses));
      exact->compute(0, 0, static_cast<std::size_t>(ellipses), rows);
      o.set("K", static_cast<std::int64_t>(sampled_k));
      const auto both = make_analysis(plugins, "transitions", o, *net, *data);
      const double both_s = best_seconds([&] { compute_all(*both, spec, 1); }, repeats, budget_s);
      table_batch sampled_rows;
      sampled_rows.reset(spec, static_cast<std::size_t>(ellipses));
      both->compute(0, 0, static_cast<std::size_t>(ellipses), sampled_rows);
      std::vector<std::vector<float>> points;
      const auto& idx = rows.ints("points");
      for (std::int64_t i : idx) points.emplace_back(data->x.row(static_cast<std::size_t>(i)), data->x.row(static_cast<std::size_t>(i)) + data->dim());
      std::int64_t f32_total = 0;
      const double f32_s = sampled_count_seconds(weights_of(*net->piecewise_linear()), points, data->dim(), f32_total);
      const double n = static_cast<double>(ellipses);
      const double f64_s = both_s - exact_s;
      std::printf("%-8s %10.1f %10.1f %12.1f %14.1f %14.1f %7.2fx\n", name, n / exact_s, mean_of(rows.ints("unit_flips")),
                  mean_of(sampled_rows.ints("sampled")), n / f32_s, f64_s > 0 ? n / f64_s : 0.0, f32_s / exact_s);
      std::printf("         sampled (float32, OpenBLAS) mean %.1f; ellipses where the sampled count < exact unit flips: %lld of %lld\n",
                  static_cast<double>(f32_total) / n,
                  static_cast<long long>([&] {
                    std::int64_t c = 0;
                    for (std::size_t i = 0; i < static_cast<std::size_t>(ellipses); ++i)
                      c += sampled_rows.ints("sampled")[i] < sampled_rows.ints("unit_flips")[i];
                    return c;
                  }()),
                  static_cast<long long>(ellipses));
    }
    std::printf("exact/s: ellipses walked exactly per second (1 thread); flips: mean exact unit flips per ellipse;\n"
                "sampled: mean of Novak et al.'s count at K = %zu; K=1000 f32/s: that count with OpenBLAS sgemm (1\n"
                "thread), the fastest way to sample; f64/s: the plugin's own float64 sampled count; speedup: exact walk\n"
                "over the float32 sampled count (target: > 1, the exact walk is faster than the sampling it replaces)\n",
                sampled_k);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_sensitivity: %s\n", e.what());
    return 1;
  }
}
