// Dense row-major float32 batches, the unit of data exchanged across the plugin boundary.
#pragma once

#include <cstddef>
#include <vector>

namespace genscope {

/// Owning row-major matrix: rows are items (samples, probes), columns are features.
/// Plain std::vector storage, so it crosses shared-library boundaries safely
/// whatever SIMD flags each side was built with.
struct matrix {
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::vector<float> data;

  matrix() = default;
  matrix(std::size_t r, std::size_t c) : rows(r), cols(c), data(r * c, 0.0f) {}

  void resize(std::size_t r, std::size_t c) {
    rows = r;
    cols = c;
    data.resize(r * c);
  }
  float* row(std::size_t i) noexcept { return data.data() + i * cols; }
  const float* row(std::size_t i) const noexcept { return data.data() + i * cols; }
  float& operator()(std::size_t i, std::size_t j) noexcept { return data[i * cols + j]; }
  float operator()(std::size_t i, std::size_t j) const noexcept { return data[i * cols + j]; }
};

/// Non-owning view of `rows` x `cols` row-major floats.
struct matrix_view {
  const float* data = nullptr;
  std::size_t rows = 0;
  std::size_t cols = 0;

  matrix_view() = default;
  matrix_view(const float* d, std::size_t r, std::size_t c) : data(d), rows(r), cols(c) {}
  matrix_view(const matrix& m) : data(m.data.data()), rows(m.rows), cols(m.cols) {}  // NOLINT: implicit by design

  const float* row(std::size_t i) const noexcept { return data + i * cols; }
  float operator()(std::size_t i, std::size_t j) const noexcept { return data[i * cols + j]; }
};

}  // namespace genscope
