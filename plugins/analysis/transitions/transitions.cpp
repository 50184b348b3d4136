// Analysis plugin "transitions": exact activation-pattern changes, unit flips and class changes around the
// ellipse through three data points (Novak et al. 2018), walked region by region, next to the sampled count.
#include <genscope/analysis.hpp>
#include <genscope/piecewise_linear.hpp>
#include <genscope/plugin.hpp>
#include <genscope/random.hpp>
#include <genscope/sampling.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using genscope::column_type;
using genscope::option_spec;
using genscope::option_type;

const option_spec options[] = {
    {"triplets", option_type::integer, "100", "ellipses per data set, each through three samples chosen by the seed"},
    {"labels", option_type::string, "same",
     "\"same\": the three samples share a label; \"different\": three different labels"},
    {"K", option_type::integer, "1000",
     "points of Novak et al.'s sampled count (Hamming distances between the patterns at K equally spaced phi); "
     "0 skips it"},
    {"max_transitions", option_type::integer, "1000000",
     "most pattern changes walked per ellipse; an ellipse reaching it stops there (status 2, counts are lower bounds)"},
};

constexpr double two_pi = 2 * std::numbers::pi;
// Crossings closer than this (in phi) are one event: far above the rounding of phi (~1e-15), far below the
// gap between two regions of a trained network along a trajectory.
constexpr double phi_tol = 1e-11;
// A pre-activation this small relative to its form's size counts as zero at an event: the right-limit
// rule (the sign of its derivative) decides its state there.
constexpr double value_tol = 1e-9;
// Points of the sampled count put through the network at once.
constexpr std::size_t sample_chunk = 256;

// Status bits of a row.
constexpr std::int64_t status_cap = 2;           // max_transitions reached
constexpr std::int64_t status_unclosed = 4;      // the pattern after 2*pi differed from the start (rounding)
constexpr std::int64_t status_late_flip = 8;     // a unit changed sign without a detected crossing (rounding)

// z(phi) = a + b cos(phi) + g sin(phi): one pre-activation along the ellipse inside one pattern.
struct sinusoid {
  double a, b, g;
  double at(double c, double s) const { return a + b * c + g * s; }
  double slope(double c, double s) const { return -b * s + g * c; }
  double curvature(double c, double s) const { return -b * c - g * s; }
};

// The right-limit state at phi: positive just after phi (value, then slope, then curvature).
bool active_after(const sinusoid& z, double c, double s) {
  const double scale = std::abs(z.a) + std::abs(z.b) + std::abs(z.g);
  const double v = z.at(c, s);
  if (std::abs(v) > value_tol * scale) return v > 0;
  const double d = z.slope(c, s);
  if (std::abs(d) > value_tol * scale) return d > 0;
  return z.curvature(c, s) > 0;
}

// The first phi > after at which z leaves the sign `positive` (a down-crossing when positive, an
// up-crossing otherwise); infinity when it never does (constant, or touching zero at most).
double next_leave(const sinusoid& z, bool positive, double after) {
  const double r = std::hypot(z.b, z.g);
  if (!(r > 0) || std::abs(z.a) >= r) return std::numeric_limits<double>::infinity();
  const double alpha = std::acos(-z.a / r);   // z = a + r cos(phi - theta) is zero at theta +- alpha
  const double theta = std::atan2(z.g, z.b);  // + alpha: down-crossing, - alpha: up-crossing
  const double root = positive ? theta + alpha : theta - alpha;
  const double base = after + phi_tol;
  return base + (root - base - two_pi * std::floor((root - base) / two_pi));
}

// Input unit q of a switch, as a sinusoid, from its input's three rows (a, b, g; `width` values each).
sinusoid input_form(const double* rows, std::size_t width, std::size_t q) {
  return {rows[q], rows[width + q], rows[2 * width + q]};
}

sinusoid minus(const sinusoid& x, const sinusoid& y) { return {x.a - y.a, x.b - y.b, x.g - y.g}; }

