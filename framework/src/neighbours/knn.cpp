// Exact k nearest neighbours: float32 Gram tiles (Eigen GEMM, oneTBB) propose candidates, double
// arithmetic and a rigorous rounding bound certify them, and an exact double search settles the rest.
//
// For a query a and another sample b, the float path orders samples by the key
//   key(b) = fl(|b|^2) - 2 fl(a.b)   (float; |a|^2 is the same for every b and drops out),
// keeping per query the c = k + slack smallest keys. Each key is within E of its exact value
// K(b) = |b|^2 - 2 a.b, where (u = 2^-24, gamma_m = m u / (1 - m u), B = the largest norm in the group)
//   |fl(a.b) - a.b| <= gamma_n |a| |b|              (any summation order, FMA or not; Higham eq. 3.5)
//   |fl(|b|^2) - |b|^2| <= ~u |b|^2, and the final subtraction adds u |key|, so that
//   E <= gamma_{n+2} (B^2 + 2 |a| B)                  (doubled below for safety, plus an underflow term).
// Every non-candidate has key >= T (the largest kept key), hence squared distance >= |a|^2 + T - E.
// The candidates' exact distances are recomputed in double (the naive formula) and sorted by
// (distance, index); when that lower bound exceeds the k-th squared distance by a relative margin
// that survives the double rounding of both sums and of the square root, no non-candidate can be
// closer than the k-th chosen or tie with it, and the selection equals the naive search. Otherwise
// the query is searched again exactly in double. The output is therefore always the naive answer,
// whatever the thread count or the order in which tiles were processed.
#include <genscope/error.hpp>
#include <genscope/neighbours.hpp>

#include "neighbours/knn_statistics.hpp"

// GCC 12 flags _mm512_undefined_ps() inside Eigen's AVX-512 packet code as
// maybe-uninitialized; the value is a don't-care operand, never read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop
#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace genscope {
namespace {

std::atomic<std::uint64_t> stat_queries{0};
std::atomic<std::uint64_t> stat_certified{0};
std::atomic<std::uint64_t> stat_fallback{0};
std::atomic<std::uint64_t> stat_direct{0};
std::atomic<std::uint64_t> stat_gemm_flops{0};

constexpr double unit_float = 0x1p-24;   // unit roundoff of float32
constexpr double unit_double = 0x1p-53;  // unit roundoff of double
constexpr std::size_t tile = 256;        // rows per Gram tile side
constexpr std::size_t slack = 12;        // candidates kept beyond k
// Entries beyond this magnitude could overflow float squares (n * 2^100 stays far below 2^128 for any
// realistic n); such data are searched exactly in double.
constexpr double max_float_entry = 0x1p50;

double gamma(double m, double u) {
  const double mu = m * u;
  return mu < 0.5 ? mu / (1.0 - mu) : std::numeric_limits<double>::infinity();
}

using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using const_row_map = Eigen::Map<const row_matrix>;

struct candidate {
  float key;
  std::int32_t index;  // local index in the group
};

inline bool key_less(const candidate& a, const candidate& b) noexcept {
  return a.key < b.key || (a.key == b.key && a.index < b.index);
}

struct neighbour {
  double distance;
  double squared;
  std::int64_t index;  // global
};

inline bool neighbour_less(const neighbour& a, const neighbour& b) noexcept {
  return a.distance < b.distance || (a.distance == b.distance && a.index < b.index);
}

/// The naive formula: sum over columns in order of ((double)a - (double)b)^2. Each step is an
/// explicit fused multiply-add, so that this scalar loop and the vectorized lanes below round
/// identically (left to itself, the compiler contracts one and not the other, and a distance would
/// then depend on where its candidate sat in a list, i.e. on the thread schedule).
inline double exact_squared(const float* a, const float* b, std::size_t n) noexcept {
  double s = 0.0;
  for (std::size_t c = 0; c < n; ++c) {
    const double d = static_cast<double>(a[c]) - static_cast<double>(b[c]);
    s = std::fma(d, d, s);
  }
  return s;
}

/// exact_squared(a, b[l], n) for l < lanes: independent sequential sums, interleaved so that their
/// additions overlap (each sum is still formed column by column, exactly as exact_squared does).
template <std::size_t lanes>
inline void exact_squared_lanes(const float* a, const float* const* b, std::size_t n, double* out) noexcept {
  double s[lanes] = {};
  for (std::size_t c = 0; c < n; ++c) {
    const double ac = static_cast<double>(a[c]);
    for (std::size_t l = 0; l < lanes; ++l) {
      const double d = ac - static_cast<double>(b[l][c]);
      s[l] = std::fma(d, d, s[l]);
    }
  }
  for (std::size_t l = 0; l < lanes; ++l) out[l] = s[l];
}

/// One group of samples searched among themselves (a label, or the whole data set).
struct group_view {
  const float* x = nullptr;            // m x n row-major (the group's rows, contiguous)
  std::size_t m = 0;
  std::size_t n = 0;
  const std::int64_t* global = nullptr;  // m global indices, ascending
};

void write_result(const std::vector<neighbour>& sorted, std::size_t k, std::int64_t* index, double* distance) {
  for (std::size_t r = 0; r < k; ++r) {
    index[r] = sorted[r].index;
    distance[r] = sorted[r].distance;
  }
}

/// Exact search of local query i among the group in double.
void exact_query(const group_view& g, std::size_t i, std::size_t k, std::vector<neighbour>& scratch,
                 std::int64_t* index, double* distance) {
  scratch.clear();
  const float* a = g.x + i * g.n;
  constexpr std::size_t lanes = 8;
  std::size_t j = 0;
  while (j < g.m) {
    const float* rows[lanes];
    std::size_t which[lanes];
    std::size_t filled = 0;
    for (; j < g.m && filled < lanes; ++j)
      if (j != i) {
        which[filled] = j;
        rows[filled++] = g.x + j * g.n;
      }
    double sq[lanes];
    if (filled == lanes) {
      exact_squared_lanes<lanes>(a, rows, g.n, sq);
    } else {
      for (std::size_t l = 0; l < filled; ++l) sq[l] = exact_squared(a, rows[l], g.n);
    }
    for (std::size_t l = 0; l < filled; ++l) scratch.push_back({std::sqrt(sq[l]), sq[l], g.global[which[l]]});
  }
  std::partial_sort(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(k), scratch.end(),
                    neighbour_less);
  write_result(scratch, k, index, distance);
}

void exact_group(const group_view& g, std::size_t k, knn_graph& out) {
  tbb::enumerable_thread_specific<std::vector<neighbour>> scratch;
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, g.m, 16), [&](const tbb::blocked_range<std::size_t>& r) {
    auto& s = scratch.local();
    for (std::size_t i = r.begin(); i != r.end(); ++i) {
      const auto gi = static_cast<std::size_t>(g.global[i]);
      exact_query(g, i, k, s, out.index.data() + gi * k, out.distance.data() + gi * k);
    }
  });
  stat_direct.fetch_add(g.m, std::memory_order_relaxed);
  stat_queries.fetch_add(g.m, std::memory_order_relaxed);
}

