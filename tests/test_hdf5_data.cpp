// HDF5 data sets (source = "hdf5") and the `file` sampler: values as written, shapes, subsets, every bad file,
// and an end-to-end run that trains on an HDF5 data set and probes along an HDF5 file's directions.
#include "support.hpp"

#include "h5/h5.hpp"

#include <genscope/datasets.hpp>
#include <genscope/direction_sampler.hpp>
#include <genscope/error.hpp>
#include <genscope/experiment.hpp>
#include <genscope/plugin_registry.hpp>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <hdf5.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

using namespace genscope;
using genscope::testing::line_count;
using genscope::testing::run_cli;
using genscope::testing::temp_dir;
using genscope::testing::write_file;

namespace {

// One scratch folder per process, removed at exit.
std::string temp_file(const std::string& name) {
  static const temp_dir dir("hdf5-data");
  return dir / name;
}

const plugin_registry& registry() { return genscope::testing::build_plugins(); }

/// A fresh HDF5 file; write its datasets through the returned root.
struct h5_out {
  explicit h5_out(const std::string& path) : file(h5::file::create(path)), root(file.root()) {}
  h5::file file;
  h5::group root;
};

/// Scalar attribute on a dataset, through the HDF5 C API (the layer writes group attributes only).
template <class T>
void set_dataset_attr(const std::string& path, const std::string& dataset, const char* name, T value) {
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  REQUIRE(f >= 0);
  const hid_t d = H5Dopen2(f, dataset.c_str(), H5P_DEFAULT);
  REQUIRE(d >= 0);
  const hid_t s = H5Screate(H5S_SCALAR);
  const hid_t stored = std::is_floating_point_v<T> ? H5T_IEEE_F64LE : H5T_STD_I64LE;
  const hid_t memory = std::is_floating_point_v<T> ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64;
  const hid_t a = H5Acreate2(d, name, stored, s, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(a >= 0);
  if constexpr (std::is_floating_point_v<T>) {
    const double v = value;
    REQUIRE(H5Awrite(a, memory, &v) >= 0);
  } else {
    const std::int64_t v = value;
    REQUIRE(H5Awrite(a, memory, &v) >= 0);
  }
  H5Aclose(a);
  H5Sclose(s);
  H5Dclose(d);
  H5Fclose(f);
}

// Values that are not exactly representable sums of simpler ones: 0.1 * i + 0.37 * j - 1.
std::vector<float> float_rows(std::size_t rows, std::size_t cols) {
  std::vector<float> v(rows * cols);
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j)
      v[i * cols + j] = 0.1f * static_cast<float>(i) + 0.37f * static_cast<float>(j) - 1.0f;
  return v;
}

std::vector<double> double_rows(std::size_t rows, std::size_t cols) {
  std::vector<double> v(rows * cols);
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j) v[i * cols + j] = 0.1 * static_cast<double>(i) - 0.013 * static_cast<double>(j * j) + 1e-9;
  return v;
}

dataset_spec hdf5_spec(const std::string& path) {
  dataset_spec s;
  s.name = "h";
  s.source = "hdf5";
  s.path = path;
  return s;
}

/// Writes X (float32, rows x cols) and y (int32) and returns the path.
std::string simple_file(const std::string& name, std::size_t rows, std::size_t cols,
                        const std::vector<std::int32_t>& labels) {
  const std::string path = temp_file(name);
  h5_out out(path);
  out.root.write("X", float_rows(rows, cols), {rows, cols});
  out.root.write("y", labels);
  return path;
}

/// The io_error that building (or peeking, when `peek`) the data set must throw: one line naming the file.
std::string io_error_of(const dataset_spec& spec, bool peek = false) {
  try {
    if (peek) peek_dataset(spec);
    else build_dataset(spec);
  } catch (const io_error& e) {
    const std::string message = e.what();
    CHECK(e.path() == spec.path);
    CHECK(message.find('\n') == std::string::npos);
    return message;
  }
  FAIL("no io_error was thrown for " << spec.path);
  return {};
}

using Catch::Matchers::Contains;

}  // namespace

// ---- the data set loader ----------------------------------------------------------------------------------

TEST_CASE("hdf5: float32 X and int32 y load exactly as written", "[interface]") {
  const std::vector<std::int32_t> labels{2, 0, 1, 2, 0};
  const std::string path = simple_file("f32.h5", 5, 3, labels);
  const dataset data = build_dataset(hdf5_spec(path));
  const std::vector<float> written = float_rows(5, 3);
  REQUIRE(data.size() == 5);
  REQUIRE(data.dim() == 3);
  CHECK(data.shape == std::vector<std::size_t>{3});
  CHECK(data.x.data == written);
  CHECK(data.labels == labels);
  CHECK(data.true_labels == labels);
  CHECK(data.class_count == 3);
  CHECK(data.source_index == std::vector<std::int64_t>{0, 1, 2, 3, 4});
  CHECK_THAT(data.description, Contains("hdf5") && Contains(path));

  // The content hash is that of the same numbers assembled by hand.
  dataset by_hand;
  by_hand.shape = {3};
  by_hand.x = matrix(5, 3);
  by_hand.x.data = written;
  by_hand.labels = labels;
  hash_dataset(by_hand);
  CHECK(data.sha256 == by_hand.sha256);

  const dataset_shape shape = peek_dataset(hdf5_spec(path));
  CHECK(shape.shape == std::vector<std::size_t>{3});
  CHECK(shape.count == 5);
  CHECK(shape.class_count == 3);
}

TEST_CASE("hdf5: float64 X is rounded to float32 and any integer label dtype is read", "[interface]") {
  const std::string path = temp_file("f64.h5");
  const std::vector<double> written = double_rows(4, 2);
  {
    h5_out out(path);
    out.root.write("X", written, {4, 2});
    out.root.write("y", std::vector<std::uint8_t>{7, 0, 3, 7});
  }
  const dataset data = build_dataset(hdf5_spec(path));
  REQUIRE(data.x.data.size() == written.size());
  for (std::size_t k = 0; k < written.size(); ++k) CHECK(data.x.data[k] == static_cast<float>(written[k]));
  CHECK(data.labels == std::vector<std::int32_t>{7, 0, 3, 7});
  CHECK(data.class_count == 8);

  const std::string path64 = temp_file("y64.h5");
  {
    h5_out out(path64);
    out.root.write("X", float_rows(3, 2), {3, 2});
    out.root.write("y", std::vector<std::int64_t>{1, 4, 0});
  }
  CHECK(build_dataset(hdf5_spec(path64)).labels == std::vector<std::int32_t>{1, 4, 0});
  const std::string path_u32 = temp_file("yu32.h5");
  {
    h5_out out(path_u32);
    out.root.write("X", float_rows(2, 2), {2, 2});
    out.root.write("y", std::vector<std::uint32_t>{5, 1});
  }
  CHECK(build_dataset(hdf5_spec(path_u32)).class_count == 6);
}

