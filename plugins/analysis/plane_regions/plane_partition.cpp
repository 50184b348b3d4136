// Cutting a box of a plane into a piecewise-linear network's linear regions and decision regions (plane_partition.hpp).
#include "plane_partition.hpp"

#include <boost/pending/disjoint_sets.hpp>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace genscope::planes {

double area(const polygon& p) {
  double twice = 0;
  for (std::size_t i = 0, n = p.size(); i < n; ++i) {
    const point& a = p[i];
    const point& b = p[(i + 1) % n];
    twice += a.s * b.t - b.s * a.t;
  }
  return twice / 2;
}

snapping::snapping(const plane& p, double relative)
    : s_(std::max(std::abs(p.s_lo), std::abs(p.s_hi))), t_(std::max(std::abs(p.t_lo), std::abs(p.t_hi))),
      relative_(relative) {}

double snapping::tolerance(const plane_form& f) const {
  return relative_ * (std::abs(f.a) + std::abs(f.b) * s_ + std::abs(f.g) * t_);
}

namespace {

// f at p, 0 when within the tolerance.
double snapped(const plane_form& f, const point& p, double tol) {
  const double v = f.at(p);
  return std::abs(v) <= tol ? 0.0 : v;
}

plane_form minus(const plane_form& x, const plane_form& y) { return {x.a - y.a, x.b - y.b, x.g - y.g}; }

// -1: f <= 0 on the polygon (a tie everywhere included), +1: f >= 0 with some f > 0, 0: f crosses zero inside.
int side(const polygon& p, const plane_form& f, const snapping& snap) {
  const double tol = snap.tolerance(f);
  bool positive = false, negative = false;
  for (const point& q : p) {
    const double v = snapped(f, q, tol);
    positive |= v > 0;
    negative |= v < 0;
  }
  if (!positive) return -1;
  return negative ? 0 : 1;
}

}  // namespace

void split(const polygon& p, const plane_form& f, const snapping& snap, polygon* nonpositive, polygon* positive) {
  const int where = side(p, f, snap);
  if (where != 0) {
    polygon* whole = where < 0 ? nonpositive : positive;
    polygon* none = where < 0 ? positive : nonpositive;
    if (whole != nullptr) *whole = p;
    if (none != nullptr) none->clear();
    return;
  }
  const double tol = snap.tolerance(f);
  if (nonpositive != nullptr) nonpositive->clear();
  if (positive != nullptr) positive->clear();
  const std::size_t n = p.size();
  for (std::size_t i = 0; i < n; ++i) {
    const point& a = p[i];
    const point& b = p[(i + 1) % n];
    const double va = snapped(f, a, tol), vb = snapped(f, b, tol);
    if (va <= 0 && nonpositive != nullptr) nonpositive->push_back(a);
    if (va >= 0 && positive != nullptr) positive->push_back(a);
    if ((va < 0 && vb > 0) || (va > 0 && vb < 0)) {
      // The same expression for both parts, so that they share the point exactly.
      const double r = va / (va - vb);
      const point x{a.s + (b.s - a.s) * r, a.t + (b.t - a.t) * r};
      if (nonpositive != nullptr) nonpositive->push_back(x);
      if (positive != nullptr) positive->push_back(x);
    }
  }
}

