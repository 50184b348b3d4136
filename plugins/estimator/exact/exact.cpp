// Estimator plugin "exact": certified generalization intervals by walking x + t*d region by region through the piecewise-linear graph.
#include <genscope/interval_estimator.hpp>
#include <genscope/piecewise_linear.hpp>
#include <genscope/plugin.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using genscope::option_spec;
using genscope::option_type;

const option_spec options[] = {
    {"T", option_type::real, "4.0", "search limit: no class change is looked for beyond |t| = T"},
    {"max_regions", option_type::integer, "100000",
     "most linear regions walked per side; a side reaching it stops there (status_max_regions, a lower bound)"},
    {"record_breakpoints", option_type::boolean, "false",
     "record the t of every activation-pattern change inside (t_lo, t_hi) in the breakpoints column"},
    {"recompute_every", option_type::integer, "64",
     "regions between full recomputations of the node forms from the line (bounds incremental drift)"},
};

constexpr double inf = std::numeric_limits<double>::infinity();
// Crossings within this relative distance of an event belong to that event (simultaneous flips), and
// two logits this close relative to their magnitude are tied. Far above double rounding (1e-16), far
// below any region width a trained network has.
constexpr double rel_tol = 1e-12;
// A ReLU pass computes the crossings of units that reach zero by its horizon widened by this relative margin, so
// that no crossing rounding puts at the horizon is left out (the test and the division round differently).
constexpr double horizon_margin = 1e-9;
// A change to more than 1/sparse_limit of a node's units goes on as a whole vector: a convolution's sparse update
// costs some ten instructions per weight it touches, its dense product (im2col and GEMM) far less per weight, and
// the cascade of a flip through later layers soon reaches that share.
constexpr std::size_t sparse_limit = 32;
// Probes per batched product at t = 0. A GEMM treats rows alike only within full row panels; a fixed
// block height that is a multiple of Eigen's double panels (6, 12, 24 rows for SSE, AVX, AVX-512) keeps
// a probe's values independent of the batch it arrives in and of its place in it.
constexpr std::size_t block_rows = 24;

std::string number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  return text;
}

struct walk_config {
  double t_max = 4.0;
  std::int64_t max_regions = 100000;
  bool record = false;
  std::int64_t recompute_every = 64;
};

// How one side of a probe ended; t is |t|, status uses the _hi bits and is mapped for the negative side.
struct side_result {
  double t = 0;
  std::int32_t cls = -1;
  std::uint32_t status = 0;
  std::int64_t regions = 1;
  std::int64_t flips = 0;
  std::uint64_t cost = 0;  // forward passes beyond the one at t = 0
};

// ReLU and LeakyReLU switch between two pieces at zero: the vectorized passes below serve both.
bool relu_like(genscope::switch_kind kind) {
  return kind == genscope::switch_kind::relu || kind == genscope::switch_kind::leaky_relu;
}

// The next crossing after `after` of a ReLU or LeakyReLU unit in state `on` (1 active, 0 inactive) whose input is
// a + t s (inf: never along this form). Rounding may put it at or before `after`: it is then looked at again at
// `next`, just after.
inline double relu_crossing(double a, double s, double on, double after, double next) {
  const double towards = (1.0 - 2.0 * on) * s;  // > 0: active and falling, or inactive and rising
  const double t = -a / s;
  return towards > 0 ? (t > after ? t : next) : inf;
}

// Crossings are never negative (t > after >= 0, or inf), and the IEEE bit patterns of such doubles order as
// int64 do: the earliest of many is an integer min reduction, which GCC vectorizes (a double one it does not
// without -ffast-math).
inline std::int64_t crossing_bits(double t) { return std::bit_cast<std::int64_t>(t); }
constexpr std::int64_t never_bits = std::bit_cast<std::int64_t>(inf);

// f(j) for every leaf j < w whose bits are at most `limit` (a crossing: at most the double whose bits limit is),
// ascending. Few leaves qualify, so a block of them whose integer min (vectorized) is above the limit is skipped
// without a branch per leaf. f may rewrite the leaf it is given.
template <class F>
void for_each_leaf_at_most(const double* leaves, std::size_t w, std::int64_t limit, const F& f) {
  constexpr std::size_t block = 8;
  for (std::size_t j0 = 0; j0 < w; j0 += block) {
    const std::size_t end = std::min(j0 + block, w);
    std::int64_t lowest = never_bits;
    for (std::size_t j = j0; j < end; ++j) lowest = std::min(lowest, crossing_bits(leaves[j]));
    if (lowest > limit) continue;
    for (std::size_t j = j0; j < end; ++j)
      if (crossing_bits(leaves[j]) <= limit) f(j);
  }
}

// The earliest of w crossings.
double earliest_leaf(const double* __restrict leaves, std::size_t w) {
  std::int64_t lowest = never_bits;
  for (std::size_t j = 0; j < w; ++j) lowest = std::min(lowest, crossing_bits(leaves[j]));
  return std::bit_cast<double>(lowest);
}

// The loops below are free functions with __restrict pointers and their selects on doubles, so that GCC
// vectorizes them (with -fno-trapping-math, CMakeLists.txt).

// relu_crossing of every unit of a ReLU node into leaves; returns the earliest.
double relu_crossings(const double* __restrict a, const double* __restrict s, const std::uint32_t* __restrict state,
                      double* __restrict leaves, double after, std::size_t w) {
  const double next = std::nextafter(after, inf);
  std::int64_t lowest = never_bits;
  for (std::size_t j = 0; j < w; ++j) {
    leaves[j] = relu_crossing(a[j], s[j], static_cast<std::int32_t>(state[j]), after, next);
    lowest = std::min(lowest, crossing_bits(leaves[j]));
  }
  return std::bit_cast<double>(lowest);
}

// What settle_relu_units did: its flips, those of units whose input had a slope before the event (corners), the
// earliest next crossing, and how many units may cross by `reach` (listed in `due`, ascending).
struct relu_pass {
  std::size_t flips = 0, independent = 0, due = 0;
  double earliest = inf;
};

