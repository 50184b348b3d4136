// Building data sets: IDX files, CIFAR-10 batches, HDF5 files, synthetic manifolds, seeded subsets and label modes.
#pragma once

#include <genscope/dataset.hpp>
#include <genscope/export.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace genscope {

/// Default location of Debian's dataset-fashion-mnist package.
inline constexpr const char* default_fashion_mnist_dir = "/usr/share/datasets/fashion-mnist";
/// Default folder of CIFAR-10's binary batches: the folder the official cifar-10-binary.tar.gz unpacks
/// to, relative to the working directory.
inline constexpr const char* default_cifar10_dir = "cifar-10-batches-bin";

/// Where the samples of a data set come from.
struct dataset_spec {
  std::string name;
  std::string source = "idx";     ///< "idx", "cifar10", "synthetic" or "hdf5"
  // source = "idx": MNIST-format files; images/labels default to
  // <dir>/<split>-images-idx3-ubyte[.gz] and <dir>/<split>-labels-idx1-ubyte[.gz].
  // source = "cifar10": CIFAR-10's binary batches in <dir>, records of one label byte (0..9) and
  // 3 x 32 x 32 pixel bytes (R, G, B planes, rows top to bottom); split "train" reads
  // data_batch_1.bin .. data_batch_5.bin in order, "test" reads test_batch.bin. Samples {3, 32, 32},
  // bytes scaled by 1/255, 10 classes.
  /// Folder of the idx or cifar10 files; "" = the source's default (default_fashion_mnist_dir,
  /// default_cifar10_dir).
  std::string dir;
  std::string split = "train";    ///< idx: "train" or "t10k"; cifar10: "train" or "test"
  std::string images;             ///< explicit path, overrides dir/split
  std::string labels;             ///< explicit path, overrides dir/split
  // source = "synthetic": Gaussian clusters on a random manifold_dim-dimensional
  // linear subspace of R^dim, plus isotropic noise of standard deviation `noise`.
  std::size_t samples = 1000;
  std::size_t dim = 32;
  std::size_t manifold_dim = 2;
  std::size_t classes = 4;
  double cluster_spread = 1.0;    ///< std. dev. of each cluster inside the manifold
  double separation = 4.0;        ///< std. dev. of cluster centres inside the manifold
  double noise = 0.0;
  // source = "hdf5": one HDF5 file holding X (N x n or N x C x H x W ..., float32/float64 as is,
  // uint8 scaled by 1/255) and y (N integer labels >= 0; optional integer attribute class_count).
  std::string path;               ///< the HDF5 file
  std::string x = "X";            ///< name (path inside the file) of the samples' HDF5 dataset
  std::string y = "y";            ///< name (path inside the file) of the labels' HDF5 dataset
  // Common to every source:
  std::size_t subset = 0;         ///< keep a seeded subset of this many samples (0 = all)
  label_mode labels_mode = label_mode::real;
  /// label_mode::corrupt: fraction p in [0, 1]; round(p N) seeded samples get a uniformly random other
  /// class. Required with corrupt, an error with any other label mode (NaN: not set).
  double corruption = std::numeric_limits<double>::quiet_NaN();
  std::uint64_t seed = 0;         ///< seeds the synthetic draw, the subset and the label permutation
  // Applied last, after subset and label mode:
  std::string transform = "none"; ///< "none", "avgpool2", "avgpool4" (k x k mean of the last two dims) or "pca"
  std::size_t pca_dim = 0;        ///< transform = "pca": number of principal components d >= 1 (required)
  std::string pca_fit;            ///< transform = "pca": data set whose samples fit the projection ("" = this one)
};

/// What validation needs without loading the samples.
struct dataset_shape {
  std::vector<std::size_t> shape;  ///< of one sample
  std::size_t count = 0;           ///< samples after subsetting
  std::size_t class_count = 0;
  std::string name;                ///< the data set's item name in the experiment (set by validation)
};