namespace {

using node_forms = std::vector<std::vector<double>>;  // per node: rows a, b, g of its width

// Pieces of the first switch node cut in parallel (about 32 per thread of a 2-core machine, for balance).
constexpr std::size_t parallel_pieces = 64;

// Does candidate `a` keep the largest value at p against `b` (the lower index wins a tie)?
bool keeps_top(const plane_form& fa, const plane_form& fb, std::size_t a, std::size_t b, const point& p,
               const snapping& snap) {
  const plane_form d = minus(fa, fb);
  const double v = snapped(d, p, snap.tolerance(d));
  return a < b ? v >= 0 : v > 0;
}

// The cells of polygon p where form(k), k < count, is the largest (ties to the lowest k), with their k. A fast
// path answers the common case of one candidate winning at every vertex (its cell is convex, so it holds p).
template <class Form>
void argmax_cells(const polygon& p, std::size_t count, const Form& form, const snapping& snap,
                  std::vector<std::pair<polygon, std::uint32_t>>& out) {
  if (count == 1) {
    out.emplace_back(p, 0);
    return;
  }
  std::size_t top = 0;
  for (std::size_t k = 1; k < count; ++k)
    if (!keeps_top(form(top), form(k), top, k, p.front(), snap)) top = k;
  bool everywhere = true;
  for (std::size_t k = 0; k < count && everywhere; ++k)
    if (k != top)
      for (const point& q : p)
        if (!keeps_top(form(top), form(k), top, k, q, snap)) {
          everywhere = false;
          break;
        }
  if (everywhere) {
    out.emplace_back(p, static_cast<std::uint32_t>(top));
    return;
  }
  polygon cell, part;
  for (std::size_t a = 0; a < count; ++a) {
    cell = p;
    for (std::size_t b = 0; b < count && !cell.empty(); ++b) {
      if (b == a) continue;
      // a before b wins ties: keep form(b) - form(a) <= 0; a after b must beat it: keep form(a) - form(b) > 0.
      if (a < b) split(cell, minus(form(b), form(a)), snap, &part, nullptr);
      else split(cell, minus(form(a), form(b)), snap, nullptr, &part);
      cell.swap(part);
    }
    if (!cell.empty()) out.emplace_back(cell, static_cast<std::uint32_t>(a));
  }
}

// The form of input unit q of switch node s.
plane_form unit_input(const piecewise_linear_graph& g, const node_forms& forms, std::size_t s, std::size_t q) {
  const std::size_t in = g.at(s).inputs[0];
  const std::size_t w = g.at(in).width;
  const std::vector<double>& f = forms[in];
  return {f[q], f[w + q], f[2 * w + q]};
}

// The pieces of polygon p for unit j of switch node s, with their states.
void unit_cells(const piecewise_linear_graph& g, const node_forms& forms, std::size_t s, std::size_t j,
                const polygon& p, const snapping& snap, std::vector<std::pair<polygon, std::uint32_t>>& out) {
  const switch_layer& rule = g.at(s).rule;
  polygon low, high;
  switch (rule.kind) {
    case switch_kind::relu:
    case switch_kind::leaky_relu: {
      split(p, unit_input(g, forms, s, j), snap, &low, &high);
      if (!low.empty()) out.emplace_back(std::move(low), 0);
      if (!high.empty()) out.emplace_back(std::move(high), 1);
      return;
    }
    case switch_kind::clip: {
      const plane_form z = unit_input(g, forms, s, j);
      polygon above = p;
      if (std::isfinite(rule.low)) split(p, {z.a - rule.low, z.b, z.g}, snap, &low, &above);
      if (!low.empty()) out.emplace_back(std::move(low), 0);
      if (above.empty()) return;
      polygon middle = std::move(above);
      if (std::isfinite(rule.high)) {
        polygon rest;
        split(middle, {z.a - rule.high, z.b, z.g}, snap, &rest, &high);
        middle.swap(rest);
      }
      if (!middle.empty()) out.emplace_back(std::move(middle), 1);
      if (!high.empty()) out.emplace_back(std::move(high), 2);
      return;
    }
    case switch_kind::max_pool: {
      const std::uint32_t first = rule.window_start[j];
      argmax_cells(
          p, rule.window_start[j + 1] - first,
          [&](std::size_t k) { return unit_input(g, forms, s, rule.window_index[first + k]); }, snap, out);
      return;
    }
  }
}

// The state unit j of switch node s keeps on the whole polygon p, or none when p crosses one of its thresholds.
std::optional<std::uint32_t> unit_state(const piecewise_linear_graph& g, const node_forms& forms, std::size_t s,
                                        std::size_t j, const polygon& p, const snapping& snap) {
  const switch_layer& rule = g.at(s).rule;
  switch (rule.kind) {
    case switch_kind::relu:
    case switch_kind::leaky_relu: {
      const int where = side(p, unit_input(g, forms, s, j), snap);
      if (where == 0) return std::nullopt;
      return where > 0 ? 1u : 0u;
    }
    case switch_kind::clip: {
      const plane_form z = unit_input(g, forms, s, j);
      const int low = std::isfinite(rule.low) ? side(p, {z.a - rule.low, z.b, z.g}, snap) : 1;
      if (low < 0) return 0u;
      if (low == 0) return std::nullopt;
      const int high = std::isfinite(rule.high) ? side(p, {z.a - rule.high, z.b, z.g}, snap) : -1;
      if (high == 0) return std::nullopt;
      return high > 0 ? 2u : 1u;
    }
    case switch_kind::max_pool: {
      const std::uint32_t first = rule.window_start[j];
      const std::size_t count = rule.window_start[j + 1] - first;
      auto form = [&](std::size_t k) { return unit_input(g, forms, s, rule.window_index[first + k]); };
      std::size_t top = 0;
      for (std::size_t k = 1; k < count; ++k)
        if (!keeps_top(form(top), form(k), top, k, p.front(), snap)) top = k;
      for (std::size_t k = 0; k < count; ++k)
        if (k != top)
          for (const point& q : p)
            if (!keeps_top(form(top), form(k), top, k, q, snap)) return std::nullopt;
      return static_cast<std::uint32_t>(top);
    }
  }
  return std::nullopt;
}

// One thread's forms and states along the depth-first cutting.
struct scratch {
  node_forms forms;
  std::vector<std::vector<std::uint32_t>> states;  // per switch node: its units' states
};

// What one top-level piece contributes. Pieces are cut in parallel; once the pieces before this one (in their fixed
// order) hold max_regions regions, its regions would be cut off anyway, so it stops (`stop_after`).
struct partial {
  std::vector<linear_region> regions;
  bool capped = false;  // its own regions reached max_regions
  std::size_t index = 0;
  const std::atomic<std::size_t>* stop_after = nullptr;
  bool stopped() const { return capped || (stop_after != nullptr && index > stop_after->load(std::memory_order_relaxed)); }
};

// A polygon waiting to be cut by units crossing[next...] of a switch node; `state` is that of crossing[next - 1],
// which made it.
struct pending {
  polygon shape;
  std::size_t next = 0;
  std::uint32_t state = 0;
};

class cutter {
 public:
  cutter(const piecewise_linear_graph& g, const snapping& snap, const partition_options& o)
      : g_(g), snap_(snap), o_(o) {}

