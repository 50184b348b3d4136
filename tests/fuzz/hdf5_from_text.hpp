// Builds a valid HDF5 file from a line-based description, so the HDF5 readers are fuzzed on content.
//
// HDF5 1.10's own binary parser loops or leaks on some corrupt files (found within seconds of fuzzing
// raw bytes: an endless H5HG_read on a damaged global heap); that parser is the HDF5 project's to fuzz.
// The targets here describe files as text that libFuzzer mutates meaningfully (names, types, shapes,
// values, NaN), and write them through the HDF5 API, so every file GenScope sees is a well-formed HDF5
// file with arbitrary content: wrong names, types, ranks, shapes and values, and shapes of up to 2^62
// elements that hold no data (chunked, never written), which a reader must refuse before allocating.
//
// One object per line; malformed lines are skipped:
//   group PATH
//   dataset PATH TYPE DIMS [VALUE...]
//   attr OBJECT NAME TYPE DIMS [VALUE...]      (OBJECT: "/" or a group or dataset made earlier)
// TYPE is f32 f64 i8 u8 i32 u32 i64 u64 or str (values percent-encoded: %20 is a space); DIMS is "scalar" or sizes joined by 'x' (3x4); values
// missing at the end are 0 (or ""). A dataset of more than 2^20 elements is created chunked and left
// unwritten; an attribute of more than 2^16 elements is skipped (HDF5 keeps attributes in object headers).
#pragma once

#include <hdf5.h>

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace genscope::fuzz {

namespace detail {

struct element_type {
  hid_t file = -1;   ///< the type stored
  hid_t memory = -1; ///< the type of the values in memory (doubles, int64s, uint64s or strings)
  bool is_string = false;
  bool is_float = false;
  bool is_unsigned = false;
};

inline bool parse_type(const std::string& name, element_type& t) {
  struct entry {
    const char* name;
    hid_t file;
    hid_t memory;
    bool is_float, is_unsigned;
  };
  const entry table[] = {{"f32", H5T_IEEE_F32LE, H5T_NATIVE_DOUBLE, true, false},
                         {"f64", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, true, false},
                         {"i8", H5T_STD_I8LE, H5T_NATIVE_INT64, false, false},
                         {"u8", H5T_STD_U8LE, H5T_NATIVE_UINT64, false, true},
                         {"i32", H5T_STD_I32LE, H5T_NATIVE_INT64, false, false},
                         {"u32", H5T_STD_U32LE, H5T_NATIVE_UINT64, false, true},
                         {"i64", H5T_STD_I64LE, H5T_NATIVE_INT64, false, false},
                         {"u64", H5T_STD_U64LE, H5T_NATIVE_UINT64, false, true}};
  for (const entry& e : table)
    if (name == e.name) {
      t = {e.file, e.memory, false, e.is_float, e.is_unsigned};
      return true;
    }
  if (name == "str") {
    t.is_string = true;
    return true;
  }
  return false;
}

/// "scalar" (rank 0) or sizes joined by 'x'; false when malformed or of rank > 4.
inline bool parse_dims(const std::string& text, std::vector<hsize_t>& dims, long double& count) {
  dims.clear();
  count = 1;
  if (text == "scalar") return true;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, 'x')) {
    if (part.empty() || part.size() > 20 || dims.size() == 4) return false;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(part.c_str(), &end, 10);
    if (*end != '\0' || v > (1ULL << 62)) return false;
    dims.push_back(v);
    count *= static_cast<long double>(v);
  }
  return !dims.empty();
}

/// "a%20b" -> "a b"; a '%' not followed by two hex digits stays as it is.
inline std::string percent_decoded(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() + 0 && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

/// Writes `count` values read from `in` (missing ones are 0 or "") with H5Dwrite or H5Awrite.
template <class Write>
void write_values(std::istringstream& in, const element_type& t, std::size_t count, Write&& write) {
  if (t.is_string) {
    std::vector<std::string> values(count);
    for (std::string& v : values)
      if (in >> v) v = percent_decoded(v);
    std::vector<const char*> pointers;
    for (const std::string& v : values) pointers.push_back(v.c_str());
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    write(type, pointers.data());
    H5Tclose(type);
  } else if (t.is_float) {
    std::vector<double> values(count, 0.0);
    std::string token;
    for (double& v : values)
      if (in >> token) v = std::strtod(token.c_str(), nullptr);
    write(t.memory, values.data());
  } else if (t.is_unsigned) {
    std::vector<std::uint64_t> values(count, 0);
    std::string token;
    for (std::uint64_t& v : values)
      if (in >> token) v = std::strtoull(token.c_str(), nullptr, 10);
    write(t.memory, values.data());
  } else {
    std::vector<std::int64_t> values(count, 0);
    std::string token;
    for (std::int64_t& v : values)
      if (in >> token) v = std::strtoll(token.c_str(), nullptr, 10);
    write(t.memory, values.data());
  }
}

inline hid_t stored_type(const element_type& t) {
  if (!t.is_string) return H5Tcopy(t.file);
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  return type;
}

}  // namespace detail

/// Writes the file described by `text` to `path` (replacing it). Never fails: what HDF5 refuses
/// (a name used twice, an attribute on a missing object) is left out.
inline void write_hdf5_from_text(const std::string& text, const std::string& path) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) std::abort();
  const hid_t link_plist = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(link_plist, 1);
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream in(line);
    std::string kind, object, name, type_name, dims_text;
    in >> kind;
    if (kind == "group") {
      if (in >> object) H5Gclose(H5Gcreate2(file, object.c_str(), link_plist, H5P_DEFAULT, H5P_DEFAULT));
      continue;
    }
    const bool is_attr = kind == "attr";
    if (!is_attr && kind != "dataset") continue;
    if (!(in >> object)) continue;
    if (is_attr && !(in >> name)) continue;
    detail::element_type t;
    std::vector<hsize_t> dims;
    long double count = 0;
    if (!(in >> type_name >> dims_text) || !detail::parse_type(type_name, t) ||
        !detail::parse_dims(dims_text, dims, count))
      continue;
    const hid_t space = dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    const hid_t type = detail::stored_type(t);
    if (is_attr) {
      if (count <= (1 << 16) && H5Oexists_by_name(file, object.c_str(), H5P_DEFAULT) > 0) {
        const hid_t target = H5Oopen(file, object.c_str(), H5P_DEFAULT);
        const hid_t attr = H5Acreate2(target, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
        if (attr >= 0) {
          detail::write_values(in, t, static_cast<std::size_t>(count), [&](hid_t memory, const void* values) {
            H5Awrite(attr, memory, values);
          });
          H5Aclose(attr);
        }
        H5Oclose(target);
      }
    } else {
      const hid_t create = H5Pcreate(H5P_DATASET_CREATE);
      const bool written = count <= (1 << 20);
      if (!written) {
        // Unwritten and chunked: the shape is real, the data take no space.
        std::vector<hsize_t> chunk(dims.size(), 1);
        H5Pset_chunk(create, static_cast<int>(chunk.size()), chunk.data());
      }
      const hid_t set = H5Dcreate2(file, object.c_str(), type, space, link_plist, create, H5P_DEFAULT);
      if (set >= 0) {
        if (written && count > 0)
          detail::write_values(in, t, static_cast<std::size_t>(count), [&](hid_t memory, const void* values) {
            H5Dwrite(set, memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
          });
        H5Dclose(set);
      }
      H5Pclose(create);
    }
    H5Tclose(type);
    H5Sclose(space);
  }
  H5Pclose(link_plist);
  H5Fclose(file);
}

}  // namespace genscope::fuzz
