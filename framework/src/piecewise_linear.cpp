// The piecewise-linear graph: its checks, the batched evaluation of forms and the vector-Jacobian products.
#include <genscope/error.hpp>
#include <genscope/piecewise_linear.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

namespace genscope {

affine_operator::~affine_operator() = default;

std::size_t affine_operator::input_count() const { return 1; }

switch_decider::~switch_decider() = default;

bool affine_operator::add_sparse(std::size_t input, const std::uint32_t* support, std::size_t count, const double* v,
                                 double* y, std::vector<std::uint32_t>& /*touched*/, std::uint8_t* /*flags*/) const {
  for (std::size_t k = 0; k < count; ++k) add_column(input, support[k], v[support[k]], y);
  return false;
}

std::string switch_kind_name(switch_kind kind) {
  switch (kind) {
    case switch_kind::relu: return "relu";
    case switch_kind::leaky_relu: return "leaky_relu";
    case switch_kind::clip: return "clip";
    case switch_kind::max_pool: return "max_pool";
  }
  return "?";
}

piecewise_linear_graph::piecewise_linear_graph(std::size_t input_dim) {
  if (input_dim == 0) throw error("piecewise-linear graph: the input has no units");
  nodes_.emplace_back();
  nodes_[0].width = input_dim;
  consumers_.emplace_back();
  static_.push_back(1);
  widest_ = input_dim;
}

piecewise_linear_graph::~piecewise_linear_graph() = default;

std::size_t piecewise_linear_graph::add_affine(std::unique_ptr<affine_operator> op, std::vector<std::size_t> inputs) {
  const std::string where = "piecewise-linear graph: node " + std::to_string(nodes_.size()) + " (affine)";
  if (!op) throw error(where + ": no operator");
  if (inputs.empty() || inputs.size() != op->input_count())
    throw error(where + ": the operator takes " + std::to_string(op->input_count()) + " inputs, " +
                std::to_string(inputs.size()) + " given");
  if (op->output_dim() == 0) throw error(where + ": the operator has no outputs");
  bool is_static = true;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    if (inputs[k] >= nodes_.size())
      throw error(where + ": input " + std::to_string(k) + " is node " + std::to_string(inputs[k]) +
                  ", not an earlier node");
    if (op->input_dim(k) != nodes_[inputs[k]].width)
      throw error(where + ": input " + std::to_string(k) + " takes " + std::to_string(op->input_dim(k)) +
                  " units, node " + std::to_string(inputs[k]) + " has " + std::to_string(nodes_[inputs[k]].width));
    is_static = is_static && static_[inputs[k]] != 0;
  }
  node n;
  n.width = op->output_dim();
  n.affine = std::move(op);
  n.inputs = std::move(inputs);
  const std::size_t id = nodes_.size();
  for (std::size_t in : n.inputs)
    if (consumers_[in].empty() || consumers_[in].back() != id) consumers_[in].push_back(id);
  widest_ = std::max(widest_, n.width);
  nodes_.push_back(std::move(n));
  consumers_.emplace_back();
  static_.push_back(is_static ? 1 : 0);
  return id;
}

std::size_t piecewise_linear_graph::add_switch(switch_layer rule, std::size_t input) {
  const std::string where = "piecewise-linear graph: node " + std::to_string(nodes_.size()) + " (" +
                            switch_kind_name(rule.kind) + ")";
  if (input >= nodes_.size())
    throw error(where + ": input is node " + std::to_string(input) + ", not an earlier node");
  if (rule.input_dim != nodes_[input].width)
    throw error(where + ": takes " + std::to_string(rule.input_dim) + " units, node " + std::to_string(input) +
                " has " + std::to_string(nodes_[input].width));
  if (rule.kind == switch_kind::max_pool) {
    if (rule.output_dim == 0 || rule.window_start.size() != rule.output_dim + 1 || rule.window_start[0] != 0 ||
        rule.window_start.back() != rule.window_index.size())
      throw error(where + ": window_start does not index window_index");
    for (std::size_t j = 0; j < rule.output_dim; ++j)
      if (rule.window_start[j + 1] <= rule.window_start[j]) throw error(where + ": window " + std::to_string(j) + " is empty");
    for (const std::uint32_t i : rule.window_index)
      if (i >= rule.input_dim) throw error(where + ": a window reads unit " + std::to_string(i) + ", beyond its input");
  } else if (rule.output_dim != rule.input_dim) {
    throw error(where + ": output width " + std::to_string(rule.output_dim) + " differs from its input's " +
                std::to_string(rule.input_dim));
  }
  if (rule.kind == switch_kind::clip && !(rule.low < rule.high))
    throw error(where + ": needs low < high");
  if (rule.kind == switch_kind::leaky_relu && !std::isfinite(rule.negative_slope))
    throw error(where + ": negative_slope is not finite");
  node n;
  n.width = rule.output_dim;
  n.rule = std::move(rule);
  n.inputs = {input};
  const std::size_t id = nodes_.size();
  consumers_[input].push_back(id);
  widest_ = std::max(widest_, n.width);
  nodes_.push_back(std::move(n));
  consumers_.emplace_back();
  static_.push_back(0);
  ++switches_;
  return id;
}

