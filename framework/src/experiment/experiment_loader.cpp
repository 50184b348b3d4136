// Reading and validating experiment files: every check runs before any work starts.
#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/experiment.hpp>
#include <genscope/memory.hpp>

#include "experiment/item_graph.hpp"
#include "experiment/output_paths.hpp"
#include "experiment/plugin_options.hpp"
#include "experiment/spec_fields.hpp"
#include "experiment/toml_reader.hpp"
#include "results/interval_table.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <system_error>
#include <tuple>

namespace genscope {

namespace {

// The first capability bit (capability_bits) in `needed` that `offered` lacks; 0 when none is missing.
std::uint32_t missing_capability(std::uint32_t needed, std::uint32_t offered) {
  const std::uint32_t missing = needed & ~offered;
  return missing & (~missing + 1);
}

// What a capability bit gives, for the refusal of a plugin that needs it.
std::string capability_text(std::uint32_t bit) {
  switch (bit) {
    case capability_piecewise_linear: return "a piecewise-linear view of the network";
    case capability_hidden_activations: return "the activations of hidden layers";
    default: return "capability bit " + std::to_string(bit);
  }
}

namespace fs = std::filesystem;
using detail::toml_field;
using detail::toml_reader;

enum class section { datasets, models, samplers, estimators, runs, analyses };
constexpr section all_sections[] = {section::datasets, section::models,   section::samplers,
                                    section::estimators, section::runs, section::analyses};

const char* section_name(section s) {
  switch (s) {
    case section::datasets: return "datasets";
    case section::models: return "models";
    case section::samplers: return "samplers";
    case section::estimators: return "estimators";
    case section::runs: return "runs";
    case section::analyses: return "analyses";
  }
  return "?";
}

const char* item_word(section s) {
  switch (s) {
    case section::datasets: return "dataset";
    case section::models: return "model";
    case section::samplers: return "sampler";
    case section::estimators: return "estimator";
    case section::runs: return "run";
    case section::analyses: return "analysis";
  }
  return "?";
}

const std::vector<std::string>& top_level_keys() {
  static const std::vector<std::string> keys{"seed",    "output",     "model_cache", "datasets", "models",
                                             "samplers", "estimators", "runs",        "analyses"};
  return keys;
}

const std::vector<std::string> model_keys{"backend", "dataset", "test", "train"};
const std::vector<std::string> sampler_keys{"plugin", "dataset"};
const std::vector<std::string> estimator_keys{"plugin"};
const std::vector<std::string> run_keys{"model", "sampler", "estimator", "batch_size"};
const std::vector<std::string> analysis_keys{"plugin", "model", "reference_model", "datasets", "batch_size"};

bool valid_item_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
  });
}

std::size_t dim_of(const dataset_shape& s) {
  return std::accumulate(s.shape.begin(), s.shape.end(), std::size_t{1}, std::multiplies<>());
}

/// One [SECTION.NAME] table of the file.
struct item {
  section kind = section::datasets;
  std::string name;
  toml_field field;                         // the item's key and its table
  std::vector<toml_field> fields;           // the table's keys, in file order
  std::vector<toml_field> option_fields;    // the keys that are plugin options
  std::size_t spec = 0;                     // index into the experiment's vector of that kind

  source_position at() const { return field.key_at(); }
  std::string table() const { return "[" + field.path + "]"; }
};

/// A key whose value names another item.
struct reference {
  std::size_t from = 0;  // index into loader::items_
  section target = section::datasets;
  toml_field field;
  std::string name;
};

class loader {
 public:
  loader(std::string_view text, const std::string& file, const plugin_registry& plugins)
      : text_(text), reader_(file), plugins_(plugins) {}

  experiment load() {
    exp_.file = reader_.file();
    exp_.text = std::string(text_);
    parse();
    read_top_level();
    for (item& it : items_) {
      switch (it.kind) {
        case section::datasets: read_dataset(it); break;
        case section::models: read_model(it); break;
        case section::samplers: read_sampler(it); break;
        case section::estimators: read_estimator(it); break;
        case section::runs: read_run(it); break;
        case section::analyses: read_analysis(it); break;
      }
    }
    resolve_references();
    order_items();
    resolve_datasets();
    check_models();
    check_samplers();
    check_runs();
    check_analyses();
    check_output();
    return std::move(exp_);
  }

 private:
  void parse() {
    try {
      root_ = toml::parse(text_, std::string_view(reader_.file()));
    } catch (const toml::parse_error& e) {
      reader_.fail(detail::position_of(e.source()), std::string(e.description()));
    }
  }

