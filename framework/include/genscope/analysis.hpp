// Plugin kind "analysis": a measurement that is not an interval (per point, trajectory, layer, checkpoint), written as declared tables.
#pragma once

#include <genscope/dataset.hpp>
#include <genscope/datasets.hpp>
#include <genscope/export.hpp>
#include <genscope/network_backend.hpp>
#include <genscope/plugin.hpp>
#include <genscope/table.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace genscope {

/// Computes rows of one or more declared tables from a model and data sets.
///
/// An experiment's `[analyses.NAME]` table names the plugin, the model, the data sets
/// (`datasets = [...]`, in that order) and the plugin's options. Contract:
/// - tables() is fixed by the options: the host calls it before any work to create the
///   results' columns and to validate (names, types, widths; check_table_spec), and again
///   afterwards expecting the same answer.
/// - check() is called at validation, before any data is loaded or model trained, with the
///   shapes of the analysis's data sets and the model's input dimension; it throws when it
///   cannot serve them (wrong count of data sets, dimension, too few samples), naming the
///   option or data set. The default accepts anything.
/// - prepare() is called once, from one thread, before any other call except tables() and
///   check(). The model and data outlive the analysis. It may precompute (choose points, fix
///   triplets) and throws when the data cannot serve the analysis, naming the option.
/// - row_count(t) is fixed after prepare().
/// - compute(t, first, count, out) fills rows [first, first + count) of table t into `out`
///   (already reset() to the table's spec and `count` rows). It is const and is called from
///   several threads at once on different row ranges. Row i depends only on (seed, i) and the
///   inputs, never on the batching, the thread count or earlier calls, so any schedule gives
///   identical tables.
/// - A numerical outcome of one row (a degenerate triplet, a point on a region boundary) is a
///   value in the row, never an exception. Exceptions are for setup errors and misuse; the host
///   rethrows them as plugin_error naming the plugin and the experiment item.
/// - An analysis needing more than logits declares capabilities in its descriptor (e.g.
///   capability_piecewise_linear); validation refuses a model whose backend does not offer them.
/// - An analysis that compares the model with a second one (e.g. a network trained on held-out data)
///   answers true from takes_reference_model(); the experiment then may name `reference_model`, which
///   validation checks against the model (same input dimension and classes) and refuses for every
///   other analysis. set_reference_model() is called once, before prepare(), only when the experiment
///   names one; the reference outlives the analysis and serves its own weights (no checkpoints).
class GENSCOPE_API analysis : public plugin_object {
 public:
  ~analysis() override;

  virtual bool takes_reference_model() const;
  /// The default throws std::logic_error: the host calls it only when takes_reference_model() is true.
  virtual void set_reference_model(const network_backend& reference);

  virtual std::vector<table_spec> tables() const = 0;
  virtual void check(const std::vector<dataset_shape>& data, std::size_t model_input_dim) const;
  virtual void prepare(const network_backend& model, const std::vector<const dataset*>& data,
                       std::uint64_t seed) = 0;
  virtual std::size_t row_count(std::size_t table) const = 0;
  virtual void compute(std::size_t table, std::size_t first, std::size_t count, table_batch& out) const = 0;
};

/// The epochs an analysis's `checkpoints` option names, in the order to measure them: "none" (the weights served
/// only), "all" (every checkpoint of checkpoint_epochs()) or comma-separated epochs (ascending, each once), then
/// 0 for the weights the model serves. Throws std::invalid_argument naming the option when the text is
/// malformed or repeats an epoch, or "all" meets a model without checkpoints. check_checkpoints_option checks
/// the text alone (for a plugin's factory).
GENSCOPE_API std::vector<std::int64_t> checkpoints_to_measure(const network_backend& model, const std::string& option);
GENSCOPE_API void check_checkpoints_option(const std::string& option);

/// The weights of epoch `epoch` of checkpoints_to_measure: `model` itself for 0 (not owned: `model` must outlive
/// it), else model.at_checkpoint(epoch), loaded when asked so that one checkpoint is held at a time. Throws
/// std::invalid_argument naming the option and the epoch (with the saved ones) when it is not saved.
GENSCOPE_API std::shared_ptr<const network_backend> model_at_checkpoint(const network_backend& model,
                                                                       std::int64_t epoch);

/// The option_spec line of `checkpoints` for analyses that take it.
GENSCOPE_API extern const option_spec checkpoints_option;

}  // namespace genscope
