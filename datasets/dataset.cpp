// Building data sets from specs: validation, IDX loading, seeded subsets, label permutation, content hash.
#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/random.hpp>

#include "loaders.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace genscope {

namespace {

std::string who(const dataset_spec& spec) { return spec.name.empty() ? "dataset" : "dataset '" + spec.name + "'"; }

[[noreturn]] void invalid(const dataset_spec& spec, const std::string& message) {
  throw error(who(spec) + ": " + message);
}

void require_finite_nonnegative(const dataset_spec& spec, const char* field, double value) {
  if (!std::isfinite(value) || value < 0)
    invalid(spec, std::string(field) + " = " + std::to_string(value) + " must be finite and non-negative");
}

void validate(const dataset_spec& spec) {
  if (spec.source == "idx") {
    const bool defaults_used = spec.images.empty() || spec.labels.empty();
    if (defaults_used && spec.split != "train" && spec.split != "t10k")
      invalid(spec, "unknown split '" + spec.split + "' (expected \"train\" or \"t10k\")");
  } else if (spec.source == "cifar10") {
    if (spec.split != "train" && spec.split != "test")
      invalid(spec, "'split' = \"" + spec.split + "\" is not a CIFAR-10 split (expected \"train\" or \"test\")");
  } else if (spec.source == "synthetic") {
    if (spec.samples == 0) invalid(spec, "samples must be at least 1");
    if (spec.dim == 0) invalid(spec, "dim must be at least 1");
    if (spec.manifold_dim == 0) invalid(spec, "manifold_dim must be at least 1");
    if (spec.manifold_dim > spec.dim)
      invalid(spec, "manifold_dim = " + std::to_string(spec.manifold_dim) + " exceeds dim = " +
                        std::to_string(spec.dim));
    if (spec.classes == 0) invalid(spec, "classes must be at least 1");
    require_finite_nonnegative(spec, "cluster_spread", spec.cluster_spread);
    require_finite_nonnegative(spec, "separation", spec.separation);
    require_finite_nonnegative(spec, "noise", spec.noise);
  } else if (spec.source == "hdf5") {
    if (spec.path.empty()) invalid(spec, "source = \"hdf5\" needs 'path', the HDF5 file");
    if (spec.x.empty()) invalid(spec, "'x' is empty: it must name the HDF5 dataset of the samples");
    if (spec.y.empty()) invalid(spec, "'y' is empty: it must name the HDF5 dataset of the labels");
  } else {
    invalid(spec, "unknown source '" + spec.source + "' (expected \"idx\", \"cifar10\", \"synthetic\" or \"hdf5\")");
  }
  if (spec.labels_mode != label_mode::real && spec.labels_mode != label_mode::random &&
      spec.labels_mode != label_mode::corrupt)
    invalid(spec, "unknown labels_mode");
  const bool has_corruption = !std::isnan(spec.corruption);
  if (spec.labels_mode == label_mode::corrupt && !has_corruption)
    invalid(spec, "label_mode = \"corrupt\" needs 'corruption', the fraction of labels to change (0 to 1)");
  if (spec.labels_mode != label_mode::corrupt && has_corruption)
    invalid(spec, "'corruption' applies only with label_mode = \"corrupt\", but label_mode is \"" +
                      std::string(label_mode_name(spec.labels_mode)) + "\"");
  if (has_corruption && !(spec.corruption >= 0 && spec.corruption <= 1))
    invalid(spec, "corruption = " + std::to_string(spec.corruption) + " must be in [0, 1]");
  if (spec.transform != "none" && spec.transform != "avgpool2" && spec.transform != "avgpool4" &&
      spec.transform != "pca")
    invalid(spec, "unknown transform '" + spec.transform +
                      "' (expected \"none\", \"avgpool2\", \"avgpool4\" or \"pca\")");
  if (spec.transform == "pca" && spec.pca_dim == 0)
    invalid(spec, "transform = \"pca\" needs 'pca_dim' >= 1, the number of principal components");
  if (spec.transform != "pca" && spec.pca_dim != 0)
    invalid(spec, "'pca_dim' applies only with transform = \"pca\", but transform is \"" + spec.transform + "\"");
  if (spec.transform != "pca" && !spec.pca_fit.empty())
    invalid(spec, "'pca_fit' applies only with transform = \"pca\", but transform is \"" + spec.transform + "\"");
}

std::size_t pool_size(const std::string& transform) {
  return transform == "avgpool2" ? 2 : transform == "avgpool4" ? 4 : 0;
}

std::size_t product(const std::vector<std::size_t>& shape) {
  std::size_t n = 1;
  for (std::size_t d : shape) n *= d;
  return n;
}

void check_pool_shape(const std::string& what, const std::vector<std::size_t>& shape, std::size_t k) {
  std::string text;
  for (std::size_t d : shape) text += (text.empty() ? "" : "x") + std::to_string(d);
  if (shape.size() < 2)
    throw error(what + ": transform avgpool" + std::to_string(k) + " needs samples of rank >= 2 (an image), but " +
                "the sample shape is " + (text.empty() ? "scalar" : text));
  if (shape[shape.size() - 1] % k != 0 || shape[shape.size() - 2] % k != 0)
    throw error(what + ": transform avgpool" + std::to_string(k) + " needs the last two dims divisible by " +
                std::to_string(k) + ", but the sample shape is " + text);
}

// The sample shape after the spec's transform (checks it applies).
std::vector<std::size_t> transformed_shape(const dataset_spec& spec, std::vector<std::size_t> shape) {
  if (const std::size_t k = pool_size(spec.transform); k > 0) {
    check_pool_shape(who(spec), shape, k);
    shape[shape.size() - 1] /= k;
    shape[shape.size() - 2] /= k;
  } else if (spec.transform == "pca") {
    const std::size_t n = product(shape);
    if (spec.pca_dim > n)
      invalid(spec, "pca_dim = " + std::to_string(spec.pca_dim) + " exceeds the sample dimension " +
                        std::to_string(n));
    shape = {spec.pca_dim};
  }
  return shape;
}

void apply_transform(const dataset_spec& spec, dataset& data, const dataset* fit) {
  if (const std::size_t k = pool_size(spec.transform); k > 0) {
    check_pool_shape(who(spec), data.shape, k);
    avgpool(data, k);
  } else if (spec.transform == "pca") {
    transformed_shape(spec, data.shape);  // pca_dim <= n
    const dataset* source = &data;
    if (!spec.pca_fit.empty()) {
      if (fit == nullptr)
        invalid(spec, "pca_fit = \"" + spec.pca_fit + "\" but the fitting data set was not given");
      if (fit->dim() != data.dim())
        invalid(spec, "pca_fit = \"" + spec.pca_fit + "\" has samples of dimension " + std::to_string(fit->dim()) +
                          ", but this data set has dimension " + std::to_string(data.dim()));
      source = fit;
    }
    if (source->size() == 0) invalid(spec, "transform = \"pca\" needs at least one fitting sample");
    project_pca(data, fit_pca(source->x, spec.pca_dim));
  }
}

void check_subset(const dataset_spec& spec, std::size_t available) {
  if (spec.subset > available)
    invalid(spec, "subset = " + std::to_string(spec.subset) + " exceeds the " + std::to_string(available) +
                      " samples available");
}

// <dir>/<split>-<kind>-idxN-ubyte.gz, or the uncompressed name when only that exists.
std::string idx_path(const dataset_spec& spec, const std::string& explicit_path, const char* kind, int rank) {
  if (!explicit_path.empty()) return explicit_path;
  const std::string base = (std::filesystem::path(detail::folder_of(spec)) /
                            (spec.split + "-" + kind + "-idx" + std::to_string(rank) + "-ubyte"))
                               .string();
  std::error_code ec;
  if (std::filesystem::exists(base + ".gz", ec)) return base + ".gz";
  if (std::filesystem::exists(base, ec)) return base;
  throw io_error(base + ".gz", "cannot open: no such file (nor '" + base + "')");
}

struct idx_paths {
  std::string images, labels;
};

idx_paths resolve(const dataset_spec& spec) {
  return {idx_path(spec, spec.images, "images", 3), idx_path(spec, spec.labels, "labels", 1)};
}

void check_image_dims(const std::string& path, const std::vector<std::size_t>& dims) {
  if (dims.size() < 2)
    throw io_error(path, "not an IDX image file: expected at least 2 dimensions (count, rows, cols), found " +
                             std::to_string(dims.size()));
}

void check_label_dims(const std::string& path, const std::vector<std::size_t>& dims) {
  if (dims.size() != 1)
    throw io_error(path, "not an IDX label file: expected 1 dimension, found " + std::to_string(dims.size()));
}

void check_counts(const idx_paths& p, std::size_t images, std::size_t labels) {
  if (images != labels)
    throw io_error(p.labels, "holds " + std::to_string(labels) + " labels but '" + p.images + "' holds " +
                                 std::to_string(images) + " images");
}

std::size_t class_count_of(const std::vector<std::uint8_t>& labels) {
  if (labels.empty()) return 0;
  return std::size_t{*std::max_element(labels.begin(), labels.end())} + 1;
}

// The first n entries of a seeded Fisher-Yates shuffle of 0..count-1, sorted. Depends only on
// (count, n, seed); subsets of the same seed are nested: a smaller n keeps a subset of a larger one.
std::vector<std::size_t> subset_indices(std::size_t count, std::size_t n, std::uint64_t seed) {
  std::vector<std::size_t> perm(count);
  std::iota(perm.begin(), perm.end(), std::size_t{0});
  rng gen(seed, stream_key("subset"));
  for (std::size_t i = 0; i < n; ++i) std::swap(perm[i], perm[i + gen.below(count - i)]);
  perm.resize(n);
  std::sort(perm.begin(), perm.end());
  return perm;
}

dataset select_rows(const dataset& data, const std::vector<std::size_t>& rows) {
  dataset out;
  out.name = data.name;
  out.shape = data.shape;
  out.class_count = data.class_count;
  out.tangent_basis = data.tangent_basis;
  out.description = data.description;
  out.labels_mode = data.labels_mode;
  out.corruption = data.corruption;
  out.x = matrix(rows.size(), data.dim());
  out.labels.resize(rows.size());
  out.source_index.resize(rows.size());
  const bool has_true = data.true_labels.size() == data.labels.size();
  const bool has_index = data.source_index.size() == data.labels.size();
  out.true_labels.resize(rows.size());
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const std::size_t r = rows[k];
    std::copy_n(data.x.row(r), data.dim(), out.x.row(k));
    out.labels[k] = data.labels[r];
    out.true_labels[k] = has_true ? data.true_labels[r] : data.labels[r];
    out.source_index[k] = has_index ? data.source_index[r] : static_cast<std::int64_t>(r);
  }
  return out;
}