  // Computes the affine nodes from node `from` on; returns the first switch node reached, or g.size().
  std::size_t advance(std::size_t from, node_forms& forms) const {
    for (std::size_t i = from; i < g_.size(); ++i) {
      const auto& n = g_.at(i);
      if (n.is_switch()) return i;
      std::vector<double>& y = forms[i];
      y.assign(3 * n.width, 0.0);
      n.affine->add_bias(1, y.data());
      for (std::size_t k = 0; k < n.inputs.size(); ++k) n.affine->add_linear(k, forms[n.inputs[k]].data(), 3, y.data());
    }
    return g_.size();
  }

  // Switch node s's outputs from its input and states.
  void apply_switch(std::size_t s, scratch& w) const {
    const auto& n = g_.at(s);
    const std::size_t win = g_.at(n.inputs[0]).width, wout = n.width;
    const std::vector<double>& in = w.forms[n.inputs[0]];
    std::vector<double>& out = w.forms[s];
    out.assign(3 * wout, 0.0);
    for (std::size_t j = 0; j < wout; ++j) {
      std::size_t source = 0;
      double gain = 0, constant = 0;
      switch_piece(n.rule, j, w.states[s][j], source, gain, constant);
      out[j] = constant + gain * in[source];
      out[wout + j] = gain * in[win + source];
      out[2 * wout + j] = gain * in[2 * win + source];
    }
  }

  // Sets the state of every unit of switch node s that keeps one piece on p (its input forms ready in w) and lists
  // the others, which cross p, in `crossing`.
  void classify(std::size_t s, const polygon& p, scratch& w, std::vector<std::size_t>& crossing) const {
    const std::size_t width = g_.at(s).width;
    w.states[s].assign(width, 0);
    crossing.clear();
    for (std::size_t j = 0; j < width; ++j) {
      const std::optional<std::uint32_t> state = unit_state(g_, w.forms, s, j, p, snap_);
      if (state) w.states[s][j] = *state;
      else crossing.push_back(j);
    }
  }

