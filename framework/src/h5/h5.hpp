// Thin RAII layer over the HDF5 C API: each handle owned once, each failure an io_error naming file and object.
// Private to GenScope (not installed) but exported from the core so the CLI and tests can use it.
#pragma once

#include <genscope/export.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace genscope::h5 {

using hid = std::int64_t;  // hid_t, without including hdf5.h here

/// Owns one HDF5 identifier; closes it with the matching H5*close on destruction.
class GENSCOPE_API handle {
 public:
  handle() = default;
  explicit handle(hid id) : id_(id) {}
  handle(handle&& o) noexcept : id_(o.id_) { o.id_ = -1; }
  handle& operator=(handle&& o) noexcept;
  handle(const handle&) = delete;
  handle& operator=(const handle&) = delete;
  ~handle();
  hid get() const noexcept { return id_; }
  explicit operator bool() const noexcept { return id_ >= 0; }

 private:
  hid id_ = -1;
};

class group;

/// What a stored dataset holds, for readers that choose how to read it (element class, size, sign, shape).
struct GENSCOPE_API dataset_info {
  enum class element { integer, floating, string, other };
  std::vector<std::size_t> dims;  ///< its shape (empty for a scalar)
  element cls = element::other;
  std::size_t size = 0;           ///< bytes per element
  bool is_signed = false;         ///< integers: signed
  std::string type_name;          ///< "float32", "uint8", "int64", "string", "compound", ...
};

/// An HDF5 file. Errors name `path`.
class GENSCOPE_API file {
 public:
  /// Creates (truncating) a file; the parent folder must exist.
  static file create(const std::string& path);
  /// Opens an existing file; throws io_error "not an HDF5 file" / "cannot open".
  static file open(const std::string& path, bool writable = false);
  /// Creates an empty file held in memory (HDF5's core driver without a backing store): nothing
  /// reaches the disk until save_atomically(). `path` names it in messages.
  static file create_in_memory(const std::string& path);
  /// Reads the existing file `path` into memory to continue it; changes stay in memory until
  /// save_atomically(). Errors as for open().
  static file open_in_memory(const std::string& path);
  /// Opens a file from its bytes (an image()), held in memory: changes stay there until save_atomically().
  /// `name` names it in messages. Throws io_error naming `name` when the bytes are not a readable HDF5 file.
  static file open_image(const std::string& bytes, const std::string& name, bool writable = false);
  /// The whole file as it is now, as the bytes a save would write (for sending it elsewhere).
  std::string image() const;
  /// Writes the whole file as it is now to `target` with durable::replace_file: a crash at any
  /// instant leaves the previous `target` or the new one, each a complete HDF5 file. For files
  /// made by create_in_memory or open_in_memory. Throws io_error naming `target` (a full disk).
  void save_atomically(const std::string& target) const;

  group root() const;
  void flush() const;
  /// Closes now (also done by the destructor); errors are thrown here, not lost.
  void close();
  const std::string& path() const noexcept { return path_; }

 private:
  static file created(const std::string& path, hid fapl, const char* what);
  static file opened(const std::string& path, bool writable, hid fapl);

  handle id_;
  std::string path_;
};

/// Element types the layer stores: float, double, int8/uint8, int32/uint32, int64/uint64.
/// Strings are stored as variable-length UTF-8 (read by h5py as str with .asstr()).
class GENSCOPE_API group {
 public:
  group(handle id, std::string file, std::string path);

  group create_group(const std::string& name) const;
  group open_group(const std::string& name) const;
  /// True if a link `name` exists in this group.
  bool has(const std::string& name) const;
  std::vector<std::string> children() const;
  /// Removes the attribute `name` when it exists.
  void remove_attr(const std::string& name) const;
  /// "the file holds 'X', 'y'" (at most 8 names, then a count), for messages about a missing object.
  std::string listing() const;

  /// Writes a whole dataset. `dims` defaults to {data.size()}; its product must
  /// equal data.size(). Datasets of more than 4096 elements are chunked and deflated.
  template <class T>
  void write(const std::string& name, const std::vector<T>& data,
             std::vector<std::size_t> dims = {}) const;
  void write_strings(const std::string& name, const std::vector<std::string>& data) const;

  /// Reads a whole dataset; throws io_error naming file and object when it is
  /// missing or not convertible to T. `dims` receives its shape when non-null.
  template <class T>
  std::vector<T> read(const std::string& name, std::vector<std::size_t>* dims = nullptr) const;
  std::vector<std::string> read_strings(const std::string& name) const;
  std::vector<std::size_t> dims(const std::string& name) const;
  /// Shape and element type of dataset `name`; throws io_error when it is missing or not a dataset.
  dataset_info info(const std::string& name) const;

  /// Attributes on this group. Supported: std::string, double, std::int64_t,
  /// std::uint64_t, std::vector<double>, std::vector<std::int64_t>, std::vector<std::string>.
  template <class T>
  void set_attr(const std::string& name, const T& value) const;
  bool has_attr(const std::string& name) const;
  std::string attr_string(const std::string& name) const;
  double attr_double(const std::string& name) const;
  std::int64_t attr_int(const std::string& name) const;
  std::vector<std::string> attr_strings(const std::string& name) const;
  std::vector<double> attr_doubles(const std::string& name) const;
  std::vector<std::int64_t> attr_ints(const std::string& name) const;
  /// Attributes on the object (dataset or group) `object` below this group.
  bool has_attr_of(const std::string& object, const std::string& name) const;
  std::int64_t attr_int_of(const std::string& object, const std::string& name) const;
  std::string attr_string_of(const std::string& object, const std::string& name) const;
  double attr_double_of(const std::string& object, const std::string& name) const;

  hid id() const noexcept { return id_.get(); }
  const std::string& file_path() const noexcept { return file_; }
  const std::string& path() const noexcept { return path_; }

 private:
  handle id_;
  std::string file_;
  std::string path_;
};

/// The number of rows the columns of table `g` hold, given as (column name, values read); throws
/// io_error naming the file, the table and the column when they differ (a damaged or hostile file
/// would otherwise be read out of bounds).
GENSCOPE_API std::size_t same_rows(const group& g, const std::vector<std::pair<std::string, std::size_t>>& columns);

/// A dataset that grows by appending rows (unlimited, chunked, deflated), for
/// results written batch by batch: 1-D when `width` is 1, else rows x width.
/// T as for group::write, or std::string.
template <class T>
class GENSCOPE_API column {
 public:
  column(const group& parent, const std::string& name, std::size_t chunk = 4096, std::size_t width = 1);
  /// Opens the existing column `name` of `parent` to append to it (its width and rows read from
  /// the file); throws io_error when it is missing or not a 1-D or 2-D growing dataset of T.
  static column open(const group& parent, const std::string& name);
  /// Appends n rows: n * width values, row-major.
  void append(const T* data, std::size_t n);
  /// Appends data.size() / width rows; throws io_error when the size is not a multiple of width.
  void append(const std::vector<T>& data);
  /// Rows written so far.
  std::size_t size() const noexcept { return size_; }
  /// Sets a string attribute on the dataset (e.g. its description).
  void set_attr(const std::string& name, const std::string& value) const;

 private:
  column() = default;
  handle id_;
  std::string file_;
  std::string path_;
  std::size_t width_ = 1;
  std::size_t size_ = 0;
};

}  // namespace genscope::h5
