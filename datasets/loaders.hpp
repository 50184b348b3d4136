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

/// The folder of a spec's idx or cifar10 files: spec.dir, or the source's default when it is empty.
inline std::string folder_of(const dataset_spec& spec) {
  if (!spec.dir.empty()) return spec.dir;
  return spec.source == "cifar10" ? default_cifar10_dir : default_fashion_mnist_dir;
}

/// The source indices (ascending) a spec keeps of `available` samples: all of them, or its seeded
/// subset (dataset.cpp). Throws error when subset > available.
std::vector<std::size_t> kept_rows(const dataset_spec& spec, std::size_t available);

/// IDX file (idx.cpp): the dimensions from its header, without reading the data.
std::vector<std::size_t> read_idx_dims(const std::string& path);

/// Synthetic manifold (synthetic.cpp): every sample, no subset or label mode.
dataset make_synthetic(const dataset_spec& spec);

/// HDF5 file (hdf5.cpp): sample shape, count (before any subset) and class count, without reading X.
dataset_shape peek_hdf5(const dataset_spec& spec);
/// HDF5 file (hdf5.cpp): every sample and label, source_index the row in the file, no subset or label mode.
dataset load_hdf5(const dataset_spec& spec);

/// CIFAR-10 (cifar10.cpp): the split's batch files in reading order (split already validated).
std::vector<std::string> cifar10_files(const dataset_spec& spec);
/// CIFAR-10: shape {3, 32, 32}, the records of the split's files (before any subset) and 10 classes,
/// from the file sizes alone. Throws io_error naming a file that is missing, empty or not a whole
/// number of records.
dataset_shape peek_cifar10(const dataset_spec& spec);
/// CIFAR-10: the samples kept_rows keeps of the split's records (`available` is set to the record
/// count), source_index the record's index in the split (over its files in order); no label mode.
/// Throws io_error naming the file as peek_cifar10 does, and for a label byte above 9.
dataset load_cifar10(const dataset_spec& spec, std::size_t& available);

}  // namespace genscope::detail