  // The cells of p for unit j of switch node s.
  void cells_of(std::size_t s, std::size_t j, const polygon& p, const scratch& w,
                std::vector<std::pair<polygon, std::uint32_t>>& cells) const {
    cells.clear();
    unit_cells(g_, w.forms, s, j, p, snap_, cells);
  }

  // Cuts p by units crossing[from...] of switch node s, depth first (the states of the other units of s set in w),
  // then each piece through the nodes after s, appending its regions. Memory: one polygon per pending sibling.
  void cut(std::size_t s, const polygon& p, const std::vector<std::size_t>& crossing, std::size_t from, scratch& w,
           partial& out) const {
    std::vector<pending> stack{{p, from, 0}};
    std::vector<std::pair<polygon, std::uint32_t>> cells;
    while (!stack.empty() && !out.stopped()) {
      pending item = std::move(stack.back());
      stack.pop_back();
      // The units before item.next keep the states of item's ancestors: a sibling's subtree sets only later ones.
      if (item.next > from) w.states[s][crossing[item.next - 1]] = item.state;
      std::size_t k = item.next;
      for (; k < crossing.size(); ++k) {
        const std::size_t j = crossing[k];
        const std::optional<std::uint32_t> state = unit_state(g_, w.forms, s, j, item.shape, snap_);
        if (state) {
          w.states[s][j] = *state;
          continue;
        }
        cells_of(s, j, item.shape, w, cells);
        for (std::size_t c = cells.size(); c-- > 0;) stack.push_back({std::move(cells[c].first), k + 1, cells[c].second});
        break;
      }
      if (k < crossing.size()) continue;
      apply_switch(s, w);
      descend(item.shape, advance(s + 1, w.forms), w, out);
    }
  }

  // Cuts polygon p from switch node s (its input forms ready) to the end, appending its regions.
  void descend(const polygon& p, std::size_t s, scratch& w, partial& out) const {
    if (s == g_.size()) {
      emit(p, w, out);
      return;
    }
    std::vector<std::size_t> crossing;
    classify(s, p, w, crossing);
    cut(s, p, crossing, 0, w, out);
  }

  void emit(const polygon& p, const scratch& w, partial& out) const {
    if (out.stopped()) return;
    if (out.regions.size() >= o_.max_regions) {
      out.capped = true;
      return;
    }
    linear_region r;
    r.shape = p;
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a over the states' bytes
    for (std::size_t i = 1; i < g_.size(); ++i) {
      if (!g_.at(i).is_switch()) continue;
      for (const std::uint32_t v : w.states[i]) {
        for (int b = 0; b < 4; ++b) {
          h ^= (v >> (8 * b)) & 0xffu;
          h *= 1099511628211ull;
        }
      }
      if (o_.keep_patterns) r.pattern.insert(r.pattern.end(), w.states[i].begin(), w.states[i].end());
    }
    r.digest = h;
    r.logits = w.forms.back();
    out.regions.push_back(std::move(r));
  }

