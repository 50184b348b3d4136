// CIFAR-10's binary batches (source = "cifar10"): pixels, labels and order as written, subsets, label modes and
// transforms, the content hash, every bad file, the experiment keys and an end-to-end run.
#include "support.hpp"

#include "h5/h5.hpp"

#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/experiment.hpp>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace genscope;
using Catch::Matchers::Contains;
using genscope::testing::line_count;
using genscope::testing::run_cli;
using genscope::testing::temp_dir;
using genscope::testing::write_file;

namespace {

constexpr std::size_t plane = 32 * 32;
constexpr std::size_t pixels = 3 * plane;
constexpr std::size_t record_size = 1 + pixels;

// The hand-made set: five training batches of 3, 4, 5, 6 and 7 records (25), and a test batch of 6.
constexpr std::size_t batch_records[5] = {3, 4, 5, 6, 7};
constexpr std::size_t train_count = 25;
constexpr std::size_t test_count = 6;

using bytes = std::vector<std::uint8_t>;

// The pixel byte of record i (index in its split) at channel c, row r, column k; `test` shifts the pattern.
std::uint8_t pixel(std::size_t i, std::size_t c, std::size_t r, std::size_t k, bool test) {
  return static_cast<std::uint8_t>((i * 31 + c * 101 + r * 7 + k * 3 + (test ? 50 : 0)) % 256);
}

std::uint8_t label_of(std::size_t i, bool test) { return static_cast<std::uint8_t>((i * 3 + (test ? 2 : 1)) % 10); }

// Records first..first+n-1 of a split, as the CIFAR-10 binary format lays them out: the label byte, then the
// R, G and B planes, each row by row from the top.
bytes records(std::size_t first, std::size_t n, bool test) {
  bytes b;
  for (std::size_t i = first; i < first + n; ++i) {
    b.push_back(label_of(i, test));
    for (std::size_t c = 0; c < 3; ++c)
      for (std::size_t r = 0; r < 32; ++r)
        for (std::size_t k = 0; k < 32; ++k) b.push_back(pixel(i, c, r, k, test));
  }
  return b;
}

void write_bytes(const std::string& path, const bytes& b) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

/// Writes the hand-made set into `dir` (created) and returns it.
std::string write_set(const fs::path& dir) {
  fs::create_directories(dir);
  std::size_t first = 0;
  for (std::size_t k = 0; k < 5; ++k) {
    write_bytes((dir / fmt::format("data_batch_{}.bin", k + 1)).string(), records(first, batch_records[k], false));
    first += batch_records[k];
  }
  write_bytes((dir / "test_batch.bin").string(), records(0, test_count, true));
  return dir.string();
}

// One scratch folder per process, removed at exit.
const temp_dir& scratch() {
  static const temp_dir dir("cifar10");
  return dir;
}

/// The hand-made set, written once per process; tests that damage a file write their own copy.
const std::string& good_set() {
  static const std::string dir = write_set(scratch().path() / "good");
  return dir;
}

/// A fresh copy of the hand-made set, to damage.
std::string fresh_set(const std::string& name) { return write_set(scratch().path() / name); }

dataset_spec cifar_spec(const std::string& dir, const std::string& split = "train") {
  dataset_spec spec;
  spec.name = "cifar";
  spec.source = "cifar10";
  spec.dir = dir;
  spec.split = split;
  return spec;
}

/// Index of channel c, row r, column k in a flattened 3 x 32 x 32 sample.
std::size_t at(std::size_t c, std::size_t r, std::size_t k) { return c * plane + r * 32 + k; }

/// How many values of sample `row` differ from record i's bytes / 255.
std::size_t pixel_mismatches(const dataset& d, std::size_t row, std::size_t i, bool test) {
  std::size_t bad = 0;
  for (std::size_t c = 0; c < 3; ++c)
    for (std::size_t r = 0; r < 32; ++r)
      for (std::size_t k = 0; k < 32; ++k)
        bad += d.x(row, at(c, r, k)) != static_cast<float>(pixel(i, c, r, k, test)) / 255.0f;
  return bad;
}

std::string sha256sum_of(const std::string& path) {
  FILE* p = ::popen(("sha256sum '" + path + "'").c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[65] = {};
  const std::size_t n = std::fread(buf, 1, 64, p);
  ::pclose(p);
  REQUIRE(n == 64);
  return std::string(buf, 64);
}

/// The content hash of records 0..n-1 of a split as datasets/README.md defines it (shape as uint64, samples as
/// float32, labels as int32, little-endian), assembled from the written bytes and hashed by sha256sum.
std::string expected_sha256(std::size_t n, bool test) {
  static_assert(std::endian::native == std::endian::little, "the canonical bytes are written in native order");
  const std::string path = (scratch().path() / "canonical.bin").string();
  std::ofstream out(path, std::ios::binary);
  for (std::uint64_t d : {3, 32, 32}) out.write(reinterpret_cast<const char*>(&d), sizeof d);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t c = 0; c < 3; ++c)
      for (std::size_t r = 0; r < 32; ++r)
        for (std::size_t k = 0; k < 32; ++k) {
          const float v = static_cast<float>(pixel(i, c, r, k, test)) / 255.0f;
          out.write(reinterpret_cast<const char*>(&v), sizeof v);
        }
  for (std::size_t i = 0; i < n; ++i) {
    const std::int32_t l = label_of(i, test);
    out.write(reinterpret_cast<const char*>(&l), sizeof l);
  }
  out.close();
  return sha256sum_of(path);
}

/// The genscope::error message of f() (a failure when nothing, or something else, is thrown).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const error& e) {
    return e.what();
  }
  FAIL("no genscope::error was thrown");
  return {};
}

