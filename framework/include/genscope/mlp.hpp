// The native engine: dense ReLU MLPs in float32, their HDF5 model files and their trainer.
#pragma once

#include <genscope/dataset.hpp>
#include <genscope/export.hpp>
#include <genscope/matrix.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace genscope {

/// y = W x + b with W stored out x in, row-major.
struct dense_layer {
  matrix weight;            ///< out x in
  std::vector<float> bias;  ///< out
};

/// How to train (the `train` table of an experiment, `genscope train` flags).
struct train_config {
  std::vector<std::size_t> hidden{256, 256};  ///< hidden layer widths
  std::string optimizer = "adam";             ///< "adam" or "sgd" (with momentum)
  double learning_rate = 1e-3;
  double momentum = 0.9;                      ///< sgd only
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;  ///< adam only
  double weight_decay = 0.0;                  ///< L2 coefficient added to the gradient
  std::size_t epochs = 100;                   ///< 0: the initialization, untrained (no target_accuracy then)
  std::size_t batch_size = 128;
  std::string init = "he";                    ///< "he" (normal), "glorot" (uniform) or "lecun" (normal)
  double init_scale = 1.0;                    ///< multiplies the initial weights
  std::uint64_t seed = 0;                     ///< initialization and minibatch order
  /// Stop after the first epoch whose training accuracy reaches this (in (0, 1]);
  /// `epochs` is then the cap. None: train all `epochs`.
  std::optional<double> target_accuracy;
  /// Epochs (strictly ascending, >= 1) after which the weights are kept as checkpoints;
  /// those beyond the epochs actually run are not reached.
  std::vector<std::size_t> checkpoints;
};

/// One line of the training curve. Test fields are NaN without a test set.
struct epoch_record {
  std::size_t epoch = 0;  ///< 1-based
  double train_loss = 0, train_accuracy = 0;
  double test_loss = 0, test_accuracy = 0;
  double seconds = 0;     ///< wall time of this epoch
};

/// The weights after one epoch (train_config::checkpoints). `layers` is empty in
/// the records load_model returns: load_model(path, epoch) reads them.
struct model_checkpoint {
  std::size_t epoch = 0;
  double train_accuracy = 0, test_accuracy = 0;  ///< test: NaN without a test set
  std::vector<dense_layer> layers;
};

/// What the model file records about how the model was made.
struct training_record {
  bool trained = false;           ///< false for models made elsewhere
  train_config config;
  std::string dataset_name;
  std::string dataset_sha256;
  std::string test_dataset_sha256;
  std::string label_mode;         ///< "real" or "random"
  std::vector<epoch_record> epochs;  ///< one per epoch run
  std::size_t epochs_run = 0;        ///< epochs actually trained (<= config.epochs)
  std::string stop_reason;           ///< "target_accuracy" or "epoch_cap"; empty if untrained
  std::vector<model_checkpoint> checkpoints;  ///< the checkpoints reached, ascending
};

/// A ReLU MLP: ReLU after every layer except the last, whose outputs are logits.
class GENSCOPE_API mlp {
 public:
  mlp() = default;
  /// Checks consecutive shapes agree; throws genscope::error otherwise.
  mlp(std::vector<dense_layer> layers, std::vector<std::size_t> input_shape);

  const std::vector<dense_layer>& layers() const noexcept { return layers_; }
  const std::vector<std::size_t>& input_shape() const noexcept { return input_shape_; }
  std::size_t input_dim() const noexcept;
  std::size_t class_count() const noexcept;
  /// "784-256-256-10 ReLU MLP"
  std::string describe() const;
  /// SHA-256 over shapes, weights and biases.
  std::string digest() const;

  /// Logits of every row of x; thread-safe (const, no shared scratch).
  void forward(matrix_view x, matrix& logits) const;

 private:
  std::vector<dense_layer> layers_;
  std::vector<std::size_t> input_shape_;
};

/// Writes the model file (docs/model-format.md). Built in memory and written with an atomic
/// replace (a uniquely named temporary, fsync, rename), so a file at `path` is always complete,
/// even with several writers or a crash. Throws io_error naming `path` (a full disk included).
GENSCOPE_API void save_model(const std::string& path, const mlp& net, const training_record& record);

