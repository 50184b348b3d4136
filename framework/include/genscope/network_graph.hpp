// The native engine's networks as graphs of operators in float32: convolution, pooling, batch norm, residual sums; their model files, forward pass and piecewise-linear view.
#pragma once

#include <genscope/export.hpp>
#include <genscope/matrix.hpp>
#include <genscope/mlp.hpp>
#include <genscope/piecewise_linear.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace genscope {

namespace detail {
struct compiled_graph;
}

/// The operators of the native engine (docs/model-format.md, "Graph models").
enum class op_kind : std::uint8_t {
  dense,        ///< y = W x + b on the flattened input; weight out x in, bias out
  conv,         ///< 2-D convolution of a C x H x W input; weight Cout x (C / groups) x kh x kw, bias Cout
  avg_pool,     ///< 2-D average over each window (global average pooling: one window the size of the input)
  max_pool,     ///< 2-D maximum over each window (a switch: the argmax)
  scale_shift,  ///< y = scale o x + shift elementwise (batch norm in evaluation mode, constant arithmetic)
  pad,          ///< constant padding of the input's dimensions
  sum,          ///< y = sum_i coefficients_i x_i of same-sized inputs (residual additions, subtractions)
  concat,       ///< concatenation of the inputs along `axis` of their shapes
  reshape,      ///< the same values under another shape (flatten, reshape, identity, dropout at inference)
  relu,         ///< max(x, 0)
  leaky_relu,   ///< x > 0 ? x : negative_slope * x
  clip,         ///< min(max(x, low), high)
};

/// "dense", "conv", ... (the `op` attribute of the model file).
GENSCOPE_API const char* op_kind_name(op_kind kind) noexcept;

/// Window of a convolution or pooling on a C x H x W input. Output size per spatial dimension:
/// (in + pad_begin + pad_end - dilation * (kernel - 1) - 1) / stride + 1 (floor; ceil_mode rounds up, the
/// last window then starting inside the input or its begin padding).
struct window_geometry {
  std::size_t kernel_h = 1, kernel_w = 1;
  std::size_t stride_h = 1, stride_w = 1;
  std::size_t dilation_h = 1, dilation_w = 1;
  std::size_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  bool ceil_mode = false;  ///< pooling only
};

/// One operator of a graph. Node 0 is the network input; the operator at position k of
/// network_graph::ops() is node k + 1 and reads earlier nodes. Only the fields of its kind are used.
struct graph_op {
  op_kind kind = op_kind::relu;
  std::vector<std::size_t> inputs;  ///< nodes read (one, except sum and concat)
  std::string name;                 ///< where it came from (e.g. the ONNX node), for messages; may be empty
  std::vector<float> weight, bias;  ///< dense, conv
  std::size_t out_channels = 0;     ///< conv
  std::size_t groups = 1;           ///< conv
  window_geometry window;           ///< conv, avg_pool, max_pool
  bool count_include_pad = false;   ///< avg_pool: divide by the whole window, padding included
  std::vector<float> scale, shift;  ///< scale_shift: one value per input unit each
  std::vector<std::size_t> pad_begin, pad_end;  ///< pad: per dimension of the input shape
  float pad_value = 0;              ///< pad
  std::vector<float> coefficients;  ///< sum: one per input
  std::size_t axis = 0;             ///< concat: dimension of the inputs' shapes
  std::vector<std::size_t> shape;   ///< reshape: the output shape (same number of values)
  float negative_slope = 0;         ///< leaky_relu
  float low = 0, high = 0;          ///< clip (either may be infinite)
};

/// A network as a DAG of operators in float32. Immutable once built; forward() is const and
/// re-entrant. The last operator's outputs are the logits.
class GENSCOPE_API network_graph {
 public:
  network_graph() = default;
  /// Checks every operator (inputs earlier, shapes that fit, weights of the right size and finite,
  /// windows inside their padded input...) and throws genscope::error naming the operator's position
  /// and name at the first problem.
  network_graph(std::vector<std::size_t> input_shape, std::vector<graph_op> ops);
  /// The MLP as dense and relu operators; its digest stays the MLP's.
  static network_graph from_mlp(const mlp& net);