/// The io_error message of building `spec` (a failure when nothing, or something else, is thrown).
std::string io_error_of(const dataset_spec& spec) {
  try {
    build_dataset(spec);
  } catch (const io_error& e) {
    CHECK(std::string(e.what()).find('\n') == std::string::npos);
    return e.what();
  }
  FAIL("no io_error was thrown for " << spec.dir);
  return {};
}

}  // namespace

// ---- loading ------------------------------------------------------------------------------------------------

TEST_CASE("cifar10: the training split reads the five batches in order, pixels channel-major, scaled by 1/255",
          "[interface]") {
  const dataset d = build_dataset(cifar_spec(good_set()));
  REQUIRE(d.size() == train_count);
  CHECK(d.shape == std::vector<std::size_t>{3, 32, 32});
  CHECK(d.dim() == 3072);
  CHECK(d.class_count == 10);
  CHECK(d.name == "cifar");
  for (std::size_t i = 0; i < train_count; ++i) {
    INFO("record " << i);
    CHECK(d.labels[i] == label_of(i, false));
    CHECK(d.true_labels[i] == label_of(i, false));
    CHECK(d.source_index[i] == static_cast<std::int64_t>(i));
    CHECK(pixel_mismatches(d, i, i, false) == 0);
  }
  // Chosen values worked out by hand from the pattern (i*31 + c*101 + r*7 + k*3) mod 256:
  CHECK(d.x(0, at(0, 0, 0)) == 0.0f);                                    // record 0, R, top-left: byte 0
  CHECK(d.x(0, at(0, 0, 1)) == 3.0f / 255.0f);                           // next column
  CHECK(d.x(0, at(0, 1, 0)) == 7.0f / 255.0f);                           // next row
  CHECK(d.x(0, at(1, 0, 0)) == 101.0f / 255.0f);                         // G plane
  CHECK(d.x(0, at(2, 31, 31)) == 0.0f);  // B, bottom-right: 202 + 217 + 93 = 512, 0 mod 256
  CHECK(d.x(3, at(1, 2, 5)) == static_cast<float>(93 + 101 + 14 + 15) / 255.0f);        // 4th record: 2nd batch
  CHECK(d.labels[3] == 0);  // (3*3 + 1) mod 10
  CHECK(d.labels[24] == 3);  // last record of data_batch_5.bin: (24*3 + 1) mod 10
  CHECK_THAT(d.description, Contains("cifar10") && Contains(good_set()) && Contains("split=train"));
}

TEST_CASE("cifar10: the test split reads test_batch.bin", "[interface]") {
  const dataset d = build_dataset(cifar_spec(good_set(), "test"));
  REQUIRE(d.size() == test_count);
  CHECK(d.shape == std::vector<std::size_t>{3, 32, 32});
  CHECK(d.class_count == 10);
  for (std::size_t i = 0; i < test_count; ++i) {
    INFO("record " << i);
    CHECK(d.labels[i] == label_of(i, true));
    CHECK(pixel_mismatches(d, i, i, true) == 0);
  }
  CHECK(d.x(0, at(0, 0, 0)) == 50.0f / 255.0f);
}

