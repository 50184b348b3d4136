// Checking and compiling each graph operator, and the float32 forward pass over blocks of rows.
#include "nn/compiled_graph.hpp"
#include "nn/dense_ops.hpp"

#include <genscope/error.hpp>
#include <genscope/memory.hpp>
#include <genscope/shape.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace genscope::detail {

namespace {

void require_finite(const std::vector<float>& v, const std::string& where, const char* what) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) throw error(where + ": " + what + "[" + std::to_string(i) + "] is not finite");
}

void check_window(const window_geometry& w, const std::string& where) {
  if (w.kernel_h == 0 || w.kernel_w == 0) throw error(where + ": kernel size 0");
  if (w.stride_h == 0 || w.stride_w == 0) throw error(where + ": stride 0");
  if (w.dilation_h == 0 || w.dilation_w == 0) throw error(where + ": dilation 0");
  const std::size_t limit = std::size_t{1} << 20;
  for (std::size_t v : {w.kernel_h, w.kernel_w, w.stride_h, w.stride_w, w.dilation_h, w.dilation_w, w.pad_top,
                        w.pad_left, w.pad_bottom, w.pad_right})
    if (v > limit) throw error(where + ": a window size, stride, dilation or padding of " + std::to_string(v));
}

// C x H x W of a convolution's or pooling's input, and its output sizes.
conv_shape spatial(const graph_op& op, const std::vector<std::size_t>& in, const std::string& where) {
  if (in.size() != 3)
    throw error(where + ": needs a C x H x W input, node " + std::to_string(op.inputs[0]) + " has shape " +
                shape_text(in));
  check_window(op.window, where);
  conv_shape s;
  s.channels = in[0];
  s.height = in[1];
  s.width = in[2];
  s.window = op.window;
  const window_geometry& w = op.window;
  const bool ceil = op.kind != op_kind::conv && w.ceil_mode;
  s.out_height = window_output(s.height, w.kernel_h, w.stride_h, w.dilation_h, w.pad_top, w.pad_bottom, ceil);
  s.out_width = window_output(s.width, w.kernel_w, w.stride_w, w.dilation_w, w.pad_left, w.pad_right, ceil);
  if (s.out_height == 0 || s.out_width == 0)
    throw error(where + ": the " + std::to_string(w.kernel_h) + "x" + std::to_string(w.kernel_w) +
                " window (dilated) does not fit the padded " + shape_text(in) + " input");
  s.out_channels = s.channels;
  return s;
}

sparse_map identity_map(std::size_t n, double coefficient) {
  sparse_map m;
  m.inputs = m.outputs = n;
  for (std::size_t i = 0; i < n; ++i) {
    m.add(static_cast<std::uint32_t>(i), coefficient);
    m.end_row();
  }
  return m;
}

}  // namespace

std::size_t checked_product(const std::vector<std::size_t>& shape, const std::string& what) {
  const std::size_t n = shape_product(shape, what);
  check_allocation(n, sizeof(double), what);
  return n;
}

