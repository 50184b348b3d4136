// Executing a validated experiment: data, models, then each run as a oneTBB flow graph.
#pragma once

#include <genscope/experiment.hpp>
#include <genscope/export.hpp>
#include <genscope/plugin_registry.hpp>
#include <genscope/ranks.hpp>
#include <genscope/shards.hpp>

#include <cstddef>
#include <iosfwd>
#include <optional>
#include <string>

namespace genscope {

struct run_options {
  bool quiet = false;                 ///< no progress output (errors still reach the caller)
  std::size_t batches_in_flight = 0;  ///< bound on probe batches in memory (0: 4 per worker thread)
  /// Continue output + ".partial" (what an interrupted run saved) instead of starting afresh.
  bool resume = false;
  /// Save the results so far (output + ".partial") at most this often, in seconds of work; also at
  /// the end of every run and analysis table. 0 saves after every batch.
  double checkpoint_seconds = 5;
  /// Computes only this shard of every run and analysis table (a Slurm array task): exp.output is then the
  /// shard's file (shard_path), whose root records shard_index and shard_count and whose tables record
  /// shard_first_row and shard_total_rows; merge_shards combines the shards. The whole experiment by default.
  std::optional<shard> part;
  /// The ranks of an MPI job, or null for one process. With more than one rank, rank r computes shard r
  /// while rank 0 alone builds the data sets and trains the models, which it sends to the others, and
  /// writes exp.output; each rank checkpoints to its shard file's partial file (shard_path + ".partial"), which
  /// --resume continues with the same number of ranks. Progress and errors print on rank 0 only: a failure
  /// on any rank fails every rank, rank 0's error naming the rank; the others throw failed_elsewhere.
  const rank_group* ranks = nullptr;
  /// Builds the data sets and trains (or loads) the models, then stops without writing results: the step
  /// before an array job's tasks, which then share the trained models of the cache.
  bool train_only = false;
};

/// Runs every item of `exp` in build order and writes exp.output.
///
/// Datasets are built, models trained (or reused from exp.model_cache when a
/// model of the same configuration and training data exists) or loaded, then
/// each run streams its probes through sampler -> estimators (in parallel) ->
/// one writer that receives batches in probe order, so the file's contents do
/// not depend on the thread count. The results so far are saved atomically to
/// `output + ".partial"` every options.checkpoint_seconds and after every run (a
/// crash loses at most the work since), and `output` is written only when every
/// run completed. On failure or a stop signal (install_stop_handlers) the results
/// so far are saved to the partial file, and the error, rethrown as one line,
/// says how to continue. With options.resume the partial file is continued: its
/// finished runs and analyses are kept, the interrupted one continues after its
/// last saved batch, and the final file equals an uninterrupted run's (timing and
/// host attributes aside). Refused, before any work: resuming after the
/// experiment, a data set or a model changed (naming what); starting afresh while
/// a partial file exists; a second process writing the same output.
/// Progress goes to `log` (a bar on a terminal, periodic lines otherwise).
GENSCOPE_API void run_experiment(const experiment& exp, const plugin_registry& plugins,
                                 const run_options& options, std::ostream& log);

}  // namespace genscope