/// Reads headers only (IDX; HDF5: the shapes and types of X and y, and the labels y for the
/// class count; CIFAR-10: the sizes of the batch files) or computes from the spec (synthetic).
/// Throws io_error naming the file when it is missing, not an IDX / HDF5 / CIFAR-10 file or
/// malformed; error when the spec is invalid or subset > count.
GENSCOPE_API dataset_shape peek_dataset(const dataset_spec& spec);

/// The files a data set reads: its IDX images and labels (as resolved, .gz first), its CIFAR-10
/// batches (whether or not they exist), its HDF5 file; none for synthetic data. Throws error when
/// the spec is invalid, io_error when an IDX file is missing.
GENSCOPE_API std::vector<std::string> dataset_files(const dataset_spec& spec);

/// Loads or generates the samples, applies subset, label mode and transform, fills sha256.
/// `fit`: with transform = "pca" and a non-empty pca_fit, the fitting data set as built with
/// transform = "none" (required then; ignored otherwise). Without pca_fit the data set fits itself.
GENSCOPE_API dataset build_dataset(const dataset_spec& spec, const dataset* fit = nullptr);

/// "real", "random" or "corrupt".
GENSCOPE_API const char* label_mode_name(label_mode mode) noexcept;
/// The mode label_mode_name gives `name`, or nothing for any other name.
GENSCOPE_API std::optional<label_mode> label_mode_from_name(std::string_view name) noexcept;

/// Replaces the labels of exactly round(p N) seeded samples by a uniformly random other class
/// (label_mode::corrupt); true_labels keep the labels before. Throws error when p is not in [0, 1]
/// or when a label must change but there are fewer than 2 classes.
GENSCOPE_API void corrupt_labels(dataset& data, double p, std::uint64_t seed);

/// k x k average pooling over the last two dims of the sample shape (rank >= 2, both divisible by k).
GENSCOPE_API void avgpool(dataset& data, std::size_t k);

/// The top-d principal components of a fitting set: mean (n) and components (d x n, rows orthonormal,
/// the largest |entry| of each row positive), with their variances (eigenvalues of the covariance, 1/N
/// normalisation, decreasing).
struct pca_basis {
  std::vector<double> mean;
  std::vector<double> components;  ///< d x n, row-major
  std::vector<double> variances;   ///< d
  std::size_t dim = 0;             ///< n
};
GENSCOPE_API pca_basis fit_pca(const matrix& x, std::size_t d);
/// Replaces each sample by its d coordinates (x - mean) . component_i; shape becomes {d}.
GENSCOPE_API void project_pca(dataset& data, const pca_basis& basis);

/// Reads one IDX file (raw or gzip, detected by content): returns the
/// dimensions and the raw bytes. Throws io_error naming the file on missing,
/// truncated or malformed input (bad magic, sizes that disagree with the data).
struct idx_array {
  std::vector<std::size_t> dims;
  std::vector<std::uint8_t> values;
};
GENSCOPE_API idx_array read_idx(const std::string& path);

/// Keeps `n` samples chosen by a seeded shuffle (stable: same seed, same samples).
GENSCOPE_API dataset take_subset(const dataset& data, std::size_t n, std::uint64_t seed);
/// Replaces labels by a seeded permutation of themselves (label_mode::random).
GENSCOPE_API void permute_labels(dataset& data, std::uint64_t seed);
/// Recomputes data.sha256 from shape, x and labels.
GENSCOPE_API void hash_dataset(dataset& data);

/// SHA-256 of a byte range / of a file, lowercase hex.
GENSCOPE_API std::string sha256_hex(const void* bytes, std::size_t size);
GENSCOPE_API std::string sha256_file(const std::string& path);

/// Incremental SHA-256.
class GENSCOPE_API sha256 {
 public:
  sha256();
  void update(const void* bytes, std::size_t size);
  std::string hex_digest();  ///< finishes; the object must not be updated afterwards
 private:
  void block(const std::uint8_t* p);
  std::uint32_t h_[8];
  std::uint8_t buf_[64];
  std::size_t buf_len_ = 0;
  std::uint64_t total_ = 0;
};

}  // namespace genscope
