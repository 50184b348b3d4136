// Mini-batch training of a fresh MLP with softmax cross-entropy (Adam, or SGD with momentum), bit-reproducible under any thread count.
#include "nn/dense_ops.hpp"
#include "nn/trainer_detail.hpp"

#include "durable/stop_request.hpp"

#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/mlp.hpp>
#include <genscope/random.hpp>

#include <fmt/format.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <string>
#include <tuple>
#include <utility>

namespace genscope {
namespace detail {
namespace {

// Output columns per GEMM task. Each tile of a product is computed whole by one
// task and the cut does not depend on the thread count, so no floating-point sum
// is ever split differently: training is bit-identical with 1 or 64 threads.
constexpr std::size_t gemm_tile = 128;
// Parameters per optimizer-update task (element-wise, so any cut is deterministic).
constexpr std::size_t update_tile = std::size_t{1} << 15;

std::string field(const char* name) { return std::string("train_config.") + name; }

void require(bool ok, const char* name, const std::string& what) {
  if (!ok) throw error(field(name) + " " + what);
}

bool positive(double v) { return std::isfinite(v) && v > 0; }
bool unit_interval(double v) { return v >= 0 && v < 1; }  // false for NaN

void check_init(const train_config& c) {
  require(c.init == "he" || c.init == "glorot" || c.init == "lecun", "init",
          "'" + c.init + "' is unknown (expected 'he', 'glorot' or 'lecun')");
  require(positive(c.init_scale), "init_scale", fmt::format("must be a positive number, not {}", c.init_scale));
  for (std::size_t i = 0; i < c.hidden.size(); ++i)
    if (c.hidden[i] == 0) throw error(field("hidden") + "[" + std::to_string(i) + "] is 0");
}

void check_config(const train_config& c) {
  require(c.optimizer == "adam" || c.optimizer == "sgd", "optimizer",
          "'" + c.optimizer + "' is unknown (expected 'adam' or 'sgd')");
  check_init(c);
  require(positive(c.learning_rate), "learning_rate",
          fmt::format("must be a positive number, not {}", c.learning_rate));
  require(c.batch_size > 0, "batch_size", "is 0");
  if (c.target_accuracy) {
    require(c.epochs > 0, "target_accuracy", "needs epochs >= 1 (epochs = 0 is the initialization, untrained)");
    const double t = *c.target_accuracy;
    require(t > 0 && t <= 1, "target_accuracy", fmt::format("must lie in (0, 1], not {}", t));  // false for NaN
  }
  for (std::size_t i = 0; i < c.checkpoints.size(); ++i) {
    if (c.checkpoints[i] == 0) throw error(field("checkpoints") + "[" + std::to_string(i) + "] is 0");
    if (i > 0 && c.checkpoints[i] <= c.checkpoints[i - 1])
      throw error(fmt::format("{}[{}] = {} is not above the previous epoch {} (must be strictly ascending)",
                              field("checkpoints"), i, c.checkpoints[i], c.checkpoints[i - 1]));
  }
  require(std::isfinite(c.weight_decay) && c.weight_decay >= 0, "weight_decay",
          fmt::format("must be a finite number >= 0, not {}", c.weight_decay));
  if (c.optimizer == "sgd") {
    require(unit_interval(c.momentum), "momentum", fmt::format("must lie in [0, 1), not {}", c.momentum));
  } else {
    require(unit_interval(c.beta1), "beta1", fmt::format("must lie in [0, 1), not {}", c.beta1));
    require(unit_interval(c.beta2), "beta2", fmt::format("must lie in [0, 1), not {}", c.beta2));
    require(positive(c.epsilon), "epsilon", fmt::format("must be a positive number, not {}", c.epsilon));
  }
}

void check_data(const dataset& d, const char* role, std::size_t dim, std::size_t classes) {
  const std::string name = std::string(role) + " data '" + d.name + "'";
  if (d.size() == 0) throw error(name + " is empty");
  if (d.dim() != dim)
    throw error(name + " has " + std::to_string(d.dim()) + " features per sample, expected " + std::to_string(dim));
  if (d.x.data.size() != d.x.rows * d.x.cols)
    throw error(name + " holds " + std::to_string(d.x.data.size()) + " values for " + std::to_string(d.x.rows) +
                " x " + std::to_string(d.x.cols) + " samples");
  if (d.labels.size() != d.size())
    throw error(name + " has " + std::to_string(d.labels.size()) + " labels for " + std::to_string(d.size()) +
                " samples");
  for (std::size_t i = 0; i < d.labels.size(); ++i) {
    const std::int32_t y = d.labels[i];
    if (y < 0 || static_cast<std::size_t>(y) >= classes)
      throw error(name + ": label " + std::to_string(y) + " of sample " + std::to_string(i) + " is outside [0, " +
                  std::to_string(classes) + ")");
  }
  for (std::size_t k = 0; k < d.x.data.size(); ++k) {
    const float v = d.x.data[k];
    if (!std::isfinite(v))
      throw error(name + " contains " + (std::isnan(v) ? "NaN" : "inf") + " at sample " +
                  std::to_string(k / d.x.cols) + ", feature " + std::to_string(k % d.x.cols));
  }
}

// 64-byte aligned storage for the outputs of Eigen expressions. Eigen picks a
// vector or a scalar code path per element from the destination's address, and
// some paths round differently (small coefficient-wise products, packet sqrt);
// with every destination aligned, the choice depends on the shapes alone.
using aligned_floats = std::vector<float, Eigen::aligned_allocator<float>>;

// Forward and backward passes over one minibatch, with activation and gradient
// buffers allocated once for the largest batch and reused.
class minibatch_engine {
 public:
  minibatch_engine(const std::vector<dense_layer>& layers, std::size_t max_rows)
      : act_(layers.size()), delta_(layers.size()), grad_w_(layers.size()), grad_b_(layers.size()) {
    for (std::size_t l = 0; l < layers.size(); ++l) {
      act_[l].resize(max_rows * layers[l].weight.rows);
      delta_[l].resize(max_rows * layers[l].weight.rows);
      grad_w_[l].resize(layers[l].weight.data.size());
      grad_b_[l].resize(layers[l].bias.size());
    }
  }