/// Candidate lists of all queries of a group: per query up to 2c entries; compacted to the c smallest
/// (key, index) whenever full. thr[i] is the largest kept key after the last compaction (+inf before).
class candidate_lists {
 public:
  candidate_lists(std::size_t m, std::size_t c)
      : c_(c), cap_(2 * c), entries_(m * cap_), count_(m, 0), thr_(m, std::numeric_limits<float>::infinity()) {}

  /// Offers keys[j] (j < len) with local indices first + j to query i, skipping local index `skip`.
  void offer(std::size_t i, const float* keys, std::size_t len, std::size_t first, std::size_t skip) noexcept {
    float t = thr_[i];
    candidate* e = entries_.data() + i * cap_;
    std::size_t cnt = count_[i];
    constexpr std::size_t chunk = 32;
    for (std::size_t j0 = 0; j0 < len; j0 += chunk) {
      const std::size_t j1 = std::min(len, j0 + chunk);
      // Cheap threshold test of a whole chunk (vectorized); most chunks hold no candidate.
      int below = 0;
      for (std::size_t j = j0; j < j1; ++j) below += keys[j] < t;
      if (below == 0) continue;
      for (std::size_t j = j0; j < j1; ++j) {
        const float key = keys[j];
        if (key < t && first + j != skip) {
          e[cnt++] = {key, static_cast<std::int32_t>(first + j)};
          if (cnt == cap_) {
            std::nth_element(e, e + (c_ - 1), e + cap_, key_less);
            cnt = c_;
            t = e[c_ - 1].key;
          }
        }
      }
    }
    count_[i] = cnt;
    thr_[i] = t;
  }