// The pieces of the switches at phi by the right-limit rule with active_after's tolerance; identical forms tie to the
// canonical piece (decide_switch): inactive, low, the first largest input of a window.
class ellipse_decider final : public genscope::switch_decider {
 public:
  void at(double phi) {
    c_ = std::cos(phi);
    s_ = std::sin(phi);
  }
  std::uint32_t decide(const genscope::switch_layer& rule, std::size_t j, const double* input, std::size_t width,
                       std::size_t) const override {
    switch (rule.kind) {
      case genscope::switch_kind::relu:
      case genscope::switch_kind::leaky_relu: return active_after(input_form(input, width, j), c_, s_) ? 1 : 0;
      case genscope::switch_kind::clip: {
        const sinusoid z = input_form(input, width, j);
        if (!active_after({z.a - rule.low, z.b, z.g}, c_, s_)) return 0;
        if (active_after({z.a - rule.high, z.b, z.g}, c_, s_)) return 2;
        return 1;
      }
      case genscope::switch_kind::max_pool: {
        const std::uint32_t first = rule.window_start[j];
        const std::uint32_t size = rule.window_start[j + 1] - first;
        std::uint32_t best = 0;
        for (std::uint32_t p = 1; p < size; ++p) {
          const sinusoid diff = minus(input_form(input, width, rule.window_index[first + p]),
                                      input_form(input, width, rule.window_index[first + best]));
          if (active_after(diff, c_, s_)) best = p;
        }
        return best;
      }
    }
    return 0;
  }

 private:
  double c_ = 1, s_ = 0;
};

// The next phi after `after` at which unit j of a switch (input rows `in`, `width` wide) leaves its piece.
double unit_next(const genscope::switch_layer& rule, std::size_t j, std::uint32_t state, const double* in,
                 std::size_t width, double after) {
  const double never = std::numeric_limits<double>::infinity();
  switch (rule.kind) {
    case genscope::switch_kind::relu:
    case genscope::switch_kind::leaky_relu: return next_leave(input_form(in, width, j), state != 0, after);
    case genscope::switch_kind::clip: {
      const sinusoid z = input_form(in, width, j);
      const sinusoid low{z.a - rule.low, z.b, z.g}, high{z.a - rule.high, z.b, z.g};
      if (state == 0) return next_leave(low, false, after);
      if (state == 2) return next_leave(high, true, after);
      return std::min(next_leave(low, true, after), next_leave(high, false, after));
    }
    case genscope::switch_kind::max_pool: {
      const std::uint32_t first = rule.window_start[j];
      const sinusoid top = input_form(in, width, rule.window_index[first + state]);
      double t = never;
      for (std::uint32_t k = first; k < rule.window_start[j + 1]; ++k)
        if (k != first + state)
          t = std::min(t, next_leave(minus(top, input_form(in, width, rule.window_index[k])), true, after));
      return t;
    }
  }
  return never;
}

// Whether unit j's input is far from every threshold of its switch at (c, s): a flip there was found late.
bool far_from_threshold(const genscope::switch_layer& rule, std::size_t j, std::uint32_t state, std::uint32_t before,
                        const double* in, std::size_t width, double c, double s) {
  auto far = [&](const sinusoid& z) { return std::abs(z.at(c, s)) > 1e-6 * (std::abs(z.a) + std::hypot(z.b, z.g)); };
  switch (rule.kind) {
    case genscope::switch_kind::relu:
    case genscope::switch_kind::leaky_relu: return far(input_form(in, width, j));
    case genscope::switch_kind::clip: {
      const sinusoid z = input_form(in, width, j);
      return far({z.a - rule.low, z.b, z.g}) && far({z.a - rule.high, z.b, z.g});
    }
    case genscope::switch_kind::max_pool: {
      const std::uint32_t first = rule.window_start[j];
      return far(minus(input_form(in, width, rule.window_index[first + state]),
                       input_form(in, width, rule.window_index[first + before])));
    }
  }
  return false;
}