TEST_CASE("cifar10: a record with all bytes 255 and label 9 reads as ones, class 9", "[boundary]") {
  const fs::path dir = scratch().path() / "extreme";
  fs::create_directories(dir);
  bytes b(record_size, 255);
  b[0] = 9;
  write_bytes((dir / "test_batch.bin").string(), b);
  const dataset d = build_dataset(cifar_spec(dir.string(), "test"));
  REQUIRE(d.size() == 1);
  CHECK(d.labels[0] == 9);
  CHECK(std::all_of(d.x.data.begin(), d.x.data.end(), [](float v) { return v == 1.0f; }));
}

TEST_CASE("cifar10: peek_dataset gives shape, count and classes from the file sizes alone", "[interface]") {
  const dataset_shape train = peek_dataset(cifar_spec(good_set()));
  CHECK(train.shape == std::vector<std::size_t>{3, 32, 32});
  CHECK(train.count == train_count);
  CHECK(train.class_count == 10);
  CHECK(peek_dataset(cifar_spec(good_set(), "test")).count == test_count);

  // Content is not read: a bad label byte passes peek (and is refused when the data set is built).
  const std::string dir = fresh_set("peek-bad-label");
  bytes b = records(0, 3, false);
  b[record_size] = 200;
  write_bytes(dir + "/data_batch_1.bin", b);
  CHECK(peek_dataset(cifar_spec(dir)).count == train_count);
  CHECK_THROWS_AS(build_dataset(cifar_spec(dir)), io_error);

  dataset_spec s = cifar_spec(good_set());
  s.subset = 10;
  s.transform = "avgpool2";
  const dataset_shape shape = peek_dataset(s);
  CHECK(shape.count == 10);
  CHECK(shape.shape == std::vector<std::size_t>{3, 16, 16});
}

TEST_CASE("cifar10: dataset_files lists the split's batches, in reading order", "[interface]") {
  const std::string dir = good_set();
  CHECK(dataset_files(cifar_spec(dir)) ==
        std::vector<std::string>{dir + "/data_batch_1.bin", dir + "/data_batch_2.bin", dir + "/data_batch_3.bin",
                                 dir + "/data_batch_4.bin", dir + "/data_batch_5.bin"});
  CHECK(dataset_files(cifar_spec(dir, "test")) == std::vector<std::string>{dir + "/test_batch.bin"});
  // The default folder is the one the official tarball unpacks to, relative to the working directory.
  CHECK(dataset_files(cifar_spec("", "test")) == std::vector<std::string>{"cifar-10-batches-bin/test_batch.bin"});
}

TEST_CASE("cifar10: fewer than 10,000 records per batch and batches of different sizes are accepted", "[boundary]") {
  // The hand-made batches hold 3 to 7 records; a record of each batch lands at its place in the split.
  const dataset d = build_dataset(cifar_spec(good_set()));
  std::size_t first = 0;
  for (std::size_t k = 0; k < 5; ++k) {
    INFO("data_batch_" << k + 1 << ".bin");
    CHECK(pixel_mismatches(d, first, first, false) == 0);
    CHECK(pixel_mismatches(d, first + batch_records[k] - 1, first + batch_records[k] - 1, false) == 0);
    first += batch_records[k];
  }
}

// ---- subsets, label modes, transforms, hash -------------------------------------------------------------

TEST_CASE("cifar10: a subset keeps whole records with their labels, as for the other sources", "[interface]") {
  dataset_spec s = cifar_spec(good_set());
  s.subset = 10;
  s.seed = 7;
  const dataset d = build_dataset(s);
  REQUIRE(d.size() == 10);
  CHECK(std::is_sorted(d.source_index.begin(), d.source_index.end()));
  CHECK(std::adjacent_find(d.source_index.begin(), d.source_index.end()) == d.source_index.end());
  for (std::size_t k = 0; k < d.size(); ++k) {
    const auto i = static_cast<std::size_t>(d.source_index[k]);
    REQUIRE(i < train_count);
    CHECK(d.labels[k] == label_of(i, false));
    CHECK(pixel_mismatches(d, k, i, false) == 0);
  }
  // The choice depends only on (N, k, seed), as for every source: the same as a subset of the whole split.
  const dataset all = build_dataset(cifar_spec(good_set()));
  CHECK(take_subset(all, 10, 7).source_index == d.source_index);
  s.subset = 26;
  CHECK_THROWS_WITH(build_dataset(s), Contains("subset = 26") && Contains("25 samples"));
  CHECK_THROWS_WITH(peek_dataset(s), Contains("subset = 26"));
}

