// Encodes data sets and model files as bytes for MPI's broadcast, and checks them on the way back.
#include "pipeline/shared_inputs.hpp"

#include <genscope/datasets.hpp>
#include <genscope/error.hpp>

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace genscope {

namespace {

class byte_writer {
 public:
  void put(std::uint64_t v) { bytes_.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void put(const std::string& s) {
    put(std::uint64_t{s.size()});
    bytes_ += s;
  }
  template <class T>
  void put(const std::vector<T>& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    put(std::uint64_t{v.size()});
    bytes_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  }
  void put(const matrix& m) {
    put(std::uint64_t{m.rows});
    put(std::uint64_t{m.cols});
    put(m.data);
  }
  std::string take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

class byte_reader {
 public:
  explicit byte_reader(const std::string& bytes) : bytes_(bytes) {}
  std::uint64_t u64() {
    std::uint64_t v = 0;
    std::memcpy(&v, take(sizeof v), sizeof v);
    return v;
  }
  std::string text() {
    const std::uint64_t n = u64();
    return std::string(take(n), n);
  }
  template <class T>
  std::vector<T> vec() {
    const std::uint64_t n = u64();
    if (n > (bytes_.size() - at_) / sizeof(T)) damaged();
    std::vector<T> v(n);
    std::memcpy(v.data(), take(n * sizeof(T)), n * sizeof(T));
    return v;
  }
  matrix mat() {
    matrix m;
    m.rows = u64();
    m.cols = u64();
    m.data = vec<float>();
    if (m.data.size() != m.rows * m.cols) damaged();
    return m;
  }
  bool done() const { return at_ == bytes_.size(); }
  [[noreturn]] static void damaged() { throw error("the inputs received from rank 0 are damaged or truncated"); }

 private:
  const char* take(std::uint64_t n) {
    if (n > bytes_.size() - at_) damaged();
    const char* p = bytes_.data() + at_;
    at_ += n;
    return p;
  }
  const std::string& bytes_;
  std::size_t at_ = 0;
};

std::vector<std::uint64_t> sizes(const std::vector<std::size_t>& v) { return {v.begin(), v.end()}; }

}  // namespace

std::string encode(const shared_inputs& inputs) {
  byte_writer w;
  w.put(std::uint64_t{inputs.datasets.size()});
  for (const auto& [name, d] : inputs.datasets) {
    w.put(name);
    w.put(sizes(d->shape));
    w.put(d->x);
    w.put(d->labels);
    w.put(d->true_labels);
    w.put(static_cast<std::uint64_t>(d->labels_mode));
    w.put(std::vector<double>{d->corruption});
    w.put(std::uint64_t{d->class_count});
    w.put(d->source_index);
    w.put(d->tangent_basis);
    w.put(d->sha256);
    w.put(d->description);
  }
  w.put(std::uint64_t{inputs.model_files.size()});
  for (const auto& [path, bytes] : inputs.model_files) {
    w.put(path);
    w.put(bytes);
  }
  return w.take();
}

shared_inputs decode_shared_inputs(const std::string& bytes) {
  byte_reader r(bytes);
  shared_inputs inputs;
  for (std::uint64_t n = r.u64(); n > 0; --n) {
    auto d = std::make_shared<dataset>();
    d->name = r.text();
    const auto shape = r.vec<std::uint64_t>();
    d->shape.assign(shape.begin(), shape.end());
    d->x = r.mat();
    d->labels = r.vec<std::int32_t>();
    d->true_labels = r.vec<std::int32_t>();
    const std::uint64_t mode = r.u64();
    if (mode > static_cast<std::uint64_t>(label_mode::corrupt)) byte_reader::damaged();
    d->labels_mode = static_cast<label_mode>(mode);
    const auto corruption = r.vec<double>();
    if (corruption.size() != 1) byte_reader::damaged();
    d->corruption = corruption[0];
    d->class_count = r.u64();
    d->source_index = r.vec<std::int64_t>();
    d->tangent_basis = r.mat();
    d->sha256 = r.text();
    d->description = r.text();
    const std::string sent = d->sha256;
    hash_dataset(*d);
    if (d->sha256 != sent) throw error("data set '" + d->name + "' received from rank 0 does not match its sha256");
    inputs.datasets[d->name] = std::move(d);
  }
  for (std::uint64_t n = r.u64(); n > 0; --n) {
    std::string path = r.text();
    inputs.model_files[path] = r.text();
  }
  if (!r.done()) byte_reader::damaged();
  return inputs;
}

}  // namespace genscope