void shuffle_labels(dataset& data, std::uint64_t seed) {
  if (data.true_labels.size() != data.labels.size()) data.true_labels = data.labels;
  rng gen(seed, stream_key("labels"));
  for (std::size_t i = data.labels.size(); i > 1; --i) std::swap(data.labels[i - 1], data.labels[gen.below(i)]);
  data.labels_mode = label_mode::random;
  data.corruption = 0;
}

// Feeds an array to the hash as little-endian bytes, whatever the machine's byte order.
template <class T>
void update_le(sha256& s, const T* values, std::size_t n) {
  if constexpr (std::endian::native == std::endian::little) {
    s.update(values, n * sizeof(T));
  } else {
    unsigned char bytes[sizeof(T)];
    for (std::size_t i = 0; i < n; ++i) {
      std::memcpy(bytes, values + i, sizeof(T));
      std::reverse(bytes, bytes + sizeof(T));
      s.update(bytes, sizeof(T));
    }
  }
}

std::string describe_spec(const dataset_spec& spec, const idx_paths* paths, std::size_t available) {
  std::ostringstream d;
  if (paths != nullptr) {
    d << "idx images=" << paths->images << " labels=" << paths->labels << " split=" << spec.split;
  } else if (spec.source == "hdf5") {
    d << "hdf5 path=" << spec.path << " x=" << spec.x << " y=" << spec.y;
  } else if (spec.source == "cifar10") {
    d << "cifar10 dir=" << detail::folder_of(spec) << " split=" << spec.split;
  } else {
    d << "synthetic samples=" << spec.samples << " dim=" << spec.dim << " manifold_dim=" << spec.manifold_dim
      << " classes=" << spec.classes << " cluster_spread=" << spec.cluster_spread
      << " separation=" << spec.separation << " noise=" << spec.noise;
  }
  d << " subset=";
  if (spec.subset == 0) d << "all(" << available << ")";
  else d << spec.subset << "/" << available;
  d << " labels=" << label_mode_name(spec.labels_mode);
  if (spec.labels_mode == label_mode::corrupt) d << " corruption=" << spec.corruption;
  d << " seed=" << spec.seed;
  if (spec.transform != "none") d << " transform=" << spec.transform;
  if (spec.transform == "pca")
    d << " pca_dim=" << spec.pca_dim << " pca_fit=" << (spec.pca_fit.empty() ? spec.name : spec.pca_fit);
  return d.str();
}

