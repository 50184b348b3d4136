// Tests of the HDF5 layer: round trips, attributes, strings, columns, errors naming the file, no leaked ids.
#include "h5/h5.hpp"

#include <genscope/error.hpp>

#include "support.hpp"

#include <catch2/catch.hpp>
#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <cstdlib>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using namespace genscope;

namespace {

// One scratch folder per process, removed at exit, so that parallel ctest runs do not collide.
std::string temp_file(const std::string& name) {
  static const genscope::testing::temp_dir dir("h5");
  return dir / name;
}

// Number of HDF5 ids open in any file: the layer must leave none behind.
ssize_t open_ids() { return H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL); }

std::vector<char> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

template <class T>
std::vector<T> sample_values(std::size_t n) {
  std::vector<T> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    if constexpr (std::is_floating_point_v<T>) v[i] = static_cast<T>(i) * T(0.25) - T(7.5);
    else v[i] = static_cast<T>(i * 37u + 11u);
  }
  // The extremes of the type must survive unchanged.
  if (n >= 2) {
    v[0] = std::numeric_limits<T>::lowest();
    v[1] = std::numeric_limits<T>::max();
  }
  return v;
}

template <class T>
void check_round_trip(const h5::group& g, const std::string& name, std::size_t rows, std::size_t cols) {
  const auto values = sample_values<T>(rows * cols);
  g.write(name, values, {rows, cols});
  std::vector<std::size_t> dims;
  CHECK(g.read<T>(name, &dims) == values);
  CHECK(dims == std::vector<std::size_t>{rows, cols});
  CHECK(g.dims(name) == std::vector<std::size_t>{rows, cols});
}

template <class T>
void check_column(const h5::group& g, const std::string& name, std::vector<T> (*make)(std::size_t)) {
  const auto all = make(1000);
  {
    h5::column<T> c(g, name, 64);
    // Pieces of uneven size, including an empty one and one larger than a chunk.
    const std::size_t cuts[] = {0, 1, 1, 70, 333, 999, 1000};
    for (std::size_t k = 0; k + 1 < std::size(cuts); ++k) c.append(all.data() + cuts[k], cuts[k + 1] - cuts[k]);
    CHECK(c.size() == all.size());
  }
  if constexpr (std::is_same_v<T, std::string>) CHECK(g.read_strings(name) == all);
  else CHECK(g.read<T>(name) == all);
}

std::vector<std::string> sample_strings(std::size_t n) {
  // Built by construction only: GCC 12 at -O3 gives false -Wrestrict warnings on assignments to elements.
  std::vector<std::string> v;
  v.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (i == 0) v.emplace_back();
    else if (i == 1) v.emplace_back("Gr\xc3\xb6\xc3\x9f" "e \xe6\x97\xa5\xe6\x9c\xac");  // UTF-8: "Größe 日本"
    else if (i == 2) v.emplace_back(300, 'x');
    else v.emplace_back(std::to_string(i * i)).insert(0, 1, 's');
  }
  return v;
}

void write_junk(const std::string& path, std::size_t n) {
  std::ofstream out(path, std::ios::binary);
  for (std::size_t i = 0; i < n; ++i) out.put(static_cast<char>((i * 131 + 7) % 251));
}

}  // namespace

TEST_CASE("numeric datasets round-trip with their 2-D shape", "[interface]") {
  const std::string path = temp_file("numeric.h5");
  {
    auto f = h5::file::create(path);
    const auto r = f.root();
    check_round_trip<float>(r, "f32", 3, 4);
    check_round_trip<double>(r, "f64", 4, 3);
    check_round_trip<std::int8_t>(r, "i8", 2, 5);
    check_round_trip<std::uint8_t>(r, "u8", 5, 2);
    check_round_trip<std::int32_t>(r, "i32", 1, 7);
    check_round_trip<std::uint32_t>(r, "u32", 7, 1);
    check_round_trip<std::int64_t>(r, "i64", 3, 3);
    check_round_trip<std::uint64_t>(r, "u64", 2, 2);
    f.close();
  }
  // Reopened read-only, the values are still there.
  const auto f = h5::file::open(path);
  CHECK(f.root().read<std::int64_t>("i64") == sample_values<std::int64_t>(9));
  CHECK(f.root().read<double>("f64") == sample_values<double>(12));
}