TEST_CASE("hdf5: uint8 images N x C x H x W are scaled by 1/255 and keep their sample shape", "[interface]") {
  const std::string path = temp_file("u8.h5");
  const std::size_t n = 4, c = 2, h = 3, w = 2;
  std::vector<std::uint8_t> bytes(n * c * h * w);
  for (std::size_t k = 0; k < bytes.size(); ++k) bytes[k] = static_cast<std::uint8_t>((k * 37 + 11) % 256);
  bytes[0] = 0;
  bytes[1] = 255;
  {
    h5_out out(path);
    out.root.write("X", bytes, {n, c, h, w});
    out.root.write("y", std::vector<std::int32_t>{0, 1, 1, 0});
  }
  const dataset data = build_dataset(hdf5_spec(path));
  CHECK(data.shape == std::vector<std::size_t>{c, h, w});
  REQUIRE(data.dim() == c * h * w);
  REQUIRE(data.size() == n);
  for (std::size_t k = 0; k < bytes.size(); ++k) CHECK(data.x.data[k] == static_cast<float>(bytes[k]) / 255.0f);
  CHECK(data.x.data[0] == 0.0f);
  CHECK(data.x.data[1] == 1.0f);
  CHECK(peek_dataset(hdf5_spec(path)).shape == std::vector<std::size_t>{c, h, w});
}

TEST_CASE("hdf5: keys x and y name datasets anywhere in the file", "[interface]") {
  const std::string path = temp_file("nested.h5");
  {
    h5_out out(path);
    const h5::group g = out.root.create_group("data");
    g.write("images", float_rows(3, 4), {3, 4});
    g.write("classes", std::vector<std::int32_t>{1, 0, 1});
  }
  dataset_spec s = hdf5_spec(path);
  s.x = "data/images";
  s.y = "data/classes";
  const dataset data = build_dataset(s);
  CHECK(data.x.data == float_rows(3, 4));
  CHECK(data.labels == std::vector<std::int32_t>{1, 0, 1});
  CHECK(peek_dataset(s).count == 3);
}

TEST_CASE("hdf5: an integer class_count attribute on y sets the class count", "[interface]") {
  const std::string path = simple_file("classes.h5", 4, 2, {0, 2, 1, 2});
  set_dataset_attr<std::int64_t>(path, "y", "class_count", 10);
  CHECK(build_dataset(hdf5_spec(path)).class_count == 10);
  CHECK(peek_dataset(hdf5_spec(path)).class_count == 10);
}

TEST_CASE("hdf5: subset keeps the file's rows at source_index, and label_mode random permutes labels", "[interface]") {
  const std::size_t n = 60, cols = 3;
  std::vector<std::int32_t> labels(n);
  for (std::size_t i = 0; i < n; ++i) labels[i] = static_cast<std::int32_t>((i * 7) % 5);
  const std::string path = simple_file("subset.h5", n, cols, labels);
  const std::vector<float> written = float_rows(n, cols);

  dataset_spec s = hdf5_spec(path);
  s.subset = 12;
  s.seed = 9;
  const dataset data = build_dataset(s);
  REQUIRE(data.size() == 12);
  CHECK(peek_dataset(s).count == 12);
  CHECK(data.class_count == 5);
  for (std::size_t k = 0; k < data.size(); ++k) {
    const auto r = static_cast<std::size_t>(data.source_index[k]);
    REQUIRE(r < n);
    if (k > 0) CHECK(data.source_index[k] > data.source_index[k - 1]);
    CHECK(data.labels[k] == labels[r]);
    for (std::size_t j = 0; j < cols; ++j) CHECK(data.x(k, j) == written[r * cols + j]);
  }
  CHECK(build_dataset(s).source_index == data.source_index);

  s.labels_mode = label_mode::random;
  const dataset shuffled = build_dataset(s);
  CHECK(shuffled.source_index == data.source_index);  // the same samples ...
  CHECK(shuffled.x.data == data.x.data);
  CHECK(shuffled.true_labels == data.labels);         // ... the source labels kept ...
  std::vector<std::int32_t> a = shuffled.labels, b = data.labels;
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  CHECK(a == b);                                      // ... with the same histogram ...
  CHECK(shuffled.labels != data.labels);              // ... permuted
}

// ---- bad data set files: one io_error naming the file each -------------------------------------------------

TEST_CASE("hdf5: a missing file is refused naming it", "[negative]") {
  const dataset_spec s = hdf5_spec(temp_file("absent.h5"));
  CHECK_THAT(io_error_of(s, true), Contains("no such file"));
  CHECK_THAT(io_error_of(s), Contains("no such file"));
}

TEST_CASE("hdf5: a file that is not HDF5 is refused", "[negative]") {
  const std::string path = temp_file("text.h5");
  write_file(path, "X,y\n1,2\n");
  CHECK_THAT(io_error_of(hdf5_spec(path), true), Contains("not an HDF5 file"));
}

TEST_CASE("hdf5: source = hdf5 without a path is refused naming 'path'", "[negative]") {
  CHECK_THROWS_WITH(peek_dataset(hdf5_spec("")), Contains("'path'"));
  CHECK_THROWS_WITH(build_dataset(hdf5_spec("")), Contains("'path'"));
}

TEST_CASE("hdf5: a missing X is refused naming the dataset and the key", "[negative]") {
  const std::string path = temp_file("no-x.h5");
  {
    h5_out out(path);
    out.root.write("images", float_rows(2, 2), {2, 2});
    out.root.write("y", std::vector<std::int32_t>{0, 1});
  }
  const std::string m = io_error_of(hdf5_spec(path), true);
  CHECK_THAT(m, Contains("'X'") && Contains("key 'x'") && Contains("'images'"));
}

TEST_CASE("hdf5: a missing y is refused naming the dataset and the key", "[negative]") {
  const std::string path = simple_file("no-y.h5", 2, 2, {0, 1});
  dataset_spec s = hdf5_spec(path);
  s.y = "labels";
  CHECK_THAT(io_error_of(s, true), Contains("'labels'") && Contains("key 'y'"));
}

TEST_CASE("hdf5: X of rank 1 is refused", "[negative]") {
  const std::string path = temp_file("rank1.h5");
  {
    h5_out out(path);
    out.root.write("X", std::vector<float>{1, 2, 3});
    out.root.write("y", std::vector<std::int32_t>{0, 1, 0});
  }
  CHECK_THAT(io_error_of(hdf5_spec(path), true), Contains("'X'") && Contains("rank >= 2"));
}

TEST_CASE("hdf5: X with no samples is refused", "[negative]") {
  const std::string path = temp_file("empty.h5");
  {
    h5_out out(path);
    out.root.write("X", std::vector<float>{}, {0, 3});
    out.root.write("y", std::vector<std::int32_t>{});
  }
  CHECK_THAT(io_error_of(hdf5_spec(path), true), Contains("no samples"));
}