 private:
  const piecewise_linear_graph& g_;
  const snapping& snap_;
  const partition_options& o_;
};

// Whether edge (r, q) of one polygon and edge (u, v) of another lie on one line and overlap over a length > eps.
bool share_edge(const point& r, const point& q, const point& u, const point& v, double eps) {
  const double ds = q.s - r.s, dt = q.t - r.t;
  const double length = std::hypot(ds, dt);
  if (!(length > eps)) return false;
  const double ns = ds / length, nt = dt / length;
  auto offset = [&](const point& x) { return std::abs((x.s - r.s) * nt - (x.t - r.t) * ns); };
  if (offset(u) > eps || offset(v) > eps) return false;
  const double pu = (u.s - r.s) * ns + (u.t - r.t) * nt, pv = (v.s - r.s) * ns + (v.t - r.t) * nt;
  const double overlap = std::min(length, std::max(pu, pv)) - std::max(0.0, std::min(pu, pv));
  return overlap > eps;
}

// Joins same-class pieces that share an edge; numbers the components in order of their first piece.
std::size_t join_decision_regions(const plane& box, std::vector<decision_piece>& pieces) {
  const std::size_t n = pieces.size();
  if (n == 0) return 0;
  const double width = box.s_hi - box.s_lo, height = box.t_hi - box.t_lo;
  const double eps = 1e-9 * std::hypot(width, height);
  // A uniform grid of about one piece per cell finds the neighbours of an edge among the pieces near it.
  const std::size_t cells = std::max<std::size_t>(1, static_cast<std::size_t>(std::sqrt(static_cast<double>(n))));
  auto cell_s = [&](double s) {
    const double c = std::floor((s - box.s_lo) / width * static_cast<double>(cells));
    return static_cast<std::size_t>(std::clamp(c, 0.0, static_cast<double>(cells - 1)));
  };
  auto cell_t = [&](double t) {
    const double c = std::floor((t - box.t_lo) / height * static_cast<double>(cells));
    return static_cast<std::size_t>(std::clamp(c, 0.0, static_cast<double>(cells - 1)));
  };
  struct bounds {
    double s0, s1, t0, t1;
  };
  auto bounds_of = [](const polygon& p) {
    bounds b{p[0].s, p[0].s, p[0].t, p[0].t};
    for (const point& q : p) {
      b.s0 = std::min(b.s0, q.s);
      b.s1 = std::max(b.s1, q.s);
      b.t0 = std::min(b.t0, q.t);
      b.t1 = std::max(b.t1, q.t);
    }
    return b;
  };
  std::vector<std::vector<std::size_t>> grid(cells * cells);
  for (std::size_t i = 0; i < n; ++i) {
    const bounds b = bounds_of(pieces[i].shape);
    for (std::size_t a = cell_s(b.s0 - eps); a <= cell_s(b.s1 + eps); ++a)
      for (std::size_t c = cell_t(b.t0 - eps); c <= cell_t(b.t1 + eps); ++c) grid[a * cells + c].push_back(i);
  }
  // Boost's union-find (of the Boost Graph package we already depend on): ranks and parents in two vectors.
  std::vector<std::size_t> rank(n), parent(n);
  boost::disjoint_sets<std::size_t*, std::size_t*> joined(rank.data(), parent.data());
  for (std::size_t i = 0; i < n; ++i) joined.make_set(i);
  for (std::size_t i = 0; i < n; ++i) {
    const polygon& p = pieces[i].shape;
    for (std::size_t e = 0; e < p.size(); ++e) {
      const point& r = p[e];
      const point& q = p[(e + 1) % p.size()];
      for (std::size_t a = cell_s(std::min(r.s, q.s) - eps); a <= cell_s(std::max(r.s, q.s) + eps); ++a)
        for (std::size_t c = cell_t(std::min(r.t, q.t) - eps); c <= cell_t(std::max(r.t, q.t) + eps); ++c)
          for (const std::size_t k : grid[a * cells + c]) {
            if (k <= i || pieces[k].label != pieces[i].label || joined.find_set(k) == joined.find_set(i)) continue;
            const polygon& o = pieces[k].shape;
            for (std::size_t f = 0; f < o.size(); ++f)
              if (share_edge(r, q, o[f], o[(f + 1) % o.size()], eps)) {
                joined.union_set(i, k);
                break;
              }
          }
    }
  }
  std::vector<std::size_t> number(n, n);
  std::size_t count = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t root = joined.find_set(i);
    if (number[root] == n) number[root] = count++;
    pieces[i].component = number[root];
  }
  return count;
}

}  // namespace

