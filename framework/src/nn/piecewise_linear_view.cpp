// Dense layers as double-precision affine operators: the native engine's piecewise-linear view.
#include <genscope/mlp.hpp>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop

#include <memory>
#include <vector>

namespace genscope {

namespace {

using row_matrix_d = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using row_map_d = Eigen::Map<row_matrix_d>;
using const_row_map_d = Eigen::Map<const row_matrix_d>;

class dense_affine final : public affine_operator {
 public:
  explicit dense_affine(const dense_layer& layer)
      : in_(layer.weight.cols), out_(layer.weight.rows), wt_(in_, out_), bias_(out_) {
    // Stored transposed: column j of W (the effect of input unit j) is then contiguous.
    for (std::size_t i = 0; i < out_; ++i)
      for (std::size_t j = 0; j < in_; ++j) wt_(idx(j), idx(i)) = layer.weight(i, j);
    for (std::size_t i = 0; i < out_; ++i) bias_(idx(i)) = layer.bias[i];
  }

  std::size_t input_dim() const override { return in_; }
  std::size_t output_dim() const override { return out_; }

  void apply(const double* x, std::size_t rows, double* y) const override {
    apply_linear(x, rows, y);
    row_map_d(y, idx(rows), idx(out_)).rowwise() += bias_;
  }

  void apply_linear(const double* x, std::size_t rows, double* y) const override {
    row_map_d(y, idx(rows), idx(out_)).noalias() = const_row_map_d(x, idx(rows), idx(in_)) * wt_;
  }

  void add_column(std::size_t j, double scale, double* y) const override {
    Eigen::Map<Eigen::RowVectorXd>(y, idx(out_)) += scale * wt_.row(idx(j));
  }

  void apply_transposed(const double* y, std::size_t rows, double* x) const override {
    row_map_d(x, idx(rows), idx(in_)).noalias() = const_row_map_d(y, idx(rows), idx(out_)) * wt_.transpose();
  }

 private:
  static Eigen::Index idx(std::size_t n) { return static_cast<Eigen::Index>(n); }
  std::size_t in_, out_;
  row_matrix_d wt_;
  Eigen::RowVectorXd bias_;
};

class dense_network final : public piecewise_linear_network {
 public:
  explicit dense_network(const std::vector<dense_layer>& layers) {
    for (const auto& l : layers) layers_.push_back(std::make_unique<dense_affine>(l));
  }
  std::size_t layer_count() const override { return layers_.size(); }
  const affine_operator& layer(std::size_t i) const override { return *layers_.at(i); }

 private:
  std::vector<std::unique_ptr<dense_affine>> layers_;
};

}  // namespace

std::unique_ptr<piecewise_linear_network> mlp::piecewise_linear_view() const {
  return std::make_unique<dense_network>(layers_);
}

}  // namespace genscope