TEST_CASE("hdf5: X and y of different lengths are refused", "[negative]") {
  const std::string path = simple_file("mismatch.h5", 5, 2, {0, 1, 0, 1});
  CHECK_THAT(io_error_of(hdf5_spec(path), true), Contains("4 labels") && Contains("5 samples"));
}

TEST_CASE("hdf5: non-integer labels are refused", "[negative]") {
  const std::string path = temp_file("yfloat.h5");
  {
    h5_out out(path);
    out.root.write("X", float_rows(2, 2), {2, 2});
    out.root.write("y", std::vector<double>{0.0, 1.0});
  }
  CHECK_THAT(io_error_of(hdf5_spec(path), true), Contains("'y'") && Contains("float64") && Contains("integers"));
  const std::string strings = temp_file("ystring.h5");
  {
    h5_out out(strings);
    out.root.write("X", float_rows(2, 2), {2, 2});
    out.root.write_strings("y", {"cat", "dog"});
  }
  CHECK_THAT(io_error_of(hdf5_spec(strings), true), Contains("string") && Contains("integers"));
}

TEST_CASE("hdf5: labels that are not a vector are refused", "[negative]") {
  const std::string path = temp_file("y2d.h5");
  {
    h5_out out(path);
    out.root.write("X", float_rows(2, 2), {2, 2});
    out.root.write("y", std::vector<std::int32_t>{0, 1}, {2, 1});
  }
  CHECK_THAT(io_error_of(hdf5_spec(path), true), Contains("'y'") && Contains("rank 1"));
}

TEST_CASE("hdf5: negative labels are refused naming the row", "[negative]") {
  const std::string path = simple_file("yneg.h5", 4, 2, {0, 1, 2, -1});
  CHECK_THAT(io_error_of(hdf5_spec(path), true), Contains("row 3") && Contains("-1"));
}

TEST_CASE("hdf5: a class_count attribute not above every label is refused", "[negative]") {
  const std::string path = simple_file("ysmall.h5", 4, 2, {0, 1, 3, 1});
  set_dataset_attr<std::int64_t>(path, "y", "class_count", 3);
  CHECK_THAT(io_error_of(hdf5_spec(path), true), Contains("class_count") && Contains("row 2"));
}

TEST_CASE("hdf5: a class_count attribute that is not an integer is refused", "[negative]") {
  const std::string path = simple_file("yattr.h5", 2, 2, {0, 1});
  set_dataset_attr<double>(path, "y", "class_count", 2.5);
  CHECK_THAT(io_error_of(hdf5_spec(path), true), Contains("class_count"));
}

namespace {

/// Writes the HDF5 file `path` with h5py: `body` is Python using `sys.argv[1]` (h5py and sys imported).
void write_with_h5py(const std::string& path, const std::string& body) {
  const std::string py = path + ".py";
  std::ofstream(py) << "import h5py, sys\n" << body;
  REQUIRE(std::system(("/usr/bin/python3 '" + py + "' '" + path + "'").c_str()) == 0);
}

}  // namespace

// ---- labels permuted or corrupted outside GenScope: attributes of y ---------------------------------------

namespace {

/// X (8 x 2), true labels y = 0..3 twice, and labels `name` with the given attributes (Python dict literal).
std::string origin_file(const std::string& file, const std::string& name, const std::string& labels,
                        const std::string& attrs) {
  const std::string path = temp_file(file);
  write_with_h5py(path, "import numpy as np\nwith h5py.File(sys.argv[1], 'w') as f:\n"
                        "    f['X'] = np.arange(16, dtype=np.float32).reshape(8, 2)\n"
                        "    f['y'] = np.array([0, 1, 2, 3, 0, 1, 2, 3])\n"
                        "    f['" + name + "'] = np.array(" + labels + ")\n"
                        "    for k, v in " + attrs + ".items():\n"
                        "        f['" + name + "'].attrs[k] = v\n");
  return path;
}

}  // namespace

TEST_CASE("hdf5: labels the file declares random or corrupt keep their true labels and their regime", "[interface]") {
  const std::vector<std::int32_t> truth{0, 1, 2, 3, 0, 1, 2, 3};
  dataset_spec s = hdf5_spec(origin_file("perm.h5", "y_random", "[3, 0, 1, 2, 2, 3, 0, 1]",
                                         "{'label_mode': 'random', 'true_labels': 'y'}"));
  s.y = "y_random";
  const dataset permuted = build_dataset(s);
  CHECK(permuted.labels == std::vector<std::int32_t>{3, 0, 1, 2, 2, 3, 0, 1});
  CHECK(permuted.true_labels == truth);
  CHECK(permuted.labels_mode == label_mode::random);
  s.subset = 5;  // a subset keeps both label sets row by row, and the regime
  const dataset part = build_dataset(s);
  CHECK(part.labels_mode == label_mode::random);
  for (std::size_t k = 0; k < part.size(); ++k) {
    const auto r = static_cast<std::size_t>(part.source_index[k]);
    CHECK(part.labels[k] == permuted.labels[r]);
    CHECK(part.true_labels[k] == truth[r]);
  }

  dataset_spec c = hdf5_spec(origin_file("corrupt.h5", "y_bad", "[0, 1, 2, 0, 0, 1, 2, 3]",
                                         "{'label_mode': 'corrupt', 'corruption': 0.125, 'true_labels': 'y'}"));
  c.y = "y_bad";
  const dataset corrupt = build_dataset(c);
  CHECK(corrupt.labels_mode == label_mode::corrupt);
  CHECK(corrupt.corruption == 0.125);
  CHECK(corrupt.true_labels == truth);
  // Without attributes the labels are the true ones.
  dataset_spec plain = hdf5_spec(origin_file("plain.h5", "y2", "[1, 1, 1, 1, 0, 0, 0, 0]", "{}"));
  plain.y = "y2";
  const dataset kept = build_dataset(plain);
  CHECK(kept.labels_mode == label_mode::real);
  CHECK(kept.true_labels == kept.labels);
}