TEST_CASE("cifar10: random and corrupt label modes apply to CIFAR-10 labels", "[interface]") {
  dataset_spec s = cifar_spec(good_set());
  s.seed = 4;
  s.labels_mode = label_mode::random;
  const dataset random = build_dataset(s);
  std::vector<std::int32_t> written;
  for (std::size_t i = 0; i < train_count; ++i) written.push_back(label_of(i, false));
  CHECK(random.true_labels == written);
  CHECK(random.labels != written);
  CHECK(std::is_permutation(random.labels.begin(), random.labels.end(), written.begin()));

  s.labels_mode = label_mode::corrupt;
  s.corruption = 1.0;
  const dataset corrupt = build_dataset(s);
  CHECK(corrupt.true_labels == written);
  for (std::size_t i = 0; i < train_count; ++i) {
    CHECK(corrupt.labels[i] != written[i]);
    CHECK(corrupt.labels[i] >= 0);
    CHECK(corrupt.labels[i] < 10);
  }
}

TEST_CASE("cifar10: avgpool2 averages 2 x 2 blocks of each colour plane", "[interface]") {
  dataset_spec s = cifar_spec(good_set(), "test");
  s.transform = "avgpool2";
  const dataset d = build_dataset(s);
  REQUIRE(d.shape == std::vector<std::size_t>{3, 16, 16});
  for (std::size_t i : {std::size_t{0}, test_count - 1})
    for (std::size_t c = 0; c < 3; ++c)
      for (std::size_t r : {0, 7, 15})
        for (std::size_t k : {0, 9, 15}) {
          double sum = 0;
          for (std::size_t dr = 0; dr < 2; ++dr)
            for (std::size_t dk = 0; dk < 2; ++dk) sum += pixel(i, c, 2 * r + dr, 2 * k + dk, true) / 255.0;
          CHECK(d.x(i, c * 256 + r * 16 + k) == Approx(sum / 4).margin(1e-6));
        }
}

TEST_CASE("cifar10: the content hash is that of the written values, whatever the folder", "[interface]") {
  const std::string train_hash = expected_sha256(train_count, false);
  CHECK(build_dataset(cifar_spec(good_set())).sha256 == train_hash);
  CHECK(build_dataset(cifar_spec(good_set(), "test")).sha256 == expected_sha256(test_count, true));
  // Same bytes in another folder: the same data, the same hash.
  CHECK(build_dataset(cifar_spec(fresh_set("hash-copy"))).sha256 == train_hash);
}

// ---- bad input ----------------------------------------------------------------------------------------------

TEST_CASE("cifar10: a missing batch is refused naming it", "[negative]") {
  const std::string dir = fresh_set("missing");
  fs::remove(dir + "/data_batch_3.bin");
  const std::string message = io_error_of(cifar_spec(dir));
  CHECK_THAT(message, Contains(dir + "/data_batch_3.bin") && Contains("no such file"));
  CHECK_THROWS_WITH(peek_dataset(cifar_spec(dir)), Contains(dir + "/data_batch_3.bin"));
  CHECK_THROWS_WITH(peek_dataset(cifar_spec(scratch() / "nowhere", "test")),
                    Contains(scratch() / "nowhere/test_batch.bin") && Contains("no such file"));
}

TEST_CASE("cifar10: a folder in place of a batch file is refused naming it", "[negative]") {
  const std::string dir = fresh_set("folder");
  fs::remove(dir + "/test_batch.bin");
  fs::create_directory(dir + "/test_batch.bin");
  CHECK_THROWS_WITH(peek_dataset(cifar_spec(dir, "test")),
                    Contains(dir + "/test_batch.bin") && Contains("not a regular file"));
}