  // ---- top level ------------------------------------------------------------------------------

  void read_top_level() {
    std::optional<toml_field> runs_field;
    for (const toml_field& f : reader_.fields(root_, "")) {
      if (f.name == "seed") {
        exp_.seed = reader_.get_seed(f);
      } else if (f.name == "output") {
        exp_.output = reader_.get_string(f);
        output_field_ = f;
      } else if (f.name == "model_cache") {
        exp_.model_cache = reader_.get_string(f);
        cache_field_ = f;
      } else if (const auto s = section_of(f.name)) {
        if (*s == section::runs) runs_field = f;
        read_section(*s, f);
      } else {
        reader_.unknown_key(f, top_level_keys(), "at the top level");
      }
    }
    if (!output_field_)
      reader_.fail(document_start, "missing required key 'output' (the results file, e.g. output = \"results/x.h5\")");
    if (std::none_of(items_.begin(), items_.end(),
                     [](const item& it) { return it.kind == section::runs || it.kind == section::analyses; }))
      reader_.fail(runs_field ? runs_field->key_at() : document_start,
                   "the experiment defines no runs or analyses: add a [runs.NAME] table with model, sampler and "
                   "estimator, or an [analyses.NAME] table with plugin, model and datasets");
    // File order over all sections: the tie-break of the build order.
    std::stable_sort(items_.begin(), items_.end(), [](const item& a, const item& b) {
      const source_position pa = a.at(), pb = b.at();
      return std::tie(pa.line, pa.column) < std::tie(pb.line, pb.column);
    });
    // Look-ups by kind and name stay logarithmic however many items the file holds.
    for (std::size_t k = 0; k < items_.size(); ++k) item_index_.emplace(std::pair{items_[k].kind, items_[k].name}, k);
  }

  static std::optional<section> section_of(const std::string& name) {
    for (section s : all_sections)
      if (name == section_name(s)) return s;
    return std::nullopt;
  }

  void read_section(section s, const toml_field& f) {
    const toml::table& table = reader_.get_table(f);
    for (const toml_field& g : reader_.fields(table, f.name)) {
      if (!valid_item_name(g.name))
        reader_.fail(g.key_at(), fmt::format("invalid {} name '{}' in [{}]: names may contain only letters, digits, "
                                             "'_' and '-'",
                                             item_word(s), g.name, f.name));
      item it;
      it.kind = s;
      it.name = g.name;
      it.field = g;
      it.fields = reader_.fields(reader_.get_table(g), g.path);
      items_.push_back(std::move(it));
    }
  }

  // ---- items ----------------------------------------------------------------------------------

  void add_reference(const item& it, section target, const toml_field& f) {
    reference r;
    r.from = static_cast<std::size_t>(&it - items_.data());
    r.target = target;
    r.field = f;
    r.name = reader_.get_string(f);
    references_.push_back(std::move(r));
  }

  [[noreturn]] void missing_key(const item& it, const std::string& key, const std::string& meaning) const {
    reader_.fail(it.at(), fmt::format("{} is missing required key '{}' ({})", it.table(), key, meaning));
  }

  const plugin_info& require_plugin(plugin_kind kind, const toml_field& f, const item& it) const {
    const std::string name = reader_.get_string(f);
    try {
      return plugins_.require(kind, name);
    } catch (const error& e) {
      reader_.fail(f.value_at(), about(it, e.what()));
    }
  }

  /// `message` (from a plugin or the data loader) prefixed with the item it concerns, unless it names it.
  static std::string about(const item& it, const std::string& message) {
    const std::string subject = fmt::format("{} '{}'", item_word(it.kind), it.name);
    if (message.find(subject) != std::string::npos) return message;
    return subject + ": " + message;
  }

  detail::plugin_item plugin_item_of(const item& it, const std::vector<std::string>& reserved) const {
    return {fmt::format("{} '{}'", item_word(it.kind), it.name), it.table(), it.at(), reserved};
  }

  /// A plugin's factory sees every value the schema cannot judge (ranges, combinations).
  template <class Create>
  void try_create(const item& it, Create&& create) const {
    try {
      create();
    } catch (const std::exception& e) {
      reader_.fail(detail::blame(e.what(), it.option_fields, it.at()),
                   about(it, e.what()));
    } catch (...) {
      reader_.fail(it.at(), about(it, "the plugin threw an exception that is not a std::exception"));
    }
  }