TEST_CASE("integers are read as floating point exactly, negative ones included", "[interface][regression]") {
  // HDF5's own conversion flags every negative integer as a precision loss: -1 (a "not measured" marker)
  // once made a whole int64 column unreadable as float64.
  const std::string path = temp_file("int_as_float.h5");
  const std::int64_t big = std::int64_t{1} << 53;
  {
    auto f = h5::file::create(path);
    f.root().write("i64", std::vector<std::int64_t>{-1, -5, 0, 3, big, -big});
    f.root().write("i32", std::vector<std::int32_t>{-7, 12});
    f.root().write("beyond", std::vector<std::int64_t>{big + 1});
    f.root().write("beyond_float", std::vector<std::int32_t>{(1 << 24) + 1});
    f.close();
  }
  const auto f = h5::file::open(path);
  CHECK(f.root().read<double>("i64") == std::vector<double>{-1, -5, 0, 3, 9007199254740992.0, -9007199254740992.0});
  CHECK(f.root().read<float>("i32") == std::vector<float>{-7, 12});
  CHECK_THROWS_WITH(f.root().read<double>("beyond"), Catch::Contains("not representable as float64"));
  CHECK_THROWS_WITH(f.root().read<float>("beyond_float"), Catch::Contains("not representable as float32"));
}

TEST_CASE("1-D default shape, empty and large chunked datasets round-trip", "[boundary]") {
  const std::string path = temp_file("shapes.h5");
  {
    auto f = h5::file::create(path);
    const auto r = f.root();
    r.write("plain", std::vector<float>{1.5f, -2.0f, 3.25f});
    r.write("empty", std::vector<std::int32_t>{});
    r.write("empty_2d", std::vector<double>{}, {0, 5});
    r.write("big", sample_values<float>(300 * 50), {300, 50});
    r.write("big_u8", sample_values<std::uint8_t>(5000));
    r.write("exactly_4096", sample_values<std::int32_t>(4096));
    r.write_strings("many_strings", sample_strings(5000));
  }
  const auto f = h5::file::open(path);
  const auto r = f.root();
  CHECK(r.read<float>("plain") == std::vector<float>{1.5f, -2.0f, 3.25f});
  CHECK(r.dims("plain") == std::vector<std::size_t>{3});
  CHECK(r.read<std::int32_t>("empty").empty());
  std::vector<std::size_t> dims;
  CHECK(r.read<double>("empty_2d", &dims).empty());
  CHECK(dims == std::vector<std::size_t>{0, 5});
  CHECK(r.read<float>("big") == sample_values<float>(300 * 50));
  CHECK(r.read<std::uint8_t>("big_u8") == sample_values<std::uint8_t>(5000));
  CHECK(r.read<std::int32_t>("exactly_4096") == sample_values<std::int32_t>(4096));
  CHECK(r.read_strings("many_strings") == sample_strings(5000));
}

TEST_CASE("storage layout: little-endian standard types, chunked and deflated above 4096 values", "[interface]") {
  // Checked with the HDF5 C API directly, independently of the layer's own readers.
  const std::string path = temp_file("layout.h5");
  {
    auto f = h5::file::create(path);
    f.root().write("small", sample_values<std::int32_t>(4096));
    f.root().write("large", sample_values<double>(4097));
    f.root().write_strings("names", {"a", "b"});
  }
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(file >= 0);
  auto layout = [&](const char* name, H5D_layout_t& kind, int& filters, hid_t& type) {
    const hid_t ds = H5Dopen2(file, name, H5P_DEFAULT);
    const hid_t dcpl = H5Dget_create_plist(ds);
    kind = H5Pget_layout(dcpl);
    filters = H5Pget_nfilters(dcpl);
    type = H5Dget_type(ds);
    H5Pclose(dcpl);
    H5Dclose(ds);
  };
  H5D_layout_t kind{};
  int filters = 0;
  hid_t type = -1;
  layout("small", kind, filters, type);
  CHECK(kind == H5D_CONTIGUOUS);
  CHECK(filters == 0);
  CHECK(H5Tequal(type, H5T_STD_I32LE) > 0);
  H5Tclose(type);
  layout("large", kind, filters, type);
  CHECK(kind == H5D_CHUNKED);
  CHECK(filters == 2);  // shuffle and deflate
  CHECK(H5Tequal(type, H5T_IEEE_F64LE) > 0);
  H5Tclose(type);
  layout("names", kind, filters, type);
  CHECK(H5Tget_class(type) == H5T_STRING);
  CHECK(H5Tis_variable_str(type) > 0);
  CHECK(H5Tget_cset(type) == H5T_CSET_UTF8);
  H5Tclose(type);
  H5Fclose(file);
}

