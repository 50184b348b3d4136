// The processes of one MPI job that share an experiment, and how they agree on a failure.
#pragma once

#include <genscope/error.hpp>
#include <genscope/export.hpp>

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace genscope {

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
  std::vector<std::string> all_gather(const std::string& bytes) const;
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

}  // namespace genscope
