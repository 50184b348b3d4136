// Tests of the exact k nearest neighbours (genscope/neighbours.hpp) against a naive O(N^2) search in double.
#include <genscope/dataset.hpp>
#include <genscope/error.hpp>
#include <genscope/matrix.hpp>
#include <genscope/neighbours.hpp>

#include "neighbours/knn_statistics.hpp"

#include <catch2/catch.hpp>

#include <tbb/global_control.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>


namespace {

using genscope::knn_graph;
using genscope::matrix;

// The oracle: for each row, every other row (of the same label when labels are given), distance
// sqrt(sum(((double)a - (double)b)^2)) in column order, sorted by (distance, index), first k.
knn_graph naive_knn(const matrix& x, std::size_t k, const std::vector<std::int32_t>* labels) {
  knn_graph g;
  g.k = k;
  g.same_label = labels != nullptr;
  const std::size_t n = x.cols;
  for (std::size_t i = 0; i < x.rows; ++i) {
    std::vector<std::pair<double, std::int64_t>> all;
    for (std::size_t j = 0; j < x.rows; ++j) {
      if (j == i || (labels != nullptr && (*labels)[j] != (*labels)[i])) continue;
      double s = 0.0;
      for (std::size_t c = 0; c < n; ++c) {
        const double d = static_cast<double>(x(i, c)) - static_cast<double>(x(j, c));
        s += d * d;
      }
      all.emplace_back(std::sqrt(s), static_cast<std::int64_t>(j));
    }
    std::sort(all.begin(), all.end());
    REQUIRE(all.size() >= k);
    for (std::size_t r = 0; r < k; ++r) {
      g.index.push_back(all[r].second);
      g.distance.push_back(all[r].first);
    }
  }
  return g;
}

void check_equal(const knn_graph& got, const knn_graph& want) {
  REQUIRE(got.k == want.k);
  REQUIRE(got.same_label == want.same_label);
  REQUIRE(got.index.size() == want.index.size());
  REQUIRE(got.distance.size() == want.distance.size());
  std::size_t index_mismatch = 0, distance_mismatch = 0;
  for (std::size_t e = 0; e < want.index.size(); ++e) {
    index_mismatch += got.index[e] != want.index[e];
    // Same formula in the same order: equal up to the compiler's choice of FMA contraction.
    distance_mismatch += !(std::fabs(got.distance[e] - want.distance[e]) <= 1e-13 * want.distance[e]);
  }
  CHECK(index_mismatch == 0);
  CHECK(distance_mismatch == 0);
}

matrix random_matrix(std::size_t rows, std::size_t cols, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  matrix x(rows, cols);
  for (float& v : x.data) v = normal(rng);
  return x;
}

std::vector<std::int32_t> random_labels(std::size_t rows, std::int32_t classes, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int32_t> pick(0, classes - 1);
  std::vector<std::int32_t> labels(rows);
  for (auto& l : labels) l = pick(rng);
  return labels;
}

matrix grid_matrix(std::size_t rows, std::size_t cols, int levels, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> pick(0, levels - 1);
  matrix x(rows, cols);
  for (float& v : x.data) v = static_cast<float>(pick(rng));
  return x;
}

genscope::detail::knn_statistics stats() { return genscope::detail::knn_statistics_total(); }

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const genscope::error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("nearest neighbours equal a naive double search on random data", "[knn]") {
  struct config {
    std::size_t rows, cols, k;
  };
  const std::vector<config> configs = {{40, 3, 1},    {90, 5, 4},    {300, 1, 3},   {300, 2, 20},
                                       {700, 17, 5},  {600, 64, 1},  {1100, 8, 10}, {1300, 33, 20}};
  std::uint64_t seed = 11;
  for (const auto& cfg : configs) {
    CAPTURE(cfg.rows, cfg.cols, cfg.k);
    const matrix x = random_matrix(cfg.rows, cfg.cols, seed++);
    const auto before = stats();
    const knn_graph got = genscope::nearest_neighbours(x, cfg.k);
    const auto after = stats();
    CHECK(got.size() == cfg.rows);
    CHECK(after.queries - before.queries == cfg.rows);
    check_equal(got, naive_knn(x, cfg.k, nullptr));
    if (cfg.rows >= 300 && cfg.cols >= 2) CHECK(after.certified_queries > before.certified_queries);
  }
}

TEST_CASE("same-label neighbours equal a naive search restricted to each label", "[knn]") {
  struct config {
    std::size_t rows, cols, k;
    std::int32_t classes;
  };
  const std::vector<config> configs = {{200, 4, 3, 5}, {1500, 12, 7, 3}, {2000, 20, 20, 4}};
  std::uint64_t seed = 101;
  for (const auto& cfg : configs) {
    CAPTURE(cfg.rows, cfg.cols, cfg.k, cfg.classes);
    const matrix x = random_matrix(cfg.rows, cfg.cols, seed++);
    const auto labels = random_labels(cfg.rows, cfg.classes, seed++);
    const auto before = stats();
    const knn_graph got = genscope::nearest_neighbours(x, cfg.k, &labels);
    const auto after = stats();
    check_equal(got, naive_knn(x, cfg.k, &labels));
    for (std::size_t i = 0; i < got.size(); ++i)
      for (std::size_t r = 0; r < cfg.k; ++r)
        CHECK(labels[static_cast<std::size_t>(got.neighbours(i)[r])] == labels[i]);
    if (cfg.rows >= 1500) CHECK(after.certified_queries > before.certified_queries);
  }
  // Labels need not be 0..C-1: negative and sparse values group the same way.
  const matrix x = random_matrix(400, 6, 7);
  auto labels = random_labels(400, 2, 8);
  for (auto& l : labels) l = l == 0 ? -5 : 1000;
  check_equal(genscope::nearest_neighbours(x, 4, &labels), naive_knn(x, 4, &labels));
}

TEST_CASE("exact ties on an integer grid are broken by the smaller index", "[knn]") {
  // Small integer coordinates: float products are exact, so equal distances are common and exact.
  const matrix dense = grid_matrix(600, 3, 5, 21);      // 125 cells: many duplicates and ties
  const matrix sparse = grid_matrix(1500, 6, 4, 22);    // 4096 cells: some duplicates, many ties
  const matrix line = grid_matrix(500, 1, 40, 23);      // one dimension: ties on both sides of a point
  for (const matrix* x : {&dense, &sparse, &line}) {
    for (std::size_t k : {1, 6, 20}) {
      CAPTURE(x->rows, x->cols, k);
      check_equal(genscope::nearest_neighbours(*x, k), naive_knn(*x, k, nullptr));
      const auto labels = random_labels(x->rows, 3, 24);
      check_equal(genscope::nearest_neighbours(*x, k, &labels), naive_knn(*x, k, &labels));
    }
  }
  // The tie-break is visible: in the dense grid some row has two neighbours at equal distance.
  const knn_graph g = genscope::nearest_neighbours(dense, 20);
  bool tie_seen = false;
  for (std::size_t i = 0; i < g.size(); ++i)
    for (std::size_t r = 1; r < g.k; ++r)
      if (g.distances(i)[r] == g.distances(i)[r - 1]) {
        tie_seen = true;
        CHECK(g.neighbours(i)[r] > g.neighbours(i)[r - 1]);
      }
  CHECK(tie_seen);
}

TEST_CASE("duplicated points are neighbours at distance 0, never the sample itself", "[knn]") {
  matrix x = random_matrix(500, 10, 31);
  // Rows 7, 100, 250, 499 are copies of row 3; rows 20 and 21 copy row 400.
  for (std::size_t dst : {7, 100, 250, 499}) std::copy_n(x.row(3), x.cols, x.row(dst));
  for (std::size_t dst : {20, 21}) std::copy_n(x.row(400), x.cols, x.row(dst));
  const knn_graph g = genscope::nearest_neighbours(x, 5);
  check_equal(g, naive_knn(x, 5, nullptr));
  const std::vector<std::int64_t> of3 = {7, 100, 250, 499};
  CHECK(std::vector<std::int64_t>(g.neighbours(3), g.neighbours(3) + 4) == of3);
  CHECK(std::vector<std::int64_t>(g.neighbours(250), g.neighbours(250) + 4) == std::vector<std::int64_t>{3, 7, 100, 499});
  for (std::size_t r = 0; r < 4; ++r) CHECK(g.distances(3)[r] == 0.0);
  CHECK(g.distances(3)[4] > 0.0);
  CHECK(std::vector<std::int64_t>(g.neighbours(400), g.neighbours(400) + 2) == std::vector<std::int64_t>{20, 21});
  for (std::size_t i = 0; i < g.size(); ++i)
    for (std::size_t r = 0; r < g.k; ++r) CHECK(g.neighbours(i)[r] != static_cast<std::int64_t>(i));
}

TEST_CASE("the exact fallback settles rows the float bound cannot certify, and stays exact", "[knn]") {
  // Every coordinate near 4096, where a float ulp is 2^-11: norms^2 ~ 1.3e8 make the float dot
  // products' rounding bound (~1e3) dwarf squared distances (~1e-3), so no row can be certified.
  std::mt19937_64 rng(41);
  std::uniform_int_distribution<int> offset(0, 30);
  matrix x(400, 8);
  for (float& v : x.data) v = 4096.0f + static_cast<float>(offset(rng)) * 0x1p-11f;
  const auto before = stats();
  const knn_graph g = genscope::nearest_neighbours(x, 5);
  const auto after = stats();
  check_equal(g, naive_knn(x, 5, nullptr));
  CHECK(after.fallback_queries - before.fallback_queries == 400);
  CHECK(after.certified_queries == before.certified_queries);

  // The same shape with labels: each label group falls back on its own.
  const auto labels = random_labels(400, 2, 42);
  const auto before_labels = stats();
  check_equal(genscope::nearest_neighbours(x, 5, &labels), naive_knn(x, 5, &labels));
  CHECK(stats().fallback_queries - before_labels.fallback_queries == 400);

  // Mixed: a cloud of ordinary points far from a cluster of near-duplicates; only some rows fall back.
  matrix mixed = random_matrix(600, 8, 43);
  for (std::size_t i = 0; i < 200; ++i)
    for (std::size_t c = 0; c < mixed.cols; ++c) mixed(i, c) = 50.0f + static_cast<float>(offset(rng)) * 1e-6f;
  const auto before_mixed = stats();
  check_equal(genscope::nearest_neighbours(mixed, 8), naive_knn(mixed, 8, nullptr));
  const auto after_mixed = stats();
  CHECK(after_mixed.fallback_queries > before_mixed.fallback_queries);
  CHECK(after_mixed.certified_queries > before_mixed.certified_queries);

  // Entries too large for float squares are searched exactly in double from the start.
  matrix huge = random_matrix(300, 4, 44);
  for (float& v : huge.data) v *= 1e30f;
  const auto before_huge = stats();
  check_equal(genscope::nearest_neighbours(huge, 3), naive_knn(huge, 3, nullptr));
  CHECK(stats().direct_queries - before_huge.direct_queries == 300);
}

TEST_CASE("the graph does not depend on the thread count", "[knn]") {
  const matrix x = random_matrix(2500, 24, 51);
  const auto labels = random_labels(2500, 3, 52);
  const matrix grid = grid_matrix(1500, 5, 4, 53);
  std::vector<knn_graph> one, two;
  for (int threads : {1, 2}) {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
    auto& out = threads == 1 ? one : two;
    out.push_back(genscope::nearest_neighbours(x, 15));
    out.push_back(genscope::nearest_neighbours(x, 15, &labels));
    out.push_back(genscope::nearest_neighbours(grid, 10));
  }
  for (std::size_t t = 0; t < one.size(); ++t) {
    CAPTURE(t);
    CHECK(one[t].index == two[t].index);
    CHECK(one[t].distance == two[t].distance);
  }
  check_equal(one[0], naive_knn(x, 15, nullptr));
}

TEST_CASE("shared neighbours are cached per (sha256, k, same_label)", "[knn]") {
  genscope::dataset data;
  data.name = "cached";
  data.shape = {6};
  data.x = random_matrix(300, 6, 61);
  data.labels = random_labels(300, 3, 62);
  data.sha256 = "test-knn-cache-61";

  const auto a = genscope::shared_nearest_neighbours(data, 5, false);
  const auto b = genscope::shared_nearest_neighbours(data, 5, false);
  CHECK(a.get() == b.get());
  check_equal(*a, naive_knn(data.x, 5, nullptr));

  auto other_k = genscope::shared_nearest_neighbours(data, 6, false);
  const auto labelled = genscope::shared_nearest_neighbours(data, 5, true);
  CHECK(other_k.get() != a.get());
  CHECK(labelled.get() != a.get());
  CHECK(other_k->k == 6);
  CHECK(labelled->same_label);
  check_equal(*labelled, naive_knn(data.x, 5, &data.labels));
  CHECK(genscope::shared_nearest_neighbours(data, 5, true).get() == labelled.get());

  // Another data set (another hash) gets its own graph.
  genscope::dataset other = data;
  other.sha256 = "test-knn-cache-62";
  other.x = random_matrix(300, 6, 63);
  const auto c = genscope::shared_nearest_neighbours(other, 5, false);
  CHECK(c.get() != a.get());
  check_equal(*c, naive_knn(other.x, 5, nullptr));

  // Without a hash nothing is cached.
  genscope::dataset unhashed = data;
  unhashed.sha256.clear();
  const auto u1 = genscope::shared_nearest_neighbours(unhashed, 5, false);
  const auto u2 = genscope::shared_nearest_neighbours(unhashed, 5, false);
  CHECK(u1.get() != u2.get());
  CHECK(u1.get() != a.get());
  CHECK(u1->index == a->index);

  // Once every holder lets go, the graph is freed and a later call computes it again.
  std::weak_ptr<const knn_graph> watch = other_k;
  const knn_graph copy = *other_k;
  other_k.reset();
  CHECK(watch.expired());
  const auto again = genscope::shared_nearest_neighbours(data, 6, false);
  CHECK(again->index == copy.index);
}

TEST_CASE("nearest_neighbours rejects k = 0", "[knn][negative]") {
  const matrix x = random_matrix(10, 2, 71);
  const std::string what = error_of([&] { genscope::nearest_neighbours(x, 0); });
  CHECK_THAT(what, Catch::Contains("k must be at least 1"));
}

TEST_CASE("nearest_neighbours names the row holding a non-finite value", "[knn][negative]") {
  matrix x = random_matrix(100, 3, 72);
  x(17, 2) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THAT(error_of([&] { genscope::nearest_neighbours(x, 2); }), Catch::Contains("row 17"));
  x(17, 2) = 0.0f;
  x(42, 0) = -std::numeric_limits<float>::infinity();
  CHECK_THAT(error_of([&] { genscope::nearest_neighbours(x, 2); }), Catch::Contains("row 42"));
  CHECK_THAT(error_of([&] { genscope::nearest_neighbours(x, 2); }), Catch::Contains("non-finite"));
}

TEST_CASE("nearest_neighbours rejects labels of the wrong size", "[knn][negative]") {
  const matrix x = random_matrix(10, 2, 73);
  const std::vector<std::int32_t> labels(9, 0);
  CHECK_THAT(error_of([&] { genscope::nearest_neighbours(x, 2, &labels); }),
             Catch::Contains("labels has 9 entries but x has 10 rows"));
}

TEST_CASE("nearest_neighbours rejects a label with fewer than k + 1 samples", "[knn][negative]") {
  const matrix x = random_matrix(60, 2, 74);
  std::vector<std::int32_t> labels(60, 0);
  for (std::size_t i = 0; i < 5; ++i) labels[10 * i] = 3;
  CHECK_THAT(error_of([&] { genscope::nearest_neighbours(x, 20, &labels); }),
             Catch::Contains("label 3 has 5 samples; k = 20 needs at least 21"));
  // k = 4 is just enough for label 3 (5 samples: each has 4 others).
  check_equal(genscope::nearest_neighbours(x, 4, &labels), naive_knn(x, 4, &labels));
  CHECK_THAT(error_of([&] { genscope::nearest_neighbours(x, 5, &labels); }),
             Catch::Contains("label 3 has 5 samples; k = 5 needs at least 6"));
}

TEST_CASE("nearest_neighbours rejects a data set with fewer than k + 1 samples", "[knn][negative]") {
  const matrix x = random_matrix(5, 2, 75);
  CHECK_THAT(error_of([&] { genscope::nearest_neighbours(x, 20); }),
             Catch::Contains("the data set has 5 samples; k = 20 needs at least 21"));
  CHECK_THAT(error_of([&] { genscope::nearest_neighbours(matrix{}, 1); }),
             Catch::Contains("the data set has 0 samples"));
  check_equal(genscope::nearest_neighbours(x, 4), naive_knn(x, 4, nullptr));
}

TEST_CASE("nearest_neighbours rejects a matrix whose storage disagrees with its shape", "[knn][negative]") {
  matrix x = random_matrix(10, 3, 76);
  x.data.pop_back();
  CHECK_THAT(error_of([&] { genscope::nearest_neighbours(x, 2); }), Catch::Contains("x is 10 x 3 but holds 29 values"));
}

TEST_CASE("shared_nearest_neighbours passes errors through", "[knn][negative]") {
  genscope::dataset data;
  data.x = random_matrix(10, 2, 77);
  data.labels.assign(9, 0);
  data.sha256 = "test-knn-cache-77";
  CHECK_THAT(error_of([&] { genscope::shared_nearest_neighbours(data, 2, true); }),
             Catch::Contains("labels has 9 entries"));
  CHECK_THAT(error_of([&] { genscope::shared_nearest_neighbours(data, 0, false); }),
             Catch::Contains("k must be at least 1"));
}
