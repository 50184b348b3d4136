// Runs an experiment: builds data, trains or loads models, and streams each run through a flow graph.
#include <genscope/datasets.hpp>
#include <genscope/shape.hpp>
#include <genscope/error.hpp>
#include <genscope/memory.hpp>
#include <genscope/mlp.hpp>
#include <genscope/pipeline.hpp>
#include <genscope/version.hpp>

#include "durable/durable.hpp"
#include "durable/stop_request.hpp"
#include "pipeline/shared_inputs.hpp"
#include "progress.hpp"
#include "results/interval_table.hpp"
#include "results/merge.hpp"
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
#include <new>
#include <memory>
#include <fstream>
#include <iterator>
#include <optional>
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

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
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
  std::optional<shard> part;  ///< the share of every run and analysis table computed here (none: all)
  std::map<std::string, std::shared_ptr<const dataset>> data;
  std::map<std::string, std::shared_ptr<network_backend>> models;
  bool wrote_rows = false;  ///< whether any run or analysis wrote a row (worth saving on failure)
  /// Whether this process's provenance is the one kept: false on MPI ranks but 0, which skip what only the
  /// record needs (the models' accuracies) so that they start computing sooner.
  bool recorded = true;
};

/// The provenance group of an item that a resumed file already holds, if any.
std::optional<h5::group> saved_provenance(const context& c, const std::string& section, const std::string& name) {
  const h5::group all = c.out.root().open_group("provenance");
  if (!all.has(section) || !all.open_group(section).has(name)) return std::nullopt;
  return all.open_group(section).open_group(name);
}

/// Refuses to continue partial results computed from other inputs: `what` differs from the saved value.
void require_same(const context& c, const std::string& item, const std::string& what, const std::string& saved,
                  const std::string& now) {
  if (saved != now)
    throw error(fmt::format("cannot resume {}: {} {} is {} now but was {} when the partial results were computed; "
                            "move the partial file away to start afresh",
                            c.out.partial_path(), item, what, now.substr(0, 16), saved.substr(0, 16)));
}

/// Builds the data set `spec` from its source (data sets it depends on are in c.data: build order).
std::shared_ptr<const dataset> make_dataset(const context& c, const dataset_spec& spec) {
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
  return d;
}

/// Makes the data set `spec` available to the items after it, recording its provenance; `given` when rank 0
/// of an MPI job built it, else built here.
void build_data(context& c, const dataset_spec& spec, std::shared_ptr<const dataset> given = nullptr) {
  std::shared_ptr<const dataset> d = given ? std::move(given) : make_dataset(c, spec);
  if (!c.options.quiet)
    c.log << fmt::format("dataset {}: {} samples of {}, {} classes, {} labels, sha256 {}\n", spec.name, d->size(),
                         shape_text(d->shape), d->class_count, label_mode_name(d->labels_mode),
                         d->sha256.substr(0, 12));
  if (const auto saved = saved_provenance(c, "datasets", spec.name)) {
    require_same(c, "data set '" + spec.name + "'", "sha256", saved->attr_string("sha256"), d->sha256);
    c.data[spec.name] = std::move(d);
    return;
  }
  const h5::group g = c.out.provenance("datasets", spec.name);
  g.set_attr("sha256", d->sha256);
  g.set_attr("description", d->description);
  g.set_attr("samples", static_cast<std::int64_t>(d->size()));
  g.set_attr("dim", static_cast<std::int64_t>(d->dim()));
  g.set_attr("class_count", static_cast<std::int64_t>(d->class_count));
  g.set_attr("label_mode", std::string(label_mode_name(d->labels_mode)));
  if (d->labels_mode == label_mode::corrupt) g.set_attr("corruption", d->corruption);
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

/// A model file of the cache that another model's name keeps under the same key (`suffix` is "-KEY.h5"): the
/// first by name, or "" when there is none. The key covers everything the weights depend on, so models that
/// share a train table and data share one trained file. Files are complete once named so (atomic replace).
std::string same_key_file(const std::string& folder, const std::string& suffix) {
  std::string found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > suffix.size() && name.ends_with(suffix) && entry.is_regular_file(ec) &&
        (found.empty() || entry.path().string() < found))
      found = entry.path().string();
  }
  return found;
}