TEST_CASE("string datasets round-trip UTF-8, empty and long strings", "[interface]") {
  const std::string path = temp_file("strings.h5");
  const auto values = sample_strings(10);
  {
    auto f = h5::file::create(path);
    f.root().write_strings("names", values);
    f.root().write_strings("none", {});
  }
  const auto f = h5::file::open(path);
  CHECK(f.root().read_strings("names") == values);
  CHECK(f.root().read_strings("none").empty());
}

TEST_CASE("fixed-length strings written by other tools are read, padding removed", "[interface]") {
  const std::string path = temp_file("fixed_strings.h5");
  {
    auto f = h5::file::create(path);
    // A fixed-length string dataset as numpy 'S5' arrays are stored, written with the C API.
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, 5);
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    const hsize_t n = 3;
    const hid_t space = H5Screate_simple(1, &n, nullptr);
    const hid_t ds = H5Dcreate2(f.root().id(), "fixed", type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const char data[15] = {'a', 'b', 0, 0, 0, 'h', 'e', 'l', 'l', 'o', 0, 0, 0, 0, 0};
    REQUIRE(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(ds);
    H5Sclose(space);
    H5Tclose(type);
  }
  const auto f = h5::file::open(path);
  CHECK(f.root().read_strings("fixed") == std::vector<std::string>{"ab", "hello", ""});
}

TEST_CASE("attributes of every supported type round-trip and can be replaced", "[interface]") {
  const std::string path = temp_file("attrs.h5");
  {
    auto f = h5::file::create(path);
    const auto g = f.root().create_group("meta");
    g.set_attr("text", std::string("hello \xc3\xa9t\xc3\xa9"));
    g.set_attr("empty_text", std::string());
    g.set_attr("real", 0.1);
    g.set_attr("int", std::int64_t{-42});
    g.set_attr("int_min", std::numeric_limits<std::int64_t>::min());
    g.set_attr("uint", std::uint64_t{12345678901234ull});
    g.set_attr("int32", std::int32_t{7});
    g.set_attr("uint32", std::uint32_t{4000000000u});
    g.set_attr("reals", std::vector<double>{1.0, -2.5, 1e300});
    g.set_attr("ints", std::vector<std::int64_t>{3, -4, std::numeric_limits<std::int64_t>::max()});
    g.set_attr("texts", std::vector<std::string>{"a", "", "\xe6\x97\xa5"});
    g.set_attr("no_reals", std::vector<double>{});
    g.set_attr("no_texts", std::vector<std::string>{});
    g.set_attr("replaced", std::string("first"));
    g.set_attr("replaced", 2.0);  // a second write replaces the first, even with another type
  }
  const auto f = h5::file::open(path);
  const auto g = f.root().open_group("meta");
  CHECK(g.has_attr("text"));
  CHECK_FALSE(g.has_attr("nope"));
  CHECK(g.attr_string("text") == "hello \xc3\xa9t\xc3\xa9");
  CHECK(g.attr_string("empty_text").empty());
  CHECK(g.attr_double("real") == 0.1);
  CHECK(g.attr_int("int") == -42);
  CHECK(g.attr_int("int_min") == std::numeric_limits<std::int64_t>::min());
  CHECK(g.attr_int("uint") == 12345678901234ll);
  CHECK(g.attr_int("int32") == 7);
  CHECK(g.attr_int("uint32") == 4000000000ll);
  CHECK(g.attr_double("int") == -42.0);
  CHECK(g.attr_doubles("reals") == std::vector<double>{1.0, -2.5, 1e300});
  CHECK(g.attr_ints("ints") == std::vector<std::int64_t>{3, -4, std::numeric_limits<std::int64_t>::max()});
  CHECK(g.attr_strings("texts") == std::vector<std::string>{"a", "", "\xe6\x97\xa5"});
  CHECK(g.attr_doubles("no_reals").empty());
  CHECK(g.attr_strings("no_texts").empty());
  CHECK(g.attr_double("replaced") == 2.0);
  CHECK(g.attr_strings("text") == std::vector<std::string>{"hello \xc3\xa9t\xc3\xa9"});
  CHECK(g.attr_doubles("real") == std::vector<double>{0.1});
}

TEST_CASE("columns appended in several pieces equal the concatenation", "[interface]") {
  const std::string path = temp_file("columns.h5");
  {
    auto f = h5::file::create(path);
    const auto g = f.root().create_group("run");
    check_column<float>(g, "f32", sample_values<float>);
    check_column<double>(g, "f64", sample_values<double>);
    check_column<std::int8_t>(g, "i8", sample_values<std::int8_t>);
    check_column<std::uint8_t>(g, "u8", sample_values<std::uint8_t>);
    check_column<std::int32_t>(g, "i32", sample_values<std::int32_t>);
    check_column<std::uint32_t>(g, "u32", sample_values<std::uint32_t>);
    check_column<std::int64_t>(g, "i64", sample_values<std::int64_t>);
    check_column<std::uint64_t>(g, "u64", sample_values<std::uint64_t>);
    check_column<std::string>(g, "text", sample_strings);
    h5::column<double> empty(g, "empty");
    CHECK(empty.size() == 0);
  }
  const auto f = h5::file::open(path);
  CHECK(f.root().open_group("run").read<double>("f64") == sample_values<double>(1000));
  CHECK(f.root().open_group("run").read_strings("text") == sample_strings(1000));
  CHECK(f.root().open_group("run").dims("empty") == std::vector<std::size_t>{0});
}

TEST_CASE("groups: nested creation, has, children in name order", "[interface]") {
  const std::string path = temp_file("groups.h5");
  auto f = h5::file::create(path);
  const auto r = f.root();
  const auto a = r.create_group("a");
  const auto b = a.create_group("b");
  CHECK(b.path() == "/a/b");
  CHECK(b.file_path() == path);
  b.write("x", std::vector<float>{1.0f});
  r.create_group("c");
  CHECK(r.has("a"));
  CHECK(r.has("a/b/x"));
  CHECK_FALSE(r.has("a/nope/x"));
  CHECK_FALSE(r.has("zzz"));
  CHECK(r.children() == std::vector<std::string>{"a", "c"});
  CHECK(r.open_group("a/b").read<float>("x") == std::vector<float>{1.0f});
  f.flush();
  f.close();
  f.close();  // closing twice is harmless
}

TEST_CASE("identical content gives identical files", "[regression]") {
  auto make = [](const std::string& path) {
    auto f = h5::file::create(path);
    const auto g = f.root().create_group("g");
    g.set_attr("a", std::string("x"));
    g.write("d", sample_values<float>(6000), {60, 100});
    g.write_strings("s", sample_strings(5));
    h5::column<std::int32_t> c(g, "c", 16);
    c.append(sample_values<std::int32_t>(40));
  };
  make(temp_file("same_1.h5"));
  make(temp_file("same_2.h5"));
  const auto one = file_bytes(temp_file("same_1.h5"));
  CHECK(!one.empty());
  CHECK(one == file_bytes(temp_file("same_2.h5")));
}

TEST_CASE("every kind of id is closed by handle", "[interface]") {
  const std::string path = temp_file("handles.h5");
  auto f = h5::file::create(path);
  const hid_t file_id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  // Closing the layer's file leaves the file id opened here as the only open object.
  f.close();
  const hsize_t one = 1;
  std::vector<hid_t> ids = {
      file_id,
      H5Gopen2(file_id, "/", H5P_DEFAULT),
      H5Screate_simple(1, &one, nullptr),
      H5Tcopy(H5T_NATIVE_INT),
      H5Pcreate(H5P_DATASET_CREATE),
  };
  for (hid_t id : ids) REQUIRE(id >= 0);
  for (hid_t id : ids) {
    { h5::handle h(id); }
    CHECK(H5Iis_valid(id) <= 0);
  }
  // Dataset and attribute ids, in a writable file.
  auto w = h5::file::create(temp_file("handles_2.h5"));
  w.root().write("d", std::vector<float>{1.0f});
  w.root().set_attr("a", 1.0);
  const hid_t ds = H5Dopen2(w.root().id(), "d", H5P_DEFAULT);
  const hid_t at = H5Aopen(w.root().id(), "a", H5P_DEFAULT);
  REQUIRE(ds >= 0);
  REQUIRE(at >= 0);
  h5::handle hd(ds);
  h5::handle ha(at);
  h5::handle moved(std::move(hd));
  CHECK_FALSE(hd);
  hd = std::move(ha);  // move-assignment into an empty handle
  moved = h5::handle();  // assigning over a live handle closes it
  CHECK(H5Iis_valid(ds) <= 0);
  hd = h5::handle();
  CHECK(H5Iis_valid(at) <= 0);
}

TEST_CASE("no HDF5 id stays open after use or after errors", "[regression]") {
  const ssize_t before = open_ids();
  {
    auto f = h5::file::create(temp_file("leaks.h5"));
    const auto g = f.root().create_group("g");
    g.write("d", sample_values<double>(5000));
    g.set_attr("s", std::vector<std::string>{"x", "y"});
    (void)g.read<double>("d");
    (void)g.attr_strings("s");
    h5::column<std::string> c(g, "c");
    c.append(sample_strings(10));
    CHECK_THROWS_AS(g.read<double>("missing"), io_error);
    CHECK_THROWS_AS(g.read_strings("d"), io_error);
    CHECK_THROWS_AS(g.attr_double("s"), io_error);
  }
  CHECK(open_ids() == before);
}

TEST_CASE("reading a missing dataset throws io_error naming file and object", "[negative]") {
  const std::string path = temp_file("missing.h5");
  auto f = h5::file::create(path);
  const auto g = f.root().create_group("g");
  try {
    (void)g.read<float>("nope");
    FAIL("no exception");
  } catch (const io_error& e) {
    CHECK(e.path() == path);
    CHECK_THAT(e.what(), Catch::Contains(path) && Catch::Contains("/g/nope"));
  }
}

TEST_CASE("reading missing strings, dims, group or attribute throws io_error", "[negative]") {
  const std::string path = temp_file("missing_2.h5");
  auto f = h5::file::create(path);
  const auto r = f.root();
  CHECK_THROWS_WITH(r.read_strings("nope"), Catch::Contains(path) && Catch::Contains("/nope"));
  CHECK_THROWS_WITH(r.dims("nope"), Catch::Contains(path) && Catch::Contains("/nope"));
  CHECK_THROWS_WITH(r.open_group("nope"), Catch::Contains(path) && Catch::Contains("/nope"));
  CHECK_THROWS_WITH(r.attr_string("nope"), Catch::Contains(path) && Catch::Contains("nope"));
  CHECK_THROWS_AS(r.attr_ints("nope"), io_error);
}

TEST_CASE("reading with a type that would change values throws io_error", "[negative]") {
  const std::string path = temp_file("lossy.h5");
  auto f = h5::file::create(path);
  const auto r = f.root();
  r.write("big", std::vector<std::int64_t>{1, std::int64_t{1} << 40});
  r.write("fraction", std::vector<double>{1.0, 3.5});
  r.write("negative", std::vector<std::int32_t>{-1});
  r.write_strings("text", {"a"});
  r.set_attr("text", std::string("a"));
  r.set_attr("real", 1.5);
  CHECK_THROWS_WITH(r.read<std::int32_t>("big"), Catch::Contains("/big"));
  CHECK_THROWS_AS(r.read<std::int32_t>("fraction"), io_error);
  CHECK_THROWS_AS(r.read<std::uint32_t>("negative"), io_error);
  CHECK_THROWS_AS(r.read<float>("text"), io_error);
  CHECK_THROWS_AS(r.read_strings("big"), io_error);
  CHECK_THROWS_AS(r.attr_double("text"), io_error);
  CHECK_THROWS_AS(r.attr_int("real"), io_error);
  CHECK_THROWS_AS(r.attr_string("real"), io_error);
  // Conversions that keep every value are allowed.
  CHECK(r.read<std::int64_t>("negative") == std::vector<std::int64_t>{-1});
  CHECK(r.read<double>("big") == std::vector<double>{1.0, 1099511627776.0});
}

TEST_CASE("an attribute with several values is not read as one", "[negative]") {
  auto f = h5::file::create(temp_file("several.h5"));
  f.root().set_attr("v", std::vector<double>{1.0, 2.0});
  CHECK_THROWS_WITH(f.root().attr_double("v"), Catch::Contains("/@v"));
}

TEST_CASE("writing a shape that does not match the data throws io_error", "[negative]") {
  auto f = h5::file::create(temp_file("shape.h5"));
  CHECK_THROWS_WITH(f.root().write("d", std::vector<float>(5), {2, 3}), Catch::Contains("/d"));
}

TEST_CASE("writing an existing dataset or group throws io_error", "[negative]") {
  auto f = h5::file::create(temp_file("exists.h5"));
  const auto r = f.root();
  r.write("d", std::vector<float>(2));
  r.create_group("g");
  CHECK_THROWS_AS(r.write("d", std::vector<float>(2)), io_error);
  CHECK_THROWS_AS(r.write_strings("d", {"x"}), io_error);
  CHECK_THROWS_AS(r.create_group("g"), io_error);
  CHECK_THROWS_AS(h5::column<float>(r, "d"), io_error);
}

TEST_CASE("a column with chunk size zero throws io_error", "[negative]") {
  auto f = h5::file::create(temp_file("chunk0.h5"));
  CHECK_THROWS_AS(h5::column<float>(f.root(), "c", 0), io_error);
}

TEST_CASE("opening a file that is not HDF5 throws io_error", "[negative]") {
  const std::string path = temp_file("junk.h5");
  write_junk(path, 4000);
  try {
    (void)h5::file::open(path);
    FAIL("no exception");
  } catch (const io_error& e) {
    CHECK(e.path() == path);
    CHECK_THAT(e.what(), Catch::Contains("not an HDF5 file"));
  }
}

TEST_CASE("opening an empty file throws io_error", "[negative]") {
  const std::string path = temp_file("empty.h5");
  write_junk(path, 0);
  CHECK_THROWS_AS(h5::file::open(path), io_error);
}

TEST_CASE("opening a truncated HDF5 file throws io_error", "[negative]") {
  const std::string path = temp_file("truncated.h5");
  {
    auto f = h5::file::create(path);
    f.root().write("d", sample_values<double>(20000));
  }
  fs::resize_file(path, fs::file_size(path) / 2);
  const ssize_t before = open_ids();
  try {
    auto f = h5::file::open(path);
    (void)f.root().read<double>("d");
    FAIL("no exception");
  } catch (const io_error& e) {
    CHECK(e.path() == path);
  }
  CHECK(open_ids() == before);
}

TEST_CASE("opening a missing file throws io_error", "[negative]") {
  const std::string path = temp_file("does_not_exist.h5");
  CHECK_THROWS_WITH(h5::file::open(path), Catch::Contains(path) && Catch::Contains("cannot open"));
}

TEST_CASE("creating a file in a missing folder throws io_error", "[negative]") {
  const std::string path = temp_file("no_such_folder/out.h5");
  try {
    (void)h5::file::create(path);
    FAIL("no exception");
  } catch (const io_error& e) {
    CHECK(e.path() == path);
    CHECK_THAT(e.what(), Catch::Contains("no_such_folder"));
  }
}

TEST_CASE("creating a file below a regular file throws io_error", "[negative]") {
  const std::string blocker = temp_file("plain_file");
  write_junk(blocker, 10);
  CHECK_THROWS_AS(h5::file::create(blocker + "/out.h5"), io_error);
}

TEST_CASE("creating a file where a folder is throws io_error", "[negative]") {
  // Root may write anywhere, so an unwritable target is made by a folder in the way instead.
  const std::string path = temp_file("a_folder");
  fs::create_directories(path);
  CHECK_THROWS_AS(h5::file::create(path), io_error);
}
