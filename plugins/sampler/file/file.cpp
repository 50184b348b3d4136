// Sampler plugin "file": probes (x, d) read from an HDF5 file; probe k is row k of the file.
#include <genscope/direction_sampler.hpp>
#include <genscope/error.hpp>
#include <genscope/memory.hpp>
#include <genscope/plugin.hpp>
#include <genscope/shape.hpp>

#include "h5/h5.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using genscope::option_spec;
using genscope::option_type;

const option_spec options[] = {
    {"path", option_type::string, nullptr,
     "HDF5 file: d (P x dims), x (P x dims) and/or anchor (P sample indices), optional partners (P x 2); "
     "docs/data-formats.md"},
    {"kind", option_type::string, "file", "direction kind written to the results' kind column"},
};

std::string shape_text(const std::vector<std::size_t>& dims) {
  if (dims.empty()) return "scalar";
  std::string s;
  for (std::size_t k = 0; k < dims.size(); ++k) s += (k == 0 ? "" : " x ") + std::to_string(dims[k]);
  return s;
}

/// The product of dims[from:], checked for overflow (genscope::shape_product names `what`).
std::size_t product(const std::vector<std::size_t>& dims, std::size_t from, const std::string& what) {
  return genscope::shape_product(std::vector<std::size_t>(dims.begin() + static_cast<std::ptrdiff_t>(from), dims.end()),
                                 what);
}

class file_sampler final : public genscope::direction_sampler {
 public:
  file_sampler(std::string path, std::string kind) : path_(std::move(path)), kind_(std::move(kind)) { load(); }

  void check(const genscope::dataset_shape& shape) const override {
    const std::size_t dim = product(shape.shape, 0, "the data set's samples");
    if (dim != dim_)
      fail("HDF5 dataset 'd' has rows of dimension " + std::to_string(dim_) + " (shape " + shape_text(d_dims_) +
           "), but the sampler's data set has samples of dimension " + std::to_string(dim) + " (shape " +
           shape_text(shape.shape) + ")");
    const auto n = static_cast<std::int64_t>(shape.count);
    for (std::size_t k = 0; k < anchor_.size(); ++k)
      if (anchor_[k] >= n)
        fail("HDF5 dataset 'anchor' row " + std::to_string(k) + " holds the index " + std::to_string(anchor_[k]) +
             ", out of range: the sampler's data set has " + std::to_string(shape.count) + " samples");
    for (std::size_t k = 0; k < partners_.size(); ++k)
      for (std::size_t c = 0; c < 2; ++c)
        if (partners_[k][c] >= n)
          fail("HDF5 dataset 'partners' row " + std::to_string(k) + " holds the index " +
               std::to_string(partners_[k][c]) + ", out of range: the sampler's data set has " +
               std::to_string(shape.count) + " samples");
  }

  std::size_t probe_count() const override { return count_; }

 protected:
  void bind(const genscope::dataset& data, std::uint64_t /*seed: the probes are the file's rows*/) override {
    genscope::dataset_shape shape;
    shape.shape = data.shape;
    shape.count = data.size();
    shape.class_count = data.class_count;
    check(shape);
    if (data.dim() != dim_)
      fail("HDF5 dataset 'd' has rows of dimension " + std::to_string(dim_) + ", but the sampler's data set '" +
           data.name + "' holds samples of dimension " + std::to_string(data.dim()));
    if (!has_x_) {
      // Anchor-only file: x is the data set's sample at each anchor (check() proved 0 <= anchor < N).
      x_.assign(count_ * dim_, 0.0f);
      for (std::size_t k = 0; k < count_; ++k) {
        const float* src = data.x.row(static_cast<std::size_t>(anchor_[k]));
        std::copy(src, src + dim_, x_.begin() + static_cast<std::ptrdiff_t>(k * dim_));
      }
    }
  }