/// Trains the model unless the cache holds one of the same configuration and data; returns its path.
std::string trained_model_path(context& c, const model_spec& spec) {
  const train_config& config = *spec.train;
  const dataset& train = *c.data.at(spec.dataset);
  const dataset* test = spec.test_dataset.empty() ? nullptr : c.data.at(spec.test_dataset).get();
  const std::string key = model_cache_key(config, train.sha256, test ? test->sha256 : std::string());
  const std::string suffix = "-" + key.substr(0, 16) + ".h5";
  const std::string path = (std::filesystem::path(c.exp.model_cache) / (spec.name + suffix)).string();
  std::error_code ec;
  std::filesystem::create_directories(c.exp.model_cache, ec);
  const auto reuse = [&](const std::string& file) {
    if (!c.options.quiet) c.log << fmt::format("model {}: reusing {} (same configuration and data)\n", spec.name, file);
    if (config.target_accuracy) warn_if_capped(c, spec, load_model(file).record);
    return file;
  };
  if (!std::filesystem::exists(path))
    if (const std::string shared = same_key_file(c.exp.model_cache, suffix); !shared.empty()) return reuse(shared);
  // One process trains a model while the others wait for it; the kernel drops the lock of a killed trainer.
  const durable::file_lock lock(path + ".lock", true, [&](const std::string& holder) {
    c.log << fmt::format("model {}: waiting for process {}, which is training it into {}\n", spec.name, holder, path)
          << std::flush;
  });
  durable::remove_stale_temporaries(path);
  const std::string state_path = path + ".state";
  durable::remove_stale_temporaries(state_path);
  if (std::filesystem::exists(path)) return reuse(path);
  training_record record;
  record.label_mode = label_mode_name(train.labels_mode);
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
  training_hooks hooks;
  hooks.on_epoch = on_epoch;
  // The state after an epoch is saved at most every checkpoint_seconds, so a killed run continues from it.
  auto last_state = std::chrono::steady_clock::now();
  hooks.state_wanted = [&] { return seconds_since(last_state) >= c.options.checkpoint_seconds; };
  hooks.on_state = [&](const training_state& state) {
    save_training_state(state_path, state);
    last_state = std::chrono::steady_clock::now();
  };
  std::optional<training_state> saved_state;
  if (std::filesystem::exists(state_path)) {
    try {
      saved_state = load_training_state(state_path);
      hooks.resume_from = &*saved_state;
      if (!c.options.quiet)
        c.log << fmt::format("model {}: continuing the interrupted training after epoch {} ({})\n", spec.name,
                             saved_state->record.epochs_run, state_path);
    } catch (const std::exception& e) {
      c.log << fmt::format("warning: model {}: ignoring an unreadable training state ({}); training afresh\n",
                           spec.name, describe(e));
    }
  }
  const mlp net = train_mlp_resumable(train, test, config, record, hooks);
  save_model(path, net, record);
  std::filesystem::remove(state_path, ec);
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

/// Calls f() and returns what it returns; anything a plugin threw becomes a plugin_error naming the plugin
/// and `what` (the call or the experiment item). A stop request passes through.
template <class F>
auto guarded(const std::string& plugin, const std::string& what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const plugin_error&) {
    throw;
  } catch (const stop_requested_error&) {
    throw;
  } catch (const std::exception& e) {
    throw plugin_error(plugin, what + ": " + e.what());
  } catch (...) {
    throw plugin_error(plugin, what + ": threw an exception that is not a std::exception");
  }
}

/// A backend as the host and the other plugins see it: every call guarded, and logits() checked to
/// return one row of class_count() values per input.
class checked_backend final : public network_backend {
 public:
  checked_backend(std::shared_ptr<const network_backend> inner, std::string plugin)
      : inner_(std::move(inner)), plugin_(std::move(plugin)) {
    classes_ = guarded(plugin_, "class_count()", [&] { return inner_->class_count(); });
    shape_ = guarded(plugin_, "input_shape()", [&] { return inner_->input_shape(); });
  }
  std::vector<std::size_t> input_shape() const override { return shape_; }
  std::size_t class_count() const override { return classes_; }
  void logits(matrix_view x, matrix& out) const override {
    guarded(plugin_, "logits()", [&] { inner_->logits(x, out); });
    if (out.rows != x.rows || out.cols != classes_ || out.data.size() != out.rows * out.cols)
      throw plugin_error(plugin_, fmt::format("logits() returned {} x {} ({} values) for {} inputs of a {}-class model",
                                              out.rows, out.cols, out.data.size(), x.rows, classes_));
  }
  std::string model_digest() const override {
    return guarded(plugin_, "model_digest()", [&] { return inner_->model_digest(); });
  }
  std::string describe() const override {
    return guarded(plugin_, "describe()", [&] { return inner_->describe(); });
  }
  const piecewise_linear_graph* piecewise_linear() const override {
    const piecewise_linear_graph* view =
        guarded(plugin_, "piecewise_linear()", [&] { return inner_->piecewise_linear(); });
    if (view != nullptr && (view->input_dim() != input_dim() || view->output_dim() != classes_))
      throw plugin_error(plugin_, fmt::format("piecewise_linear() gave a graph of {} inputs and {} outputs for a "
                                              "model of {} inputs and {} classes",
                                              view->input_dim(), view->output_dim(), input_dim(), classes_));
    return view;
  }
  std::vector<std::string> hidden_layers() const override {
    return guarded(plugin_, "hidden_layers()", [&] { return inner_->hidden_layers(); });
  }
  void activations(const std::string& layer, matrix_view x, matrix& out) const override {
    guarded(plugin_, "activations()", [&] { inner_->activations(layer, x, out); });
    if (out.rows != x.rows || out.data.size() != out.rows * out.cols)
      throw plugin_error(plugin_, fmt::format("activations() of layer '{}' returned {} x {} ({} values) for {} inputs",
                                              layer, out.rows, out.cols, out.data.size(), x.rows));
  }
  std::vector<std::int64_t> checkpoint_epochs() const override {
    return guarded(plugin_, "checkpoint_epochs()", [&] { return inner_->checkpoint_epochs(); });
  }
  std::shared_ptr<const network_backend> at_checkpoint(std::int64_t epoch) const override {
    auto inner = guarded(plugin_, "at_checkpoint()", [&] { return inner_->at_checkpoint(epoch); });
    if (inner == nullptr) throw plugin_error(plugin_, fmt::format("at_checkpoint({}) returned no backend", epoch));
    auto checked = std::make_shared<checked_backend>(std::move(inner), plugin_);
    if (checked->input_shape() != shape_ || checked->class_count() != classes_)
      throw plugin_error(plugin_, fmt::format("at_checkpoint({}) serves another network shape or class count", epoch));
    return checked;
  }

