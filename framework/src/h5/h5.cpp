// Thin RAII layer over the HDF5 1.10 C API: handles, files, groups, datasets, attributes, growing columns.
#include "h5/h5.hpp"

#include "durable/durable.hpp"

#include <genscope/error.hpp>
#include <genscope/memory.hpp>

#include <hdf5.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <type_traits>

namespace genscope::h5 {

static_assert(std::is_same_v<hid, hid_t>, "genscope::h5::hid must be hid_t");

namespace {

// HDF5 prints its error stack to stderr by default; every failure here becomes an io_error instead.
void init_library() {
  static const bool done = [] {
    H5open();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

// Chunks of about 256 KiB: large enough for deflate to work well, small enough to read partially.
constexpr std::size_t chunk_threshold = 4096;
constexpr std::size_t chunk_bytes = 256 * 1024;
constexpr unsigned deflate_level = 4;

herr_t take_innermost(unsigned n, const H5E_error2_t* err, void* out) {
  // The walk goes upward from the innermost error: the first entry is the root cause.
  if (n == 0 && err != nullptr && err->desc != nullptr) *static_cast<std::string*>(out) = err->desc;
  return 0;
}

// The innermost HDF5 error description, clearing the stack; empty when there is none.
std::string hdf5_reason() {
  std::string reason;
  const hid_t stack = H5Eget_current_stack();
  if (stack >= 0) {
    H5Ewalk2(stack, H5E_WALK_UPWARD, take_innermost, &reason);
    H5Eclose_stack(stack);
  }
  std::replace(reason.begin(), reason.end(), '\n', ' ');
  return reason;
}

[[noreturn]] void fail(const std::string& file, const std::string& what, const std::string& object,
                       const std::string& why = {}) {
  std::string message = "cannot " + what + " '" + object + "'";
  const std::string reason = why.empty() ? hdf5_reason() : why;
  if (!reason.empty()) message += " (" + reason + ")";
  throw io_error(file, message);
}

std::string join(const std::string& parent, const std::string& name) {
  if (parent.empty() || parent == "/") return "/" + name;
  return parent + "/" + name;
}

std::string attr_path(const std::string& object, const std::string& name) { return object + "@" + name; }

// Wraps a freshly returned id, throwing when the call failed.
handle check(hid_t id, const std::string& file, const std::string& what, const std::string& object) {
  if (id < 0) fail(file, what, object);
  return handle(id);
}

void check(herr_t status, const std::string& file, const std::string& what, const std::string& object) {
  if (status < 0) fail(file, what, object);
}

template <class T>
constexpr bool is_numeric_v = std::is_arithmetic_v<T> && !std::is_same_v<T, bool>;

template <class T>
hid_t memory_type() {
  if constexpr (std::is_same_v<T, float>) return H5T_NATIVE_FLOAT;
  else if constexpr (std::is_same_v<T, double>) return H5T_NATIVE_DOUBLE;
  else if constexpr (std::is_same_v<T, std::int8_t>) return H5T_NATIVE_INT8;
  else if constexpr (std::is_same_v<T, std::uint8_t>) return H5T_NATIVE_UINT8;
  else if constexpr (std::is_same_v<T, std::int32_t>) return H5T_NATIVE_INT32;
  else if constexpr (std::is_same_v<T, std::uint32_t>) return H5T_NATIVE_UINT32;
  else if constexpr (std::is_same_v<T, std::int64_t>) return H5T_NATIVE_INT64;
  else if constexpr (std::is_same_v<T, std::uint64_t>) return H5T_NATIVE_UINT64;
  else static_assert(sizeof(T) == 0, "unsupported element type");
}

// Files always hold little-endian standard types, whatever the machine, so their bytes do not depend on it.
template <class T>
hid_t file_type() {
  if constexpr (std::is_same_v<T, float>) return H5T_IEEE_F32LE;
  else if constexpr (std::is_same_v<T, double>) return H5T_IEEE_F64LE;
  else if constexpr (std::is_same_v<T, std::int8_t>) return H5T_STD_I8LE;
  else if constexpr (std::is_same_v<T, std::uint8_t>) return H5T_STD_U8LE;
  else if constexpr (std::is_same_v<T, std::int32_t>) return H5T_STD_I32LE;
  else if constexpr (std::is_same_v<T, std::uint32_t>) return H5T_STD_U32LE;
  else if constexpr (std::is_same_v<T, std::int64_t>) return H5T_STD_I64LE;
  else if constexpr (std::is_same_v<T, std::uint64_t>) return H5T_STD_U64LE;
  else static_assert(sizeof(T) == 0, "unsupported element type");
}

template <class T>
const char* type_name() {
  if constexpr (std::is_same_v<T, float>) return "float32";
  else if constexpr (std::is_same_v<T, double>) return "float64";
  else if constexpr (std::is_same_v<T, std::int8_t>) return "int8";
  else if constexpr (std::is_same_v<T, std::uint8_t>) return "uint8";
  else if constexpr (std::is_same_v<T, std::int32_t>) return "int32";
  else if constexpr (std::is_same_v<T, std::uint32_t>) return "uint32";
  else if constexpr (std::is_same_v<T, std::int64_t>) return "int64";
  else if constexpr (std::is_same_v<T, std::uint64_t>) return "uint64";
  else return "string";
}

handle vlen_string_type(const std::string& file, const std::string& object) {
  handle t = check(H5Tcopy(H5T_C_S1), file, "create string type for", object);
  check(H5Tset_size(t.get(), H5T_VARIABLE), file, "create string type for", object);
  check(H5Tset_cset(t.get(), H5T_CSET_UTF8), file, "create string type for", object);
  return t;
}

// Object creation properties shared by groups and datasets: no timestamps, so equal content gives equal bytes.
handle creation_plist(hid_t cls, const std::string& file, const std::string& object) {
  handle p = check(H5Pcreate(cls), file, "create properties for", object);
  check(H5Pset_obj_track_times(p.get(), false), file, "create properties for", object);
  return p;
}

void add_filters(hid_t dcpl, bool shuffle, const std::string& file, const std::string& object) {
  if (shuffle) check(H5Pset_shuffle(dcpl), file, "set the shuffle filter on", object);
  check(H5Pset_deflate(dcpl, deflate_level), file, "set the deflate filter on", object);
}

// Halves the largest dimension until a chunk holds about chunk_bytes.
std::vector<hsize_t> chunk_dims(const std::vector<hsize_t>& dims, std::size_t element_size) {
  std::vector<hsize_t> chunk = dims;
  const std::size_t target = std::max<std::size_t>(1, chunk_bytes / std::max<std::size_t>(1, element_size));
  auto product = [&] {
    std::size_t p = 1;
    for (hsize_t d : chunk) p *= static_cast<std::size_t>(d);
    return p;
  };
  while (product() > target) {
    auto it = std::max_element(chunk.begin(), chunk.end());
    if (*it <= 1) break;
    *it = (*it + 1) / 2;
  }
  return chunk;
}

std::vector<std::size_t> extent(hid_t space, const std::string& file, const std::string& object) {
  const int rank = H5Sget_simple_extent_ndims(space);
  if (rank < 0) fail(file, "get the shape of", object);
  std::vector<hsize_t> d(static_cast<std::size_t>(rank));
  if (rank > 0 && H5Sget_simple_extent_dims(space, d.data(), nullptr) < 0) fail(file, "get the shape of", object);
  return {d.begin(), d.end()};
}

/// The number of values of a dataset or attribute, checked against the memory budget for values of
/// `element_size` bytes before anything is allocated (`what`: "read dataset" or "read attribute").
std::size_t point_count(hid_t space, const std::string& file, const std::string& what, const std::string& object,
                        std::size_t element_size) {
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  if (n < 0) fail(file, "get the size of", object);
  check_allocation(static_cast<std::uint64_t>(n), element_size,
                   file + ": " + what.substr(what.find(' ') + 1) + " '" + object + "'");
  return static_cast<std::size_t>(n);
}

// Abort any conversion that would change a value (overflow, fraction, infinities, NaN into integers).
H5T_conv_ret_t refuse_lossy(H5T_conv_except_t, hid_t, hid_t, void*, void*, void*) { return H5T_CONV_ABORT; }

// Numbers read as numbers of any type; refuse_lossy rejects values that would change on the way.
bool numeric_class_ok(hid_t stored) {
  const H5T_class_t cls = H5Tget_class(stored);
  return cls == H5T_FLOAT || cls == H5T_INTEGER;
}

// Reads all values of a dataset or attribute as T. `read` performs the actual H5Dread / H5Aread.
template <class T, class Read>
std::vector<T> read_numeric(hid_t stored_type, hid_t space, const std::string& file, const std::string& what,
                            const std::string& object, Read read) {
  if (!numeric_class_ok(stored_type))
    fail(file, what, object, std::string("stored type is not convertible to ") + type_name<T>());
  std::vector<T> out(point_count(space, file, what, object, sizeof(T)));
  if (out.empty()) return out;
  if constexpr (std::is_floating_point_v<T>) {
    // HDF5 flags every negative integer as a precision loss on the way to floating point: integers are read
    // as int64 and converted here, refusing only those the floating type cannot hold exactly.
    if (H5Tget_class(stored_type) == H5T_INTEGER) {
      const std::vector<std::int64_t> ints = read_numeric<std::int64_t>(stored_type, space, file, what, object, read);
      constexpr auto exact = std::int64_t{1} << std::numeric_limits<T>::digits;
      for (std::size_t i = 0; i < ints.size(); ++i) {
        if (ints[i] > exact || ints[i] < -exact)
          fail(file, what, object, std::string("values not representable as ") + type_name<T>());
        out[i] = static_cast<T>(ints[i]);
      }
      return out;
    }
  }
  if (read(memory_type<T>(), out.data()) < 0) {
    hdf5_reason();  // HDF5 only says the conversion was aborted
    fail(file, what, object, std::string("values not representable as ") + type_name<T>());
  }
  return out;
}

// Reads all strings of a dataset or attribute, variable- or fixed-length.
template <class Read>
std::vector<std::string> read_string_values(hid_t stored_type, hid_t space, const std::string& file,
                                            const std::string& what, const std::string& object, Read read) {
  if (H5Tget_class(stored_type) != H5T_STRING) fail(file, what, object, "stored type is not a string");
  const std::size_t n = point_count(space, file, what, object, sizeof(std::string) + H5Tget_size(stored_type));
  std::vector<std::string> out;
  if (n == 0) return out;
  const htri_t variable = H5Tis_variable_str(stored_type);
  if (variable < 0) fail(file, what, object);
  if (variable > 0) {
    handle mem = vlen_string_type(file, object);
    std::vector<char*> ptrs(n, nullptr);
    if (read(mem.get(), ptrs.data()) < 0) fail(file, what, object);
    // Reclaim HDF5's buffers whatever happens while copying them.
    struct reclaim {
      hid_t type, space;
      std::vector<char*>& p;
      ~reclaim() { H5Dvlen_reclaim(type, space, H5P_DEFAULT, p.data()); }
    } guard{mem.get(), space, ptrs};
    out.reserve(n);
    for (char* p : ptrs) out.emplace_back(p != nullptr ? p : "");
    return out;
  }
  const std::size_t size = H5Tget_size(stored_type);
  if (size == 0) fail(file, what, object);
  handle mem = check(H5Tcopy(H5T_C_S1), file, what, object);
  check(H5Tset_size(mem.get(), size), file, what, object);
  check(H5Tset_strpad(mem.get(), H5T_STR_NULLPAD), file, what, object);
  std::vector<char> buf(n * size, '\0');
  if (read(mem.get(), buf.data()) < 0) fail(file, what, object);
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const char* s = buf.data() + i * size;
    out.emplace_back(s, strnlen(s, size));
  }
  // Space-padded (Fortran-style) strings keep no trailing blanks.
  if (H5Tget_strpad(stored_type) == H5T_STR_SPACEPAD)
    for (auto& s : out) s.erase(s.find_last_not_of(' ') + 1);
  return out;
}

std::vector<const char*> c_strings(const std::string* data, std::size_t n) {
  std::vector<const char*> ptrs(n);
  for (std::size_t i = 0; i < n; ++i) ptrs[i] = data[i].c_str();
  return ptrs;
}

handle open_dataset(hid_t group, const std::string& name, const std::string& file, const std::string& object,
                    const std::string& what) {
  const hid_t id = H5Dopen2(group, name.c_str(), H5P_DEFAULT);
  if (id < 0) {
    hdf5_reason();
    fail(file, what, object, "no such dataset");
  }
  return handle(id);
}

handle open_attribute(hid_t object_id, const std::string& name, const std::string& file, const std::string& object) {
  const htri_t exists = H5Aexists(object_id, name.c_str());
  if (exists <= 0) fail(file, "read attribute", attr_path(object, name), exists == 0 ? "no such attribute" : "");
  return check(H5Aopen(object_id, name.c_str(), H5P_DEFAULT), file, "read attribute", attr_path(object, name));
}

// Creates (replacing any previous one) an attribute of the given type and shape and writes it.
void write_attribute(hid_t object_id, const std::string& name, hid_t stored_type, hid_t mem_type, bool scalar,
                     std::size_t n, const void* data, const std::string& file, const std::string& object) {
  const std::string path = attr_path(object, name);
  const htri_t exists = H5Aexists(object_id, name.c_str());
  if (exists < 0) fail(file, "write attribute", path);
  if (exists > 0) check(H5Adelete(object_id, name.c_str()), file, "replace attribute", path);
  handle space;
  if (scalar) {
    space = check(H5Screate(H5S_SCALAR), file, "write attribute", path);
  } else {
    const hsize_t d = n;
    space = check(H5Screate_simple(1, &d, nullptr), file, "write attribute", path);
  }
  handle attr = check(H5Acreate2(object_id, name.c_str(), stored_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), file,
                      "write attribute", path);
  if (n > 0) check(H5Awrite(attr.get(), mem_type, data), file, "write attribute", path);
}

herr_t collect_name(hid_t, const char* name, const H5L_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->emplace_back(name);
  return 0;
}

}  // namespace

// ---- handle ----

handle& handle::operator=(handle&& o) noexcept {
  if (this != &o) {
    handle old(id_);
    id_ = o.id_;
    o.id_ = -1;
  }
  return *this;
}

handle::~handle() {
  // An id already closed elsewhere (file::close) is no longer valid and must not be closed twice.
  if (id_ < 0 || H5Iis_valid(id_) <= 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE: H5Fclose(id_); break;
    case H5I_GROUP: H5Gclose(id_); break;
    case H5I_DATASET: H5Dclose(id_); break;
    case H5I_DATASPACE: H5Sclose(id_); break;
    case H5I_DATATYPE: H5Tclose(id_); break;
    case H5I_ATTR: H5Aclose(id_); break;
    case H5I_GENPROP_LST: H5Pclose(id_); break;
    default: H5Idec_ref(id_); break;
  }
}

// ---- file ----

namespace {
// Core-driver access: the whole file in memory, grown 1 MiB at a time, never written back by HDF5.
handle in_memory_access(const std::string& path) {
  handle fapl = check(H5Pcreate(H5P_FILE_ACCESS), path, "create properties for", "/");
  check(H5Pset_fapl_core(fapl.get(), std::size_t{1} << 20, false), path, "create properties for", "/");
  return fapl;
}

// An io_error "PATH: WHAT: HDF5's reason" (the reason left out when HDF5 gives none).
[[noreturn]] void fail_file(const std::string& path, const std::string& what) {
  const std::string reason = hdf5_reason();
  throw io_error(path, what + (reason.empty() ? "" : ": " + reason));
}
}  // namespace

file file::created(const std::string& path, hid fapl, const char* what) {
  init_library();
  handle fcpl = creation_plist(H5P_FILE_CREATE, path, "/");
  const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl);
  if (id < 0) fail_file(path, what);
  file f;
  f.path_ = path;
  f.id_ = handle(id);
  return f;
}

file file::opened(const std::string& path, bool writable, hid fapl) {
  init_library();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw io_error(path, "cannot open: no such file");
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 == 0) throw io_error(path, "not an HDF5 file");
  if (is_hdf5 < 0) fail_file(path, "cannot open");
  const hid_t id = H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl);
  if (id < 0) fail_file(path, "cannot open HDF5 file (truncated or damaged?)");
  file f;
  f.path_ = path;
  f.id_ = handle(id);
  return f;
}

