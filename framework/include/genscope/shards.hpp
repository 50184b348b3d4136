// Splitting one experiment's work into shards (Slurm array tasks, MPI ranks) and merging their results.
#pragma once

#include <genscope/export.hpp>

#include <cstddef>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace genscope {

/// Shard `index` of `count`: the part of every run's probes and every analysis table's rows that one process
/// computes. Rows depend only on the seed and their index, so the shards' rows, concatenated in shard order,
/// are the rows one process computes (docs/cluster.md).
struct shard {
  std::size_t index = 0;
  std::size_t count = 1;
  bool operator==(const shard&) const = default;
};

/// Parses "I/N" (0 <= I < N, N >= 1, decimal digits); throws error naming `what` (e.g. "--shard") otherwise.
GENSCOPE_API shard parse_shard(std::string_view text, const std::string& what);

/// The shard of a Slurm array task submitted as --array=0-(N-1): SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT,
/// read through `getenv`. Throws error naming the variable when one is unset or malformed, and when the array
/// is not 0 to N-1 in steps of 1 (SLURM_ARRAY_TASK_MIN, _MAX and _STEP, when set): a step leaves shards
/// uncomputed, and a task rerun alone (--array=3) is array 3-3 of one task, which must say --shard 3/N.
GENSCOPE_API shard slurm_array_shard(const std::function<const char*(const char*)>& getenv);

/// The batches [first, last) of `batches` that `s` computes: contiguous blocks whose sizes differ by at most
/// one, in shard order, covering every batch exactly once.
GENSCOPE_API std::pair<std::size_t, std::size_t> shard_batches(const shard& s, std::size_t batches);

/// The results file of shard `s` of the results `output`: "out/x.h5" -> "out/x.shard-3-of-8.h5".
GENSCOPE_API std::string shard_path(const std::string& output, const shard& s);

/// The results a shard file is part of, by its name: "out/x.shard-3-of-8.h5" -> "out/x.h5"; "" when the name is
/// not a shard_path.
GENSCOPE_API std::string whole_output(const std::string& shard_file);

/// Writes `output`: the results file one process would have written, from the results files of every shard of
/// one experiment (shard_path's files, any order). Columns are concatenated in shard order (ragged indices
/// offset), provenance and attributes come from shard 0, and the work times (the *seconds attributes) are summed
/// over shards. Refused with an error naming the files, before anything is written: a missing, duplicate or
/// unfinished shard, shards of another experiment or shard count, a file that is not a shard (or not HDF5),
/// shards that disagree on the software (results format, GenScope version and commit, plugins and their
/// versions), on a data set or model digest or on their tables, and an `output` that exists. One shard file is
/// open at a time.
GENSCOPE_API void merge_shards(const std::vector<std::string>& shard_files, const std::string& output,
                               std::ostream& log, bool quiet = false);

}  // namespace genscope
