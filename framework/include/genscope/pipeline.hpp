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
};

/// Runs every item of `exp` in build order and writes exp.output.
///
/// Datasets are built, models trained (or reused from exp.model_cache when a
/// model of the same configuration and training data exists) or loaded, then
/// each run streams its probes through sampler -> estimators (in parallel) ->
/// one writer that receives batches in probe order, so the file's contents do
/// not depend on the thread count. Results go to `output + ".partial"`, renamed
/// to `output` only when every run completed; on failure the partial file is
/// kept (every finished batch flushed) and the error is rethrown.
/// Progress goes to `log` (a bar on a terminal, periodic lines otherwise).
GENSCOPE_API void run_experiment(const experiment& exp, const plugin_registry& plugins,
                                 const run_options& options, std::ostream& log);

/// Hash naming a trained model in the cache: SHA-256 over the training
/// configuration and the SHA-256 of its training and test data.
GENSCOPE_API std::string model_cache_key(const train_config& config, const std::string& train_sha256,
                                         const std::string& test_sha256);

}  // namespace genscope