file file::create(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec))
    throw io_error(path, "cannot create HDF5 file: '" + parent.string() + "' is not an existing folder");
  return created(path, H5P_DEFAULT, "cannot create HDF5 file (folder not writable?)");
}

file file::open(const std::string& path, bool writable) { return opened(path, writable, H5P_DEFAULT); }

file file::create_in_memory(const std::string& path) {
  init_library();
  const handle fapl = in_memory_access(path);
  return created(path, fapl.get(), "cannot create HDF5 file in memory");
}

file file::open_in_memory(const std::string& path) {
  init_library();
  const handle fapl = in_memory_access(path);
  return opened(path, true, fapl.get());
}

file file::open_image(const std::string& bytes, const std::string& name, bool writable) {
  init_library();
  const handle fapl = in_memory_access(name);
  // HDF5 copies the buffer: `bytes` need not outlive the file.
  check(H5Pset_file_image(fapl.get(), const_cast<char*>(bytes.data()), bytes.size()), name, "read the image of", "/");
  const hid_t id = H5Fopen(name.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl.get());
  if (id < 0) fail_file(name, "not a readable HDF5 file (truncated or damaged?)");
  file f;
  f.path_ = name;
  f.id_ = handle(id);
  return f;
}

std::string file::image() const {
  if (!id_) throw io_error(path_, "cannot take an image of '/' (file is closed)");
  check(H5Fflush(id_.get(), H5F_SCOPE_LOCAL), path_, "flush", "/");
  const ssize_t size = H5Fget_file_image(id_.get(), nullptr, 0);
  if (size < 0) fail(path_, "take an image of", "/");
  std::string bytes(static_cast<std::size_t>(size), '\0');
  if (H5Fget_file_image(id_.get(), bytes.data(), bytes.size()) != size) fail(path_, "take an image of", "/");
  return bytes;
}

