// Independent oracles shared by tests: plain double-precision loops, no Eigen, no GenScope engine code.
#pragma once

#include <genscope/mlp.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace genscope::testing {

// Logits of one input row, and a bound on the magnitude of every term summed (for rounding tolerances).
inline std::vector<double> naive_logits(const std::vector<dense_layer>& layers, const float* x, std::size_t n,
                                 std::vector<double>* bound = nullptr) {
  std::vector<double> a(x, x + n), abs_a(n);
  for (std::size_t j = 0; j < n; ++j) abs_a[j] = std::fabs(a[j]);
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const dense_layer& layer = layers[l];
    std::vector<double> z(layer.weight.rows), abs_z(layer.weight.rows);
    for (std::size_t i = 0; i < layer.weight.rows; ++i) {
      double s = layer.bias[i], s_abs = std::fabs(layer.bias[i]);
      for (std::size_t j = 0; j < layer.weight.cols; ++j) {
        s += static_cast<double>(layer.weight(i, j)) * a[j];
        s_abs += std::fabs(static_cast<double>(layer.weight(i, j))) * abs_a[j];
      }
      const bool hidden = l + 1 < layers.size();
      z[i] = hidden ? std::max(0.0, s) : s;
      abs_z[i] = s_abs;
    }
    a = std::move(z);
    abs_a = std::move(abs_z);
  }
  if (bound != nullptr) *bound = abs_a;
  return a;
}

// ---- Piecewise-linear oracles for the exact region walk ---------------------------------------

/// One affine layer y = W x + b in double (W row-major, out x in): float weights converted once.
struct affine_layer_d {
  std::size_t in = 0, out = 0;
  std::vector<double> w, b;
};

inline std::vector<affine_layer_d> to_double(const std::vector<dense_layer>& layers) {
  std::vector<affine_layer_d> out;
  for (const dense_layer& l : layers) {
    affine_layer_d a;
    a.in = l.weight.cols;
    a.out = l.weight.rows;
    a.w.assign(l.weight.data.begin(), l.weight.data.end());
    a.b.assign(l.bias.begin(), l.bias.end());
    out.push_back(std::move(a));
  }
  return out;
}

/// y = W x + b for one input (naive loops).
inline void apply_affine(const affine_layer_d& l, const double* x, double* y) {
  for (std::size_t i = 0; i < l.out; ++i) {
    double s = l.b[i];
    const double* row = l.w.data() + i * l.in;
    for (std::size_t j = 0; j < l.in; ++j) s += row[j] * x[j];
    y[i] = s;
  }
}

/// Logits of one double input; `pre` (optional) receives every hidden pre-activation, layer after layer.
inline void naive_forward(const std::vector<affine_layer_d>& layers, const double* x, std::vector<double>& logits,
                          std::vector<double>* pre = nullptr) {
  std::vector<double> a(x, x + layers.front().in), z;
  if (pre != nullptr) pre->clear();
  for (std::size_t l = 0; l < layers.size(); ++l) {
    z.resize(layers[l].out);
    apply_affine(layers[l], a.data(), z.data());
    if (l + 1 == layers.size()) break;
    if (pre != nullptr) pre->insert(pre->end(), z.begin(), z.end());
    for (double& v : z) v = std::max(0.0, v);
    a.swap(z);
  }
  logits = z;
}

/// argmax, ties towards the lower index.
inline int argmax_low(const std::vector<double>& v) {
  int best = 0;
  for (std::size_t k = 1; k < v.size(); ++k)
    if (v[k] > v[static_cast<std::size_t>(best)]) best = static_cast<int>(k);
  return best;
}

/// ExactLine-style partition of the segment x + t d, t in [-T, T], computed layer by layer
/// (Sotoudeh & Thakur 2019): each hidden layer's pre-activations are evaluated at every point
/// of the current partition, each unit's zero crossing inside a piece (where the layer is
/// affine) is inserted by linear interpolation, then ReLU. No slopes, no pattern updates:
/// independent of the region walk.
struct line_partition_result {
  std::vector<double> t;                          ///< ascending points; -T, 0 and T among them
  std::vector<std::vector<double>> logits;        ///< logits at each point
  std::vector<std::vector<double>> pre;           ///< every hidden pre-activation at each point
  std::vector<std::vector<std::uint8_t>> pattern; ///< activation pattern of piece (t[i], t[i+1])