  const aligned_floats& weight_gradient(std::size_t l) const { return grad_w_[l]; }
  const aligned_floats& bias_gradient(std::size_t l) const { return grad_b_[l]; }

  // Gradient of the mean loss over `rows` samples (rows of x, contiguous) into the
  // gradient buffers; returns that mean loss.
  double run(const std::vector<dense_layer>& layers, const float* x, const std::int32_t* labels, std::size_t rows) {
    const std::size_t count = layers.size();
    const Eigen::Index r = idx(rows);
    const float* in_ptr = x;
    for (std::size_t l = 0; l < count; ++l) {
      const dense_layer& layer = layers[l];
      const bool hidden = l + 1 < count;
      const_row_map in(in_ptr, r, idx(layer.weight.cols));
      const_row_map w(layer.weight.data.data(), idx(layer.weight.rows), idx(layer.weight.cols));
      row_map z(act_[l].data(), r, idx(layer.weight.rows));
      for_each_tile(layer.weight.rows, gemm_tile, [&](std::size_t c0, std::size_t c1) {
        auto tile = z.middleCols(idx(c0), idx(c1 - c0));
        tile.noalias() = in * w.middleRows(idx(c0), idx(c1 - c0)).transpose();
        tile.rowwise() += const_row_vector_map(layer.bias.data() + c0, idx(c1 - c0));
        if (hidden) relu_in_place(tile);
      });
      in_ptr = act_[l].data();
    }

    // Softmax cross-entropy: d loss / d logits = (softmax - one_hot) / rows.
    const std::size_t classes = layers.back().weight.rows;
    const float inv_rows = 1.0f / static_cast<float>(rows);
    double loss = 0;
    for (std::size_t i = 0; i < rows; ++i) {
      const float* z = act_[count - 1].data() + i * classes;
      float* d = delta_[count - 1].data() + i * classes;
      float m = z[0];
      for (std::size_t k = 1; k < classes; ++k) m = std::max(m, z[k]);
      float s = 0;
      for (std::size_t k = 0; k < classes; ++k) {
        d[k] = std::exp(z[k] - m);
        s += d[k];
      }
      const auto y = static_cast<std::size_t>(labels[i]);
      loss += std::log(static_cast<double>(s)) + static_cast<double>(m) - static_cast<double>(z[y]);
      const float scale = inv_rows / s;
      for (std::size_t k = 0; k < classes; ++k) d[k] *= scale;
      d[y] -= inv_rows;
    }

    for (std::size_t l = count; l-- > 0;) {
      const dense_layer& layer = layers[l];
      const std::size_t out_dim = layer.weight.rows;
      const std::size_t in_dim = layer.weight.cols;
      const float* dp = delta_[l].data();
      const_row_map d(dp, r, idx(out_dim));
      const_row_map in(l == 0 ? x : act_[l - 1].data(), r, idx(in_dim));
      row_map gw(grad_w_[l].data(), idx(out_dim), idx(in_dim));
      for_each_tile(out_dim, gemm_tile, [&](std::size_t c0, std::size_t c1) {
        gw.middleRows(idx(c0), idx(c1 - c0)).noalias() = d.middleCols(idx(c0), idx(c1 - c0)).transpose() * in;
      });
      // Bias gradient: column sums, each taken in row order (a fixed order, unlike Eigen's colwise().sum()).
      float* gb = grad_b_[l].data();
      std::fill(gb, gb + out_dim, 0.0f);
      for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t c = 0; c < out_dim; ++c) gb[c] += dp[i * out_dim + c];
      if (l == 0) break;
      const_row_map w(layer.weight.data.data(), idx(out_dim), idx(in_dim));
      row_map prev(delta_[l - 1].data(), r, idx(in_dim));
      for_each_tile(in_dim, gemm_tile, [&](std::size_t c0, std::size_t c1) {
        auto tile = prev.middleCols(idx(c0), idx(c1 - c0));
        tile.noalias() = d * w.middleCols(idx(c0), idx(c1 - c0));
        // ReLU'(z) is 1 where the unit was active (output > 0), else 0.
        tile.array() = (in.middleCols(idx(c0), idx(c1 - c0)).array() > 0.0f).select(tile.array(), 0.0f);
      });
    }
    return loss / static_cast<double>(rows);
  }