TEST_CASE("hdf5: bad label_mode, corruption or true_labels attributes are refused naming the attribute",
          "[negative]") {
  const auto refused = [](const std::string& file, const std::string& labels, const std::string& attrs) {
    dataset_spec s = hdf5_spec(origin_file(file, "z", labels, attrs));
    s.y = "z";
    return io_error_of(s, true);
  };
  const std::string eight = "[0, 1, 2, 3, 0, 1, 2, 3]";
  CHECK_THAT(refused("o1.h5", eight, "{'label_mode': 'shuffled', 'true_labels': 'y'}"),
             Contains("attribute 'label_mode'") && Contains("\"shuffled\"") && Contains("\"random\""));
  CHECK_THAT(refused("o2.h5", eight, "{'label_mode': 'random'}"),
             Contains("no attribute 'true_labels'"));
  CHECK_THAT(refused("o3.h5", eight, "{'label_mode': 'random', 'true_labels': 'nope'}"),
             Contains("'nope'") && Contains("does not hold"));
  CHECK_THAT(refused("o4.h5", eight, "{'label_mode': 'corrupt', 'true_labels': 'y'}"),
             Contains("no attribute 'corruption'"));
  CHECK_THAT(refused("o5.h5", eight, "{'label_mode': 'corrupt', 'corruption': 1.5, 'true_labels': 'y'}"),
             Contains("attribute 'corruption'") && Contains("[0, 1]"));
  CHECK_THAT(refused("o6.h5", eight, "{'label_mode': 'random', 'corruption': 0.5, 'true_labels': 'y'}"),
             Contains("applies only to \"corrupt\""));
  CHECK_THAT(refused("o7.h5", eight, "{'true_labels': 'y'}"), Contains("the labels are the true ones"));
  CHECK_THAT(refused("o8.h5", eight, "{'label_mode': 'random', 'true_labels': 'X'}"),
             Contains("the true labels of 'z'") && Contains("integers"));
  CHECK_THAT(refused("o10.h5", eight, "{'label_mode': 'random', 'true_labels': 'z'}"), Contains("'z' itself"));
  // A label_mode in the experiment on top of labels the file declares random or corrupt.
  dataset_spec twice = hdf5_spec(origin_file("o11.h5", "z", eight, "{'label_mode': 'random', 'true_labels': 'y'}"));
  twice.y = "z";
  twice.labels_mode = label_mode::corrupt;
  twice.corruption = 0.1;
  CHECK_THAT(io_error_of(twice, true), Contains("random already") && Contains("\"corrupt\" would relabel them"));
  // True labels beyond the class count of the labels.
  CHECK_THAT(refused("o9.h5", "[0, 1, 1, 0, 0, 1, 1, 0]", "{'label_mode': 'random', 'true_labels': 'y'}"),
             Contains("2 classes") && Contains("class_count"));
}

TEST_CASE("hdf5 end to end: a data set whose file declares random labels is recorded and reported as random",
          "[interface]") {
  temp_dir dir("hdf5-origin");
  const std::string data = dir / "data.h5";
  write_with_h5py(data, "import numpy as np\nrng = np.random.default_rng(3)\ny = np.arange(120) % 3\n"
                        "X = rng.normal(size=(120, 4)).astype(np.float32)\nX[:, 0] += 2.0 * y\n"
                        "with h5py.File(sys.argv[1], 'w') as f:\n"
                        "    f['X'] = X\n    f['y'] = y\n    f['y_random'] = rng.permutation(y)\n"
                        "    f['y_random'].attrs['label_mode'] = 'random'\n"
                        "    f['y_random'].attrs['true_labels'] = 'y'\n");
  const std::string exp = dir / "exp.toml";
  write_file(exp, fmt::format(R"(seed = 1
output = "{}"
model_cache = "{}"
[datasets.real]
source = "hdf5"
path = "{}"
[datasets.random]
from = "real"
y = "y_random"
[models.net]
backend = "native"
dataset = "random"
[models.net.train]
hidden = [8]
epochs = 2
[samplers.pairs]
plugin = "pairwise"
dataset = "random"
count = 10
[estimators.walk]
plugin = "exact"
T = 2.0
[runs.main]
model = "net"
sampler = "pairs"
estimator = "walk"
)",
                              dir / "results.h5", dir / "models", data));
  const auto r = run_cli("run --quiet " + exp);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  const h5::file f = h5::file::open(dir / "results.h5");
  const h5::group datasets = f.root().open_group("provenance").open_group("datasets");
  CHECK(datasets.open_group("real").attr_string("label_mode") == "real");
  const h5::group random = datasets.open_group("random");
  CHECK(random.attr_string("label_mode") == "random");
  CHECK(random.attr_double("changed_fraction") > 0.3);  // about 2/3 of a permutation of three balanced classes
}

TEST_CASE("hdf5: a shape too large for memory is refused naming the file before anything is allocated",
          "[negative][regression]") {
  // 6 x 2^50 float64, chunked and never written: the file is tiny, the shape claims 64 PiB. Before the check,
  // build_dataset allocated the claimed size (found by fuzzing).
  const std::string path = temp_file("huge.h5");
  write_with_h5py(path,
                  "with h5py.File(sys.argv[1], 'w') as f:\n"
                  "    f.create_dataset('X', shape=(6, 2**50), dtype='f8', chunks=(1, 1024))\n"
                  "    f['y'] = [0, 1, 0, 1, 0, 1]\n");
  try {
    build_dataset(hdf5_spec(path));
    FAIL("accepted");
  } catch (const error& e) {
    CHECK_THAT(e.what(), Contains(path) && Contains("6 x 1125899906842624") && Contains("more than the") &&
                             Contains("GENSCOPE_MEMORY_LIMIT"));
  }
}

TEST_CASE("file sampler: directions too large for memory are refused naming the file, before allocating",
          "[negative][regression]") {
  // 8 x 2^40 float64 directions, chunked and never written (found by fuzzing: the sampler allocated 5.6 GB).
  const std::string path = temp_file("huge-directions.h5");
  write_with_h5py(path,
                  "with h5py.File(sys.argv[1], 'w') as f:\n"
                  "    f.create_dataset('d', shape=(8, 2**40), dtype='f8', chunks=(1, 1024))\n"
                  "    f['anchor'] = list(range(8))\n");
  genscope::option_set o;
  o.set("path", path);
  o.set("kind", std::string("file"));
  CHECK_THROWS_WITH(registry().create_sampler("file", o),
                    Contains(path) && Contains("HDF5 dataset 'd' (directions)") && Contains("more than the"));
}

TEST_CASE("hdf5: a shape whose number of values overflows is refused at validation, not wrapped", "[negative][regression]") {
  // 1 x 2^40 x 2^30 float32 (chunked, nothing written: h5py allocates nothing): 2^70 values wrap to 0 in 64 bits.
  const std::string path = temp_file("overflow.h5");
  write_with_h5py(path,
                  "with h5py.File(sys.argv[1], 'w') as f:\n"
                  "    f.create_dataset('X', shape=(1, 2**40, 2**30), dtype='f4', chunks=(1, 1, 1024))\n"
                  "    f['y'] = [0]\n");
  try {
    peek_dataset(hdf5_spec(path));
    FAIL("accepted");
  } catch (const io_error& e) {
    CHECK_THAT(e.what(), Contains(path) && Contains("1 x 1099511627776 x 1073741824") && Contains("overflows"));
  }
}