namespace {

// One row of a ReLU or LeakyReLU node's forms: gain 1 (active) or `off` (inactive) times the input, plus the
// piece's constant 0 as switch_piece() gives it; a free function with __restrict pointers so that GCC vectorizes it.
void relu_row(const std::uint32_t* __restrict state, const double* __restrict in, double* __restrict out, double off,
              std::size_t w) {
  for (std::size_t j = 0; j < w; ++j) out[j] = (state[j] != 0 ? 1.0 : off) * in[j] + 0.0;
}

}  // namespace

void evaluate_forms(const piecewise_linear_graph& graph, const double* input, std::size_t points,
                    std::size_t components, switch_states& states, std::vector<std::vector<double>>& forms,
                    bool decide, const switch_decider* decider, bool keep_static) {
  const std::size_t nodes = graph.size();
  const std::size_t rows = points * components;
  forms.resize(nodes);
  states.resize(nodes);
  if (!keep_static) forms[0].assign(input, input + rows * graph.input_dim());
  for (std::size_t i = 1; i < nodes; ++i) {
    if (keep_static && graph.is_static(i)) continue;
    const auto& n = graph.at(i);
    const std::size_t w = n.width;
    std::vector<double>& out = forms[i];
    out.assign(rows * w, 0.0);
    if (!n.is_switch()) {
      for (std::size_t k = 0; k < n.inputs.size(); ++k) n.affine->add_linear(k, forms[n.inputs[k]].data(), rows, out.data());
      for (std::size_t p = 0; p < points; ++p) n.affine->add_bias(1, out.data() + p * components * w);
      continue;
    }
    const std::vector<double>& in = forms[n.inputs[0]];
    const std::size_t win = graph.at(n.inputs[0]).width;
    std::vector<std::uint32_t>& st = states[i];
    if (decide) {
      st.resize(points * w);
      for (std::size_t p = 0; p < points; ++p) {
        const double* base = in.data() + p * components * win;
        auto key = [base, win](std::size_t c, std::size_t u) { return base[c * win + u]; };
        for (std::size_t j = 0; j < w; ++j)
          st[p * w + j] = decider != nullptr ? decider->decide(n.rule, j, base, win, components)
                                             : decide_switch(n.rule, j, components, key);
      }
    } else if (st.size() != points * w) {
      throw error("evaluate_forms: node " + std::to_string(i) + " has no states for " + std::to_string(points) +
                  " points");
    }
    if (n.rule.kind == switch_kind::relu || n.rule.kind == switch_kind::leaky_relu) {
      const double off = n.rule.kind == switch_kind::leaky_relu ? n.rule.negative_slope : 0.0;
      for (std::size_t r = 0; r < rows; ++r)
        relu_row(st.data() + r / components * w, in.data() + r * win, out.data() + r * w, off, w);
      continue;
    }
    for (std::size_t p = 0; p < points; ++p)
      for (std::size_t j = 0; j < w; ++j) {
        std::size_t source = 0;
        double gain = 0, constant = 0;
        switch_piece(n.rule, j, st[p * w + j], source, gain, constant);
        for (std::size_t c = 0; c < components; ++c) {
          const std::size_t r = p * components + c;
          out[r * w + j] = gain * in[r * win + source] + (c == 0 ? constant : 0.0);
        }
      }
  }
}

void transpose_forms(const piecewise_linear_graph& graph, const switch_states& states, std::size_t points,
                     std::size_t rows, const double* output_rows, double* input_rows,
                     std::vector<std::vector<double>>& scratch) {
  const std::size_t nodes = graph.size();
  const std::size_t total = points * rows;
  scratch.resize(nodes);
  for (std::size_t i = 0; i + 1 < nodes; ++i) scratch[i].assign(total * graph.at(i).width, 0.0);
  scratch[nodes - 1].assign(output_rows, output_rows + total * graph.output_dim());
  for (std::size_t i = nodes - 1; i > 0; --i) {
    const auto& n = graph.at(i);
    const std::vector<double>& g = scratch[i];
    if (!n.is_switch()) {
      for (std::size_t k = 0; k < n.inputs.size(); ++k)
        n.affine->add_transposed(k, g.data(), total, scratch[n.inputs[k]].data());
      continue;
    }
    const std::size_t w = n.width;
    const std::size_t win = graph.at(n.inputs[0]).width;
    std::vector<double>& back = scratch[n.inputs[0]];
    const std::vector<std::uint32_t>& st = states[i];
    for (std::size_t p = 0; p < points; ++p)
      for (std::size_t j = 0; j < w; ++j) {
        std::size_t source = 0;
        double gain = 0, constant = 0;
        switch_piece(n.rule, j, st[p * w + j], source, gain, constant);
        if (gain == 0) continue;
        for (std::size_t r = p * rows; r < (p + 1) * rows; ++r) back[r * win + source] += gain * g[r * w + j];
      }
  }
  std::copy(scratch[0].begin(), scratch[0].end(), input_rows);
}

}  // namespace genscope