struct ellipse_result {
  std::int64_t transitions = 0, unit_flips = 0, class_changes = 0, sampled = -1, status = 0;
  std::string shape;
};

// Scratch of one compute() call: the forms of every node along the ellipse and the walk's state.
class ellipse_walker {
 public:
  ellipse_walker(const genscope::piecewise_linear_graph& g, std::size_t dim) : g_(g), dim_(dim) {
    if (g.input_dim() != dim)
      throw std::runtime_error("transitions: the backend's piecewise-linear graph takes " +
                               std::to_string(g.input_dim()) + " inputs, the data " + std::to_string(dim));
    next_.resize(g.size());
    for (std::size_t i = 1; i < g.size(); ++i)
      if (g.at(i).is_switch()) {
        (g.is_static(g.at(i).inputs[0]) ? static_ : dynamic_).push_back(i);
        next_[i].assign(g.at(i).width, 0.0);
      }
  }

  ellipse_result walk(const double* c, const double* u, const double* v, std::int64_t max_transitions, std::size_t k_samples) {
    ellipse_result out;
    out.shape = shape_of(u, v);
    rows_.assign(c, c + dim_);
    rows_.insert(rows_.end(), u, u + dim_);
    rows_.insert(rows_.end(), v, v + dim_);
    decider_.at(0.0);
    genscope::evaluate_forms(g_, rows_.data(), 1, 3, states_, forms_, true, &decider_);
    start_ = states_;
    for (const std::size_t i : static_) reschedule(i, 0.0, true);
    std::size_t top = top_class(1.0, 0.0);
    const std::size_t top0 = top;
    double phi = 0;
    // Events without a pattern or class change (touching zero) advance phi too; this bounds them all.
    const std::int64_t max_events = 4 * max_transitions + 1000;
    for (std::int64_t events = 0;; ++events) {
      if (events >= max_events) {
        out.status |= status_cap;
        break;
      }
      const double tau_pattern = next_pattern_event(phi);
      const double tau_class = next_class_event(top, phi);
      const double tau = std::min(tau_pattern, tau_class);
      if (!(tau <= two_pi + phi_tol)) break;
      phi = tau;
      const double cs = std::cos(phi), sn = std::sin(phi);
      if (tau_pattern <= tau + phi_tol) {
        if (out.transitions >= max_transitions) {
          out.status |= status_cap;
          break;
        }
        const std::int64_t flips = cross(phi, out.status);
        if (flips > 0) {
          ++out.transitions;
          out.unit_flips += flips;
        }
      }
      const std::size_t now = top_class(cs, sn);
      if (now != top) ++out.class_changes;
      top = now;
    }
    if ((out.status & status_cap) == 0) {
      if (states_ != start_) out.status |= status_unclosed;
      if (top != top0) out.status |= status_unclosed;
    }
    if (k_samples > 0) out.sampled = sampled_flips(c, u, v, k_samples);
    return out;
  }

 private:
  const double* input_rows(std::size_t i) const { return forms_[g_.at(i).inputs[0]].data(); }
  std::size_t input_width(std::size_t i) const { return g_.at(g_.at(i).inputs[0]).width; }

  sinusoid logit(std::size_t k) const {
    const std::size_t w = g_.output_dim();
    return input_form(forms_.back().data(), w, k);
  }

  // "point", "segment" or "ellipse": the rank of (u, v) (two equal points give a segment traversed both ways).
  std::string shape_of(const double* u, const double* v) const {
    double uu = 0, vv = 0, uv = 0;
    for (std::size_t i = 0; i < dim_; ++i) {
      uu += u[i] * u[i];
      vv += v[i] * v[i];
      uv += u[i] * v[i];
    }
    if (uu == 0 && vv == 0) return "point";
    if (uu * vv - uv * uv <= 1e-12 * uu * vv) return "segment";
    return "ellipse";
  }