// Every unit of a ReLU (off = 0) or LeakyReLU (off = its negative slope) at an event at t_e (te1: t_e widened by
// rel_tol), from its input form a_in + t s_in whose slope changed by d_in at the event: its state after the event,
// output form, output slope change and next crossing (leaves). Apply_input: the input's change is not yet applied
// (its single consumer applies it: a_in -= t_e d_in, s_in += d_in, and clears d_in).
// A unit flips here only if it moves towards zero (inactive and rising, or active and falling) and gets there by
// te1, or if its input is constant on the wrong side or at zero while active (a ReLU below it turned off); and
// only a unit moving towards zero that gets there by `reach` needs its crossing (the others stay inf; the caller
// settles the node again before then). The first loop marks those units without dividing and carries every other
// unit in its piece; as few are marked, a second pass over the blocks holding one decides them by the right-limit
// rule (decide_switch with `rule`), computes their crossings and lists them in `due`. A unit moving away from zero keeps its piece even if
// rounding left it a hair on the wrong side. One whose input turned NaN is never marked and keeps its piece: its
// output is NaN either way, and so are the logits, which ends the walk.
template <bool apply_input>
relu_pass settle_relu_units(double* __restrict a_in, double* __restrict s_in, double* __restrict d_in,
                            std::uint32_t* __restrict state, double* __restrict a, double* __restrict s,
                            double* __restrict delta, double* __restrict leaves, std::uint32_t* __restrict due,
                            const genscope::switch_layer& rule, double off, double t_e, double te1, double reach,
                            std::size_t w) {
  std::int64_t marks = never_bits;  // negative when some leaf is marked
  for (std::size_t j = 0; j < w; ++j) {
    double aj = a_in[j], sj = s_in[j];
    if constexpr (apply_input) {
      const double dj = d_in[j];
      aj -= t_e * dj;
      sj += dj;
      a_in[j] = aj;
      s_in[j] = sj;
    }
    // States 0 and 1 through int32 (one instruction; an unsigned conversion takes several).
    const double on = static_cast<std::int32_t>(state[j]);
    // Towards zero and there by reach, or constant (sj = 0) on the wrong side or at zero (there = towards * aj):
    // marked by a negative leaf, which no crossing is (a value, not a constant, in both arms keeps the loop
    // vectorized).
    const double towards = 1.0 - 2.0 * on;
    const double there = towards * sj >= 0 ? towards * (aj + reach * sj) : -1.0;
    leaves[j] = there >= 0 ? -1.0 - there : inf;
    marks = std::min(marks, crossing_bits(leaves[j]));
    const double gain = on + (1.0 - on) * off;  // exactly 1 or off
    const double s_old = s[j];
    const double s_new = gain * sj;
    delta[j] = s_new - s_old;
    a[j] = gain * aj;
    s[j] = there >= 0 ? s_old : s_new;  // a marked unit's old slope stays for the second pass
  }
  const double next = std::nextafter(te1, inf);
  std::int64_t lowest = never_bits;
  std::size_t listed = 0, flips = 0, independent = 0;
  const auto settle_marked = [&](std::size_t j) {
    const double aj = a_in[j], sj = s_in[j];
    const auto key = [aj, sj, te1](std::size_t c, std::size_t) { return c == 0 ? aj + te1 * sj : sj; };
    const std::uint32_t now = genscope::decide_switch(rule, j, 2, key);
    if (now != state[j]) {
      state[j] = now;
      ++flips;
      independent += sj - d_in[j] != 0;  // the input had a slope before the event: a corner
    }
    const double gain = now != 0 ? 1.0 : off;
    const double s_new = gain * sj;
    delta[j] = s_new - s[j];
    a[j] = gain * aj;
    s[j] = s_new;
    leaves[j] = relu_crossing(aj, sj, now, te1, next);
    lowest = std::min(lowest, crossing_bits(leaves[j]));
    due[listed++] = static_cast<std::uint32_t>(j);
  };
  if (marks < 0) for_each_leaf_at_most(leaves, w, -1, settle_marked);  // the negative leaves
  if constexpr (apply_input) std::fill(d_in, d_in + w, 0.0);
  return {flips, independent, listed, std::bit_cast<double>(lowest)};
}

// The extra column with record_breakpoints: every breakpoint of a probe, ragged, indexed by breakpoint_start/_count.
const genscope::table_spec& breakpoint_table() {
  static const genscope::table_spec spec{
      "breakpoints",
      "breakpoints of the exact walk",
      {{"breakpoints", genscope::column_type::float64, genscope::ragged,
        "t of every activation-pattern change inside (t_lo, t_hi), ascending, probe after probe", "breakpoint"}},
      ""};
  return spec;
}

