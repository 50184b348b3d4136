// Independent oracles shared by tests: plain double-precision loops, no Eigen, no GenScope engine code.
#pragma once

#include <genscope/mlp.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace genscope::testing {

// Logits of one input row, and a bound on the magnitude of every term summed (for rounding tolerances).
inline std::vector<double> naive_logits(const std::vector<dense_layer>& layers, const float* x, std::size_t n,
                                 std::vector<double>* bound = nullptr) {
  std::vector<double> a(x, x + n), abs_a(n);
  for (std::size_t j = 0; j < n; ++j) abs_a[j] = std::fabs(a[j]);
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const dense_layer& layer = layers[l];
    std::vector<double> z(layer.weight.rows), abs_z(layer.weight.rows);
    for (std::size_t i = 0; i < layer.weight.rows; ++i) {
      double s = layer.bias[i], s_abs = std::fabs(layer.bias[i]);
      for (std::size_t j = 0; j < layer.weight.cols; ++j) {
        s += static_cast<double>(layer.weight(i, j)) * a[j];
        s_abs += std::fabs(static_cast<double>(layer.weight(i, j))) * abs_a[j];
      }
      const bool hidden = l + 1 < layers.size();
      z[i] = hidden ? std::max(0.0, s) : s;
      abs_z[i] = s_abs;
    }
    a = std::move(z);
    abs_a = std::move(abs_z);
  }
  if (bound != nullptr) *bound = abs_a;
  return a;
}

}  // namespace genscope::testing