 private:
  std::vector<aligned_floats> act_;     // per layer: ReLU outputs (hidden) or logits (last)
  std::vector<aligned_floats> delta_;   // per layer: d loss / d pre-activation
  std::vector<aligned_floats> grad_w_;  // per layer: d loss / d weight (out x in)
  std::vector<aligned_floats> grad_b_;  // per layer: d loss / d bias
};

struct adam_coefficients {
  float b1, c1, b2, c2, step, inv_sqrt_bc2, eps, wd;
};

// One Adam step on n parameters. Every element takes the same arithmetic in the
// vector and the scalar loop (IEEE square roots are correctly rounded in both),
// so the result does not depend on where a tile starts.
void adam_update(float* w, const float* g, float* m, float* v, std::size_t n, const adam_coefficients& k) {
  std::size_t i = 0;
#if defined(__AVX512F__)
  const __m512 b1 = _mm512_set1_ps(k.b1), c1 = _mm512_set1_ps(k.c1), b2 = _mm512_set1_ps(k.b2),
               c2 = _mm512_set1_ps(k.c2), step = _mm512_set1_ps(k.step), inv = _mm512_set1_ps(k.inv_sqrt_bc2),
               eps = _mm512_set1_ps(k.eps), wd = _mm512_set1_ps(k.wd);
  for (; i + 16 <= n; i += 16) {
    const __m512 wi = _mm512_loadu_ps(w + i);
    const __m512 gi = _mm512_add_ps(_mm512_loadu_ps(g + i), _mm512_mul_ps(wd, wi));
    const __m512 mi = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_loadu_ps(m + i)), _mm512_mul_ps(c1, gi));
    const __m512 vi =
        _mm512_add_ps(_mm512_mul_ps(b2, _mm512_loadu_ps(v + i)), _mm512_mul_ps(c2, _mm512_mul_ps(gi, gi)));
    const __m512 denom = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(vi), inv), eps);
    _mm512_storeu_ps(m + i, mi);
    _mm512_storeu_ps(v + i, vi);
    _mm512_storeu_ps(w + i, _mm512_sub_ps(wi, _mm512_div_ps(_mm512_mul_ps(step, mi), denom)));
  }
#endif
  for (; i < n; ++i) {
    const float gi = g[i] + k.wd * w[i];
    const float mi = k.b1 * m[i] + k.c1 * gi;
    const float vi = k.b2 * v[i] + k.c2 * (gi * gi);
    const float denom = std::sqrt(vi) * k.inv_sqrt_bc2 + k.eps;
    m[i] = mi;
    v[i] = vi;
    w[i] = w[i] - (k.step * mi) / denom;
  }
}

