// Benchmark of exact k nearest neighbours on the full Fashion-MNIST training set: seconds, GFLOP/s of the
// float Gram tiles, exact-fallback fraction, 1 vs all threads, and a sample checked against a naive search.
#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/neighbours.hpp>

#include "neighbours/knn_statistics.hpp"

#include <tbb/global_control.h>
#include <tbb/info.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <random>
#include <string>
#include <utility>
#include <vector>


using namespace genscope;

namespace {

constexpr std::size_t k = 20;
constexpr std::size_t checked_queries = 200;
constexpr double target_seconds = 30.0;  // "well under a minute" on 2 cores; informational only

using clock_type = std::chrono::steady_clock;

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  if (!(in >> one >> five >> fifteen)) return "unknown";
  return one + " " + five + " " + fifteen;
}

struct run_result {
  knn_graph graph;
  double seconds = 0;
  detail::knn_statistics stats;
};

run_result timed(const dataset& data, bool same_label, int threads) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
  const auto before = detail::knn_statistics_total();
  const auto start = clock_type::now();
  run_result r;
  r.graph = nearest_neighbours(data.x, k, same_label ? &data.labels : nullptr);
  r.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  const auto after = detail::knn_statistics_total();
  r.stats.queries = after.queries - before.queries;
  r.stats.certified_queries = after.certified_queries - before.certified_queries;
  r.stats.fallback_queries = after.fallback_queries - before.fallback_queries;
  r.stats.direct_queries = after.direct_queries - before.direct_queries;
  r.stats.gemm_flops = after.gemm_flops - before.gemm_flops;
  return r;
}

// Rows of `g` that differ from a naive double search (same formula, sorted by (distance, index)).
std::size_t naive_mismatches(const dataset& data, const knn_graph& g, bool same_label,
                             const std::vector<std::size_t>& queries) {
  const std::size_t n = data.dim();
  std::size_t bad = 0;
  std::vector<std::pair<double, std::int64_t>> all;
  for (std::size_t i : queries) {
    all.clear();
    const float* a = data.x.row(i);
    for (std::size_t j = 0; j < data.size(); ++j) {
      if (j == i || (same_label && data.labels[j] != data.labels[i])) continue;
      const float* b = data.x.row(j);
      double s = 0.0;
      for (std::size_t c = 0; c < n; ++c) {
        const double d = static_cast<double>(a[c]) - static_cast<double>(b[c]);
        s += d * d;
      }
      all.emplace_back(std::sqrt(s), static_cast<std::int64_t>(j));
    }
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end());
    bool same = true;
    for (std::size_t r = 0; r < k; ++r)
      same = same && g.neighbours(i)[r] == all[r].second &&
             std::fabs(g.distances(i)[r] - all[r].first) <= 1e-13 * all[r].first;
    if (!same) {
      ++bad;
      std::printf("  mismatch at query %zu: first neighbour %lld (naive %lld)\n", i,
                  static_cast<long long>(g.neighbours(i)[0]), static_cast<long long>(all[0].second));
    }
  }
  return bad;
}

void print_run(const char* mode, int threads, const run_result& r) {
  const double q = static_cast<double>(std::max<std::uint64_t>(r.stats.queries, 1));
  std::printf("%-11s %7d %9.2f %9.1f %10.4f %9.4f %9.4f\n", mode, threads, r.seconds,
              r.stats.gemm_flops / r.seconds / 1e9, static_cast<double>(r.stats.fallback_queries) / q,
              static_cast<double>(r.stats.direct_queries) / q, static_cast<double>(r.stats.certified_queries) / q);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::printf("bench_knn: exact %zu nearest neighbours of the Fashion-MNIST training set\n", k);
    std::printf("load average at start: %s (1, 5, 15 min; figures are noisy above 0.5)\n", load_average().c_str());
    const int all_threads = tbb::info::default_concurrency();
    std::printf("threads: %d (TBB default concurrency)\n", all_threads);

    dataset_spec spec;
    spec.dir = default_fashion_mnist_dir;
    if (argc > 1) spec.subset = static_cast<std::size_t>(std::strtoull(argv[1], nullptr, 10));
    const auto load_start = clock_type::now();
    const dataset data = build_dataset(spec);
    std::printf("data: %zu x %zu from %s (%.2f s to load)\n", data.size(), data.dim(), spec.dir.c_str(),
                std::chrono::duration<double>(clock_type::now() - load_start).count());

    std::mt19937_64 rng(1);
    std::vector<std::size_t> queries(checked_queries);
    std::uniform_int_distribution<std::size_t> pick(0, data.size() - 1);
    for (auto& q : queries) q = pick(rng);

    std::printf("\n%-11s %7s %9s %9s %10s %9s %9s\n", "mode", "threads", "seconds", "GFLOP/s", "fallback",
                "direct", "certified");
    std::size_t failures = 0;
    double worst_all_threads = 0;
    for (bool same_label : {true, false}) {
      const char* mode = same_label ? "same-label" : "any-label";
      const run_result all = timed(data, same_label, all_threads);
      print_run(mode, all_threads, all);
      worst_all_threads = std::max(worst_all_threads, all.seconds);
      if (all_threads > 1) {
        const run_result one = timed(data, same_label, 1);
        print_run(mode, 1, one);
        std::printf("%-11s speed-up %.2f with %d threads; graphs %s\n", "", one.seconds / all.seconds, all_threads,
                    one.graph.index == all.graph.index && one.graph.distance == all.graph.distance
                        ? "identical"
                        : "DIFFER");
        failures += one.graph.index != all.graph.index || one.graph.distance != all.graph.distance;
      }
      const std::size_t bad = naive_mismatches(data, all.graph, same_label, queries);
      std::printf("%-11s naive check of %zu random queries: %zu mismatches\n", "", queries.size(), bad);
      failures += bad;
    }
    std::printf("\nslowest mode with %d threads: %.2f s (target: under %.0f s; informational)  %s\n", all_threads,
                worst_all_threads, target_seconds, worst_all_threads <= target_seconds ? "ok" : "below target");
    std::printf("GFLOP/s counts 2 n flops per float Gram entry computed (upper-triangle tiles of %s), over the\n"
                "whole call; fallback: rows whose float candidates the rounding bound could not certify, searched\n"
                "again in double; direct: rows searched in double from the start (small groups).\n",
                "each label group");
    if (failures != 0) {
      std::fprintf(stderr, "bench_knn: %zu disagreements with the naive search or between thread counts\n", failures);
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_knn: %s\n", describe(e).c_str());
    return 1;
  }
}
