// genscope: the command-line front end (run, train, plugins, inspect, report).
#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/experiment.hpp>
#include <genscope/mlp.hpp>
#include <genscope/network_graph.hpp>
#include <genscope/onnx_import.hpp>
#include <genscope/pipeline.hpp>
#include <genscope/plugin_registry.hpp>
#include <genscope/ranks.hpp>
#include <genscope/shards.hpp>
#include <genscope/version.hpp>

#include "cluster/mpi_ranks.hpp"
#include "cluster/slurm_script.hpp"
#include "durable/stop_request.hpp"
#include "inspect/summary.hpp"
#include "report/report.hpp"

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <oneapi/tbb/global_control.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <charconv>
#include <cmath>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

namespace po = boost::program_options;
using namespace genscope;

namespace {

/// A command-line mistake: reported with a hint to --help, exit code 2.
struct usage_error : genscope::error {
  using genscope::error::error;
};

constexpr const char* overview = R"(genscope: generalization intervals of trained ReLU networks

usage: genscope <command> [options]

commands:
  run FILE          run an experiment file (docs/experiment-format.md); under mpirun, split over the ranks
  merge SHARDS...   combine the shard files of `run --shard I/N` (Slurm array tasks) into one results file
  slurm FILE        write a script that submits the experiment to Slurm: training, an array job, the merge
  train             train a native MLP on an IDX data set and save it (docs/model-format.md)
  import MODEL.onnx convert an ONNX network (torch.onnx.export) into a native model file
  plugins           list the plugins found, with their options
  inspect RESULTS   summary of a results file per run and direction kind, and per analysis table
  report RESULTS    HTML report with figures (gnuplot), CSV tables and statistics (docs/report.md)

`genscope <command> --help` describes each command's options.
)";

/// Parses `args` against `desc` (+ positional), printing help when asked (unless `quiet`: MPI ranks but 0).
/// Returns false after help.
bool parse(const std::vector<std::string>& args, const po::options_description& desc,
           const po::positional_options_description& pos, po::variables_map& vm, const std::string& usage,
           bool quiet = false) {
  try {
    po::store(po::command_line_parser(args).options(desc).positional(pos).run(), vm);
    if (vm.count("help") != 0) {
      if (!quiet) std::cout << usage << "\n" << desc << "\n";
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw usage_error(e.what());
  }
  return true;
}

/// A count or seed on the command line: decimal digits only, so "-1" is refused instead of wrapping around
/// to 2^64 - 1 as Boost's conversion to an unsigned type would.
struct unsigned_arg {
  std::uint64_t value = 0;
};

// Found by Boost.Program_options through argument-dependent lookup.
void validate(boost::any& out, const std::vector<std::string>& values, unsigned_arg*, int) {
  po::validators::check_first_occurrence(out);
  const std::string& text = po::validators::get_single_string(values);
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) throw po::invalid_option_value(text);
  out = unsigned_arg{v};
}

po::typed_value<unsigned_arg>* unsigned_value(std::uint64_t fallback) {
  return po::value<unsigned_arg>()->default_value(unsigned_arg{fallback}, std::to_string(fallback));
}

std::uint64_t unsigned_of(const po::variables_map& vm, const char* name) { return vm[name].as<unsigned_arg>().value; }

po::options_description common_options(const std::string& title) {
  po::options_description desc(title);
  desc.add_options()("help,h", "show this help");
  return desc;
}

void add_execution_options(po::options_description& desc) {
  desc.add_options()("threads,j", po::value<int>()->default_value(0),
                     "worker threads (0: all cores); results do not depend on it")(
      "quiet,q", "no progress output");
}

std::optional<oneapi::tbb::global_control> thread_limit(const po::variables_map& vm) {
  const int threads = vm["threads"].as<int>();
  if (threads < 0) throw usage_error("--threads must be >= 0");
  if (threads == 0) return std::nullopt;
  return std::make_optional<oneapi::tbb::global_control>(oneapi::tbb::global_control::max_allowed_parallelism,
                                                         static_cast<std::size_t>(threads));
}