  void read_dataset(item& it) {
    dataset_spec scratch;  // types and ranges now; the real spec once `from` is resolved
    for (const toml_field& f : it.fields) {
      detail::apply_dataset_field(reader_, scratch, f);
      if (f.name == "from" || f.name == "pca_fit") add_reference(it, section::datasets, f);
    }
    it.spec = exp_.datasets.size();
    exp_.datasets.emplace_back().name = it.name;
  }

  void read_model(item& it) {
    model_spec m;
    m.name = it.name;
    m.where = it.at();
    std::optional<toml_field> backend, data, test, train;
    for (const toml_field& f : it.fields) {
      if (f.name == "backend") {
        backend = f;
        m.backend = reader_.get_string(f);
      } else if (f.name == "dataset") {
        data = f;
        add_reference(it, section::datasets, f);
        m.dataset = reader_.get_string(f);
      } else if (f.name == "test") {
        test = f;
        add_reference(it, section::datasets, f);
        m.test_dataset = reader_.get_string(f);
      } else if (f.name == "train") {
        train = f;
        reader_.get_table(f);
      } else {
        it.option_fields.push_back(f);
      }
    }
    if (!backend) missing_key(it, "backend", "the backend plugin, e.g. backend = \"native\"");
    const auto native_only = [&] {
      reader_.fail(train->key_at(), fmt::format("[{}]: training is available for the native backend only, not "
                                                "backend = \"{}\"",
                                                train->path, m.backend));
    };
    // Checked before the plugin lookup, except for a misspelt "native", which the registry's "did you mean" answers.
    if (train && m.backend != "native" && closest_name(m.backend, {"native"}).empty()) native_only();
    if (train && !data)
      reader_.fail(train->key_at(), fmt::format("[{}] needs 'dataset' (the training data) in {}", train->path,
                                                it.table()));
    const plugin_info& plugin = require_plugin(plugin_kind::backend, *backend, it);
    if (train && m.backend != "native") native_only();
    if (train) {
      m.train = detail::read_train_config(reader_, reader_.get_table(*train), train->path, exp_.seed);
      // The required options load a model (native: `path`); a trained model is loaded from the cache.
      for (const toml_field& f : it.option_fields) {
        const option_spec* o = detail::find_option(plugin, f.name);
        if (o != nullptr && o->default_value == nullptr)
          reader_.fail(f.key_at(), fmt::format("'{}' cannot be combined with [{}]: a trained model is stored in "
                                               "model_cache and loaded from there",
                                               f.path, train->path));
      }
    }
    m.backend_options = detail::read_plugin_options(reader_, plugin, plugin_item_of(it, model_keys), it.option_fields,
                                                    !train.has_value());
    it.spec = exp_.models.size();
    exp_.models.push_back(std::move(m));
  }

  /// Reads `plugin` and the plugin's options of a sampler or estimator item into `s`;
  /// `other` takes each remaining framework key (returns false for plugin options).
  template <class Spec, class Other>
  option_set read_plugin_item(item& it, Spec& s, plugin_kind kind, const std::vector<std::string>& reserved,
                              const char* plugin_hint, Other&& other) {
    s.name = it.name;
    s.where = it.at();
    std::optional<toml_field> plugin_field;
    for (const toml_field& f : it.fields) {
      if (f.name == "plugin") {
        plugin_field = f;
        s.plugin = reader_.get_string(f);
      } else if (!other(f)) {
        it.option_fields.push_back(f);
      }
    }
    if (!plugin_field) missing_key(it, "plugin", plugin_hint);
    const plugin_info& plugin = require_plugin(kind, *plugin_field, it);
    return detail::read_plugin_options(reader_, plugin, plugin_item_of(it, reserved), it.option_fields, true);
  }

  void read_sampler(item& it) {
    sampler_spec s;
    s.options = read_plugin_item(it, s, plugin_kind::sampler, sampler_keys,
                                 "the sampler plugin, e.g. plugin = \"pairwise\"", [&](const toml_field& f) {
                                   if (f.name != "dataset") return false;
                                   add_reference(it, section::datasets, f);
                                   s.dataset = reader_.get_string(f);
                                   return true;
                                 });
    if (s.dataset.empty()) missing_key(it, "dataset", "the data set the probes are drawn from");
    it.spec = exp_.samplers.size();
    exp_.samplers.push_back(std::move(s));
  }

