// Layers and training in `genscope report`: geometry per layer and epoch, layer rewinding, feature quantization.
#include "report/layers.hpp"

#include <genscope/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <tuple>

namespace fs = std::filesystem;

namespace genscope::report {

namespace {

double attr_or_nan(const h5::group& g, const char* name) { return g.has_attr(name) ? g.attr_double(name) : not_available; }

// Mean and standard error of the mean (n - 1 in the variance; NaN below two values).
std::pair<double, double> mean_sem(const std::vector<double>& v) {
  if (v.empty()) return {not_available, not_available};
  double sum = 0;
  for (double x : v) sum += x;
  const double n = static_cast<double>(v.size()), mean = sum / n;
  if (v.size() < 2) return {mean, not_available};
  double ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  return {mean, std::sqrt(ss / (n - 1) / n)};
}

std::string epoch_label(std::int64_t epoch) { return epoch == 0 ? "final" : fmt::format("epoch {}", epoch); }

// Epochs ascending, the final weights (0) last.
bool epoch_before(std::int64_t a, std::int64_t b) {
  constexpr std::int64_t last = std::numeric_limits<std::int64_t>::max();
  return (a == 0 ? last : a) < (b == 0 ? last : b);
}

template <typename T>
std::size_t index_of(std::vector<T>& order, const T& value) {
  const auto it = std::find(order.begin(), order.end(), value);
  if (it != order.end()) return static_cast<std::size_t>(it - order.begin());
  order.push_back(value);
  return order.size() - 1;
}

}  // namespace

// ---- manifold geometry per layer ---------------------------------------------------------------------------------

std::vector<layer_geometry> geometry_per_layer(const h5::group& root, const std::vector<analysis_info>& analyses) {
  std::vector<layer_geometry> out;
  for (const analysis_info& a : analyses) {
    if (a.plugin != "manifold_geometry" ||
        std::none_of(a.tables.begin(), a.tables.end(), [](const analysis_table_info& t) { return t.name == "manifolds"; }))
      continue;
    const h5::group t = root.open_group("analyses").open_group(a.name).open_group("manifolds");
    const auto epoch = t.read<std::int64_t>("epoch"), layer_index = t.read<std::int64_t>("layer_index");
    const auto subset = t.read_strings("subset"), layer = t.read_strings("layer");
    const auto capacity = t.read<double>("capacity"), radius = t.read<double>("radius"),
               dimension = t.read<double>("dimension");
    h5::same_rows(t, {{"epoch", epoch.size()}, {"layer_index", layer_index.size()}, {"subset", subset.size()},
                      {"layer", layer.size()}, {"capacity", capacity.size()}, {"radius", radius.size()},
                      {"dimension", dimension.size()}});
    std::string train_dataset;
    if (const auto prov = model_provenance(root, a.model)) train_dataset = attr_text(*prov, "train_dataset");
    const std::string regime = label_regime(root, train_dataset);

    struct accumulated {
      std::string layer;
      std::size_t rows = 0;
      std::vector<double> inverse_capacity, radius, dimension;
    };
    std::vector<std::string> subsets;  // in order of appearance
    std::map<std::tuple<std::int64_t, std::size_t, std::int64_t>, accumulated> cells;  // (epoch, subset, layer)
    for (std::size_t r = 0; r < epoch.size(); ++r) {
      accumulated& c = cells[{epoch[r], index_of(subsets, subset[r]), layer_index[r]}];
      c.layer = layer[r];
      ++c.rows;
      if (!std::isfinite(capacity[r]) || !std::isfinite(radius[r]) || !std::isfinite(dimension[r])) continue;
      c.inverse_capacity.push_back(1 / capacity[r]);
      c.radius.push_back(radius[r]);
      c.dimension.push_back(dimension[r]);
    }
    std::vector<std::pair<std::tuple<std::int64_t, std::size_t, std::int64_t>, accumulated*>> ordered;
    for (auto& [key, c] : cells) ordered.emplace_back(key, &c);
    std::stable_sort(ordered.begin(), ordered.end(), [](const auto& x, const auto& y) {
      const auto [ex, sx, lx] = x.first;
      const auto [ey, sy, ly] = y.first;
      if (ex != ey) return epoch_before(ex, ey);
      return std::pair{sx, lx} < std::pair{sy, ly};
    });
    for (const auto& [key, c] : ordered) {
      layer_geometry g;
      g.analysis = a.name;
      g.model = a.model;
      g.regime = regime;
      g.epoch = std::get<0>(key);
      g.subset = subsets[std::get<1>(key)];
      g.layer_index = std::get<2>(key);
      g.layer = c->layer;
      g.manifolds = c->rows;
      g.measured = c->radius.size();
      if (g.measured > 0) g.capacity = 1 / mean_sem(c->inverse_capacity).first;
      std::tie(g.radius, g.radius_sem) = mean_sem(c->radius);
      std::tie(g.dimension, g.dimension_sem) = mean_sem(c->dimension);
      out.push_back(std::move(g));
    }
  }
  return out;
}

// ---- layer rewinding ---------------------------------------------------------------------------------------------

std::string backend_option(const std::string& text, const std::string& name) {
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t eq = text.find(" = ", at);
    if (eq == std::string::npos) return "";
    const std::string key = text.substr(at, eq - at);
    std::size_t value_start = eq + 3, value_end, next;
    if (value_start < text.size() && text[value_start] == '"') {
      // A quoted string ends at the quote followed by ", " or the end.
      std::size_t q = value_start + 1;
      while (true) {
        q = text.find('"', q);
        if (q == std::string::npos || q + 1 == text.size() || text.compare(q + 1, 2, ", ") == 0) break;
        ++q;
      }
      if (q == std::string::npos) return "";
      ++value_start;
      value_end = q;
      next = q + 1;
    } else {
      value_end = std::min(text.find(", ", value_start), text.size());
      next = value_end;
    }
    if (key == name) return text.substr(value_start, value_end - value_start);
    at = next + (next < text.size() ? 2 : 0);
  }
  return "";
}

