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
// Transitions between full recomputations of the forms from the ellipse (bounds incremental drift).
constexpr std::int64_t recompute_every = 64;

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

struct ellipse_result {
  std::int64_t transitions = 0, unit_flips = 0, class_changes = 0, sampled = -1, status = 0;
  std::string shape;
};

// Scratch of one compute() call: the forms of every layer along the ellipse and the walk's state.
class ellipse_walker {
 public:
  ellipse_walker(const genscope::piecewise_linear_network& net, std::size_t dim) : net_(net), dim_(dim) {
    layers_ = net.layer_count();
    if (layers_ == 0) throw std::runtime_error("transitions: the backend's piecewise-linear view has no layers");
    std::size_t in = dim;
    for (std::size_t k = 0; k < layers_; ++k) {
      const genscope::affine_operator& op = net.layer(k);
      if (op.input_dim() != in)
        throw std::runtime_error("transitions: layer " + std::to_string(k) + " of the piecewise-linear view takes " +
                                 std::to_string(op.input_dim()) + " inputs, its input has " + std::to_string(in));
      width_.push_back(op.output_dim());
      in = op.output_dim();
    }
    forms_.resize(layers_);
    active_.resize(layers_ - 1);
    start_.resize(layers_ - 1);
    next0_.resize(width_[0]);
    delta_.resize(layers_);
  }