void file::save_atomically(const std::string& target) const {
  if (!id_) throw io_error(target, "cannot save '" + path_ + "' (file is closed)");
  const std::string bytes = image();
  durable::replace_file(target, bytes.data(), bytes.size());
}

group file::root() const {
  if (!id_) throw io_error(path_, "cannot open group '/' (file is closed)");
  return group(check(H5Gopen2(id_.get(), "/", H5P_DEFAULT), path_, "open group", "/"), path_, "/");
}

void file::flush() const {
  if (!id_) throw io_error(path_, "cannot flush '/' (file is closed)");
  check(H5Fflush(id_.get(), H5F_SCOPE_LOCAL), path_, "flush", "/");
}

void file::close() {
  if (!id_) return;
  const herr_t status = H5Fclose(id_.get());
  id_ = handle();  // the old id is no longer valid, so the handle does not close it again
  if (status < 0) {
    const std::string reason = hdf5_reason();
    throw io_error(path_, "cannot close HDF5 file" + (reason.empty() ? "" : ": " + reason));
  }
}

// ---- group ----

group::group(handle id, std::string file, std::string path)
    : id_(std::move(id)), file_(std::move(file)), path_(std::move(path)) {}

group group::create_group(const std::string& name) const {
  const std::string object = join(path_, name);
  handle gcpl = creation_plist(H5P_GROUP_CREATE, file_, object);
  if (has(name)) fail(file_, "create group", object, "already exists");
  return group(check(H5Gcreate2(id_.get(), name.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), file_,
                     "create group", object),
               file_, object);
}

