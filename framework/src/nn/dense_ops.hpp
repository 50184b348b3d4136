// Eigen views of row-major float32 buffers and the fixed-tile parallel loop shared by the native engine.
#pragma once

#include <genscope/matrix.hpp>
#include <genscope/mlp.hpp>

// GCC 12 flags _mm512_undefined_ps() inside Eigen's AVX-512 packet code as
// maybe-uninitialized; the value is a don't-care operand, never read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cstddef>
#include <vector>

namespace genscope::detail {

using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using row_map = Eigen::Map<row_matrix>;
using const_row_map = Eigen::Map<const row_matrix>;
using const_row_vector_map = Eigen::Map<const Eigen::RowVectorXf>;

inline Eigen::Index idx(std::size_t n) { return static_cast<Eigen::Index>(n); }

/// Calls f(begin, end) for the tiles [0, tile), [tile, 2 tile), ... of [0, n), in parallel.
/// The cut depends only on n and tile, never on the thread count, and every tile is
/// computed by one call: results are bit-identical whatever the parallelism.
template <class F>
void for_each_tile(std::size_t n, std::size_t tile, const F& f) {
  const std::size_t count = (n + tile - 1) / tile;
  if (count <= 1) {
    if (n > 0) f(std::size_t{0}, n);
    return;
  }
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, count, 1), [&](const tbb::blocked_range<std::size_t>& r) {
    for (std::size_t t = r.begin(); t != r.end(); ++t) f(t * tile, std::min(n, (t + 1) * tile));
  });
}

/// Eigen evaluates tiny products coefficient-wise (in + rows + out < 20) and a single row as a GEMV; both
/// sum in another order than its GEMM kernel. Padding a block to a multiple of 4 rows, and above that
/// threshold, keeps every row on the GEMM path, whose result for one row does not depend on the other
/// rows: a row's outputs are then bit-identical whatever batch it arrives in.
inline constexpr std::size_t gemm_row_multiple = 4;
inline constexpr std::size_t gemm_coefficient_threshold = 20;

inline std::size_t round_up(std::size_t n, std::size_t m) { return (n + m - 1) / m * m; }

/// The fewest rows a block must have for an out x in product to stay on the GEMM path.
inline std::size_t gemm_min_rows(std::size_t out, std::size_t in) {
  const std::size_t sides = out + in;
  return sides < gemm_coefficient_threshold ? round_up(gemm_coefficient_threshold - sides, gemm_row_multiple)
                                            : gemm_row_multiple;
}

/// ReLU that keeps NaN (so a NaN input still shows up in the logits).
template <class Block>
void relu_in_place(Block&& b) {
  b.array() = (b.array() < 0.0f).select(0.0f, b.array());
}

/// The forward pass behind mlp::forward, on layers whose shapes were checked.
void forward_layers(const std::vector<dense_layer>& layers, matrix_view x, matrix& logits);

/// Throws genscope::error (prefixed by `who`) unless the layers chain: input_dim ->
/// layer 0 -> layer 1 ... with bias sizes matching weight rows and no empty dimension.
void check_layer_shapes(const std::vector<dense_layer>& layers, std::size_t input_dim, const char* who);

}  // namespace genscope::detail