 private:
  std::shared_ptr<const network_backend> inner_;
  std::string plugin_;
  std::size_t classes_ = 0;
  std::vector<std::size_t> shape_;
};

/// The fraction of `data`'s samples whose predicted class (predict_classes: the argmax, ties to the lower class)
/// is their label, through the model's batched forward. Rows are counted, so it does not depend on the thread
/// count (nor on the batch: a backend classifies a row the same in any batch). Polls stop signals per batch.
double accuracy(const network_backend& model, const dataset& data) {
  constexpr std::size_t batch_rows = 256;
  std::size_t correct = 0;
  matrix logits;
  std::vector<int> predicted;
  for (std::size_t first = 0; first < data.size(); first += batch_rows) {
    throw_if_stop_requested();
    const std::size_t rows = std::min(batch_rows, data.size() - first);
    model.logits(matrix_view(data.x.row(first), rows, data.dim()), logits);
    predict_classes(logits, predicted);
    for (std::size_t i = 0; i < rows; ++i) correct += predicted[i] == data.labels[first + i];
  }
  return static_cast<double>(correct) / static_cast<double>(data.size());
}

void build_model(context& c, const model_spec& spec) {
  option_set options = spec.backend_options;
  if (spec.train) options.set("path", trained_model_path(c, spec));
  const plugin_info& info = c.plugins.require(plugin_kind::backend, spec.backend);
  std::shared_ptr<network_backend> backend = std::make_shared<checked_backend>(
      spec.loaded ? spec.loaded : c.plugins.create_backend(spec.backend, options), info.name);
  // The served model's accuracy on its `dataset` and `test` data sets, when given.
  std::optional<double> train_accuracy, test_accuracy;
  if (c.recorded && !spec.dataset.empty()) train_accuracy = accuracy(*backend, *c.data.at(spec.dataset));
  if (c.recorded && !spec.test_dataset.empty()) test_accuracy = accuracy(*backend, *c.data.at(spec.test_dataset));
  if (!c.options.quiet) {
    std::string accuracies;
    if (train_accuracy)
      accuracies += fmt::format(", train accuracy {:.2f}% ({})", 100 * *train_accuracy, spec.dataset);
    if (test_accuracy)
      accuracies += fmt::format(", test accuracy {:.2f}% ({})", 100 * *test_accuracy, spec.test_dataset);
    c.log << fmt::format("model {}: {} ({}), digest {}{}\n", spec.name, backend->describe(), info.name,
                         backend->model_digest().substr(0, 12), accuracies);
  }
  if (const auto saved = saved_provenance(c, "models", spec.name)) {
    require_same(c, "model '" + spec.name + "'", "digest", saved->attr_string("digest"), backend->model_digest());
    c.models[spec.name] = std::move(backend);
    return;
  }
  const h5::group g = c.out.provenance("models", spec.name);
  g.set_attr("backend", info.name);
  g.set_attr("backend_version", info.version);
  g.set_attr("backend_options", options_text(options));
  g.set_attr("description", backend->describe());
  g.set_attr("digest", backend->model_digest());
  g.set_attr("trained", static_cast<std::int64_t>(spec.train.has_value()));
  g.set_attr("train_dataset", spec.dataset);
  g.set_attr("test_dataset", spec.test_dataset);
  if (train_accuracy) g.set_attr("train_accuracy", *train_accuracy);
  if (test_accuracy) g.set_attr("test_accuracy", *test_accuracy);
  if (options.has("path")) g.set_attr("model_file", options.get_string("path"));
  c.models[spec.name] = std::move(backend);
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

/// Streams batches first..batches-1 through `compute` (in parallel, any order) and `write` (one at a time, in
/// batch order), with at most `in_flight` batches in memory: the results file never depends on the
/// thread count or on which batch finishes first. A batch whose compute throws is reported when its turn
/// to be written comes, so every batch before it is written whatever the thread count, and the error
/// is always that of the first failing batch. A stop signal ends the issuing of batches; those issued
/// are written, then stop_requested_error is thrown.
template <class Job, class Compute, class Write>
void ordered_batches(std::size_t first, std::size_t batches, std::size_t in_flight, Compute&& compute, Write&& write) {
  namespace flow = oneapi::tbb::flow;
  struct slot {
    std::size_t index = 0;
    Job job;
    std::exception_ptr failure;
  };
  using slot_ptr = std::shared_ptr<slot>;
  flow::graph graph;
  std::size_t next = first;
  flow::input_node<std::size_t> source(graph, [&](oneapi::tbb::flow_control& fc) -> std::size_t {
    if (next >= batches || stop_signal() != 0) {
      fc.stop();
      return 0;
    }
    return next++;
  });
  flow::limiter_node<std::size_t> limiter(graph, in_flight);
  flow::function_node<std::size_t, slot_ptr> work(graph, flow::unlimited, [&](std::size_t b) {
    auto s = std::make_shared<slot>();
    s->index = b;
    try {
      compute(b, s->job);
    } catch (...) {
      s->failure = std::current_exception();
    }
    return s;
  });
  flow::sequencer_node<slot_ptr> order(graph, [first](const slot_ptr& s) { return s->index - first; });
  flow::function_node<slot_ptr, flow::continue_msg> sink(graph, flow::serial, [&](const slot_ptr& s) {
    if (s->failure) std::rethrow_exception(s->failure);
    write(s->job);
    return flow::continue_msg();
  });
  flow::make_edge(source, limiter);
  flow::make_edge(limiter, work);
  flow::make_edge(work, order);
  flow::make_edge(order, sink);
  flow::make_edge(sink, limiter.decrementer());
  source.activate();
  graph.wait_for_all();
  throw_if_stop_requested();
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
  probe_batch probes;
  interval_batch results;
  table_batch rows;
};

/// Whole batches that a resumed table already holds; throws when the rows saved are not whole batches.
std::size_t batches_done(const context& c, const table_writer& writer, std::size_t batch, std::size_t total,
                         const std::string& owner) {
  const std::size_t rows = writer.rows();
  if (rows > total || (rows % batch != 0 && rows != total))
    throw error(fmt::format("cannot resume {}: {} holds {} rows, not whole batches of {} out of {}",
                            c.out.partial_path(), owner, rows, batch, total));
  return (rows + batch - 1) / batch;
}

/// The rows [first, last) of a table of `rows` in batches of `batch` that this process computes (c.part).
struct row_block {
  std::size_t first_batch, end_batch, first, last;
  std::size_t rows() const { return last - first; }
};

row_block shard_rows(const context& c, std::size_t rows, std::size_t batch) {
  const auto [first_batch, end_batch] = shard_batches(c.part.value_or(shard{}), (rows + batch - 1) / batch);
  return {first_batch, end_batch, std::min(rows, first_batch * batch), std::min(rows, end_batch * batch)};
}

/// " (shard I/N)" when only a shard is computed here, for progress lines.
std::string shard_note(const context& c) {
  return c.part ? fmt::format(" (shard {}/{})", c.part->index, c.part->count) : std::string();
}

/// Records a shard's place in a table of `total` rows (merge_shards checks and removes it).
void set_shard_rows(const context& c, const h5::group& table, const row_block& block, std::size_t total) {
  if (!c.part) return;
  table.set_attr("shard_first_row", static_cast<std::int64_t>(block.first));
  table.set_attr("shard_total_rows", static_cast<std::int64_t>(total));
}

/// True when a resumed file holds `g` complete (attribute complete = 1): the item is not computed again.
bool kept_complete(const context& c, const h5::group& parent, const std::string& name, const std::string& what) {
  if (!parent.has(name) || parent.open_group(name).attr_int("complete") != 1) return false;
  if (!c.options.quiet) c.log << fmt::format("{} {}: complete in the partial results, kept\n", what, name);
  return true;
}

void execute_run(context& c, const run_spec& run) {
  const sampler_spec& ss = find_item(c.exp.samplers, run.sampler);
  const estimator_spec& es = find_item(c.exp.estimators, run.estimator);
  const dataset& data = *c.data.at(ss.dataset);
  const network_backend& backend = *c.models.at(run.model);
  if (kept_complete(c, c.out.root().open_group("runs"), run.name, "run")) return;
  auto sampler = c.plugins.create_sampler(ss.plugin, ss.options);
  auto estimator = c.plugins.create_estimator(es.plugin, es.options);
  const auto prepare_start = std::chrono::steady_clock::now();
  guarded(ss.plugin, "sampler '" + ss.name + "' on data set '" + ss.dataset + "'",
          [&] { sampler->prepare(data, c.exp.seed); });
  const double prepare_seconds = seconds_since(prepare_start);

  std::size_t n = 0;
  guarded(ss.plugin, "sampler '" + ss.name + "'", [&] { n = sampler->probe_count(); });
  const std::size_t batch = std::max<std::size_t>(1, run.batch_size);

  const std::string owner = fmt::format("run '{}'", run.name);
  table_spec spec;
  guarded(es.plugin, "estimator '" + es.name + "'", [&] { spec = interval_table_spec(estimator->extra_columns(), es.plugin); });
  table_writer writer = c.out.begin_run(run.name, spec, owner);
  const row_block block = shard_rows(c, n, batch);
  const std::size_t first_batch = block.first_batch + batches_done(c, writer, batch, block.rows(), owner);
  const h5::group& g = writer.group();
  set_shard_rows(c, g, block, n);
  if (!g.has_attr("start_time")) g.set_attr("start_time", iso_time_now());
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
  g.set_attr("complete", std::int64_t{0});
  const auto start = std::chrono::steady_clock::now();

  progress bar("run " + run.name + shard_note(c), block.rows(), "probes", c.log, c.options.quiet);
  bar.advance(writer.rows());
  // Time spent inside the plugins, summed over worker threads (nanoseconds).
  std::atomic<std::int64_t> sample_ns{0}, estimate_ns{0};
  ordered_batches<run_job>(
      first_batch, block.end_batch, batches_in_flight(c),
      [&](std::size_t b, run_job& job) {
        const std::size_t first = b * batch;
        {
          const timer t(sample_ns);
          guarded(ss.plugin, "sampler '" + ss.name + "'",
                  [&] { sampler->sample(first, std::min(batch, n - first), job.probes); });
        }
        {
          const timer t(estimate_ns);
          guarded(es.plugin, "estimator '" + es.name + "'", [&] {
            estimator->estimate(backend, job.probes, job.results);
            job.results.check(job.probes.size());
          });
        }
        interval_rows(spec, job.probes, job.results, data, owner, job.rows);
      },
      [&](const run_job& job) {
        writer.append(job.rows);
        c.wrote_rows = true;
        bar.advance(job.rows.rows());
        c.out.checkpoint();
      });
  bar.finish();

  if (writer.rows() != block.rows())
    throw error(fmt::format("run '{}': wrote {} of {} probes", run.name, writer.rows(), block.rows()));
  g.set_attr("end_time", iso_time_now());
  g.set_attr("seconds", seconds_since(start));
  g.set_attr("sampler_prepare_seconds", prepare_seconds);
  g.set_attr("sampler_seconds", 1e-9 * static_cast<double>(sample_ns.load()));
  g.set_attr("estimator_seconds", 1e-9 * static_cast<double>(estimate_ns.load()));
  g.set_attr("complete", std::int64_t{1});
  c.out.checkpoint(true);
}

struct analysis_job {
  table_batch rows;
};

void execute_analysis(context& c, const analysis_spec& spec) {
  const network_backend& backend = *c.models.at(spec.model);
  if (kept_complete(c, c.out.root().open_group("analyses"), spec.name, "analysis")) return;
  std::vector<const dataset*> data;
  for (const std::string& name : spec.datasets) data.push_back(c.data.at(name).get());
  auto a = c.plugins.create_analysis(spec.plugin, spec.options);
  const std::string owner = fmt::format("analysis '{}' (plugin '{}')", spec.name, spec.plugin);
  std::vector<table_spec> tables;
  guarded(spec.plugin, "analysis '" + spec.name + "'", [&] { tables = a->tables(); });
  const network_backend* reference = spec.reference_model.empty() ? nullptr : c.models.at(spec.reference_model).get();
  const auto prepare_start = std::chrono::steady_clock::now();
  guarded(spec.plugin, "analysis '" + spec.name + "'", [&] {
    if (reference != nullptr) a->set_reference_model(*reference);
    a->prepare(backend, data, c.exp.seed);
  });
  const double prepare_seconds = seconds_since(prepare_start);

  const h5::group g = c.out.begin_analysis(spec.name);
  set_item(c, g, "analysis", spec.name, plugin_kind::analysis, spec.plugin);
  g.set_attr("options", options_text(spec.options));
  g.set_attr("model", spec.model);
  g.set_attr("model_digest", backend.model_digest());
  if (reference != nullptr) {
    g.set_attr("reference_model", spec.reference_model);
    g.set_attr("reference_model_digest", reference->model_digest());
  }
  g.set_attr("datasets", spec.datasets);
  std::vector<std::string> digests;
  for (const dataset* d : data) digests.push_back(d->sha256);
  g.set_attr("dataset_sha256", digests);
  g.set_attr("seed", static_cast<std::uint64_t>(c.exp.seed));
  g.set_attr("batch_size", static_cast<std::int64_t>(spec.batch_size));
  if (!g.has_attr("start_time")) g.set_attr("start_time", iso_time_now());
  g.set_attr("prepare_seconds", prepare_seconds);
  g.set_attr("complete", std::int64_t{0});
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string> table_names;
  for (std::size_t t = 0; t < tables.size(); ++t) {
    table_writer writer = c.out.begin_table(g, tables[t], owner);
    table_names.push_back(tables[t].name);
    if (writer.group().has_attr("rows")) continue;  // finished before an interruption
    std::size_t n = 0;
    guarded(spec.plugin, "analysis '" + spec.name + "'", [&] { n = a->row_count(t); });
    const std::size_t batch = std::max<std::size_t>(1, spec.batch_size);
    const row_block block = shard_rows(c, n, batch);
    set_shard_rows(c, writer.group(), block, n);
    const std::size_t first_batch =
        block.first_batch + batches_done(c, writer, batch, block.rows(), owner + " table '" + tables[t].name + "'");
    std::atomic<std::int64_t> compute_ns{0};
    progress bar(fmt::format("analysis {} ({}){}", spec.name, tables[t].name, shard_note(c)), block.rows(), "rows",
                 c.log, c.options.quiet);
    bar.advance(writer.rows());
    ordered_batches<analysis_job>(
        first_batch, block.end_batch, batches_in_flight(c),
        [&](std::size_t b, analysis_job& job) {
          const std::size_t first = b * batch;
          const std::size_t count = std::min(batch, n - first);
          job.rows.reset(tables[t], count);
          const timer timed(compute_ns);
          guarded(spec.plugin, "analysis '" + spec.name + "'", [&] { a->compute(t, first, count, job.rows); });
        },
        [&](const analysis_job& job) {
          writer.append(job.rows);
          c.wrote_rows = true;
          bar.advance(job.rows.rows());
          c.out.checkpoint();
        });
    bar.finish();
    if (writer.rows() != block.rows())
      throw error(fmt::format("{}: table '{}': wrote {} of {} rows", owner, tables[t].name, writer.rows(),
                              block.rows()));
    writer.group().set_attr("rows", static_cast<std::int64_t>(block.rows()));
    writer.group().set_attr("compute_seconds", 1e-9 * static_cast<double>(compute_ns.load()));
    c.out.checkpoint(true);
  }
  g.set_attr("tables", table_names);
  g.set_attr("end_time", iso_time_now());
  g.set_attr("seconds", seconds_since(start));
  g.set_attr("complete", std::int64_t{1});
  c.out.checkpoint(true);
}

/// Opens the results of `exp` at `output`: afresh, or continuing OUTPUT.partial with options.resume, refusing
/// one whose experiment changed; records the root's provenance.
results_writer open_results(const experiment& exp, const run_options& options, const std::string& output,
                            const std::optional<shard>& part, std::ostream& log) {
  const std::string partial = output + ".partial";
  std::error_code ec;
  if (options.train_only) return results_writer::scratch(output);  // nothing is saved
  const bool resuming = options.resume && std::filesystem::exists(partial, ec);
  if (options.resume && !resuming && !options.quiet)
    log << fmt::format("nothing to resume ({} does not exist): starting afresh\n", partial);
  results_writer out = resuming ? results_writer::resume(output, options.checkpoint_seconds)
                                : results_writer::start(output, options.checkpoint_seconds);
  const h5::group root = out.root();
  if (resuming) {
    const std::string saved = root.has_attr("experiment") ? root.attr_string("experiment") : std::string();
    if (const std::string change = experiment_change(saved, exp.text); !change.empty())
      throw error(fmt::format("cannot resume {}: the experiment changed since those results were started ({}); "
                              "undo the change, or move the partial file away to start afresh",
                              partial, change));
    std::vector<std::string> resumed = root.has_attr("resumed_at") ? root.attr_strings("resumed_at") : std::vector<std::string>{};
    resumed.push_back(iso_time_now());
    root.set_attr("resumed_at", resumed);
    if (!options.quiet) log << fmt::format("resuming the partial results in {}\n", partial);
  } else {
    root.set_attr("genscope_version", std::string(version()));
    root.set_attr("git_commit", std::string(git_commit()));
    root.set_attr("plugin_api_version", static_cast<std::int64_t>(plugin_api_version));
    root.set_attr("experiment_file", exp.file);
    root.set_attr("experiment", exp.text);
    root.set_attr("seed", static_cast<std::uint64_t>(exp.seed));
    root.set_attr("start_time", iso_time_now());
    if (part) {
      root.set_attr("shard_index", static_cast<std::int64_t>(part->index));
      root.set_attr("shard_count", static_cast<std::int64_t>(part->count));
    }
  }
  root.set_attr("host", host_name());
  root.set_attr("threads", static_cast<std::int64_t>(worker_threads()));
  return out;
}

/// Whether `output` holds the complete results of `exp` computed by this build (as --resume finds them after a
/// finished run: kept).
bool complete_results(const experiment& exp, const std::string& output) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(output, ec)) return false;
  try {
    const h5::file f = h5::file::open(output);
    const h5::group r = f.root();
    return r.has_attr("status") && r.attr_string("status") == "complete" && r.has_attr("experiment") &&
           r.has_attr("git_commit") && r.attr_string("git_commit") == git_commit() &&
           experiment_change(r.attr_string("experiment"), exp.text).empty();
  } catch (const std::exception&) {
    return false;  // unreadable: computed afresh
  }
}