group group::open_group(const std::string& name) const {
  const std::string object = join(path_, name);
  if (!has(name)) fail(file_, "open group", object, "no such group");
  return group(check(H5Gopen2(id_.get(), name.c_str(), H5P_DEFAULT), file_, "open group", object), file_, object);
}

bool group::has(const std::string& name) const {
  // H5Lexists fails rather than answering false when an intermediate link is missing: check each step.
  if (name.empty()) return false;
  std::size_t pos = 0;
  while (true) {
    const std::size_t slash = name.find('/', pos);
    const std::string prefix = name.substr(0, slash);
    if (!prefix.empty() && prefix != "/") {
      if (H5Lexists(id_.get(), prefix.c_str(), H5P_DEFAULT) <= 0) {
        hdf5_reason();
        return false;
      }
    }
    if (slash == std::string::npos) return true;
    pos = slash + 1;
  }
}

std::vector<std::string> group::children() const {
  std::vector<std::string> names;
  hsize_t idx = 0;
  if (H5Literate(id_.get(), H5_INDEX_NAME, H5_ITER_INC, &idx, collect_name, &names) < 0)
    fail(file_, "list", path_);
  return names;
}

void group::remove_attr(const std::string& name) const {
  if (has_attr(name)) check(H5Adelete(id_.get(), name.c_str()), file_, "remove attribute", attr_path(path_, name));
}

