// Plugin kind "backend": a trained classifier that maps input batches to logits.
#pragma once

#include <genscope/export.hpp>
#include <genscope/matrix.hpp>
#include <genscope/piecewise_linear.hpp>
#include <genscope/plugin.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace genscope {

/// A classifier f : R^n -> R^C evaluated on batches.
///
/// Created from options by the plugin's factory; the model (weights) is fixed
/// for the object's life. Contract:
/// - input_shape() is the shape of one input (e.g. {784} or {28, 28}); inputs
///   are passed flattened row-major, n = product of the shape.
/// - logits() is const and re-entrant: the framework calls it from several
///   threads at once on different batches. It never keeps pointers to `x`.
/// - Errors loading the model (missing or corrupt file, NaN weights, bad
///   shapes) are thrown from the factory, naming the file; logits() throws
///   only on a batch of the wrong width, or when a model the backend runs as
///   a black box fails on the batch (naming the file).
class GENSCOPE_API network_backend : public plugin_object {
 public:
  ~network_backend() override;

  /// Shape of one input.
  virtual std::vector<std::size_t> input_shape() const = 0;
  /// Number of classes C (length of a logit row).
  virtual std::size_t class_count() const = 0;
  /// Logits of every row of `x` (x.cols == input_dim()). `out` is resized to
  /// x.rows x class_count() and overwritten.
  virtual void logits(matrix_view x, matrix& out) const = 0;
  /// SHA-256 (hex) of the model's content, for provenance.
  virtual std::string model_digest() const = 0;
  /// One-line description of the model (architecture), for listings.
  virtual std::string describe() const = 0;
  /// The network as a graph of affine operators and switches (piecewise_linear.hpp),
  /// or nullptr when the backend cannot offer it (the default). A backend that
  /// returns a view declares capability_piecewise_linear in its descriptor. The
  /// view takes input_dim() inputs, gives class_count() outputs and lives as
  /// long as the backend.
  virtual const piecewise_linear_graph* piecewise_linear() const;
  /// The hidden layers whose activations activations() gives, in forward order; empty (the default) when
  /// the backend offers none. A backend that names layers declares capability_hidden_activations.
  virtual std::vector<std::string> hidden_layers() const;
  /// The values of hidden layer `layer` (one of hidden_layers()) for every row of `x`: `out` is resized to
  /// x.rows x the layer's width and overwritten, each row the layer's output flattened row-major. Const
  /// and re-entrant like logits(). Throws genscope::error naming the layer when it is not one of
  /// hidden_layers() (always, by default), and on a batch of the wrong width.
  virtual void activations(const std::string& layer, matrix_view x, matrix& out) const;
  /// The epochs of the training checkpoints whose weights at_checkpoint() serves, ascending; empty (the
  /// default) when the model holds none.
  virtual std::vector<std::int64_t> checkpoint_epochs() const;
  /// The same network serving the weights saved after `epoch` (one of checkpoint_epochs()): a backend of the
  /// same contract, independent of this one's options that choose weights (checkpoint, rewinding). Throws
  /// genscope::error naming the epoch and the saved ones otherwise (always, by default).
  virtual std::shared_ptr<const network_backend> at_checkpoint(std::int64_t epoch) const;

  /// Product of input_shape().
  std::size_t input_dim() const;
};

/// Predicted class of each logit row: argmax, ties towards the lower class index.
/// A row containing NaN yields -1.
GENSCOPE_API void predict_classes(const matrix& logits, std::vector<int>& out);

}  // namespace genscope
