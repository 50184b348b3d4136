// Executing a validated experiment: data, models, then each run as a oneTBB flow graph.
#pragma once

#include <genscope/experiment.hpp>
#include <genscope/export.hpp>
#include <genscope/plugin_registry.hpp>

#include <cstddef>
#include <iosfwd>
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
