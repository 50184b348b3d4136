// The data set sources' loaders, private to datasets/: what dataset.cpp calls, and the byte scaling they share.
#pragma once

#include <genscope/datasets.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace genscope::detail {

/// Pixel bytes as the samples hold them: each of the n bytes divided by 255 (0..255 becomes [0, 1]).
/// The one scaling of uint8 data, whatever the source (IDX images, uint8 HDF5 samples).
inline void scale_bytes(const std::uint8_t* bytes, std::size_t n, float* out) noexcept {
  for (std::size_t j = 0; j < n; ++j) out[j] = static_cast<float>(bytes[j]) / 255.0f;
}

/// IDX file (idx.cpp): the dimensions from its header, without reading the data.
std::vector<std::size_t> read_idx_dims(const std::string& path);

/// Synthetic manifold (synthetic.cpp): every sample, no subset or label mode.
dataset make_synthetic(const dataset_spec& spec);

/// HDF5 file (hdf5.cpp): sample shape, count (before any subset) and class count, without reading X.
dataset_shape peek_hdf5(const dataset_spec& spec);
/// HDF5 file (hdf5.cpp): every sample and label, source_index the row in the file, no subset or label mode.
dataset load_hdf5(const dataset_spec& spec);

}  // namespace genscope::detail