std::string group::listing() const {
  const std::vector<std::string> names = children();
  if (names.empty()) return "the file holds no objects";
  std::string s = "the file holds ";
  const std::size_t shown = std::min<std::size_t>(names.size(), 8);
  for (std::size_t k = 0; k < shown; ++k) s += (k == 0 ? "'" : ", '") + names[k] + "'";
  if (shown < names.size()) s += ", ... (" + std::to_string(names.size()) + " in all)";
  return s;
}

template <class T>
void group::write(const std::string& name, const std::vector<T>& data, std::vector<std::size_t> dims) const {
  const std::string object = join(path_, name);
  if (dims.empty()) dims.push_back(data.size());
  std::size_t total = 1;
  for (std::size_t d : dims) total *= d;
  if (total != data.size())
    fail(file_, "write dataset", object,
         "shape holds " + std::to_string(total) + " values but " + std::to_string(data.size()) + " were given");
  if (has(name)) fail(file_, "create dataset", object, "already exists");
  const std::vector<hsize_t> hdims(dims.begin(), dims.end());
  handle space = check(H5Screate_simple(static_cast<int>(hdims.size()), hdims.data(), nullptr), file_,
                       "create dataset", object);
  handle dcpl = creation_plist(H5P_DATASET_CREATE, file_, object);
  if (data.size() > chunk_threshold) {
    const auto chunk = chunk_dims(hdims, sizeof(T));
    check(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()), file_, "create dataset", object);
    add_filters(dcpl.get(), sizeof(T) > 1, file_, object);
  }
  handle ds = check(H5Dcreate2(id_.get(), name.c_str(), file_type<T>(), space.get(), H5P_DEFAULT, dcpl.get(),
                               H5P_DEFAULT),
                    file_, "create dataset", object);
  if (!data.empty())
    check(H5Dwrite(ds.get(), memory_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()), file_, "write dataset",
          object);
}

void group::write_strings(const std::string& name, const std::vector<std::string>& data) const {
  const std::string object = join(path_, name);
  if (has(name)) fail(file_, "create dataset", object, "already exists");
  const hsize_t n = data.size();
  handle space = check(H5Screate_simple(1, &n, nullptr), file_, "create dataset", object);
  handle type = vlen_string_type(file_, object);
  handle dcpl = creation_plist(H5P_DATASET_CREATE, file_, object);
  if (data.size() > chunk_threshold) {
    const auto chunk = chunk_dims({n}, sizeof(hvl_t));
    check(H5Pset_chunk(dcpl.get(), 1, chunk.data()), file_, "create dataset", object);
    add_filters(dcpl.get(), false, file_, object);
  }
  handle ds = check(H5Dcreate2(id_.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, dcpl.get(),
                               H5P_DEFAULT),
                    file_, "create dataset", object);
  if (!data.empty()) {
    const auto ptrs = c_strings(data.data(), data.size());
    check(H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), file_, "write dataset", object);
  }
}

template <class T>
std::vector<T> group::read(const std::string& name, std::vector<std::size_t>* dims) const {
  const std::string object = join(path_, name);
  handle ds = open_dataset(id_.get(), name, file_, object, "read dataset");
  handle space = check(H5Dget_space(ds.get()), file_, "read dataset", object);
  handle type = check(H5Dget_type(ds.get()), file_, "read dataset", object);
  handle dxpl = check(H5Pcreate(H5P_DATASET_XFER), file_, "read dataset", object);
  check(H5Pset_type_conv_cb(dxpl.get(), refuse_lossy, nullptr), file_, "read dataset", object);
  auto out = read_numeric<T>(type.get(), space.get(), file_, "read dataset", object, [&](hid_t mem, void* buf) {
    return H5Dread(ds.get(), mem, H5S_ALL, H5S_ALL, dxpl.get(), buf);
  });
  if (dims != nullptr) *dims = extent(space.get(), file_, object);
  return out;
}