int cmd_run(const std::vector<std::string>& args) {
  auto desc = common_options("genscope run FILE [options]");
  add_execution_options(desc);
  desc.add_options()("output,o", po::value<std::string>(), "write results here instead of the file's `output`")(
      "resume", "continue the partial results (OUTPUT.partial) of an interrupted run of the same experiment")(
      "checkpoint-seconds", po::value<double>()->default_value(5),
      "save the results so far to OUTPUT.partial at most this often (seconds of work; 0: every batch)")(
      "shard", po::value<std::string>(),
      "compute only shard I/N (0 <= I < N) of every run and analysis into OUTPUT's shard file, e.g.\n"
      "results/x.shard-3-of-8.h5; `genscope merge` combines the N shards. `--shard slurm`: the task's\n"
      "SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT, in an array submitted as --array=0-(N-1)")(
      "train-only", "build the data sets and train (or load) the models, then stop without results: the step\n"
      "before an array job, whose tasks then share the trained models of the model cache")(
      "file", po::value<std::string>()->required(), "experiment file (TOML)");
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  // Under mpirun every rank checks the command and experiment; the first problem prints once, from rank 0.
  const std::unique_ptr<rank_group> ranks = join_mpi_job();
  const bool on_ranks = ranks != nullptr && ranks->size() > 1;
  const bool lead = ranks == nullptr || ranks->rank() == 0;
  bool parsed = false;
  const auto parse_step = [&] {
    parsed = parse(args, desc, pos, vm,
                   "Validates the experiment, builds its data and models (trained models are cached), runs every run\n"
                   "and analysis and writes one HDF5 results file, then prints the summary tables.\n"
                   "Under mpirun (mpirun -n N genscope run FILE), rank 0 builds the data and trains the models once,\n"
                   "every rank computes its share of the probes and rows with its own threads, and rank 0 writes the\n"
                   "one results file, equal to one process's; see docs/cluster.md.",
                   !lead);
  };
  if (on_ranks) on_every_rank(*ranks, parse_step);
  else parse_step();
  if (!parsed) return 0;
  const auto limit = thread_limit(vm);
  std::optional<plugin_registry> plugins;
  experiment exp;
  run_options options;
  const auto prepare = [&] {
    if (vm.count("shard") != 0)
      options.part = vm["shard"].as<std::string>() == "slurm"
                         ? slurm_array_shard([](const char* name) { return std::getenv(name); })
                         : parse_shard(vm["shard"].as<std::string>(), "--shard");
    // A refused plugin library matters only if the experiment names it; validation then says why.
    plugins.emplace(plugin_registry::discover());
    exp = load_experiment(vm["file"].as<std::string>(), *plugins);
    options.quiet = vm.count("quiet") != 0;
    options.resume = vm.count("resume") != 0;
    options.train_only = vm.count("train-only") != 0;
    options.checkpoint_seconds = vm["checkpoint-seconds"].as<double>();
    if (!(options.checkpoint_seconds >= 0) || !std::isfinite(options.checkpoint_seconds))
      throw usage_error("--checkpoint-seconds must be a finite number >= 0");
    if (options.part && on_ranks)
      throw usage_error(fmt::format("--shard {}/{} and {} MPI ranks together: give one or the other",
                                    options.part->index, options.part->count, ranks->size()));
    if (vm.count("output") != 0) exp.output = vm["output"].as<std::string>();
    if (options.part && !options.train_only) exp.output = shard_path(exp.output, *options.part);
    // The same rules as the file's `output`, before any work.
    if (vm.count("output") != 0 || options.part)
      if (const std::string problem = output_problem(exp.output, experiment_inputs(exp), exp.model_cache);
          !problem.empty())
        throw usage_error(fmt::format("-o \"{}\" cannot be written: {}", exp.output, problem));
    options.ranks = ranks.get();
  };
  if (on_ranks) on_every_rank(*ranks, prepare);
  else prepare();
  try {
    run_experiment(exp, *plugins, options, std::cerr);
  } catch (const failed_elsewhere&) {
    throw;
  } catch (const rank_failure&) {
    throw;  // every rank knows
  } catch (const std::exception& e) {
    if (!on_ranks) throw;
    // A failure the ranks did not agree on (one rank out of memory in a broadcast, say): the others wait in MPI
    // for this one, so the job ends here, with this rank's reason.
    std::cerr << fmt::format("genscope: error: rank {} of {}: {}; ending every rank\n", ranks->rank(), ranks->size(),
                             describe(e))
              << std::flush;
    ranks->abort(1);
  }
  if (lead && !options.train_only) print_summary(summarize(exp.output), std::cout);
  return 0;
}