  void read_estimator(item& it) {
    estimator_spec s;
    s.options = read_plugin_item(it, s, plugin_kind::estimator, estimator_keys,
                                 "the estimator plugin, e.g. plugin = \"bisection\"",
                                 [](const toml_field&) { return false; });
    // The estimator's extra columns join the interval table: a clash or a bad declaration is refused now.
    try_create(it, [&] { interval_table_spec(plugins_.create_estimator(s.plugin, s.options)->extra_columns(), s.plugin); });
    it.spec = exp_.estimators.size();
    exp_.estimators.push_back(std::move(s));
  }

  void read_run(item& it) {
    run_spec r;
    r.name = it.name;
    r.where = it.at();
    for (const toml_field& f : it.fields) {
      if (f.name == "model") {
        add_reference(it, section::models, f);
        r.model = reader_.get_string(f);
      } else if (f.name == "sampler") {
        add_reference(it, section::samplers, f);
        r.sampler = reader_.get_string(f);
      } else if (f.name == "estimator") {
        add_reference(it, section::estimators, f);
        r.estimator = reader_.get_string(f);
      } else if (f.name == "batch_size") {
        r.batch_size = reader_.get_count(f, 1);
      } else {
        reader_.unknown_key(f, run_keys, "in " + it.table());
      }
    }
    if (r.model.empty()) missing_key(it, "model", "the model to probe");
    if (r.sampler.empty()) missing_key(it, "sampler", "where the probes come from");
    if (r.estimator.empty()) missing_key(it, "estimator", "how intervals are computed");
    it.spec = exp_.runs.size();
    exp_.runs.push_back(std::move(r));
  }

  void read_analysis(item& it) {
    analysis_spec a;
    std::optional<toml_field> datasets_field;
    a.options = read_plugin_item(it, a, plugin_kind::analysis, analysis_keys,
                                 "the analysis plugin, e.g. plugin = \"jacobian\"", [&](const toml_field& f) {
                                   if (f.name == "model") {
                                     add_reference(it, section::models, f);
                                     a.model = reader_.get_string(f);
                                   } else if (f.name == "reference_model") {
                                     add_reference(it, section::models, f);
                                     a.reference_model = reader_.get_string(f);
                                   } else if (f.name == "datasets") {
                                     datasets_field = f;
                                     for (const toml_field& e : string_elements(f)) {
                                       add_reference(it, section::datasets, e);
                                       a.datasets.push_back(reader_.get_string(e));
                                     }
                                   } else if (f.name == "batch_size") {
                                     a.batch_size = reader_.get_count(f, 1);
                                   } else {
                                     return false;
                                   }
                                   return true;
                                 });
    if (a.model.empty()) missing_key(it, "model", "the model to analyse");
    if (!datasets_field) missing_key(it, "datasets", "the data sets it reads, e.g. datasets = [\"train\", \"test\"]");
    if (a.datasets.empty())
      reader_.fail(datasets_field->value_at(), fmt::format("'{}' names no data set", datasets_field->path));
    it.spec = exp_.analyses.size();
    exp_.analyses.push_back(std::move(a));
  }

  /// The elements of an array of strings, each a field of its own (path "key[i]") for messages.
  std::vector<toml_field> string_elements(const toml_field& f) const {
    const toml::array* array = f.value->as_array();
    if (array == nullptr)
      reader_.fail(f.value_at(), fmt::format("'{}' must be an array of strings, not {}", f.path,
                                             toml_reader::type_phrase(*f.value)));
    std::vector<toml_field> out;
    for (std::size_t i = 0; i < array->size(); ++i) {
      toml_field e = f;
      e.path = fmt::format("{}[{}]", f.path, i);
      e.value = array->get(i);
      out.push_back(e);
    }
    return out;
  }

  // ---- references and order -------------------------------------------------------------------

  std::optional<std::size_t> find_item(section s, const std::string& name) const {
    const auto it = item_index_.find({s, name});
    if (it == item_index_.end()) return std::nullopt;
    return it->second;
  }

  void resolve_references() {
    for (const reference& r : references_) {
      if (find_item(r.target, r.name)) continue;
      std::vector<std::string> names;
      for (const item& it : items_)
        if (it.kind == r.target) names.push_back(it.name);
      std::string message = fmt::format("unknown {} '{}' in '{}'", item_word(r.target), r.name, r.field.path);
      const std::string guess = closest_name(r.name, names);
      if (!guess.empty())
        message += fmt::format("; did you mean '{}'?", guess);
      else if (names.empty())
        message += fmt::format(" (the file defines no [{}.NAME] tables)", section_name(r.target));
      else
        message += fmt::format(" (defined {}: {})", section_name(r.target), fmt::join(names, ", "));
      reader_.fail(r.field.value_at(), message);
    }
  }

