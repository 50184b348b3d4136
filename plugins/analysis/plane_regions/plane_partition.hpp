// The exact partition of a rectangle of a 2-D plane through input space into a piecewise-linear network's linear
// regions (convex polygons, each with its switch pattern and affine logits) and decision regions.
#pragma once

#include <genscope/piecewise_linear.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace genscope::planes {

/// A point of the plane in its coordinates (s, t).
struct point {
  double s = 0, t = 0;
};

/// A convex polygon, vertices counter-clockwise.
using polygon = std::vector<point>;

/// Signed area (positive counter-clockwise), by the shoelace formula.
double area(const polygon& p);

/// z(s, t) = a + b s + g t: a unit's input, a logit or a difference of them inside one region.
struct plane_form {
  double a = 0, b = 0, g = 0;
  double at(const point& p) const { return a + b * p.s + g * p.t; }
};

/// The plane x(s, t) = origin + s * axis_s + t * axis_t (each input_dim values) and the box
/// [s_lo, s_hi] x [t_lo, t_hi] of it to partition (s_lo < s_hi, t_lo < t_hi).
struct plane {
  std::vector<double> origin, axis_s, axis_t;
  double s_lo = -1, s_hi = 1, t_lo = -1, t_hi = 1;
};

/// Where a form counts as zero on the box: |z| <= relative * (|a| + |b| S + |g| T), S and T the largest |s| and |t|
/// of the box. A threshold line closer than that to a vertex passes through it, so no sliver thinner than the
/// rounding of the forms is made.
class snapping {
 public:
  snapping(const plane& p, double relative);
  double tolerance(const plane_form& f) const;

 private:
  double s_ = 0, t_ = 0, relative_ = 0;
};

/// The parts of convex `p` where f <= 0 (`nonpositive`) and where f > 0 (`positive`), values within the tolerance
/// counting as 0; either may be null (not wanted). A part without area is returned empty: `positive` is empty unless
/// some vertex has f > 0, `nonpositive` unless some vertex has f < 0 or f is 0 at every vertex (a form that vanishes
/// on the whole polygon is nonpositive there, the tie rule of a ReLU at 0).
void split(const polygon& p, const plane_form& f, const snapping& snap, polygon* nonpositive, polygon* positive);

/// One linear region: where every switch unit keeps one piece (a convex polygon).
struct linear_region {
  polygon shape;
  std::vector<std::uint32_t> pattern;  ///< every switch unit's state, node by node (empty unless kept)
  std::uint64_t digest = 0;            ///< FNV-1a over the pattern's states (kept or not)
  /// The logits on the region as forms: class_count values of a, then of b, then of g.
  std::vector<double> logits;
};

/// A part of a linear region where one class has the largest logit (ties to the lower class).
struct decision_piece {
  polygon shape;
  std::size_t region = 0;     ///< its linear region
  std::size_t label = 0;      ///< the predicted class
  std::size_t component = 0;  ///< its decision region: same-class pieces joined across shared edges
};

/// A box's partition.
struct partition {
  std::vector<linear_region> regions;  ///< ordered by the depth-first cutting (deterministic)
  std::vector<decision_piece> pieces;  ///< region by region
  std::size_t decision_regions = 0;    ///< connected components of same-class pieces
  bool capped = false;                 ///< max_regions was reached: the regions listed do not cover the box
};

struct partition_options {
  std::size_t max_regions = 1000000;
  bool keep_patterns = true;
  double relative_tolerance = 1e-10;  ///< of snapping
};

/// Cuts the box node by node: each switch node's units cut every polygon of the nodes before along their
/// thresholds (ReLU and LeakyReLU: z = 0; clip: z = low, z = high; max pooling: the cells where one window input
/// is the largest), inside which every later node is affine in (s, t); the logits' argmax cells then cut each
/// region into decision pieces. Ties take the canonical piece of decide_switch. Deterministic whatever the thread
/// count (the top level runs in parallel with oneTBB). Throws std::invalid_argument when the plane's vectors are
/// not input_dim long or the box is empty.
partition partition_plane(const piecewise_linear_graph& graph, const plane& p, const partition_options& options);

}  // namespace genscope::planes