  // Next crossings of static switch node i (its input depends on no switch, so they hold for the whole walk):
  // every unit (`all`), or those that flipped or whose crossing the event at phi passed.
  void reschedule(std::size_t i, double phi, bool all) {
    const std::size_t w = g_.at(i).width;
    for (std::size_t j = 0; j < w; ++j)
      if (all || next_[i][j] <= phi + phi_tol || flipped_[i][j])
        next_[i][j] = unit_next(g_.at(i).rule, j, states_[i][j], input_rows(i), input_width(i), phi);
  }

  // The earliest pattern change after phi: static switches' crossings are kept, the others are found again
  // because every change below moves them. A unit can cross before the best event so far, tau, only if some
  // input form z it compares has |z(phi)| <= R (tau - phi), R = |(b, g)| bounding |z'|: only those are solved.
  double next_pattern_event(double phi) const {
    double best = std::numeric_limits<double>::infinity();
    for (const std::size_t i : static_)
      for (double t : next_[i]) best = std::min(best, t);
    const double cs = std::cos(phi), sn = std::sin(phi);
    for (const std::size_t i : dynamic_) {
      const auto& n = g_.at(i);
      const double* in = input_rows(i);
      const std::size_t win = input_width(i);
      for (std::size_t j = 0; j < n.width; ++j) {
        const double reach = (best - phi) + phi_tol;
        if (!may_cross(n.rule, j, states_[i][j], in, win, cs, sn, reach)) continue;
        best = std::min(best, unit_next(n.rule, j, states_[i][j], in, win, phi));
      }
    }
    return best;
  }

  // The pruning test of next_pattern_event for one unit.
  static bool may_cross(const genscope::switch_layer& rule, std::size_t j, std::uint32_t state, const double* in,
                        std::size_t width, double cs, double sn, double reach) {
    auto near = [&](const sinusoid& z) {
      const double value = z.at(cs, sn);
      return value * value <= (z.b * z.b + z.g * z.g) * reach * reach;
    };
    const sinusoid z = input_form(in, width, j);
    switch (rule.kind) {
      case genscope::switch_kind::relu:
      case genscope::switch_kind::leaky_relu: return near(z);
      case genscope::switch_kind::clip: return near({z.a - rule.low, z.b, z.g}) || near({z.a - rule.high, z.b, z.g});
      case genscope::switch_kind::max_pool: {
        const std::uint32_t first = rule.window_start[j];
        const sinusoid top = input_form(in, width, rule.window_index[first + state]);
        for (std::uint32_t k = first; k < rule.window_start[j + 1]; ++k)
          if (k != first + state && near(minus(top, input_form(in, width, rule.window_index[k])))) return true;
        return false;
      }
    }
    return true;
  }

  // The earliest phi after `phi` at which another logit overtakes the top class.
  double next_class_event(std::size_t top, double phi) const {
    const sinusoid t = logit(top);
    double best = std::numeric_limits<double>::infinity();
    for (std::size_t k = 0; k < g_.output_dim(); ++k) {
      if (k == top) continue;
      best = std::min(best, next_leave(minus(t, logit(k)), true, phi));
    }
    return best;
  }

  // The class just after phi: the largest logit, ties by the right-limit rule, then towards the lower index.
  std::size_t top_class(double cs, double sn) const {
    std::size_t top = 0;
    for (std::size_t k = 1; k < g_.output_dim(); ++k)
      if (active_after(minus(logit(k), logit(top)), cs, sn)) top = k;
    return top;
  }