  // bind() proved the data set's dimension is dim_, so `out` arrives sized count x dim_.
  void fill(std::size_t first, std::size_t count, genscope::probe_batch& out) const override {
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t row = first + k;
      const auto begin = static_cast<std::ptrdiff_t>(row * dim_);
      const auto end = begin + static_cast<std::ptrdiff_t>(dim_);
      std::copy(x_.begin() + begin, x_.begin() + end, out.x.row(k));
      std::copy(d_.begin() + begin, d_.begin() + end, out.d.row(k));
      out.anchor[k] = anchor_.empty() ? -1 : anchor_[row];
      if (!partners_.empty()) out.partners[k] = partners_[row];
      out.kind[k] = kind_;
    }
  }

 private:
  [[noreturn]] void fail(const std::string& message) const { throw genscope::io_error(path_, message); }

  // Reads `name` (rank >= 2, float32/float64, finite) into row-major floats. For d (`rows` == 0) it
  // defines P and the dimension; for x the rows must be P and the row product the same dimension.
  std::vector<float> read_rows(const genscope::h5::group& root, const std::string& name, const char* meaning) {
    const genscope::h5::dataset_info info = root.info(name);
    if (info.cls != genscope::h5::dataset_info::element::floating || (info.size != 4 && info.size != 8))
      fail("HDF5 dataset '" + name + "' (" + meaning + ") has dtype " + info.type_name +
           "; expected float32 or float64");
    if (info.dims.size() < 2)
      fail("HDF5 dataset '" + name + "' (" + meaning + ") has shape " + shape_text(info.dims) +
           "; expected P x dims (rank >= 2, one probe per row)");
    const std::size_t rows = info.dims[0];
    const std::size_t dim = product(info.dims, 1, path_ + ": HDF5 dataset '" + name + "'");
    if (name == "d") {
      if (rows == 0) fail("HDF5 dataset 'd' (" + std::string(meaning) + ") has shape " + shape_text(info.dims) +
                          ": it holds no probes");
      if (dim == 0) fail("HDF5 dataset 'd' (" + std::string(meaning) + ") has shape " + shape_text(info.dims) +
                         ": its rows have no values");
      count_ = rows;
      dim_ = dim;
      d_dims_ = info.dims;
    } else if (rows != count_ || dim != dim_) {
      fail("HDF5 dataset '" + name + "' (" + meaning + ") has shape " + shape_text(info.dims) + " but 'd' has " +
           shape_text(d_dims_) + ": expected " + std::to_string(count_) + " rows of dimension " +
           std::to_string(dim_));
    }
    // The values as float32 and as stored while converting: refused by name when they exceed memory.
    genscope::check_allocation(genscope::shape_product(info.dims, path_ + ": HDF5 dataset '" + name + "'"),
                               sizeof(float) + info.size, path_ + ": HDF5 dataset '" + name + "' (" + meaning + ")");
    std::vector<float> out(rows * dim);
    auto non_finite = [&](std::size_t at, double v) {
      fail("HDF5 dataset '" + name + "' row " + std::to_string(at / dim) + " holds " +
           (std::isnan(v) ? std::string("NaN") : v > 0 ? std::string("+inf") : std::string("-inf")) +
           " at (flattened) column " + std::to_string(at % dim) + "; values must be finite");
    };
    if (info.size == 4) {
      const std::vector<float> raw = root.read<float>(name);
      for (std::size_t k = 0; k < raw.size(); ++k) {
        if (!std::isfinite(raw[k])) non_finite(k, raw[k]);
        out[k] = raw[k];
      }
    } else {
      const std::vector<double> raw = root.read<double>(name);
      constexpr double largest = std::numeric_limits<float>::max();
      for (std::size_t k = 0; k < raw.size(); ++k) {
        if (!std::isfinite(raw[k])) non_finite(k, raw[k]);
        if (std::fabs(raw[k]) > largest)
          fail("HDF5 dataset '" + name + "' row " + std::to_string(k / dim) + " holds " + std::to_string(raw[k]) +
               " at (flattened) column " + std::to_string(k % dim) + ", outside the float32 range");
        out[k] = static_cast<float>(raw[k]);
      }
    }
    return out;
  }

  // Reads integer indices of exactly the shape `dims`, each >= `lowest`.
  std::vector<std::int64_t> read_indices(const genscope::h5::group& root, const std::string& name,
                                         const std::vector<std::size_t>& dims, std::int64_t lowest,
                                         const std::string& why_lowest) {
    const genscope::h5::dataset_info info = root.info(name);
    if (info.cls != genscope::h5::dataset_info::element::integer)
      fail("HDF5 dataset '" + name + "' has dtype " + info.type_name + "; expected integers (any integer dtype)");
    if (info.dims != dims)
      fail("HDF5 dataset '" + name + "' has shape " + shape_text(info.dims) + "; expected " + shape_text(dims) +
           " (" + std::to_string(count_) + " probes, as in 'd')");
    std::vector<std::int64_t> values = root.read<std::int64_t>(name);
    const std::size_t per_row = dims.size() > 1 ? dims[1] : 1;
    for (std::size_t k = 0; k < values.size(); ++k)
      if (values[k] < lowest)
        fail("HDF5 dataset '" + name + "' row " + std::to_string(k / per_row) + " holds the index " +
             std::to_string(values[k]) + "; " + why_lowest);
    return values;
  }

  void load() {
    if (kind_.empty()) throw std::invalid_argument("option 'kind' must not be empty");
    if (path_.empty()) throw std::invalid_argument("option 'path' must not be empty");
    const genscope::h5::file f = genscope::h5::file::open(path_);
    const genscope::h5::group root = f.root();
    has_x_ = root.has("x");
    const bool has_anchor = root.has("anchor");
    if (!root.has("d"))
      fail("no HDF5 dataset 'd' (the directions, P x dims); " + root.listing());
    if (!has_x_ && !has_anchor)
      fail("needs HDF5 dataset 'x' (anchor points, P x dims) or 'anchor' (P sample indices), and has neither; " +
           root.listing());
    d_ = read_rows(root, "d", "directions");
    if (has_x_) x_ = read_rows(root, "x", "anchor points");
    if (has_anchor)
      anchor_ = read_indices(root, "anchor", {count_}, has_x_ ? -1 : 0,
                             has_x_ ? "indices must be >= 0, or -1 for an x that is not a sample"
                                    : "indices must be >= 0 (without 'x', every probe's x is a data set sample)");
    if (root.has("partners")) {
      const std::vector<std::int64_t> p =
          read_indices(root, "partners", {count_, 2}, -1, "indices must be >= 0, or -1 where unused");
      partners_.resize(count_);
      for (std::size_t k = 0; k < count_; ++k) partners_[k] = {p[2 * k], p[2 * k + 1]};
    }
  }


  std::string path_;
  std::string kind_;
  std::size_t count_ = 0;                 // P
  std::size_t dim_ = 0;                   // product of d's dims after the first
  std::vector<std::size_t> d_dims_;       // d's shape, for messages
  bool has_x_ = false;
  std::vector<float> d_;                  // P x dim
  std::vector<float> x_;                  // P x dim (from the file, or from the data set in bind())
  std::vector<std::int64_t> anchor_;      // P, or empty when the file has none
  std::vector<std::array<std::int64_t, 2>> partners_;  // P, or empty when the file has none
};

genscope::plugin_object* create(const genscope::option_set& o) {
  return new file_sampler(o.get_string("path"), o.get_string("kind"));
}

}  // namespace

GENSCOPE_PLUGIN(genscope::plugin_kind::sampler, "file", "1.0.0",
                "probes read from an HDF5 file: directions d with anchor points x or sample indices anchor",
                options, &create)
