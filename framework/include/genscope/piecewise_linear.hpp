// The piecewise-linear view of a network as a graph: the capability the exact region walk and the analyses need from a backend.
#pragma once

#include <genscope/export.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace genscope {

/// One affine operator y = b + sum_i A_i x_i on flattened (row-major) vectors, in double precision.
///
/// Dense layers, convolutions, average pooling, batch norm in evaluation mode, padding, flattening and
/// constant scaling take one input; a residual sum or a concatenation takes several. Every function
/// accumulates into its output (`+=`), so that a node feeding several others and an operator of
/// several inputs need no special case. All functions are const and re-entrant.
class GENSCOPE_API affine_operator {
 public:
  affine_operator() = default;
  affine_operator(const affine_operator&) = delete;
  affine_operator& operator=(const affine_operator&) = delete;
  virtual ~affine_operator();

  /// Number of inputs (>= 1).
  virtual std::size_t input_count() const;
  virtual std::size_t input_dim(std::size_t input) const = 0;
  virtual std::size_t output_dim() const = 0;
  /// y_r += b for `rows` rows of y (rows x output_dim).
  virtual void add_bias(std::size_t rows, double* y) const = 0;
  /// y_r += A_i x_r for `rows` row-major inputs x (rows x input_dim(i)) into y (rows x output_dim).
  virtual void add_linear(std::size_t input, const double* x, std::size_t rows, double* y) const = 0;
  /// y += scale * A_i e_j: the effect of unit j of input i alone.
  virtual void add_column(std::size_t input, std::size_t j, double scale, double* y) const = 0;
  /// x_r += A_i^T y_r for `rows` rows of y (rows x output_dim) into x (rows x input_dim(i)):
  /// vector-Jacobian products go through it.
  virtual void add_transposed(std::size_t input, const double* y, std::size_t rows, double* x) const = 0;
  /// y += A_i v for a vector v that is zero outside `support` (count distinct indices): the walk's update
  /// when a few units below change. An operator that knows which outputs each column reaches (a
  /// convolution reaches a kernel-sized neighbourhood) appends every output it may change to `touched`
  /// unless `flags` (one byte per output) already marks it, marks it, and returns true. Returning false
  /// means any output may have changed (`touched` and `flags` untouched). The default adds column by
  /// column and returns false, right for a dense layer, whose every column reaches every output.
  virtual bool add_sparse(std::size_t input, const std::uint32_t* support, std::size_t count, const double* v,
                          double* y, std::vector<std::uint32_t>& touched, std::uint8_t* flags) const;
};

/// The piecewise-linear switches. Each output unit j of a switch node equals one affine piece of its
/// input, `constant + gain * x[source]`, the piece chosen by the unit's state (switch_piece()).
enum class switch_kind : std::uint8_t {
  relu,        ///< state 1: x (active), 0: 0 (inactive)
  leaky_relu,  ///< state 1: x, 0: negative_slope * x
  clip,        ///< state 0: low, 1: x, 2: high (ReLU6 is clip(0, 6))
  max_pool,    ///< state k: the k-th input of the unit's window (its argmax)
};

/// A switch node's rule. Output width equals input width except for max_pool (one unit per window).
struct GENSCOPE_API switch_layer {
  switch_kind kind = switch_kind::relu;
  std::size_t input_dim = 0;
  std::size_t output_dim = 0;
  double negative_slope = 0;  ///< leaky_relu only
  double low = 0, high = 0;   ///< clip only: low < high; either may be infinite
  /// max_pool only: the window of output unit j is inputs window_index[window_start[j] .. window_start[j + 1]),
  /// padding excluded (every window holds at least one input). window_start has output_dim + 1 entries.
  std::vector<std::uint32_t> window_start, window_index;

  /// Inputs unit j reads: [first, last) in window_index for max_pool, else the unit itself.
  std::size_t window_size(std::size_t j) const {
    return kind == switch_kind::max_pool ? window_start[j + 1] - window_start[j] : 1;
  }
};