  // Crosses the event at phi: every switch takes its right-limit piece there, node by node, and the forms follow
  // (each event recomputes them from the ellipse, so no drift builds up). Returns the flips.
  std::int64_t cross(double phi, std::int64_t& status) {
    const double cs = std::cos(phi), sn = std::sin(phi);
    before_ = states_;
    decider_.at(phi);
    genscope::evaluate_forms(g_, rows_.data(), 1, 3, states_, forms_, true, &decider_);
    std::int64_t flips = 0;
    flipped_.resize(g_.size());
    for (std::size_t i = 1; i < g_.size(); ++i) {
      if (!g_.at(i).is_switch()) continue;
      flipped_[i].assign(g_.at(i).width, 0);
      for (std::size_t j = 0; j < g_.at(i).width; ++j) {
        if (states_[i][j] == before_[i][j]) continue;
        ++flips;
        flipped_[i][j] = 1;
        // A unit far from its threshold that changes piece: its crossing was lost to rounding; it is counted here.
        if (far_from_threshold(g_.at(i).rule, j, states_[i][j], before_[i][j], input_rows(i), input_width(i), cs, sn))
          status |= status_late_flip;
      }
    }
    for (const std::size_t i : static_) reschedule(i, phi, false);
    return flips;
  }

  // Novak et al.'s count: summed Hamming distances between the patterns (every switch's piece, a ReLU active
  // when its input is > 0, a max-pool window its first largest input) at K equally spaced phi, closing the loop.
  // The points go through the network in fixed chunks (memory bounded whatever K; the same chunking for every
  // ellipse, so a row never depends on the batch it is computed in).
  std::int64_t sampled_flips(const double* c, const double* u, const double* v, std::size_t k_samples) {
    std::vector<std::uint32_t> first, previous, current;
    std::vector<double> x;
    std::int64_t total = 0;
    for (std::size_t start = 0; start < k_samples; start += sample_chunk) {
      const std::size_t rows = std::min(sample_chunk, k_samples - start);
      x.assign(sample_chunk * dim_, 0.0);
      for (std::size_t i = 0; i < rows; ++i) {
        const double phi = two_pi * static_cast<double>(start + i) / static_cast<double>(k_samples);
        const double cs = std::cos(phi), sn = std::sin(phi);
        for (std::size_t j = 0; j < dim_; ++j) x[i * dim_ + j] = c[j] + u[j] * cs + v[j] * sn;
      }
      genscope::evaluate_forms(g_, x.data(), sample_chunk, 1, sample_states_, sample_forms_, true);
      for (std::size_t i = 0; i < rows; ++i) {
        current.clear();
        for (std::size_t n = 1; n < g_.size(); ++n) {
          if (!g_.at(n).is_switch()) continue;
          const std::size_t w = g_.at(n).width;
          current.insert(current.end(), sample_states_[n].begin() + static_cast<std::ptrdiff_t>(i * w),
                         sample_states_[n].begin() + static_cast<std::ptrdiff_t>((i + 1) * w));
        }
        if (start + i == 0) first = current;
        else total += hamming(previous, current);
        previous.swap(current);
      }
    }
    return total + hamming(previous, first);
  }

  static std::int64_t hamming(const std::vector<std::uint32_t>& a, const std::vector<std::uint32_t>& b) {
    std::int64_t d = 0;
    for (std::size_t j = 0; j < a.size(); ++j) d += a[j] != b[j];
    return d;
  }

  const genscope::piecewise_linear_graph& g_;
  std::size_t dim_;
  std::vector<std::size_t> static_, dynamic_;  // switch nodes whose input depends on no switch / on some
  std::vector<double> rows_;                  // c, u, v
  std::vector<std::vector<double>> forms_;    // per node: a, b, g rows
  genscope::switch_states states_, start_, before_;
  std::vector<std::vector<double>> next_;     // static switch nodes: each unit's next crossing
  std::vector<std::vector<std::uint8_t>> flipped_;
  ellipse_decider decider_;
  std::vector<std::vector<double>> sample_forms_;
  genscope::switch_states sample_states_;
};

struct triplet {
  std::size_t set = 0;  // which data set
  std::array<std::size_t, 3> points{};
};

