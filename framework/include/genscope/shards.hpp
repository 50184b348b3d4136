// Splitting one experiment's work across processes (Slurm array tasks, MPI ranks) and merging their results.
#pragma once

#include <genscope/error.hpp>
#include <genscope/export.hpp>

#include <cstddef>
#include <functional>
#include <iosfwd>
#include <optional>
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
  bool whole() const noexcept { return count == 1; }
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

/// The processes of one job that share an experiment (MPI ranks): run_experiment gives rank r the shard
/// r/size, builds data sets and trains models on rank 0 only, and writes one results file from rank 0.
/// Every call is collective: every rank makes the same calls in the same order.
class GENSCOPE_API rank_group {
 public:
  virtual ~rank_group() = default;
  virtual std::size_t rank() const = 0;
  virtual std::size_t size() const = 0;
  /// Rank 0's `size` bytes at `data` into `data` on every rank, which holds as many (read only on rank 0).
  virtual void broadcast_bytes(void* data, std::size_t size) const = 0;
  /// Rank 0's `bytes` on every rank.
  void broadcast(std::string& bytes) const;
  /// Every rank's `bytes`, in rank order, on rank 0; empty on the other ranks.
  virtual std::vector<std::string> gather(const std::string& bytes) const = 0;
  /// Every rank's `bytes`, in rank order, on every rank.
  virtual std::vector<std::string> all_gather(const std::string& bytes) const = 0;
  /// Ends every rank of the job now with `code`: for a failure on one rank while the others wait in a collective.
  [[noreturn]] virtual void abort(int code) const = 0;
};

/// What every rank but 0 throws when a rank_group's job fails: rank 0 reports the failure, naming the rank.
class GENSCOPE_API failed_elsewhere : public error {
 public:
  failed_elsewhere();
  ~failed_elsewhere() override;
};

/// What rank 0 throws when a rank_group's job fails on some rank, every rank knowing it.
class GENSCOPE_API rank_failure : public error {
 public:
  using error::error;
  ~rank_failure() override;
};

/// Runs `step` on every rank of `ranks`; when it threw on any rank, throws on every rank: on rank 0 a
/// rank_failure "rank R of N: MESSAGE" for the first rank that failed (saying how many others failed),
/// failed_elsewhere on the others. Collective.
GENSCOPE_API void on_every_rank(const rank_group& ranks, const std::function<void()>& step);

/// Writes `output`: the results file one process would have written, from the results files of every shard of
/// one experiment (shard_path's files, any order). Columns are concatenated in shard order (ragged indices
/// offset), provenance and attributes come from shard 0, and the work times (the *seconds attributes) are summed
/// over shards. Refused with an error naming the files, before anything is written: a missing, duplicate or
/// unfinished shard, shards of another experiment or shard count, a file that is not a shard, shards that
/// disagree on a data set or model digest, and an `output` that exists.
GENSCOPE_API void merge_shards(const std::vector<std::string>& shard_files, const std::string& output,
                               std::ostream& log, bool quiet = false);

}  // namespace genscope