TEST_CASE("hdf5: NaN or inf in X is refused naming the row, at build (peek reads shapes only)", "[negative]") {
  std::vector<float> x = float_rows(4, 3);
  x[2 * 3 + 1] = std::numeric_limits<float>::quiet_NaN();
  const std::string path = temp_file("nan.h5");
  {
    h5_out out(path);
    out.root.write("X", x, {4, 3});
    out.root.write("y", std::vector<std::int32_t>{0, 1, 0, 1});
  }
  CHECK_NOTHROW(peek_dataset(hdf5_spec(path)));
  CHECK_THAT(io_error_of(hdf5_spec(path)), Contains("row 2") && Contains("NaN") && Contains("column 1"));

  std::vector<double> x64 = double_rows(3, 2);
  x64[1 * 2 + 0] = std::numeric_limits<double>::infinity();
  const std::string path64 = temp_file("inf.h5");
  {
    h5_out out(path64);
    out.root.write("X", x64, {3, 2});
    out.root.write("y", std::vector<std::int32_t>{0, 1, 0});
  }
  CHECK_THAT(io_error_of(hdf5_spec(path64)), Contains("row 1") && Contains("+inf"));
}

TEST_CASE("hdf5: float64 values beyond the float32 range are refused naming the row", "[negative]") {
  std::vector<double> x = double_rows(3, 2);
  x[2 * 2 + 1] = -1e300;
  const std::string path = temp_file("huge.h5");
  {
    h5_out out(path);
    out.root.write("X", x, {3, 2});
    out.root.write("y", std::vector<std::int32_t>{0, 1, 0});
  }
  CHECK_THAT(io_error_of(hdf5_spec(path)), Contains("row 2") && Contains("float32 range"));
}

TEST_CASE("hdf5: X of an unsupported dtype is refused naming it", "[negative]") {
  const std::string path = temp_file("xint.h5");
  {
    h5_out out(path);
    out.root.write("X", std::vector<std::int32_t>{1, 2, 3, 4}, {2, 2});
    out.root.write("y", std::vector<std::int32_t>{0, 1});
  }
  CHECK_THAT(io_error_of(hdf5_spec(path), true), Contains("unsupported dtype int32"));
}

TEST_CASE("hdf5: a subset larger than the file is refused", "[negative]") {
  dataset_spec s = hdf5_spec(simple_file("small.h5", 3, 2, {0, 1, 0}));
  s.subset = 4;
  CHECK_THROWS_WITH(peek_dataset(s), Contains("subset = 4") && Contains("3 samples"));
  CHECK_THROWS_WITH(build_dataset(s), Contains("subset = 4"));
}

// ---- the experiment file's dataset keys -----------------------------------------------------------------

namespace {

std::string experiment_with(const std::string& dataset_table) {
  return "seed = 1\noutput = \"" + temp_file("never.h5") + "\"\nmodel_cache = \"" + temp_file("models") +
         "\"\n\n[datasets.h]\n" + dataset_table +
         "\n[models.net]\nbackend = \"native\"\ndataset = \"h\"\n\n[models.net.train]\nhidden = [4]\nepochs = 1\n\n"
         "[samplers.pairs]\nplugin = \"pairwise\"\ndataset = \"h\"\ncount = 3\n\n"
         "[estimators.bisect]\nplugin = \"bisection\"\n\n"
         "[runs.main]\nmodel = \"net\"\nsampler = \"pairs\"\nestimator = \"bisect\"\n";
}

}  // namespace

TEST_CASE("hdf5: an experiment's hdf5 data set reads path, x and y", "[interface]") {
  const std::string path = temp_file("exp-data.h5");
  {
    h5_out out(path);
    out.root.write("inputs", float_rows(6, 2), {6, 2});
    out.root.write("targets", std::vector<std::int32_t>{0, 1, 0, 1, 0, 1});
  }
  const experiment e = parse_experiment(
      experiment_with("source = \"hdf5\"\npath = \"" + path + "\"\nx = \"inputs\"\ny = \"targets\"\nsubset = 4\n"),
      "exp.toml", registry());
  REQUIRE(e.datasets.size() == 1);
  CHECK(e.datasets[0].source == "hdf5");
  CHECK(e.datasets[0].path == path);
  CHECK(e.datasets[0].x == "inputs");
  CHECK(e.datasets[0].y == "targets");
  CHECK(e.datasets[0].subset == 4);
}

TEST_CASE("hdf5: hdf5 keys with another source, and other sources' keys with hdf5, are refused", "[negative]") {
  const std::string path = simple_file("exp-keys.h5", 4, 2, {0, 1, 0, 1});
  CHECK_THROWS_WITH(parse_experiment(experiment_with("source = \"synthetic\"\npath = \"" + path + "\"\n"), "exp.toml",
                                     registry()),
                    Contains("exp.toml:7:1:") && Contains("'datasets.h.path' applies to source = \"hdf5\" only"));
  CHECK_THROWS_WITH(parse_experiment(experiment_with("y = \"labels\"\n"), "exp.toml", registry()),
                    Contains("'datasets.h.y' applies to source = \"hdf5\" only"));
  CHECK_THROWS_WITH(
      parse_experiment(experiment_with("source = \"hdf5\"\npath = \"" + path + "\"\nsplit = \"train\"\n"), "exp.toml",
                       registry()),
      Contains("'datasets.h.split' applies to source = \"idx\" or \"cifar10\" only"));
}

TEST_CASE("hdf5: an experiment naming a bad HDF5 file fails at the data set, naming the file", "[negative]") {
  const std::string path = simple_file("exp-bad.h5", 4, 2, {0, 1, 0, 1});
  CHECK_THROWS_WITH(parse_experiment(experiment_with("source = \"hdf5\"\npath = \"" + path + "\"\ny = \"nope\"\n"),
                                     "exp.toml", registry()),
                    Contains(path) && Contains("'nope'") && Contains("key 'y'"));
  CHECK_THROWS_WITH(parse_experiment(experiment_with("source = \"hdf5\"\n"), "exp.toml", registry()),
                    Contains("'path'"));
}

// ---- the file sampler -------------------------------------------------------------------------------------

namespace {

std::shared_ptr<direction_sampler> file_sampler(const std::string& path, const std::string& kind = "") {
  option_set o;
  o.set("path", path);
  if (!kind.empty()) o.set("kind", kind);
  return registry().create_sampler("file", o);
}

/// The message of the plugin_error that creating a file sampler on `path` must throw: one line naming the file.
std::string create_error_of(const std::string& path) {
  try {
    file_sampler(path);
  } catch (const plugin_error& e) {
    const std::string message = e.what();
    CHECK(message.find('\n') == std::string::npos);
    CHECK_THAT(message, Contains("plugin 'file'") && Contains(path));
    return message;
  }
  FAIL("no plugin_error was thrown for " << path);
  return {};
}

// Ten samples of shape {2, 2} whose coordinates encode their index: x(i, j) = 10 i + j.
dataset grid_data(std::size_t n = 10) {
  dataset data;
  data.name = "grid";
  data.shape = {2, 2};
  data.x = matrix(n, 4);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < 4; ++j) data.x(i, j) = 10.0f * static_cast<float>(i) + static_cast<float>(j);
  data.labels.assign(n, 0);
  data.true_labels = data.labels;
  data.class_count = 1;
  return data;
}