  /// Index i of the piece [t[i], t[i+1]] holding s (the left one at a point).
  std::size_t piece_of(double s) const {
    const auto i = static_cast<std::size_t>(std::lower_bound(t.begin(), t.end(), s) - t.begin());
    return std::min(std::max<std::size_t>(i, 1), t.size() - 1) - 1;
  }
  /// Logits at s in [-T, T], interpolated inside its piece (exact for a piecewise-affine f).
  std::vector<double> logits_at(double s) const {
    const std::size_t i = piece_of(s);
    const double u = (s - t[i]) / (t[i + 1] - t[i]);
    std::vector<double> f(logits[i].size());
    for (std::size_t k = 0; k < f.size(); ++k) f[k] = logits[i][k] + u * (logits[i + 1][k] - logits[i][k]);
    return f;
  }
};

inline line_partition_result line_partition(const std::vector<affine_layer_d>& layers, const double* x,
                                            const double* d, double t_max) {
  line_partition_result r;
  const std::size_t n = layers.front().in;
  r.t = {-t_max, 0.0, t_max};
  r.pre.assign(3, {});
  std::vector<std::vector<double>> act(3, std::vector<double>(n));  // the current layer's input
  for (std::size_t p = 0; p < 3; ++p)
    for (std::size_t j = 0; j < n; ++j) act[p][j] = x[j] + r.t[p] * d[j];
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const affine_layer_d& layer = layers[l];
    std::vector<std::vector<double>> z(r.t.size(), std::vector<double>(layer.out));
    for (std::size_t p = 0; p < r.t.size(); ++p) apply_affine(layer, act[p].data(), z[p].data());
    if (l + 1 == layers.size()) {
      r.logits = std::move(z);
      break;
    }
    // Earlier pre-activations and this layer's are both affine inside a piece: new points interpolate both.
    for (std::size_t p = 0; p < r.t.size(); ++p) r.pre[p].insert(r.pre[p].end(), z[p].begin(), z[p].end());
    const std::size_t base = r.pre[0].size() - layer.out;
    std::vector<double> t_new;
    std::vector<std::vector<double>> pre_new;
    for (std::size_t p = 0; p + 1 < r.t.size(); ++p) {
      const double a = r.t[p], b = r.t[p + 1];
      std::vector<std::pair<double, std::size_t>> cross;
      for (std::size_t u = 0; u < layer.out; ++u) {
        const double za = r.pre[p][base + u], zb = r.pre[p + 1][base + u];
        if (!((za > 0 && zb < 0) || (za < 0 && zb > 0))) continue;
        const double s = a + (b - a) * (za / (za - zb));
        if (s <= a)
          r.pre[p][base + u] = 0.0;  // the crossing rounds onto a point: the unit is at zero there
        else if (s >= b)
          r.pre[p + 1][base + u] = 0.0;
        else
          cross.emplace_back(s, u);
      }
      t_new.push_back(a);
      pre_new.push_back(r.pre[p]);
      std::sort(cross.begin(), cross.end());
      for (std::size_t c = 0; c < cross.size();) {
        const double s = cross[c].first;
        const double w = (s - a) / (b - a);
        std::vector<double> v(r.pre[p].size());
        for (std::size_t u = 0; u < v.size(); ++u) v[u] = r.pre[p][u] + w * (r.pre[p + 1][u] - r.pre[p][u]);
        for (; c < cross.size() && cross[c].first == s; ++c) v[base + cross[c].second] = 0.0;  // simultaneous
        t_new.push_back(s);
        pre_new.push_back(std::move(v));
      }
    }
    t_new.push_back(r.t.back());
    pre_new.push_back(r.pre.back());
    r.t = std::move(t_new);
    r.pre = std::move(pre_new);
    act.assign(r.t.size(), std::vector<double>(layer.out));
    for (std::size_t p = 0; p < r.t.size(); ++p)
      for (std::size_t u = 0; u < layer.out; ++u) act[p][u] = std::max(0.0, r.pre[p][base + u]);
  }
  r.pattern.resize(r.t.size() - 1);
  for (std::size_t p = 0; p + 1 < r.t.size(); ++p) {
    r.pattern[p].resize(r.pre[p].size());
    // Inside a piece each unit is affine: its sign there is that of the midpoint.
    for (std::size_t u = 0; u < r.pre[p].size(); ++u) r.pattern[p][u] = r.pre[p][u] + r.pre[p + 1][u] > 0 ? 1 : 0;
  }
  return r;
}