class transitions_analysis final : public genscope::analysis {
 public:
  transitions_analysis(std::size_t triplets, bool same, std::int64_t k_samples, std::int64_t max_transitions)
      : triplets_(triplets), same_(same), k_samples_(static_cast<std::size_t>(k_samples)), max_transitions_(max_transitions) {}

  std::vector<genscope::table_spec> tables() const override {
    return {{"ellipses",
             "one ellipse x(phi) = c + u cos(phi) + v sin(phi) through three samples p0 = x(0), p1 = x(2pi/3), "
             "p2 = x(4pi/3), walked exactly",
             {
                 {"dataset", column_type::string, 1, "data set the three samples come from", ""},
                 {"points", column_type::int64, 3, "indices of p0, p1, p2 in that data set", ""},
                 {"labels", column_type::int64, 3, "their labels", ""},
                 {"shape", column_type::string, 1,
                  "ellipse; segment (collinear points or two equal points: traversed there and back); point", ""},
                 {"transitions", column_type::int64, 1, "activation-pattern changes around the closed curve", "", true},
                 {"unit_flips", column_type::int64, 1,
                  "unit sign changes around the curve (several units may change at one transition)", "", true},
                 {"class_changes", column_type::int64, 1, "changes of the predicted class around the curve", "", true},
                 {"sampled", column_type::int64, 1,
                  "Novak et al.'s count: summed Hamming distances between the patterns at K equally spaced phi "
                  "(-1 when K = 0)",
                  "", k_samples_ > 0},
                 {"status", column_type::int64, 1,
                  "bits: 2 max_transitions reached, 4 the pattern did not close (rounding), 8 a flip found late "
                  "(rounding)",
                  ""},
             },
             "dataset"}};
  }

  void check(const std::vector<genscope::dataset_shape>& data, std::size_t) const override {
    if (data.empty()) throw std::invalid_argument("transitions: 'datasets' names no data set");
    for (const genscope::dataset_shape& d : data) {
      if (d.count < 3)
        throw std::invalid_argument("transitions: data set '" + d.name + "' has " + std::to_string(d.count) +
                                    " samples; an ellipse needs three");
      if (!same_ && d.class_count != 0 && d.class_count < 3)
        throw std::invalid_argument("transitions: data set '" + d.name + "' has " + std::to_string(d.class_count) +
                                    " classes, fewer than three (labels = \"different\")");
    }
  }

  void prepare(const genscope::network_backend& model, const std::vector<const genscope::dataset*>& data,
               std::uint64_t seed) override {
    view_ = model.piecewise_linear();
    if (view_ == nullptr)
      throw std::invalid_argument(
          "transitions: the backend offers no piecewise-linear view (the analysis needs capability_piecewise_linear)");
    data_ = data;
    rows_.clear();
    for (std::size_t s = 0; s < data.size(); ++s) {
      const genscope::dataset& d = *data[s];
      genscope::require_labels(d);
      const genscope::label_groups groups(d.labels);
      const std::vector<std::size_t> starts = genscope::triplet_starts(groups, same_);
      if (starts.empty())
        throw std::runtime_error("transitions: data set '" + d.name + "' has " +
                                 (same_ ? std::string("no label with three samples (labels = \"same\")")
                                        : std::string("fewer than three labels (labels = \"different\")")));
      for (std::size_t r = 0; r < triplets_; ++r) {
        // Row r of data set s: a generator of its own, so a row never depends on the others.
        genscope::rng random(seed, genscope::stream_key("transitions"), (static_cast<std::uint64_t>(s) << 40) + r);
        triplet t;
        t.set = s;
        t.points = genscope::draw_triplet(groups, d.labels, starts, same_, random);
        rows_.push_back(t);
      }
    }
  }

  std::size_t row_count(std::size_t) const override { return rows_.size(); }