// Next crossings of a switch node's units: a min-tree over the units, so that the earliest one is read in O(1), a
// unit's is replaced in O(log n), and the units crossing by some t are found without looking at the others.
class crossing_tree {
 public:
  void resize(std::size_t n) {
    leaves_ = 1;
    while (leaves_ < n) leaves_ <<= 1;
    tree_.assign(2 * leaves_, inf);
    listed_.reserve(list_limit);
    mode_ = mode::fresh;
  }
  double earliest() const { return tree_[1]; }
  void set(std::size_t j, double t) {
    double& leaf = tree_[leaves_ + j];
    if (mode_ == mode::listed) {
      leaf = t;
      if (t != inf && std::find(listed_.begin(), listed_.end(), j) == listed_.end()) {
        rebuild();  // a crossing outside the list: the whole tree again
        return;
      }
      double earliest = inf;  // not in tree_[1] as it goes: with one unit, that is the leaf itself
      for (const std::uint32_t u : listed_) earliest = std::min(earliest, tree_[leaves_ + u]);
      tree_[1] = earliest;
      return;
    }
    if (mode_ == mode::stale && stale_uses_ < stale_budget) {
      ++stale_uses_;
      const double old = leaf;
      leaf = t;
      if (t <= tree_[1]) tree_[1] = t;
      else if (old == tree_[1]) tree_[1] = earliest_leaf(leaves(), leaves_);
      return;
    }
    if (mode_ != mode::fresh) rebuild();
    std::size_t i = leaves_ + j;
    tree_[i] = t;
    for (i >>= 1; i >= 1; i >>= 1) {
      const double m = std::min(tree_[2 * i], tree_[2 * i + 1]);
      if (tree_[i] == m) break;
      tree_[i] = m;
    }
  }
  // Bulk writes: leaves()[j] for every unit, then rebuild(), or settle(), which leaves the inner nodes stale. When
  // only a few listed units have a crossing (the rest inf), queries and single writes look at those; otherwise the
  // next few read the leaves directly (one vectorized pass each, cheaper than a rebuild), and only then is the tree
  // rebuilt (a layer rewritten at every event never needs it).
  double* leaves() { return tree_.data() + leaves_; }
  void rebuild() {
    // Level by level, as integer mins of crossings' bits (vectorized).
    double* tree = tree_.data();
    for (std::size_t level = leaves_ / 2; level >= 1; level /= 2)
      for (std::size_t i = level; i < 2 * level; ++i)
        tree[i] = std::bit_cast<double>(std::min(crossing_bits(tree[2 * i]), crossing_bits(tree[2 * i + 1])));
    mode_ = mode::fresh;
  }
  // The leaves were written, the earliest is `earliest`; only the `count` units in `finite` (ascending) may have a
  // crossing below inf.
  void settle(double earliest, const std::uint32_t* finite, std::size_t count) {
    tree_[1] = earliest;
    if (count <= list_limit) {
      listed_.assign(finite, finite + count);
      mode_ = mode::listed;
      return;
    }
    mode_ = mode::stale;
    stale_uses_ = 0;
  }
  // f(j) for every unit whose crossing is <= t, ascending. Down the tree towards the children <= t (one at least,
  // as their parent is), the left one first; a right one also <= t waits on the stack (one node per level at most).
  template <class F>
  void for_each_by(double t, const F& f) {
    if (!(tree_[1] <= t)) return;
    if (mode_ == mode::listed) {
      for (const std::uint32_t j : listed_)
        if (tree_[leaves_ + j] <= t) f(j);
      return;
    }
    if (mode_ == mode::stale && stale_uses_ < stale_budget) {
      ++stale_uses_;
      // Crossings are never negative, so leaf <= t compares as bits; a negative t has a negative bit pattern and
      // finds none (t + 0.0 makes a -0.0 +0.0).
      for_each_leaf_at_most(leaves(), leaves_, crossing_bits(t + 0.0), f);
      return;
    }
    if (mode_ != mode::fresh) rebuild();
    std::size_t stack[64];
    std::size_t top = 0;
    std::size_t i = 1;
    for (;;) {
      while (i < leaves_) {
        const std::size_t left = 2 * i;
        const bool go_left = tree_[left] <= t;
        if (go_left && tree_[left + 1] <= t) stack[top++] = left + 1;
        i = go_left ? left : left + 1;
      }
      f(i - leaves_);
      if (top == 0) return;
      i = stack[--top];
    }
  }

 private:
  // fresh: every inner node holds the min of its children. stale: only the root does. listed: only the root does,
  // and every leaf outside listed_ is inf.
  enum class mode { fresh, stale, listed };
  static constexpr int stale_budget = 4;         // reads of a stale tree before it is rebuilt
  static constexpr std::size_t list_limit = 16;  // most units a listed tree holds
  std::size_t leaves_ = 1;
  std::vector<double> tree_;
  std::vector<std::uint32_t> listed_;  // ascending
  mode mode_ = mode::fresh;
  int stale_uses_ = 0;
};

// The walking state of one node: its form a + t*s along the line, and at an event the change of its slope (delta,
// zero outside `touched` unless `dense`). A switch node also holds its units' states and next crossings.
struct node_state {
  std::vector<double> a, s, delta;
  std::vector<std::uint32_t> touched;
  std::vector<std::uint8_t> flags;   // 1 for the units listed in touched
  bool changed = false;              // the event changed this node
  bool dense = false;                // ... and any unit may have changed (touched not kept)
  bool deferred = false;             // a dense change left for the single consumer, a ReLU, to apply and clear
  bool stale_delta = false;          // switch nodes: delta still holds the last dense change (cleared when needed)
  std::vector<std::uint32_t> state;  // switch nodes: each unit's piece
  crossing_tree next;                // switch nodes: each unit's next crossing
  // ReLU-like nodes: crossings after this may be missing from `next` (left inf); the node is settled whole at the
  // first event at or after it.
  double horizon = inf;
  std::vector<std::uint8_t> queued;  // switch nodes: units already queued at this event
  std::vector<std::uint32_t> reader_start, readers;  // max_pool: the windows reading each input unit
};

// All scratch of one estimate() call: the t = 0 forms of a block of probes, and the walking state of one side (every
// node's form along the line, the switches' states and next crossings). Nothing is allocated per region.
class walker {
 public:
  walker(const genscope::piecewise_linear_graph& g, const walk_config& cfg) : g_(g), cfg_(cfg) {
    dim_ = g.input_dim();
    classes_ = g.output_dim();
    nodes_.resize(g.size());
    relu_consumer_.assign(g.size(), 0);
    for (std::size_t i = 0; i < g.size(); ++i) {
      const auto& n = g.at(i);
      node_state& ns = nodes_[i];
      ns.a.resize(n.width);
      ns.s.resize(n.width);
      ns.delta.assign(n.width, 0.0);
      ns.flags.assign(n.width, 0);
      if (!n.is_switch()) {
        const auto& users = g.consumers(i);
        relu_consumer_[i] = users.size() == 1 && g.at(users[0]).is_switch() && relu_like(g.at(users[0]).rule.kind);
        continue;
      }
      switches_.push_back(i);
      if (relu_like(n.rule.kind)) due_.resize(std::max(due_.size(), n.width));
      ns.state.assign(n.width, 0);
      ns.next.resize(n.width);
      ns.queued.assign(n.width, 0);
      if (n.rule.kind == genscope::switch_kind::max_pool) {
        ns.reader_start.assign(n.rule.input_dim + 1, 0);
        for (const std::uint32_t q : n.rule.window_index) ++ns.reader_start[q + 1];
        for (std::size_t q = 0; q < n.rule.input_dim; ++q) ns.reader_start[q + 1] += ns.reader_start[q];
        ns.readers.resize(n.rule.window_index.size());
        std::vector<std::uint32_t> fill(ns.reader_start.begin(), ns.reader_start.end() - 1);
        for (std::size_t j = 0; j < n.width; ++j)
          for (std::uint32_t k = n.rule.window_start[j]; k < n.rule.window_start[j + 1]; ++k)
            ns.readers[fill[n.rule.window_index[k]]++] = static_cast<std::uint32_t>(j);
      }
    }
    block_input_.resize(block_rows * 2 * dim_);
    line_.resize(2 * dim_);
  }

