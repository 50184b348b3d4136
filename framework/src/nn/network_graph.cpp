// The native graph: checking operators and inferring shapes, the batched float32 forward pass, the description and the digest.
#include "nn/compiled_graph.hpp"
#include "nn/dense_ops.hpp"

#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/memory.hpp>
#include <genscope/network_graph.hpp>
#include <genscope/shape.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <utility>

namespace genscope {

const char* op_kind_name(op_kind kind) noexcept {
  switch (kind) {
    case op_kind::dense: return "dense";
    case op_kind::conv: return "conv";
    case op_kind::avg_pool: return "avg_pool";
    case op_kind::max_pool: return "max_pool";
    case op_kind::scale_shift: return "scale_shift";
    case op_kind::pad: return "pad";
    case op_kind::sum: return "sum";
    case op_kind::concat: return "concat";
    case op_kind::reshape: return "reshape";
    case op_kind::relu: return "relu";
    case op_kind::leaky_relu: return "leaky_relu";
    case op_kind::clip: return "clip";
  }
  return "?";
}

namespace {

// Rows of activations per block of the forward pass: about 16 MiB of float activations, 4 to 256 rows.
std::size_t graph_block_rows(std::size_t total_width) {
  const std::size_t budget = std::size_t{16} << 20;
  const std::size_t rows = budget / (sizeof(float) * std::max<std::size_t>(total_width, 1));
  return std::clamp<std::size_t>(rows / detail::gemm_row_multiple * detail::gemm_row_multiple, 4, 256);
}

}  // namespace


network_graph::network_graph(std::vector<std::size_t> input_shape, std::vector<graph_op> ops)
    : input_shape_(std::move(input_shape)), ops_(std::move(ops)) {
  if (input_shape_.empty()) throw error("network graph: the input shape is empty");
  for (std::size_t d : input_shape_)
    if (d == 0) throw error("network graph: the input shape " + shape_text(input_shape_) + " has a zero dimension");
  if (ops_.empty()) throw error("network graph: no operators");
  auto compiled = std::make_shared<detail::compiled_graph>();
  shapes_.push_back(input_shape_);
  compiled->width.push_back(detail::checked_product(input_shape_, "network graph input"));
  for (std::size_t k = 0; k < ops_.size(); ++k) {
    const std::size_t node = k + 1;
    const graph_op& op = ops_[k];
    const std::string where = "network graph: operator " + std::to_string(node) + " (" + op_kind_name(op.kind) +
                              (op.name.empty() ? "" : " '" + op.name + "'") + ")";
    const bool multi = op.kind == op_kind::sum || op.kind == op_kind::concat;
    if (op.inputs.empty() || (!multi && op.inputs.size() != 1))
      throw error(where + " needs " + (multi ? "at least one input" : "exactly one input") + ", has " +
                  std::to_string(op.inputs.size()));
    for (std::size_t in : op.inputs)
      if (in >= node) throw error(where + " reads node " + std::to_string(in) + ", not an earlier node");
    compiled->ops.push_back(detail::compile_op(op, shapes_, where));
    shapes_.push_back(compiled->ops.back().shape);
    compiled->width.push_back(detail::checked_product(shapes_.back(), where + " output"));
  }
  const std::vector<std::size_t>& out = shapes_.back();
  if (out.size() != 1)
    throw error("network graph: the last operator gives shape " + shape_text(out) +
                ", not a vector of logits (flatten it first)");
  compiled->block_rows =
      graph_block_rows(std::accumulate(compiled->width.begin(), compiled->width.end(), std::size_t{0}));
  compiled->min_rows = detail::gemm_row_multiple;
  for (std::size_t k = 0; k < ops_.size(); ++k)
    if (ops_[k].kind == op_kind::dense)
      compiled->min_rows = std::max(compiled->min_rows, detail::gemm_min_rows(ops_[k].bias.size(),
                                                                               compiled->width[ops_[k].inputs[0]]));
  compiled->block_rows = std::max(compiled->block_rows, detail::round_up(compiled->min_rows, detail::gemm_row_multiple));
  // An MLP: dense, relu, dense, ..., dense, each reading the previous node.
  is_mlp_ = ops_.size() % 2 == 1;
  for (std::size_t k = 0; k < ops_.size() && is_mlp_; ++k)
    is_mlp_ = ops_[k].kind == (k % 2 == 0 ? op_kind::dense : op_kind::relu) && ops_[k].inputs[0] == k;
  compiled_ = std::move(compiled);
}

network_graph network_graph::from_mlp(const mlp& net) {
  std::vector<graph_op> ops;
  const auto& layers = net.layers();
  for (std::size_t l = 0; l < layers.size(); ++l) {
    graph_op d;
    d.kind = op_kind::dense;
    d.inputs = {ops.size()};
    d.name = "layer " + std::to_string(l);
    d.weight = layers[l].weight.data;
    d.bias = layers[l].bias;
    ops.push_back(std::move(d));
    if (l + 1 < layers.size()) {
      graph_op r;
      r.kind = op_kind::relu;
      r.inputs = {ops.size()};
      ops.push_back(std::move(r));
    }
  }
  return network_graph(net.input_shape(), std::move(ops));
}

std::size_t network_graph::input_dim() const noexcept { return compiled_ ? compiled_->width.front() : 0; }

std::size_t network_graph::class_count() const noexcept { return compiled_ ? compiled_->width.back() : 0; }

namespace {

// The MLP the graph is (is_mlp_ only).
mlp as_mlp(const std::vector<std::size_t>& input_shape, const std::vector<graph_op>& ops) {
  std::vector<dense_layer> layers;
  std::size_t in = std::accumulate(input_shape.begin(), input_shape.end(), std::size_t{1}, std::multiplies<>());
  for (const graph_op& op : ops) {
    if (op.kind != op_kind::dense) continue;
    dense_layer l;
    l.weight = matrix(op.bias.size(), in);
    l.weight.data = op.weight;
    l.bias = op.bias;
    in = op.bias.size();
    layers.push_back(std::move(l));
  }
  return mlp(std::move(layers), input_shape);
}

}  // namespace

std::string network_graph::describe() const {
  if (is_mlp_) return as_mlp(input_shape_, ops_).describe();
  std::map<std::string, std::size_t> counts;
  for (const graph_op& op : ops_) ++counts[op_kind_name(op.kind)];
  std::string kinds;
  for (const auto& [name, n] : counts) kinds += (kinds.empty() ? "" : ", ") + std::to_string(n) + " " + name;
  return "graph of " + std::to_string(ops_.size()) + " operators (" + kinds + "), input " + shape_text(input_shape_) +
         ", " + std::to_string(class_count()) + " classes";
}

std::string network_graph::digest() const {
  if (is_mlp_) return as_mlp(input_shape_, ops_).digest();
  // Layout: docs/model-format.md, "Digest" (little-endian, as every platform GenScope builds for).
  static_assert(std::endian::native == std::endian::little, "the digest layout assumes a little-endian host");
  sha256 h;
  auto put = [&h](std::uint64_t v) { h.update(&v, sizeof v); };
  auto put_sizes = [&](const std::vector<std::size_t>& v) {
    put(v.size());
    for (std::size_t x : v) put(x);
  };
  auto put_floats = [&](const std::vector<float>& v) {
    put(v.size());
    h.update(v.data(), v.size() * sizeof(float));
  };
  auto put_float = [&](float f) { h.update(&f, sizeof f); };
  h.update("genscope-graph", 14);
  put_sizes(input_shape_);
  put(ops_.size());
  for (const graph_op& op : ops_) {
    put(static_cast<std::uint64_t>(op.kind));
    put_sizes(op.inputs);
    put_floats(op.weight);
    put_floats(op.bias);
    put(op.out_channels);
    put(op.groups);
    const window_geometry& w = op.window;
    for (std::size_t v : {w.kernel_h, w.kernel_w, w.stride_h, w.stride_w, w.dilation_h, w.dilation_w, w.pad_top,
                          w.pad_left, w.pad_bottom, w.pad_right})
      put(v);
    put(w.ceil_mode ? 1 : 0);
    put(op.count_include_pad ? 1 : 0);
    put_floats(op.scale);
    put_floats(op.shift);
    put_sizes(op.pad_begin);
    put_sizes(op.pad_end);
    put_float(op.pad_value);
    put_floats(op.coefficients);
    put(op.axis);
    put_sizes(op.shape);
    put_float(op.negative_slope);
    put_float(op.low);
    put_float(op.high);
  }
  return h.hex_digest();
}

void network_graph::forward(matrix_view x, matrix& logits) const {
  check_batch(x);
  detail::forward_graph(*compiled_, ops_, x, ops_.size(), logits);
}

std::vector<std::pair<std::string, std::size_t>> network_graph::layers() const {
  std::vector<std::pair<std::string, std::size_t>> out;
  std::set<std::string> taken;
  for (std::size_t k = 0; k + 1 < ops_.size(); ++k) {
    const std::size_t node = k + 1;
    if (is_mlp_) {
      if (ops_[k].kind == op_kind::relu) out.emplace_back("relu" + std::to_string(node / 2), node);
      continue;
    }
    std::string name = ops_[k].name;
    if (name.empty() || taken.count(name) != 0) name = "node " + std::to_string(node);
    taken.insert(name);
    out.emplace_back(std::move(name), node);
  }
  return out;
}

std::vector<std::string> network_graph::layer_names() const {
  std::vector<std::string> names;
  for (auto& [name, node] : layers()) names.push_back(std::move(name));
  return names;
}

void network_graph::activations(const std::string& name, matrix_view x, matrix& out) const {
  check_batch(x);
  for (const auto& [layer, node] : layers())
    if (layer == name) {
      detail::forward_graph(*compiled_, ops_, x, node, out);
      return;
    }
  const std::vector<std::string> names = layer_names();
  std::string known;
  for (std::size_t k = 0; k < names.size() && k < 12; ++k) known += (k > 0 ? ", " : "") + ("'" + names[k] + "'");
  if (names.size() > 12) known += ", ... (" + std::to_string(names.size()) + " in all)";
  throw error("network graph: no layer '" + name + "' in the network (" + describe() + "); its layers: " +
              (names.empty() ? std::string("none") : known));
}

void network_graph::check_batch(matrix_view x) const {
  if (!compiled_) throw error("network graph: forward pass of an empty graph");
  if (x.cols != input_dim())
    throw error("network graph: batch has " + std::to_string(x.cols) + " columns, the network (" + describe() +
                ") takes " + std::to_string(input_dim()));
}

}  // namespace genscope