int cmd_merge(const std::vector<std::string>& args) {
  auto desc = common_options("genscope merge SHARD.h5... [-o OUTPUT]");
  desc.add_options()("output,o", po::value<std::string>(),
                     "results file to write (must not exist); by default the shards' name without\n"
                     ".shard-I-of-N, e.g. results/x.h5 for results/x.shard-0-of-8.h5")(
      "quiet,q", "no message on success")("shards", po::value<std::vector<std::string>>()->required(),
                                          "the shard files, every one of the split, in any order");
  po::positional_options_description pos;
  pos.add("shards", -1);
  po::variables_map vm;
  if (!parse(args, desc, pos, vm,
             "Combines the results files of every shard of one experiment (genscope run --shard I/N, or Slurm\n"
             "array tasks) into the file one process would have written: rows concatenated in shard order,\n"
             "provenance from shard 0, work times summed. Refuses a missing, duplicate or unfinished shard and\n"
             "shards of another experiment, split or build, naming them. The shard files are kept."))
    return 0;
  const auto shards = vm["shards"].as<std::vector<std::string>>();
  std::string output;
  if (vm.count("output") != 0) {
    output = vm["output"].as<std::string>();
  } else {
    output = whole_output(shards.front());
    if (output.empty())
      throw usage_error("give -o OUTPUT: '" + shards.front() + "' is not named like a shard file (NAME.shard-I-of-N.h5)");
  }
  std::vector<input_file> inputs;
  for (const std::string& s : shards) inputs.push_back({s, "a shard file"});
  if (const std::string problem = output_problem(output, inputs); !problem.empty())
    throw usage_error(fmt::format("-o \"{}\" cannot be written: {}", output, problem));
  merge_shards(shards, output, std::cerr, vm.count("quiet") != 0);
  return 0;
}

int cmd_slurm(const std::vector<std::string>& args) {
  auto desc = common_options("genscope slurm FILE --tasks N [options]");
  slurm_job defaults;
  desc.add_options()("tasks", unsigned_value(0), "array tasks: the experiment's shards (required, >= 1)")(
      "output,o", po::value<std::string>(), "results file (default: the experiment's `output`)")(
      "script", po::value<std::string>(), "write the script here (default: print it)")(
      "cpus-per-task", unsigned_value(defaults.cpus_per_task), "cores of each task, its worker threads")(
      "time", po::value<std::string>()->default_value(defaults.time), "time limit of each task (Slurm's --time)")(
      "mem", po::value<std::string>()->default_value(defaults.memory),
      "memory of the training job and of each task (Slurm's --mem)")(
      "merge-mem", po::value<std::string>()->default_value(defaults.merge_memory),
      "memory of the merge job, which holds the whole results: about twice their size")(
      "partition", po::value<std::string>()->default_value(""), "Slurm partition (default: the cluster's)")(
      "account", po::value<std::string>()->default_value(""), "Slurm account to charge (default: yours)")(
      "logs", po::value<std::string>()->default_value(defaults.log_folder), "folder of the jobs' logs")(
      "file", po::value<std::string>()->required(), "experiment file (TOML)");
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  if (!parse(args, desc, pos, vm,
             "Validates the experiment and writes a bash script that submits it to Slurm with sbatch: a job that\n"
             "trains the models once (genscope run --train-only), an array job of N tasks that each compute one\n"
             "shard (genscope run --shard), and a merge job (genscope merge), each depending on the one before.\n"
             "Run the script on the cluster's login node: bash SCRIPT. See docs/cluster.md."))
    return 0;
  const plugin_registry plugins = plugin_registry::discover();
  slurm_job job;
  job.exp = load_experiment(vm["file"].as<std::string>(), plugins);
  if (vm.count("output") != 0) job.exp.output = vm["output"].as<std::string>();
  job.tasks = unsigned_of(vm, "tasks");
  if (job.tasks == 0) throw usage_error("--tasks N is required (N >= 1 array tasks)");
  job.cpus_per_task = unsigned_of(vm, "cpus-per-task");
  if (job.cpus_per_task == 0) throw usage_error("--cpus-per-task must be >= 1");
  job.time = vm["time"].as<std::string>();
  job.memory = vm["mem"].as<std::string>();
  job.merge_memory = vm["merge-mem"].as<std::string>();
  job.partition = vm["partition"].as<std::string>();
  job.account = vm["account"].as<std::string>();
  job.log_folder = vm["logs"].as<std::string>();
  const std::string script = slurm_script(job);
  if (vm.count("script") == 0) {
    std::cout << script;
    return 0;
  }
  const std::string path = vm["script"].as<std::string>();
  if (const std::string problem = output_problem(path, experiment_inputs(job.exp)); !problem.empty())
    throw usage_error(fmt::format("--script \"{}\" cannot be written: {}", path, problem));
  write_script(path, script);
  std::cerr << fmt::format("wrote {}: submit with `bash {}`\n", path, path);
  return 0;
}