  // Probes [first, first + count) of `probes` (count <= block_rows) into `out`.
  void solve_block(const genscope::probe_batch& probes, std::size_t first, std::size_t count,
                   genscope::interval_batch& out) {
    // Rows 2r and 2r + 1: x and d of probe r; the block is always block_rows probes high (zeros beyond count), so
    // that a probe's forms never depend on its batch.
    std::fill(block_input_.begin(), block_input_.end(), 0.0);
    for (std::size_t r = 0; r < count; ++r) {
      std::copy(probes.x.row(first + r), probes.x.row(first + r) + dim_, block_input_.data() + 2 * r * dim_);
      std::copy(probes.d.row(first + r), probes.d.row(first + r) + dim_, block_input_.data() + (2 * r + 1) * dim_);
    }
    genscope::evaluate_forms(g_, block_input_.data(), block_rows, 2, block_states_, block_forms_, true);
    for (std::size_t r = 0; r < count; ++r) solve(probes, first + r, r, out);
  }

 private:
  void solve(const genscope::probe_batch& probes, std::size_t p, std::size_t r, genscope::interval_batch& out) {
    const float* x = probes.x.row(p);
    const float* d = probes.d.row(p);
    bool finite = true;
    bool zero = true;
    for (std::size_t c = 0; c < dim_; ++c) {
      finite = finite && std::isfinite(x[c]) && std::isfinite(d[c]);
      zero = zero && d[c] == 0.0f;
    }
    const double* logits = block_forms_.back().data() + 2 * r * classes_;
    std::int32_t c0 = -1;
    bool finite_logits = true;
    for (std::size_t k = 0; k < classes_; ++k) {
      finite_logits = finite_logits && std::isfinite(logits[k]);
      if (c0 < 0 || logits[k] > logits[c0]) c0 = static_cast<std::int32_t>(k);  // ties stay with the lower index
    }
    if (!finite_logits) c0 = -1;
    out.class0[p] = c0;
    out.cost[p] = 1;
    if (!finite || !finite_logits || zero) {
      if (!finite || !finite_logits) out.status[p] |= genscope::status_nonfinite;
      if (zero) out.status[p] |= genscope::status_zero_direction;
      if (finite && finite_logits) {  // zero direction: one region, nothing crossed
        out.regions_lo[p] = out.regions_hi[p] = 1;
        out.flips_lo[p] = out.flips_hi[p] = 0;
      }
      return;
    }

    std::uint32_t status = 0;
    const auto cu = static_cast<std::size_t>(c0);
    for (std::size_t k = 0; k < classes_; ++k)
      if (k != cu && logits[cu] - logits[k] <= rel_tol * (std::fabs(logits[cu]) + std::fabs(logits[k])))
        status |= genscope::status_degenerate;  // tied logits at t = 0
    const bool breakpoint_at_zero = at_breakpoint(r);
    if (breakpoint_at_zero) status |= genscope::status_degenerate;

    load(block_forms_, block_states_, r, 1.0);
    bp_hi_.clear();
    const side_result hi = walk(c0, bp_hi_);
    std::uint64_t extra = 0;
    if (breakpoint_at_zero) {
      // A switch at its threshold at t = 0 takes the piece of the side walked, and the forms above follow.
      for (std::size_t c = 0; c < dim_; ++c) {
        line_[c] = x[c];
        line_[dim_ + c] = -static_cast<double>(d[c]);
      }
      genscope::evaluate_forms(g_, line_.data(), 1, 2, line_states_, line_forms_, true);
      load(line_forms_, line_states_, 0, 1.0);
      extra = 1;
    } else {
      load(block_forms_, block_states_, r, -1.0);
    }
    bp_lo_.clear();
    const side_result lo = walk(c0, bp_lo_);

    out.t_hi[p] = hi.t;
    out.class_hi[p] = hi.cls;
    out.t_lo[p] = -lo.t;
    out.class_lo[p] = lo.cls;
    out.regions_hi[p] = hi.regions;
    out.flips_hi[p] = hi.flips;
    out.regions_lo[p] = lo.regions;
    out.flips_lo[p] = lo.flips;
    out.cost[p] += hi.cost + lo.cost + extra;
    std::uint32_t lo_status = lo.status & ~static_cast<std::uint32_t>(genscope::status_clipped_hi);
    if ((lo.status & genscope::status_clipped_hi) != 0) lo_status |= genscope::status_clipped_lo;
    out.status[p] |= status | hi.status | lo_status;
    if (cfg_.record) {
      out.extra.counts(0)[p] = bp_lo_.size() + bp_hi_.size();
      std::vector<double>& breakpoints = out.extra.reals(0);
      for (auto it = bp_lo_.rbegin(); it != bp_lo_.rend(); ++it) breakpoints.push_back(-*it);
      breakpoints.insert(breakpoints.end(), bp_hi_.begin(), bp_hi_.end());
    }
  }

