// The native MLP: shape checks, the batched float32 forward pass (Eigen GEMM) and the content digest.
#include "nn/dense_ops.hpp"

#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/mlp.hpp>

#include <bit>
#include <cstdint>
#include <cstring>
#include <functional>
#include <numeric>
#include <string>

namespace genscope {
namespace detail {

namespace {

// Rows per block: a 256 x 512 float activation block (512 KiB) stays in L2.
constexpr std::size_t block_rows = 256;

std::string shape_text(std::size_t rows, std::size_t cols) {
  return std::to_string(rows) + " x " + std::to_string(cols);
}

}  // namespace

void check_layer_shapes(const std::vector<dense_layer>& layers, std::size_t input_dim, const char* who) {
  const std::string prefix = std::string(who) + ": ";
  if (layers.empty()) throw error(prefix + "a network needs at least one layer");
  if (input_dim == 0) throw error(prefix + "input dimension is 0");
  std::size_t in = input_dim;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const dense_layer& layer = layers[l];
    const std::string name = prefix + "layer " + std::to_string(l);
    if (layer.weight.rows == 0 || layer.weight.cols == 0)
      throw error(name + " weight is empty (" + shape_text(layer.weight.rows, layer.weight.cols) + ")");
    if (layer.weight.data.size() != layer.weight.rows * layer.weight.cols)
      throw error(name + " weight holds " + std::to_string(layer.weight.data.size()) + " values, its shape " +
                  shape_text(layer.weight.rows, layer.weight.cols) + " needs " +
                  std::to_string(layer.weight.rows * layer.weight.cols));
    if (layer.weight.cols != in)
      throw error(name + " weight has " + std::to_string(layer.weight.cols) + " columns, its input has " +
                  std::to_string(in) + (l == 0 ? " features" : " (outputs of layer " + std::to_string(l - 1) + ")"));
    if (layer.bias.size() != layer.weight.rows)
      throw error(name + " bias has " + std::to_string(layer.bias.size()) + " values, weight has " +
                  std::to_string(layer.weight.rows) + " rows");
    in = layer.weight.rows;
  }
}

void forward_layers(const std::vector<dense_layer>& layers, matrix_view x, matrix& logits) {
  const std::size_t n = x.rows;
  const std::size_t classes = layers.back().weight.rows;
  logits.resize(n, classes);
  if (n == 0) return;

  std::size_t widest = 0;
  std::size_t min_rows = gemm_row_multiple;
  for (const dense_layer& layer : layers) {
    widest = std::max(widest, layer.weight.rows);
    min_rows = std::max(min_rows, gemm_min_rows(layer.weight.rows, layer.weight.cols));
  }
  const std::size_t in_dim = x.cols;
  const std::size_t last = layers.size() - 1;

  const std::size_t blocks = (n + block_rows - 1) / block_rows;
  auto run = [&](std::size_t first_block, std::size_t end_block) {
    // Scratch is local to the call (and to each task), so forward() stays re-entrant.
    const std::size_t capacity = std::max(block_rows, min_rows);
    std::vector<float> a(capacity * widest), b(capacity * widest), padded_in, padded_out;
    for (std::size_t blk = first_block; blk < end_block; ++blk) {
      const std::size_t r0 = blk * block_rows;
      const std::size_t rows = std::min(block_rows, n - r0);
      const std::size_t prow = std::max(round_up(rows, gemm_row_multiple), min_rows);
      const bool pad = prow != rows;
      const float* in_ptr = x.row(r0);
      if (pad) {
        padded_in.assign(prow * in_dim, 0.0f);
        std::memcpy(padded_in.data(), in_ptr, rows * in_dim * sizeof(float));
        in_ptr = padded_in.data();
        padded_out.resize(prow * classes);
      }
      std::size_t cur_dim = in_dim;
      float* bufs[2] = {a.data(), b.data()};
      for (std::size_t l = 0; l <= last; ++l) {
        const dense_layer& layer = layers[l];
        const std::size_t out_dim = layer.weight.rows;
        float* out_ptr = l < last ? bufs[l % 2] : (pad ? padded_out.data() : logits.row(r0));
        const_row_map in(in_ptr, idx(prow), idx(cur_dim));
        const_row_map w(layer.weight.data.data(), idx(out_dim), idx(cur_dim));
        row_map out(out_ptr, idx(prow), idx(out_dim));
        out.noalias() = in * w.transpose();
        out.rowwise() += const_row_vector_map(layer.bias.data(), idx(out_dim));
        if (l < last) relu_in_place(out);
        in_ptr = out_ptr;
        cur_dim = out_dim;
      }
      if (pad) std::memcpy(logits.row(r0), padded_out.data(), rows * classes * sizeof(float));
    }
  };
  if (blocks == 1) {
    run(0, 1);
  } else {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, blocks, 1),
                      [&](const tbb::blocked_range<std::size_t>& r) { run(r.begin(), r.end()); });
  }
}

}  // namespace detail

mlp::mlp(std::vector<dense_layer> layers, std::vector<std::size_t> input_shape)
    : layers_(std::move(layers)), input_shape_(std::move(input_shape)) {
  if (input_shape_.empty()) throw error("mlp: input_shape is empty");
  detail::check_layer_shapes(layers_, input_dim(), "mlp");
}

std::size_t mlp::input_dim() const noexcept {
  if (input_shape_.empty()) return 0;
  return std::accumulate(input_shape_.begin(), input_shape_.end(), std::size_t{1}, std::multiplies<>());
}

std::size_t mlp::class_count() const noexcept { return layers_.empty() ? 0 : layers_.back().weight.rows; }

std::string mlp::describe() const {
  if (layers_.empty()) return "empty MLP";
  std::string text = std::to_string(input_dim());
  for (const dense_layer& layer : layers_) text.append("-").append(std::to_string(layer.weight.rows));
  return text.append(" ReLU MLP");
}

std::string mlp::digest() const {
  // The layout is documented in docs/model-format.md ("Digest"); it is written
  // little-endian, which is the native order on every platform GenScope builds for.
  static_assert(std::endian::native == std::endian::little, "the digest layout assumes a little-endian host");
  static_assert(sizeof(float) == 4);
  sha256 h;
  auto put = [&h](std::uint64_t v) { h.update(&v, sizeof v); };
  h.update("genscope-mlp", 12);
  put(input_shape_.size());
  for (std::size_t d : input_shape_) put(d);
  put(layers_.size());
  for (const dense_layer& layer : layers_) {
    put(layer.weight.rows);
    put(layer.weight.cols);
    h.update(layer.weight.data.data(), layer.weight.data.size() * sizeof(float));
    h.update(layer.bias.data(), layer.bias.size() * sizeof(float));
  }
  return h.hex_digest();
}

void mlp::forward(matrix_view x, matrix& logits) const {
  if (layers_.empty()) throw error("mlp::forward: the network has no layers");
  if (x.cols != input_dim())
    throw error("mlp::forward: batch has " + std::to_string(x.cols) + " columns, the network (" + describe() +
                ") takes " + std::to_string(input_dim()));
  detail::forward_layers(layers_, x, logits);
}

}  // namespace genscope
