// A validated experiment: the items of an experiment file and the order to build them in.
#pragma once

#include <genscope/datasets.hpp>
#include <genscope/export.hpp>
#include <genscope/mlp.hpp>
#include <genscope/network_backend.hpp>
#include <genscope/options.hpp>
#include <genscope/plugin_registry.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace genscope {

/// Position of an item or key in the experiment file (1-based; 0 = unknown).
struct source_position {
  int line = 0;
  int column = 0;
};

struct model_spec {
  std::string name;
  source_position where;
  std::string backend;                ///< backend plugin name
  option_set backend_options;         ///< validated against the plugin's schema
  std::string dataset;                ///< training data set (required with `train`)
  std::string test_dataset;           ///< optional, for per-epoch test accuracy
  std::optional<train_config> train;  ///< train here (native backend) instead of loading `path`
  /// The backend validation created to check a loaded model's input shape; the pipeline uses it
  /// rather than loading the weights a second time. Null for a model that trains.
  std::shared_ptr<network_backend> loaded;
};

struct sampler_spec {
  std::string name;
  source_position where;
  std::string plugin;
  std::string dataset;
  option_set options;
};

struct estimator_spec {
  std::string name;
  source_position where;
  std::string plugin;
  option_set options;
};

struct run_spec {
  std::string name;
  source_position where;
  std::string model;
  std::string sampler;
  std::string estimator;
  std::size_t batch_size = 64;  ///< probes per batch handed to the estimator
};

struct analysis_spec {
  std::string name;
  source_position where;
  std::string plugin;
  std::string model;
  std::string reference_model;        ///< a second model the analysis compares with; "" for none
  std::vector<std::string> datasets;  ///< in the order the analysis receives them
  option_set options;
  std::size_t batch_size = 64;        ///< rows per batch handed to compute()
};

/// An experiment file after validation: every reference resolves, every plugin
/// and option exists with the right type, and shapes agree.
struct experiment {
  std::string file;             ///< path as given
  std::string text;             ///< the file's full text (provenance)
  std::uint64_t seed = 0;
  std::string output;           ///< results file (relative paths: to the working directory)
  std::string model_cache = "models";  ///< folder for trained models, reused by configuration hash
  std::vector<dataset_spec> datasets;
  std::vector<model_spec> models;
  std::vector<sampler_spec> samplers;
  std::vector<estimator_spec> estimators;
  std::vector<run_spec> runs;
  std::vector<analysis_spec> analyses;
  /// Every item as "datasets.NAME", "models.NAME", ... in an order where each
  /// item comes after everything it references (from the Boost.Graph DAG).
  std::vector<std::string> build_order;
};

/// A file that a command reads, for the output checks: its path and what it is ("the experiment file").
struct input_file {
  std::string path;
  std::string what;
};

/// Why `output` cannot take a results or model file, or "" when it can. Refused: an empty path or one
/// ending in '/'; an existing folder, device, socket, pipe or other non-regular file (also at
/// output + ".partial"); one of `inputs` (the same path, or the same file through another path); a
/// path inside `protected_folder` when given (the model cache); a parent folder that cannot be
/// created or written (created when missing). Checked before any work by validation, `-o` and
/// `genscope train`.
GENSCOPE_API std::string output_problem(const std::string& output, const std::vector<input_file>& inputs,
                                        const std::string& protected_folder = "");

/// The files `exp` reads: the experiment file, each data set's files (dataset_files) and every
/// plugin option named `path` (a loaded model, a directions file, ...).
GENSCOPE_API std::vector<input_file> experiment_inputs(const experiment& exp);

/// Parses and validates an experiment file before any work starts. Throws
/// config_error as `file:line:column: message` (with "did you mean 'x'?" for
/// misspelt names), or io_error when the file cannot be read.
GENSCOPE_API experiment load_experiment(const std::string& path, const plugin_registry& plugins);

/// Same, from text (`file` is used in messages only).
GENSCOPE_API experiment parse_experiment(const std::string& text, const std::string& file,
                                         const plugin_registry& plugins);

/// The first difference between two experiment texts that changes what they compute, as one phrase
/// ("runs.pairs.batch is 128, was 64", "analyses.sens was added"), or "" when none does. Comments,
/// layout, key order and the root key `output` do not count.
GENSCOPE_API std::string experiment_change(const std::string& before, const std::string& after);

/// The closest of `candidates` to `word` by edit distance, or "" when none is close.
GENSCOPE_API std::string closest_name(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace genscope