  // Whether t = 0 is itself a breakpoint of probe r: a switch exactly at its threshold there whose pieces part
  // along the line (a ReLU at zero with a non-zero slope, a max-pool window whose top values tie with different
  // slopes). Pieces tied in value and slope agree along the whole line: that is no breakpoint.
  bool at_breakpoint(std::size_t r) const {
    for (const std::size_t i : switches_) {
      const auto& n = g_.at(i);
      const std::size_t win = g_.at(n.inputs[0]).width;
      const double* a = block_forms_[n.inputs[0]].data() + 2 * r * win;
      const double* s = a + win;
      const genscope::switch_layer& rule = n.rule;
      for (std::size_t j = 0; j < n.width; ++j) {
        switch (rule.kind) {
          case genscope::switch_kind::relu:
          case genscope::switch_kind::leaky_relu:
            if (a[j] == 0 && s[j] != 0) return true;
            break;
          case genscope::switch_kind::clip:
            if ((a[j] == rule.low || a[j] == rule.high) && s[j] != 0) return true;
            break;
          case genscope::switch_kind::max_pool: {
            double top = -inf;
            for (std::uint32_t k = rule.window_start[j]; k < rule.window_start[j + 1]; ++k)
              top = std::max(top, a[rule.window_index[k]]);
            double slope = std::numeric_limits<double>::quiet_NaN();
            for (std::uint32_t k = rule.window_start[j]; k < rule.window_start[j + 1]; ++k) {
              const std::uint32_t q = rule.window_index[k];
              if (a[q] != top) continue;
              if (slope != slope) slope = s[q];
              else if (s[q] != slope) return true;
            }
            break;
          }
        }
      }
    }
    return false;
  }