  /// The c smallest candidates of query i (sorted by (key, index)) and T, the largest key kept.
  std::pair<const candidate*, std::size_t> finish(std::size_t i, float& largest) noexcept {
    candidate* e = entries_.data() + i * cap_;
    std::size_t cnt = count_[i];
    if (cnt > c_) {
      std::nth_element(e, e + (c_ - 1), e + cnt, key_less);
      cnt = c_;
    }
    largest = -std::numeric_limits<float>::infinity();
    for (std::size_t r = 0; r < cnt; ++r) largest = std::max(largest, e[r].key);
    return {e, cnt};
  }

 private:
  std::size_t c_;
  std::size_t cap_;
  std::vector<candidate> entries_;
  std::vector<std::size_t> count_;
  std::vector<float> thr_;
};

struct tile_workspace {
  row_matrix gram;        // query block x reference block
  row_matrix transposed;  // reference block x query block
  std::vector<float> keys;
};

void float_group(const group_view& g, std::size_t k, knn_graph& out) {
  const std::size_t m = g.m, n = g.n;
  const std::size_t c = std::min(m - 1, k + slack);

  // Squared norms in double (exact to ~n 2^-53), and rounded to float for the keys.
  std::vector<double> norm2(m);
  std::vector<float> norm2_f(m);
  double largest_norm = 0.0;
  for (std::size_t i = 0; i < m; ++i) {
    const float* a = g.x + i * n;
    double s = 0.0;
    for (std::size_t col = 0; col < n; ++col) s += static_cast<double>(a[col]) * static_cast<double>(a[col]);
    norm2[i] = s;
    norm2_f[i] = static_cast<float>(s);
    largest_norm = std::max(largest_norm, std::sqrt(s));
  }
  // Norms are themselves rounded: inflate B slightly so that B >= every true norm.
  largest_norm *= 1.0 + 4.0 * gamma(static_cast<double>(n) + 2.0, unit_double);

  const std::size_t blocks = (m + tile - 1) / tile;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> tiles;
  tiles.reserve(blocks * (blocks + 1) / 2);
  // Upper-triangle tiles, ordered by pairs of super-blocks of about 4 MB of rows each, so that
  // consecutive tiles reuse rows that are still in cache.
  const std::size_t super = std::max<std::size_t>(1, (std::size_t{4} << 20) / (tile * n * sizeof(float) + 1));
  for (std::size_t sa = 0; sa < blocks; sa += super)
    for (std::size_t sb = sa; sb < blocks; sb += super)
      for (std::size_t bi = sa; bi < std::min(blocks, sa + super); ++bi)
        for (std::size_t bj = std::max(bi, sb); bj < std::min(blocks, sb + super); ++bj)
          tiles.emplace_back(static_cast<std::uint32_t>(bi), static_cast<std::uint32_t>(bj));

  candidate_lists lists(m, c);
  std::vector<std::mutex> block_mutex(blocks);
  tbb::enumerable_thread_specific<tile_workspace> workspaces;
  const std::size_t none = std::numeric_limits<std::size_t>::max();

  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, tiles.size(), 1), [&](const tbb::blocked_range<std::size_t>& r) {
    tile_workspace& w = workspaces.local();
    for (std::size_t t = r.begin(); t != r.end(); ++t) {
      const std::size_t i0 = tiles[t].first * tile, j0 = tiles[t].second * tile;
      const std::size_t bi = std::min(tile, m - i0), bj = std::min(tile, m - j0);
      const const_row_map qa(g.x + i0 * n, static_cast<Eigen::Index>(bi), static_cast<Eigen::Index>(n));
      const const_row_map qb(g.x + j0 * n, static_cast<Eigen::Index>(bj), static_cast<Eigen::Index>(n));
      w.gram.resize(static_cast<Eigen::Index>(bi), static_cast<Eigen::Index>(bj));
      w.gram.noalias() = qa * qb.transpose();
      w.keys.resize(tile);
      {
        std::lock_guard<std::mutex> lock(block_mutex[tiles[t].first]);
        for (std::size_t i = 0; i < bi; ++i) {
          const float* row = w.gram.data() + i * bj;
          for (std::size_t j = 0; j < bj; ++j) w.keys[j] = norm2_f[j0 + j] - 2.0f * row[j];
          lists.offer(i0 + i, w.keys.data(), bj, j0, i0 == j0 ? i0 + i : none);
        }
      }
      if (i0 != j0) {
        w.transposed = w.gram.transpose();
        std::lock_guard<std::mutex> lock(block_mutex[tiles[t].second]);
        for (std::size_t j = 0; j < bj; ++j) {
          const float* row = w.transposed.data() + j * bi;
          for (std::size_t i = 0; i < bi; ++i) w.keys[i] = norm2_f[i0 + i] - 2.0f * row[i];
          lists.offer(j0 + j, w.keys.data(), bi, i0, none);
        }
      }
    }
  });
  std::uint64_t flops = 0;
  for (const auto& [ti, tj] : tiles)
    flops += 2 * static_cast<std::uint64_t>(std::min(tile, m - ti * tile)) * std::min(tile, m - tj * tile) * n;
  stat_gemm_flops.fetch_add(flops, std::memory_order_relaxed);

  // Confirm in double, certify or search again.
  const double dn = static_cast<double>(n);
  const double eps = 2.0 * gamma(dn + 2.0, unit_float);
  const double underflow = (4.0 * dn + 8.0) * 0x1p-126;
  const double g53 = gamma(dn + 4.0, unit_double);
  const double margin = std::max(1e-12, 4.0 * g53);
  std::atomic<std::uint64_t> certified{0}, fallback{0};
  tbb::enumerable_thread_specific<std::vector<neighbour>> scratch;
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, m, 16), [&](const tbb::blocked_range<std::size_t>& r) {
    auto& s = scratch.local();
    std::uint64_t ok = 0, redo = 0;
    for (std::size_t i = r.begin(); i != r.end(); ++i) {
      float largest_key = 0.0f;
      const auto [cand, cnt] = lists.finish(i, largest_key);
      const auto gi = static_cast<std::size_t>(g.global[i]);
      std::int64_t* index = out.index.data() + gi * k;
      double* distance = out.distance.data() + gi * k;
      const float* a = g.x + i * n;
      s.clear();
      constexpr std::size_t lanes = 8;
      std::size_t q = 0;
      for (; q + lanes <= cnt; q += lanes) {
        const float* rows[lanes];
        double sq[lanes];
        for (std::size_t l = 0; l < lanes; ++l) rows[l] = g.x + static_cast<std::size_t>(cand[q + l].index) * n;
        exact_squared_lanes<lanes>(a, rows, n, sq);
        for (std::size_t l = 0; l < lanes; ++l)
          s.push_back({std::sqrt(sq[l]), sq[l], g.global[static_cast<std::size_t>(cand[q + l].index)]});
      }
      for (; q < cnt; ++q) {
        const auto j = static_cast<std::size_t>(cand[q].index);
        const double sq = exact_squared(a, g.x + j * n, n);
        s.push_back({std::sqrt(sq), sq, g.global[j]});
      }
      bool good = cnt >= k;
      if (good) {
        std::sort(s.begin(), s.end(), neighbour_less);
        const double norm_a = std::sqrt(norm2[i]);
        const double err = eps * (largest_norm * largest_norm + 2.0 * norm_a * largest_norm) + underflow;
        const double t_key = static_cast<double>(largest_key);
        const double rough = norm2[i] * (1.0 - g53) + t_key - err;
        const double lower = rough - 4.0 * unit_double * (norm2[i] + std::fabs(t_key) + err);
        const double kth = s[k - 1].squared;
        good = cnt == m - 1 || (lower > 0.0 && lower * (1.0 - margin) > kth * (1.0 + margin));
      }
      if (good) {
        write_result(s, k, index, distance);
        ++ok;
      } else {
        exact_query(g, i, k, s, index, distance);
        ++redo;
      }
    }
    certified.fetch_add(ok, std::memory_order_relaxed);
    fallback.fetch_add(redo, std::memory_order_relaxed);
  });
  stat_certified.fetch_add(certified.load(), std::memory_order_relaxed);
  stat_fallback.fetch_add(fallback.load(), std::memory_order_relaxed);
  stat_queries.fetch_add(m, std::memory_order_relaxed);
}

