// Writes the sbatch submission script of an experiment: training job, array job of shards, dependent merge.
#include "cluster/slurm_script.hpp"

#include "durable/durable.hpp"

#include <genscope/error.hpp>
#include <genscope/shards.hpp>
#include <genscope/version.hpp>

#include <fmt/format.h>

#include <filesystem>

#include <sys/stat.h>

namespace genscope {

namespace {

namespace fs = std::filesystem;

/// `text` single-quoted for bash: every byte literal.
std::string quoted(const std::string& text) {
  std::string q = "'";
  for (const char ch : text) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return q + "'";
}

std::string absolute(const std::string& path) { return fs::absolute(path).lexically_normal().string(); }

/// `path` for sbatch's --output, where % starts a pattern (%j: the job id): a literal % is %%.
std::string literal_percent(const std::string& path) {
  std::string out;
  for (const char ch : path) out += ch == '%' ? std::string("%%") : std::string(1, ch);
  return out;
}

}  // namespace

std::string slurm_script(const slurm_job& job) {
  const std::string genscope = quoted(fs::read_symlink("/proc/self/exe").string());
  const std::string exp = quoted(absolute(job.exp.file));
  const std::string output = absolute(job.exp.output);
  const std::string threads = std::to_string(job.cpus_per_task);
  const std::string logs = absolute(job.log_folder);
  std::string placement;
  if (!job.partition.empty()) placement += " --partition=" + quoted(job.partition);
  if (!job.account.empty()) placement += " --account=" + quoted(job.account);
  const std::string resources = fmt::format("--cpus-per-task={} --time={} --mem={}{}", job.cpus_per_task,
                                            quoted(job.time), quoted(job.memory), placement);
  const std::string merge_resources = fmt::format("--cpus-per-task=1 --time={} --mem={}{}", quoted(job.time),
                                                  quoted(job.merge_memory), placement);
  // The shard files, by bash brace expansion in the merge job: the stem quoted, the braces not.
  const std::string first_shard = shard_path(output, shard{0, job.tasks});
  const std::string suffix = fmt::format(".shard-0-of-{}.h5", job.tasks);
  const std::string stem = first_shard.substr(0, first_shard.size() - suffix.size());
  const std::string shards = fmt::format("{}.shard-{{0..{}}}-of-{}.h5", quoted(stem), job.tasks - 1, job.tasks);
  const std::string name = fs::path(job.exp.file).stem().string();
  return fmt::format(
      R"(#!/bin/bash
# Submits the GenScope experiment {exp} to Slurm: the models trained once, {tasks} array tasks (one shard each),
# then their merge into {output_q}. Written by `genscope slurm` (GenScope {version}); run it where sbatch works:
#   bash THIS_SCRIPT
set -euo pipefail
cd {workdir}
mkdir -p {logs}

# 1. Data sets and models, once: trained models go to the model cache that every task then reads.
train=$(sbatch --parsable --job-name={job_train} {resources} --output={log_files}/train-%j.log <<'JOB'
#!/bin/bash
exec {genscope} run {exp} -o {output_q} --train-only --threads {threads}
JOB
)

# 2. The shards: task I computes shard I of {tasks} into its own file; a task run again continues its partial file.
array=$(sbatch --parsable --job-name={job_shards} {resources} --array=0-{last} --dependency=afterok:$train \
  --kill-on-invalid-dep=yes --output={log_files}/shard-%A_%a.log <<'JOB'
#!/bin/bash
exec {genscope} run {exp} -o {output_q} --shard slurm --resume --threads {threads}
JOB
)

# 3. The merge, once every task succeeded: the results one process would have written (the shards are kept).
merge=$(sbatch --parsable --job-name={job_merge} {merge_resources} --dependency=afterok:$array --kill-on-invalid-dep=yes \
  --output={log_files}/merge-%j.log <<'JOB'
#!/bin/bash
exec {genscope} merge {shards} -o {output_q}
JOB
)

echo "submitted: training $train, {tasks} shards $array, merge $merge; results:" {output_q}
echo "watch with: squeue -j $train,$array,$merge"
)",
      fmt::arg("exp", exp), fmt::arg("tasks", job.tasks), fmt::arg("output_q", quoted(output)),
      fmt::arg("version", version()),
      fmt::arg("workdir", quoted(fs::current_path().string())), fmt::arg("logs", quoted(logs)), fmt::arg("log_files", quoted(literal_percent(logs))),
      fmt::arg("job_train", quoted("genscope-train-" + name)), fmt::arg("job_shards", quoted("genscope-" + name)),
      fmt::arg("job_merge", quoted("genscope-merge-" + name)), fmt::arg("resources", resources), fmt::arg("merge_resources", merge_resources),
      fmt::arg("genscope", genscope), fmt::arg("threads", threads), fmt::arg("last", job.tasks - 1),
      fmt::arg("shards", shards));
}

void write_script(const std::string& path, const std::string& text) {
  durable::replace_file(path, text.data(), text.size());
  if (::chmod(path.c_str(), 0755) != 0) throw io_error(path, "cannot make the script executable");
}

}  // namespace genscope