  // Row r of `forms` (rows 2r: values, 2r + 1: slopes) and `states` into the walking state; sign -1 walks -d.
  void load(const std::vector<std::vector<double>>& forms, const genscope::switch_states& states, std::size_t r,
            double sign) {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      node_state& ns = nodes_[i];
      const std::size_t w = ns.a.size();
      const double* f = forms[i].data() + 2 * r * w;
      std::copy(f, f + w, ns.a.data());
      for (std::size_t j = 0; j < w; ++j) ns.s[j] = sign * f[w + j];
      if (!ns.state.empty()) std::copy(states[i].data() + r * w, states[i].data() + (r + 1) * w, ns.state.data());
    }
  }

  // Every form again from the line, with the switches' states kept (bounds the drift of incremental updates). The
  // static nodes (the first layers, before any switch) are exact for the whole line and are not multiplied again.
  void recompute_forms() {
    line_states_.resize(nodes_.size());
    line_forms_.resize(nodes_.size());
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      line_states_[i] = nodes_[i].state;
      if (!g_.is_static(i)) continue;
      line_forms_[i].assign(nodes_[i].a.begin(), nodes_[i].a.end());
      line_forms_[i].insert(line_forms_[i].end(), nodes_[i].s.begin(), nodes_[i].s.end());
    }
    genscope::evaluate_forms(g_, line_.data(), 1, 2, line_states_, line_forms_, false, nullptr, true);
    for (std::size_t i = 1; i < nodes_.size(); ++i) {
      const std::size_t w = nodes_[i].a.size();
      std::copy(line_forms_[i].begin(), line_forms_[i].begin() + static_cast<std::ptrdiff_t>(w), nodes_[i].a.begin());
      std::copy(line_forms_[i].begin() + static_cast<std::ptrdiff_t>(w), line_forms_[i].end(), nodes_[i].s.begin());
    }
  }

  // The next t > after at which unit j of switch node i leaves its piece (inf: never along the current forms).
  double crossing(std::size_t i, std::size_t j, double after) const {
    const auto& n = g_.at(i);
    const node_state& in = nodes_[n.inputs[0]];
    const std::uint32_t st = nodes_[i].state[j];
    const genscope::switch_layer& rule = n.rule;
    double t = inf;
    switch (rule.kind) {
      case genscope::switch_kind::relu:
      case genscope::switch_kind::leaky_relu:
        t = relu_crossing(in.a[j], in.s[j], st, after, after);
        break;
      case genscope::switch_kind::clip: {
        const double a = in.a[j], s = in.s[j];
        if (st == 0 && s > 0) t = (rule.low - a) / s;
        else if (st == 1 && s > 0) t = (rule.high - a) / s;
        else if (st == 1 && s < 0) t = (rule.low - a) / s;
        else if (st == 2 && s < 0) t = (rule.high - a) / s;
        break;
      }
      case genscope::switch_kind::max_pool: {
        const std::uint32_t q = rule.window_index[rule.window_start[j] + st];
        for (std::uint32_t k = rule.window_start[j]; k < rule.window_start[j + 1]; ++k) {
          const std::uint32_t u = rule.window_index[k];
          const double ds = in.s[u] - in.s[q];
          if (ds > 0) t = std::min(t, (in.a[q] - in.a[u]) / ds);
        }
        break;
      }
    }
    if (t > after || t == inf) return t;
    // Rounding put the crossing at or before `after` (or it is NaN): look at the unit again right after.
    return std::nextafter(after, inf);
  }

  void init_crossings(double after) {
    for (const std::size_t i : switches_) {
      node_state& ns = nodes_[i];
      ns.horizon = inf;
      if (relu_like(g_.at(i).rule.kind)) {
        const node_state& in = nodes_[g_.at(i).inputs[0]];
        relu_crossings(in.a.data(), in.s.data(), ns.state.data(), ns.next.leaves(), after, ns.state.size());
        ns.next.rebuild();
        continue;
      }
      double* leaves = ns.next.leaves();
      for (std::size_t j = 0; j < ns.state.size(); ++j) leaves[j] = crossing(i, j, after);
      ns.next.rebuild();
    }
  }

  // Unit j of switch node i at the event (te1: the event's t widened by rel_tol): its right-limit piece, its
  // output form from its input's, the change of its slope. Counts a flip, and a flip that marks a corner: a
  // ReLU-like unit whose input had a slope before the event (not a constant tie that a flip below merely broke),
  // or a max-pool window whose old and new winners both kept their forms (a window switching because one of
  // its inputs switched here, say a ReLU turning off, is part of that switch).
  void settle(std::size_t i, std::size_t j, double te1, std::size_t& flips, std::size_t& corners) {
    const auto& n = g_.at(i);
    const node_state& in = nodes_[n.inputs[0]];
    node_state& ns = nodes_[i];
    const genscope::switch_layer& rule = n.rule;
    if (ns.stale_delta) {
      std::fill(ns.delta.begin(), ns.delta.end(), 0.0);
      ns.stale_delta = false;
    }
    const std::uint32_t old = ns.state[j];
    auto key = [&in, te1](std::size_t c, std::size_t q) { return c == 0 ? in.a[q] + te1 * in.s[q] : in.s[q]; };
    const std::uint32_t now = genscope::decide_switch(rule, j, 2, key);
    if (now != old) {
      ns.state[j] = now;
      ++flips;
      // The input's change at this event (its delta may still hold an earlier dense change when it did not change).
      const auto change_of = [&in](std::size_t q) { return in.changed ? in.delta[q] : 0.0; };
      if (rule.kind == genscope::switch_kind::max_pool) {
        const std::uint32_t q_old = rule.window_index[rule.window_start[j] + old];
        const std::uint32_t q_now = rule.window_index[rule.window_start[j] + now];
        if (change_of(q_old) == 0 && change_of(q_now) == 0) ++corners;
      } else if (in.s[j] - change_of(j) != 0) {  // the slope before the event
        ++corners;
      }
    }
    std::size_t source = 0;
    double gain = 0, constant = 0;
    genscope::switch_piece(rule, j, now, source, gain, constant);
    const double s_new = gain * in.s[source];
    const double change = s_new - ns.s[j];
    ns.a[j] = constant + gain * in.a[source];
    ns.s[j] = s_new;
    if (change != 0) {
      ns.delta[j] = change;
      ns.changed = true;
      if (ns.flags[j] == 0) {
        ns.flags[j] = 1;
        ns.touched.push_back(static_cast<std::uint32_t>(j));
      }
    }
  }

  // The next event of a switch node: its earliest crossing, or its horizon when that comes first.
  double next_event(const node_state& ns) const { return std::min(ns.next.earliest(), ns.horizon); }

  // A ReLU or LeakyReLU node whose input changed as a whole (a dense layer below), or that reached its horizon,
  // settled in one vectorized pass (settle_relu_units, the inner loop of a wide MLP's walk), which also applies a
  // deferred change of its input. Its output change is kept as a whole vector, unless nothing changed (its horizon
  // came with its input unchanged and no flip). Its new horizon is the next event of the switches before it (a
  // layer below, in an MLP, whose next flip changes this one's input as a whole) or T, and only units that reach
  // zero by then get their crossing (widened by horizon_margin against rounding).
  void settle_all_relu(std::size_t i, double t_e, double te1, std::size_t& flips, std::size_t& corners) {
    const auto& n = g_.at(i);
    node_state& in = nodes_[n.inputs[0]];
    node_state& ns = nodes_[i];
    double horizon = cfg_.t_max;
    for (const std::size_t k : switches_) {
      if (k >= i) break;
      horizon = std::min(horizon, next_event(nodes_[k]));
    }
    ns.horizon = horizon;
    const double reach = std::max(horizon, te1) * (1.0 + horizon_margin);
    const double off = n.rule.kind == genscope::switch_kind::leaky_relu ? n.rule.negative_slope : 0.0;
    const auto pass = in.deferred ? settle_relu_units<true> : settle_relu_units<false>;
    const relu_pass p =
        pass(in.a.data(), in.s.data(), in.delta.data(), ns.state.data(), ns.a.data(), ns.s.data(), ns.delta.data(),
             ns.next.leaves(), due_.data(), n.rule, off, t_e, te1, reach, ns.a.size());
    ns.next.settle(p.earliest, due_.data(), p.due);
    flips += p.flips;
    corners += p.independent;
    if (!in.changed && p.flips == 0) {
      ns.stale_delta = false;  // the pass wrote delta = 0 for every unit
      return;
    }
    ns.changed = ns.dense = true;
  }

  // Crosses the breakpoint at t_e node by node in topological order: slope changes travel up from the switches
  // that flip (an affine node adds its inputs' changes through add_sparse, or add_linear when they are dense; the
  // values change by -t_e times the slopes', as every form is continuous at t_e), and each switch whose input
  // changed, or whose own crossing is due, takes its right-limit piece; a ReLU at its horizon is settled whole.
  // `full` then recomputes every form from the line. Returns the flips; `corner` tells whether two or more
  // independent flips met here.
  std::size_t cross(double t_e, bool full, bool& corner) {
    const double te1 = t_e + t_e * rel_tol;
    std::size_t flips = 0, corners = 0;
    for (std::size_t i = 1; i < nodes_.size(); ++i) {
      const auto& n = g_.at(i);
      node_state& ns = nodes_[i];
      const std::size_t w = ns.a.size();
      if (!n.is_switch()) {
        for (std::size_t k = 0; k < n.inputs.size(); ++k) {
          const node_state& us = nodes_[n.inputs[k]];
          if (!us.changed) continue;
          ns.changed = true;
          if (us.dense || us.touched.size() * sparse_limit > us.a.size()) {
            n.affine->add_linear(k, us.delta.data(), 1, ns.delta.data());
            ns.dense = true;
          } else if (!n.affine->add_sparse(k, us.touched.data(), us.touched.size(), us.delta.data(), ns.delta.data(),
                                           ns.touched, ns.flags.data())) {
            ns.dense = true;
          }
        }
        if (!ns.changed) continue;
        if (ns.dense && relu_consumer_[i]) {
          ns.deferred = true;
        } else if (ns.dense) {
          for (std::size_t o = 0; o < w; ++o) {
            ns.a[o] -= t_e * ns.delta[o];
            ns.s[o] += ns.delta[o];
          }
        } else {
          for (const std::uint32_t o : ns.touched) {
            ns.a[o] -= t_e * ns.delta[o];
            ns.s[o] += ns.delta[o];
          }
        }
        continue;
      }
      node_state& in = nodes_[n.inputs[0]];
      if (relu_like(n.rule.kind) && ((in.changed && in.dense) || te1 >= ns.horizon)) {
        // At its horizon the input may be unchanged: a switch's delta may still hold an earlier dense change.
        if (!in.changed && in.stale_delta) {
          std::fill(in.delta.begin(), in.delta.end(), 0.0);
          in.stale_delta = false;
        }
        settle_all_relu(i, t_e, te1, flips, corners);
        continue;
      }
      if (in.changed && in.dense) {
        double* leaves = ns.next.leaves();
        for (std::size_t j = 0; j < w; ++j) {
          settle(i, j, te1, flips, corners);
          leaves[j] = crossing(i, j, te1);
        }
        ns.next.rebuild();
      } else {
        queue_.clear();
        auto enqueue = [&](std::size_t j) {
          if (ns.queued[j] != 0) return;
          ns.queued[j] = 1;
          queue_.push_back(static_cast<std::uint32_t>(j));
        };
        if (in.changed) {
          if (n.rule.kind == genscope::switch_kind::max_pool) {
            for (const std::uint32_t q : in.touched)
              for (std::uint32_t k = ns.reader_start[q]; k < ns.reader_start[q + 1]; ++k) enqueue(ns.readers[k]);
          } else {
            for (const std::uint32_t q : in.touched) enqueue(q);
          }
        }
        ns.next.for_each_by(te1, enqueue);
        for (const std::uint32_t j : queue_) {
          ns.queued[j] = 0;
          settle(i, j, te1, flips, corners);
          ns.next.set(j, crossing(i, j, te1));
        }
      }
      // Many changed units: the consumers take the change as a whole vector.
      if (ns.changed && ns.touched.size() * sparse_limit > w) ns.dense = true;
    }
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      node_state& ns = nodes_[i];
      if (!ns.changed) continue;
      // Dense changes: a deferred one is cleared already, a switch's is cleared when a sparse one comes next.
      if (ns.dense && g_.at(i).is_switch()) ns.stale_delta = true;
      else if (ns.dense && !ns.deferred) std::fill(ns.delta.begin(), ns.delta.end(), 0.0);
      for (const std::uint32_t o : ns.touched) {
        ns.delta[o] = 0;
        ns.flags[o] = 0;
      }
      ns.touched.clear();
      ns.changed = ns.dense = ns.deferred = false;
    }
    if (full) {
      recompute_forms();
      init_crossings(te1);
    }
    corner = corners > 1;
    return flips;
  }

  enum class outcome { holds, changed, nonfinite };

  // Whether a class overtakes c0 in the region [t_cur, t_end] (logits affine there), and where. A root at
  // t_end is left to the next region, whose slopes decide it; at_limit: t_end is T.
  outcome first_change(std::size_t c0, double t_cur, double t_end, bool at_limit, double& t_star,
                       std::int32_t& cls) const {
    const double* a = nodes_.back().a.data();
    const double* s = nodes_.back().s.data();
    const double ac = a[c0];
    const double sc = s[c0];
    double best = inf;
    for (std::size_t k = 0; k < classes_; ++k) {
      if (k == c0) continue;
      const double ds = s[k] - sc;
      const double g = (a[k] - ac) + t_cur * ds;  // f_k - f_c0 at t_cur
      if (!std::isfinite(g) || !std::isfinite(ds)) return outcome::nonfinite;
      const double tol = rel_tol * (std::fabs(a[k]) + std::fabs(ac) + t_cur * (std::fabs(s[k]) + std::fabs(sc)));
      const bool lower = k < c0;  // a lower class wins ties
      double t_k = inf;
      if (t_cur > 0) {
        if (g > tol || (g >= -tol && (lower || ds > 0))) t_k = t_cur;
      } else if (!lower && g >= -tol && ds > 0) {
        t_k = 0;  // tied at t = 0: c0 holds at 0 itself, k leads right after
      }
      if (t_k == inf && ds > 0) {
        const double root = std::max(t_cur, t_cur - g / ds);
        if (root < t_end || (at_limit && lower && root <= t_end)) t_k = root;
      }
      best = std::min(best, t_k);
    }
    if (best == inf) return outcome::holds;
    t_star = best;
    cls = right_limit_class(best);
    return outcome::changed;
  }

  // The class just past t: the largest logit, among (near-)tied logits the largest slope, then the lowest index.
  std::int32_t right_limit_class(double t) const {
    const double* a = nodes_.back().a.data();
    const double* s = nodes_.back().s.data();
    double top = -inf;
    double scale = 0;
    for (std::size_t k = 0; k < classes_; ++k) {
      top = std::max(top, a[k] + t * s[k]);
      scale = std::max(scale, std::fabs(a[k]) + t * std::fabs(s[k]));
    }
    const double tol = rel_tol * scale;
    std::size_t best = classes_;
    for (std::size_t k = 0; k < classes_; ++k)
      if (a[k] + t * s[k] >= top - tol && (best == classes_ || s[k] > s[best])) best = k;
    return static_cast<std::int32_t>(best);
  }

  // One side: from the loaded state (pieces and forms at t = 0+ along the walking direction) up to the first
  // class change, T or max_regions. Breakpoints (|t|, ascending) go to `breakpoints` if recording.
  side_result walk(std::int32_t c0, std::vector<double>& breakpoints) {
    side_result res;
    init_crossings(0.0);
    const auto c = static_cast<std::size_t>(c0);
    double t_cur = 0;
    bool breakpoint_at_t_cur = false;
    std::int64_t last_flips = 0;
    std::int64_t since_recompute = 1;
    for (;;) {
      double t_end = cfg_.t_max;
      bool at_limit = true;
      for (const std::size_t i : switches_) {
        const double t = next_event(nodes_[i]);
        if (t < t_end) {
          t_end = t;
          at_limit = false;
        }
      }

      double t_star = 0;
      std::int32_t cls = -1;
      const outcome o = first_change(c, t_cur, t_end, at_limit, t_star, cls);
      if (o == outcome::nonfinite) {
        res.t = t_cur;
        res.cls = -1;
        res.status |= genscope::status_nonfinite;
        return res;
      }
      if (o == outcome::changed) {
        if (breakpoint_at_t_cur && t_star <= t_cur) {
          // The class changes at the breakpoint itself: it ends the interval and is not counted.
          --res.regions;
          res.flips -= last_flips;
          if (cfg_.record) breakpoints.pop_back();
        }
        res.t = t_star;
        res.cls = cls;
        return res;
      }
      if (at_limit) {
        res.t = cfg_.t_max;
        res.cls = -1;
        res.status |= genscope::status_clipped_hi;
        return res;
      }

      const bool full = since_recompute >= cfg_.recompute_every;
      bool corner = false;
      const std::size_t flips = cross(t_end, full, corner);
      if (full) {
        ++res.cost;
        since_recompute = 1;
      }
      t_cur = t_end;
      breakpoint_at_t_cur = flips > 0;
      if (flips == 0) continue;  // nothing switched (a crossing rounding moved): the same region goes on
      if (res.regions >= cfg_.max_regions) {
        res.t = t_end;
        res.cls = -1;
        res.status |= genscope::status_max_regions;
        return res;
      }
      ++res.regions;
      last_flips = static_cast<std::int64_t>(flips);
      res.flips += last_flips;
      if (corner) res.status |= genscope::status_degenerate;
      if (!full) ++since_recompute;
      if (cfg_.record) breakpoints.push_back(t_end);
    }
  }

  const genscope::piecewise_linear_graph& g_;
  const walk_config& cfg_;
  std::size_t dim_ = 0, classes_ = 0;
  std::vector<std::size_t> switches_;  // the switch nodes, ascending
  // Per node: an affine node whose only consumer is a ReLU or LeakyReLU, which applies its dense changes.
  std::vector<std::uint8_t> relu_consumer_;

  // t = 0 forms of one block (rows 2r, 2r + 1: values and slopes of probe r) and their switch states.
  std::vector<double> block_input_;
  std::vector<std::vector<double>> block_forms_;
  genscope::switch_states block_states_;
  // One line's forms, for the negative side of a probe starting on a breakpoint and for recomputations.
  std::vector<double> line_;
  std::vector<std::vector<double>> line_forms_;
  genscope::switch_states line_states_;

  std::vector<node_state> nodes_;
  std::vector<std::uint32_t> queue_;
  std::vector<std::uint32_t> due_;  // settle_relu_units' units with a crossing before the horizon
  std::vector<double> bp_hi_, bp_lo_;
};