  void compute(std::size_t, std::size_t first, std::size_t count, genscope::table_batch& out) const override {
    if (view_ == nullptr) throw std::logic_error("transitions: compute() called before prepare()");
    if (first > rows_.size() || count > rows_.size() - first)
      throw std::out_of_range("transitions: rows [" + std::to_string(first) + ", " + std::to_string(first + count) +
                              ") requested, the table has " + std::to_string(rows_.size()));
    const std::size_t dim = data_.front()->dim();
    ellipse_walker walker(*view_, dim);
    std::vector<double> c(dim), u(dim), v(dim);
    auto& dataset = out.strings("dataset");
    auto& points = out.ints("points");
    auto& labels = out.ints("labels");
    auto& shape = out.strings("shape");
    auto& transitions = out.ints("transitions");
    auto& flips = out.ints("unit_flips");
    auto& classes = out.ints("class_changes");
    auto& sampled = out.ints("sampled");
    auto& status = out.ints("status");
    for (std::size_t r = 0; r < count; ++r) {
      const triplet& t = rows_[first + r];
      const genscope::dataset& d = *data_[t.set];
      const float* p0 = d.x.row(t.points[0]);
      const float* p1 = d.x.row(t.points[1]);
      const float* p2 = d.x.row(t.points[2]);
      // x(0) = p0, x(2pi/3) = p1, x(4pi/3) = p2.
      for (std::size_t j = 0; j < dim; ++j) {
        const double a = p0[j], b = p1[j], e = p2[j];
        c[j] = (a + b + e) / 3;
        u[j] = (2 * a - b - e) / 3;
        v[j] = (b - e) / std::sqrt(3.0);
      }
      const ellipse_result res = walker.walk(c.data(), u.data(), v.data(), max_transitions_, k_samples_);
      dataset[r] = d.name;
      for (std::size_t q = 0; q < 3; ++q) {
        points[3 * r + q] = static_cast<std::int64_t>(t.points[q]);
        labels[3 * r + q] = d.labels[t.points[q]];
      }
      shape[r] = res.shape;
      transitions[r] = res.transitions;
      flips[r] = res.unit_flips;
      classes[r] = res.class_changes;
      sampled[r] = res.sampled;
      status[r] = res.status;
    }
  }

 private:
  std::size_t triplets_;
  bool same_;
  std::size_t k_samples_;
  std::int64_t max_transitions_;
  const genscope::piecewise_linear_graph* view_ = nullptr;
  std::vector<const genscope::dataset*> data_;
  std::vector<triplet> rows_;
};

genscope::plugin_object* create(const genscope::option_set& o) {
  const std::int64_t triplets = o.get_int("triplets");
  const std::string labels = o.get_string("labels");
  const std::int64_t k = o.get_int("K");
  const std::int64_t max_transitions = o.get_int("max_transitions");
  if (triplets < 1 || triplets > genscope::max_count)
    throw std::invalid_argument("option 'triplets' must be between 1 and 2^32, got " + std::to_string(triplets));
  if (labels != "same" && labels != "different")
    throw std::invalid_argument("option 'labels' must be \"same\" or \"different\", not \"" + labels + "\"");
  if (k < 0 || k == 1 || k > 100000000)
    throw std::invalid_argument("option 'K' must be 0 (no sampled count) or between 2 and 1e8, got " + std::to_string(k));
  if (max_transitions < 1 || max_transitions > 1000000000000)
    throw std::invalid_argument("option 'max_transitions' must be between 1 and 1e12, got " +
                                std::to_string(max_transitions));
  return new transitions_analysis(static_cast<std::size_t>(triplets), labels == "same", k, max_transitions);
}

}  // namespace

GENSCOPE_PLUGIN_WITH_CAPABILITIES(genscope::plugin_kind::analysis, "transitions", "2.0.0",
                                  "exact activation-pattern transitions, unit flips and class changes around ellipses "
                                  "through three data points (Novak et al. 2018), with the sampled count",
                                  options, &create, genscope::capability_piecewise_linear)