struct loaded_model {
  mlp net;
  training_record record;
};
/// Reads and checks a model file: missing file, not HDF5, missing datasets,
/// inconsistent shapes and non-finite weights each throw io_error naming the file.
GENSCOPE_API loaded_model load_model(const std::string& path);
/// The same with the weights of the checkpoint saved after epoch `checkpoint`
/// in place of the final ones (0: the final weights). An epoch that the file
/// does not hold throws io_error naming the file and listing the saved epochs.
GENSCOPE_API loaded_model load_model(const std::string& path, std::size_t checkpoint);

/// Layer rewinding: weight layers of an MLP file served from another checkpoint of the same file (the
/// native backend's options `rewind_layers` and `rewind_to`). Empty `layers` and `epoch` 0: no rewinding.
struct layer_rewind {
  std::vector<std::size_t> layers;  ///< 1-based weight layer numbers: 1 is the first weight matrix after the input
  std::size_t epoch = 0;            ///< the checkpoint epoch those layers come from (>= 1 with layers)
};

/// The network of load_model(path, checkpoint) with the weights and biases of each layer in `rewind.layers`
/// taken from checkpoint epoch `rewind.epoch` of the same file instead: a model whose layers come from
/// different epochs of one training run. Training is deterministic, so a rewound layer is exactly that layer of
/// the same run trained for `rewind.epoch` epochs. The record is the file's, as load_model gives it. Throws
/// io_error naming the file and `rewind_layers` or `rewind_to`: a layer number 0 or above the network's layer
/// count (the message gives the count), a layer listed twice, layers without an epoch or an epoch without
/// layers, an epoch the file does not hold (listing the saved epochs), and every problem load_model reports.
GENSCOPE_API loaded_model load_model(const std::string& path, std::size_t checkpoint, const layer_rewind& rewind);

/// Everything a training run needs to continue after `record.epochs_run` epochs as if it had never
/// stopped: the weights, the optimizer's step count and moments, and the record so far (with the
/// weights of the checkpoints reached). The minibatch order of an epoch depends only on the seed
/// and the epoch, so no random-number state is needed.
struct training_state {
  mlp net;
  std::uint64_t optimizer_steps = 0;
  /// Per tensor (weights then bias of each layer): SGD's momentum, or Adam's first moments
  /// followed by Adam's second moments.
  std::vector<std::vector<float>> moments;
  training_record record;
};

/// Optional hooks of train_mlp; each may be empty.
struct training_hooks {
  std::function<void(const epoch_record&)> on_epoch;  ///< sees every epoch as it ends
  /// Asked after every epoch; when it returns true, on_state receives the state (copying it costs
  /// about three times the weights, so it is taken only when wanted).
  std::function<bool()> state_wanted;
  std::function<void(const training_state&)> on_state;
  /// Continue from this state (same configuration and data, checked) instead of starting afresh.
  const training_state* resume_from = nullptr;
};

/// Hash naming a trained model in the cache: SHA-256 over the training
/// configuration and the SHA-256 of its training and test data.
GENSCOPE_API std::string model_cache_key(const train_config& config, const std::string& train_sha256,
                                         const std::string& test_sha256);

/// Writes a training state (the model file layout plus an /optimizer group) with an atomic replace.
GENSCOPE_API void save_training_state(const std::string& path, const training_state& state);
/// Reads a training state written by save_training_state; throws io_error naming the file.
GENSCOPE_API training_state load_training_state(const std::string& path);

/// Trains a fresh MLP on `train` (input = train.dim(), classes = train.class_count)
/// with softmax cross-entropy. Deterministic for config.seed whatever the thread
/// count. `on_epoch` (may be empty) sees every epoch as it ends. `test` may be null.
/// Stops early at config.target_accuracy (record.stop_reason says why it stopped)
/// and keeps the weights of every epoch of config.checkpoints reached in record.checkpoints.
/// Throws error naming the epoch at the first epoch whose training loss or weights are not
/// finite (a diverging run, e.g. too large a learning rate): no model is returned.
/// Polls stop signals (throw_if_stop_requested) after every minibatch.
GENSCOPE_API mlp train_mlp(const dataset& train, const dataset* test, const train_config& config,
                           training_record& record,
                           const std::function<void(const epoch_record&)>& on_epoch);
/// The same with hooks: states to save and a state to continue from. A continued run ends with the
/// same weights and record (epoch timings aside) as one that never stopped. A resume_from state of
/// another configuration, data set or network shape throws error.
GENSCOPE_API mlp train_mlp_resumable(const dataset& train, const dataset* test, const train_config& config,
                                     training_record& record, const training_hooks& hooks);

}  // namespace genscope