/// What the partition says about the interval through t = 0, with the definitions of
/// docs/science.md: classes are argmax (ties to the lower index); k overtakes c0 when
/// f_k - f_c0 > 0 (k > c0) or >= 0 (k < c0); regions count activation-pattern changes in
/// the open interval between 0 and each end, plus one.
struct line_interval {
  double t_lo = 0, t_hi = 0;
  int class0 = -1, class_lo = -1, class_hi = -1;
  bool clipped_lo = false, clipped_hi = false;
  long regions_lo = 1, regions_hi = 1, flips_lo = 0, flips_hi = 0;
  std::vector<double> breakpoints_lo, breakpoints_hi;  ///< ascending |t| outward from 0 (t itself on each side)
  std::vector<long> flips_at_lo, flips_at_hi;          ///< unit sign changes at each breakpoint
  /// Events (breakpoints, the end, a second class overtaking) closer than `close` relative on a side:
  /// region counts or the next class can then depend on rounding.
  bool close_lo = false, close_hi = false;
  double margin0 = 0;  ///< f_c0 - max other logit at t = 0
};

namespace detail {

/// One side walked outward: points s (0 first, ascending), logits there, patterns of the pieces.
struct side_result {
  double s_end = 0;
  int next_class = -1;
  bool clipped = false, close = false;
  long regions = 1, flips = 0;
  std::vector<double> breakpoints;
  std::vector<long> flips_at;
};

inline side_result walk_side(const std::vector<double>& s, const std::vector<const std::vector<double>*>& f,
                             const std::vector<const std::vector<std::uint8_t>*>& pattern, int c0, double close) {
  side_result r;
  const std::size_t classes = f[0]->size();
  const auto c = static_cast<std::size_t>(c0);
  double first = -1, second = -1;
  std::size_t piece = 0;
  for (std::size_t p = 0; p + 1 < s.size() && first < 0; ++p) {
    const double a = s[p], b = s[p + 1];
    for (std::size_t k = 0; k < classes; ++k) {
      if (k == c) continue;
      const double da = (*f[p])[k] - (*f[p])[c], db = (*f[p + 1])[k] - (*f[p + 1])[c];
      const bool at_a = k < c ? da >= 0 : da > 0;
      const bool at_b = k < c ? db >= 0 : db > 0;
      double hit = -1;
      if (at_a)
        hit = a;
      else if (at_b)
        hit = (k < c && db == 0) ? b : a + (b - a) * (-da / (db - da));
      if (hit < 0) continue;
      if (first < 0 || hit < first) {
        second = first;
        first = hit;
      } else if (second < 0 || hit < second) {
        second = hit;
      }
    }
    piece = p;
  }
  const double t_max = s.back();
  r.clipped = first < 0;
  r.s_end = r.clipped ? t_max : first;
  if (!r.clipped) {
    if (second >= 0 && second - first <= close * std::max(1.0, first)) r.close = true;
    // The class just past the end: argmax a little further inside the piece that follows it.
    std::size_t q = piece;
    if (r.s_end >= s[q + 1] && q + 2 < s.size()) ++q;
    const double u = (r.s_end - s[q]) / (s[q + 1] - s[q]) + 1e-6 * (1.0 - (r.s_end - s[q]) / (s[q + 1] - s[q]));
    std::vector<double> past(classes);
    for (std::size_t k = 0; k < classes; ++k) past[k] = (*f[q])[k] + u * ((*f[q + 1])[k] - (*f[q])[k]);
    r.next_class = argmax_low(past);
  }
  // Breakpoints: points strictly between 0 and the end where the pattern changes.
  for (std::size_t p = 1; p + 1 < s.size() && s[p] < r.s_end; ++p) {
    long flips = 0;
    for (std::size_t u = 0; u < pattern[p]->size(); ++u) flips += (*pattern[p - 1])[u] != (*pattern[p])[u];
    if (flips == 0) continue;
    r.breakpoints.push_back(s[p]);
    r.flips_at.push_back(flips);
    r.flips += flips;
  }
  r.regions = 1 + static_cast<long>(r.breakpoints.size());
  const double scale = std::max(1.0, r.s_end);
  for (std::size_t i = 1; i < r.breakpoints.size(); ++i)
    if (r.breakpoints[i] - r.breakpoints[i - 1] <= close * scale) r.close = true;
  if (!r.clipped) {
    // A breakpoint just past the end would also be ambiguous.
    for (std::size_t p = 1; p + 1 < s.size(); ++p)
      if (std::fabs(s[p] - r.s_end) <= close * scale) {
        long flips = 0;
        for (std::size_t u = 0; u < pattern[p]->size(); ++u) flips += (*pattern[p - 1])[u] != (*pattern[p])[u];
        if (flips != 0) r.close = true;
      }
  }
  return r;
}

}  // namespace detail

