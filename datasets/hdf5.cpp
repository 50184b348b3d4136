// Data sets from one HDF5 file (source = "hdf5"): samples X (N x ...), integer labels y (N) and how they were made.
#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/memory.hpp>
#include <genscope/shape.hpp>

#include "h5/h5.hpp"
#include "loaders.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace genscope::detail {

namespace {

/// What validation needs from an HDF5 data set file, and the labels (small) read on the way.
struct hdf5_layout {
  std::vector<std::size_t> sample_shape;  ///< dims of X after the first
  std::size_t count = 0;                  ///< N
  std::size_t class_count = 0;
  std::vector<std::int32_t> labels;       ///< all N labels of y
  /// How y was made (its attributes label_mode, corruption), and the labels it was made from (true_labels).
  label_mode labels_mode = label_mode::real;
  double corruption = 0;
  std::vector<std::int32_t> true_labels;  ///< all N, or empty when y holds the true labels
  h5::dataset_info x_info;
};

// Labels are int32 in memory and class_count = largest label + 1 must fit too.
constexpr std::int64_t max_label = std::numeric_limits<std::int32_t>::max() - 1;

std::string shape_text(const std::vector<std::size_t>& dims) {
  if (dims.empty()) return "scalar";
  std::string s;
  for (std::size_t k = 0; k < dims.size(); ++k) s += (k == 0 ? "" : " x ") + std::to_string(dims[k]);
  return s;
}

/// "HDF5 dataset 'X' (key 'x')": the object in the file and the experiment key that names it.
std::string object(const std::string& name, const char* key) {
  return "HDF5 dataset '" + name + "' (key '" + key + "')";
}

[[noreturn]] void bad(const dataset_spec& spec, const std::string& message) { throw io_error(spec.path, message); }


h5::dataset_info require_dataset(const dataset_spec& spec, const h5::group& root, const std::string& name,
                                 const char* key, const char* what) {
  if (name.empty()) bad(spec, std::string("key '") + key + "' is empty: it must name the HDF5 dataset of the " + what);
  if (!root.has(name))
    bad(spec, "no " + object(name, key) + " (the " + what + "); " + root.listing());
  return root.info(name);
}

// The labels in HDF5 dataset `name` (`what` names it in messages): N integers >= 0.
std::vector<std::int32_t> read_labels(const dataset_spec& spec, const h5::group& root, const std::string& name,
                                      const std::string& what, std::size_t count) {
  const h5::dataset_info info = root.info(name);
  if (info.cls != h5::dataset_info::element::integer)
    bad(spec, what + " has dtype " + info.type_name + "; labels must be integers (any integer dtype)");
  if (info.dims.size() != 1)
    bad(spec, what + " has shape " + shape_text(info.dims) + "; expected a vector of N labels (rank 1)");
  if (info.dims[0] != count)
    bad(spec, what + " holds " + std::to_string(info.dims[0]) + " labels but " + object(spec.x, "x") + " holds " +
                  std::to_string(count) + " samples");
  const std::vector<std::int64_t> raw = root.read<std::int64_t>(name);
  std::vector<std::int32_t> labels(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] < 0)
      bad(spec, what + " row " + std::to_string(i) + " holds the negative label " + std::to_string(raw[i]) +
                    "; labels must be >= 0");
    if (raw[i] > max_label)
      bad(spec, what + " row " + std::to_string(i) + " holds the label " + std::to_string(raw[i]) +
                    ", above the largest supported label " + std::to_string(max_label));
    labels[i] = static_cast<std::int32_t>(raw[i]);
  }
  return labels;
}