  void order_items() {
    std::vector<detail::graph_item> nodes;
    for (const item& it : items_) nodes.push_back({section_name(it.kind), it.name});
    std::vector<detail::graph_reference> edges;
    for (const reference& r : references_) edges.push_back({r.from, *find_item(r.target, r.name), r.field});
    order_ = detail::build_order(reader_, nodes, edges);
    for (std::size_t k : order_)
      exp_.build_order.push_back(fmt::format("{}.{}", section_name(items_[k].kind), items_[k].name));
  }

  // ---- data sets and shapes -------------------------------------------------------------------

  const item& item_named(section s, const std::string& name) const { return items_[*find_item(s, name)]; }

  void resolve_datasets() {
    for (std::size_t k : order_) {
      const item& it = items_[k];
      if (it.kind != section::datasets) continue;
      dataset_spec spec;
      spec.seed = exp_.seed;
      for (const toml_field& f : it.fields)
        if (f.name == "from") spec = exp_.datasets[item_named(section::datasets, reader_.get_string(f)).spec];
      spec.name = it.name;
      inherit_dependent_keys(it, spec);
      const toml_field* dim_field = nullptr;
      const toml_field* manifold_field = nullptr;
      for (const toml_field& f : it.fields) {
        if (f.name == "from") continue;
        detail::apply_dataset_field(reader_, spec, f);
        if (f.name == "dim") dim_field = &f;
        if (f.name == "manifold_dim") manifold_field = &f;
      }
      for (const toml_field& f : it.fields) {
        const std::vector<std::string> needed = detail::dataset_key_sources(f.name);
        if (!needed.empty() && std::find(needed.begin(), needed.end(), spec.source) == needed.end())
          reader_.fail(f.key_at(), fmt::format("'{}' applies to source = \"{}\" only, but {} has source = \"{}\"",
                                               f.path, fmt::join(needed, "\" or \""), it.table(), spec.source));
      }
      if (spec.source == "synthetic" && spec.manifold_dim > spec.dim) {
        const toml_field* f = manifold_field != nullptr ? manifold_field : dim_field;
        reader_.fail(f != nullptr ? f->value_at() : it.at(),
                     fmt::format("{}: manifold_dim ({}) must not exceed dim ({})", it.table(), spec.manifold_dim,
                                 spec.dim));
      }
      if (spec.source == "synthetic" && spec.classes > spec.samples)
        reader_.fail(field_named(it, "classes") != nullptr ? field_named(it, "classes")->value_at() : it.at(),
                     fmt::format("{}: classes ({}) must not exceed samples ({})", it.table(), spec.classes, spec.samples));
      try {
        shapes_[it.name] = peek_dataset(spec);
        shapes_[it.name].name = it.name;
        // The samples in memory as float32 (a data set of more than memory is refused now, by name); a
        // synthetic set is generated whole before any subset is taken.
        const dataset_shape& shape = shapes_[it.name];
        const std::size_t held = spec.source == "synthetic" ? std::max(shape.count, spec.samples) : shape.count;
        check_allocation(static_cast<std::uint64_t>(held) * dim_of(shape), sizeof(float),
                         fmt::format("{}: {} samples of dimension {}", it.table(), held, dim_of(shape)));
      } catch (const error& e) {
        reader_.fail(detail::blame(e.what(), it.fields, it.at()), about(it, e.what()));
      }
      check_pca_fit(it, spec);
      exp_.datasets[it.spec] = std::move(spec);
    }
  }

  /// A key that only qualifies another (corruption of label_mode, pca_dim/pca_fit of transform) is not
  /// inherited through `from` when this table sets the key it qualifies.
  void inherit_dependent_keys(const item& it, dataset_spec& spec) const {
    const auto sets = [&](const char* key) { return field_named(it, key) != nullptr; };
    if (sets("label_mode") && !sets("corruption")) spec.corruption = dataset_spec{}.corruption;
    if (sets("transform") && !sets("pca_dim")) spec.pca_dim = 0;
    if (sets("transform") && !sets("pca_fit")) spec.pca_fit.clear();
  }