std::vector<std::string> group::read_strings(const std::string& name) const {
  const std::string object = join(path_, name);
  handle ds = open_dataset(id_.get(), name, file_, object, "read dataset");
  handle space = check(H5Dget_space(ds.get()), file_, "read dataset", object);
  handle type = check(H5Dget_type(ds.get()), file_, "read dataset", object);
  return read_string_values(type.get(), space.get(), file_, "read dataset", object, [&](hid_t mem, void* buf) {
    return H5Dread(ds.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  });
}

std::vector<std::size_t> group::dims(const std::string& name) const {
  const std::string object = join(path_, name);
  handle ds = open_dataset(id_.get(), name, file_, object, "get the shape of dataset");
  handle space = check(H5Dget_space(ds.get()), file_, "get the shape of dataset", object);
  return extent(space.get(), file_, object);
}

dataset_info group::info(const std::string& name) const {
  const std::string object = join(path_, name);
  handle ds = open_dataset(id_.get(), name, file_, object, "get the type of dataset");
  handle space = check(H5Dget_space(ds.get()), file_, "get the shape of dataset", object);
  handle type = check(H5Dget_type(ds.get()), file_, "get the type of dataset", object);
  dataset_info out;
  out.dims = extent(space.get(), file_, object);
  out.size = H5Tget_size(type.get());
  const std::string bits = std::to_string(out.size * 8);
  switch (H5Tget_class(type.get())) {
    case H5T_INTEGER:
      out.cls = dataset_info::element::integer;
      out.is_signed = H5Tget_sign(type.get()) != H5T_SGN_NONE;
      out.type_name = (out.is_signed ? "int" : "uint") + bits;
      break;
    case H5T_FLOAT:
      out.cls = dataset_info::element::floating;
      out.type_name = "float" + bits;
      break;
    case H5T_STRING: out.cls = dataset_info::element::string; out.type_name = "string"; break;
    case H5T_COMPOUND: out.type_name = "compound"; break;
    case H5T_ENUM: out.type_name = "enum"; break;
    case H5T_BITFIELD: out.type_name = "bitfield"; break;
    case H5T_OPAQUE: out.type_name = "opaque"; break;
    case H5T_REFERENCE: out.type_name = "reference"; break;
    case H5T_ARRAY: out.type_name = "array"; break;
    case H5T_VLEN: out.type_name = "vlen"; break;
    case H5T_TIME: out.type_name = "time"; break;
    default: fail(file_, "get the type of dataset", object);
  }
  return out;
}

// ---- attributes ----

template <class T>
void group::set_attr(const std::string& name, const T& value) const {
  if constexpr (std::is_same_v<T, std::string>) {
    handle type = vlen_string_type(file_, attr_path(path_, name));
    const char* p = value.c_str();
    write_attribute(id_.get(), name, type.get(), type.get(), true, 1, &p, file_, path_);
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    handle type = vlen_string_type(file_, attr_path(path_, name));
    const auto ptrs = c_strings(value.data(), value.size());
    write_attribute(id_.get(), name, type.get(), type.get(), false, value.size(), ptrs.data(), file_, path_);
  } else if constexpr (is_numeric_v<T>) {
    write_attribute(id_.get(), name, file_type<T>(), memory_type<T>(), true, 1, &value, file_, path_);
  } else {
    using E = typename T::value_type;
    write_attribute(id_.get(), name, file_type<E>(), memory_type<E>(), false, value.size(), value.data(), file_,
                    path_);
  }
}

bool group::has_attr(const std::string& name) const {
  const htri_t exists = H5Aexists(id_.get(), name.c_str());
  if (exists < 0) fail(file_, "look up attribute", attr_path(path_, name));
  return exists > 0;
}

namespace {

template <class T>
std::vector<T> attr_numbers(hid_t object_id, const std::string& name, const std::string& file,
                            const std::string& object) {
  handle attr = open_attribute(object_id, name, file, object);
  const std::string path = attr_path(object, name);
  handle space = check(H5Aget_space(attr.get()), file, "read attribute", path);
  handle type = check(H5Aget_type(attr.get()), file, "read attribute", path);
  // H5Aread takes no transfer properties, so convert through a dataset-independent check instead.
  if constexpr (std::is_integral_v<T>) {
    if (H5Tget_class(type.get()) != H5T_INTEGER)
      fail(file, "read attribute", path, std::string("stored type is not convertible to ") + type_name<T>());
  }
  return read_numeric<T>(type.get(), space.get(), file, "read attribute", path,
                         [&](hid_t mem, void* buf) { return H5Aread(attr.get(), mem, buf); });
}

std::vector<std::string> attr_texts(hid_t object_id, const std::string& name, const std::string& file,
                                    const std::string& object) {
  handle attr = open_attribute(object_id, name, file, object);
  const std::string path = attr_path(object, name);
  handle space = check(H5Aget_space(attr.get()), file, "read attribute", path);
  handle type = check(H5Aget_type(attr.get()), file, "read attribute", path);
  return read_string_values(type.get(), space.get(), file, "read attribute", path,
                            [&](hid_t mem, void* buf) { return H5Aread(attr.get(), mem, buf); });
}

template <class V>
auto single(V values, const std::string& file, const std::string& path) {
  if (values.size() != 1)
    fail(file, "read attribute", path, "holds " + std::to_string(values.size()) + " values, expected one");
  return values.front();
}

}  // namespace

std::string group::attr_string(const std::string& name) const {
  return single(attr_texts(id_.get(), name, file_, path_), file_, attr_path(path_, name));
}

double group::attr_double(const std::string& name) const {
  return single(attr_numbers<double>(id_.get(), name, file_, path_), file_, attr_path(path_, name));
}

namespace {

std::int64_t attr_int_on(hid_t object_id, const std::string& name, const std::string& file,
                         const std::string& object) {
  const std::string path = attr_path(object, name);
  handle attr = open_attribute(object_id, name, file, object);
  handle type = check(H5Aget_type(attr.get()), file, "read attribute", path);
  // An unsigned 64-bit value above INT64_MAX would wrap: refuse it rather than return a negative number.
  if (H5Tget_class(type.get()) == H5T_INTEGER && H5Tget_sign(type.get()) == H5T_SGN_NONE &&
      H5Tget_size(type.get()) >= sizeof(std::int64_t)) {
    const auto v = single(attr_numbers<std::uint64_t>(object_id, name, file, object), file, path);
    if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      fail(file, "read attribute", path, "value " + std::to_string(v) + " does not fit int64");
    return static_cast<std::int64_t>(v);
  }
  return single(attr_numbers<std::int64_t>(object_id, name, file, object), file, path);
}

handle open_object(hid_t parent, const std::string& name, const std::string& file, const std::string& object) {
  const hid_t id = H5Oopen(parent, name.c_str(), H5P_DEFAULT);
  if (id < 0) {
    hdf5_reason();
    fail(file, "open", object, "no such object");
  }
  return handle(id);
}

}  // namespace

std::int64_t group::attr_int(const std::string& name) const { return attr_int_on(id_.get(), name, file_, path_); }

bool group::has_attr_of(const std::string& object, const std::string& name) const {
  const std::string path = join(path_, object);
  handle o = open_object(id_.get(), object, file_, path);
  const htri_t exists = H5Aexists(o.get(), name.c_str());
  if (exists < 0) fail(file_, "look up attribute", attr_path(path, name));
  return exists > 0;
}

std::int64_t group::attr_int_of(const std::string& object, const std::string& name) const {
  const std::string path = join(path_, object);
  handle o = open_object(id_.get(), object, file_, path);
  return attr_int_on(o.get(), name, file_, path);
}

std::string group::attr_string_of(const std::string& object, const std::string& name) const {
  const std::string path = join(path_, object);
  handle o = open_object(id_.get(), object, file_, path);
  return single(attr_texts(o.get(), name, file_, path), file_, attr_path(path, name));
}

double group::attr_double_of(const std::string& object, const std::string& name) const {
  const std::string path = join(path_, object);
  handle o = open_object(id_.get(), object, file_, path);
  return single(attr_numbers<double>(o.get(), name, file_, path), file_, attr_path(path, name));
}

std::vector<std::string> group::attr_strings(const std::string& name) const {
  return attr_texts(id_.get(), name, file_, path_);
}

std::vector<double> group::attr_doubles(const std::string& name) const {
  return attr_numbers<double>(id_.get(), name, file_, path_);
}

std::vector<std::int64_t> group::attr_ints(const std::string& name) const {
  return attr_numbers<std::int64_t>(id_.get(), name, file_, path_);
}

std::size_t same_rows(const group& g, const std::vector<std::pair<std::string, std::size_t>>& columns) {
  if (columns.empty()) return 0;
  for (const auto& [name, rows] : columns)
    if (rows != columns.front().second)
      throw io_error(g.file_path(), "table '" + g.path() + "': column '" + name + "' holds " + std::to_string(rows) +
                                        " rows, column '" + columns.front().first + "' " +
                                        std::to_string(columns.front().second));
  return columns.front().second;
}

// ---- column ----

template <class T>
column<T>::column(const group& parent, const std::string& name, std::size_t chunk, std::size_t width)
    : file_(parent.file_path()), path_(join(parent.path(), name)), width_(width) {
  if (chunk == 0) fail(file_, "create column", path_, "chunk size must be positive");
  if (width == 0) fail(file_, "create column", path_, "row width must be positive");
  if (parent.has(name)) fail(file_, "create column", path_, "already exists");
  const int rank = width == 1 ? 1 : 2;
  const hsize_t zero[2] = {0, width};
  const hsize_t unlimited[2] = {H5S_UNLIMITED, width};
  // About `chunk` values per chunk whatever the width.
  const hsize_t chunk_dims[2] = {std::max<hsize_t>(1, chunk / width), width};
  handle space = check(H5Screate_simple(rank, zero, unlimited), file_, "create column", path_);
  handle dcpl = creation_plist(H5P_DATASET_CREATE, file_, path_);
  check(H5Pset_chunk(dcpl.get(), rank, chunk_dims), file_, "create column", path_);
  handle type;
  hid_t stored = -1;
  if constexpr (std::is_same_v<T, std::string>) {
    type = vlen_string_type(file_, path_);
    stored = type.get();
    add_filters(dcpl.get(), false, file_, path_);
  } else {
    stored = file_type<T>();
    add_filters(dcpl.get(), sizeof(T) > 1, file_, path_);
  }
  id_ = check(H5Dcreate2(parent.id(), name.c_str(), stored, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
              file_, "create column", path_);
}

template <class T>
column<T> column<T>::open(const group& parent, const std::string& name) {
  column c;
  c.file_ = parent.file_path();
  c.path_ = join(parent.path(), name);
  if (!parent.has(name)) fail(c.file_, "open column", c.path_, "missing");
  c.id_ = check(H5Dopen2(parent.id(), name.c_str(), H5P_DEFAULT), c.file_, "open column", c.path_);
  handle space = check(H5Dget_space(c.id_.get()), c.file_, "open column", c.path_);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank != 1 && rank != 2) fail(c.file_, "open column", c.path_, "not a 1-D or 2-D dataset");
  hsize_t dims[2] = {0, 1}, max[2] = {0, 0};
  H5Sget_simple_extent_dims(space.get(), dims, max);
  if (max[0] != H5S_UNLIMITED) fail(c.file_, "open column", c.path_, "not a growing column");
  handle type = check(H5Dget_type(c.id_.get()), c.file_, "open column", c.path_);
  const bool is_string = H5Tget_class(type.get()) == H5T_STRING;
  if constexpr (std::is_same_v<T, std::string>) {
    if (!is_string) fail(c.file_, "open column", c.path_, "not a string column");
  } else {
    if (is_string || H5Tequal(type.get(), file_type<T>()) <= 0)
      fail(c.file_, "open column", c.path_, "holds another element type");
  }
  c.size_ = static_cast<std::size_t>(dims[0]);
  c.width_ = rank == 2 ? static_cast<std::size_t>(dims[1]) : 1;
  return c;
}

template <class T>
void column<T>::append(const std::vector<T>& data) {
  if (data.size() % width_ != 0)
    fail(file_, "append to column", path_,
         std::to_string(data.size()) + " values are not whole rows of width " + std::to_string(width_));
  append(data.data(), data.size() / width_);
}

template <class T>
void column<T>::append(const T* data, std::size_t n) {
  if (n == 0) return;
  const int rank = width_ == 1 ? 1 : 2;
  const hsize_t start[2] = {size_, 0};
  const hsize_t count[2] = {n, width_};
  const hsize_t new_size[2] = {size_ + n, width_};
  check(H5Dset_extent(id_.get(), new_size), file_, "extend column", path_);
  handle file_space = check(H5Dget_space(id_.get()), file_, "append to column", path_);
  check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr), file_,
        "append to column", path_);
  handle mem_space = check(H5Screate_simple(rank, count, nullptr), file_, "append to column", path_);
  if constexpr (std::is_same_v<T, std::string>) {
    handle type = vlen_string_type(file_, path_);
    const auto ptrs = c_strings(data, n * width_);
    check(H5Dwrite(id_.get(), type.get(), mem_space.get(), file_space.get(), H5P_DEFAULT, ptrs.data()), file_,
          "append to column", path_);
  } else {
    check(H5Dwrite(id_.get(), memory_type<T>(), mem_space.get(), file_space.get(), H5P_DEFAULT, data), file_,
          "append to column", path_);
  }
  size_ += n;
}

