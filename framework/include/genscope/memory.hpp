// How much memory one array may take, so a hostile or mistaken size is refused by name, not by the OOM killer.
#pragma once

#include <genscope/export.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace genscope {

/// The memory GenScope lets one array take, in bytes, and where that figure comes from.
struct memory_budget_info {
  std::uint64_t bytes = 0;
  std::string source;  ///< "GENSCOPE_MEMORY_LIMIT", "the cgroup memory limit", "RLIMIT_AS", "physical memory"
};

/// GENSCOPE_MEMORY_LIMIT when set (bytes, or a number with a K, M, G or T suffix: powers of 1024),
/// else the smallest of the machine's physical memory, the cgroup v2 memory.max of this process (a
/// Slurm job's --mem) and the RLIMIT_AS / RLIMIT_DATA limits. Read once. A malformed
/// GENSCOPE_MEMORY_LIMIT throws error naming it.
GENSCOPE_API const memory_budget_info& memory_budget();

/// Throws error "WHAT needs N values of B bytes (X GB), more than the Y GB one array may take (SOURCE)"
/// when `count` elements of `element_size` bytes overflow or exceed memory_budget(). Called before
/// allocating anything whose size comes from a file or an experiment.
GENSCOPE_API void check_allocation(std::uint64_t count, std::size_t element_size, const std::string& what);

}  // namespace genscope