dataset_shape shape_of(const dataset& data) {
  dataset_shape s;
  s.shape = data.shape;
  s.count = data.size();
  s.class_count = data.class_count;
  return s;
}

constexpr std::size_t probes = 6;

/// d as P x 2 x 2 float32, plus whatever the caller adds.
std::string directions_file(const std::string& name, bool with_x, bool with_anchor, bool with_partners) {
  const std::string path = temp_file(name);
  h5_out out(path);
  out.root.write("d", float_rows(probes, 4), {probes, 2, 2});
  if (with_x) out.root.write("x", double_rows(probes, 4), {probes, 4});
  if (with_anchor) out.root.write("anchor", std::vector<std::int32_t>{3, 0, 9, 3, 5, 1});
  if (with_partners)
    out.root.write("partners", std::vector<std::int64_t>{1, -1, 2, 4, -1, -1, 7, 8, 0, -1, 9, 9}, {probes, 2});
  return path;
}

}  // namespace

TEST_CASE("file sampler: probe k is row k of the file, whatever the batching", "[interface]") {
  const std::string path = directions_file("full.h5", true, true, true);
  const auto sampler = file_sampler(path, "mine");
  const dataset data = grid_data();
  sampler->check(shape_of(data));
  sampler->prepare(data, 123);
  REQUIRE(sampler->probe_count() == probes);

  const std::vector<float> d = float_rows(probes, 4);
  const std::vector<double> x = double_rows(probes, 4);
  const std::vector<std::int64_t> anchor{3, 0, 9, 3, 5, 1};
  const std::vector<std::array<std::int64_t, 2>> partners{{1, -1}, {2, 4}, {-1, -1}, {7, 8}, {0, -1}, {9, 9}};
  probe_batch all;
  sampler->sample(0, probes, all);
  REQUIRE(all.size() == probes);
  CHECK(all.first == 0);
  for (std::size_t k = 0; k < probes; ++k) {
    for (std::size_t j = 0; j < 4; ++j) {
      CHECK(all.d(k, j) == d[k * 4 + j]);
      CHECK(all.x(k, j) == static_cast<float>(x[k * 4 + j]));  // x from the file, not from the anchor
    }
    CHECK(all.anchor[k] == anchor[k]);
    CHECK(all.partners[k] == partners[k]);
    CHECK(all.kind[k] == "mine");
    CHECK(all.tangent_dim[k] == -1);
    CHECK(all.explained_variance[k] == -1.0f);
  }
  probe_batch part;
  sampler->sample(2, 3, part);
  REQUIRE(part.size() == 3);
  CHECK(part.first == 2);
  for (std::size_t k = 0; k < 3; ++k) {
    CHECK(std::equal(part.d.row(k), part.d.row(k) + 4, all.d.row(k + 2)));
    CHECK(std::equal(part.x.row(k), part.x.row(k) + 4, all.x.row(k + 2)));
    CHECK(part.anchor[k] == anchor[k + 2]);
    CHECK(part.partners[k] == partners[k + 2]);
  }
}

TEST_CASE("file sampler: an anchor-only file takes x from the data set", "[interface]") {
  const auto sampler = file_sampler(directions_file("anchors.h5", false, true, false));
  const dataset data = grid_data();
  sampler->prepare(data, 0);
  probe_batch b;
  sampler->sample(0, probes, b);
  const std::vector<std::int64_t> anchor{3, 0, 9, 3, 5, 1};
  for (std::size_t k = 0; k < probes; ++k) {
    for (std::size_t j = 0; j < 4; ++j)
      CHECK(b.x(k, j) == 10.0f * static_cast<float>(anchor[k]) + static_cast<float>(j));
    CHECK(b.anchor[k] == anchor[k]);
    CHECK(b.partners[k] == std::array<std::int64_t, 2>{-1, -1});
    CHECK(b.kind[k] == "file");
  }
}

TEST_CASE("file sampler: an x-only file records no anchor and accepts any shape of the same size", "[interface]") {
  const auto sampler = file_sampler(directions_file("xonly.h5", true, false, false));
  dataset data = grid_data(2);
  data.shape = {4};  // 4 = 2 x 2: only the flattened dimension must agree
  sampler->check(shape_of(data));
  sampler->prepare(data, 0);
  probe_batch b;
  sampler->sample(5, 1, b);
  CHECK(b.first == 5);
  CHECK(b.anchor[0] == -1);
  CHECK(b.x(0, 3) == static_cast<float>(double_rows(probes, 4)[5 * 4 + 3]));
}

TEST_CASE("file sampler: a dimension that disagrees with the data set is refused at check and prepare", "[negative]") {
  const std::string path = directions_file("dim.h5", false, true, false);
  const auto sampler = file_sampler(path);
  dataset data = grid_data();
  data.shape = {5};
  data.x = matrix(10, 5);
  CHECK_THROWS_WITH(sampler->check(shape_of(data)),
                    Contains(path) && Contains("'d'") && Contains("dimension 4") && Contains("dimension 5"));
  CHECK_THROWS_WITH(sampler->prepare(data, 0), Contains(path) && Contains("dimension 4"));
}

TEST_CASE("file sampler: anchor indices beyond the data set are refused at check and prepare", "[negative]") {
  const std::string path = directions_file("range.h5", false, true, false);
  const auto sampler = file_sampler(path);
  const dataset small = grid_data(9);  // anchor row 2 holds 9
  CHECK_THROWS_WITH(sampler->check(shape_of(small)),
                    Contains(path) && Contains("'anchor' row 2") && Contains("index 9") && Contains("9 samples"));
  CHECK_THROWS_WITH(sampler->prepare(small, 0), Contains("'anchor' row 2"));
  CHECK_NOTHROW(sampler->check(shape_of(grid_data(10))));
}

TEST_CASE("file sampler: partner indices beyond the data set are refused at check", "[negative]") {
  const std::string path = directions_file("prange.h5", true, false, true);
  CHECK_THROWS_WITH(file_sampler(path)->check(shape_of(grid_data(9))),
                    Contains(path) && Contains("'partners' row 5") && Contains("index 9"));
}

TEST_CASE("file sampler: a missing or non-HDF5 file is refused at create", "[negative]") {
  CHECK_THAT(create_error_of(temp_file("absent-dirs.h5")), Contains("no such file"));
  const std::string text = temp_file("dirs.txt");
  write_file(text, "d = 1\n");
  CHECK_THAT(create_error_of(text), Contains("not an HDF5 file"));
}

