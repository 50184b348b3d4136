// The native graph's piecewise-linear view: dense, convolution and sparse affine operators in double precision, and its switches.
#include "nn/compiled_graph.hpp"

#include <genscope/network_graph.hpp>

#include <memory>
#include <vector>

namespace genscope {

namespace {

using row_matrix_d = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using row_map_d = Eigen::Map<row_matrix_d>;
using const_row_map_d = Eigen::Map<const row_matrix_d>;

Eigen::Index ix(std::size_t n) { return static_cast<Eigen::Index>(n); }

// y = W x + b.
class dense_affine final : public affine_operator {
 public:
  dense_affine(const graph_op& op, std::size_t in) : in_(in), out_(op.bias.size()), wt_(ix(in_), ix(out_)), bias_(ix(out_)) {
    // Stored transposed: column j of W (the effect of input unit j) is then contiguous.
    for (std::size_t i = 0; i < out_; ++i)
      for (std::size_t j = 0; j < in_; ++j) wt_(ix(j), ix(i)) = op.weight[i * in_ + j];
    for (std::size_t i = 0; i < out_; ++i) bias_(ix(i)) = op.bias[i];
    if (out_ <= narrow_outputs) w_ = wt_.transpose();
  }

  std::size_t input_dim(std::size_t) const override { return in_; }
  std::size_t output_dim() const override { return out_; }
  void add_bias(std::size_t rows, double* y) const override { row_map_d(y, ix(rows), ix(out_)).rowwise() += bias_; }
  void add_linear(std::size_t, const double* x, std::size_t rows, double* y) const override {
    if (rows > few_rows) {
      row_map_d(y, ix(rows), ix(out_)).noalias() += const_row_map_d(x, ix(rows), ix(in_)) * wt_;
    } else if (out_ <= narrow_outputs) {  // the logits: one dot product per output
      for (std::size_t r = 0; r < rows; ++r)
        Eigen::Map<Eigen::VectorXd>(y + r * out_, ix(out_)).noalias() +=
            w_ * Eigen::Map<const Eigen::VectorXd>(x + r * in_, ix(in_));
    } else {
      // The walk's products (a form's values and slopes, or one change): a packed GEMM would copy the whole
      // matrix for two rows. Column by column instead, each read once and skipped where every row is zero (a
      // ReLU's inactive units, about half).
      for (std::size_t j = 0; j < in_; ++j)
        for (std::size_t r = 0; r < rows; ++r) {
          const double v = x[r * in_ + j];
          if (v != 0) Eigen::Map<Eigen::RowVectorXd>(y + r * out_, ix(out_)) += v * wt_.row(ix(j));
        }
    }
  }
  void add_column(std::size_t, std::size_t j, double scale, double* y) const override {
    Eigen::Map<Eigen::RowVectorXd>(y, ix(out_)) += scale * wt_.row(ix(j));
  }
  void add_transposed(std::size_t, const double* y, std::size_t rows, double* x) const override {
    row_map_d(x, ix(rows), ix(in_)).noalias() += const_row_map_d(y, ix(rows), ix(out_)) * wt_.transpose();
  }

 private:
  // Up to few_rows rows, add_linear works column by column; up to narrow_outputs outputs, by dot products with w_.
  static constexpr std::size_t few_rows = 4;
  static constexpr std::size_t narrow_outputs = 32;
  std::size_t in_, out_;
  row_matrix_d wt_;
  row_matrix_d w_;  // W itself (out x in), kept for narrow layers only
  Eigen::RowVectorXd bias_;
};

// 2-D convolution; a column reaches a kernel-sized neighbourhood of every output channel of its group.
class conv_affine final : public affine_operator {
 public:
  conv_affine(const graph_op& op, const detail::conv_shape& s)
      : s_(s), weight_(op.weight.begin(), op.weight.end()), bias_(op.bias.begin(), op.bias.end()) {}

  std::size_t input_dim(std::size_t) const override { return s_.input_size(); }
  std::size_t output_dim() const override { return s_.output_size(); }
  void add_bias(std::size_t rows, double* y) const override {
    const std::size_t spatial = s_.out_height * s_.out_width;
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t oc = 0; oc < s_.out_channels; ++oc) {
        double* plane = y + r * s_.output_size() + oc * spatial;
        for (std::size_t i = 0; i < spatial; ++i) plane[i] += bias_[oc];
      }
  }
  void add_linear(std::size_t, const double* x, std::size_t rows, double* y) const override {
    std::vector<double> cols;
    detail::conv_apply<double>(s_, weight_.data(), nullptr, x, rows, y, true, cols);
  }
  void add_column(std::size_t, std::size_t j, double scale, double* y) const override {
    detail::for_each_conv_column_entry(s_, j, [&](std::size_t o, std::size_t w) { y[o] += scale * weight_[w]; });
  }
  void add_transposed(std::size_t, const double* y, std::size_t rows, double* x) const override {
    std::vector<double> cols;
    detail::conv_apply_transposed<double>(s_, weight_.data(), y, rows, x, cols);
  }
  bool add_sparse(std::size_t, const std::uint32_t* support, std::size_t count, const double* v, double* y,
                  std::vector<std::uint32_t>& touched, std::uint8_t* flags) const override {
    for (std::size_t k = 0; k < count; ++k) {
      const double scale = v[support[k]];
      detail::for_each_conv_column_entry(s_, support[k], [&](std::size_t o, std::size_t w) {
        y[o] += scale * weight_[w];
        if (flags[o] == 0) {
          flags[o] = 1;
          touched.push_back(static_cast<std::uint32_t>(o));
        }
      });
    }
    return true;
  }