std::vector<std::size_t> parse_widths(const std::string& text) {
  std::vector<std::size_t> widths;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    try {
      std::size_t used = 0;
      const long v = std::stol(part, &used);
      if (used != part.size() || v <= 0) throw std::invalid_argument(part);
      widths.push_back(static_cast<std::size_t>(v));
    } catch (const std::exception&) {
      throw usage_error("--hidden: '" + text + "' is not a comma-separated list of positive widths");
    }
  }
  return widths;
}

int cmd_train(const std::vector<std::string>& args) {
  auto desc = common_options("genscope train [options] -o MODEL.h5");
  add_execution_options(desc);
  train_config defaults;
  desc.add_options()("output,o", po::value<std::string>()->required(), "model file to write")(
      "dir", po::value<std::string>()->default_value(default_fashion_mnist_dir), "folder of IDX files")(
      "split", po::value<std::string>()->default_value("train"), "IDX split to train on: train or t10k")(
      "subset", unsigned_value(0), "train on a seeded subset of this size (0: all)")(
      "labels", po::value<std::string>()->default_value("real"), "real, or random (a seeded permutation)")(
      "data-seed", unsigned_value(0), "seed of the subset and label permutation")(
      "test-subset", unsigned_value(1000),
      "evaluate each epoch on this many t10k images (0: no test set)")(
      "hidden", po::value<std::string>()->default_value("256,256"), "hidden widths, comma-separated")(
      "optimizer", po::value<std::string>()->default_value(defaults.optimizer), "adam or sgd (with momentum)")(
      "lr", po::value<double>()->default_value(defaults.learning_rate), "learning rate")(
      "momentum", po::value<double>()->default_value(defaults.momentum), "sgd momentum")(
      "weight-decay", po::value<double>()->default_value(defaults.weight_decay), "L2 coefficient")(
      "epochs", unsigned_value(defaults.epochs), "epochs")(
      "batch", unsigned_value(defaults.batch_size), "minibatch size")(
      "init", po::value<std::string>()->default_value(defaults.init), "he, glorot or lecun")(
      "init-scale", po::value<double>()->default_value(defaults.init_scale), "multiplies the initial weights")(
      "seed", unsigned_value(defaults.seed), "initialization and minibatch order");
  po::variables_map vm;
  if (!parse(args, desc, {}, vm, "Trains a dense ReLU MLP with softmax cross-entropy and saves it.")) return 0;
  const auto limit = thread_limit(vm);
  const bool quiet = vm.count("quiet") != 0;

  dataset_spec spec;
  spec.name = "train";
  spec.dir = vm["dir"].as<std::string>();
  spec.split = vm["split"].as<std::string>();
  spec.subset = unsigned_of(vm, "subset");
  spec.seed = unsigned_of(vm, "data-seed");
  const std::string labels = vm["labels"].as<std::string>();
  if (labels != "real" && labels != "random") throw usage_error("--labels must be real or random, not '" + labels + "'");
  spec.labels_mode = labels == "random" ? label_mode::random : label_mode::real;
  // Checked before the data are read or anything trains: never a device, a folder or an input.
  const std::string output = vm["output"].as<std::string>();
  std::vector<input_file> inputs;
  for (const char* split : {spec.split.c_str(), "t10k"}) {
    dataset_spec files = spec;
    files.split = split;
    for (const std::string& f : dataset_files(files)) inputs.push_back({f, "a training or test data file"});
  }
  if (const std::string problem = output_problem(output, inputs); !problem.empty())
    throw usage_error(fmt::format("-o \"{}\" cannot be written: {}", output, problem));
  const dataset train = build_dataset(spec);
  std::optional<dataset> test;
  if (const std::uint64_t n = unsigned_of(vm, "test-subset"); n > 0) {
    dataset_spec t = spec;
    t.name = "test";
    t.split = "t10k";
    t.subset = n;
    t.labels_mode = label_mode::real;
    test = build_dataset(t);
  }

  train_config config;
  config.hidden = parse_widths(vm["hidden"].as<std::string>());
  config.optimizer = vm["optimizer"].as<std::string>();
  config.learning_rate = vm["lr"].as<double>();
  config.momentum = vm["momentum"].as<double>();
  config.weight_decay = vm["weight-decay"].as<double>();
  config.epochs = unsigned_of(vm, "epochs");
  config.batch_size = unsigned_of(vm, "batch");
  config.init = vm["init"].as<std::string>();
  config.init_scale = vm["init-scale"].as<double>();
  config.seed = unsigned_of(vm, "seed");

  training_record record;
  record.label_mode = labels;
  const mlp net = train_mlp(train, test ? &*test : nullptr, config, record, [&](const epoch_record& e) {
    if (quiet) return;
    std::string test_part;
    if (!std::isnan(e.test_accuracy))
      test_part = fmt::format("  test loss {:.4f} acc {:6.2f}%", e.test_loss, 100 * e.test_accuracy);
    std::cerr << fmt::format("epoch {:>4}/{}  loss {:.4f}  train acc {:6.2f}%{}  {:.2f}s\n", e.epoch, config.epochs,
                             e.train_loss, 100 * e.train_accuracy, test_part, e.seconds)
              << std::flush;
  });
  save_model(output, net, record);
  if (!quiet) std::cerr << "saved " << net.describe() << " to " << output << "\n";
  return 0;
}