TEST_CASE("file sampler: a file without d is refused at create", "[negative]") {
  const std::string path = temp_file("no-d.h5");
  {
    h5_out out(path);
    out.root.write("x", float_rows(2, 2), {2, 2});
  }
  CHECK_THAT(create_error_of(path), Contains("'d'") && Contains("'x'"));
}

TEST_CASE("file sampler: a file with neither x nor anchor is refused at create", "[negative]") {
  const std::string path = temp_file("neither.h5");
  {
    h5_out out(path);
    out.root.write("d", float_rows(2, 2), {2, 2});
    out.root.write("anchors", std::vector<std::int32_t>{0, 1});
  }
  CHECK_THAT(create_error_of(path), Contains("'x'") && Contains("'anchor'") && Contains("neither") &&
                                        Contains("'anchors'"));
}

TEST_CASE("file sampler: d of a non-float dtype, rank 1 or no rows is refused at create", "[negative]") {
  const std::string ints = temp_file("d-int.h5");
  {
    h5_out out(ints);
    out.root.write("d", std::vector<std::int32_t>{1, 2, 3, 4}, {2, 2});
    out.root.write("anchor", std::vector<std::int32_t>{0, 1});
  }
  CHECK_THAT(create_error_of(ints), Contains("'d'") && Contains("dtype int32"));
  const std::string rank1 = temp_file("d-rank1.h5");
  {
    h5_out out(rank1);
    out.root.write("d", std::vector<float>{1, 2});
    out.root.write("anchor", std::vector<std::int32_t>{0, 1});
  }
  CHECK_THAT(create_error_of(rank1), Contains("'d'") && Contains("shape 2") && Contains("rank >= 2"));
  const std::string empty = temp_file("d-empty.h5");
  {
    h5_out out(empty);
    out.root.write("d", std::vector<float>{}, {0, 4});
    out.root.write("anchor", std::vector<std::int32_t>{});
  }
  CHECK_THAT(create_error_of(empty), Contains("no probes"));
}

TEST_CASE("file sampler: NaN in d or inf in x is refused at create naming the row", "[negative]") {
  std::vector<float> d = float_rows(3, 2);
  d[2 * 2 + 1] = std::numeric_limits<float>::quiet_NaN();
  const std::string nan = temp_file("d-nan.h5");
  {
    h5_out out(nan);
    out.root.write("d", d, {3, 2});
    out.root.write("anchor", std::vector<std::int32_t>{0, 1, 2});
  }
  CHECK_THAT(create_error_of(nan), Contains("'d' row 2") && Contains("NaN"));
  std::vector<double> x = double_rows(3, 2);
  x[1 * 2] = -std::numeric_limits<double>::infinity();
  const std::string inf = temp_file("x-inf.h5");
  {
    h5_out out(inf);
    out.root.write("d", float_rows(3, 2), {3, 2});
    out.root.write("x", x, {3, 2});
  }
  CHECK_THAT(create_error_of(inf), Contains("'x' row 1") && Contains("-inf"));
}

TEST_CASE("file sampler: x whose shape disagrees with d is refused at create", "[negative]") {
  const std::string rows = temp_file("x-rows.h5");
  {
    h5_out out(rows);
    out.root.write("d", float_rows(3, 4), {3, 4});
    out.root.write("x", float_rows(2, 4), {2, 4});
  }
  CHECK_THAT(create_error_of(rows), Contains("'x'") && Contains("shape 2 x 4") && Contains("3 rows"));
  const std::string cols = temp_file("x-cols.h5");
  {
    h5_out out(cols);
    out.root.write("d", float_rows(3, 4), {3, 2, 2});
    out.root.write("x", float_rows(3, 5), {3, 5});
  }
  CHECK_THAT(create_error_of(cols), Contains("'x'") && Contains("shape 3 x 5") && Contains("dimension 4"));
}

TEST_CASE("file sampler: anchor of the wrong dtype, length or sign is refused at create", "[negative]") {
  const std::string floats = temp_file("a-float.h5");
  {
    h5_out out(floats);
    out.root.write("d", float_rows(2, 2), {2, 2});
    out.root.write("anchor", std::vector<double>{0, 1});
  }
  CHECK_THAT(create_error_of(floats), Contains("'anchor'") && Contains("dtype float64"));
  const std::string length = temp_file("a-length.h5");
  {
    h5_out out(length);
    out.root.write("d", float_rows(2, 2), {2, 2});
    out.root.write("anchor", std::vector<std::int32_t>{0, 1, 2});
  }
  CHECK_THAT(create_error_of(length), Contains("'anchor'") && Contains("shape 3") && Contains("expected 2"));
  const std::string negative = temp_file("a-negative.h5");
  {
    h5_out out(negative);
    out.root.write("d", float_rows(2, 2), {2, 2});
    out.root.write("anchor", std::vector<std::int32_t>{0, -1});
  }
  CHECK_THAT(create_error_of(negative), Contains("'anchor' row 1") && Contains("-1"));
  const std::string with_x = temp_file("a-minus2.h5");
  {
    h5_out out(with_x);
    out.root.write("d", float_rows(2, 2), {2, 2});
    out.root.write("x", float_rows(2, 2), {2, 2});
    out.root.write("anchor", std::vector<std::int32_t>{-1, -2});  // -1 is allowed with x, -2 never
  }
  CHECK_THAT(create_error_of(with_x), Contains("'anchor' row 1") && Contains("-2"));
}

TEST_CASE("file sampler: partners of the wrong shape or below -1 are refused at create", "[negative]") {
  const std::string shape = temp_file("p-shape.h5");
  {
    h5_out out(shape);
    out.root.write("d", float_rows(2, 2), {2, 2});
    out.root.write("anchor", std::vector<std::int32_t>{0, 1});
    out.root.write("partners", std::vector<std::int32_t>{0, 1, 2, 3, 4, 5}, {2, 3});
  }
  CHECK_THAT(create_error_of(shape), Contains("'partners'") && Contains("shape 2 x 3") && Contains("expected 2 x 2"));
  const std::string low = temp_file("p-low.h5");
  {
    h5_out out(low);
    out.root.write("d", float_rows(2, 2), {2, 2});
    out.root.write("anchor", std::vector<std::int32_t>{0, 1});
    out.root.write("partners", std::vector<std::int32_t>{0, -1, -3, 1}, {2, 2});
  }
  CHECK_THAT(create_error_of(low), Contains("'partners' row 1") && Contains("-3"));
}

TEST_CASE("file sampler: empty path or kind options are refused", "[negative]") {
  option_set o;
  o.set("path", directions_file("opts.h5", false, true, false));
  o.set("kind", std::string());
  CHECK_THROWS_WITH(registry().create_sampler("file", o), Contains("'kind'"));
  o.set("kind", std::string("file"));
  o.set("path", std::string());
  CHECK_THROWS_WITH(registry().create_sampler("file", o), Contains("'path'"));
}