compiled_op compile_op(const graph_op& op, const std::vector<std::vector<std::size_t>>& shapes, const std::string& where) {
  compiled_op c;
  const std::vector<std::size_t>& in = shapes[op.inputs[0]];
  const std::size_t in_width = shape_product(in, where + " input");
  switch (op.kind) {
    case op_kind::dense: {
      const std::size_t out = op.bias.size();
      if (out == 0) throw error(where + ": no outputs (empty bias)");
      if (op.weight.size() / out != in_width || op.weight.size() % out != 0)
        throw error(where + ": weight holds " + std::to_string(op.weight.size()) + " values, " + std::to_string(out) +
                    " outputs x " + std::to_string(in_width) + " inputs need " + std::to_string(out * in_width));
      require_finite(op.weight, where, "weight");
      require_finite(op.bias, where, "bias");
      c.shape = {out};
      break;
    }
    case op_kind::conv: {
      c.conv = spatial(op, in, where);
      c.conv.groups = op.groups;
      c.conv.out_channels = op.out_channels;
      if (op.groups == 0 || c.conv.channels % op.groups != 0 || op.out_channels == 0 ||
          op.out_channels % op.groups != 0)
        throw error(where + ": " + std::to_string(c.conv.channels) + " input and " + std::to_string(op.out_channels) +
                    " output channels do not divide into " + std::to_string(op.groups) + " groups");
      const std::size_t weights = shape_product(
          {op.out_channels, c.conv.channels / op.groups, op.window.kernel_h, op.window.kernel_w}, where + " weight");
      if (op.weight.size() != weights)
        throw error(where + ": weight holds " + std::to_string(op.weight.size()) + " values, " +
                    std::to_string(op.out_channels) + "x" + std::to_string(c.conv.channels / op.groups) + "x" +
                    std::to_string(op.window.kernel_h) + "x" + std::to_string(op.window.kernel_w) + " needs " +
                    std::to_string(weights));
      if (op.bias.size() != op.out_channels)
        throw error(where + ": bias holds " + std::to_string(op.bias.size()) + " values for " +
                    std::to_string(op.out_channels) + " output channels");
      require_finite(op.weight, where, "weight");
      require_finite(op.bias, where, "bias");
      c.shape = {op.out_channels, c.conv.out_height, c.conv.out_width};
      break;
    }
    case op_kind::avg_pool:
    case op_kind::max_pool: {
      c.conv = spatial(op, in, where);
      c.shape = {c.conv.channels, c.conv.out_height, c.conv.out_width};
      checked_product(c.shape, where + " output");
      check_allocation(static_cast<std::uint64_t>(c.conv.output_size()) * op.window.kernel_h * op.window.kernel_w, 8,
                       where + " windows");
      if (op.kind == op_kind::max_pool) {
        c.rule = max_pool_windows(c.conv.channels, c.conv.height, c.conv.width, op.window, c.conv.out_height,
                                  c.conv.out_width);
        for (std::size_t j = 0; j < c.rule.output_dim; ++j)
          if (c.rule.window_start[j + 1] == c.rule.window_start[j])
            throw error(where + ": window " + std::to_string(j) + " covers only padding");
      } else {
        c.maps.push_back(average_pool_map(c.conv.channels, c.conv.height, c.conv.width, op.window,
                                          op.count_include_pad, c.conv.out_height, c.conv.out_width));
        for (std::size_t j = 0; j < c.maps[0].outputs; ++j)
          if (c.maps[0].start[j + 1] == c.maps[0].start[j])
            throw error(where + ": window " + std::to_string(j) + " covers only padding");
      }
      break;
    }
    case op_kind::scale_shift: {
      if (op.scale.size() != in_width || op.shift.size() != in_width)
        throw error(where + ": scale and shift hold " + std::to_string(op.scale.size()) + " and " +
                    std::to_string(op.shift.size()) + " values for an input of " + std::to_string(in_width));
      require_finite(op.scale, where, "scale");
      require_finite(op.shift, where, "shift");
      sparse_map m;
      m.inputs = m.outputs = in_width;
      for (std::size_t i = 0; i < in_width; ++i) {
        m.add(static_cast<std::uint32_t>(i), op.scale[i]);
        m.end_row();
      }
      c.maps.push_back(std::move(m));
      c.constant.assign(op.shift.begin(), op.shift.end());
      c.shape = in;
      break;
    }
    case op_kind::pad: {
      if (op.pad_begin.size() != in.size() || op.pad_end.size() != in.size())
        throw error(where + ": pads for " + std::to_string(op.pad_begin.size()) + " and " +
                    std::to_string(op.pad_end.size()) + " dimensions, the input " + shape_text(in) + " has " +
                    std::to_string(in.size()));
      if (!std::isfinite(op.pad_value)) throw error(where + ": the pad value is not finite");
      c.shape = in;
      for (std::size_t d = 0; d < in.size(); ++d) {
        if (op.pad_begin[d] > (std::size_t{1} << 20) || op.pad_end[d] > (std::size_t{1} << 20))
          throw error(where + ": padding of dimension " + std::to_string(d) + " is too large");
        c.shape[d] += op.pad_begin[d] + op.pad_end[d];
      }
      checked_product(c.shape, where + " output");
      const std::vector<std::int64_t> src = pad_sources(in, op.pad_begin, op.pad_end);
      sparse_map m;
      m.inputs = in_width;
      m.outputs = src.size();
      c.constant.assign(src.size(), 0.0);
      for (std::size_t o = 0; o < src.size(); ++o) {
        if (src[o] >= 0)
          m.add(static_cast<std::uint32_t>(src[o]), 1.0);
        else
          c.constant[o] = op.pad_value;
        m.end_row();
      }
      c.maps.push_back(std::move(m));
      break;
    }
    case op_kind::sum: {
      if (op.coefficients.size() != op.inputs.size())
        throw error(where + ": " + std::to_string(op.coefficients.size()) + " coefficients for " +
                    std::to_string(op.inputs.size()) + " inputs");
      require_finite(op.coefficients, where, "coefficients");
      for (std::size_t k = 0; k < op.inputs.size(); ++k) {
        const std::vector<std::size_t>& s = shapes[op.inputs[k]];
        if (shape_product(s, where) != in_width)
          throw error(where + ": input " + std::to_string(k) + " has shape " + shape_text(s) + ", input 0 " +
                      shape_text(in) + " (a sum needs inputs of the same size)");
        c.maps.push_back(identity_map(in_width, op.coefficients[k]));
      }
      c.shape = in;
      break;
    }
    case op_kind::concat: {
      std::vector<std::vector<std::size_t>> parts;
      if (op.axis >= in.size())
        throw error(where + ": axis " + std::to_string(op.axis) + " of a " + std::to_string(in.size()) + "-d input");
      c.shape = in;
      c.shape[op.axis] = 0;
      for (std::size_t k = 0; k < op.inputs.size(); ++k) {
        const std::vector<std::size_t>& s = shapes[op.inputs[k]];
        bool fits = s.size() == in.size();
        for (std::size_t d = 0; d < s.size() && fits; ++d) fits = d == op.axis || s[d] == in[d];
        if (!fits)
          throw error(where + ": input " + std::to_string(k) + " has shape " + shape_text(s) + ", input 0 " +
                      shape_text(in) + " (they may differ only along axis " + std::to_string(op.axis) + ")");
        c.shape[op.axis] += s[op.axis];
        parts.push_back(s);
      }
      checked_product(c.shape, where + " output");
      const auto src = concat_sources(parts, op.axis);
      for (std::size_t k = 0; k < parts.size(); ++k) {
        sparse_map m;
        m.inputs = shape_product(parts[k], where);
        m.outputs = src.size();
        for (const auto& [input, unit] : src) {
          if (input == k) m.add(unit, 1.0);
          m.end_row();
        }
        c.maps.push_back(std::move(m));
      }
      break;
    }
    case op_kind::reshape: {
      if (op.shape.empty() || shape_product(op.shape, where) != in_width ||
          std::find(op.shape.begin(), op.shape.end(), std::size_t{0}) != op.shape.end())
        throw error(where + ": shape " + shape_text(op.shape) + " does not hold the " + std::to_string(in_width) +
                    " values of the input " + shape_text(in));
      c.shape = op.shape;
      break;
    }
    case op_kind::relu:
    case op_kind::leaky_relu:
    case op_kind::clip: {
      c.rule.kind = op.kind == op_kind::relu         ? switch_kind::relu
                    : op.kind == op_kind::leaky_relu ? switch_kind::leaky_relu
                                                     : switch_kind::clip;
      c.rule.input_dim = c.rule.output_dim = in_width;
      c.rule.negative_slope = op.negative_slope;
      c.rule.low = op.low;
      c.rule.high = op.high;
      if (op.kind == op_kind::leaky_relu && !std::isfinite(op.negative_slope))
        throw error(where + ": negative_slope is not finite");
      if (op.kind == op_kind::clip && !(op.low < op.high))
        throw error(where + ": needs low < high, has low " + std::to_string(op.low) + ", high " +
                    std::to_string(op.high));
      c.shape = in;
      break;
    }
  }
  return c;
}