// The attributes of the labels dataset that say how its labels were made: label_mode ("real", "random" or
// "corrupt"), corruption (with "corrupt", in [0, 1]) and true_labels (with "random" and "corrupt": the HDF5
// dataset of the labels they were made from).
void read_label_origin(const dataset_spec& spec, const h5::group& root, hdf5_layout& out) {
  const std::string y = object(spec.y, "y");
  const auto attribute = [&](const char* name) { return "attribute '" + std::string(name) + "' of " + y; };
  const bool has_mode = root.has_attr_of(spec.y, "label_mode");
  const bool has_corruption = root.has_attr_of(spec.y, "corruption");
  const bool has_true = root.has_attr_of(spec.y, "true_labels");
  const std::string mode = has_mode ? root.attr_string_of(spec.y, "label_mode") : "real";
  const std::optional<label_mode> parsed = label_mode_from_name(mode);
  if (!parsed)
    bad(spec, attribute("label_mode") + " is \"" + mode + "\"; expected \"real\", \"random\" or \"corrupt\"");
  out.labels_mode = *parsed;
  if (out.labels_mode == label_mode::corrupt && !has_corruption)
    bad(spec, attribute("label_mode") + " is \"corrupt\" but there is no " + attribute("corruption") +
                  " (the fraction of labels changed)");
  if (out.labels_mode != label_mode::corrupt && has_corruption)
    bad(spec, attribute("corruption") + " is set, but " + attribute("label_mode") + " is \"" + mode +
                  "\"; it applies only to \"corrupt\"");
  if (has_corruption) {
    out.corruption = root.attr_double_of(spec.y, "corruption");
    if (!(out.corruption >= 0 && out.corruption <= 1))
      bad(spec, attribute("corruption") + " is " + std::to_string(out.corruption) + "; it must be in [0, 1]");
  }
  if (out.labels_mode == label_mode::real) {
    if (has_true)
      bad(spec, attribute("true_labels") + " is set, but the labels are the true ones (" + attribute("label_mode") +
                    " is \"real\" or absent)");
    return;
  }
  if (!has_true)
    bad(spec, attribute("label_mode") + " is \"" + mode + "\" but there is no " + attribute("true_labels") +
                  " naming the HDF5 dataset of the labels they were made from");
  const std::string name = root.attr_string_of(spec.y, "true_labels");
  if (name == spec.y)
    bad(spec, attribute("true_labels") + " names '" + name + "' itself; it must name the labels they were made from");
  if (spec.labels_mode != label_mode::real)
    bad(spec, attribute("label_mode") + " says the labels are " + mode + " already, and the data set's label_mode = \"" +
                  label_mode_name(spec.labels_mode) + "\" would relabel them again; use one or the other");
  if (name.empty() || !root.has(name))
    bad(spec, attribute("true_labels") + " names '" + name + "', which the file does not hold; " + root.listing());
  out.true_labels = read_labels(spec, root, name, "HDF5 dataset '" + name + "' (the true labels of '" + spec.y + "')",
                                out.count);
}

std::size_t class_count_of(const dataset_spec& spec, const h5::group& root, const std::vector<std::int32_t>& labels) {
  const auto top = std::max_element(labels.begin(), labels.end());
  const std::int64_t largest = top == labels.end() ? -1 : *top;
  if (!root.has_attr_of(spec.y, "class_count")) return static_cast<std::size_t>(largest + 1);
  const std::int64_t declared = root.attr_int_of(spec.y, "class_count");
  if (declared <= largest) {
    const auto row = static_cast<std::size_t>(top - labels.begin());
    bad(spec, "attribute 'class_count' of " + object(spec.y, "y") + " is " + std::to_string(declared) + ", but row " +
                  std::to_string(row) + " holds the label " + std::to_string(largest) +
                  "; class_count must exceed every label");
  }
  if (declared < 1 || declared > max_label + 1)
    bad(spec, "attribute 'class_count' of " + object(spec.y, "y") + " is " + std::to_string(declared) +
                  "; it must be in [1, " + std::to_string(max_label + 1) + "]");
  return static_cast<std::size_t>(declared);
}

