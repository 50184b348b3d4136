// Process-wide counters of nearest_neighbours, for tests and benches (private to the build tree).
#pragma once

#include <genscope/export.hpp>

#include <cstdint>

namespace genscope::detail {

/// Cumulative since the process started.
struct knn_statistics {
  std::uint64_t queries = 0;           ///< queries answered
  std::uint64_t certified_queries = 0; ///< answered by the float candidates, certified by the bound
  std::uint64_t fallback_queries = 0;  ///< float path could not certify: searched again exactly
  std::uint64_t direct_queries = 0;    ///< searched exactly from the start (small groups, extreme values)
  double gemm_flops = 0;               ///< floating-point operations of the float Gram tiles
};

GENSCOPE_API knn_statistics knn_statistics_total() noexcept;

}  // namespace genscope::detail