int cmd_import(const std::vector<std::string>& args) {
  auto desc = common_options("genscope import MODEL.onnx -o MODEL.h5 [options]");
  desc.add_options()("input", po::value<std::string>()->required(), "ONNX file to read")(
      "output,o", po::value<std::string>()->required(), "native model file to write (docs/model-format.md)")(
      "quiet,q", "no message on success");
  po::positional_options_description pos;
  pos.add("input", 1);
  po::variables_map vm;
  if (!parse(args, desc, pos, vm,
             "Reads an ONNX network as torch.onnx.export writes it and saves it as a native graph model file, which\n"
             "the native backend serves with its piecewise-linear view (docs/model-format.md, \"Importing ONNX\").\n"
             "Supported operators: " + std::string(onnx_supported_operators()) + "."))
    return 0;
  const std::string input = vm["input"].as<std::string>();
  const std::string output = vm["output"].as<std::string>();
  if (const std::string problem = output_problem(output, {{input, "the ONNX file read"}}); !problem.empty())
    throw usage_error(fmt::format("-o \"{}\" cannot be written: {}", output, problem));
  const network_graph net = import_onnx(input);
  save_network(output, net, "onnx: " + input);
  if (vm.count("quiet") == 0) std::cerr << "saved " << net.describe() << " to " << output << "\n";
  return 0;
}

/// The tables an analysis writes with its default options, as text (when every option has a default).
std::string analysis_tables_text(const plugin_registry& plugins, const plugin_info& p) {
  std::string text;
  for (const table_spec& t : plugins.create_analysis(p.name, option_set())->tables()) {
    text += fmt::format("  table {}: {}\n", t.name, t.description);
    for (const column_spec& c : t.columns) {
      const std::string type = c.width == ragged  ? fmt::format("{}[]", to_string(c.type))
                               : c.width == 1     ? std::string(to_string(c.type))
                                                  : fmt::format("{}[{}]", to_string(c.type), c.width);
      text += fmt::format("    {:<22} {:<11} {}\n", c.name, type, c.description);
    }
  }
  return text;
}