// Adam (with L2 weight decay added to the gradient, as PyTorch's Adam) or SGD
// with heavy-ball momentum (PyTorch's SGD without dampening). Decay applies to
// weights and biases alike.
class optimizer {
 public:
  optimizer(const train_config& c, const std::vector<dense_layer>& layers) : c_(c), adam_(c.optimizer == "adam") {
    for (const dense_layer& layer : layers) {
      first_.emplace_back(layer.weight.data.size(), 0.0f);
      first_.emplace_back(layer.bias.size(), 0.0f);
      if (adam_) {
        second_.emplace_back(layer.weight.data.size(), 0.0f);
        second_.emplace_back(layer.bias.size(), 0.0f);
      }
    }
  }

  std::uint64_t steps() const noexcept { return t_; }
  /// First moments (or SGD momentum) of every tensor, then Adam's second moments.
  std::vector<std::vector<float>> moments() const {
    std::vector<std::vector<float>> all = first_;
    all.insert(all.end(), second_.begin(), second_.end());
    return all;
  }
  /// Continues from saved steps and moments; throws error when their shapes are not this optimizer's.
  void restore(std::uint64_t steps, const std::vector<std::vector<float>>& moments) {
    if (moments.size() != first_.size() + second_.size())
      throw error(fmt::format("training state holds {} optimizer moments, the {} optimizer needs {}", moments.size(),
                              c_.optimizer, first_.size() + second_.size()));
    for (std::size_t k = 0; k < moments.size(); ++k) {
      std::vector<float>& slot = k < first_.size() ? first_[k] : second_[k - first_.size()];
      if (moments[k].size() != slot.size())
        throw error(fmt::format("training state: optimizer moment {} holds {} values, expected {}", k,
                                moments[k].size(), slot.size()));
      slot = moments[k];
    }
    t_ = steps;
  }

  void step(std::vector<dense_layer>& layers, const minibatch_engine& engine) {
    ++t_;
    for (std::size_t l = 0; l < layers.size(); ++l) {
      update(layers[l].weight.data.data(), engine.weight_gradient(l).data(), 2 * l, layers[l].weight.data.size());
      update(layers[l].bias.data(), engine.bias_gradient(l).data(), 2 * l + 1, layers[l].bias.size());
    }
  }

 private:
  void update(float* w, const float* g, std::size_t slot, std::size_t n) {
    float* m = first_[slot].data();
    if (adam_) {
      float* v = second_[slot].data();
      const auto t = static_cast<double>(t_);
      const adam_coefficients k{static_cast<float>(c_.beta1),
                                static_cast<float>(1.0 - c_.beta1),
                                static_cast<float>(c_.beta2),
                                static_cast<float>(1.0 - c_.beta2),
                                static_cast<float>(c_.learning_rate / (1.0 - std::pow(c_.beta1, t))),
                                static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(c_.beta2, t))),
                                static_cast<float>(c_.epsilon),
                                static_cast<float>(c_.weight_decay)};
      for_each_tile(n, update_tile,
                    [&](std::size_t b, std::size_t e) { adam_update(w + b, g + b, m + b, v + b, e - b, k); });
    } else {
      const auto mu = static_cast<float>(c_.momentum);
      const auto lr = static_cast<float>(c_.learning_rate);
      const auto wd = static_cast<float>(c_.weight_decay);
      for_each_tile(n, update_tile, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) {
          m[i] = mu * m[i] + (g[i] + wd * w[i]);
          w[i] = w[i] - lr * m[i];
        }
      });
    }
  }

  train_config c_;
  bool adam_;
  std::uint64_t t_ = 0;
  std::vector<std::vector<float>> first_, second_;  // per tensor: momentum / Adam moments
};

// Mean cross-entropy and accuracy of the network over a whole data set.
std::pair<double, double> evaluate(const std::vector<dense_layer>& layers, const dataset& d) {
  matrix logits;
  forward_layers(layers, d.x, logits);
  double loss = 0;
  std::size_t correct = 0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    const float* z = logits.row(i);
    std::size_t best = 0;
    bool finite = true;
    for (std::size_t k = 0; k < logits.cols; ++k) {
      if (!std::isfinite(z[k])) finite = false;
      if (z[k] > z[best]) best = k;
    }
    const auto y = static_cast<std::size_t>(d.labels[i]);
    double s = 0;
    const double m = z[best];
    for (std::size_t k = 0; k < logits.cols; ++k) s += std::exp(static_cast<double>(z[k]) - m);
    loss += m + std::log(s) - static_cast<double>(z[y]);
    if (best == y && finite) ++correct;
  }
  const auto n = static_cast<double>(d.size());
  return {loss / n, static_cast<double>(correct) / n};
}

}  // namespace