dataset load_idx(const dataset_spec& spec, const idx_paths& paths, std::size_t& available) {
  const idx_array images = read_idx(paths.images);
  check_image_dims(paths.images, images.dims);
  const idx_array labels = read_idx(paths.labels);
  check_label_dims(paths.labels, labels.dims);
  const std::size_t count = images.dims[0];
  check_counts(paths, count, labels.dims[0]);
  available = count;
  const std::vector<std::size_t> rows = detail::kept_rows(spec, count);
  dataset data;
  data.name = spec.name;
  data.shape.assign(images.dims.begin() + 1, images.dims.end());
  const std::size_t n = count == 0 ? 0 : images.values.size() / count;
  data.class_count = class_count_of(labels.values);
  data.x = matrix(rows.size(), n);
  data.labels.resize(rows.size());
  data.source_index.resize(rows.size());
  for (std::size_t k = 0; k < rows.size(); ++k) {
    detail::scale_bytes(images.values.data() + rows[k] * n, n, data.x.row(k));
    data.labels[k] = labels.values[rows[k]];
    data.source_index[k] = static_cast<std::int64_t>(rows[k]);
  }
  data.true_labels = data.labels;
  return data;
}

}  // namespace

std::vector<std::size_t> detail::kept_rows(const dataset_spec& spec, std::size_t available) {
  check_subset(spec, available);
  if (spec.subset > 0) return subset_indices(available, spec.subset, spec.seed);
  std::vector<std::size_t> rows(available);
  std::iota(rows.begin(), rows.end(), std::size_t{0});
  return rows;
}