/// With --resume, a finished output of the same experiment is kept (a requeued array task, a rerun script).
bool keep_finished(const experiment& exp, const run_options& options, const std::string& partial, std::ostream& log) {
  std::error_code ec;
  if (!options.resume || options.train_only || std::filesystem::exists(partial, ec) ||
      !complete_results(exp, exp.output))
    return false;
  if (!options.quiet) log << fmt::format("{} holds the complete results of this experiment: kept\n", exp.output);
  return true;
}

bool is_input(const std::string& item) { return item.starts_with("datasets.") || item.starts_with("models."); }

/// Builds, trains or computes one item of the build order ("section.name"); `given` data sets come from rank 0.
void build_item(context& c, const std::string& item, const shared_inputs* given = nullptr) {
  const auto dot = item.find('.');
  const std::string section = item.substr(0, dot);
  const std::string name = item.substr(dot + 1);
  try {
    if (section == "datasets")
      build_data(c, find_item(c.exp.datasets, name), given != nullptr ? given->datasets.at(name) : nullptr);
    else if (section == "models") build_model(c, find_item(c.exp.models, name));
    else if (section == "runs") execute_run(c, find_item(c.exp.runs, name));
    else if (section == "analyses") execute_analysis(c, find_item(c.exp.analyses, name));
  } catch (const std::bad_alloc&) {
    // What validation could not foresee (a plugin's own allocations): name the item that asked.
    throw error(fmt::format("[{}]: out of memory ({} bytes one array may take, from {})", item,
                            memory_budget().bytes, memory_budget().source));
  }
}