partition partition_plane(const piecewise_linear_graph& g, const plane& p, const partition_options& options) {
  const std::size_t dim = g.input_dim();
  if (p.origin.size() != dim || p.axis_s.size() != dim || p.axis_t.size() != dim)
    throw std::invalid_argument("plane_regions: the plane's vectors have " + std::to_string(p.origin.size()) +
                                " values, the network takes " + std::to_string(dim));
  if (!(p.s_lo < p.s_hi) || !(p.t_lo < p.t_hi))
    throw std::invalid_argument("plane_regions: the box to partition is empty or not finite");
  const snapping snap(p, options.relative_tolerance);
  const cutter knife(g, snap, options);
  scratch top;
  top.forms.resize(g.size());
  top.states.resize(g.size());
  top.forms[0] = p.origin;
  top.forms[0].insert(top.forms[0].end(), p.axis_s.begin(), p.axis_s.end());
  top.forms[0].insert(top.forms[0].end(), p.axis_t.begin(), p.axis_t.end());
  const polygon box{{p.s_lo, p.t_lo}, {p.s_hi, p.t_lo}, {p.s_hi, p.t_hi}, {p.s_lo, p.t_hi}};

  // The first switch node's cuts, unit after unit, until there are pieces enough for the threads; each piece is
  // then cut to the end on its own, in parallel, from a copy of the forms so far. The regions are those pieces'
  // regions in the pieces' order, whatever the thread count.
  const std::size_t first = knife.advance(1, top.forms);
  std::vector<partial> parts;
  if (first == g.size()) {
    parts.resize(1);
    knife.emit(box, top, parts[0]);
  } else {
    std::vector<std::size_t> crossing;
    knife.classify(first, box, top, crossing);
    struct seed_piece {
      polygon shape;
      std::vector<std::uint32_t> states;  // of crossing[0 .. next)
    };
    std::vector<seed_piece> pieces{{box, {}}}, more;
    std::vector<std::pair<polygon, std::uint32_t>> cells;
    std::size_t next = 0;
    for (; next < crossing.size() && pieces.size() < parallel_pieces; ++next) {
      more.clear();
      for (seed_piece& piece : pieces) {
        knife.cells_of(first, crossing[next], piece.shape, top, cells);
        for (auto& [cell, state] : cells) {
          seed_piece child{std::move(cell), piece.states};
          child.states.push_back(state);
          more.push_back(std::move(child));
        }
      }
      pieces.swap(more);
    }
    parts.resize(pieces.size());
    // Stopping: once pieces 0..k are all done and hold max_regions regions, later pieces stop.
    std::atomic<std::size_t> stop_after{std::numeric_limits<std::size_t>::max()};
    std::mutex progress;
    std::vector<std::uint8_t> done(pieces.size(), 0);
    std::size_t done_prefix = 0, prefix_regions = 0;
    tbb::enumerable_thread_specific<scratch> local(top);
    tbb::parallel_for(std::size_t{0}, pieces.size(), [&](std::size_t k) {
      scratch& w = local.local();
      w.states[first] = top.states[first];
      for (std::size_t i = 0; i < next; ++i) w.states[first][crossing[i]] = pieces[k].states[i];
      parts[k].index = k;
      parts[k].stop_after = &stop_after;
      knife.cut(first, pieces[k].shape, crossing, next, w, parts[k]);
      const std::lock_guard<std::mutex> lock(progress);
      done[k] = 1;
      for (; done_prefix < pieces.size() && done[done_prefix]; ++done_prefix) {
        prefix_regions += parts[done_prefix].regions.size();
        if (prefix_regions >= options.max_regions && stop_after.load() == std::numeric_limits<std::size_t>::max())
          stop_after.store(done_prefix);
      }
    });
  }

  partition out;
  for (std::size_t k = 0; k < parts.size(); ++k) {
    partial& part = parts[k];
    out.capped |= part.capped;
    for (linear_region& r : part.regions) {
      if (out.regions.size() == options.max_regions) {
        out.capped = true;
        break;
      }
      out.regions.push_back(std::move(r));
    }
    // Every piece holds a region, so pieces left after max_regions is reached mean regions left out.
    if (out.regions.size() == options.max_regions && k + 1 < parts.size()) {
      out.capped = true;
      break;
    }
  }

  // Decision pieces: each region cut by the argmax of its logits.
  const std::size_t classes = g.output_dim();
  std::vector<std::vector<std::pair<polygon, std::uint32_t>>> cells(out.regions.size());
  tbb::parallel_for(std::size_t{0}, out.regions.size(), [&](std::size_t r) {
    const std::vector<double>& f = out.regions[r].logits;
    argmax_cells(
        out.regions[r].shape, classes, [&](std::size_t k) { return plane_form{f[k], f[classes + k], f[2 * classes + k]}; },
        snap, cells[r]);
  });
  for (std::size_t r = 0; r < cells.size(); ++r)
    for (auto& [shape, label] : cells[r]) out.pieces.push_back({std::move(shape), r, label, 0});
  out.decision_regions = join_decision_regions(p, out.pieces);
  return out;
}

}  // namespace genscope::planes