/// Prints an analysis's tables. Listing them means creating the plugin, so that happens in a child
/// process: a plugin whose factory throws, aborts or crashes spoils its own entry, not the listing.
void print_analysis_tables(const plugin_registry& plugins, const plugin_info& p) {
  if (std::any_of(p.options.begin(), p.options.end(), [](const option_spec& o) { return o.default_value == nullptr; }))
    return;
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) throw error("cannot list the tables of analysis plugin '" + p.name + "': pipe() failed");
  std::cout << std::flush;
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(pipe_fds[0]);
    std::string text;
    int code = 0;
    try {
      text = analysis_tables_text(plugins, p);
    } catch (const std::exception& e) {
      text = "  tables: cannot be listed: " + describe(e) + "\n";
      code = 1;
    } catch (...) {
      text = "  tables: cannot be listed: the plugin threw an exception that is not a std::exception\n";
      code = 1;
    }
    const ssize_t written = ::write(pipe_fds[1], text.data(), text.size());
    ::_exit(written == static_cast<ssize_t>(text.size()) ? code : 2);
  }
  ::close(pipe_fds[1]);
  if (child < 0) {
    ::close(pipe_fds[0]);
    throw error("cannot list the tables of analysis plugin '" + p.name + "': fork() failed");
  }
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status))
    text = fmt::format("  tables: cannot be listed: creating the plugin killed the process ({})\n",
                       ::strsignal(WTERMSIG(status)));
  std::cout << text;
}

int cmd_plugins(const std::vector<std::string>& args) {
  auto desc = common_options("genscope plugins [options]");
  desc.add_options()("kind", po::value<std::string>(), "only this kind: backend, sampler, estimator or analysis");
  po::variables_map vm;
  if (!parse(args, desc, {}, vm, "Lists every plugin found (GENSCOPE_PLUGIN_PATH, the build's or install's plugin "
                                 "folder) with its options."))
    return 0;
  const plugin_registry plugins = plugin_registry::discover();
  const std::string only = vm.count("kind") != 0 ? vm["kind"].as<std::string>() : "";
  constexpr plugin_kind kinds[] = {plugin_kind::backend, plugin_kind::sampler, plugin_kind::estimator,
                                   plugin_kind::analysis};
  if (!only.empty() && std::none_of(std::begin(kinds), std::end(kinds), [&](plugin_kind k) { return only == to_string(k); }))
    throw usage_error("--kind must be backend, sampler, estimator or analysis, not '" + only + "'");
  for (plugin_kind kind : kinds) {
    if (!only.empty() && only != to_string(kind)) continue;
    for (const std::string& name : plugins.names(kind)) {
      const plugin_info& p = *plugins.find(kind, name);
      std::cout << fmt::format("{} {} {}: {}\n  library: {}\n", to_string(kind), p.name, p.version, p.description,
                               p.path);
      std::size_t name_w = 14, default_w = 10;
      for (const option_spec& o : p.options) {
        name_w = std::max(name_w, std::string_view(o.name).size());
        if (o.default_value) default_w = std::max(default_w, std::string_view(o.default_value).size());
      }
      for (const option_spec& o : p.options)
        std::cout << fmt::format("  {:<{}} {:<7} {:<{}} {}\n", o.name, name_w, to_string(o.type),
                                 o.default_value ? o.default_value : "(required)", default_w, o.help);
      if (kind == plugin_kind::analysis) print_analysis_tables(plugins, p);
    }
  }
  for (const auto& r : plugins.refusals()) std::cerr << "genscope: error: " << r.reason << "\n";
  return plugins.refusals().empty() ? 0 : 1;
}

int cmd_inspect(const std::vector<std::string>& args) {
  auto desc = common_options("genscope inspect RESULTS.h5");
  desc.add_options()("file", po::value<std::string>()->required(), "results file");
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  if (!parse(args, desc, pos, vm, "Prints, per run and direction kind: count, Kaplan-Meier quartiles of the interval\n"
                                  "length in input units (a length with a clipped end is right-censored) with the\n"
                                  "median's 95% interval, the censored and clipped fractions, median t_hi, fraction of\n"
                                  "pairwise and midline probes with t_hi >= 1 (interpolated), forward passes per probe and\n"
                                  "regions crossed; then per run the time spent sampling (prepare and sample) and\n"
                                  "estimating; then, per analysis table and group, count, quartiles and mean of each\n"
                                  "measured column."))
    return 0;
  print_summary(summarize(vm["file"].as<std::string>()), std::cout);
  return 0;
}