/// The piece of unit j in `state`: output = constant + gain * input[source].
inline void switch_piece(const switch_layer& s, std::size_t j, std::uint32_t state, std::size_t& source, double& gain,
                         double& constant) {
  constant = 0;
  gain = 1;
  source = j;
  switch (s.kind) {
    case switch_kind::relu: gain = state != 0 ? 1.0 : 0.0; break;
    case switch_kind::leaky_relu: gain = state != 0 ? 1.0 : s.negative_slope; break;
    case switch_kind::clip:
      if (state != 1) {
        gain = 0;
        constant = state == 0 ? s.low : s.high;
      }
      break;
    case switch_kind::max_pool: source = s.window_index[s.window_start[j] + state]; break;
  }
}

/// The state of unit j just after a point, by the right-limit rule. `key(c, i)` is the c-th derivative
/// (c = 0: the value) of input i at the point along the path walked, for c < components: the piece that
/// is largest (max_pool) or whose condition holds (x > 0 for relu) just after the point wins, comparing
/// values first, then slopes, and so on. Pieces tied in every component agree along the whole path; the
/// tie goes to the canonical piece, the one PyTorch's own pattern shows: a ReLU or LeakyReLU at exactly
/// 0 is inactive, a clip at its low bound is low and at its high bound is in between, a max-pool window
/// takes its first largest input. NaN counts as positive, so it propagates.
template <class Key>
std::uint32_t decide_switch(const switch_layer& s, std::size_t j, std::size_t components, const Key& key) {
  // Lexicographic sign of key(., i) - offset over the components: -1, 0 or +1.
  auto sign = [&](std::size_t i, double offset) {
    for (std::size_t c = 0; c < components; ++c) {
      const double v = key(c, i) - (c == 0 ? offset : 0.0);
      if (v > 0 || v != v) return 1;
      if (v < 0) return -1;
    }
    return 0;
  };
  switch (s.kind) {
    case switch_kind::relu:
    case switch_kind::leaky_relu: {
      return sign(j, 0.0) > 0 ? 1u : 0u;
    }
    case switch_kind::clip: {
      if (sign(j, s.low) <= 0) return 0;
      return sign(j, s.high) > 0 ? 2u : 1u;
    }
    case switch_kind::max_pool: {
      const std::uint32_t first = s.window_start[j];
      const std::uint32_t size = s.window_start[j + 1] - first;
      // Lexicographic comparison of two window inputs: -1, 0, +1.
      auto compare = [&](std::uint32_t p, std::uint32_t q) {
        const std::size_t a = s.window_index[first + p], b = s.window_index[first + q];
        for (std::size_t c = 0; c < components; ++c) {
          const double x = key(c, a), y = key(c, b);
          if (x > y || (x != x && y == y)) return 1;
          if (x < y || (y != y && x == x)) return -1;
        }
        return 0;
      };
      std::uint32_t best = 0;
      for (std::uint32_t p = 1; p < size; ++p)
        if (compare(p, best) > 0) best = p;
      return best;
    }
  }
  return 0;
}

/// A network as a graph of affine operators and switches, in topological order.
///
/// Node 0 is the network's input; every other node reads earlier nodes, and the last node's outputs
/// are the logits. The walk's contract: inside one assignment of switch states (a region) every node is
/// affine along a line, and at a breakpoint the states follow the right-limit rule (decide_switch),
/// decided node by node in topological order. Max pooling, residual sums and concatenations are nodes of
/// their own: nothing is lowered onto ReLUs, so regions and switch flips keep their meaning.
class GENSCOPE_API piecewise_linear_graph {
 public:
  struct node {
    std::vector<std::size_t> inputs;          ///< earlier nodes; empty for node 0
    std::unique_ptr<affine_operator> affine;  ///< an affine node's operator (null for a switch or node 0)
    switch_layer rule;                        ///< a switch node's rule (when affine is null and inputs is not empty)
    std::size_t width = 0;                    ///< output dimension
    bool is_switch() const { return !affine && !inputs.empty(); }
  };