namespace {

using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// One operator on `rows` rows of the block.
void forward_op(const compiled_graph& g, const graph_op& op, const compiled_op& c, std::size_t node,
                const std::vector<std::vector<float>>& buf, float* out, std::size_t rows, std::vector<float>& cols,
                std::vector<double>& acc) {
  const std::size_t w = g.width[node];
  const float* in = buf[op.inputs[0]].data();
  const std::size_t win = g.width[op.inputs[0]];
  switch (op.kind) {
    case op_kind::dense: {
      const_row_map x(in, idx(rows), idx(win));
      const_row_map weight(op.weight.data(), idx(w), idx(win));
      row_map y(out, idx(rows), idx(w));
      y.noalias() = x * weight.transpose();
      y.rowwise() += const_row_vector_map(op.bias.data(), idx(w));
      return;
    }
    case op_kind::conv: conv_apply(c.conv, op.weight.data(), op.bias.data(), in, rows, out, false, cols); return;
    case op_kind::reshape: std::memcpy(out, in, rows * w * sizeof(float)); return;
    case op_kind::relu:
      for (std::size_t i = 0; i < rows * w; ++i) out[i] = in[i] < 0 ? 0.0f : in[i];
      return;
    case op_kind::leaky_relu:
      for (std::size_t i = 0; i < rows * w; ++i) out[i] = in[i] < 0 ? op.negative_slope * in[i] : in[i];
      return;
    case op_kind::clip:
      for (std::size_t i = 0; i < rows * w; ++i) out[i] = in[i] < op.low ? op.low : in[i] > op.high ? op.high : in[i];
      return;
    case op_kind::max_pool: {
      const switch_layer& s = c.rule;
      for (std::size_t r = 0; r < rows; ++r) {
        const float* x = in + r * win;
        for (std::size_t j = 0; j < w; ++j) {
          float m = x[s.window_index[s.window_start[j]]];
          for (std::uint32_t k = s.window_start[j] + 1; k < s.window_start[j + 1]; ++k) {
            const float v = x[s.window_index[k]];
            if (v > m || v != v) m = v;
          }
          out[r * w + j] = m;
        }
      }
      return;
    }
    case op_kind::avg_pool:
    case op_kind::scale_shift:
    case op_kind::pad:
    case op_kind::sum:
    case op_kind::concat: {
      acc.resize(w);
      for (std::size_t r = 0; r < rows; ++r) {
        if (c.constant.empty())
          std::fill(acc.begin(), acc.end(), 0.0);
        else
          std::copy(c.constant.begin(), c.constant.end(), acc.begin());
        for (std::size_t k = 0; k < c.maps.size(); ++k) {
          const sparse_map& m = c.maps[k];
          const float* x = buf[op.inputs[k]].data() + r * m.inputs;
          for (std::size_t o = 0; o < w; ++o)
            for (std::uint32_t e = m.start[o]; e < m.start[o + 1]; ++e) acc[o] += m.value[e] * x[m.index[e]];
        }
        for (std::size_t o = 0; o < w; ++o) out[r * w + o] = static_cast<float>(acc[o]);
      }
      return;
    }
  }
}

}  // namespace

