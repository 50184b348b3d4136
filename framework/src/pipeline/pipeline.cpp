// Runs an experiment: builds data, trains or loads models, and streams each run through a flow graph.
#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/mlp.hpp>
#include <genscope/pipeline.hpp>
#include <genscope/version.hpp>

#include "progress.hpp"
#include "results/interval_table.hpp"
#include "results/writer.hpp"

#include <fmt/format.h>
#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/global_control.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <ostream>
#include <unistd.h>

namespace genscope {

namespace {

/// Worker threads in effect (the --threads limit, else the machine's cores).
std::size_t worker_threads() {
  return oneapi::tbb::global_control::active_value(oneapi::tbb::global_control::max_allowed_parallelism);
}

std::string options_text(const option_set& options) {
  std::string s;
  for (const auto& [name, value] : options.values()) {
    if (!s.empty()) s += ", ";
    s += name + " = " + to_string(value);
  }
  return s;
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

std::string shape_text(const std::vector<std::size_t>& shape) {
  std::string s;
  for (std::size_t d : shape) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

template <class Spec>
const Spec& find_item(const std::vector<Spec>& items, const std::string& name) {
  for (const auto& item : items)
    if (item.name == name) return item;
  throw error("internal error: experiment item '" + name + "' missing after validation");
}

/// Everything a run needs, built once per experiment.
struct context {
  const experiment& exp;
  const plugin_registry& plugins;
  const run_options& options;
  std::ostream& log;
  results_writer& out;
  std::map<std::string, std::shared_ptr<const dataset>> data;
  std::map<std::string, std::shared_ptr<network_backend>> models;
};

void build_data(context& c, const dataset_spec& spec) {
  // pca_fit: the fitting data set's samples before its own transform (built earlier, in build order).
  std::shared_ptr<const dataset> fit;
  if (spec.transform == "pca" && !spec.pca_fit.empty()) {
    const dataset_spec& fit_spec = find_item(c.exp.datasets, spec.pca_fit);
    if (fit_spec.transform == "none") {
      fit = c.data.at(spec.pca_fit);
    } else {
      dataset_spec raw = fit_spec;
      raw.transform = "none";
      raw.pca_dim = 0;
      raw.pca_fit.clear();
      fit = std::make_shared<dataset>(build_dataset(raw));
    }
  }
  auto d = std::make_shared<dataset>(build_dataset(spec, fit.get()));
  d->name = spec.name;
  if (!c.options.quiet)
    c.log << fmt::format("dataset {}: {} samples of {}, {} classes, {} labels, sha256 {}\n", spec.name, d->size(),
                         shape_text(d->shape), d->class_count, label_mode_name(spec.labels_mode),
                         d->sha256.substr(0, 12));
  const h5::group g = c.out.provenance("datasets", spec.name);
  g.set_attr("sha256", d->sha256);
  g.set_attr("description", d->description);
  g.set_attr("samples", static_cast<std::int64_t>(d->size()));
  g.set_attr("dim", static_cast<std::int64_t>(d->dim()));
  g.set_attr("class_count", static_cast<std::int64_t>(d->class_count));
  g.set_attr("label_mode", std::string(label_mode_name(spec.labels_mode)));
  if (spec.labels_mode == label_mode::corrupt) g.set_attr("corruption", spec.corruption);
  std::vector<std::uint8_t> changed(d->size());
  std::size_t changed_count = 0;
  for (std::size_t i = 0; i < d->size(); ++i) {
    changed[i] = d->labels[i] != d->true_labels[i];
    changed_count += changed[i];
  }
  g.set_attr("changed_fraction",
             d->size() == 0 ? 0.0 : static_cast<double>(changed_count) / static_cast<double>(d->size()));
  g.set_attr("transform", spec.transform);
  if (spec.transform == "pca") {
    g.set_attr("pca_dim", static_cast<std::int64_t>(spec.pca_dim));
    g.set_attr("pca_fit", spec.pca_fit.empty() ? spec.name : spec.pca_fit);
  }
  g.set_attr("shape", std::vector<std::int64_t>(d->shape.begin(), d->shape.end()));
  g.write("labels", d->labels);
  g.write("true_labels", d->true_labels);
  g.write("label_changed", changed);
  g.write("source_index", d->source_index);
  g.set_attr("seed", static_cast<std::uint64_t>(spec.seed));
  c.data[spec.name] = std::move(d);
}

/// A warning line (printed even when quiet) when a model with a target accuracy hit its epoch cap first.
void warn_if_capped(context& c, const model_spec& spec, const training_record& record) {
  const train_config& config = *spec.train;
  if (!config.target_accuracy || record.stop_reason != "epoch_cap") return;
  const double reached = record.epochs.empty() ? 0.0 : record.epochs.back().train_accuracy;
  c.log << fmt::format(
      "warning: model {}: did not reach target_accuracy {:.2f}% within {} epochs (train accuracy reached "
      "{:.2f}%); the model is kept\n",
      spec.name, 100 * *config.target_accuracy, record.epochs_run, 100 * reached);
}

/// Trains the model unless the cache holds one of the same configuration and data; returns its path.
std::string trained_model_path(context& c, const model_spec& spec) {
  const train_config& config = *spec.train;
  const dataset& train = *c.data.at(spec.dataset);
  const dataset* test = spec.test_dataset.empty() ? nullptr : c.data.at(spec.test_dataset).get();
  const std::string key = model_cache_key(config, train.sha256, test ? test->sha256 : std::string());
  const std::string path = (std::filesystem::path(c.exp.model_cache) / (spec.name + "-" + key.substr(0, 16) + ".h5")).string();
  if (std::filesystem::exists(path)) {
    if (!c.options.quiet) c.log << fmt::format("model {}: reusing {} (same configuration and data)\n", spec.name, path);
    if (config.target_accuracy) warn_if_capped(c, spec, load_model(path).record);
    return path;
  }
  training_record record;
  record.label_mode = label_mode_name(find_item(c.exp.datasets, spec.dataset).labels_mode);
  if (!c.options.quiet)
    c.log << fmt::format("model {}: training {} hidden on {} ({} samples, {} labels), {} epochs of {}\n", spec.name,
                         shape_text(config.hidden), spec.dataset, train.size(), record.label_mode, config.epochs,
                         config.optimizer);
  const auto on_epoch = [&](const epoch_record& e) {
    if (c.options.quiet) return;
    std::string test_part;
    if (!std::isnan(e.test_accuracy))
      test_part = fmt::format("  test loss {:.4f} acc {:6.2f}%", e.test_loss, 100 * e.test_accuracy);
    c.log << fmt::format("model {}: epoch {:>4}/{}  loss {:.4f}  train acc {:6.2f}%{}  {:.2f}s\n", spec.name, e.epoch,
                         config.epochs, e.train_loss, 100 * e.train_accuracy, test_part, e.seconds)
          << std::flush;
  };
  const mlp net = train_mlp(train, test, config, record, on_epoch);
  save_model(path, net, record);
  if (!c.options.quiet) {
    const std::string why = record.stop_reason == "target_accuracy"
                                ? fmt::format(" (target_accuracy reached after {} epochs)", record.epochs_run)
                                : std::string();
    std::string saved;
    for (const model_checkpoint& cp : record.checkpoints) saved += (saved.empty() ? "" : ", ") + std::to_string(cp.epoch);
    if (!saved.empty()) saved = "; checkpoints of epochs " + saved;
    c.log << fmt::format("model {}: saved {}{}{}\n", spec.name, path, why, saved);
  }
  warn_if_capped(c, spec, record);
  return path;
}

void build_model(context& c, const model_spec& spec) {
  option_set options = spec.backend_options;
  if (spec.train) options.set("path", trained_model_path(c, spec));
  std::shared_ptr<network_backend> backend = spec.loaded ? spec.loaded : c.plugins.create_backend(spec.backend, options);
  const plugin_info& info = c.plugins.require(plugin_kind::backend, spec.backend);
  const h5::group g = c.out.provenance("models", spec.name);
  g.set_attr("backend", info.name);
  g.set_attr("backend_version", info.version);
  g.set_attr("backend_options", options_text(options));
  g.set_attr("description", backend->describe());
  g.set_attr("digest", backend->model_digest());
  g.set_attr("trained", static_cast<std::int64_t>(spec.train.has_value()));
  g.set_attr("train_dataset", spec.dataset);
  g.set_attr("test_dataset", spec.test_dataset);
  if (options.has("path")) g.set_attr("model_file", options.get_string("path"));
  if (!c.options.quiet)
    c.log << fmt::format("model {}: {} ({}), digest {}\n", spec.name, backend->describe(), info.name,
                         backend->model_digest().substr(0, 12));
  c.models[spec.name] = std::move(backend);
}

/// Rethrows anything a plugin threw as a plugin_error naming it and the experiment item.
template <class F>
void guarded(const std::string& plugin, const std::string& what, F&& f) {
  try {
    f();
  } catch (const plugin_error&) {
    throw;
  } catch (const std::exception& e) {
    throw plugin_error(plugin, what + ": " + e.what());
  }
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// Adds the lifetime of the object, in nanoseconds, to a shared counter.
class timer {
 public:
  explicit timer(std::atomic<std::int64_t>& total) : total_(total) {}
  ~timer() {
    total_ += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start_).count();
  }
  timer(const timer&) = delete;
  timer& operator=(const timer&) = delete;

 private:
  std::atomic<std::int64_t>& total_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

/// Streams batches 0..batches-1 through `compute` (in parallel, any order) and `write` (one at a time, in
/// batch order), with at most `in_flight` batches in memory: the results file never depends on the
/// thread count or on which batch finishes first.
template <class Job, class Compute, class Write>
void ordered_batches(std::size_t batches, std::size_t in_flight, Compute&& compute, Write&& write) {
  namespace flow = oneapi::tbb::flow;
  using job_ptr = std::shared_ptr<Job>;
  flow::graph graph;
  std::size_t next = 0;
  flow::input_node<std::size_t> source(graph, [&](oneapi::tbb::flow_control& fc) -> std::size_t {
    if (next >= batches) {
      fc.stop();
      return 0;
    }
    return next++;
  });
  flow::limiter_node<std::size_t> limiter(graph, in_flight);
  flow::function_node<std::size_t, job_ptr> work(graph, flow::unlimited, [&](std::size_t b) {
    auto job = std::make_shared<Job>();
    job->index = b;
    compute(b, *job);
    return job;
  });
  flow::sequencer_node<job_ptr> order(graph, [](const job_ptr& job) { return job->index; });
  flow::function_node<job_ptr, flow::continue_msg> sink(graph, flow::serial, [&](const job_ptr& job) {
    write(*job);
    return flow::continue_msg();
  });
  flow::make_edge(source, limiter);
  flow::make_edge(limiter, work);
  flow::make_edge(work, order);
  flow::make_edge(order, sink);
  flow::make_edge(sink, limiter.decrementer());
  source.activate();
  graph.wait_for_all();
}

std::size_t batches_in_flight(const context& c) {
  return c.options.batches_in_flight > 0 ? c.options.batches_in_flight : 4 * worker_threads();
}

/// Records the plugin behind an experiment item on a results group: KEY, KEY_plugin, KEY_version.
void set_item(const context& c, const h5::group& g, const std::string& key, const std::string& item, plugin_kind kind,
              const std::string& plugin) {
  const plugin_info& info = c.plugins.require(kind, plugin);
  g.set_attr(key, item);
  g.set_attr(key + "_plugin", info.name);
  g.set_attr(key + "_version", info.version);
}

struct run_job {
  std::size_t index = 0;
  probe_batch probes;
  interval_batch results;
  table_batch rows;
};

void execute_run(context& c, const run_spec& run) {
  const sampler_spec& ss = find_item(c.exp.samplers, run.sampler);
  const estimator_spec& es = find_item(c.exp.estimators, run.estimator);
  const dataset& data = *c.data.at(ss.dataset);
  const network_backend& backend = *c.models.at(run.model);
  auto sampler = c.plugins.create_sampler(ss.plugin, ss.options);
  auto estimator = c.plugins.create_estimator(es.plugin, es.options);
  const auto prepare_start = std::chrono::steady_clock::now();
  guarded(ss.plugin, "sampler '" + ss.name + "' on data set '" + ss.dataset + "'",
          [&] { sampler->prepare(data, c.exp.seed); });
  const double prepare_seconds = seconds_since(prepare_start);

  const std::size_t n = sampler->probe_count();
  const std::size_t batch = std::max<std::size_t>(1, run.batch_size);
  const std::size_t batches = (n + batch - 1) / batch;

  const std::string owner = fmt::format("run '{}'", run.name);
  table_spec spec;
  guarded(es.plugin, "estimator '" + es.name + "'", [&] { spec = interval_table_spec(estimator->extra_columns(), es.plugin); });
  table_writer writer = c.out.begin_run(run.name, spec, owner);
  const h5::group& g = writer.group();
  set_item(c, g, "sampler", ss.name, plugin_kind::sampler, ss.plugin);
  set_item(c, g, "estimator", es.name, plugin_kind::estimator, es.plugin);
  g.set_attr("sampler_options", options_text(ss.options));
  g.set_attr("estimator_options", options_text(es.options));
  g.set_attr("model", run.model);
  g.set_attr("model_digest", backend.model_digest());
  g.set_attr("dataset", ss.dataset);
  g.set_attr("dataset_sha256", data.sha256);
  g.set_attr("seed", static_cast<std::uint64_t>(c.exp.seed));
  g.set_attr("probes", static_cast<std::int64_t>(n));
  g.set_attr("batch_size", static_cast<std::int64_t>(batch));
  g.set_attr("start_time", iso_time_now());
  g.set_attr("complete", std::int64_t{0});
  const auto start = std::chrono::steady_clock::now();

  progress bar("run " + run.name, n, "probes", c.log, c.options.quiet);
  // Time spent inside the plugins, summed over worker threads (nanoseconds).
  std::atomic<std::int64_t> sample_ns{0}, estimate_ns{0};
  ordered_batches<run_job>(
      batches, batches_in_flight(c),
      [&](std::size_t b, run_job& job) {
        const std::size_t first = b * batch;
        {
          const timer t(sample_ns);
          guarded(ss.plugin, "sampler '" + ss.name + "'",
                  [&] { sampler->sample(first, std::min(batch, n - first), job.probes); });
        }
        {
          const timer t(estimate_ns);
          guarded(es.plugin, "estimator '" + es.name + "'",
                  [&] { estimator->estimate(backend, job.probes, job.results); });
        }
        interval_rows(spec, job.probes, job.results, data, owner, job.rows);
      },
      [&](const run_job& job) {
        writer.append(job.rows);
        bar.advance(job.rows.rows());
      });
  bar.finish();

  if (writer.rows() != n)
    throw error(fmt::format("run '{}': wrote {} of {} probes", run.name, writer.rows(), n));
  g.set_attr("end_time", iso_time_now());
  g.set_attr("seconds", seconds_since(start));
  g.set_attr("sampler_prepare_seconds", prepare_seconds);
  g.set_attr("sampler_seconds", 1e-9 * static_cast<double>(sample_ns.load()));
  g.set_attr("estimator_seconds", 1e-9 * static_cast<double>(estimate_ns.load()));
  g.set_attr("complete", std::int64_t{1});
  c.out.flush();
}

struct analysis_job {
  std::size_t index = 0;
  table_batch rows;
};

void execute_analysis(context& c, const analysis_spec& spec) {
  const network_backend& backend = *c.models.at(spec.model);
  std::vector<const dataset*> data;
  for (const std::string& name : spec.datasets) data.push_back(c.data.at(name).get());
  auto a = c.plugins.create_analysis(spec.plugin, spec.options);
  const std::string owner = fmt::format("analysis '{}' (plugin '{}')", spec.name, spec.plugin);
  std::vector<table_spec> tables;
  guarded(spec.plugin, "analysis '" + spec.name + "'", [&] { tables = a->tables(); });
  const auto prepare_start = std::chrono::steady_clock::now();
  guarded(spec.plugin, "analysis '" + spec.name + "'", [&] { a->prepare(backend, data, c.exp.seed); });
  const double prepare_seconds = seconds_since(prepare_start);

  const h5::group g = c.out.begin_analysis(spec.name);
  set_item(c, g, "analysis", spec.name, plugin_kind::analysis, spec.plugin);
  g.set_attr("options", options_text(spec.options));
  g.set_attr("model", spec.model);
  g.set_attr("model_digest", backend.model_digest());
  g.set_attr("datasets", spec.datasets);
  std::vector<std::string> digests;
  for (const dataset* d : data) digests.push_back(d->sha256);
  g.set_attr("dataset_sha256", digests);
  g.set_attr("seed", static_cast<std::uint64_t>(c.exp.seed));
  g.set_attr("batch_size", static_cast<std::int64_t>(spec.batch_size));
  g.set_attr("start_time", iso_time_now());
  g.set_attr("prepare_seconds", prepare_seconds);
  g.set_attr("complete", std::int64_t{0});
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string> table_names;
  for (std::size_t t = 0; t < tables.size(); ++t) {
    table_writer writer = c.out.begin_table(g, tables[t], owner);
    table_names.push_back(tables[t].name);
    std::size_t n = 0;
    guarded(spec.plugin, "analysis '" + spec.name + "'", [&] { n = a->row_count(t); });
    const std::size_t batch = std::max<std::size_t>(1, spec.batch_size);
    std::atomic<std::int64_t> compute_ns{0};
    progress bar(fmt::format("analysis {} ({})", spec.name, tables[t].name), n, "rows", c.log, c.options.quiet);
    ordered_batches<analysis_job>(
        (n + batch - 1) / batch, batches_in_flight(c),
        [&](std::size_t b, analysis_job& job) {
          const std::size_t first = b * batch;
          const std::size_t count = std::min(batch, n - first);
          job.rows.reset(tables[t], count);
          const timer timed(compute_ns);
          guarded(spec.plugin, "analysis '" + spec.name + "'", [&] { a->compute(t, first, count, job.rows); });
        },
        [&](const analysis_job& job) {
          writer.append(job.rows);
          bar.advance(job.rows.rows());
        });
    bar.finish();
    if (writer.rows() != n)
      throw error(fmt::format("{}: table '{}': wrote {} of {} rows", owner, tables[t].name, writer.rows(), n));
    writer.group().set_attr("rows", static_cast<std::int64_t>(n));
    writer.group().set_attr("compute_seconds", 1e-9 * static_cast<double>(compute_ns.load()));
    c.out.flush();
  }
  g.set_attr("tables", table_names);
  g.set_attr("end_time", iso_time_now());
  g.set_attr("seconds", seconds_since(start));
  g.set_attr("complete", std::int64_t{1});
  c.out.flush();
}

}  // namespace

std::string model_cache_key(const train_config& config, const std::string& train_sha256,
                            const std::string& test_sha256) {
  std::string text = "genscope-train-v1\n";
  text += "hidden=" + shape_text(config.hidden) + "\n";
  text += fmt::format("optimizer={}\nlearning_rate={:a}\nmomentum={:a}\nbeta1={:a}\nbeta2={:a}\nepsilon={:a}\n",
                      config.optimizer, config.learning_rate, config.momentum, config.beta1, config.beta2,
                      config.epsilon);
  text += fmt::format("weight_decay={:a}\nepochs={}\nbatch_size={}\ninit={}\ninit_scale={:a}\nseed={}\n",
                      config.weight_decay, config.epochs, config.batch_size, config.init, config.init_scale,
                      config.seed);
  text += "train=" + train_sha256 + "\ntest=" + test_sha256 + "\n";
  // Appended only when set, so the keys of configurations without them are unchanged.
  if (config.target_accuracy) text += fmt::format("target_accuracy={:a}\n", *config.target_accuracy);
  if (!config.checkpoints.empty()) {
    text += "checkpoints=";
    for (std::size_t i = 0; i < config.checkpoints.size(); ++i) text += (i ? "," : "") + std::to_string(config.checkpoints[i]);
    text += "\n";
  }
  return sha256_hex(text.data(), text.size());
}

void run_experiment(const experiment& exp, const plugin_registry& plugins, const run_options& options,
                    std::ostream& log) {
  results_writer out(exp.output);
  const h5::group root = out.root();
  root.set_attr("genscope_version", std::string(version()));
  root.set_attr("git_commit", std::string(git_commit()));
  root.set_attr("plugin_api_version", static_cast<std::int64_t>(plugin_api_version));
  root.set_attr("experiment_file", exp.file);
  root.set_attr("experiment", exp.text);
  root.set_attr("seed", static_cast<std::uint64_t>(exp.seed));
  root.set_attr("host", host_name());
  root.set_attr("threads", static_cast<std::int64_t>(worker_threads()));
  root.set_attr("start_time", iso_time_now());

  context c{exp, plugins, options, log, out, {}, {}};
  try {
    for (const std::string& item : exp.build_order) {
      const auto dot = item.find('.');
      const std::string section = item.substr(0, dot);
      const std::string name = item.substr(dot + 1);
      if (section == "datasets") build_data(c, find_item(exp.datasets, name));
      else if (section == "models") build_model(c, find_item(exp.models, name));
      else if (section == "runs") execute_run(c, find_item(exp.runs, name));
      else if (section == "analyses") execute_analysis(c, find_item(exp.analyses, name));
    }
    root.set_attr("end_time", iso_time_now());
    out.finish();
  } catch (const std::exception& e) {
    // One line for the user, saying where the results already computed are.
    throw error(fmt::format("{}; partial results kept in {}", describe(e), out.partial_path()));
  }
  if (!options.quiet) log << fmt::format("results written to {}\n", exp.output);
}

}  // namespace genscope