hdf5_layout layout_of(const dataset_spec& spec, const h5::group& root) {
  hdf5_layout out;
  out.x_info = require_dataset(spec, root, spec.x, "x", "samples, N x n or N x C x H x W");
  const h5::dataset_info& xi = out.x_info;
  if (xi.dims.size() < 2)
    bad(spec, object(spec.x, "x") + " has shape " + shape_text(xi.dims) +
                  "; expected N x n or N x C x H x W (rank >= 2, one sample per row)");
  const bool x_ok = (xi.cls == h5::dataset_info::element::floating && (xi.size == 4 || xi.size == 8)) ||
                    (xi.cls == h5::dataset_info::element::integer && !xi.is_signed && xi.size == 1);
  if (!x_ok)
    bad(spec, object(spec.x, "x") + " has the unsupported dtype " + xi.type_name +
                  "; expected float32, float64 or uint8");
  out.count = xi.dims[0];
  out.sample_shape.assign(xi.dims.begin() + 1, xi.dims.end());
  std::size_t n = 0;
  try {
    n = shape_product(xi.dims, object(spec.x, "x"));  // all N samples' values: the product must fit too
    n = shape_product(out.sample_shape, object(spec.x, "x"));
  } catch (const error& e) {
    bad(spec, e.what());
  }
  if (out.count == 0) bad(spec, object(spec.x, "x") + " has shape " + shape_text(xi.dims) + ": it holds no samples");
  if (n == 0)
    bad(spec, object(spec.x, "x") + " has shape " + shape_text(xi.dims) + ": its samples have no values");

  require_dataset(spec, root, spec.y, "y", "integer labels, N");
  out.labels = read_labels(spec, root, spec.y, object(spec.y, "y"), out.count);
  out.class_count = class_count_of(spec, root, out.labels);
  read_label_origin(spec, root, out);
  for (std::size_t i = 0; i < out.true_labels.size(); ++i)
    if (static_cast<std::size_t>(out.true_labels[i]) >= out.class_count)
      bad(spec, "the true labels of " + object(spec.y, "y") + " hold " + std::to_string(out.true_labels[i]) +
                    " at row " + std::to_string(i) + ", but the data set has " + std::to_string(out.class_count) +
                    " classes (set the attribute 'class_count' of '" + spec.y + "' to cover both)");
  return out;
}

[[noreturn]] void non_finite(const dataset_spec& spec, std::size_t row, std::size_t col, double value) {
  bad(spec, object(spec.x, "x") + " row " + std::to_string(row) + " holds " +
                (std::isnan(value) ? std::string("NaN") : value > 0 ? std::string("+inf") : std::string("-inf")) +
                " at (flattened) column " + std::to_string(col) + "; samples must be finite");
}

}  // namespace

dataset_shape peek_hdf5(const dataset_spec& spec) {
  const h5::file f = h5::file::open(spec.path);
  const hdf5_layout layout = layout_of(spec, f.root());
  dataset_shape out;
  out.shape = layout.sample_shape;
  out.count = layout.count;
  out.class_count = layout.class_count;
  return out;
}

dataset load_hdf5(const dataset_spec& spec) {
  const h5::file f = h5::file::open(spec.path);
  const h5::group root = f.root();
  hdf5_layout layout = layout_of(spec, root);
  const std::size_t count = layout.count;
  std::size_t n = 1;
  for (std::size_t d : layout.sample_shape) n *= d;

  // The samples as float32, and the values as stored while converting them.
  check_allocation(static_cast<std::uint64_t>(count) * n, sizeof(float) + layout.x_info.size,
                   spec.path + ": the samples '" + spec.x + "' (" + shape_text(layout.x_info.dims) + ")");
  dataset data;
  data.name = spec.name;
  data.shape = layout.sample_shape;
  data.class_count = layout.class_count;
  data.x = matrix(count, n);
  float* dst = data.x.data.data();
  const h5::dataset_info& xi = layout.x_info;
  if (xi.cls == h5::dataset_info::element::integer) {
    const std::vector<std::uint8_t> raw = root.read<std::uint8_t>(spec.x);
    scale_bytes(raw.data(), raw.size(), dst);
  } else if (xi.size == 4) {
    const std::vector<float> raw = root.read<float>(spec.x);
    for (std::size_t k = 0; k < raw.size(); ++k) {
      if (!std::isfinite(raw[k])) non_finite(spec, k / n, k % n, raw[k]);
      dst[k] = raw[k];
    }
  } else {
    const std::vector<double> raw = root.read<double>(spec.x);
    constexpr double largest = std::numeric_limits<float>::max();
    for (std::size_t k = 0; k < raw.size(); ++k) {
      if (!std::isfinite(raw[k])) non_finite(spec, k / n, k % n, raw[k]);
      if (std::fabs(raw[k]) > largest)
        bad(spec, object(spec.x, "x") + " row " + std::to_string(k / n) + " holds " + std::to_string(raw[k]) +
                      " at (flattened) column " + std::to_string(k % n) + ", outside the float32 range");
      dst[k] = static_cast<float>(raw[k]);
    }
  }
  data.labels = std::move(layout.labels);
  data.true_labels = layout.true_labels.empty() ? data.labels : std::move(layout.true_labels);
  data.labels_mode = layout.labels_mode;
  data.corruption = layout.corruption;
  data.source_index.resize(count);
  for (std::size_t i = 0; i < count; ++i) data.source_index[i] = static_cast<std::int64_t>(i);
  return data;
}

}  // namespace genscope::detail