  /// pca_fit names a data set (built first) whose untransformed samples have this one's dimension.
  void check_pca_fit(const item& it, const dataset_spec& spec) const {
    if (spec.transform != "pca" || spec.pca_fit.empty()) return;
    const toml_field* f = field_named(it, "pca_fit");
    const source_position at = f != nullptr ? f->value_at() : it.at();
    const auto untransformed = [](dataset_spec s) {
      s.transform = "none";
      s.pca_dim = 0;
      s.pca_fit.clear();
      return s;
    };
    const auto found = find_item(section::datasets, spec.pca_fit);
    if (!found) reader_.fail(at, fmt::format("{}: pca_fit = \"{}\" names no data set", it.table(), spec.pca_fit));
    dataset_shape own, fit;
    try {
      own = peek_dataset(untransformed(spec));
      fit = peek_dataset(untransformed(exp_.datasets[items_[*found].spec]));
    } catch (const error& e) {
      reader_.fail(at, about(it, e.what()));
    }
    if (dim_of(own) != dim_of(fit))
      reader_.fail(at, fmt::format("{}: pca_fit = \"{}\" has samples of dimension {}, but this data set has "
                                   "dimension {} before the transform",
                                   it.table(), spec.pca_fit, dim_of(fit), dim_of(own)));
  }

  const toml_field* field_named(const item& it, const std::string& name) const {
    for (const toml_field& f : it.fields)
      if (f.name == name) return &f;
    return nullptr;
  }

  /// Training holds the weights, their gradients, two optimizer moments and every checkpoint, and the
  /// activations of one minibatch twice: refused now, naming the model, when that exceeds memory.
  void check_training_memory(const item& it, const model_spec& m, const dataset_shape& train) const {
    const train_config& c = *m.train;
    long double parameters = 0, widths = 0;
    std::size_t in = dim_of(train);
    std::vector<std::size_t> layers = c.hidden;
    layers.push_back(std::max<std::size_t>(train.class_count, 1));
    for (std::size_t out : layers) {
      parameters += static_cast<long double>(in) * out + out;
      widths += out;
      in = out;
    }
    const long double copies = 4 + static_cast<long double>(c.checkpoints.size());
    const long double values = parameters * copies + 2 * widths * std::min(c.batch_size, train.count);
    try {
      check_allocation(values > 1e19L ? ~std::uint64_t{0} : static_cast<std::uint64_t>(values), sizeof(float),
                       fmt::format("model '{}': training {:.0f} parameters (hidden {}) with batch_size {}", m.name,
                                   static_cast<double>(parameters), fmt::join(c.hidden, "x"), c.batch_size));
    } catch (const error& e) {
      const toml_field* train_field = field_named(it, "train");
      reader_.fail(train_field != nullptr ? train_field->key_at() : it.at(), e.what());
    }
  }

  /// A model's test set has the dimension and class count of what the model was made for: a trained model's
  /// training set, a loaded model's input and classes.
  void check_test_set(const item& it, const model_spec& m, std::size_t input, std::size_t classes) const {
    const dataset_shape& test = shapes_.at(m.test_dataset);
    const source_position at = field_named(it, "test")->value_at();
    const std::string training = fmt::format("training dataset '{}'", m.dataset);
    if (dim_of(test) != input)
      reader_.fail(at, fmt::format("model '{}': test dataset '{}' has samples of dimension {}, but {} has dimension {}",
                                   m.name, m.test_dataset, dim_of(test), m.train ? training : "the model's input",
                                   input));
    if (test.class_count != 0 && classes != 0 && test.class_count != classes)
      reader_.fail(at, fmt::format("model '{}': test dataset '{}' has {} classes, but {} has {}", m.name,
                                   m.test_dataset, test.class_count, m.train ? training : "the model", classes));
  }

  void check_models() {
    for (const item& it : items_) {
      if (it.kind != section::models) continue;
      const model_spec& m = exp_.models[it.spec];
      std::size_t input = 0;
      if (m.train) {
        const dataset_shape& train = shapes_.at(m.dataset);
        input = dim_of(train);
        model_classes_[m.name] = train.class_count;
        check_training_memory(it, m, train);
      } else {
        try {
          exp_.models[it.spec].loaded = plugins_.create_backend(m.backend, m.backend_options);
          input = m.loaded->input_dim();
          model_classes_[m.name] = m.loaded->class_count();
        } catch (const std::exception& e) {
          reader_.fail(detail::blame(e.what(), it.option_fields, it.at()),
                       about(it, e.what()));
        }
        if (!m.dataset.empty() && dim_of(shapes_.at(m.dataset)) != input)
          reader_.fail(field_named(it, "dataset")->value_at(),
                       fmt::format("model '{}' takes inputs of dimension {}, but its dataset '{}' has dimension {}",
                                   m.name, input, m.dataset, dim_of(shapes_.at(m.dataset))));
      }
      if (!m.test_dataset.empty()) check_test_set(it, m, input, model_classes_.at(m.name));
      model_inputs_[m.name] = input;
    }
  }

