// Convolution by im2col and GEMM, sparse maps for pooling, padding and concatenation, and max-pooling windows.
#include "nn/graph_kernels.hpp"

#include <algorithm>
#include <numeric>

namespace genscope::detail {

namespace {

template <class T>
using row_matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using map = Eigen::Map<row_matrix<T>>;
template <class T>
using const_map = Eigen::Map<const row_matrix<T>>;

Eigen::Index ix(std::size_t n) { return static_cast<Eigen::Index>(n); }

// Input coordinate of output position o and kernel offset k, or -1 in the padding.
inline std::ptrdiff_t source(std::size_t o, std::size_t k, std::size_t stride, std::size_t dilation,
                             std::size_t pad_begin, std::size_t in) {
  const auto p = static_cast<std::ptrdiff_t>(o * stride + k * dilation) - static_cast<std::ptrdiff_t>(pad_begin);
  return p >= 0 && p < static_cast<std::ptrdiff_t>(in) ? p : -1;
}

// Calls f(r, o, i) for every cell of one group's im2col matrix of one sample: row r (input channel and kernel
// offset), column o (output position), and the input unit i it copies, or -1 in the padding.
template <class F>
void for_each_patch_cell(const conv_shape& s, std::size_t group, const F& f) {
  const window_geometry& w = s.window;
  const std::size_t cg = s.channels / s.groups;
  std::size_t r = 0;
  for (std::size_t c = group * cg; c < (group + 1) * cg; ++c)
    for (std::size_t ky = 0; ky < w.kernel_h; ++ky)
      for (std::size_t kx = 0; kx < w.kernel_w; ++kx, ++r)
        for (std::size_t oy = 0; oy < s.out_height; ++oy) {
          const std::ptrdiff_t iy = source(oy, ky, w.stride_h, w.dilation_h, w.pad_top, s.height);
          const auto row = static_cast<std::ptrdiff_t>((c * s.height + static_cast<std::size_t>(std::max<std::ptrdiff_t>(iy, 0))) * s.width);
          for (std::size_t ox = 0; ox < s.out_width; ++ox) {
            const std::ptrdiff_t ix_ = iy < 0 ? -1 : source(ox, kx, w.stride_w, w.dilation_w, w.pad_left, s.width);
            f(r, oy * s.out_width + ox, ix_ < 0 ? -1 : row + ix_);
          }
        }
}

// One group's im2col matrix of one sample: patch() rows x (OH * OW) columns.
template <class T>
void im2col(const conv_shape& s, const T* x, std::size_t group, T* cols) {
  const std::size_t spatial = s.out_height * s.out_width;
  for_each_patch_cell(s, group, [&](std::size_t r, std::size_t o, std::ptrdiff_t i) {
    cols[r * spatial + o] = i < 0 ? T(0) : x[i];
  });
}

// The reverse: adds each im2col entry back to the input unit it was copied from.
template <class T>
void col2im(const conv_shape& s, const T* cols, std::size_t group, T* x) {
  const std::size_t spatial = s.out_height * s.out_width;
  for_each_patch_cell(s, group, [&](std::size_t r, std::size_t o, std::ptrdiff_t i) {
    if (i >= 0) x[i] += cols[r * spatial + o];
  });
}

}  // namespace

std::size_t window_output(std::size_t in, std::size_t kernel, std::size_t stride, std::size_t dilation,
                          std::size_t pad_begin, std::size_t pad_end, bool ceil_mode) {
  const std::size_t span = dilation * (kernel - 1) + 1;
  const std::size_t padded = in + pad_begin + pad_end;
  if (stride == 0 || padded < span) return 0;
  std::size_t out = (padded - span) / stride + 1;
  if (ceil_mode && (padded - span) % stride != 0) {
    ++out;
    // The last window must start inside the input or its begin padding (PyTorch's rule).
    if ((out - 1) * stride >= in + pad_begin) --out;
  }
  return out;
}

template <class T>
void conv_apply(const conv_shape& s, const T* weight, const T* bias, const T* x, std::size_t rows, T* y,
                bool accumulate, std::vector<T>& cols) {
  const std::size_t spatial = s.out_height * s.out_width;
  const std::size_t patch = s.patch();
  const std::size_t cog = s.out_channels / s.groups;
  cols.resize(patch * spatial);
  for (std::size_t r = 0; r < rows; ++r) {
    const T* xr = x + r * s.input_size();
    T* yr = y + r * s.output_size();
    for (std::size_t g = 0; g < s.groups; ++g) {
      im2col(s, xr, g, cols.data());
      const_map<T> wg(weight + g * cog * patch, ix(cog), ix(patch));
      const_map<T> c(cols.data(), ix(patch), ix(spatial));
      map<T> out(yr + g * cog * spatial, ix(cog), ix(spatial));
      if (accumulate)
        out.noalias() += wg * c;
      else
        out.noalias() = wg * c;
    }
    if (bias != nullptr)
      for (std::size_t oc = 0; oc < s.out_channels; ++oc) {
        T* plane = yr + oc * spatial;
        for (std::size_t i = 0; i < spatial; ++i) plane[i] += bias[oc];
      }
  }
}

template <class T>
void conv_apply_transposed(const conv_shape& s, const T* weight, const T* y, std::size_t rows, T* x, std::vector<T>& cols) {
  const std::size_t spatial = s.out_height * s.out_width;
  const std::size_t patch = s.patch();
  const std::size_t cog = s.out_channels / s.groups;
  cols.resize(patch * spatial);
  for (std::size_t r = 0; r < rows; ++r) {
    const T* yr = y + r * s.output_size();
    T* xr = x + r * s.input_size();
    for (std::size_t g = 0; g < s.groups; ++g) {
      const_map<T> wg(weight + g * cog * patch, ix(cog), ix(patch));
      const_map<T> yg(yr + g * cog * spatial, ix(cog), ix(spatial));
      map<T>(cols.data(), ix(patch), ix(spatial)).noalias() = wg.transpose() * yg;
      col2im(s, cols.data(), g, xr);
    }
  }
}

template void conv_apply<float>(const conv_shape&, const float*, const float*, const float*, std::size_t, float*, bool,
                                std::vector<float>&);
template void conv_apply<double>(const conv_shape&, const double*, const double*, const double*, std::size_t, double*,
                                 bool, std::vector<double>&);
template void conv_apply_transposed<double>(const conv_shape&, const double*, const double*, std::size_t, double*,
                                            std::vector<double>&);

sparse_map sparse_map::transposed() const {
  sparse_map t;
  t.outputs = inputs;
  t.inputs = outputs;
  t.start.assign(inputs + 1, 0);
  for (const std::uint32_t i : index) ++t.start[i + 1];
  std::partial_sum(t.start.begin(), t.start.end(), t.start.begin());
  t.index.resize(index.size());
  t.value.resize(value.size());
  std::vector<std::uint32_t> next(t.start.begin(), t.start.end() - 1);
  for (std::size_t o = 0; o < outputs; ++o)
    for (std::uint32_t k = start[o]; k < start[o + 1]; ++k) {
      const std::uint32_t slot = next[index[k]]++;
      t.index[slot] = static_cast<std::uint32_t>(o);
      t.value[slot] = value[k];
    }
  return t;
}

sparse_map average_pool_map(std::size_t channels, std::size_t height, std::size_t width, const window_geometry& w,
                            bool count_include_pad, std::size_t out_height, std::size_t out_width) {
  sparse_map m;
  m.inputs = channels * height * width;
  m.outputs = channels * out_height * out_width;
  const auto h = static_cast<std::ptrdiff_t>(height), wd = static_cast<std::ptrdiff_t>(width);
  for (std::size_t c = 0; c < channels; ++c)
    for (std::size_t oy = 0; oy < out_height; ++oy)
      for (std::size_t ox = 0; ox < out_width; ++ox) {
        const auto y0 = static_cast<std::ptrdiff_t>(oy * w.stride_h) - static_cast<std::ptrdiff_t>(w.pad_top);
        const auto x0 = static_cast<std::ptrdiff_t>(ox * w.stride_w) - static_cast<std::ptrdiff_t>(w.pad_left);
        const auto span_h = static_cast<std::ptrdiff_t>(w.dilation_h * (w.kernel_h - 1) + 1);
        const auto span_w = static_cast<std::ptrdiff_t>(w.dilation_w * (w.kernel_w - 1) + 1);
        std::vector<std::uint32_t> cells;
        for (std::size_t ky = 0; ky < w.kernel_h; ++ky)
          for (std::size_t kx = 0; kx < w.kernel_w; ++kx) {
            const std::ptrdiff_t y = y0 + static_cast<std::ptrdiff_t>(ky * w.dilation_h);
            const std::ptrdiff_t x = x0 + static_cast<std::ptrdiff_t>(kx * w.dilation_w);
            if (y >= 0 && y < h && x >= 0 && x < wd)
              cells.push_back(static_cast<std::uint32_t>((c * height + static_cast<std::size_t>(y)) * width +
                                                         static_cast<std::size_t>(x)));
          }
        double divisor = static_cast<double>(cells.size());
        if (count_include_pad) {
          // The window clipped to the padded input (a ceil_mode window may run past it).
          const std::ptrdiff_t y1 = std::min(y0 + span_h, h + static_cast<std::ptrdiff_t>(w.pad_bottom));
          const std::ptrdiff_t x1 = std::min(x0 + span_w, wd + static_cast<std::ptrdiff_t>(w.pad_right));
          divisor = static_cast<double>((y1 - y0) * (x1 - x0));
        }
        for (const std::uint32_t i : cells) m.add(i, 1.0 / divisor);
        m.end_row();
      }
  return m;
}

switch_layer max_pool_windows(std::size_t channels, std::size_t height, std::size_t width, const window_geometry& w,
                              std::size_t out_height, std::size_t out_width) {
  switch_layer s;
  s.kind = switch_kind::max_pool;
  s.input_dim = channels * height * width;
  s.output_dim = channels * out_height * out_width;
  s.window_start.push_back(0);
  for (std::size_t c = 0; c < channels; ++c)
    for (std::size_t oy = 0; oy < out_height; ++oy)
      for (std::size_t ox = 0; ox < out_width; ++ox) {
        for (std::size_t ky = 0; ky < w.kernel_h; ++ky) {
          const std::ptrdiff_t y = source(oy, ky, w.stride_h, w.dilation_h, w.pad_top, height);
          if (y < 0) continue;
          for (std::size_t kx = 0; kx < w.kernel_w; ++kx) {
            const std::ptrdiff_t x = source(ox, kx, w.stride_w, w.dilation_w, w.pad_left, width);
            if (x >= 0)
              s.window_index.push_back(static_cast<std::uint32_t>((c * height + static_cast<std::size_t>(y)) * width +
                                                                  static_cast<std::size_t>(x)));
          }
        }
        s.window_start.push_back(static_cast<std::uint32_t>(s.window_index.size()));
      }
  return s;
}

std::vector<std::int64_t> pad_sources(const std::vector<std::size_t>& in_shape, const std::vector<std::size_t>& begin,
                                      const std::vector<std::size_t>& end) {
  const std::size_t rank = in_shape.size();
  std::vector<std::size_t> out_shape(rank);
  std::size_t total = 1;
  for (std::size_t d = 0; d < rank; ++d) total *= out_shape[d] = in_shape[d] + begin[d] + end[d];
  std::vector<std::int64_t> src(total, -1);
  std::vector<std::size_t> at(rank, 0);  // output coordinates, odometer order
  for (std::size_t o = 0; o < total; ++o) {
    std::int64_t i = 0;
    bool inside = true;
    for (std::size_t d = 0; d < rank; ++d) {
      inside = inside && at[d] >= begin[d] && at[d] < begin[d] + in_shape[d];
      i = i * static_cast<std::int64_t>(in_shape[d]) + static_cast<std::int64_t>(at[d] - (inside ? begin[d] : 0));
    }
    if (inside) src[o] = i;
    for (std::size_t d = rank; d-- > 0;) {
      if (++at[d] < out_shape[d]) break;
      at[d] = 0;
    }
  }
  return src;
}

std::vector<std::pair<std::uint32_t, std::uint32_t>> concat_sources(const std::vector<std::vector<std::size_t>>& shapes,
                                                                    std::size_t axis) {
  // outer = product of the dimensions before axis; each input contributes blocks of inner_k values.
  std::size_t outer = 1;
  for (std::size_t d = 0; d < axis; ++d) outer *= shapes[0][d];
  std::vector<std::size_t> inner(shapes.size(), 1);
  for (std::size_t k = 0; k < shapes.size(); ++k)
    for (std::size_t d = axis; d < shapes[k].size(); ++d) inner[k] *= shapes[k][d];
  std::vector<std::pair<std::uint32_t, std::uint32_t>> src;
  for (std::size_t o = 0; o < outer; ++o)
    for (std::size_t k = 0; k < shapes.size(); ++k)
      for (std::size_t i = 0; i < inner[k]; ++i)
        src.emplace_back(static_cast<std::uint32_t>(k), static_cast<std::uint32_t>(o * inner[k] + i));
  return src;
}

}  // namespace genscope::detail
