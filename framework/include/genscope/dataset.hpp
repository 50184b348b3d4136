// A labelled data set in memory, as samplers and trainers see it.
#pragma once

#include <genscope/matrix.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace genscope {

/// How a data set's labels were made from its source's true labels: kept (real), permuted (random) or a fraction
/// changed to another class (corrupt).
enum class label_mode { real, random, corrupt };

/// N samples of dimension n = product(shape), with integer labels in [0, class_count).
struct dataset {
  std::string name;                       ///< item name in the experiment
  std::vector<std::size_t> shape;         ///< shape of one sample, e.g. {28, 28}; product is x.cols
  matrix x;                               ///< N x n, float32 (images scaled to [0, 1])
  std::vector<std::int32_t> labels;       ///< N labels as used for training and sampling
  std::vector<std::int32_t> true_labels;  ///< N labels of the source before any relabelling
  /// How `labels` were made from `true_labels`: set by the label_mode of the data set, or declared by the file of
  /// an HDF5 source whose labels were permuted or corrupted outside GenScope (docs/data-formats.md).
  label_mode labels_mode = label_mode::real;
  double corruption = 0;  ///< with label_mode::corrupt: the fraction of labels changed
  std::size_t class_count = 0;
  std::vector<std::int64_t> source_index; ///< index of each sample in its source (after subsetting)
  /// Orthonormal basis of the known tangent space (rows, each of length n) when the
  /// data lie on a known linear manifold (synthetic data); empty otherwise.
  matrix tangent_basis;
  std::string sha256;       ///< SHA-256 (hex) of shape, x and labels: the content hash for provenance
  std::string description;  ///< where the data came from, one line

  std::size_t size() const noexcept { return x.rows; }
  std::size_t dim() const noexcept { return x.cols; }
};

}  // namespace genscope
