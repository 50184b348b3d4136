// Kernels shared by the graph's float32 forward pass and its double-precision piecewise-linear view: convolution by im2col and GEMM, sparse linear maps (pooling, padding, concatenation, sums), pooling windows.
#pragma once

#include <genscope/network_graph.hpp>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop

#include <cstddef>
#include <cstdint>
#include <vector>

namespace genscope::detail {

/// A convolution's sizes: input C x H x W, output Cout x OH x OW, in `groups` groups.
struct conv_shape {
  std::size_t channels = 0, height = 0, width = 0;
  std::size_t out_channels = 0, out_height = 0, out_width = 0;
  std::size_t groups = 1;
  window_geometry window;

  std::size_t input_size() const { return channels * height * width; }
  std::size_t output_size() const { return out_channels * out_height * out_width; }
  /// Rows of one group's im2col matrix: (C / groups) * kh * kw.
  std::size_t patch() const { return channels / groups * window.kernel_h * window.kernel_w; }
};

/// Output extent of a window along one dimension (0 when the window does not fit).
std::size_t window_output(std::size_t in, std::size_t kernel, std::size_t stride, std::size_t dilation,
                          std::size_t pad_begin, std::size_t pad_end, bool ceil_mode);

/// y_r (+)= conv(x_r) for `rows` samples: per sample and group, an im2col matrix times the group's weights
/// (Eigen GEMM), so a sample's result never depends on the others. With `bias` (may be null) added.
template <class T>
void conv_apply(const conv_shape& s, const T* weight, const T* bias, const T* x, std::size_t rows, T* y,
                bool accumulate, std::vector<T>& cols);

/// x_r += conv^T(y_r): the transposed linear part (GEMM then col2im).
template <class T>
void conv_apply_transposed(const conv_shape& s, const T* weight, const T* y, std::size_t rows, T* x, std::vector<T>& cols);

/// Calls f(output index, weight index) for every output that unit j of the input reaches: column j of
/// the convolution's matrix.
template <class F>
void for_each_conv_column_entry(const conv_shape& s, std::size_t j, const F& f) {
  const window_geometry& w = s.window;
  const std::size_t c = j / (s.height * s.width);
  const std::size_t iy = j / s.width % s.height;
  const std::size_t ix = j % s.width;
  const std::size_t cg = s.channels / s.groups;
  const std::size_t cog = s.out_channels / s.groups;
  const std::size_t g = c / cg;
  const std::size_t spatial = s.out_height * s.out_width;
  for (std::size_t ky = 0; ky < w.kernel_h; ++ky) {
    // oy * stride + ky * dilation - pad_top = iy
    const auto ny = static_cast<std::ptrdiff_t>(iy + w.pad_top) - static_cast<std::ptrdiff_t>(ky * w.dilation_h);
    if (ny < 0 || ny % static_cast<std::ptrdiff_t>(w.stride_h) != 0) continue;
    const auto oy = static_cast<std::size_t>(ny) / w.stride_h;
    if (oy >= s.out_height) continue;
    for (std::size_t kx = 0; kx < w.kernel_w; ++kx) {
      const auto nx = static_cast<std::ptrdiff_t>(ix + w.pad_left) - static_cast<std::ptrdiff_t>(kx * w.dilation_w);
      if (nx < 0 || nx % static_cast<std::ptrdiff_t>(w.stride_w) != 0) continue;
      const auto ox = static_cast<std::size_t>(nx) / w.stride_w;
      if (ox >= s.out_width) continue;
      for (std::size_t oc = g * cog; oc < (g + 1) * cog; ++oc)
        f(oc * spatial + oy * s.out_width + ox, ((oc * cg + (c - g * cg)) * w.kernel_h + ky) * w.kernel_w + kx);
    }
  }
}

/// A sparse linear map in CSR form: output i = sum_k value[k] * input[index[k]], k in [start[i], start[i + 1]).
struct sparse_map {
  std::size_t outputs = 0, inputs = 0;
  std::vector<std::uint32_t> start{0}, index;
  std::vector<double> value;

  void add(std::uint32_t input, double v) {
    index.push_back(input);
    value.push_back(v);
  }
  void end_row() { start.push_back(static_cast<std::uint32_t>(index.size())); }
  /// The same map transposed (CSC of this one).
  sparse_map transposed() const;
};

/// The average-pooling map of a C x H x W input (divisor: the valid window, or with count_include_pad the
/// window clipped to the padded input, as PyTorch and ONNX define it).
sparse_map average_pool_map(std::size_t channels, std::size_t height, std::size_t width, const window_geometry& w,
                            bool count_include_pad, std::size_t out_height, std::size_t out_width);

/// Max-pooling windows of a C x H x W input as a switch rule (padding excluded).
switch_layer max_pool_windows(std::size_t channels, std::size_t height, std::size_t width, const window_geometry& w,
                              std::size_t out_height, std::size_t out_width);

/// For each output of a constant padding, the input it copies or -1 (the pad value).
std::vector<std::int64_t> pad_sources(const std::vector<std::size_t>& in_shape, const std::vector<std::size_t>& begin,
                                      const std::vector<std::size_t>& end);

/// For each output of a concatenation along `axis`, the input (first) and the unit in it (second).
std::vector<std::pair<std::uint32_t, std::uint32_t>> concat_sources(const std::vector<std::vector<std::size_t>>& shapes,
                                                                    std::size_t axis);

}  // namespace genscope::detail