TEST_CASE("cifar10: a truncated batch (not a whole number of 3073-byte records) is refused naming it",
          "[negative]") {
  const std::string dir = fresh_set("truncated");
  bytes b = records(0, 3, true);
  b.resize(2 * record_size + 1000);
  write_bytes(dir + "/test_batch.bin", b);
  const std::string message = io_error_of(cifar_spec(dir, "test"));
  CHECK_THAT(message, Contains(dir + "/test_batch.bin") && Contains(std::to_string(2 * record_size + 1000)) &&
                          Contains("not a whole number of 3073-byte records"));
  CHECK_THROWS_WITH(peek_dataset(cifar_spec(dir, "test")), Contains(dir + "/test_batch.bin"));
  // One byte too many is as wrong as one too few.
  b = records(0, 2, true);
  b.push_back(0);
  write_bytes(dir + "/test_batch.bin", b);
  CHECK_THAT(io_error_of(cifar_spec(dir, "test")), Contains("not a whole number"));
}

TEST_CASE("cifar10: an empty batch is refused naming it", "[negative]") {
  const std::string dir = fresh_set("empty");
  write_bytes(dir + "/data_batch_5.bin", {});
  CHECK_THAT(io_error_of(cifar_spec(dir)), Contains(dir + "/data_batch_5.bin") && Contains("empty file"));
  CHECK_THROWS_WITH(peek_dataset(cifar_spec(dir)), Contains(dir + "/data_batch_5.bin") && Contains("empty"));
}

TEST_CASE("cifar10: a label byte above 9 is refused naming the file and the record", "[negative]") {
  const std::string dir = fresh_set("label");
  bytes b = records(3, 4, false);
  b[2 * record_size] = 10;  // the third record of data_batch_2.bin
  write_bytes(dir + "/data_batch_2.bin", b);
  CHECK_THAT(io_error_of(cifar_spec(dir)), Contains(dir + "/data_batch_2.bin") && Contains("record 2") &&
                                               Contains("label byte 10") && Contains("0..9"));
  // Also when the record is not among a subset's: the file is wrong either way.
  dataset_spec s = cifar_spec(dir);
  s.subset = 1;
  CHECK_THAT(io_error_of(s), Contains(dir + "/data_batch_2.bin"));
}

TEST_CASE("cifar10: an unknown split is refused naming the key and the accepted values", "[negative]") {
  for (const char* split : {"t10k", "valid", ""}) {
    INFO("split '" << split << "'");
    const dataset_spec s = cifar_spec(good_set(), split);
    const auto refused = [&](const std::string& message) {
      CHECK_THAT(message, Contains("'split'") && Contains("\"" + std::string(split) + "\"") &&
                              Contains("\"train\" or \"test\""));
    };
    refused(error_of([&] { peek_dataset(s); }));
    refused(error_of([&] { build_dataset(s); }));
    refused(error_of([&] { dataset_files(s); }));
  }
  // And "test" is not an IDX split.
  dataset_spec idx;
  idx.split = "test";
  CHECK_THROWS_WITH(peek_dataset(idx), Contains("split") && Contains("\"train\" or \"t10k\""));
}

TEST_CASE("cifar10: a split too large for memory is refused naming the folder before allocating", "[negative]") {
  // A sparse test batch of 2^28 records (825 GB on paper, no disk used): 3.3 TB as float32.
  const fs::path dir = scratch().path() / "huge";
  fs::create_directories(dir);
  write_bytes((dir / "test_batch.bin").string(), {});
  fs::resize_file(dir / "test_batch.bin", record_size << 28);
  const dataset_spec s = cifar_spec(dir.string(), "test");
  CHECK(peek_dataset(s).count == std::size_t{1} << 28);
  CHECK_THROWS_WITH(build_dataset(s), Contains(dir.string()) && Contains("268435456 CIFAR-10 images") &&
                                          Contains("more than the"));
}

// ---- the experiment file ------------------------------------------------------------------------------------

namespace {

std::string experiment_with(const temp_dir& dir, const std::string& dataset_table) {
  return fmt::format(R"(seed = 2
output = "{}"
model_cache = "{}"

[datasets.cifar]
{}
[models.net]
backend = "native"
dataset = "cifar"

[models.net.train]
hidden = [8]
epochs = 2
batch_size = 5

[samplers.pairs]
plugin = "pairwise"
dataset = "cifar"
count = 6

[estimators.bisect]
plugin = "bisection"

[runs.main]
model = "net"
sampler = "pairs"
estimator = "bisect"
)",
                     dir / "results.h5", dir / "models", dataset_table);
}

