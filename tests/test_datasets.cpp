// Tests of the data sets: SHA-256, IDX reading, Fashion-MNIST facts, subsets, label permutation, synthetic data.
#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/experiment.hpp>

#include "support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <numeric>
#include <string>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using namespace genscope;

namespace {

const std::string fashion_dir = default_fashion_mnist_dir;

// One scratch folder per process, removed at exit, so that parallel ctest runs do not collide.
std::string temp_file(const std::string& name) {
  static const genscope::testing::temp_dir dir("datasets");
  return dir / name;
}

using bytes = std::vector<std::uint8_t>;

void write_bytes(const std::string& path, const bytes& b) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// An IDX file built by hand: magic 00 00 <type> <ndims>, big-endian dimensions, then the values.
bytes idx_file(const std::vector<std::uint32_t>& dims, const bytes& values, std::uint8_t type = 0x08) {
  bytes b = {0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<std::uint8_t>(d >> shift));
  b.insert(b.end(), values.begin(), values.end());
  return b;
}

// Compressed with the gzip tool, not with the code under test.
void gzip_to(const std::string& src, const std::string& dst, bool append = false) {
  const std::string cmd = "gzip -n -c '" + src + "' " + (append ? ">>" : ">") + " '" + dst + "'";
  REQUIRE(std::system(cmd.c_str()) == 0);
}

std::string sha256sum_of(const std::string& path) {
  const std::string cmd = "sha256sum '" + path + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[65] = {};
  const std::size_t n = std::fread(buf, 1, 64, p);
  ::pclose(p);
  REQUIRE(n == 64);
  return std::string(buf, 64);
}

bytes counting(std::size_t n, unsigned mul = 7) {
  bytes v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>((i * mul + 3) % 256);
  return v;
}

// A small hand-made IDX data set: 12 images of 3 x 4 pixels, labels 0..4.
struct small_idx {
  std::string images, labels;
  bytes pixels, label_values;
};

const small_idx& small_set() {
  static const small_idx s = [] {
    small_idx r;
    r.images = temp_file("small-images-idx3-ubyte");
    r.labels = temp_file("small-labels-idx1-ubyte");
    r.pixels = counting(12 * 3 * 4);
    r.label_values = {0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 4, 4};
    write_bytes(r.images, idx_file({12, 3, 4}, r.pixels));
    write_bytes(r.labels, idx_file({12}, r.label_values, 0x08));
    return r;
  }();
  return s;
}

dataset_spec small_spec() {
  dataset_spec spec;
  spec.name = "small";
  spec.images = small_set().images;
  spec.labels = small_set().labels;
  return spec;
}

dataset_spec synthetic_spec() {
  dataset_spec spec;
  spec.name = "synth";
  spec.source = "synthetic";
  spec.samples = 1000;
  spec.dim = 32;
  spec.manifold_dim = 3;
  spec.classes = 4;
  spec.seed = 11;
  return spec;
}

// Squared norm of x minus its projection on the rows of u (orthonormal), in double.
double residual2(const float* x, const matrix& u) {
  std::vector<double> r(x, x + u.cols);
  for (std::size_t k = 0; k < u.rows; ++k) {
    double dot = 0;
    for (std::size_t j = 0; j < u.cols; ++j) dot += double{u(k, j)} * x[j];
    for (std::size_t j = 0; j < u.cols; ++j) r[j] -= dot * u(k, j);
  }
  double s = 0;
  for (double v : r) s += v * v;
  return s;
}

std::map<std::int32_t, std::size_t> histogram(const std::vector<std::int32_t>& labels) {
  std::map<std::int32_t, std::size_t> h;
  for (auto l : labels) ++h[l];
  return h;
}

}  // namespace

// ---- SHA-256 ----