TEST_CASE("file sampler: probes past the end or before prepare are refused", "[negative]") {
  const auto sampler = file_sampler(directions_file("bounds.h5", false, true, false));
  probe_batch b;
  CHECK_THROWS_AS(sampler->sample(0, 1, b), std::logic_error);
  const dataset data = grid_data();  // the host keeps the data set alive while the sampler is used
  sampler->prepare(data, 0);
  CHECK_THROWS_AS(sampler->sample(4, 3, b), std::out_of_range);
  CHECK_NOTHROW(sampler->sample(4, 2, b));
}

// ---- end to end: train on an HDF5 data set, probe along an HDF5 file's directions ---------------------------

namespace {

constexpr std::size_t e2e_samples = 180, e2e_probes = 24;

/// Three Gaussian-ish clusters in R^6 stored as N x 2 x 3 float32, labels int64.
std::string write_e2e_data(const temp_dir& dir, std::vector<std::int64_t>& labels) {
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> jitter(-0.5f, 0.5f);
  std::vector<float> x(e2e_samples * 6);
  labels.resize(e2e_samples);
  for (std::size_t i = 0; i < e2e_samples; ++i) {
    labels[i] = static_cast<std::int64_t>(i % 3);
    for (std::size_t j = 0; j < 6; ++j)
      x[i * 6 + j] = (j % 3 == static_cast<std::size_t>(labels[i]) ? 2.0f : 0.0f) + jitter(gen);
  }
  const std::string path = dir / "data.h5";
  h5_out out(path);
  out.root.write("X", x, {e2e_samples, 2, 3});
  out.root.write("y", labels);
  return path;
}

struct e2e_directions {
  std::vector<double> d;
  std::vector<std::int32_t> anchor;
  std::vector<std::int64_t> partners;
};

e2e_directions write_e2e_directions(const std::string& path, std::size_t dim) {
  e2e_directions r;
  r.d.resize(e2e_probes * dim);
  for (std::size_t k = 0; k < e2e_probes; ++k) {
    for (std::size_t j = 0; j < dim; ++j)
      r.d[k * dim + j] = std::cos(0.7 * static_cast<double>(k) + 1.3 * static_cast<double>(j)) * (1.0 + 0.1 * static_cast<double>(k));
    r.anchor.push_back(static_cast<std::int32_t>((k * 13) % e2e_samples));
    r.partners.push_back(static_cast<std::int64_t>(k));
    r.partners.push_back(k % 2 == 0 ? -1 : static_cast<std::int64_t>(k + 1));
  }
  h5_out out(path);
  out.root.write("d", r.d, {e2e_probes, dim});
  out.root.write("anchor", r.anchor);
  out.root.write("partners", r.partners, {e2e_probes, 2});
  return r;
}

std::string e2e_experiment(const temp_dir& dir, const std::string& data, const std::string& directions) {
  return fmt::format(R"(seed = 4
output = "{}"
model_cache = "{}"

[datasets.h]
source = "hdf5"
path = "{}"

[models.net]
backend = "native"
dataset = "h"

[models.net.train]
hidden = [16]
epochs = 8
batch_size = 30

[samplers.dirs]
plugin = "file"
dataset = "h"
path = "{}"
kind = "designed"

[estimators.bisect]
plugin = "bisection"
T = 4.0
h = 0.1
tol = 1e-5

[runs.main]
model = "net"
sampler = "dirs"
estimator = "bisect"
batch_size = 7
)",
                     dir / "results.h5", dir / "models", data, directions);
}

}  // namespace

TEST_CASE("hdf5 end to end: train on an HDF5 data set and probe along a file's directions", "[interface]") {
  temp_dir dir("hdf5-e2e");
  std::vector<std::int64_t> labels;
  const std::string data = write_e2e_data(dir, labels);
  const e2e_directions dirs = write_e2e_directions(dir / "dirs.h5", 6);
  const std::string exp = dir / "exp.toml";
  write_file(exp, e2e_experiment(dir, data, dir / "dirs.h5"));
  const auto r = run_cli("run --quiet " + exp);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);

  const h5::file f = h5::file::open(dir / "results.h5");
  const h5::group run = f.root().open_group("runs").open_group("main");
  CHECK(run.attr_int("complete") == 1);
  const auto probe = run.read<std::uint64_t>("probe");
  const auto anchor = run.read<std::int64_t>("anchor");
  const auto p1 = run.read<std::int64_t>("partner_1");
  const auto p2 = run.read<std::int64_t>("partner_2");
  const auto label = run.read<std::int32_t>("anchor_label");
  const auto d_norm = run.read<double>("d_norm");
  const auto t_lo = run.read<double>("t_lo");
  const auto t_hi = run.read<double>("t_hi");
  const auto kind = run.read_strings("kind");
  REQUIRE(probe.size() == e2e_probes);
  for (std::size_t k = 0; k < e2e_probes; ++k) {
    CHECK(probe[k] == k);
    CHECK(anchor[k] == dirs.anchor[k]);
    CHECK(p1[k] == dirs.partners[2 * k]);
    CHECK(p2[k] == dirs.partners[2 * k + 1]);
    CHECK(label[k] == labels[static_cast<std::size_t>(dirs.anchor[k])]);
    double s = 0;
    for (std::size_t j = 0; j < 6; ++j) {
      const double v = static_cast<float>(dirs.d[k * 6 + j]);  // the sampler hands float32 directions
      s += v * v;
    }
    CHECK(d_norm[k] == Approx(std::sqrt(s)).epsilon(1e-9));
    CHECK(t_lo[k] <= 0.0);
    CHECK(t_hi[k] >= 0.0);
    CHECK(kind[k] == "designed");
  }
}

TEST_CASE("hdf5 end to end: directions of the wrong dimension fail at validation naming the file", "[negative]") {
  temp_dir dir("hdf5-e2e-bad");
  std::vector<std::int64_t> labels;
  const std::string data = write_e2e_data(dir, labels);
  write_e2e_directions(dir / "dirs5.h5", 5);
  const std::string exp = dir / "exp.toml";
  write_file(exp, e2e_experiment(dir, data, dir / "dirs5.h5"));
  const auto r = run_cli("run " + exp);
  INFO("stderr: " << r.err << "stdout: " << r.out);
  CHECK(r.exit_code == 1);
  CHECK(line_count(r.err) == 1);
  CHECK_THAT(r.err, Contains(dir / "dirs5.h5") && Contains("dimension 5") && Contains("dimension 6"));
  // Nothing was trained: validation may create the model cache folder, but it stays empty.
  CHECK((!std::filesystem::exists(dir / "models") || std::filesystem::is_empty(dir / "models")));
  CHECK_FALSE(std::filesystem::exists(dir / "results.h5.partial"));
}