std::vector<rewound_model> rewound_models(const h5::group& root) {
  std::vector<rewound_model> out;
  if (!has_group(root, {"provenance", "models"})) return out;
  const h5::group models = root.open_group("provenance").open_group("models");
  struct served {
    std::string name, file, layers;
    std::int64_t rewind_to = 0, checkpoint = 0;
    double train = not_available, test = not_available;
    std::string train_dataset;
  };
  const auto to_int = [](const std::string& s) -> std::int64_t {
    try {
      return s.empty() ? 0 : std::stoll(s);
    } catch (const std::exception&) {
      return 0;
    }
  };
  std::vector<served> all;
  for (const std::string& m : models.children()) {
    const h5::group g = models.open_group(m);
    const std::string options = attr_text(g, "backend_options");
    all.push_back({m, attr_text(g, "model_file"), backend_option(options, "rewind_layers"),
                   to_int(backend_option(options, "rewind_to")), to_int(backend_option(options, "checkpoint")),
                   attr_or_nan(g, "train_accuracy"), attr_or_nan(g, "test_accuracy"), attr_text(g, "train_dataset")});
  }
  std::vector<std::string> files;
  for (const served& s : all) {
    if (s.layers.empty()) continue;
    rewound_model r;
    r.model = s.name;
    r.model_file = s.file;
    r.train_dataset = s.train_dataset;
    r.regime = label_regime(root, s.train_dataset);
    r.layers = s.layers;
    r.rewind_to = s.rewind_to;
    r.checkpoint = s.checkpoint;
    r.train_accuracy = s.train;
    r.test_accuracy = s.test;
    // The reference serves the same file's final weights on the same data sets.
    for (const served& ref : all)
      if (ref.file == s.file && ref.layers.empty() && ref.checkpoint == 0 && ref.train_dataset == s.train_dataset) {
        r.reference = ref.name;
        r.reference_train_accuracy = ref.train;
        r.reference_test_accuracy = ref.test;
        break;
      }
    index_of(files, s.file);
    out.push_back(std::move(r));
  }
  // Per file, the layer sets by size (1, 4, 3,4, 2,3,4), then each set by epoch.
  const auto layer_count = [](const std::string& layers) { return std::count(layers.begin(), layers.end(), ',') + 1; };
  std::stable_sort(out.begin(), out.end(), [&](const rewound_model& a, const rewound_model& b) {
    const auto key = [&](const rewound_model& r) {
      return std::tuple{index_of(files, r.model_file), layer_count(r.layers), r.layers, r.rewind_to};
    };
    return key(a) < key(b);
  });
  return out;
}