void forward_graph(const compiled_graph& g, const std::vector<graph_op>& ops, matrix_view x, std::size_t output,
                   matrix& out) {
  const std::size_t n = x.rows;
  const std::size_t width = g.width[output];
  const std::size_t nodes = output + 1;
  out.resize(n, width);
  if (n == 0) return;
  const std::size_t block = g.block_rows;
  const std::size_t blocks = (n + block - 1) / block;
  auto run = [&](std::size_t first_block, std::size_t end_block) {
    // Scratch is local to the task, so forward() stays re-entrant.
    std::vector<std::vector<float>> buf(nodes);
    for (std::size_t i = 0; i < nodes; ++i) buf[i].resize(block * g.width[i]);
    std::vector<float> cols;
    std::vector<double> acc;
    for (std::size_t b = first_block; b < end_block; ++b) {
      const std::size_t r0 = b * block;
      const std::size_t rows = std::min(block, n - r0);
      const std::size_t padded = std::min(block, std::max(round_up(rows, gemm_row_multiple), g.min_rows));
      std::memcpy(buf[0].data(), x.row(r0), rows * x.cols * sizeof(float));
      std::fill(buf[0].begin() + static_cast<std::ptrdiff_t>(rows * x.cols),
                buf[0].begin() + static_cast<std::ptrdiff_t>(padded * x.cols), 0.0f);
      for (std::size_t k = 0; k + 1 < nodes; ++k)
        forward_op(g, ops[k], g.ops[k], k + 1, buf, buf[k + 1].data(), padded, cols, acc);
      std::memcpy(out.row(r0), buf[output].data(), rows * width * sizeof(float));
    }
  };
  if (blocks == 1) {
    run(0, 1);
  } else {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, blocks, 1),
                      [&](const tbb::blocked_range<std::size_t>& r) { run(r.begin(), r.end()); });
  }
}

}  // namespace genscope::detail