/// After `e` interrupted the work: saves the results so far to the partial file when there are any, and says
/// what was kept and how to continue (`resume_hint`), as one phrase.
std::string keep_after_failure(context& c, const std::exception& e, const std::string& resume_hint) {
  const auto* io = dynamic_cast<const io_error*>(&e);
  if (io != nullptr && io->path() == c.out.partial_path())
    // Saving itself failed (a full disk): a second try would fail the same way.
    return c.out.saved() ? fmt::format("{} keeps the results of the last checkpoint; {}", c.out.partial_path(),
                                       resume_hint)
                         : std::string("nothing was saved");
  if (!c.out.saved() && !c.wrote_rows) return "no results had been computed";
  try {
    c.out.checkpoint(true);
    return fmt::format("the results so far are saved in {}; {}", c.out.partial_path(), resume_hint);
  } catch (const std::exception& save_error) {
    return c.out.saved() ? fmt::format("{}; {} keeps the results of the last checkpoint; {}", describe(save_error),
                                       c.out.partial_path(), resume_hint)
                         : fmt::format("{}; nothing was saved", describe(save_error));
  }
}

/// The model files that trained models of `exp` use (the model cache's), with their bytes.
std::map<std::string, std::string> trained_model_files(const context& c) {
  std::map<std::string, std::string> files;
  for (const model_spec& m : c.exp.models) {
    if (!m.train) continue;
    const std::string path = c.out.root().open_group("provenance").open_group("models").open_group(m.name)
                                 .attr_string("model_file");
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) throw io_error(path, "cannot read the trained model to send it to the other ranks");
    files[path] = std::move(bytes);
  }
  return files;
}