experiment parse(const std::string& text) {
  return parse_experiment(text, "exp.toml", genscope::testing::build_plugins());
}

}  // namespace

TEST_CASE("cifar10: an experiment's datasets table reads source, dir and split", "[interface]") {
  temp_dir dir("cifar10-exp");
  const experiment e =
      parse(experiment_with(dir, "source = \"cifar10\"\ndir = \"" + good_set() + "\"\nsplit = \"test\"\nsubset = 4\n"));
  REQUIRE(e.datasets.size() == 1);
  CHECK(e.datasets[0].source == "cifar10");
  CHECK(e.datasets[0].dir == good_set());
  CHECK(e.datasets[0].split == "test");
  CHECK(e.datasets[0].subset == 4);
}

TEST_CASE("cifar10: an experiment refuses IDX-only keys, an IDX split and bad files, naming them", "[negative]") {
  temp_dir dir("cifar10-exp-bad");
  const std::string base = "source = \"cifar10\"\ndir = \"" + good_set() + "\"\n";
  CHECK_THROWS_WITH(parse(experiment_with(dir, base + "images = \"x\"\n")),
                    Contains("'datasets.cifar.images' applies to source = \"idx\" only"));
  CHECK_THROWS_WITH(parse(experiment_with(dir, base + "split = \"t10k\"\n")),
                    Contains("exp.toml:8:1:") && Contains("\"t10k\"") && Contains("\"train\" or \"test\""));
  CHECK_THROWS_WITH(parse(experiment_with(dir, base + "split = \"tset\"\n")),
                    Contains("'datasets.cifar.split' must be one of"));
  CHECK_THROWS_WITH(parse(experiment_with(dir, "source = \"cifar10\"\ndir = \"" + (scratch() / "nowhere") + "\"\n")),
                    Contains(scratch() / "nowhere/data_batch_1.bin") && Contains("no such file"));
  // The default folder is looked for in the working directory.
  CHECK_THROWS_WITH(parse(experiment_with(dir, "source = \"cifar10\"\n")),
                    Contains("cifar-10-batches-bin/data_batch_1.bin"));
}

TEST_CASE("cifar10 end to end: genscope run trains on the batches and records their hash", "[interface]") {
  temp_dir dir("cifar10-e2e");
  const std::string exp = dir / "exp.toml";
  write_file(exp, experiment_with(dir, "source = \"cifar10\"\ndir = \"" + good_set() + "\"\n"));
  const auto r = run_cli("run --quiet " + exp);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  const h5::file f = h5::file::open(dir / "results.h5");
  const h5::group data = f.root().open_group("provenance").open_group("datasets").open_group("cifar");
  CHECK(data.attr_string("sha256") == expected_sha256(train_count, false));
  CHECK(data.attr_int("samples") == static_cast<std::int64_t>(train_count));
  CHECK(data.attr_int("dim") == 3072);
  CHECK(data.attr_int("class_count") == 10);
  CHECK_THAT(data.attr_string("description"), Contains("cifar10") && Contains(good_set()));
  CHECK(f.root().open_group("runs").open_group("main").attr_int("complete") == 1);
}

TEST_CASE("cifar10 end to end: a truncated batch stops genscope run with one line naming it", "[negative]") {
  temp_dir dir("cifar10-e2e-bad");
  const std::string set = fresh_set("e2e-truncated");
  bytes b = records(0, 3, false);
  b.pop_back();
  write_bytes(set + "/data_batch_1.bin", b);
  write_file(dir / "exp.toml", experiment_with(dir, "source = \"cifar10\"\ndir = \"" + set + "\"\n"));
  const auto r = run_cli("run " + (dir / "exp.toml"));
  INFO("stderr: " << r.err << "stdout: " << r.out);
  CHECK(r.exit_code == 1);
  CHECK(line_count(r.err) == 1);
  CHECK_THAT(r.err, Contains(set + "/data_batch_1.bin") && Contains("not a whole number of 3073-byte records"));
  CHECK_FALSE(fs::exists(dir / "results.h5.partial"));
}