namespace {

dataset_shape peek_untransformed(const dataset_spec& spec) {
  dataset_shape out;
  if (spec.source == "synthetic") {
    check_subset(spec, spec.samples);
    out.shape = {spec.dim};
    out.count = spec.subset > 0 ? spec.subset : spec.samples;
    out.class_count = spec.classes;
    return out;
  }
  if (spec.source == "hdf5" || spec.source == "cifar10") {
    out = spec.source == "hdf5" ? detail::peek_hdf5(spec) : detail::peek_cifar10(spec);
    check_subset(spec, out.count);
    if (spec.subset > 0) out.count = spec.subset;
    return out;
  }
  const idx_paths paths = resolve(spec);
  const std::vector<std::size_t> image_dims = detail::read_idx_dims(paths.images);
  check_image_dims(paths.images, image_dims);
  // The label file is small; reading it whole gives the class count.
  const idx_array labels = read_idx(paths.labels);
  check_label_dims(paths.labels, labels.dims);
  check_counts(paths, image_dims[0], labels.dims[0]);
  check_subset(spec, image_dims[0]);
  out.shape.assign(image_dims.begin() + 1, image_dims.end());
  out.count = spec.subset > 0 ? spec.subset : image_dims[0];
  out.class_count = class_count_of(labels.values);
  return out;
}

}  // namespace

std::vector<std::string> dataset_files(const dataset_spec& spec) {
  validate(spec);
  if (spec.source == "cifar10") return detail::cifar10_files(spec);
  if (spec.source == "idx") {
    const idx_paths p = resolve(spec);
    return {p.images, p.labels};
  }
  if (spec.source == "hdf5") return {spec.path};
  return {};
}

dataset_shape peek_dataset(const dataset_spec& spec) {
  validate(spec);
  dataset_shape out = peek_untransformed(spec);
  out.shape = transformed_shape(spec, std::move(out.shape));
  return out;
}

const char* label_mode_name(label_mode mode) noexcept {
  switch (mode) {
    case label_mode::random: return "random";
    case label_mode::corrupt: return "corrupt";
    default: return "real";
  }
}