class exact_estimator final : public genscope::interval_estimator {
 public:
  explicit exact_estimator(const walk_config& cfg) : cfg_(cfg) {}

  std::vector<genscope::column_spec> extra_columns() const override {
    if (!cfg_.record) return {};
    return breakpoint_table().columns;
  }

  void estimate(const genscope::network_backend& net, const genscope::probe_batch& probes,
                genscope::interval_batch& out) const override {
    const genscope::piecewise_linear_graph* view = net.piecewise_linear();
    if (view == nullptr)
      throw std::invalid_argument(
          "exact: the backend offers no piecewise-linear view (the estimator needs capability_piecewise_linear)");
    const std::size_t count = probes.size();
    const std::size_t dim = net.input_dim();
    if (count > 0 && (probes.x.cols != dim || probes.d.cols != dim || probes.x.rows != count ||
                      probes.d.rows != count))
      throw std::invalid_argument("exact: probes are " + std::to_string(probes.x.cols) +
                                  " wide, the backend takes inputs of " + std::to_string(dim));
    out.resize(count);
    if (cfg_.record) out.extra.reset(breakpoint_table(), count);
    if (count == 0) return;
    if (view->input_dim() != dim || view->output_dim() != net.class_count())
      throw std::invalid_argument("exact: the backend's piecewise-linear graph takes " +
                                  std::to_string(view->input_dim()) + " inputs and gives " +
                                  std::to_string(view->output_dim()) + " outputs, the model " + std::to_string(dim) +
                                  " and " + std::to_string(net.class_count()));
    walker w(*view, cfg_);
    for (std::size_t first = 0; first < count; first += block_rows)
      w.solve_block(probes, first, std::min(block_rows, count - first), out);
  }