  /// A graph holding only its input node, of `input_dim` (>= 1) units.
  explicit piecewise_linear_graph(std::size_t input_dim);
  piecewise_linear_graph(const piecewise_linear_graph&) = delete;
  piecewise_linear_graph& operator=(const piecewise_linear_graph&) = delete;
  ~piecewise_linear_graph();

  /// Appends an affine node reading `inputs` (earlier nodes, one per operator input); returns its index.
  /// Throws genscope::error when an input does not exist or its width differs from the operator's.
  std::size_t add_affine(std::unique_ptr<affine_operator> op, std::vector<std::size_t> inputs);
  /// Appends a switch node reading node `input`; returns its index. Throws genscope::error on a width
  /// mismatch, clip bounds not low < high, or max_pool windows that are empty or out of range.
  std::size_t add_switch(switch_layer rule, std::size_t input);

  std::size_t size() const { return nodes_.size(); }
  const node& at(std::size_t i) const { return nodes_[i]; }
  std::size_t input_dim() const { return nodes_[0].width; }
  /// Width of the last node (the class count).
  std::size_t output_dim() const { return nodes_.back().width; }
  /// Nodes reading node i, ascending.
  const std::vector<std::size_t>& consumers(std::size_t i) const { return consumers_[i]; }
  /// Whether node i depends on no switch: its form along a line is one affine function everywhere.
  bool is_static(std::size_t i) const { return static_[i] != 0; }
  /// Number of switch nodes.
  std::size_t switch_count() const { return switches_; }
  /// Widest node.
  std::size_t widest() const { return widest_; }

 private:
  std::vector<node> nodes_;
  std::vector<std::vector<std::size_t>> consumers_;
  std::vector<std::uint8_t> static_;
  std::size_t switches_ = 0;
  std::size_t widest_ = 0;
};

/// How evaluate_forms picks a switch unit's piece when the default (decide_switch on the exact components)
/// does not fit the path walked, e.g. a curve whose right limit needs a tolerance.
class GENSCOPE_API switch_decider {
 public:
  virtual ~switch_decider();
  /// The piece of unit j given its input's rows for one point (`components` rows of `width` values,
  /// component-major, as evaluate_forms holds them).
  virtual std::uint32_t decide(const switch_layer& rule, std::size_t j, const double* input, std::size_t width,
                               std::size_t components) const = 0;
};

/// Switch states of every node for a batch of points: states[i] holds points x width(i) entries for a
/// switch node i, nothing for the others.
using switch_states = std::vector<std::vector<std::uint32_t>>;

/// Forms of every node for `points` points of `components` rows each: input rows are point-major (row
/// p * components + c is component c of point p, input_dim wide); component 0 is the value and receives
/// biases and switch constants, components 1.. are derivatives along a path (linear parts only).
/// forms[i] gets (points * components) x width(i). With `decide`, each switch unit takes the
/// right-limit state of its input's components (decide_switch, or `decider` when given); without,
/// `states` is kept as given. With `keep_static`, the static nodes (is_static) keep the forms already in
/// `forms` (of this shape): a walk that refreshes its forms need not multiply the first layers again.
/// Deterministic: a point's forms do not depend on the other points of the batch as long as `points` is
/// the same.
GENSCOPE_API void evaluate_forms(const piecewise_linear_graph& graph, const double* input, std::size_t points,
                                 std::size_t components, switch_states& states,
                                 std::vector<std::vector<double>>& forms, bool decide,
                                 const switch_decider* decider = nullptr, bool keep_static = false);

/// Vector-Jacobian products through fixed states: `output_rows` holds, for each of `points` points,
/// `rows` rows of output_dim gradients (point-major); `input_rows` receives the matching rows of
/// input_dim gradients (g^T df/dx on each point's region). `scratch` holds one buffer per node.
GENSCOPE_API void transpose_forms(const piecewise_linear_graph& graph, const switch_states& states,
                                  std::size_t points, std::size_t rows, const double* output_rows,
                                  double* input_rows, std::vector<std::vector<double>>& scratch);

/// "relu", "leaky_relu", "clip" or "max_pool".
GENSCOPE_API std::string switch_kind_name(switch_kind kind);

}  // namespace genscope