  /// Each sampler against its data set's shape (dimension, sample count), before any work.
  void check_samplers() {
    for (const item& it : items_) {
      if (it.kind != section::samplers) continue;
      const sampler_spec& s = exp_.samplers[it.spec];
      try_create(it, [&] { plugins_.create_sampler(s.plugin, s.options)->check(shapes_.at(s.dataset)); });
    }
  }

  void check_runs() {
    for (const run_spec& r : exp_.runs) {
      const sampler_spec& s = exp_.samplers[item_named(section::samplers, r.sampler).spec];
      const estimator_spec& e = exp_.estimators[item_named(section::estimators, r.estimator).spec];
      const model_spec& m = exp_.models[item_named(section::models, r.model).spec];
      const std::uint32_t needed = plugins_.require(plugin_kind::estimator, e.plugin).capabilities;
      const std::uint32_t offered = plugins_.require(plugin_kind::backend, m.backend).capabilities;
      if (const std::uint32_t missing = missing_capability(needed, offered))
        reader_.fail(r.where, fmt::format("run '{}': estimator '{}' (plugin '{}') needs {}, which backend '{}' of "
                                          "model '{}' does not offer",
                                          r.name, r.estimator, e.plugin, capability_text(missing), m.backend,
                                          r.model));
      const std::size_t input = model_inputs_.at(r.model);
      const std::size_t dim = dim_of(shapes_.at(s.dataset));
      if (input != dim)
        reader_.fail(r.where, fmt::format("run '{}': model '{}' takes inputs of dimension {}, but sampler '{}' draws "
                                          "from dataset '{}' of dimension {}",
                                          r.name, r.model, input, r.sampler, s.dataset, dim));
      const std::size_t classes = model_classes_.at(r.model), data_classes = shapes_.at(s.dataset).class_count;
      if (classes != 0 && data_classes > classes)
        reader_.fail(r.where, fmt::format("run '{}': sampler '{}' draws from dataset '{}' of {} classes, but model "
                                          "'{}' has {}",
                                          r.name, r.sampler, s.dataset, data_classes, r.model, classes));
    }
  }

  /// Each analysis: its backend's capabilities, its data sets' dimension against the model's input, its
  /// declared tables, and the plugin's own check of the data shapes.
  void check_analyses() {
    for (const item& it : items_) {
      if (it.kind != section::analyses) continue;
      const analysis_spec& a = exp_.analyses[it.spec];
      const model_spec& m = exp_.models[item_named(section::models, a.model).spec];
      const std::uint32_t needed = plugins_.require(plugin_kind::analysis, a.plugin).capabilities;
      const std::uint32_t offered = plugins_.require(plugin_kind::backend, m.backend).capabilities;
      const toml_field* model_field = field_named(it, "model");
      if (const std::uint32_t missing = missing_capability(needed, offered))
        reader_.fail(model_field->value_at(),
                     fmt::format("analysis '{}' (plugin '{}') needs {}, which backend '{}' of model '{}' does not "
                                 "offer",
                                 a.name, a.plugin, capability_text(missing), m.backend, a.model));
      const std::size_t input = model_inputs_.at(a.model);
      std::vector<dataset_shape> shapes;
      const toml_field* datasets_field = field_named(it, "datasets");
      for (std::size_t k = 0; k < a.datasets.size(); ++k) {
        shapes.push_back(shapes_.at(a.datasets[k]));
        const source_position at = string_elements(*datasets_field)[k].value_at();
        if (dim_of(shapes.back()) != input)
          reader_.fail(at, fmt::format("analysis '{}': model '{}' takes inputs of dimension {}, but dataset '{}' has "
                                       "dimension {}",
                                       a.name, a.model, input, a.datasets[k], dim_of(shapes.back())));
        const std::size_t classes = model_classes_.at(a.model);
        if (classes != 0 && shapes.back().class_count > classes)
          reader_.fail(at, fmt::format("analysis '{}': dataset '{}' has {} classes, but model '{}' has {}", a.name,
                                       a.datasets[k], shapes.back().class_count, a.model, classes));
      }
      bool takes_reference = false;
      try_create(it, [&] {
        auto analysis = plugins_.create_analysis(a.plugin, a.options);
        takes_reference = analysis->takes_reference_model();
        analysis->check(shapes, input);
        std::set<std::string> names;
        for (const table_spec& t : analysis->tables()) {
          check_table_spec(t, fmt::format("plugin '{}'", a.plugin));
          if (!names.insert(t.name).second)
            throw error(fmt::format("plugin '{}' declares two tables named '{}'", a.plugin, t.name));
        }
      });
      if (!a.reference_model.empty()) check_reference_model(it, a, needed, takes_reference);
    }
  }