 private:
  walk_config cfg_;
};

genscope::plugin_object* create(const genscope::option_set& o) {
  walk_config cfg;
  cfg.t_max = o.get_real("T");
  cfg.max_regions = o.get_int("max_regions");
  cfg.record = o.get_bool("record_breakpoints");
  cfg.recompute_every = o.get_int("recompute_every");
  if (!(cfg.t_max > 0) || !std::isfinite(cfg.t_max))
    throw std::invalid_argument("option 'T' must be a positive number, got " + number(cfg.t_max));
  if (cfg.max_regions < 1)
    throw std::invalid_argument("option 'max_regions' must be at least 1, got " + std::to_string(cfg.max_regions));
  if (cfg.recompute_every < 1)
    throw std::invalid_argument("option 'recompute_every' must be at least 1, got " +
                                std::to_string(cfg.recompute_every));
  return new exact_estimator(cfg);
}

}  // namespace

GENSCOPE_PLUGIN_WITH_CAPABILITIES(genscope::plugin_kind::estimator, "exact", "2.0.0",
                                  "certified generalization interval by walking x + t*d region by region through "
                                  "the piecewise-linear network (convolutions, pooling, residual sums, ReLU, LeakyReLU, "
                                  "clip, max pooling); counts regions and switch flips",
                                  options, &create, genscope::capability_piecewise_linear)