template <class T>
void column<T>::set_attr(const std::string& name, const std::string& value) const {
  handle type = vlen_string_type(file_, attr_path(path_, name));
  const char* p = value.c_str();
  write_attribute(id_.get(), name, type.get(), type.get(), true, 1, &p, file_, path_);
}

// ---- explicit instantiations ----

#define GENSCOPE_H5_NUMERIC(T)                                                                                  \
  template void group::write<T>(const std::string&, const std::vector<T>&, std::vector<std::size_t>) const;   \
  template std::vector<T> group::read<T>(const std::string&, std::vector<std::size_t>*) const;                \
  template class column<T>;

GENSCOPE_H5_NUMERIC(float)
GENSCOPE_H5_NUMERIC(double)
GENSCOPE_H5_NUMERIC(std::int8_t)
GENSCOPE_H5_NUMERIC(std::uint8_t)
GENSCOPE_H5_NUMERIC(std::int32_t)
GENSCOPE_H5_NUMERIC(std::uint32_t)
GENSCOPE_H5_NUMERIC(std::int64_t)
GENSCOPE_H5_NUMERIC(std::uint64_t)
#undef GENSCOPE_H5_NUMERIC
template class column<std::string>;

template void group::set_attr<std::string>(const std::string&, const std::string&) const;
template void group::set_attr<double>(const std::string&, const double&) const;
template void group::set_attr<std::int64_t>(const std::string&, const std::int64_t&) const;
template void group::set_attr<std::uint64_t>(const std::string&, const std::uint64_t&) const;
template void group::set_attr<std::int32_t>(const std::string&, const std::int32_t&) const;
template void group::set_attr<std::uint32_t>(const std::string&, const std::uint32_t&) const;
template void group::set_attr<std::vector<double>>(const std::string&, const std::vector<double>&) const;
template void group::set_attr<std::vector<std::int64_t>>(const std::string&, const std::vector<std::int64_t>&) const;
template void group::set_attr<std::vector<std::string>>(const std::string&, const std::vector<std::string>&) const;

}  // namespace genscope::h5