std::optional<label_mode> label_mode_from_name(std::string_view name) noexcept {
  for (const label_mode mode : {label_mode::real, label_mode::random, label_mode::corrupt})
    if (name == label_mode_name(mode)) return mode;
  return std::nullopt;
}

void corrupt_labels(dataset& data, double p, std::uint64_t seed) {
  const std::string what = data.name.empty() ? "corrupt_labels" : "dataset '" + data.name + "'";
  if (!(p >= 0 && p <= 1)) throw error(what + ": corruption = " + std::to_string(p) + " must be in [0, 1]");
  if (data.true_labels.size() != data.labels.size()) data.true_labels = data.labels;
  const std::size_t count = data.labels.size();
  const auto k = static_cast<std::size_t>(std::llround(p * static_cast<double>(count)));
  if (k > 0 && data.class_count < 2)
    throw error(what + ": label_mode = \"corrupt\" changes labels to another class, but the data set has " +
                std::to_string(data.class_count) + " class(es)");
  std::vector<std::size_t> perm(count);
  std::iota(perm.begin(), perm.end(), std::size_t{0});
  rng gen(seed, stream_key("corrupt"));
  const auto others = static_cast<std::uint64_t>(data.class_count - 1);
  for (std::size_t i = 0; i < k; ++i) {
    std::swap(perm[i], perm[i + gen.below(count - i)]);
    std::int32_t& label = data.labels[perm[i]];
    const auto r = static_cast<std::int32_t>(gen.below(others));
    label = r < label ? r : r + 1;  // uniform over the classes other than the current one
  }
  data.labels_mode = label_mode::corrupt;
  data.corruption = p;
}

dataset build_dataset(const dataset_spec& spec, const dataset* fit) {
  validate(spec);
  dataset data;
  std::string description;
  if (spec.source == "synthetic") {
    check_subset(spec, spec.samples);
    data = detail::make_synthetic(spec);
    if (spec.subset > 0) data = select_rows(data, subset_indices(data.size(), spec.subset, spec.seed));
    description = describe_spec(spec, nullptr, spec.samples);
  } else if (spec.source == "hdf5") {
    data = detail::load_hdf5(spec);
    const std::size_t available = data.size();
    check_subset(spec, available);
    if (spec.subset > 0) data = select_rows(data, subset_indices(available, spec.subset, spec.seed));
    description = describe_spec(spec, nullptr, available);
    if (data.labels_mode != label_mode::real)
      description += std::string(" (the file declares its labels ") + label_mode_name(data.labels_mode) + ")";
  } else if (spec.source == "cifar10") {
    std::size_t available = 0;
    data = detail::load_cifar10(spec, available);
    description = describe_spec(spec, nullptr, available);
  } else {
    const idx_paths paths = resolve(spec);
    std::size_t available = 0;
    data = load_idx(spec, paths, available);
    description = describe_spec(spec, &paths, available);
  }
  data.name = spec.name;
  if (spec.labels_mode == label_mode::random) shuffle_labels(data, spec.seed);
  if (spec.labels_mode == label_mode::corrupt) corrupt_labels(data, spec.corruption, spec.seed);
  apply_transform(spec, data, fit);
  data.description = description;
  hash_dataset(data);
  return data;
}

dataset take_subset(const dataset& data, std::size_t n, std::uint64_t seed) {
  if (n > data.size())
    throw error("take_subset: n = " + std::to_string(n) + " exceeds the " + std::to_string(data.size()) +
                " samples of " + (data.name.empty() ? "the data set" : "dataset '" + data.name + "'"));
  dataset out = select_rows(data, subset_indices(data.size(), n, seed));
  hash_dataset(out);
  return out;
}

void permute_labels(dataset& data, std::uint64_t seed) {
  shuffle_labels(data, seed);
  hash_dataset(data);
}

// Canonical layout hashed: each entry of `shape` as a little-endian uint64, then x (N * n float32,
// row-major, little-endian IEEE 754), then labels (N int32, little-endian). Nothing else enters the hash.
void hash_dataset(dataset& data) {
  sha256 s;
  std::vector<std::uint64_t> dims(data.shape.begin(), data.shape.end());
  update_le(s, dims.data(), dims.size());
  update_le(s, data.x.data.data(), data.x.data.size());
  update_le(s, data.labels.data(), data.labels.size());
  data.sha256 = s.hex_digest();
}

}  // namespace genscope