TEST_CASE("SHA-256 matches the FIPS 180-4 test vectors", "[interface]") {
  CHECK(sha256_hex("", 0) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc", 3) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  CHECK(sha256_hex(m448.data(), m448.size()) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string million(1000000, 'a');
  CHECK(sha256_hex(million.data(), million.size()) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // The same million bytes fed in uneven pieces.
  sha256 s;
  for (std::size_t pos = 0, step = 1; pos < million.size(); pos += step, step = step * 3 % 1001 + 1)
    s.update(million.data() + pos, std::min(step, million.size() - pos));
  CHECK(s.hex_digest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("SHA-256 agrees with sha256sum around the padding boundaries", "[boundary]") {
  for (std::size_t n : {1u, 55u, 56u, 57u, 63u, 64u, 65u, 119u, 120u, 128u}) {
    const std::string path = temp_file("pad_" + std::to_string(n));
    const bytes b = counting(n, 13);
    write_bytes(path, b);
    CHECK(sha256_hex(b.data(), b.size()) == sha256sum_of(path));
    CHECK(sha256_file(path) == sha256sum_of(path));
  }
}

TEST_CASE("sha256_file agrees with sha256sum on a real file", "[interface]") {
  const std::string path = fashion_dir + "/t10k-labels-idx1-ubyte.gz";
  CHECK(sha256_file(path) == sha256sum_of(path));
}

TEST_CASE("sha256_file on a missing file throws io_error naming it", "[negative]") {
  const std::string path = temp_file("no_such_file");
  CHECK_THROWS_WITH(sha256_file(path), Catch::Contains(path));
}

// ---- IDX ----

TEST_CASE("Fashion-MNIST train files: 60000 images of 28x28, 6000 of each of 10 classes", "[interface]") {
  const idx_array images = read_idx(fashion_dir + "/train-images-idx3-ubyte.gz");
  CHECK(images.dims == std::vector<std::size_t>{60000, 28, 28});
  CHECK(images.values.size() == 60000u * 28 * 28);
  const idx_array labels = read_idx(fashion_dir + "/train-labels-idx1-ubyte.gz");
  REQUIRE(labels.dims == std::vector<std::size_t>{60000});
  std::vector<std::size_t> counts(256, 0);
  for (auto v : labels.values) ++counts[v];
  for (int c = 0; c < 10; ++c) CHECK(counts[static_cast<std::size_t>(c)] == 6000);
  CHECK(std::accumulate(counts.begin() + 10, counts.end(), std::size_t{0}) == 0);
}

TEST_CASE("Fashion-MNIST t10k: peek gives shape, count and class count", "[interface]") {
  dataset_spec spec;
  spec.split = "t10k";
  const dataset_shape s = peek_dataset(spec);
  CHECK(s.shape == std::vector<std::size_t>{28, 28});
  CHECK(s.count == 10000);
  CHECK(s.class_count == 10);
  spec.subset = 123;
  CHECK(peek_dataset(spec).count == 123);
}

TEST_CASE("Fashion-MNIST t10k subset: pixels are the file's bytes / 255", "[interface]") {
  dataset_spec spec;
  spec.name = "fm";
  spec.split = "t10k";
  spec.subset = 300;
  spec.seed = 5;
  const dataset d = build_dataset(spec);
  REQUIRE(d.size() == 300);
  CHECK(d.dim() == 784);
  CHECK(d.shape == std::vector<std::size_t>{28, 28});
  CHECK(d.class_count == 10);
  CHECK(d.sha256.size() == 64);
  CHECK_THAT(d.description, Catch::Contains("t10k-images-idx3-ubyte.gz") && Catch::Contains("300/10000") &&
                                Catch::Contains("seed=5"));
  const idx_array images = read_idx(fashion_dir + "/t10k-images-idx3-ubyte.gz");
  const idx_array labels = read_idx(fashion_dir + "/t10k-labels-idx1-ubyte.gz");
  for (std::size_t k = 0; k < d.size(); ++k) {
    const auto src = static_cast<std::size_t>(d.source_index[k]);
    if (k > 0) CHECK(d.source_index[k - 1] < d.source_index[k]);
    CHECK(d.labels[k] == labels.values[src]);
    for (std::size_t j = 0; j < 784; j += 97)
      CHECK(d.x(k, j) == static_cast<float>(images.values[src * 784 + j]) / 255.0f);
  }
}

TEST_CASE("hand-made IDX files read identically raw and gzipped", "[interface]") {
  const std::string raw = temp_file("hand.idx");
  const std::string gz = temp_file("hand.idx.gz");
  const bytes values = counting(2 * 3 * 5);
  write_bytes(raw, idx_file({2, 3, 5}, values));
  gzip_to(raw, gz);
  const idx_array a = read_idx(raw);
  const idx_array b = read_idx(gz);
  CHECK(a.dims == std::vector<std::size_t>{2, 3, 5});
  CHECK(a.values == values);
  CHECK(b.dims == a.dims);
  CHECK(b.values == a.values);
}

TEST_CASE("IDX boundary cases: zero items, one dimension, multi-member gzip, large values", "[boundary]") {
  const std::string empty = temp_file("zero.idx");
  write_bytes(empty, idx_file({0, 28, 28}, {}));
  CHECK(read_idx(empty).dims == std::vector<std::size_t>{0, 28, 28});
  CHECK(read_idx(empty).values.empty());

  // gzip members concatenated decompress to the concatenation (as gzip -d does).
  const std::string part1 = temp_file("part1");
  const std::string part2 = temp_file("part2");
  const bytes whole = idx_file({4, 50, 50}, counting(4 * 50 * 50, 31));
  write_bytes(part1, bytes(whole.begin(), whole.begin() + 5000));
  write_bytes(part2, bytes(whole.begin() + 5000, whole.end()));
  const std::string multi = temp_file("multi.idx.gz");
  gzip_to(part1, multi);
  gzip_to(part2, multi, true);
  const idx_array m = read_idx(multi);
  CHECK(m.dims == std::vector<std::size_t>{4, 50, 50});
  CHECK(m.values == bytes(whole.begin() + 16, whole.end()));

  // A dimension above 2^24 must be read with all four big-endian bytes.
  const std::string wide = temp_file("wide.idx");
  bytes hdr = idx_file({0x01000003u, 0}, {});
  write_bytes(wide, hdr);
  CHECK(read_idx(wide).dims == std::vector<std::size_t>{0x01000003u, 0});
}

TEST_CASE("read_idx on a missing file throws io_error naming it", "[negative]") {
  const std::string path = temp_file("missing.idx");
  try {
    (void)read_idx(path);
    FAIL("no exception");
  } catch (const io_error& e) {
    CHECK(e.path() == path);
  }
}

TEST_CASE("read_idx rejects a bad magic number", "[negative]") {
  const std::string path = temp_file("bad_magic.idx");
  bytes b = idx_file({2}, {1, 2});
  b[0] = 0x12;
  write_bytes(path, b);
  CHECK_THROWS_WITH(read_idx(path), Catch::Contains(path) && Catch::Contains("magic"));
}

TEST_CASE("read_idx rejects a bad magic number inside gzip", "[negative]") {
  const std::string raw = temp_file("bad_magic_2.idx");
  bytes b = idx_file({2}, {1, 2});
  b[1] = 0x01;
  write_bytes(raw, b);
  gzip_to(raw, raw + ".gz");
  CHECK_THROWS_WITH(read_idx(raw + ".gz"), Catch::Contains("magic"));
}

TEST_CASE("read_idx rejects zero dimensions", "[negative]") {
  const std::string path = temp_file("zero_dims.idx");
  write_bytes(path, {0, 0, 8, 0});
  CHECK_THROWS_AS(read_idx(path), io_error);
}

TEST_CASE("read_idx rejects element types other than unsigned byte", "[negative]") {
  const std::string path = temp_file("float.idx");
  write_bytes(path, idx_file({1}, {0, 0, 0, 0}, 0x0D));
  CHECK_THROWS_WITH(read_idx(path), Catch::Contains(path) && Catch::Contains("0x0d"));
}

TEST_CASE("read_idx rejects truncated raw data", "[negative]") {
  const std::string path = temp_file("truncated.idx");
  bytes b = idx_file({3, 4}, counting(12));
  b.pop_back();
  write_bytes(path, b);
  CHECK_THROWS_WITH(read_idx(path), Catch::Contains(path) && Catch::Contains("truncated"));
}

TEST_CASE("read_idx refuses a small file whose header claims billions of values without allocating them",
          "[negative][regression]") {
  // 8192^3 = 2^39 values announced (512 GiB), 1,000 present: the values grow with what the file holds, so this
  // fails as truncated instead of allocating what the header claims (std::bad_alloc, or gigabytes and seconds).
  const std::string path = temp_file("claims_billions.idx");
  write_bytes(path, idx_file({8192, 8192, 8192}, counting(1000)));
  CHECK_THROWS_WITH(read_idx(path), Catch::Contains(path) && Catch::Contains("truncated IDX data") &&
                                        Catch::Contains("announces 549755813888 values, found 1000"));
}

TEST_CASE("read_idx rejects a truncated header", "[negative]") {
  const std::string path = temp_file("truncated_header.idx");
  write_bytes(path, {0, 0, 8, 3, 0, 0, 0, 2, 0, 0});
  CHECK_THROWS_WITH(read_idx(path), Catch::Contains("truncated"));
}

TEST_CASE("read_idx rejects truncated gzip data", "[negative]") {
  const std::string raw = temp_file("to_truncate.idx");
  const std::string gz = temp_file("to_truncate.idx.gz");
  write_bytes(raw, idx_file({20, 20, 20}, counting(8000, 101)));
  gzip_to(raw, gz);
  fs::resize_file(gz, fs::file_size(gz) / 2);
  CHECK_THROWS_WITH(read_idx(gz), Catch::Contains(gz) && Catch::Contains("truncated"));
}

TEST_CASE("read_idx rejects gzip data missing only its trailer", "[negative]") {
  const std::string raw = temp_file("no_trailer.idx");
  const std::string gz = temp_file("no_trailer.idx.gz");
  write_bytes(raw, idx_file({5}, counting(5)));
  gzip_to(raw, gz);
  fs::resize_file(gz, fs::file_size(gz) - 4);
  CHECK_THROWS_WITH(read_idx(gz), Catch::Contains("truncated"));
}

TEST_CASE("read_idx rejects corrupt gzip data", "[negative]") {
  const std::string raw = temp_file("corrupt.idx");
  const std::string gz = temp_file("corrupt.idx.gz");
  write_bytes(raw, idx_file({10, 10}, counting(100, 3)));
  gzip_to(raw, gz);
  bytes b = read_bytes(gz);
  b[b.size() - 6] ^= 0xff;  // inside the CRC-32 of the trailer
  write_bytes(gz, b);
  CHECK_THROWS_WITH(read_idx(gz), Catch::Contains(gz) && Catch::Contains("corrupt"));
}

TEST_CASE("read_idx rejects trailing data after raw values", "[negative]") {
  const std::string path = temp_file("trailing.idx");
  bytes b = idx_file({2, 2}, counting(4));
  b.push_back(0);
  write_bytes(path, b);
  CHECK_THROWS_WITH(read_idx(path), Catch::Contains(path) && Catch::Contains("trailing"));
}

TEST_CASE("read_idx rejects trailing bytes after gzip data", "[negative]") {
  const std::string raw = temp_file("trailing_gz.idx");
  const std::string gz = temp_file("trailing_gz.idx.gz");
  write_bytes(raw, idx_file({2, 2}, counting(4)));
  gzip_to(raw, gz);
  bytes b = read_bytes(gz);
  b.push_back('x');
  write_bytes(gz, b);
  CHECK_THROWS_WITH(read_idx(gz), Catch::Contains("trailing"));
}

TEST_CASE("read_idx rejects junk that is not IDX", "[negative]") {
  const std::string path = temp_file("junk.bin");
  write_bytes(path, counting(1000, 91));
  CHECK_THROWS_WITH(read_idx(path), Catch::Contains(path) && Catch::Contains("not an IDX file"));
}

TEST_CASE("read_idx rejects an empty file", "[negative]") {
  const std::string path = temp_file("empty.bin");
  write_bytes(path, {});
  CHECK_THROWS_WITH(read_idx(path), Catch::Contains("not an IDX file"));
}

// ---- building IDX data sets ----

TEST_CASE("build_dataset on hand-made IDX files: scaling, shape, labels, provenance", "[interface]") {
  const small_idx& s = small_set();
  const dataset d = build_dataset(small_spec());
  REQUIRE(d.size() == 12);
  CHECK(d.shape == std::vector<std::size_t>{3, 4});
  CHECK(d.dim() == 12);
  CHECK(d.class_count == 5);
  for (std::size_t i = 0; i < 12; ++i) {
    CHECK(d.labels[i] == s.label_values[i]);
    CHECK(d.true_labels[i] == s.label_values[i]);
    CHECK(d.source_index[i] == static_cast<std::int64_t>(i));
    for (std::size_t j = 0; j < 12; ++j) CHECK(d.x(i, j) == static_cast<float>(s.pixels[i * 12 + j]) / 255.0f);
  }
  CHECK(d.tangent_basis.rows == 0);
  CHECK(d.name == "small");
  CHECK_THAT(d.description, Catch::Contains(s.images) && Catch::Contains("labels=real"));
  CHECK(d.description.find('\n') == std::string::npos);
}

TEST_CASE("default IDX paths fall back to the uncompressed name", "[boundary]") {
  const fs::path dir = fs::path(temp_file("plain_dir"));
  fs::create_directories(dir);
  fs::copy_file(small_set().images, dir / "train-images-idx3-ubyte", fs::copy_options::overwrite_existing);
  fs::copy_file(small_set().labels, dir / "train-labels-idx1-ubyte", fs::copy_options::overwrite_existing);
  dataset_spec spec;
  spec.dir = dir.string();
  CHECK(peek_dataset(spec).count == 12);
  CHECK(build_dataset(spec).sha256 == build_dataset(small_spec()).sha256);
}

TEST_CASE("a missing default IDX file throws io_error naming the path tried", "[negative]") {
  dataset_spec spec;
  spec.dir = temp_file("no_such_dir");
  CHECK_THROWS_WITH(build_dataset(spec), Catch::Contains(spec.dir + "/train-images-idx3-ubyte.gz"));
  CHECK_THROWS_AS(peek_dataset(spec), io_error);
}

namespace {

// An MNIST-format split as on LeCun's page: <split>-images-idx3-ubyte (n x 28 x 28) and <split>-labels-idx1-ubyte.
std::uint8_t mnist_pixel(std::size_t i, std::size_t r, std::size_t c) {
  return static_cast<std::uint8_t>((i * 37 + r * 28 + c) % 256);
}

std::uint8_t mnist_label(std::size_t i) { return static_cast<std::uint8_t>((i * 7 + 3) % 10); }

void write_mnist_split(const fs::path& dir, const std::string& split, std::size_t n, bool gzipped) {
  bytes pixels, labels;
  for (std::size_t i = 0; i < n; ++i) {
    labels.push_back(mnist_label(i));
    for (std::size_t r = 0; r < 28; ++r)
      for (std::size_t c = 0; c < 28; ++c) pixels.push_back(mnist_pixel(i, r, c));
  }
  const std::string images = (dir / (split + "-images-idx3-ubyte")).string();
  const std::string label_file = (dir / (split + "-labels-idx1-ubyte")).string();
  write_bytes(images, idx_file({static_cast<std::uint32_t>(n), 28, 28}, pixels));
  write_bytes(label_file, idx_file({static_cast<std::uint32_t>(n)}, labels));
  if (!gzipped) return;
  for (const std::string& f : {images, label_file}) {
    gzip_to(f, f + ".gz");
    fs::remove(f);
  }
}

}  // namespace

TEST_CASE("MNIST through an experiment: source idx with dir reads LeCun's files, raw or gzipped", "[interface]") {
  const genscope::testing::temp_dir dir("mnist");
  fs::create_directories(dir / "raw");
  fs::create_directories(dir / "gz");
  write_mnist_split(dir / "raw", "train", 30, false);
  write_mnist_split(dir / "raw", "t10k", 10, false);
  write_mnist_split(dir / "gz", "train", 30, true);
  write_mnist_split(dir / "gz", "t10k", 10, true);
  const std::string text = "seed = 1\noutput = \"" + (dir / "r.h5") + "\"\nmodel_cache = \"" + (dir / "m") + R"("
[datasets.mnist]
source = "idx"
dir = ")" + (dir / "raw") + R"("
[datasets.mnist_gz]
source = "idx"
dir = ")" + (dir / "gz") + R"("
[datasets.mnist_test]
from = "mnist_gz"
split = "t10k"
[models.net]
backend = "native"
dataset = "mnist"
test = "mnist_test"
[models.net.train]
hidden = [4]
epochs = 1
[samplers.pairs]
plugin = "pairwise"
dataset = "mnist_gz"
count = 3
[estimators.bisect]
plugin = "bisection"
[runs.main]
model = "net"
sampler = "pairs"
estimator = "bisect"
)";
  const experiment e = parse_experiment(text, "exp.toml", genscope::testing::build_plugins());
  REQUIRE(e.datasets.size() == 3);
  CHECK(dataset_files(e.datasets[0]) ==
        std::vector<std::string>{dir / "raw/train-images-idx3-ubyte", dir / "raw/train-labels-idx1-ubyte"});
  CHECK(dataset_files(e.datasets[2]) ==
        std::vector<std::string>{dir / "gz/t10k-images-idx3-ubyte.gz", dir / "gz/t10k-labels-idx1-ubyte.gz"});
  const std::vector<std::pair<dataset_spec, std::size_t>> expected{
      {e.datasets[0], 30}, {e.datasets[1], 30}, {e.datasets[2], 10}};
  for (const auto& [spec, n] : expected) {
    INFO("dataset " << spec.name);
    const dataset d = build_dataset(spec);
    REQUIRE(d.size() == n);
    CHECK(d.shape == std::vector<std::size_t>{28, 28});
    CHECK(d.dim() == 784);
    CHECK(d.class_count == 10);  // labels (7i + 3) mod 10 reach 9 within the first 10 samples
    std::size_t wrong_labels = 0, wrong_pixels = 0;
    for (std::size_t i = 0; i < d.size(); ++i) {
      wrong_labels += d.labels[i] != mnist_label(i);
      for (std::size_t r = 0; r < 28; ++r)
        for (std::size_t c = 0; c < 28; ++c)
          wrong_pixels += d.x(i, r * 28 + c) != static_cast<float>(mnist_pixel(i, r, c)) / 255.0f;
    }
    CHECK(wrong_labels == 0);
    CHECK(wrong_pixels == 0);
    CHECK(d.x(1, 2 * 28 + 3) == 96.0f / 255.0f);  // 37 + 56 + 3
  }
}

TEST_CASE("image and label counts that disagree throw io_error", "[negative]") {
  const std::string labels = temp_file("eleven-labels");
  write_bytes(labels, idx_file({11}, bytes(11, 1)));
  dataset_spec spec = small_spec();
  spec.labels = labels;
  CHECK_THROWS_WITH(build_dataset(spec), Catch::Contains("11") && Catch::Contains("12"));
  CHECK_THROWS_AS(peek_dataset(spec), io_error);
}

TEST_CASE("an image file with one dimension is refused", "[negative]") {
  dataset_spec spec = small_spec();
  spec.images = spec.labels;
  CHECK_THROWS_AS(build_dataset(spec), io_error);
}

TEST_CASE("a label file with two dimensions is refused", "[negative]") {
  dataset_spec spec = small_spec();
  const std::string labels = temp_file("2d-labels");
  write_bytes(labels, idx_file({12, 1}, bytes(12, 0)));
  spec.labels = labels;
  CHECK_THROWS_AS(build_dataset(spec), io_error);
}

// ---- spec validation ----

TEST_CASE("an unknown source is refused naming the field", "[negative]") {
  dataset_spec spec = small_spec();
  spec.source = "csv";
  CHECK_THROWS_WITH(build_dataset(spec), Catch::Contains("source") && Catch::Contains("csv"));
  CHECK_THROWS_AS(peek_dataset(spec), error);
}

TEST_CASE("an unknown split is refused", "[negative]") {
  dataset_spec spec;
  spec.split = "test";
  CHECK_THROWS_WITH(peek_dataset(spec), Catch::Contains("split"));
}

TEST_CASE("a subset larger than the IDX data is refused", "[negative]") {
  dataset_spec spec = small_spec();
  spec.subset = 13;
  CHECK_THROWS_WITH(build_dataset(spec), Catch::Contains("subset"));
  CHECK_THROWS_WITH(peek_dataset(spec), Catch::Contains("subset"));
}

TEST_CASE("a subset larger than the synthetic sample count is refused", "[negative]") {
  dataset_spec spec = synthetic_spec();
  spec.subset = spec.samples + 1;
  CHECK_THROWS_WITH(build_dataset(spec), Catch::Contains("subset"));
  CHECK_THROWS_WITH(peek_dataset(spec), Catch::Contains("subset"));
}

TEST_CASE("manifold_dim larger than dim is refused", "[negative]") {
  dataset_spec spec = synthetic_spec();
  spec.manifold_dim = spec.dim + 1;
  CHECK_THROWS_WITH(build_dataset(spec), Catch::Contains("manifold_dim"));
}

TEST_CASE("manifold_dim zero is refused", "[negative]") {
  dataset_spec spec = synthetic_spec();
  spec.manifold_dim = 0;
  CHECK_THROWS_WITH(peek_dataset(spec), Catch::Contains("manifold_dim"));
}

TEST_CASE("zero classes are refused", "[negative]") {
  dataset_spec spec = synthetic_spec();
  spec.classes = 0;
  CHECK_THROWS_WITH(build_dataset(spec), Catch::Contains("classes"));
}

TEST_CASE("zero samples are refused", "[negative]") {
  dataset_spec spec = synthetic_spec();
  spec.samples = 0;
  CHECK_THROWS_WITH(build_dataset(spec), Catch::Contains("samples"));
}

TEST_CASE("zero dim is refused", "[negative]") {
  dataset_spec spec = synthetic_spec();
  spec.dim = 0;
  CHECK_THROWS_WITH(build_dataset(spec), Catch::Contains("dim"));
}

TEST_CASE("negative noise is refused", "[negative]") {
  dataset_spec spec = synthetic_spec();
  spec.noise = -0.1;
  CHECK_THROWS_WITH(build_dataset(spec), Catch::Contains("noise"));
}

TEST_CASE("a non-finite cluster_spread or separation is refused", "[negative]") {
  dataset_spec spec = synthetic_spec();
  spec.cluster_spread = std::nan("");
  CHECK_THROWS_WITH(build_dataset(spec), Catch::Contains("cluster_spread"));
  spec = synthetic_spec();
  spec.separation = INFINITY;
  CHECK_THROWS_WITH(build_dataset(spec), Catch::Contains("separation"));
}

// ---- subsets ----

TEST_CASE("take_subset: size, sorted source order, kept rows equal the source rows", "[interface]") {
  const dataset full = build_dataset(synthetic_spec());
  const dataset sub = take_subset(full, 100, 3);
  REQUIRE(sub.size() == 100);
  CHECK(sub.dim() == full.dim());
  CHECK(sub.shape == full.shape);
  CHECK(sub.class_count == full.class_count);
  for (std::size_t k = 0; k < sub.size(); ++k) {
    const auto src = static_cast<std::size_t>(sub.source_index[k]);
    if (k > 0) CHECK(sub.source_index[k - 1] < sub.source_index[k]);
    CHECK(std::equal(sub.x.row(k), sub.x.row(k) + sub.dim(), full.x.row(src)));
    CHECK(sub.labels[k] == full.labels[src]);
  }
  CHECK(sub.sha256 != full.sha256);
}

TEST_CASE("take_subset is deterministic and depends on the seed", "[interface]") {
  const dataset full = build_dataset(synthetic_spec());
  const dataset a = take_subset(full, 50, 1);
  CHECK(take_subset(full, 50, 1).source_index == a.source_index);
  CHECK(take_subset(full, 50, 1).sha256 == a.sha256);
  CHECK(take_subset(full, 50, 2).source_index != a.source_index);
}

TEST_CASE("which samples are kept depends only on seed, n and the source size", "[regression]") {
  const dataset one = build_dataset(synthetic_spec());
  dataset_spec other = synthetic_spec();
  other.seed = 99;
  other.dim = 5;
  other.manifold_dim = 1;
  const dataset two = build_dataset(other);
  CHECK(take_subset(one, 40, 7).source_index == take_subset(two, 40, 7).source_index);
  // build_dataset's subset is take_subset of the full data with the spec's seed.
  dataset_spec sub = synthetic_spec();
  sub.subset = 40;
  CHECK(build_dataset(sub).source_index == take_subset(one, 40, sub.seed).source_index);
  CHECK(build_dataset(sub).sha256 == take_subset(one, 40, sub.seed).sha256);
}

TEST_CASE("take_subset boundary: everything, nothing, nested subsets", "[boundary]") {
  const dataset full = build_dataset(synthetic_spec());
  const dataset all = take_subset(full, full.size(), 4);
  CHECK(all.sha256 == full.sha256);
  CHECK(take_subset(full, 0, 4).size() == 0);
  const auto small = take_subset(full, 10, 4).source_index;
  const auto large = take_subset(full, 200, 4).source_index;
  CHECK(std::includes(large.begin(), large.end(), small.begin(), small.end()));
}

TEST_CASE("take_subset of more samples than there are throws", "[negative]") {
  const dataset d = build_dataset(small_spec());
  CHECK_THROWS_AS(take_subset(d, 13, 0), error);
}

TEST_CASE("a subset of a subset keeps indices into the original source", "[boundary]") {
  const dataset full = build_dataset(small_spec());
  const dataset a = take_subset(full, 8, 1);
  const dataset b = take_subset(a, 3, 2);
  for (std::size_t k = 0; k < b.size(); ++k) {
    const auto src = static_cast<std::size_t>(b.source_index[k]);
    CHECK(std::equal(b.x.row(k), b.x.row(k) + b.dim(), full.x.row(src)));
  }
}

// ---- label permutation ----

TEST_CASE("permute_labels: a deterministic permutation, true_labels kept", "[interface]") {
  const dataset original = build_dataset(synthetic_spec());
  dataset a = original;
  permute_labels(a, 8);
  CHECK(histogram(a.labels) == histogram(original.labels));
  CHECK(a.true_labels == original.labels);
  CHECK(a.labels != original.labels);
  CHECK(a.x.data == original.x.data);
  CHECK(a.sha256 != original.sha256);
  dataset b = original;
  permute_labels(b, 8);
  CHECK(b.labels == a.labels);
  dataset c = original;
  permute_labels(c, 9);
  CHECK(c.labels != a.labels);
  // A second permutation still remembers the source labels.
  permute_labels(a, 10);
  CHECK(a.true_labels == original.labels);
}

TEST_CASE("label_mode random in a spec permutes the labels and keeps the real ones", "[interface]") {
  dataset_spec spec = synthetic_spec();
  const dataset real = build_dataset(spec);
  spec.labels_mode = label_mode::random;
  const dataset random = build_dataset(spec);
  CHECK(random.true_labels == real.labels);
  CHECK(random.labels != real.labels);
  CHECK(histogram(random.labels) == histogram(real.labels));
  CHECK(random.x.data == real.x.data);
  CHECK_THAT(random.description, Catch::Contains("labels=random"));
}

// ---- synthetic ----

TEST_CASE("synthetic: tangent basis rows are orthonormal", "[interface]") {
  dataset_spec spec = synthetic_spec();
  spec.dim = 50;
  spec.manifold_dim = 7;
  const dataset d = build_dataset(spec);
  const matrix& u = d.tangent_basis;
  REQUIRE(u.rows == 7);
  REQUIRE(u.cols == 50);
  for (std::size_t a = 0; a < u.rows; ++a)
    for (std::size_t b = 0; b < u.rows; ++b) {
      double dot = 0;
      for (std::size_t j = 0; j < u.cols; ++j) dot += double{u(a, j)} * u(b, j);
      CHECK(std::abs(dot - (a == b ? 1.0 : 0.0)) < 1e-5);
    }
}

TEST_CASE("synthetic without noise: every sample lies in the span of the basis", "[interface]") {
  const dataset d = build_dataset(synthetic_spec());
  CHECK(d.shape == std::vector<std::size_t>{32});
  CHECK(d.class_count == 4);
  double worst = 0;
  double norm2 = 0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    worst = std::max(worst, std::sqrt(residual2(d.x.row(i), d.tangent_basis)));
    for (std::size_t j = 0; j < d.dim(); ++j) norm2 += double{d.x(i, j)} * d.x(i, j);
  }
  CHECK(worst < 1e-4);
  CHECK(norm2 / static_cast<double>(d.size()) > 1.0);  // the samples are not trivially zero
}

TEST_CASE("synthetic with noise: mean squared residual is (dim - m) * noise^2", "[interface]") {
  dataset_spec spec = synthetic_spec();
  spec.noise = 0.3;
  const dataset d = build_dataset(spec);
  double sum = 0;
  for (std::size_t i = 0; i < d.size(); ++i) sum += residual2(d.x.row(i), d.tangent_basis);
  const double expected = static_cast<double>(spec.dim - spec.manifold_dim) * spec.noise * spec.noise;
  CHECK(sum / static_cast<double>(d.size()) == Approx(expected).epsilon(0.1));
}

TEST_CASE("synthetic: balanced labels, cluster statistics, determinism", "[interface]") {
  dataset_spec spec = synthetic_spec();
  spec.samples = 1002;
  const dataset d = build_dataset(spec);
  for (std::size_t i = 0; i < d.size(); ++i) CHECK(d.labels[i] == static_cast<std::int32_t>(i % 4));
  const auto h = histogram(d.labels);
  CHECK(h.at(0) == 251);
  CHECK(h.at(3) == 250);
  // Within a class, manifold coordinates scatter with standard deviation cluster_spread.
  std::vector<double> z(d.size() * spec.manifold_dim);
  for (std::size_t i = 0; i < d.size(); ++i)
    for (std::size_t k = 0; k < spec.manifold_dim; ++k) {
      double dot = 0;
      for (std::size_t j = 0; j < d.dim(); ++j) dot += double{d.tangent_basis(k, j)} * d.x(i, j);
      z[i * spec.manifold_dim + k] = dot;
    }
  double var = 0;
  std::size_t n = 0;
  for (std::int32_t c = 0; c < 4; ++c)
    for (std::size_t k = 0; k < spec.manifold_dim; ++k) {
      double mean = 0, sq = 0, cnt = 0;
      for (std::size_t i = 0; i < d.size(); ++i)
        if (d.labels[i] == c) {
          mean += z[i * spec.manifold_dim + k];
          sq += z[i * spec.manifold_dim + k] * z[i * spec.manifold_dim + k];
          cnt += 1;
        }
      mean /= cnt;
      var += sq / cnt - mean * mean;
      ++n;
    }
  CHECK(var / static_cast<double>(n) == Approx(spec.cluster_spread * spec.cluster_spread).epsilon(0.1));
  CHECK(build_dataset(spec).sha256 == d.sha256);
  spec.seed += 1;
  CHECK(build_dataset(spec).sha256 != d.sha256);
}

TEST_CASE("synthetic: sample i does not depend on how many samples are drawn", "[regression]") {
  dataset_spec spec = synthetic_spec();
  const dataset big = build_dataset(spec);
  spec.samples = 10;
  const dataset small = build_dataset(spec);
  CHECK(std::equal(small.x.data.begin(), small.x.data.end(), big.x.data.begin()));
}

TEST_CASE("synthetic boundary: manifold_dim equal to dim, one class", "[boundary]") {
  dataset_spec spec = synthetic_spec();
  spec.dim = 4;
  spec.manifold_dim = 4;
  spec.classes = 1;
  spec.samples = 20;
  const dataset d = build_dataset(spec);
  CHECK(d.tangent_basis.rows == 4);
  CHECK(d.class_count == 1);
  for (std::size_t i = 0; i < d.size(); ++i) CHECK(residual2(d.x.row(i), d.tangent_basis) < 1e-8);
}

// ---- content hash ----

TEST_CASE("hash_dataset hashes shape (uint64), x (float32), labels (int32), little-endian", "[interface]") {
  dataset d;
  d.shape = {2, 3};
  d.x = matrix(2, 6);
  for (std::size_t k = 0; k < d.x.data.size(); ++k) d.x.data[k] = static_cast<float>(k) * 0.5f - 1.0f;
  d.labels = {7, -2};
  hash_dataset(d);
  // The same bytes written out by hand and hashed by sha256sum.
  bytes b;
  auto put = [&](std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  };
  put(2, 8);
  put(3, 8);
  for (float f : d.x.data) {
    std::uint32_t u = 0;
    std::memcpy(&u, &f, 4);
    put(u, 4);
  }
  put(7, 4);
  put(static_cast<std::uint32_t>(-2), 4);
  const std::string path = temp_file("layout.bin");
  write_bytes(path, b);
  CHECK(d.sha256 == sha256sum_of(path));
}

TEST_CASE("the hash changes when one pixel, one label or the shape changes", "[interface]") {
  const dataset d = build_dataset(small_spec());
  dataset pixel = d;
  pixel.x(5, 7) += 1.0f / 255.0f;
  hash_dataset(pixel);
  CHECK(pixel.sha256 != d.sha256);
  dataset label = d;
  label.labels[11] = 3;
  hash_dataset(label);
  CHECK(label.sha256 != d.sha256);
  dataset shape = d;
  shape.shape = {4, 3};
  hash_dataset(shape);
  CHECK(shape.sha256 != d.sha256);
  dataset same = d;
  hash_dataset(same);
  CHECK(same.sha256 == d.sha256);
}