inline line_interval interval_from_partition(const line_partition_result& part, double close = 1e-9) {
  line_interval out;
  const auto zero = static_cast<std::size_t>(std::find(part.t.begin(), part.t.end(), 0.0) - part.t.begin());
  const std::vector<double>& f0 = part.logits[zero];
  out.class0 = argmax_low(f0);
  out.margin0 = std::numeric_limits<double>::infinity();
  for (std::size_t k = 0; k < f0.size(); ++k)
    if (static_cast<int>(k) != out.class0) out.margin0 = std::min(out.margin0, f0[static_cast<std::size_t>(out.class0)] - f0[k]);
  // Each side as outward coordinates s = |t|, with its points, logits and piece patterns.
  std::vector<double> s;
  std::vector<const std::vector<double>*> f;
  std::vector<const std::vector<std::uint8_t>*> pattern;
  for (std::size_t p = zero; p < part.t.size(); ++p) {
    s.push_back(part.t[p]);
    f.push_back(&part.logits[p]);
    if (p + 1 < part.t.size()) pattern.push_back(&part.pattern[p]);
  }
  const detail::side_result hi = detail::walk_side(s, f, pattern, out.class0, close);
  s.clear();
  f.clear();
  pattern.clear();
  for (std::size_t p = zero + 1; p-- > 0;) {
    s.push_back(-part.t[p]);
    f.push_back(&part.logits[p]);
    if (p > 0) pattern.push_back(&part.pattern[p - 1]);
  }
  const detail::side_result lo = detail::walk_side(s, f, pattern, out.class0, close);
  out.t_hi = hi.s_end;
  out.t_lo = -lo.s_end;
  out.class_hi = hi.next_class;
  out.class_lo = lo.next_class;
  out.clipped_hi = hi.clipped;
  out.clipped_lo = lo.clipped;
  out.regions_hi = hi.regions;
  out.regions_lo = lo.regions;
  out.flips_hi = hi.flips;
  out.flips_lo = lo.flips;
  out.breakpoints_hi = hi.breakpoints;
  for (double b : lo.breakpoints) out.breakpoints_lo.push_back(-b);
  out.flips_at_hi = hi.flips_at;
  out.flips_at_lo = lo.flips_at;
  out.close_hi = hi.close;
  out.close_lo = lo.close;
  return out;
}

/// Whether class c holds on some stretch longer than min_len inside [a, b] (a < b), per the partition.
inline bool class_holds_somewhere(const line_partition_result& part, int c, double a, double b,
                                  double min_len = 0) {
  const auto cc = static_cast<std::size_t>(c);
  for (std::size_t p = part.piece_of(a); p + 1 < part.t.size() && part.t[p] < b; ++p) {
    // On the piece, f_c - f_k is affine: intersect the stretches where it is >= 0 for every k.
    double lo = std::max(a, part.t[p]), hi = std::min(b, part.t[p + 1]);
    const double ta = part.t[p], tb = part.t[p + 1];
    for (std::size_t k = 0; k < part.logits[p].size() && lo < hi; ++k) {
      if (k == cc) continue;
      const double ga = part.logits[p][cc] - part.logits[p][k], gb = part.logits[p + 1][cc] - part.logits[p + 1][k];
      if (ga >= 0 && gb >= 0) continue;
      if (ga < 0 && gb < 0) {
        hi = lo;
        break;
      }
      const double root = ta + (tb - ta) * (ga / (ga - gb));
      if (ga < 0)
        lo = std::max(lo, root);
      else
        hi = std::min(hi, root);
    }
    if (hi - lo > min_len) return true;
  }
  return false;
}

}  // namespace genscope::testing