  ellipse_result walk(const double* c, const double* u, const double* v, std::int64_t max_transitions, std::size_t k_samples) {
    ellipse_result out;
    out.shape = shape_of(u, v);
    c_ = c;
    u_ = u;
    v_ = v;
    compute_forms(true);
    const std::size_t hidden = layers_ - 1;
    for (std::size_t k = 0; k < hidden; ++k) start_[k] = active_[k];
    for (std::size_t j = 0; j < width_[0] && hidden > 0; ++j) next0_[j] = next_leave(form(0, j), active_[0][j], 0.0);
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
        const std::int64_t flips = cross(cs, sn, phi, out.status);
        if (flips > 0) {
          ++out.transitions;
          out.unit_flips += flips;
          if (out.transitions % recompute_every == 0) compute_forms(false);
        }
      }
      const std::size_t now = top_class(cs, sn);
      if (now != top) ++out.class_changes;
      top = now;
    }
    if ((out.status & status_cap) == 0) {
      for (std::size_t k = 0; k < hidden; ++k)
        if (active_[k] != start_[k]) out.status |= status_unclosed;
      if (top != top0) out.status |= status_unclosed;
    }
    if (k_samples > 0) out.sampled = sampled_flips(c, u, v, k_samples);
    return out;
  }

 private:
  sinusoid form(std::size_t k, std::size_t j) const {
    const std::size_t w = width_[k];
    return {forms_[k][j], forms_[k][w + j], forms_[k][2 * w + j]};
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

  // The earliest pattern change after phi: first-layer crossings are kept (their forms never change), deeper
  // ones are found again because every change below moves them. A deeper unit can cross before the next
  // first-layer event tau only if |z(phi)| <= R (tau - phi), R = |(b, g)| bounding |z'|: only those are solved.
  double next_pattern_event(double phi) const {
    double best = std::numeric_limits<double>::infinity();
    if (layers_ < 2) return best;
    for (double t : next0_) best = std::min(best, t);
    const double cs = std::cos(phi), sn = std::sin(phi);
    for (std::size_t k = 1; k + 1 < layers_; ++k) {
      const std::size_t w = width_[k];
      const double* a = forms_[k].data();
      const double* b = a + w;
      const double* g = b + w;
      for (std::size_t j = 0; j < w; ++j) {
        const double z = a[j] + b[j] * cs + g[j] * sn;
        const double reach = (best - phi) + phi_tol;
        if (z * z > (b[j] * b[j] + g[j] * g[j]) * reach * reach) continue;
        best = std::min(best, next_leave(form(k, j), active_[k][j], phi));
      }
    }
    return best;
  }

  // The earliest phi after `phi` at which another logit overtakes the top class.
  double next_class_event(std::size_t top, double phi) const {
    const std::size_t last = layers_ - 1;
    const sinusoid t = form(last, top);
    double best = std::numeric_limits<double>::infinity();
    for (std::size_t k = 0; k < width_[last]; ++k) {
      if (k == top) continue;
      const sinusoid z = form(last, k);
      best = std::min(best, next_leave({t.a - z.a, t.b - z.b, t.g - z.g}, true, phi));
    }
    return best;
  }

  // The class just after phi: the largest logit, ties by the right-limit rule, then towards the lower index.
  std::size_t top_class(double cs, double sn) const {
    const std::size_t last = layers_ - 1;
    std::size_t top = 0;
    for (std::size_t k = 1; k < width_[last]; ++k) {
      const sinusoid a = form(last, top), b = form(last, k);
      if (active_after({b.a - a.a, b.b - a.b, b.g - a.g}, cs, sn)) top = k;
    }
    return top;
  }

  // Crosses the event at phi layer by layer: every unit whose right-limit state differs from its current one
  // flips. A layer's forms change by delta = W (m_old o delta_below) + sum over its flipped inputs j of
  // +-W e_j (a_j, b_j, g_j) with the inputs' new forms. Returns the flips.
  std::int64_t cross(double cs, double sn, double phi, std::int64_t& status) {
    std::int64_t flips = 0;
    bool changed_below = false;  // whether delta_[k] (the change of layer k's forms) is nonzero
    for (std::size_t k = 0; k + 1 < layers_; ++k) {
      const std::size_t w = width_[k], w_next = width_[k + 1];
      std::vector<double>& next_delta = delta_[k + 1];
      next_delta.assign(3 * w_next, 0.0);
      if (changed_below) {
        // The existing active units carry their own change upwards.
        masked_.assign(3 * w, 0.0);
        for (std::size_t r = 0; r < 3; ++r)
          for (std::size_t j = 0; j < w; ++j)
            if (active_[k][j]) masked_[r * w + j] = delta_[k][r * w + j];
        net_.layer(k + 1).apply_linear(masked_.data(), 3, next_delta.data());
      }
      std::size_t layer_flips = 0;
      for (std::size_t j = 0; j < w; ++j) {
        const sinusoid z = form(k, j);
        const bool now = active_after(z, cs, sn);
        if (now == static_cast<bool>(active_[k][j])) continue;
        // A unit far from zero that changes state: its crossing was lost to rounding; it is counted here.
        if (std::abs(z.at(cs, sn)) > 1e-6 * (std::abs(z.a) + std::hypot(z.b, z.g))) status |= status_late_flip;
        active_[k][j] = now;
        ++layer_flips;
        if (k == 0) next0_[j] = next_leave(z, now, phi);
        const double sign = now ? 1.0 : -1.0;
        for (std::size_t r = 0; r < 3; ++r)
          net_.layer(k + 1).add_column(j, sign * forms_[k][r * w + j], next_delta.data() + r * w_next);
      }
      flips += static_cast<std::int64_t>(layer_flips);
      changed_below = changed_below || layer_flips > 0;
      if (changed_below)
        for (std::size_t i = 0; i < 3 * w_next; ++i) forms_[k + 1][i] += next_delta[i];
    }
    // First-layer crossings that the event passed without a sign change (touching zero) are rescheduled.
    for (std::size_t j = 0; j < width_[0] && layers_ > 1; ++j)
      if (next0_[j] <= phi + phi_tol) next0_[j] = next_leave(form(0, j), active_[0][j], phi);
    return flips;
  }

  // The forms (a, b, g) of every layer from the ellipse. With `decide`, each hidden unit's state is set by the
  // right-limit rule at phi = 0 (value a + b, slope g) as its layer is reached; without, the current pattern is
  // kept (a periodic recomputation bounding the drift of the incremental updates).
  void compute_forms(bool decide) {
    rows_.assign(c_, c_ + dim_);
    rows_.insert(rows_.end(), u_, u_ + dim_);
    rows_.insert(rows_.end(), v_, v_ + dim_);
    for (std::size_t k = 0; k < layers_; ++k) {
      const std::size_t w = width_[k];
      const std::size_t in = k == 0 ? dim_ : width_[k - 1];
      forms_[k].assign(3 * w, 0.0);
      net_.layer(k).apply(rows_.data(), 1, forms_[k].data());
      net_.layer(k).apply_linear(rows_.data() + in, 2, forms_[k].data() + w);
      if (k + 1 == layers_) break;
      if (decide) {
        active_[k].assign(w, 0);
        for (std::size_t j = 0; j < w; ++j) active_[k][j] = active_after(form(k, j), 1.0, 0.0);
      }
      rows_.assign(3 * w, 0.0);
      for (std::size_t j = 0; j < w; ++j)
        if (active_[k][j])
          for (std::size_t r = 0; r < 3; ++r) rows_[r * w + j] = forms_[k][r * w + j];
    }
  }

  // Novak et al.'s count: summed Hamming distances between the patterns (unit > 0) at K equally spaced phi,
  // closing the loop. The points go through the network in fixed chunks (memory bounded whatever K; the same
  // chunking for every ellipse, so a row never depends on the batch it is computed in).
  std::int64_t sampled_flips(const double* c, const double* u, const double* v, std::size_t k_samples) {
    std::size_t hidden_units = 0;
    for (std::size_t k = 0; k + 1 < layers_; ++k) hidden_units += width_[k];
    std::vector<std::uint8_t> first, previous, current(hidden_units);
    std::vector<double> x, y;
    std::int64_t total = 0;
    for (std::size_t start = 0; start < k_samples; start += sample_chunk) {
      const std::size_t rows = std::min(sample_chunk, k_samples - start);
      x.resize(rows * dim_);
      for (std::size_t i = 0; i < rows; ++i) {
        const double phi = two_pi * static_cast<double>(start + i) / static_cast<double>(k_samples);
        const double cs = std::cos(phi), sn = std::sin(phi);
        for (std::size_t j = 0; j < dim_; ++j) x[i * dim_ + j] = c[j] + u[j] * cs + v[j] * sn;
      }
      patterns_.assign(rows * hidden_units, 0);
      std::size_t offset = 0;
      for (std::size_t k = 0; k + 1 < layers_; ++k) {
        const std::size_t w = width_[k];
        y.assign(rows * w, 0.0);
        net_.layer(k).apply(x.data(), rows, y.data());
        for (std::size_t i = 0; i < rows; ++i)
          for (std::size_t j = 0; j < w; ++j) {
            double& z = y[i * w + j];
            patterns_[i * hidden_units + offset + j] = z > 0;
            if (!(z > 0)) z = 0;
          }
        offset += w;
        x.swap(y);
      }
      for (std::size_t i = 0; i < rows; ++i) {
        std::copy_n(patterns_.begin() + static_cast<std::ptrdiff_t>(i * hidden_units), hidden_units, current.begin());
        if (start + i == 0) first = current;
        else total += hamming(previous, current);
        previous.swap(current);
        current.resize(hidden_units);
      }
    }
    return total + hamming(previous, first);
  }

  static std::int64_t hamming(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
    std::int64_t d = 0;
    for (std::size_t j = 0; j < a.size(); ++j) d += a[j] != b[j];
    return d;
  }

  const genscope::piecewise_linear_network& net_;
  std::size_t dim_;
  std::size_t layers_ = 0;
  std::vector<std::size_t> width_;
  std::vector<std::vector<double>> forms_;  // per layer: a (w), b (w), g (w)
  std::vector<std::vector<std::uint8_t>> active_, start_;
  std::vector<double> next0_;               // next crossing of each first-layer unit
  std::vector<std::vector<double>> delta_;   // per layer: the change of its forms at the current event
  std::vector<double> masked_, rows_;
  std::vector<std::uint8_t> patterns_;      // sampled patterns of one chunk
  const double* c_ = nullptr;
  const double* u_ = nullptr;
  const double* v_ = nullptr;
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
      std::vector<std::size_t> eligible;
      for (std::size_t i = 0; i < d.size(); ++i)
        if (same_ ? groups.group_size(i) >= 3 : groups.label_count() >= 3) eligible.push_back(i);
      if (eligible.empty())
        throw std::runtime_error("transitions: data set '" + d.name + "' has " +
                                 (same_ ? std::string("no label with three samples (labels = \"same\")")
                                        : std::string("fewer than three labels (labels = \"different\")")));
      for (std::size_t r = 0; r < triplets_; ++r) {
        // Row r of data set s: a generator of its own, so a row never depends on the others.
        genscope::rng random(seed, genscope::stream_key("transitions"), (static_cast<std::uint64_t>(s) << 40) + r);
        triplet t;
        t.set = s;
        const std::size_t i = eligible[random.below(eligible.size())];
        t.points[0] = i;
        if (same_) {
          const std::size_t j = groups.same_label(i, random.below(groups.group_size(i) - 1), std::array{i});
          const std::size_t k = groups.same_label(i, random.below(groups.group_size(i) - 2), std::array{i, j});
          t.points[1] = j;
          t.points[2] = k;
        } else {
          const std::size_t j = groups.other_label(i, random.below(d.size() - groups.group_size(i)));
          std::size_t k = j;
          while (d.labels[k] == d.labels[i] || d.labels[k] == d.labels[j]) k = random.below(d.size());
          t.points[1] = j;
          t.points[2] = k;
        }
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
  const genscope::piecewise_linear_network* view_ = nullptr;
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

GENSCOPE_PLUGIN_WITH_CAPABILITIES(genscope::plugin_kind::analysis, "transitions", "1.0.0",
                                  "exact activation-pattern transitions, unit flips and class changes around ellipses "
                                  "through three data points (Novak et al. 2018), with the sampled count",
                                  options, &create, genscope::capability_piecewise_linear)
