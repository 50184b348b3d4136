// `genscope slurm`: the bash script that submits an experiment to Slurm as training, an array job and a merge.
#pragma once

#include <genscope/experiment.hpp>

#include <cstddef>
#include <string>

namespace genscope {

/// What the script submits, and the resources each job asks for.
struct slurm_job {
  experiment exp;                  ///< validated; exp.output is the merged results file
  std::size_t tasks = 0;           ///< array tasks: task I computes shard I of `tasks`
  std::size_t cpus_per_task = 2;   ///< Slurm's --cpus-per-task, and each task's worker threads
  std::string time = "01:00:00";   ///< Slurm's --time of each job
  std::string memory = "4G";       ///< Slurm's --mem of the training job and of each array task
  /// Slurm's --mem of the merge job, which holds the whole results in memory (about twice their size)
  std::string merge_memory = "8G";
  std::string partition;           ///< Slurm's --partition ("": the cluster's default)
  std::string account;             ///< Slurm's --account ("": the user's default)
  std::string log_folder = "slurm-logs";  ///< the jobs' output files, relative to the working folder
};

/// The script: run with bash on a machine with sbatch, it submits three jobs, each after the one before has
/// succeeded (afterok; a failed one cancels those after it): `genscope run --train-only` (the models, once,
/// into the model cache), an array of `tasks` tasks of `genscope run --resume` (each its own shard, from
/// SLURM_ARRAY_TASK_ID) and `genscope merge` of the shards into exp.output. Paths are absolute (the
/// experiment, results, working folder and this genscope binary) and single-quoted for the shell.
std::string slurm_script(const slurm_job& job);

/// Writes `text` to `path` atomically and makes it executable; throws io_error naming `path`.
void write_script(const std::string& path, const std::string& text);

}  // namespace genscope