std::vector<dense_layer> initial_layers(std::size_t input_dim, std::size_t classes, const train_config& config) {
  check_init(config);
  if (input_dim == 0) throw error("initial_layers: input dimension is 0");
  if (classes == 0) throw error("initial_layers: class count is 0");
  std::vector<std::size_t> widths = config.hidden;
  widths.push_back(classes);
  std::vector<dense_layer> layers(widths.size());
  std::size_t in = input_dim;
  for (std::size_t l = 0; l < widths.size(); ++l) {
    const std::size_t out = widths[l];
    const auto fan_in = static_cast<double>(in);
    const auto fan_out = static_cast<double>(out);
    rng gen(config.seed, stream_key("mlp init"), l);
    dense_layer& layer = layers[l];
    layer.weight = matrix(out, in);
    layer.bias.assign(out, 0.0f);
    if (config.init == "glorot") {
      const double a = config.init_scale * std::sqrt(6.0 / (fan_in + fan_out));
      for (float& w : layer.weight.data) w = static_cast<float>(a * (2.0 * gen.uniform() - 1.0));
    } else {
      const double sd = config.init_scale * std::sqrt((config.init == "he" ? 2.0 : 1.0) / fan_in);
      for (float& w : layer.weight.data) w = static_cast<float>(sd * gen.normal());
    }
    in = out;
  }
  return layers;
}

double loss_and_gradient(const std::vector<dense_layer>& layers, matrix_view x, const std::vector<std::int32_t>& labels,
                         std::vector<dense_layer>& gradient) {
  check_layer_shapes(layers, x.cols, "loss_and_gradient");
  if (x.rows == 0) throw error("loss_and_gradient: the batch is empty");
  if (labels.size() != x.rows)
    throw error("loss_and_gradient: " + std::to_string(labels.size()) + " labels for " + std::to_string(x.rows) +
                " rows");
  for (std::int32_t y : labels)
    if (y < 0 || static_cast<std::size_t>(y) >= layers.back().weight.rows)
      throw error("loss_and_gradient: label " + std::to_string(y) + " is out of range");
  minibatch_engine engine(layers, x.rows);
  const double loss = engine.run(layers, x.data, labels.data(), x.rows);
  gradient.assign(layers.size(), dense_layer{});
  for (std::size_t l = 0; l < layers.size(); ++l) {
    gradient[l].weight.rows = layers[l].weight.rows;
    gradient[l].weight.cols = layers[l].weight.cols;
    gradient[l].weight.data.assign(engine.weight_gradient(l).begin(), engine.weight_gradient(l).end());
    gradient[l].bias.assign(engine.bias_gradient(l).begin(), engine.bias_gradient(l).end());
  }
  return loss;
}

}  // namespace detail

namespace {
bool all_finite(const std::vector<dense_layer>& layers) {
  for (const dense_layer& l : layers) {
    for (float w : l.weight.data)
      if (!std::isfinite(w)) return false;
    for (float b : l.bias)
      if (!std::isfinite(b)) return false;
  }
  return true;
}
}  // namespace

std::string model_cache_key(const train_config& config, const std::string& train_sha256,
                            const std::string& test_sha256) {
  std::string text = "genscope-train-v1\n";
  text += "hidden=";
  for (std::size_t i = 0; i < config.hidden.size(); ++i) {
    if (i > 0) text += 'x';
    text += std::to_string(config.hidden[i]);
  }
  text += "\n";
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
    for (std::size_t i = 0; i < config.checkpoints.size(); ++i) {
      if (i > 0) text += ',';
      text += std::to_string(config.checkpoints[i]);
    }
    text += "\n";
  }
  return sha256_hex(text.data(), text.size());
}

mlp train_mlp(const dataset& train, const dataset* test, const train_config& config, training_record& record,
              const std::function<void(const epoch_record&)>& on_epoch) {
  training_hooks hooks;
  hooks.on_epoch = on_epoch;
  return train_mlp_resumable(train, test, config, record, hooks);
}