  /// An analysis's reference model: the plugin takes one, its backend offers the analysis's capabilities, and
  /// it takes the model's inputs and classes.
  void check_reference_model(const item& it, const analysis_spec& a, std::uint32_t needed, bool takes_reference) {
    const model_spec& r = exp_.models[item_named(section::models, a.reference_model).spec];
    const source_position at = field_named(it, "reference_model")->value_at();
    if (!takes_reference)
      reader_.fail(at, fmt::format("analysis '{}': plugin '{}' takes no reference model ('reference_model' is for "
                                   "analyses that compare two networks, e.g. interactions)",
                                   a.name, a.plugin));
    const std::uint32_t offered = plugins_.require(plugin_kind::backend, r.backend).capabilities;
    if (const std::uint32_t missing = missing_capability(needed, offered))
      reader_.fail(at, fmt::format("analysis '{}' (plugin '{}') needs {}, which backend '{}' of reference model '{}' "
                                   "does not offer",
                                   a.name, a.plugin, capability_text(missing), r.backend, a.reference_model));
    if (model_inputs_.at(r.name) != model_inputs_.at(a.model))
      reader_.fail(at, fmt::format("analysis '{}': reference model '{}' takes inputs of dimension {}, model '{}' {}",
                                   a.name, r.name, model_inputs_.at(r.name), a.model, model_inputs_.at(a.model)));
    const std::size_t classes = model_classes_.at(a.model), reference_classes = model_classes_.at(r.name);
    if (classes != 0 && reference_classes != 0 && classes != reference_classes)
      reader_.fail(at, fmt::format("analysis '{}': reference model '{}' has {} classes, model '{}' {}", a.name,
                                   r.name, reference_classes, a.model, classes));
    if (r.name == a.model)
      reader_.fail(at, fmt::format("analysis '{}': reference_model names the analysed model '{}' itself", a.name,
                                   a.model));
  }

  // ---- output ---------------------------------------------------------------------------------

  void check_output() {
    std::string problem = output_problem(exp_.output, experiment_inputs(exp_), exp_.model_cache);
    if (!problem.empty())
      reader_.fail(output_field_->value_at(),
                   fmt::format("'output' = \"{}\" cannot be written: {}", exp_.output, problem));

    const auto trains = std::find_if(exp_.models.begin(), exp_.models.end(),
                                     [](const model_spec& m) { return m.train.has_value(); });
    if (trains == exp_.models.end()) return;
    problem = detail::folder_problem(exp_.model_cache);
    if (problem.empty()) return;
    source_position at = trains->where;
    if (cache_field_) at = cache_field_->value_at();
    reader_.fail(at, fmt::format("'model_cache' = \"{}\"{} cannot hold trained models: {}", exp_.model_cache,
                                 cache_field_ ? "" : " (the default)", problem));
  }

  static constexpr source_position document_start{1, 1};

  std::string_view text_;
  toml_reader reader_;
  const plugin_registry& plugins_;
  toml::table root_;
  experiment exp_;
  std::vector<item> items_;  // every item, in file order once read_top_level returns
  std::map<std::pair<section, std::string>, std::size_t> item_index_;  // into items_, by kind and name
  std::vector<reference> references_;
  std::optional<toml_field> output_field_;
  std::optional<toml_field> cache_field_;
  std::vector<std::size_t> order_;
  std::map<std::string, dataset_shape> shapes_;       // by dataset name
  std::map<std::string, std::size_t> model_inputs_;   // by model name
  std::map<std::string, std::size_t> model_classes_;  // by model name (0: unknown)
};

}  // namespace

experiment parse_experiment(const std::string& text, const std::string& file, const plugin_registry& plugins) {
  return loader(text, file, plugins).load();
}

experiment load_experiment(const std::string& path, const plugin_registry& plugins) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw io_error(path, "is a folder, not an experiment file");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    if (!fs::exists(path, ec)) throw io_error(path, "no such file");
    throw io_error(path, fmt::format("cannot be read: {}", std::generic_category().message(err)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw io_error(path, "read failed");
  return parse_experiment(text.str(), path, plugins);
}

}  // namespace genscope