 private:
  detail::conv_shape s_;
  std::vector<double> weight_, bias_;
};

// constant + sum_i M_i x_i with sparse M_i: average pooling, padding, scale and shift, sums, concatenations.
class sparse_affine final : public affine_operator {
 public:
  explicit sparse_affine(const detail::compiled_op& c) : maps_(c.maps), constant_(c.constant) {
    for (const detail::sparse_map& m : maps_) columns_.push_back(m.transposed());
  }

  std::size_t input_count() const override { return maps_.size(); }
  std::size_t input_dim(std::size_t i) const override { return maps_[i].inputs; }
  std::size_t output_dim() const override { return maps_[0].outputs; }
  void add_bias(std::size_t rows, double* y) const override {
    if (constant_.empty()) return;
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t o = 0; o < constant_.size(); ++o) y[r * constant_.size() + o] += constant_[o];
  }
  void add_linear(std::size_t i, const double* x, std::size_t rows, double* y) const override {
    const detail::sparse_map& m = maps_[i];
    for (std::size_t r = 0; r < rows; ++r) {
      const double* xr = x + r * m.inputs;
      double* yr = y + r * m.outputs;
      for (std::size_t o = 0; o < m.outputs; ++o) {
        double sum = 0;
        for (std::uint32_t e = m.start[o]; e < m.start[o + 1]; ++e) sum += m.value[e] * xr[m.index[e]];
        yr[o] += sum;
      }
    }
  }
  void add_column(std::size_t i, std::size_t j, double scale, double* y) const override {
    const detail::sparse_map& c = columns_[i];
    for (std::uint32_t e = c.start[j]; e < c.start[j + 1]; ++e) y[c.index[e]] += scale * c.value[e];
  }
  void add_transposed(std::size_t i, const double* y, std::size_t rows, double* x) const override {
    const detail::sparse_map& m = maps_[i];
    for (std::size_t r = 0; r < rows; ++r) {
      const double* yr = y + r * m.outputs;
      double* xr = x + r * m.inputs;
      for (std::size_t o = 0; o < m.outputs; ++o)
        for (std::uint32_t e = m.start[o]; e < m.start[o + 1]; ++e) xr[m.index[e]] += m.value[e] * yr[o];
    }
  }
  bool add_sparse(std::size_t i, const std::uint32_t* support, std::size_t count, const double* v, double* y,
                  std::vector<std::uint32_t>& touched, std::uint8_t* flags) const override {
    const detail::sparse_map& c = columns_[i];
    for (std::size_t k = 0; k < count; ++k) {
      const std::uint32_t j = support[k];
      for (std::uint32_t e = c.start[j]; e < c.start[j + 1]; ++e) {
        const std::uint32_t o = c.index[e];
        y[o] += v[j] * c.value[e];
        if (flags[o] == 0) {
          flags[o] = 1;
          touched.push_back(o);
        }
      }
    }
    return true;
  }

 private:
  std::vector<detail::sparse_map> maps_, columns_;
  std::vector<double> constant_;
};

}  // namespace

std::unique_ptr<piecewise_linear_graph> network_graph::piecewise_linear_view() const {
  auto view = std::make_unique<piecewise_linear_graph>(input_dim());
  std::vector<std::size_t> at(ops_.size() + 1, 0);  // graph node -> view node
  for (std::size_t k = 0; k < ops_.size(); ++k) {
    const graph_op& op = ops_[k];
    const detail::compiled_op& c = compiled_->ops[k];
    std::vector<std::size_t> inputs;
    for (std::size_t in : op.inputs) inputs.push_back(at[in]);
    switch (op.kind) {
      case op_kind::reshape: at[k + 1] = inputs[0]; break;
      case op_kind::dense:
        at[k + 1] = view->add_affine(std::make_unique<dense_affine>(op, compiled_->width[op.inputs[0]]), inputs);
        break;
      case op_kind::conv: at[k + 1] = view->add_affine(std::make_unique<conv_affine>(op, c.conv), inputs); break;
      case op_kind::avg_pool:
      case op_kind::scale_shift:
      case op_kind::pad:
      case op_kind::sum:
      case op_kind::concat: at[k + 1] = view->add_affine(std::make_unique<sparse_affine>(c), inputs); break;
      case op_kind::max_pool:
      case op_kind::relu:
      case op_kind::leaky_relu:
      case op_kind::clip: at[k + 1] = view->add_switch(c.rule, inputs[0]); break;
    }
  }
  // A graph ending in a reshape of the input (no operator at all in the view) still needs a last node.
  if (view->size() == 1 || at.back() != view->size() - 1) {
    detail::compiled_op identity;
    detail::sparse_map m;
    m.inputs = m.outputs = class_count();
    for (std::size_t i = 0; i < m.outputs; ++i) {
      m.add(static_cast<std::uint32_t>(i), 1.0);
      m.end_row();
    }
    identity.maps.push_back(std::move(m));
    view->add_affine(std::make_unique<sparse_affine>(identity), {at.back()});
  }
  return view;
}

}  // namespace genscope
