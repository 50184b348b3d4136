// A checked network graph in the form its passes use: shapes, convolution sizes, sparse maps and switch rules per operator.
#pragma once

#include "nn/graph_kernels.hpp"

#include <genscope/matrix.hpp>
#include <genscope/network_graph.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace genscope::detail {

/// One operator, checked, with what its passes need.
struct compiled_op {
  std::vector<std::size_t> shape;  ///< output shape of one sample
  conv_shape conv;                 ///< conv
  /// avg_pool, pad, scale_shift, sum, concat: output = constant + sum_i maps[i] * input_i.
  std::vector<sparse_map> maps;
  std::vector<double> constant;    ///< per output; empty when zero
  switch_layer rule;               ///< relu, leaky_relu, clip, max_pool
};

struct compiled_graph {
  std::vector<compiled_op> ops;     ///< ops[k] is node k + 1
  std::vector<std::size_t> width;   ///< per node, node 0 the input
  std::size_t block_rows = 0;       ///< rows per block of the forward pass
  std::size_t min_rows = 0;         ///< rows a block is padded to at least (GEMM path for every dense operator)
};

/// Checks operator `op` against the shapes of the nodes before it and compiles it; throws error
/// prefixed by `where` at the first problem.
compiled_op compile_op(const graph_op& op, const std::vector<std::vector<std::size_t>>& shapes, const std::string& where);

/// The product of a shape, checked for overflow and against the memory budget.
std::size_t checked_product(const std::vector<std::size_t>& shape, const std::string& what);

/// The float32 forward pass in fixed blocks of rows, in parallel, up to node `output` (whose values go to `out`,
/// one row per input row); a row's values never depend on its batch.
void forward_graph(const compiled_graph& graph, const std::vector<graph_op>& ops, matrix_view x, std::size_t output,
                   matrix& out);

}  // namespace genscope::detail
