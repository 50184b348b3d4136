// What every rank_group does with its transport: strings broadcast and gathered, failures agreed on.
#include <genscope/ranks.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <cstring>

namespace genscope {

failed_elsewhere::failed_elsewhere() : error("failed on another rank, which rank 0 reports") {}
failed_elsewhere::~failed_elsewhere() = default;
rank_failure::~rank_failure() = default;

void rank_group::broadcast(std::string& bytes) const {
  std::uint64_t size = bytes.size();
  broadcast_bytes(&size, sizeof size);
  bytes.resize(size);
  broadcast_bytes(bytes.data(), size);
}

std::vector<std::string> rank_group::all_gather(const std::string& bytes) const {
  // Rank 0 gathers, then broadcasts the sizes and bytes of all of them as one string.
  std::string packed;
  for (const std::string& s : gather(bytes)) {
    const std::uint64_t n = s.size();
    packed.append(reinterpret_cast<const char*>(&n), sizeof n);
    packed += s;
  }
  broadcast(packed);
  std::vector<std::string> all;
  for (std::size_t at = 0; at < packed.size();) {
    std::uint64_t n = 0;
    std::memcpy(&n, packed.data() + at, sizeof n);
    all.push_back(packed.substr(at + sizeof n, n));
    at += sizeof n + n;
  }
  return all;
}

void on_every_rank(const rank_group& ranks, const std::function<void()>& step) {
  std::string failure;
  try {
    step();
  } catch (const std::exception& e) {
    failure = describe(e);
    if (failure.empty()) failure = "failed";
  } catch (...) {
    failure = "threw an exception that is not a std::exception";
  }
  const std::vector<std::string> all = ranks.all_gather(failure);
  std::vector<std::size_t> failed;
  for (std::size_t r = 0; r < all.size(); ++r)
    if (!all[r].empty()) failed.push_back(r);
  if (failed.empty()) return;
  if (ranks.rank() != 0) throw failed_elsewhere();
  const std::size_t first = failed.front();
  const std::string others = failed.size() == 1 ? std::string()
                             : failed.size() == all.size()
                                 ? fmt::format(" (every rank failed; rank {}'s error is shown)", first)
                                 : fmt::format(" ({} other ranks failed too)", failed.size() - 1);
  throw rank_failure(fmt::format("rank {} of {}: {}{}", first, all.size(), all[first], others));
}

}  // namespace genscope
