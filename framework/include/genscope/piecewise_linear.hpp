// The piecewise-linear view of a network: the capability the exact region walk needs from a backend.
#pragma once

#include <genscope/export.hpp>

#include <cstddef>

namespace genscope {

/// One affine operator y = A x + b on flattened vectors, in double precision.
///
/// Dense layers implement it directly; convolution, average pooling and batch
/// norm in evaluation mode are affine too and implement the same four
/// operations. All functions are const and re-entrant.
class GENSCOPE_API affine_operator {
 public:
  affine_operator() = default;
  affine_operator(const affine_operator&) = delete;
  affine_operator& operator=(const affine_operator&) = delete;
  virtual ~affine_operator();

  virtual std::size_t input_dim() const = 0;
  virtual std::size_t output_dim() const = 0;
  /// Values: y_r = A x_r + b for `rows` row-major inputs x (rows x input_dim)
  /// into y (rows x output_dim).
  virtual void apply(const double* x, std::size_t rows, double* y) const = 0;
  /// Slopes and differences: y_r = A x_r (the linear part only).
  virtual void apply_linear(const double* x, std::size_t rows, double* y) const = 0;
  /// y += scale * A e_j: the effect of input unit j alone (rank-1 updates of a
  /// downstream affine form when unit j of the previous layer switches).
  virtual void add_column(std::size_t j, double scale, double* y) const = 0;
  /// Transposed linear part: x_r = A^T y_r for `rows` row-major inputs y (rows x
  /// output_dim) into x (rows x input_dim). Vector-Jacobian products go through
  /// it: a row of the network's Jacobian is a chain of these, masked by ReLUs.
  virtual void apply_transposed(const double* y, std::size_t rows, double* x) const = 0;
};

/// f = A_L o relu o A_{L-1} o ... o relu o A_1: a ReLU after every operator but
/// the last, whose outputs are the logits.
///
/// Contract for the walk: inside one activation pattern every pre-activation is
/// affine along a line, and the pattern at a breakpoint follows the right-limit
/// rule (a unit at zero is active when its slope along the line is positive),
/// decided layer by layer. Other piecewise-linear parts lower onto this form
/// without changing the walk: max(a, b) = b + relu(a - b) for max pooling, and
/// a skip connection carries x through relu(x) - relu(-x).
class GENSCOPE_API piecewise_linear_network {
 public:
  piecewise_linear_network() = default;
  piecewise_linear_network(const piecewise_linear_network&) = delete;
  piecewise_linear_network& operator=(const piecewise_linear_network&) = delete;
  virtual ~piecewise_linear_network();

  /// Number of affine operators (>= 1).
  virtual std::size_t layer_count() const = 0;
  virtual const affine_operator& layer(std::size_t i) const = 0;
};

}  // namespace genscope
