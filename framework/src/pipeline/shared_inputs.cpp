// Broadcasts data sets and model files from rank 0: a byte header, then each array in place.
#include "pipeline/shared_inputs.hpp"

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

/// Calls f on each array of a data set, in the order they travel.
template <class Dataset, class F>
void for_each_array(Dataset& d, F&& f) {
  f(d.x.data);
  f(d.labels);
  f(d.true_labels);
  f(d.source_index);
  f(d.tangent_basis.data);
}

}  // namespace

shared_inputs share_inputs(const rank_group& ranks, const shared_inputs& inputs) {
  const bool root = ranks.rank() == 0;
  std::string header;
  if (root) {
    byte_writer w;
    w.put(std::uint64_t{inputs.datasets.size()});
    for (const auto& [name, d] : inputs.datasets) {
      w.put(name);
      w.put(std::uint64_t{d->shape.size()});
      for (const std::size_t s : d->shape) w.put(std::uint64_t{s});
      w.put(std::uint64_t{d->x.rows});
      w.put(std::uint64_t{d->x.cols});
      w.put(std::uint64_t{d->tangent_basis.rows});
      w.put(std::uint64_t{d->tangent_basis.cols});
      for_each_array(*d, [&](const auto& v) { w.put(std::uint64_t{v.size()}); });
      w.put(static_cast<std::uint64_t>(d->labels_mode));
      std::uint64_t corruption = 0;
      std::memcpy(&corruption, &d->corruption, sizeof corruption);
      w.put(corruption);
      w.put(std::uint64_t{d->class_count});
      w.put(d->sha256);
      w.put(d->description);
    }
    w.put(std::uint64_t{inputs.model_files.size()});
    for (const auto& [path, bytes] : inputs.model_files) {
      w.put(path);
      w.put(bytes);
    }
    header = w.take();
  }
  ranks.broadcast(header);
  // Every rank lays out the same data sets (rank 0: its own, read only), then the arrays travel in place.
  std::vector<const dataset*> order;
  shared_inputs out;
  byte_reader r(header);
  for (std::uint64_t n = r.u64(); n > 0; --n) {
    const std::string name = r.text();
    auto d = std::make_shared<dataset>();
    d->name = name;
    for (std::uint64_t k = r.u64(); k > 0; --k) d->shape.push_back(r.u64());
    d->x.rows = r.u64();
    d->x.cols = r.u64();
    d->tangent_basis.rows = r.u64();
    d->tangent_basis.cols = r.u64();
    for_each_array(*d, [&](auto& v) {
      const std::uint64_t size = r.u64();
      if (!root) v.resize(size);
    });
    const std::uint64_t mode = r.u64();
    if (mode > static_cast<std::uint64_t>(label_mode::corrupt)) byte_reader::damaged();
    d->labels_mode = static_cast<label_mode>(mode);
    const std::uint64_t corruption = r.u64();
    std::memcpy(&d->corruption, &corruption, sizeof corruption);
    d->class_count = r.u64();
    d->sha256 = r.text();
    d->description = r.text();
    if (!root && (d->x.data.size() != d->x.rows * d->x.cols ||
                  d->tangent_basis.data.size() != d->tangent_basis.rows * d->tangent_basis.cols))
      byte_reader::damaged();
    if (root) {
      order.push_back(inputs.datasets.at(name).get());
      out.datasets[name] = inputs.datasets.at(name);
    } else {
      order.push_back(d.get());
      out.datasets[name] = d;
    }
  }
  for (std::uint64_t n = r.u64(); n > 0; --n) {
    std::string path = r.text();
    out.model_files[path] = r.text();
  }
  if (!r.done()) byte_reader::damaged();
  // On rank 0 the arrays are its own data sets', which MPI only reads there.
  for (const dataset* d : order)
    for_each_array(*const_cast<dataset*>(d), [&](auto& v) {
      using T = typename std::decay_t<decltype(v)>::value_type;
      static_assert(std::is_trivially_copyable_v<T>);
      ranks.broadcast_bytes(v.data(), v.size() * sizeof(T));
    });
  return out;
}

}  // namespace genscope