// ---- feature quantization ----------------------------------------------------------------------------------------

std::vector<quantized_model> quantized_models(const h5::group& root, const std::vector<analysis_info>& analyses,
                                              const std::string& results, std::vector<std::string>& notes) {
  std::vector<quantized_model> out;
  for (const analysis_info& a : analyses) {
    if (a.plugin != "feature_quantization" ||
        std::none_of(a.tables.begin(), a.tables.end(), [](const analysis_table_info& t) { return t.name == "summary"; }))
      continue;
    quantized_model q;
    q.analysis = a.name;
    q.model = a.model;
    q.dataset = a.datasets.empty() ? "" : a.datasets.front();
    const auto prov = model_provenance(root, a.model);
    const std::string file = prov ? attr_text(*prov, "model_file") : "";
    if (prov) q.train_accuracy = attr_or_nan(*prov, "train_accuracy");
    const fs::path path = find_model_file(results, file);
    const auto skip = [&](const std::string& why) {
      notes.push_back(fmt::format("analysis {} (feature_quantization): {}; left out of the feature quantization "
                                  "section",
                                  a.name, why));
    };
    if (file.empty() || !fs::exists(path)) {
      skip(file.empty() ? "its model names no model file" : "model file " + file + " is gone");
      continue;
    }
    try {
      const h5::file mf = h5::file::open(path.string());
      const h5::group mr = mf.root();
      if (!mr.has("training") || !mr.open_group("training").has_attr("hidden")) {
        skip("model file " + file + " has no training record (width and initialization scale unknown)");
        continue;
      }
      const h5::group tr = mr.open_group("training");
      const std::vector<std::int64_t> hidden = tr.attr_ints("hidden");
      if (hidden.empty()) {
        skip("model file " + file + " has no hidden layer");
        continue;
      }
      q.width = hidden.front();
      q.init_scale = tr.attr_double("init_scale");
      q.learning_rate = tr.attr_double("learning_rate");
      q.epochs = tr.has_attr("epochs_run") ? tr.attr_int("epochs_run") : tr.attr_int("epochs");
    } catch (const std::exception& e) {
      skip(std::string("cannot read the training record of model file ") + file + ": " + e.what());
      continue;
    }
    const h5::group t = root.open_group("analyses").open_group(a.name).open_group("summary");
    const auto epoch = t.read<std::int64_t>("epoch"), features = t.read<std::int64_t>("features"),
               clusters = t.read<std::int64_t>("clusters"), for_mass = t.read<std::int64_t>("clusters_for_mass");
    const auto top = t.read<double>("top_fraction"), participation = t.read<double>("mass_participation");
    h5::same_rows(t, {{"epoch", epoch.size()}, {"features", features.size()}, {"clusters", clusters.size()},
                      {"clusters_for_mass", for_mass.size()}, {"top_fraction", top.size()},
                      {"mass_participation", participation.size()}});
    const auto row = std::find(epoch.begin(), epoch.end(), 0);
    if (row == epoch.end()) {
      skip("no row of the served weights (epoch 0) in its summary table");
      continue;
    }
    const auto r = static_cast<std::size_t>(row - epoch.begin());
    q.features = features[r];
    q.clusters = clusters[r];
    q.clusters_for_mass = for_mass[r];
    q.top_fraction = top[r];
    q.mass_participation = participation[r];
    out.push_back(std::move(q));
  }
  // Per data set (in order of appearance), by width, then by scale.
  std::vector<std::string> datasets;
  for (const quantized_model& q : out) index_of(datasets, q.dataset);
  std::stable_sort(out.begin(), out.end(), [&](const quantized_model& a, const quantized_model& b) {
    return std::tuple{index_of(datasets, a.dataset), a.width, a.init_scale} <
           std::tuple{index_of(datasets, b.dataset), b.width, b.init_scale};
  });
  return out;
}