int cmd_report(const std::vector<std::string>& args) {
  auto desc = common_options("genscope report RESULTS.h5 -o DIR [options]");
  report::options defaults;
  desc.add_options()("output,o", po::value<std::string>()->required(), "folder to write the report into (created)")(
      "bootstrap", unsigned_value(defaults.bootstrap),
      "bootstrap resamples for the 95% intervals of the raw medians and of the ROC AUCs (0: none)")(
      "seed", unsigned_value(defaults.seed), "seed of the bootstrap (deterministic)")(
      "gnuplot", po::value<std::string>()->default_value(defaults.gnuplot), "gnuplot executable")(
      "quiet,q", "no progress notes on stderr")("file", po::value<std::string>()->required(), "results file");
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  if (!parse(args, desc, pos, vm,
             "Writes DIR/index.html (self-contained: inline CSS, relative links to DIR's figures only), PNG and SVG\n"
             "figures drawn with gnuplot and CSV tables, and prints the tables. Per comparison (runs with the same\n"
             "sampler plugin, estimator plugin and direction kind, label regime from the data set's label_mode):\n"
             "histograms and empirical CDFs of interval lengths, medians with bootstrap 95% intervals, Mann-Whitney U\n"
             "and Kolmogorov-Smirnov tests. Also tangent vs normal, regions crossed vs length, interpolated pairs and\n"
             "training curves. See docs/report.md."))
    return 0;
  report::options opt;
  opt.results = vm["file"].as<std::string>();
  opt.out_dir = vm["output"].as<std::string>();
  opt.bootstrap = unsigned_of(vm, "bootstrap");
  opt.seed = unsigned_of(vm, "seed");
  opt.gnuplot = vm["gnuplot"].as<std::string>();
  opt.quiet = vm.count("quiet") != 0;
  const report::result r = report::write_report(opt, std::cerr);
  for (const auto& t : r.tables) report::print_table(t, std::cout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // glibc returns freed memory to the kernel by a threshold that moves with the process's history of frees, so
  // the many-megabyte buffers a batch allocates were sometimes unmapped or trimmed after every batch and faulted
  // in again: bisection ran 25-35% slower on one MPI rank than on another doing the same work (docs/scaling.md,
  // "The allocator").
  // Fixed thresholds keep them for reuse: blocks under 32 MiB come from the heap, whose top is returned only
  // beyond 256 MiB free.
  ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 256 << 20);
  const std::vector<std::string> all(argv + 1, argv + argc);
  if (all.empty() || all[0] == "--help" || all[0] == "-h" || all[0] == "help") {
    std::cout << overview;
    return all.empty() ? 2 : 0;
  }
  if (all[0] == "--version") {
    const std::string mpi = mpi_library();
    std::cout << fmt::format("genscope {} (commit {}, plugin API {}, {})\n", version(), git_commit(), plugin_api_version,
                             mpi.empty() ? "without MPI" : "MPI: " + mpi);
    return 0;
  }
  const std::string command = all[0];
  const std::vector<std::string> args(all.begin() + 1, all.end());
  // SIGINT, SIGTERM and SIGHUP end long work at the next batch or epoch, with what is done saved.
  install_stop_handlers();
  try {
    if (command == "run") return cmd_run(args);
    if (command == "merge") return cmd_merge(args);
    if (command == "slurm") return cmd_slurm(args);
    if (command == "train") return cmd_train(args);
    if (command == "import") return cmd_import(args);
    if (command == "plugins") return cmd_plugins(args);
    if (command == "inspect") return cmd_inspect(args);
    if (command == "report") return cmd_report(args);
    std::cerr << "genscope: unknown command '" << command << "' (see genscope --help)\n";
    return 2;
  } catch (const failed_elsewhere&) {
    return 1;  // rank 0 of the MPI job reports it
  } catch (const usage_error& e) {
    std::cerr << "genscope: " << e.what() << " (see genscope " << command << " --help)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "genscope: error: " << describe(e) << "\n";
    return 1;
  }
}