/// The experiment on the ranks of an MPI job (run_options::ranks).
void run_on_ranks(const experiment& exp, const plugin_registry& plugins, const run_options& options,
                  const rank_group& ranks, std::ostream& log) {
  const shard part{ranks.rank(), ranks.size()};
  run_options mine = options;
  mine.quiet = options.quiet || part.index != 0;
  // Rank 0 decides for every rank whether the results are already complete (ranks may not share its view).
  std::string finished = part.index == 0 && keep_finished(exp, mine, shard_path(exp.output, part) + ".partial", log)
                             ? "yes" : "";
  ranks.broadcast(finished);
  if (!finished.empty()) return;
  const std::string resume_hint =
      fmt::format("continue with: mpirun -n {} genscope run {} -o {} --resume", part.count, exp.file, exp.output);
  std::optional<results_writer> out;
  // Rank 0 also holds OUTPUT's lock, which it writes in the end: no second job writes the same results.
  std::optional<durable::file_lock> output_lock;
  on_every_rank(ranks, [&] {
    out.emplace(open_results(exp, mine, shard_path(exp.output, part), part, log));  // creates OUTPUT's folder
    if (part.index == 0 && !options.train_only) output_lock.emplace(exp.output + ".lock", false);
  });
  context c{exp, plugins, mine, log, *out, part, {}, {}};
  c.recorded = part.index == 0;
  if (!mine.quiet)
    log << fmt::format("{} MPI ranks: rank 0 builds the data sets and trains the models, then each rank computes "
                       "its shard\n", part.count);
  // Rank 0 builds the inputs and sends them; the others take the data sets and load the same models.
  shared_inputs built;
  on_every_rank(ranks, [&] {
    if (part.index != 0) return;
    for (const std::string& item : exp.build_order)
      if (is_input(item)) build_item(c, item);
    built = {{c.data.begin(), c.data.end()}, trained_model_files(c)};
  });
  shared_inputs inputs = share_inputs(ranks, built);
  built = {};
  on_every_rank(ranks, [&] {
    if (part.index == 0) return;
    for (const auto& [path, bytes] : inputs.model_files) {
      std::error_code ec;
      if (!std::filesystem::exists(path, ec)) {
        std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
        durable::replace_file(path, bytes.data(), bytes.size());
      }
    }
    for (const std::string& item : exp.build_order)
      if (is_input(item)) build_item(c, item, &inputs);
  });
  inputs = {};  // the data sets live on in c.data; the model files' bytes are on disk now
  if (options.train_only) return;
  on_every_rank(ranks, [&] {
    try {
      for (const std::string& item : exp.build_order)
        if (!is_input(item)) build_item(c, item);
    } catch (const std::exception& e) {
      throw error(fmt::format("{}; {}", describe(e), keep_after_failure(c, e, resume_hint)));
    }
  });
  // Every rank's results, in memory, to rank 0, which writes the one file; the partial files stay until then.
  out->root().set_attr("end_time", iso_time_now());
  std::vector<std::string> images = ranks.gather(out->complete_image());
  on_every_rank(ranks, [&] {
    if (part.index != 0) return;
    std::vector<shard_source> sources;
    for (std::size_t r = 0; r < images.size(); ++r)
      sources.push_back({fmt::format("the results of rank {}", r), "", std::move(images[r])});
    merge_shard_sources(sources, exp.output).save_atomically(exp.output);
  });
  out->discard_partial();
  if (!mine.quiet) log << fmt::format("results of {} ranks written to {}\n", part.count, exp.output);
}

}  // namespace

void run_experiment(const experiment& exp, const plugin_registry& plugins, const run_options& options,
                    std::ostream& log) {
  if (options.ranks != nullptr && options.ranks->size() > 1) {
    run_on_ranks(exp, plugins, options, *options.ranks, log);
    return;
  }
  if (keep_finished(exp, options, exp.output + ".partial", log)) return;
  const std::string resume_hint = fmt::format("continue with: genscope run {} -o {} --resume", exp.file, exp.output);
  results_writer out = open_results(exp, options, exp.output, options.part, log);
  context c{exp, plugins, options, log, out, options.part, {}, {}};
  try {
    for (const std::string& item : exp.build_order)
      if (!options.train_only || is_input(item)) build_item(c, item);
    if (options.train_only) return;
    out.root().set_attr("end_time", iso_time_now());
    out.finish();
  } catch (const std::exception& e) {
    // One line for the user, saying what was kept and how to continue.
    throw error(fmt::format("{}; {}", describe(e), keep_after_failure(c, e, resume_hint)));
  }
  if (!options.quiet) log << fmt::format("results written to {}\n", exp.output);
}

}  // namespace genscope