void search_group(const group_view& g, std::size_t k, double largest_entry, knn_graph& out) {
  const std::size_t c = std::min(g.m - 1, k + slack);
  const bool small = g.m <= std::max<std::size_t>(4 * c, 64);
  if (small || g.n == 0 || largest_entry > max_float_entry)
    exact_group(g, k, out);
  else
    float_group(g, k, out);
}

}  // namespace

knn_graph nearest_neighbours(const matrix& x, std::size_t k, const std::vector<std::int32_t>* labels) {
  if (k == 0) throw error("nearest_neighbours: k must be at least 1");
  const std::size_t rows = x.rows, n = x.cols;
  if (x.data.size() != rows * n)
    throw error(fmt::format("nearest_neighbours: x is {} x {} but holds {} values", rows, n, x.data.size()));
  if (labels != nullptr && labels->size() != rows)
    throw error(fmt::format("nearest_neighbours: labels has {} entries but x has {} rows", labels->size(), rows));
  if (rows > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
    throw error(fmt::format("nearest_neighbours: x has {} rows; at most 2^31 - 1 are supported", rows));
  double largest_entry = 0.0;
  for (std::size_t i = 0; i < rows; ++i) {
    const float* a = x.row(i);
    for (std::size_t col = 0; col < n; ++col) {
      if (!std::isfinite(a[col]))
        throw error(fmt::format("nearest_neighbours: row {} of x has a non-finite value ({} in column {})", i,
                                a[col], col));
      largest_entry = std::max(largest_entry, static_cast<double>(std::fabs(a[col])));
    }
  }

  // Groups: the whole data set, or one per label (members in ascending index order).
  std::map<std::int32_t, std::vector<std::int64_t>> groups;
  if (labels == nullptr) {
    if (rows < k + 1)
      throw error(fmt::format("nearest_neighbours: the data set has {} samples; k = {} needs at least {}", rows, k,
                              k + 1));
  } else {
    for (std::size_t i = 0; i < rows; ++i) groups[(*labels)[i]].push_back(static_cast<std::int64_t>(i));
    for (const auto& [label, members] : groups)
      if (members.size() < k + 1)
        throw error(fmt::format(
            "nearest_neighbours: label {} has {} samples; k = {} needs at least {} samples with the same label",
            label, members.size(), k, k + 1));
  }

  knn_graph out;
  out.k = k;
  out.same_label = labels != nullptr;
  out.index.assign(rows * k, -1);
  out.distance.assign(rows * k, 0.0);

  tbb::this_task_arena::isolate([&] {
    if (labels == nullptr) {
      std::vector<std::int64_t> all(rows);
      for (std::size_t i = 0; i < rows; ++i) all[i] = static_cast<std::int64_t>(i);
      search_group(group_view{x.data.data(), rows, n, all.data()}, k, largest_entry, out);
    } else {
      std::vector<float> packed;
      for (const auto& [label, members] : groups) {
        packed.resize(members.size() * n);
        for (std::size_t r = 0; r < members.size(); ++r)
          std::copy_n(x.row(static_cast<std::size_t>(members[r])), n, packed.data() + r * n);
        search_group(group_view{packed.data(), members.size(), n, members.data()}, k, largest_entry, out);
      }
    }
  });
  return out;
}

std::shared_ptr<const knn_graph> shared_nearest_neighbours(const dataset& data, std::size_t k, bool same_label) {
  const std::vector<std::int32_t>* labels = same_label ? &data.labels : nullptr;
  if (data.sha256.empty()) return std::make_shared<const knn_graph>(nearest_neighbours(data.x, k, labels));

  using key_type = std::tuple<std::string, std::size_t, bool>;
  static std::mutex cache_mutex;
  static std::map<key_type, std::weak_ptr<const knn_graph>> cache;
  const key_type key{data.sha256, k, same_label};
  {
    std::lock_guard<std::mutex> lock(cache_mutex);
    if (auto it = cache.find(key); it != cache.end())
      if (auto held = it->second.lock()) return held;
  }
  // Computed outside the lock: a caller inside a oneTBB task must never block others on a long search
  // (and a thread waiting in the search must never re-enter the lock). A racing caller may compute the
  // same graph twice; the first one stored is shared.
  auto graph = std::make_shared<const knn_graph>(nearest_neighbours(data.x, k, labels));
  std::lock_guard<std::mutex> lock(cache_mutex);
  for (auto it = cache.begin(); it != cache.end();) it = it->second.expired() ? cache.erase(it) : std::next(it);
  auto& slot = cache[key];
  if (auto held = slot.lock()) return held;
  slot = graph;
  return graph;
}

}  // namespace genscope

namespace genscope::detail {

knn_statistics knn_statistics_total() noexcept {
  knn_statistics s;
  s.queries = stat_queries.load();
  s.certified_queries = stat_certified.load();
  s.fallback_queries = stat_fallback.load();
  s.direct_queries = stat_direct.load();
  s.gemm_flops = static_cast<double>(stat_gemm_flops.load());
  return s;
}

}  // namespace genscope::detail
