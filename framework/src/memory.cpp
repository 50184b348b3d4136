// The memory budget for one array: an explicit limit, the cgroup's, the rlimits' or the machine's.
#include <genscope/error.hpp>
#include <genscope/memory.hpp>

#include <fmt/format.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>

#include <sys/resource.h>
#include <unistd.h>

namespace genscope {

namespace {

std::string bytes_text(long double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB", "PB", "EB"};
  int u = 0;
  while (b >= 1024 && u < 6) {
    b /= 1024;
    ++u;
  }
  return fmt::format("{:.1f} {}", static_cast<double>(b), units[u]);
}

std::uint64_t parse_limit(const std::string& text) {
  std::size_t end = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(text, &end);
  } catch (const std::exception&) {
    end = 0;
  }
  unsigned shift = 0;
  if (end > 0 && end + 1 == text.size()) {
    switch (std::toupper(static_cast<unsigned char>(text[end]))) {
      case 'K': shift = 10; break;
      case 'M': shift = 20; break;
      case 'G': shift = 30; break;
      case 'T': shift = 40; break;
      default: end = 0;
    }
    if (end > 0) ++end;
  }
  if (end == 0 || end != text.size() || v == 0 || v > (std::numeric_limits<std::uint64_t>::max() >> shift))
    throw error("GENSCOPE_MEMORY_LIMIT = '" + text + "' is not a positive number of bytes (e.g. 8G, 512M)");
  return static_cast<std::uint64_t>(v) << shift;
}

/// memory.max of this process's cgroup (v2), 0 when there is none or it is "max".
std::uint64_t cgroup_limit() {
  std::ifstream self("/proc/self/cgroup");
  std::string line, path;
  while (std::getline(self, line))
    if (line.rfind("0::", 0) == 0) path = line.substr(3);
  if (path.empty()) return 0;
  std::ifstream max("/sys/fs/cgroup" + path + "/memory.max");
  std::string value;
  if (!(max >> value) || value == "max") return 0;
  try {
    return std::stoull(value);
  } catch (const std::exception&) {
    return 0;
  }
}

memory_budget_info compute_budget() {
  if (const char* env = std::getenv("GENSCOPE_MEMORY_LIMIT")) return {parse_limit(env), "GENSCOPE_MEMORY_LIMIT"};
  memory_budget_info b;
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGESIZE);
  b.bytes = pages > 0 && page > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page)
                                  : std::numeric_limits<std::uint64_t>::max();
  b.source = "physical memory";
  const auto lower = [&](std::uint64_t limit, const char* source) {
    if (limit > 0 && limit < b.bytes) b = {limit, source};
  };
  lower(cgroup_limit(), "the cgroup memory limit");
  for (const auto& [resource, name] : {std::pair{RLIMIT_AS, "RLIMIT_AS"}, std::pair{RLIMIT_DATA, "RLIMIT_DATA"}}) {
    rlimit r{};
    if (::getrlimit(resource, &r) == 0 && r.rlim_cur != RLIM_INFINITY) lower(r.rlim_cur, name);
  }
  return b;
}

}  // namespace

const memory_budget_info& memory_budget() {
  static const memory_budget_info budget = compute_budget();
  return budget;
}

void check_allocation(std::uint64_t count, std::size_t element_size, const std::string& what) {
  const memory_budget_info& budget = memory_budget();
  const long double bytes = static_cast<long double>(count) * static_cast<long double>(element_size);
  if (bytes <= static_cast<long double>(budget.bytes)) return;
  const bool explicit_limit = budget.source == "GENSCOPE_MEMORY_LIMIT";
  throw error(fmt::format("{} needs {} values of {} bytes ({}), more than the {} one array may take ({}{})", what,
                          count, element_size, bytes_text(bytes), bytes_text(budget.bytes), budget.source,
                          explicit_limit ? "" : "; set GENSCOPE_MEMORY_LIMIT to change it"));
}

}  // namespace genscope