mlp train_mlp_resumable(const dataset& train, const dataset* test, const train_config& config,
                        training_record& record, const training_hooks& hooks) {
  detail::check_config(config);
  if (train.class_count == 0) throw error("training data '" + train.name + "' has class_count 0");
  detail::check_data(train, "training", train.dim(), train.class_count);
  if (test != nullptr) detail::check_data(*test, "test", train.dim(), train.class_count);

  std::vector<dense_layer> layers = detail::initial_layers(train.dim(), train.class_count, config);
  std::vector<std::size_t> input_shape = train.shape;
  const std::size_t shape_product =
      std::accumulate(input_shape.begin(), input_shape.end(), std::size_t{1}, std::multiplies<>());
  if (input_shape.empty() || shape_product != train.dim()) input_shape = {train.dim()};

  record.trained = true;
  record.config = config;
  record.dataset_name = train.name;
  record.dataset_sha256 = train.sha256;
  record.test_dataset_sha256 = test != nullptr ? test->sha256 : std::string();
  record.epochs.clear();
  record.checkpoints.clear();
  record.epochs_run = 0;
  record.stop_reason = "epoch_cap";

  const std::size_t n = train.size();
  const std::size_t dim = train.dim();
  const std::size_t batch = std::min(config.batch_size, n);
  detail::minibatch_engine engine(layers, batch);
  detail::optimizer opt(config, layers);
  std::vector<std::size_t> order(n);
  std::vector<float> xb(batch * dim);
  std::vector<std::int32_t> yb(batch);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (const training_state* from = hooks.resume_from) {
    const std::string test_sha = test != nullptr ? test->sha256 : std::string();
    if (model_cache_key(from->record.config, from->record.dataset_sha256, from->record.test_dataset_sha256) !=
        model_cache_key(config, train.sha256, test_sha))
      throw error("training state of another configuration or other data than the training run to continue");
    const std::vector<dense_layer>& saved = from->net.layers();
    bool same_shapes = saved.size() == layers.size();
    for (std::size_t l = 0; same_shapes && l < saved.size(); ++l)
      same_shapes = saved[l].weight.rows == layers[l].weight.rows && saved[l].weight.cols == layers[l].weight.cols &&
                    saved[l].bias.size() == layers[l].bias.size();
    if (!same_shapes) throw error("training state of another network shape than the training run to continue");
    opt.restore(from->optimizer_steps, from->moments);
    layers = saved;
    record = from->record;
  }
  auto next_checkpoint = std::upper_bound(config.checkpoints.begin(), config.checkpoints.end(), record.epochs_run);

  for (std::size_t epoch = record.epochs_run + 1; epoch <= config.epochs; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    std::iota(order.begin(), order.end(), std::size_t{0});
    rng gen(config.seed, stream_key("minibatch order"), epoch);
    for (std::size_t i = n - 1; i > 0; --i) std::swap(order[i], order[gen.below(i + 1)]);

    for (std::size_t b0 = 0; b0 < n; b0 += batch) {
      const std::size_t rows = std::min(batch, n - b0);
      for (std::size_t i = 0; i < rows; ++i) {
        std::memcpy(xb.data() + i * dim, train.x.row(order[b0 + i]), dim * sizeof(float));
        yb[i] = train.labels[order[b0 + i]];
      }
      engine.run(layers, xb.data(), yb.data(), rows);
      opt.step(layers, engine);
      throw_if_stop_requested();
    }

    epoch_record rec;
    rec.epoch = epoch;
    std::tie(rec.train_loss, rec.train_accuracy) = detail::evaluate(layers, train);
    // A diverged network is never returned, so no caller can save (or cache) it.
    const bool finite_loss = std::isfinite(rec.train_loss);
    if (!finite_loss || !all_finite(layers))
      throw error(fmt::format("training on '{}' diverged at epoch {}: {} (learning_rate {:g}); nothing was saved",
                              train.name, epoch, finite_loss ? "a weight is not finite" : "the training loss is not finite",
                              config.learning_rate));
    if (test != nullptr) {
      std::tie(rec.test_loss, rec.test_accuracy) = detail::evaluate(layers, *test);
    } else {
      rec.test_loss = rec.test_accuracy = nan;
    }
    rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    record.epochs.push_back(rec);
    record.epochs_run = epoch;
    if (next_checkpoint != config.checkpoints.end() && *next_checkpoint == epoch) {
      record.checkpoints.push_back({epoch, rec.train_accuracy, rec.test_accuracy, layers});
      ++next_checkpoint;
    }
    if (hooks.on_epoch) hooks.on_epoch(rec);
    if (config.target_accuracy && rec.train_accuracy >= *config.target_accuracy) {
      record.stop_reason = "target_accuracy";
      break;
    }
    if (epoch < config.epochs && hooks.on_state && hooks.state_wanted && hooks.state_wanted())
      hooks.on_state(training_state{mlp(layers, input_shape), opt.steps(), opt.moments(), record});
  }
  return mlp(std::move(layers), std::move(input_shape));
}

}  // namespace genscope