// ---- sections ----------------------------------------------------------------------------------------------------

namespace {

std::string safe_stem(std::string s) {
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  return s;
}

section geometry_section(const std::vector<layer_geometry>& rows, figure_writer& fw, table& csv) {
  section s;
  s.anchor = "geometry-layers";
  s.title = "Class manifolds per layer across training (Stephenson et al. 2021)";
  s.text =
      "Stephenson et al. (2021) found that networks memorize randomly relabelled samples mostly in their deeper "
      "layers: there, late in training, the manifolds of relabelled samples (grouped by the label trained on) shrink "
      "in radius and dimension and so become more separable (capacity rises), while early layers are hardly "
      "affected. One "
      "figure per manifold_geometry analysis and measure: its mean over the class manifolds at each layer (input, "
      "hidden layers, logits), one curve per checkpoint epoch (colour; final: the weights the model serves) and "
      "sample subset (dash: clean samples kept their label, relabelled ones had it changed by a permutation or "
      "corruption). Capacity is averaged inversely (1 / mean(1 / alpha_M)), radius and dimension arithmetically, "
      "over the manifolds whose three values are finite (measured; a manifold the QP solver failed on, or of a dead "
      "layer, is left out); *_sem is the standard error of the mean over manifolds. Definitions: docs/science.md, "
      "\"Manifold geometry across layers\".";
  csv = {"geometry-layers",
         "Class-manifold geometry per manifold_geometry analysis, epoch (0: final), subset and layer: means over the "
         "measured manifolds",
         {"analysis", "model", "regime", "epoch", "subset", "layer_index", "layer", "manifolds", "measured",
          "capacity", "radius", "radius_sem", "dimension", "dimension_sem"},
         {}};
  for (const layer_geometry& g : rows)
    csv.rows.push_back({g.analysis, g.model, g.regime, std::to_string(g.epoch), g.subset, std::to_string(g.layer_index),
                        g.layer, std::to_string(g.manifolds), std::to_string(g.measured), cell(g.capacity),
                        cell(g.radius), cell(g.radius_sem), cell(g.dimension), cell(g.dimension_sem)});
  s.tables = {csv};

  std::vector<std::string> analyses;
  for (const layer_geometry& g : rows) index_of(analyses, g.analysis);
  for (const std::string& a : analyses) {
    std::vector<const layer_geometry*> mine;
    for (const layer_geometry& g : rows)
      if (g.analysis == a) mine.push_back(&g);
    std::vector<std::int64_t> epochs;
    std::vector<std::string> subsets;
    std::map<std::int64_t, std::string> layer_names;
    for (const layer_geometry* g : mine) {
      index_of(epochs, g->epoch);
      index_of(subsets, g->subset);
      layer_names.emplace(g->layer_index, g->layer);
    }
    std::string xtics = "set xtics rotate by -30 (";
    for (auto it = layer_names.begin(); it != layer_names.end(); ++it)
      xtics += (it == layer_names.begin() ? "" : ", ") + gp_quote(it->second) + " " + std::to_string(it->first);
    xtics += ")\n";
    const layer_geometry& first = *mine.front();
    for (const auto& [measure, field] : {std::pair{"capacity", &layer_geometry::capacity},
                                         {"radius", &layer_geometry::radius}, {"dimension", &layer_geometry::dimension}}) {
      std::string data, plot;
      int block = 0;
      for (std::size_t e = 0; e < epochs.size(); ++e)
        for (std::size_t k = 0; k < subsets.size(); ++k) {
          std::string part;
          for (const layer_geometry* g : mine)
            if (g->epoch == epochs[e] && g->subset == subsets[k] && std::isfinite(g->*field))
              part += fmt::format("{} {:.9g}\n", g->layer_index, g->*field);
          if (part.empty()) continue;
          const std::string label = epoch_label(epochs[e]) + " " + subsets[k];
          data += "# " + label + "\n" + part + "\n\n";
          plot += (block == 0 ? "plot " : ", \\\n     ") +
                  fmt::format("dat index {} using 1:2 with linespoints lw 2 pt 7 ps 0.6 lt {} dt {} title {}", block,
                              e + 1, k + 1, gp_quote(label));
          ++block;
        }
      if (block == 0) continue;
      const std::string stem = "geometry-" + safe_stem(a) + "-" + measure;
      const std::string who = fmt::format("{}: model {} ({})", a, first.model, first.regime);
      fw.draw(stem, data,
              "set title " + gp_quote(who + ": mean " + measure + " per layer") + "\n" + xtics +
                  "set xlabel 'layer'\nset ylabel " + gp_quote(std::string(measure) + " (mean over class manifolds)") +
                  "\n" + plot);
      s.figs.push_back(stem);
      s.captions.push_back(fmt::format("{}: mean {} of the class manifolds per layer, one curve per epoch (colour) "
                                       "and subset (line style, in this order: {})",
                                       who, measure, joined(subsets, ", ")));
    }
  }
  return s;
}

section rewinding_section(const std::vector<rewound_model>& rows, figure_writer& fw, table& csv) {
  section s;
  s.anchor = "rewinding";
  s.title = "Layer rewinding";
  s.text =
      "Models served with some weight layers taken from an earlier checkpoint of the same training run (native "
      "backend options rewind_layers, 1-based weight layers, the last being the output layer, and rewind_to), the "
      "other layers from the final weights (or from checkpoint). Stephenson et al. (2021) found that rewinding the "
      "last layers to an early epoch undoes most memorization of noisy labels and restores test accuracy, while "
      "rewinding the first layers does not. Accuracies are those the results recorded for each served model "
      "(/provenance/models: train_accuracy on the model's training data set, with the labels it was trained on; "
      "test_accuracy on its test set); the reference is the model serving the same file's final weights. One figure "
      "per trained network: test accuracy (solid) and train accuracy (dashed) against the rewind epoch, one colour "
      "per set of rewound layers, the reference as black horizontal lines.";
  csv = {"rewinding",
         "Accuracy of each model with rewound layers, next to its reference (the same file's final weights)",
         {"model", "model_file", "regime", "rewind_layers", "rewind_to", "checkpoint", "train_accuracy",
          "test_accuracy", "reference", "reference_train_accuracy", "reference_test_accuracy"},
         {}};
  for (const rewound_model& r : rows)
    csv.rows.push_back({r.model, r.model_file, r.regime, r.layers, std::to_string(r.rewind_to),
                        std::to_string(r.checkpoint), cell(r.train_accuracy), cell(r.test_accuracy), r.reference,
                        cell(r.reference_train_accuracy), cell(r.reference_test_accuracy)});
  s.tables = {csv};

  std::vector<std::string> files;
  for (const rewound_model& r : rows) index_of(files, r.model_file);
  for (std::size_t f = 0; f < files.size(); ++f) {
    std::vector<const rewound_model*> mine;
    std::vector<std::string> sets;
    double lo = INFINITY, hi = 0;
    for (const rewound_model& r : rows)
      if (r.model_file == files[f]) {
        mine.push_back(&r);
        index_of(sets, r.layers);
        lo = std::min(lo, static_cast<double>(r.rewind_to));
        hi = std::max(hi, static_cast<double>(r.rewind_to));
      }
    std::string data, plot;
    int block = 0;
    for (std::size_t k = 0; k < sets.size(); ++k) {
      std::string part;
      for (const rewound_model* r : mine)
        if (r->layers == sets[k])
          part += fmt::format("{} {} {}\n", r->rewind_to,
                              std::isnan(r->test_accuracy) ? std::string("?") : fmt::format("{:.9g}", r->test_accuracy),
                              std::isnan(r->train_accuracy) ? std::string("?") : fmt::format("{:.9g}", r->train_accuracy));
      data += "# layers " + sets[k] + "\n" + part + "\n\n";
      const std::string sep = block == 0 ? "plot " : ", \\\n     ";
      plot += sep + fmt::format("dat index {0} using 1:2 with linespoints lw 2 pt 7 lt {1} title {2}, \\\n     "
                                "dat index {0} using 1:3 with linespoints lw 1 pt 6 lt {1} dt 2 title {3}",
                                block, k + 1, gp_quote("test, layers " + sets[k]), gp_quote("train, layers " + sets[k]));
      ++block;
    }
    const rewound_model& first = *mine.front();
    if (!first.reference.empty()) {
      if (std::isfinite(first.reference_test_accuracy))
        plot += fmt::format(", \\\n     {:.9g} with lines lw 1 lc 'black' title {}", first.reference_test_accuracy,
                            gp_quote("test, final (" + first.reference + ")"));
      if (std::isfinite(first.reference_train_accuracy))
        plot += fmt::format(", \\\n     {:.9g} with lines lw 1 lc 'black' dt 2 title {}", first.reference_train_accuracy,
                            gp_quote("train, final"));
    }
    const std::string who =
        (first.reference.empty() ? fs::path(first.model_file).stem().string() : first.reference) + " (" + first.regime + ")";
    const std::string stem = fmt::format("rewinding{}", f + 1);
    fw.draw(stem, data,
            "set title " + gp_quote(who + ": accuracy with layers rewound to an earlier epoch") +
                (lo > 0 && hi >= 10 * lo ? "\nset logscale x" : "") + fmt::format("\nset xrange [{}:{}]", lo * 0.9, hi * 1.1) +
                "\nset yrange [0:1.02]\nset xlabel 'rewind_to (checkpoint epoch of the rewound layers)'\n"
                "set ylabel 'accuracy'\n" + plot);
    s.figs.push_back(stem);
    s.captions.push_back(fmt::format("{} (model file {}): test (solid) and train (dashed) accuracy after rewinding "
                                     "layers {} to each epoch{}",
                                     who, first.model_file, joined(sets, " / "),
                                     first.reference.empty() ? "" : "; black: the final weights"));
  }
  return s;
}

section quantization_section(const std::vector<quantized_model>& rows, figure_writer& fw, table& csv) {
  section s;
  s.anchor = "quantization";
  s.title = "Feature quantization (Maennel et al. 2018)";
  s.text =
      "Maennel, Bousquet and Gelly (2018) found that gradient descent from a small initialization concentrates the "
      "first layer's weight vectors on a few directions determined by the data, as many at any width, whereas from a "
      "large initialization they stay spread over many directions. One row per feature_quantization analysis, at "
      "the weights its model serves (epoch 0 of its summary table); width (the first hidden layer's) and "
      "init_scale come from the model file's training record. clusters: groups of feature directions linked below "
      "the analysis's angle; clusters_for_mass: the fewest largest clusters holding its mass_fraction of the "
      "features' norm. Per data set (the analysis's), both against width (one curve per init_scale) and against "
      "init_scale (one curve per width), log scales.";
  csv = {"quantization",
         "First-layer feature clusters per feature_quantization analysis (the served weights) with the width and "
         "initialization scale of its model",
         {"analysis", "model", "dataset", "width", "init_scale", "learning_rate", "epochs", "train_accuracy",
          "features", "clusters", "clusters_for_mass", "top_fraction", "mass_participation"},
         {}};
  for (const quantized_model& q : rows)
    csv.rows.push_back({q.analysis, q.model, q.dataset, std::to_string(q.width), cell(q.init_scale),
                        cell(q.learning_rate), std::to_string(q.epochs), cell(q.train_accuracy),
                        std::to_string(q.features), std::to_string(q.clusters), std::to_string(q.clusters_for_mass),
                        cell(q.top_fraction), cell(q.mass_participation)});
  s.tables = {csv};

  std::vector<std::string> datasets;
  for (const quantized_model& q : rows) index_of(datasets, q.dataset);
  for (const std::string& d : datasets) {
    std::vector<const quantized_model*> mine;
    std::set<std::int64_t> widths;
    std::set<double> scales;
    for (const quantized_model& q : rows)
      if (q.dataset == d) {
        mine.push_back(&q);
        widths.insert(q.width);
        scales.insert(q.init_scale);
      }
    for (const auto& [measure, member_of] : {std::pair{"clusters", &quantized_model::clusters},
                                             {"clusters_for_mass", &quantized_model::clusters_for_mass}}) {
      // A copy the lambdas below can capture (clang 14 does not capture structured bindings).
      const auto field = member_of;
      // Against width, one curve per scale; against scale, one curve per width.
      for (const bool by_width : {true, false}) {
        std::string data, plot;
        int block = 0;
        const auto curve = [&](const std::string& label, auto&& member) {
          std::vector<const quantized_model*> points;
          for (const quantized_model* q : mine)
            if (member(*q)) points.push_back(q);
          std::stable_sort(points.begin(), points.end(), [&](const quantized_model* a, const quantized_model* b) {
            return by_width ? a->width < b->width : a->init_scale < b->init_scale;
          });
          data += "# " + label + "\n";
          for (const quantized_model* q : points)
            data += fmt::format("{:.9g} {}\n", by_width ? static_cast<double>(q->width) : q->init_scale, (*q).*field);
          data += "\n\n";
          plot += (block == 0 ? "plot " : ", \\\n     ") +
                  fmt::format("dat index {} using 1:2 with linespoints lw 2 pt 7 title {}", block, gp_quote(label));
          ++block;
        };
        if (by_width)
          for (double sc : scales) curve("init_scale " + num(sc), [&](const quantized_model& q) { return q.init_scale == sc; });
        else
          for (std::int64_t w : widths) curve("width " + std::to_string(w), [&](const quantized_model& q) { return q.width == w; });
        const std::string stem = "quantization-" + safe_stem(d) + "-" + measure + (by_width ? "-width" : "-scale");
        const std::string x = by_width ? "width (first hidden layer, log scale)" : "init_scale (log scale)";
        fw.draw(stem, data,
                "set title " + gp_quote("data set " + d + ": " + measure + " of first-layer features vs " +
                                        (by_width ? "width" : "initialization scale")) +
                    "\nset logscale x" + (by_width ? " 2" : "") + "\nset logscale y\nset offsets graph 0.05, graph 0.05, 0, 0\n"
                    "set xlabel " + gp_quote(x) + "\nset ylabel " + gp_quote(std::string(measure) + " (log scale)") +
                    "\n" + plot);
        s.figs.push_back(stem);
        s.captions.push_back(fmt::format("data set {}: {} against {}, one curve per {}", d, measure,
                                         by_width ? "width" : "init_scale", by_width ? "init_scale" : "width"));
      }
    }
  }
  return s;
}

}  // namespace

void layer_sections(const h5::group& root, const std::vector<analysis_info>& analyses, const options& opt,
                    figure_writer& fw, std::vector<section>& sections, std::vector<table>& tables,
                    const std::function<void(const std::string&)>& note) {
  const std::vector<layer_geometry> geometry = geometry_per_layer(root, analyses);
  if (!geometry.empty()) {
    table csv;
    sections.push_back(geometry_section(geometry, fw, csv));
    tables.push_back(std::move(csv));
  }
  const std::vector<rewound_model> rewound = rewound_models(root);
  if (!rewound.empty()) {
    table csv;
    sections.push_back(rewinding_section(rewound, fw, csv));
    tables.push_back(std::move(csv));
  }
  std::vector<std::string> notes;
  const std::vector<quantized_model> quantized = quantized_models(root, analyses, opt.results, notes);
  for (const std::string& n : notes) note(n);
  if (!quantized.empty()) {
    table csv;
    sections.push_back(quantization_section(quantized, fw, csv));
    tables.push_back(std::move(csv));
  }
}

}  // namespace genscope::report
