// Deterministic random numbers keyed by (seed, stream, index): the same probe, sample or
// weight gets the same numbers whatever the batching, thread count or process split.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <string_view>

namespace genscope {

/// SplitMix64 finalizer: a bijective 64-bit mixer.
constexpr std::uint64_t mix64(std::uint64_t z) noexcept {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// Small fast generator (xoshiro256**) seeded from a key. Use one per probe /
/// sample / parameter tensor, keyed by what it is for, never shared across threads.
class rng {
 public:
  /// `stream` separates uses (e.g. a hash of "pairwise"), `index` the item within it.
  explicit rng(std::uint64_t seed, std::uint64_t stream = 0, std::uint64_t index = 0) noexcept {
    std::uint64_t k = mix64(mix64(seed) ^ mix64(stream + 0x632be59bd9b4e019ull) ^ (index * 0xd1342543de82ef95ull));
    for (auto& w : s_) w = k = mix64(k);
  }

  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  /// Uniform integer in [0, n), n > 0, without modulo bias (Lemire's method).
  std::uint64_t below(std::uint64_t n) noexcept {
    __extension__ typedef unsigned __int128 u128;  // __extension__: silent under -Wpedantic
    u128 m = static_cast<u128>(next()) * n;
    auto low = static_cast<std::uint64_t>(m);
    if (low < n) {
      const std::uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<u128>(next()) * n;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }

  /// Uniform double in [0, 1).
  double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  /// Standard normal (Box-Muller; both values of a pair are used).
  double normal() noexcept {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = 0;
    while (u1 <= 0) u1 = uniform();
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
    has_spare_ = true;
    return r * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
  double spare_ = 0;
  bool has_spare_ = false;
};

/// Stable 64-bit key of a short name (FNV-1a), for rng streams.
constexpr std::uint64_t stream_key(std::string_view name) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : name) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return h;
}

}  // namespace genscope