  const std::vector<std::size_t>& input_shape() const noexcept { return input_shape_; }
  std::size_t input_dim() const noexcept;
  std::size_t class_count() const noexcept;
  const std::vector<graph_op>& ops() const noexcept { return ops_; }
  /// Output shape of node i (0: the input).
  const std::vector<std::size_t>& shape(std::size_t node) const { return shapes_[node]; }
  /// "784-256-256-10 ReLU MLP" for an MLP, else e.g. "graph of 14 operators (2 conv, 2 max_pool, ...),
  /// input 1x28x28, 10 classes".
  std::string describe() const;
  /// SHA-256 over the operators, shapes and weights (docs/model-format.md, "Digest"); an MLP's digest
  /// is the same in either file format.
  std::string digest() const;

  /// Logits of every row of x (x.cols == input_dim()); bit-identical for a row whatever batch it is in.
  void forward(matrix_view x, matrix& logits) const;

  /// The hidden layers whose activations activations() gives, in forward order. An MLP's are "relu1",
  /// "relu2", ... (after each hidden layer's ReLU); a graph's are its operators but the last (the logits),
  /// each named as its operator (the ONNX node's name), or "node K" (K its node number) when that name is
  /// empty or taken by an earlier operator.
  std::vector<std::string> layer_names() const;
  /// The values of layer `name` (one of layer_names()) for every row of x: out is x.rows x the layer's width,
  /// each row the layer's output flattened row-major; bit-identical for a row whatever batch it is in. Throws
  /// genscope::error naming the layer and the network when the name is not a layer, or on a batch of the
  /// wrong width.
  void activations(const std::string& name, matrix_view x, matrix& out) const;

  /// The graph in double precision for the exact walk and the analyses: reshapes vanish, every other
  /// operator becomes an affine node or a switch. Independent of this object once made.
  std::unique_ptr<piecewise_linear_graph> piecewise_linear_view() const;

 private:
  // Each hidden layer's name and node (layer_names()).
  std::vector<std::pair<std::string, std::size_t>> layers() const;
  // Throws unless x is a batch of this network's inputs.
  void check_batch(matrix_view x) const;

  std::vector<std::size_t> input_shape_;
  std::vector<graph_op> ops_;
  std::vector<std::vector<std::size_t>> shapes_;  // per node
  bool is_mlp_ = false;                          // dense, relu, dense, relu, ..., dense in a chain
  std::shared_ptr<const detail::compiled_graph> compiled_;  // index maps and windows the passes use
};

/// Writes a graph model file (format "genscope-graph", docs/model-format.md) with an atomic replace.
/// `source` (may be empty) says where the network came from, e.g. the ONNX file it was imported from.
GENSCOPE_API void save_network(const std::string& path, const network_graph& net, const std::string& source);

/// Reads a model file of either format: a graph file, or an MLP file (genscope-mlp, its final weights or
/// those of checkpoint epoch `checkpoint` > 0, with the layers of `rewind` from another checkpoint:
/// load_model(path, checkpoint, rewind), converted by network_graph::from_mlp); a path ending in .onnx is
/// imported (import_onnx). Throws io_error naming the file (and the operator) when it is missing, not a model
/// file, or inconsistent, and when a graph or ONNX file is asked for a checkpoint or a rewinding.
GENSCOPE_API network_graph load_network(const std::string& path, std::size_t checkpoint = 0,
                                        const layer_rewind& rewind = {});

/// The epochs of the training checkpoints a model file holds, ascending: an MLP file's /checkpoints; none for a
/// graph or ONNX file. Throws io_error as load_network does.
GENSCOPE_API std::vector<std::size_t> saved_checkpoints(const std::string& path);

}  // namespace genscope
