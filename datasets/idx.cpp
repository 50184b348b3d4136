// Reading MNIST-format IDX files, raw or gzip-compressed (detected by content), with strict checks.
#include <genscope/datasets.hpp>
#include <genscope/error.hpp>

#include "loaders.hpp"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace genscope {

namespace {

struct idx_header {
  std::vector<std::size_t> dims;
  std::size_t count = 0;  // product of dims: the number of values
};

constexpr std::size_t block_size = 1 << 16;
// Values read (and allocated) at a time.
constexpr std::size_t read_chunk = std::size_t{1} << 24;
constexpr unsigned char idx_ubyte = 0x08;

std::string hex_byte(unsigned v) {
  static const char digits[] = "0123456789abcdef";
  return {'0', 'x', digits[(v >> 4) & 0xf], digits[v & 0xf]};
}

// The bytes of a file, inflated on the fly when it starts with the gzip magic 0x1f 0x8b.
class byte_source {
 public:
  explicit byte_source(std::string path) : path_(std::move(path)), in_(block_size) {
    file_ = std::fopen(path_.c_str(), "rb");
    if (file_ == nullptr) {
      const int err = errno;
      throw io_error(path_, err == ENOENT ? std::string("cannot open: no such file")
                                          : "cannot open: " + std::string(std::strerror(err)));
    }
    refill();
    gzip_ = have_ >= 2 && in_[0] == 0x1f && in_[1] == 0x8b;
    if (gzip_) {
      stream_.next_in = in_.data();
      stream_.avail_in = static_cast<uInt>(have_);
      if (inflateInit2(&stream_, 16 + MAX_WBITS) != Z_OK) throw io_error(path_, "cannot start gzip decompression");
      inflating_ = true;
    }
  }
  byte_source(const byte_source&) = delete;
  byte_source& operator=(const byte_source&) = delete;
  ~byte_source() {
    if (inflating_) inflateEnd(&stream_);
    std::fclose(file_);
  }

  bool gzip() const noexcept { return gzip_; }
  const std::string& path() const noexcept { return path_; }

  /// Reads up to n bytes; fewer only at the end of the data.
  std::size_t read(std::uint8_t* out, std::size_t n) { return gzip_ ? inflate_some(out, n) : read_raw(out, n); }

 private:
  void refill() {
    have_ = std::fread(in_.data(), 1, in_.size(), file_);
    pos_ = 0;
    if (have_ < in_.size() && std::ferror(file_) != 0)
      throw io_error(path_, "cannot read: " + std::string(std::strerror(errno)));
  }

  std::size_t read_raw(std::uint8_t* out, std::size_t n) {
    std::size_t got = 0;
    while (got < n) {
      if (pos_ == have_) {
        refill();
        if (have_ == 0) break;
      }
      const std::size_t k = std::min(n - got, have_ - pos_);
      std::memcpy(out + got, in_.data() + pos_, k);
      pos_ += k;
      got += k;
    }
    return got;
  }

  std::size_t inflate_some(std::uint8_t* out, std::size_t n) {
    std::size_t got = 0;
    while (got < n && !finished_) {
      if (stream_.avail_in == 0) {
        refill();
        stream_.next_in = in_.data();
        stream_.avail_in = static_cast<uInt>(have_);
      }
      if (member_ended_) {
        // After a complete gzip member: end of file, another member, or garbage.
        if (stream_.avail_in == 0) {
          finished_ = true;
          break;
        }
        if (stream_.next_in[0] != 0x1f) throw io_error(path_, "trailing bytes after the gzip data");
        inflateReset(&stream_);
        member_ended_ = false;
      }
      const bool no_input = stream_.avail_in == 0;
      const std::size_t want = std::min<std::size_t>(n - got, std::numeric_limits<uInt>::max());
      stream_.next_out = out + got;
      stream_.avail_out = static_cast<uInt>(want);
      const int ret = inflate(&stream_, Z_NO_FLUSH);
      got += want - stream_.avail_out;
      if (ret == Z_STREAM_END) {
        member_ended_ = true;
      } else if (ret == Z_BUF_ERROR) {
        // No progress possible: the file ended inside a compressed stream.
        if (no_input) throw io_error(path_, "truncated gzip data (the file ends inside the compressed stream)");
      } else if (ret != Z_OK) {
        const std::string why = stream_.msg != nullptr ? stream_.msg : "zlib error " + std::to_string(ret);
        throw io_error(path_, "corrupt gzip data (" + why + ")");
      }
    }
    return got;
  }

  std::string path_;
  std::FILE* file_ = nullptr;
  std::vector<std::uint8_t> in_;
  std::size_t have_ = 0;
  std::size_t pos_ = 0;
  bool gzip_ = false;
  bool inflating_ = false;
  bool member_ended_ = false;
  bool finished_ = false;
  z_stream stream_{};
};

idx_header parse_header(byte_source& src) {
  std::uint8_t magic[4] = {};
  const std::size_t got = src.read(magic, 4);
  if (got < 4) throw io_error(src.path(), "not an IDX file (shorter than the 4-byte magic number)");
  if (magic[0] != 0 || magic[1] != 0 || magic[3] == 0)
    throw io_error(src.path(), "not an IDX file (bad magic number " + hex_byte(magic[0]) +
                                   hex_byte(magic[1]).substr(2) + hex_byte(magic[2]).substr(2) +
                                   hex_byte(magic[3]).substr(2) + ")");
  if (magic[2] != idx_ubyte)
    throw io_error(src.path(), "unsupported IDX element type " + hex_byte(magic[2]) + " (only unsigned byte 0x08)");
  idx_header h;
  h.count = 1;
  for (unsigned d = 0; d < magic[3]; ++d) {
    std::uint8_t b[4] = {};
    if (src.read(b, 4) < 4)
      throw io_error(src.path(), "truncated IDX header (missing dimension " + std::to_string(d) + ")");
    const std::size_t dim = (std::size_t{b[0]} << 24) | (std::size_t{b[1]} << 16) | (std::size_t{b[2]} << 8) | b[3];
    h.dims.push_back(dim);
    // 2^40 bytes is far beyond any data set this reads; refusing it keeps the product from overflowing.
    if (dim != 0 && h.count > (std::size_t{1} << 40) / dim) throw io_error(src.path(), "IDX dimensions too large");
    h.count *= dim;
  }
  return h;
}

}  // namespace

namespace detail {

std::vector<std::size_t> read_idx_dims(const std::string& path) {
  byte_source src(path);
  return parse_header(src).dims;
}

}  // namespace detail

idx_array read_idx(const std::string& path) {
  byte_source src(path);
  const idx_header h = parse_header(src);
  idx_array out;
  out.dims = h.dims;
  // The header's count is a claim, not a size to allocate: the values grow with what the file really holds,
  // so a small file announcing billions of values fails as truncated without taking that memory.
  std::size_t got = 0;
  while (got < h.count) {
    const std::size_t want = std::min(h.count - got, read_chunk);
    out.values.resize(got + want);
    const std::size_t n = src.read(out.values.data() + got, want);
    got += n;
    if (n < want) break;
  }
  out.values.resize(got);
  if (got < h.count)
    throw io_error(path, "truncated IDX data: header announces " + std::to_string(h.count) + " values, found " +
                             std::to_string(got));
  std::uint8_t extra = 0;
  if (src.read(&extra, 1) != 0)
    throw io_error(path, "trailing data after the " + std::to_string(h.count) + " values the IDX header announces");
  return out;
}

}  // namespace genscope
