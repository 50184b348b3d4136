// CIFAR-10 in its binary format (source = "cifar10"): records of one label byte and 3 x 32 x 32 pixel bytes.
#include "loaders.hpp"

#include <genscope/error.hpp>
#include <genscope/memory.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace genscope::detail {

namespace {

constexpr std::size_t channels = 3;
constexpr std::size_t side = 32;
constexpr std::size_t pixel_bytes = channels * side * side;  // 3072
constexpr std::size_t record_bytes = 1 + pixel_bytes;        // 3073
constexpr std::size_t classes = 10;
constexpr int train_batches = 5;
// Records read at a time (3 MB).
constexpr std::size_t chunk_records = 1024;

const std::string record_layout = "3073-byte records (a label byte and 3 x 32 x 32 pixel bytes)";

/// The number of records in one batch file, from its size alone.
std::size_t record_count(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found) throw io_error(path, "cannot open: no such file (a CIFAR-10 batch)");
  if (ec) throw io_error(path, "cannot open: " + ec.message());
  if (!fs::is_regular_file(st)) throw io_error(path, "not a regular file (a CIFAR-10 batch)");
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) throw io_error(path, "cannot read its size: " + ec.message());
  if (size == 0) throw io_error(path, "empty file: a CIFAR-10 batch holds " + record_layout);
  if (size % record_bytes != 0)
    throw io_error(path, "size " + std::to_string(size) + " bytes is not a whole number of " + record_layout +
                             ": truncated, or not a CIFAR-10 binary batch");
  return static_cast<std::size_t>(size / record_bytes);
}

/// One batch file open for reading, closed when it goes away.
class batch_file {
 public:
  explicit batch_file(std::string path) : path_(std::move(path)), file_(std::fopen(path_.c_str(), "rb")) {
    if (file_ == nullptr) throw io_error(path_, "cannot open: " + std::string(std::strerror(errno)));
  }
  batch_file(const batch_file&) = delete;
  batch_file& operator=(const batch_file&) = delete;
  ~batch_file() { std::fclose(file_); }

  /// Reads exactly n bytes.
  void read(std::uint8_t* out, std::size_t n) {
    if (std::fread(out, 1, n, file_) == n) return;
    if (std::ferror(file_) != 0) throw io_error(path_, "cannot read: " + std::string(std::strerror(errno)));
    throw io_error(path_, "the file ended early: it became shorter while being read");
  }

 private:
  std::string path_;
  std::FILE* file_;
};

}  // namespace

std::vector<std::string> cifar10_files(const dataset_spec& spec) {
  const std::filesystem::path dir = folder_of(spec);
  if (spec.split == "test") return {(dir / "test_batch.bin").string()};
  std::vector<std::string> files;
  for (int k = 1; k <= train_batches; ++k)
    files.push_back((dir / ("data_batch_" + std::to_string(k) + ".bin")).string());
  return files;
}

dataset_shape peek_cifar10(const dataset_spec& spec) {
  dataset_shape out;
  out.shape = {channels, side, side};
  out.class_count = classes;
  for (const std::string& path : cifar10_files(spec)) out.count += record_count(path);
  return out;
}

dataset load_cifar10(const dataset_spec& spec, std::size_t& available) {
  const std::vector<std::string> files = cifar10_files(spec);
  std::vector<std::size_t> counts;
  available = 0;
  for (const std::string& path : files) available += counts.emplace_back(record_count(path));
  // The samples' size is checked before anything of it is allocated (kept_rows refuses a subset too large).
  const std::size_t wanted = spec.subset > 0 ? std::min(spec.subset, available) : available;
  check_allocation(static_cast<std::uint64_t>(wanted) * pixel_bytes, sizeof(float),
                   folder_of(spec) + ": " + std::to_string(wanted) + " CIFAR-10 images of 3 x 32 x 32 (split \"" +
                       spec.split + "\")");
  const std::vector<std::size_t> rows = kept_rows(spec, available);

  dataset data;
  data.name = spec.name;
  data.shape = {channels, side, side};
  data.class_count = classes;
  data.x = matrix(rows.size(), pixel_bytes);
  data.labels.resize(rows.size());
  data.source_index.resize(rows.size());
  std::vector<std::uint8_t> chunk(chunk_records * record_bytes);
  std::size_t first = 0;  // the split's index of the current file's first record
  std::size_t kept = 0;   // samples filled so far; rows[kept] is the next record to keep
  for (std::size_t f = 0; f < files.size(); ++f) {
    batch_file in(files[f]);
    for (std::size_t start = 0; start < counts[f]; start += chunk_records) {
      const std::size_t n = std::min(chunk_records, counts[f] - start);
      in.read(chunk.data(), n * record_bytes);
      for (std::size_t r = 0; r < n; ++r) {
        const std::uint8_t* record = chunk.data() + r * record_bytes;
        if (record[0] >= classes)
          throw io_error(files[f], "record " + std::to_string(start + r) + " (byte offset " +
                                       std::to_string((start + r) * record_bytes) + ") has the label byte " +
                                       std::to_string(record[0]) + "; CIFAR-10 labels are 0..9");
        if (kept < rows.size() && rows[kept] == first + start + r) {
          scale_bytes(record + 1, pixel_bytes, data.x.row(kept));
          data.labels[kept] = record[0];
          data.source_index[kept] = static_cast<std::int64_t>(rows[kept]);
          ++kept;
        }
      }
    }
    first += counts[f];
  }
  data.true_labels = data.labels;
  return data;
}

}  // namespace genscope::detail
