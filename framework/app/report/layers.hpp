// Layers and training in `genscope report`: class-manifold geometry per layer across training epochs
// (manifold_geometry, Stephenson et al. 2021), the accuracy of networks whose layers are rewound to earlier
// checkpoints, and first-layer feature clusters against width and initialization scale (feature_quantization,
// Maennel et al. 2018) (docs/report.md, "Layers and training").
#pragma once

#include "h5/h5.hpp"
#include "report/figures.hpp"
#include "report/sensitivity.hpp"

#include <genscope/export.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace genscope::report {

/// One layer of one manifold_geometry analysis (table `manifolds`) at one epoch and sample subset: the means over its
/// class manifolds, as the plugin's README averages them.
struct layer_geometry {
  std::string analysis, model, regime;  ///< regime: the label regime of the model's training data set
  std::int64_t epoch = 0;               ///< checkpoint epoch; 0: the weights the model serves (final)
  std::string subset, layer;
  std::int64_t layer_index = 0;
  std::size_t manifolds = 0;  ///< rows (class manifolds) of this layer, epoch and subset
  std::size_t measured = 0;   ///< of them, those whose capacity, radius and dimension are all finite
  double capacity = not_available;   ///< 1 / mean(1 / capacity) over the measured manifolds
  double radius = not_available, radius_sem = not_available;  ///< mean, and standard error (n - 1) of the mean
  double dimension = not_available, dimension_sem = not_available;
};

/// Every manifold_geometry analysis with a `manifolds` table, in file order; within one, rows by epoch (ascending,
/// the final weights, epoch 0, last), subset (in order of appearance) and layer_index.
GENSCOPE_API std::vector<layer_geometry> geometry_per_layer(const h5::group& root,
                                                           const std::vector<analysis_info>& analyses);

/// The value of option `name` in a `backend_options` attribute (`path = "m.h5", rewind_layers = "3,4", rewind_to =
/// 10`: name = value pairs joined by ", ", strings in double quotes), unquoted; "" when absent.
GENSCOPE_API std::string backend_option(const std::string& options_text, const std::string& name);

/// A model of /provenance/models served with layers rewound (backend option `rewind_layers`), with the accuracies the
/// results recorded for it and for the model that serves the same file's final weights (the reference).
struct rewound_model {
  std::string model, model_file, train_dataset, regime;
  std::string layers;  ///< rewind_layers as given, e.g. "3,4"
  std::int64_t rewind_to = 0;
  std::int64_t checkpoint = 0;  ///< the epoch the other layers come from (0: final)
  double train_accuracy = not_available, test_accuracy = not_available;
  std::string reference;  ///< a model of the same file with neither rewinding nor a checkpoint; "" when none
  double reference_train_accuracy = not_available, reference_test_accuracy = not_available;
};

/// Every rewound model, ordered by model file (first appearance), layer set (by the number of layers, then as text)
/// and rewind_to.
GENSCOPE_API std::vector<rewound_model> rewound_models(const h5::group& root);

/// One feature_quantization analysis (table `summary`, the row of the served weights, epoch 0) with the width and
/// initialization scale of its model, read from the model file's training record.
struct quantized_model {
  std::string analysis, model, dataset;  ///< dataset: the analysis's (first) data set
  std::int64_t width = 0;                ///< the first hidden layer's width (`hidden[0]` of /training)
  double init_scale = not_available, learning_rate = not_available;
  std::int64_t epochs = 0;  ///< epochs trained (`epochs_run`, else `epochs`)
  double train_accuracy = not_available;  ///< /provenance/models/<model> train_accuracy
  std::int64_t features = 0, clusters = 0, clusters_for_mass = 0;
  double top_fraction = not_available, mass_participation = not_available;
};

/// Every feature_quantization analysis whose model file holds a training record, by data set (first appearance),
/// width and init_scale; the others are left out with a note. `results` is the results file's path (to find relative model files).
GENSCOPE_API std::vector<quantized_model> quantized_models(const h5::group& root,
                                                           const std::vector<analysis_info>& analyses,
                                                           const std::string& results, std::vector<std::string>& notes);

/// The sections "Class manifolds per layer across training", "Layer rewinding" and "Feature quantization", each
/// only when the file has what it shows, appended to `sections`, with their tables (geometry-layers.csv,
/// rewinding.csv, quantization.csv) appended to `tables`.
void layer_sections(const h5::group& root, const std::vector<analysis_info>& analyses, const options& opt,
                    figure_writer& fw, std::vector<section>& sections, std::vector<table>& tables,
                    const std::function<void(const std::string&)>& note);

}  // namespace genscope::report
