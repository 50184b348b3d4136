// Estimator plugin "exact": certified generalization intervals by walking x + t*d region by region through the piecewise-affine network.
#include <genscope/interval_estimator.hpp>
#include <genscope/piecewise_linear.hpp>
#include <genscope/plugin.hpp>

#include <algorithm>
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
     "regions between full recomputations of the layer forms from the line (bounds incremental drift)"},
};

constexpr double inf = std::numeric_limits<double>::infinity();
// Crossings within this relative distance of an event belong to that event (simultaneous flips), and
// two logits this close relative to their magnitude are tied. Far above double rounding (1e-16), far
// below any region width a trained network has.
constexpr double rel_tol = 1e-12;
// Probes per batched product at t = 0. A GEMM treats rows alike only within full row panels; a fixed
// block height that is a multiple of Eigen's double panels (6, 12, 24 rows for SSE, AVX, AVX-512) keeps
// a probe's values independent of the batch it arrives in and of its place in it.
constexpr std::size_t block_rows = 24;
// Layers at least this wide receive a rank-1 change column by column (walker::push).
constexpr std::size_t column_push_min_width = 64;

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

// A first-layer unit's zero crossing; the first layer's form holds on the whole line, so these are final.
struct crossing {
  double t;
  std::uint32_t unit;
};

// Heap order for std::push_heap and friends: the earliest crossing on top, the lower unit first on ties.
struct later_first {
  bool operator()(const crossing& x, const crossing& y) const noexcept {
    return x.t > y.t || (x.t == y.t && x.unit > y.unit);
  }
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

double active_at(double z, double slope) { return z > 0 || (z == 0 && slope > 0) ? 1.0 : 0.0; }

// Units moving towards a flip (inactive and rising, or active and falling) that reach zero by tau: hit
// is set to 1 for them, and their count returned. There are few or none in most events, so this
// division-free pass comes first and only the marked units are looked at again. Free functions with
// __restrict pointers (the buffers are distinct) so that GCC vectorizes them without alias checks.
std::size_t mark_hits(const double* __restrict a, const double* __restrict s, const double* __restrict m,
                      std::uint64_t* __restrict hit, double tau, std::size_t w) {
  std::size_t hits = 0;
  for (std::size_t j = 0; j < w; ++j) {
    const double dir = 1.0 - 2.0 * m[j];
    const bool h = (dir * s[j] > 0.0) & (dir * (a[j] + tau * s[j]) >= 0.0);
    hit[j] = static_cast<std::uint64_t>(h);
    hits += static_cast<std::size_t>(h);
  }
  return hits;
}

// mark_hits fused with applying a rank-1 change (a, s) += v * (alpha, beta) and with masking v for the
// next layer (mv = m o v): one pass over the layer.
std::size_t update_mark_hits(double* __restrict a, double* __restrict s, const double* __restrict m,
                             const double* __restrict v, double* __restrict mv, std::uint64_t* __restrict hit,
                             double alpha, double beta, double tau, std::size_t w) {
  std::size_t hits = 0;
  for (std::size_t j = 0; j < w; ++j) {
    const double aj = a[j] + alpha * v[j];
    const double sj = s[j] + beta * v[j];
    a[j] = aj;
    s[j] = sj;
    mv[j] = m[j] * v[j];
    const double dir = 1.0 - 2.0 * m[j];
    const bool h = (dir * sj > 0.0) & (dir * (aj + tau * sj) >= 0.0);
    hit[j] = static_cast<std::uint64_t>(h);
    hits += static_cast<std::size_t>(h);
  }
  return hits;
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

// All scratch of one estimate() call: the t = 0 forward of a block of probes, and the walking state of
// one side (each layer's affine form a + t*s along the line and its activation pattern). Nothing is
// allocated per region.
class walker {
 public:
  walker(const genscope::piecewise_linear_network& net, std::size_t input_dim, const walk_config& cfg)
      : net_(net), cfg_(cfg), dim_(input_dim) {
    const std::size_t layers = net.layer_count();
    if (layers == 0) throw std::runtime_error("exact: the backend's piecewise-linear view has no layers");
    hidden_ = layers - 1;
    width_.resize(layers);
    std::size_t in = dim_;
    std::size_t widest = 0;
    for (std::size_t k = 0; k < layers; ++k) {
      const genscope::affine_operator& op = net.layer(k);
      if (op.input_dim() != in)
        throw std::runtime_error("exact: layer " + std::to_string(k) + " of the piecewise-linear view takes " +
                                 std::to_string(op.input_dim()) + " inputs, its input has " + std::to_string(in));
      width_[k] = op.output_dim();
      in = width_[k];
      widest = std::max(widest, in);
    }
    block_x_.resize(block_rows * dim_);
    block_d_.resize(block_rows * dim_);
    block_a_.resize(layers);
    block_s_.resize(layers);
    block_m_.resize(hidden_);
    a_.resize(layers);
    s_.resize(layers);
    m_.resize(hidden_);
    for (std::size_t k = 0; k < layers; ++k) {
      block_a_[k].resize(block_rows * width_[k]);
      block_s_[k].resize(block_rows * width_[k]);
      a_[k].resize(width_[k]);
      s_[k].resize(width_[k]);
      if (k < hidden_) {
        block_m_[k].resize(block_rows * width_[k]);
        m_[k].resize(width_[k]);
      }
    }
    block_ma_.resize(block_rows * widest);
    block_ms_.resize(block_rows * widest);
    next_t_.assign(layers, inf);
    v_.resize(widest);
    v_next_.resize(widest);
    mv_.resize(widest);
    ma_.resize(widest);
    ms_.resize(widest);
    flipped_.reserve(widest);
    hit_.assign((widest + 7) / 8 * 8, 0);
    if (hidden_ > 0) heap_.reserve(width_[0]);
  }

  // Probes [first, first + count) of `probes` (count <= block_rows) into `out`.
  void solve_block(const genscope::probe_batch& probes, std::size_t first, std::size_t count,
                   genscope::interval_batch& out) {
    forward_block(probes, first, count);
    for (std::size_t r = 0; r < count; ++r) solve(probes, first + r, r, out);
  }

 private:
  // Values and slopes of every layer at t = 0, with the right-limit pattern along +d, as batched products.
  void forward_block(const genscope::probe_batch& probes, std::size_t first, std::size_t count) {
    std::fill(block_x_.begin() + static_cast<std::ptrdiff_t>(count * dim_), block_x_.end(), 0.0);
    std::fill(block_d_.begin() + static_cast<std::ptrdiff_t>(count * dim_), block_d_.end(), 0.0);
    for (std::size_t r = 0; r < count; ++r) {
      std::copy(probes.x.row(first + r), probes.x.row(first + r) + dim_, block_x_.data() + r * dim_);
      std::copy(probes.d.row(first + r), probes.d.row(first + r) + dim_, block_d_.data() + r * dim_);
    }
    net_.layer(0).apply(block_x_.data(), block_rows, block_a_[0].data());
    net_.layer(0).apply_linear(block_d_.data(), block_rows, block_s_[0].data());
    for (std::size_t k = 0; k < hidden_; ++k) {
      const std::size_t n = block_rows * width_[k];
      const double* a = block_a_[k].data();
      const double* s = block_s_[k].data();
      double* m = block_m_[k].data();
      for (std::size_t i = 0; i < n; ++i) {
        m[i] = active_at(a[i], s[i]);
        block_ma_[i] = m[i] * a[i];
        block_ms_[i] = m[i] * s[i];
      }
      net_.layer(k + 1).apply(block_ma_.data(), block_rows, block_a_[k + 1].data());
      net_.layer(k + 1).apply_linear(block_ms_.data(), block_rows, block_s_[k + 1].data());
    }
  }

  void solve(const genscope::probe_batch& probes, std::size_t p, std::size_t r, genscope::interval_batch& out) {
    const float* x = probes.x.row(p);
    const float* d = probes.d.row(p);
    bool finite = true;
    bool zero = true;
    for (std::size_t c = 0; c < dim_; ++c) {
      finite = finite && std::isfinite(x[c]) && std::isfinite(d[c]);
      zero = zero && d[c] == 0.0f;
    }
    const std::size_t classes = width_[hidden_];
    const double* logits = block_a_[hidden_].data() + r * classes;
    std::int32_t c0 = -1;
    bool finite_logits = true;
    for (std::size_t k = 0; k < classes; ++k) {
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
    for (std::size_t k = 0; k < classes; ++k)
      if (k != cu && logits[cu] - logits[k] <= rel_tol * (std::fabs(logits[cu]) + std::fabs(logits[k])))
        status |= genscope::status_degenerate;  // tied logits at t = 0
    bool unit_at_zero = false;
    for (std::size_t k = 0; k < hidden_; ++k) {
      const double* a = block_a_[k].data() + r * width_[k];
      for (std::size_t j = 0; j < width_[k]; ++j) unit_at_zero = unit_at_zero || a[j] == 0;
    }
    if (unit_at_zero) status |= genscope::status_degenerate;

    load(r, 1.0);
    bp_hi_.clear();
    const side_result hi = walk(c0, bp_hi_);
    load(r, -1.0);
    std::uint64_t extra = 0;
    if (unit_at_zero) {
      // A unit at zero at t = 0 takes the pattern of the side walked, and the slopes above it follow.
      forward_one();
      extra = 1;
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

  // Block row r into the walking state; sign -1 walks direction -d (same values, negated slopes).
  void load(std::size_t r, double sign) {
    for (std::size_t k = 0; k <= hidden_; ++k) {
      const std::size_t w = width_[k];
      std::copy(block_a_[k].data() + r * w, block_a_[k].data() + (r + 1) * w, a_[k].data());
      const double* s = block_s_[k].data() + r * w;
      for (std::size_t j = 0; j < w; ++j) s_[k][j] = sign * s[j];
      if (k < hidden_) std::copy(block_m_[k].data() + r * w, block_m_[k].data() + (r + 1) * w, m_[k].data());
    }
  }

  // Patterns (right-limit rule) and the forms above layer 0 from layer 0's form, one probe.
  void forward_one() {
    for (std::size_t k = 0; k < hidden_; ++k) {
      for (std::size_t j = 0; j < width_[k]; ++j) m_[k][j] = active_at(a_[k][j], s_[k][j]);
      recompute(k);
    }
  }

  // Form of layer k + 1 from the masked form of layer k: two vector products through the view.
  void recompute(std::size_t k) {
    const double* a = a_[k].data();
    const double* s = s_[k].data();
    const double* m = m_[k].data();
    for (std::size_t j = 0; j < width_[k]; ++j) {
      ma_[j] = m[j] * a[j];
      ms_[j] = m[j] * s[j];
    }
    net_.layer(k + 1).apply(ma_.data(), 1, a_[k + 1].data());
    net_.layer(k + 1).apply_linear(ms_.data(), 1, s_[k + 1].data());
  }

  // v_ <- A_{k+1} mv_ (mv_ = m_k o v_, the pending change of layer k masked by its pattern). A wide layer
  // above is reached column by column, skipping the inactive units (about half): each column of the
  // view is contiguous, so this reads half the matrix a matrix-vector product would. A narrow one (the
  // logits) takes the product, whose single call beats hundreds of short ones.
  void push(std::size_t k) {
    const genscope::affine_operator& op = net_.layer(k + 1);
    if (width_[k + 1] >= column_push_min_width) {
      std::fill(v_next_.begin(), v_next_.begin() + static_cast<std::ptrdiff_t>(width_[k + 1]), 0.0);
      for (std::size_t j = 0; j < width_[k]; ++j)
        if (mv_[j] != 0) op.add_column(j, mv_[j], v_next_.data());
    } else {
      op.apply_linear(mv_.data(), 1, v_next_.data());
    }
    std::swap(v_, v_next_);
  }

  // Units of hidden layer k moving towards a flip that reach zero by tau, marked in hit_ (mark_hits).
  std::size_t count_hits(std::size_t k, double tau) {
    return mark_hits(a_[k].data(), s_[k].data(), m_[k].data(), hit_.data(), tau, width_[k]);
  }

  // The same after applying the pending rank-1 change form[k] += v * (alpha, beta); mv_ = m o v.
  std::size_t update_count_hits(std::size_t k, double alpha, double beta, double tau) {
    return update_mark_hits(a_[k].data(), s_[k].data(), m_[k].data(), v_.data(), mv_.data(), hit_.data(), alpha,
                            beta, tau, width_[k]);
  }

  // Second pass over the units count_hits marked in hidden layer k: those crossing by te1 flip now (the
  // right-limit rule), the earliest later crossing becomes next_t_[k] (inf when none: a lower layer's
  // event comes first).
  void resolve(std::size_t k, double te1) {
    const double* a = a_[k].data();
    const double* s = s_[k].data();
    double* m = m_[k].data();
    const std::size_t w = width_[k];
    double next = inf;
    const std::uint64_t* hit = hit_.data();
    for (std::size_t j0 = 0; j0 < w; j0 += 8) {
      // hit_ is padded with zeros to a multiple of 8: skip eight clear flags at a time.
      if ((hit[j0] | hit[j0 + 1] | hit[j0 + 2] | hit[j0 + 3] | hit[j0 + 4] | hit[j0 + 5] | hit[j0 + 6] |
           hit[j0 + 7]) == 0)
        continue;
      for (std::size_t j = j0; j < std::min(j0 + 8, w); ++j) {
        if (hit[j] == 0) continue;
        const double t = -a[j] / s[j];
        if (t <= te1) {
          m[j] = 1.0 - m[j];
          flipped_.push_back(static_cast<std::uint32_t>(j));
        } else {
          next = std::min(next, t);
        }
      }
    }
    next_t_[k] = next;
  }

  // Flips of hidden layer k >= 1 at an event (te1: the event's t widened by rel_tol) and its next crossing.
  void scan(std::size_t k, double te1, double tau, bool pending, double alpha, double beta) {
    const double limit = std::max(tau, te1);
    const std::size_t hits = pending ? update_count_hits(k, alpha, beta, limit) : count_hits(k, limit);
    if (hits > 0)
      resolve(k, te1);
    else
      next_t_[k] = inf;
  }

  // Crosses the breakpoint at t_e, layer by layer from the lowest layer with a crossing there: flips its
  // units, updates the form above (a rank-1 change through the view's add_column for one flip, pushed up
  // as one vector product per layer while no other unit flips; else two vector products per layer),
  // then applies the right-limit rule to the next layer at t_e, and so on. `full` recomputes every form
  // from layer 0 instead. Returns the number of flips.
  std::size_t cross(double t_e, bool full) {
    const double te1 = t_e + t_e * rel_tol;
    std::size_t src = hidden_;
    if (!heap_.empty() && heap_.front().t <= te1) {
      src = 0;
    } else {
      for (std::size_t k = 1; k < hidden_; ++k)
        if (next_t_[k] <= te1) {
          src = k;
          break;
        }
    }
    const std::size_t start = full ? 0 : src;
    double bound = cfg_.t_max;  // next crossing below the layer being scanned
    for (std::size_t k = 1; k < start; ++k) bound = std::min(bound, next_t_[k]);
    if (start > 0 && !heap_.empty()) bound = std::min(bound, heap_.front().t);

    enum class change { none, pending, dense };  // how form[k] changed in this event
    change state = full ? change::dense : change::none;
    double alpha = 0;
    double beta = 0;
    std::size_t total = 0;
    for (std::size_t k = start; k < hidden_; ++k) {
      flipped_.clear();
      if (k == 0) {
        while (!heap_.empty() && heap_.front().t <= te1) {
          std::pop_heap(heap_.begin(), heap_.end(), later_first{});
          const std::uint32_t u = heap_.back().unit;
          heap_.pop_back();
          m_[0][u] = 1.0 - m_[0][u];
          flipped_.push_back(u);
        }
        if (!heap_.empty()) bound = std::min(bound, heap_.front().t);
      } else {
        scan(k, te1, bound, state == change::pending, alpha, beta);
        bound = std::min(bound, next_t_[k]);
      }
      total += flipped_.size();

      if (state == change::dense || (state == change::pending && !flipped_.empty())) {
        recompute(k);
        state = change::dense;
      } else if (state == change::pending) {
        push(k);
      } else if (flipped_.size() == 1) {
        const std::uint32_t u = flipped_[0];
        const double sign = m_[k][u] > 0 ? 1.0 : -1.0;
        std::fill(v_.begin(), v_.begin() + static_cast<std::ptrdiff_t>(width_[k + 1]), 0.0);
        net_.layer(k + 1).add_column(u, 1.0, v_.data());
        alpha = sign * a_[k][u];
        beta = sign * s_[k][u];
        state = change::pending;
      } else if (!flipped_.empty()) {
        for (const std::uint32_t u : flipped_) {
          const double sign = m_[k][u] > 0 ? 1.0 : -1.0;
          net_.layer(k + 1).add_column(u, sign * a_[k][u], a_[k + 1].data());
          net_.layer(k + 1).add_column(u, sign * s_[k][u], s_[k + 1].data());
        }
        state = change::dense;
      }
    }
    if (state == change::pending) {
      double* a = a_[hidden_].data();
      double* s = s_[hidden_].data();
      for (std::size_t j = 0; j < width_[hidden_]; ++j) {
        a[j] += alpha * v_[j];
        s[j] += beta * v_[j];
      }
    }
    return total;
  }

  enum class outcome { holds, changed, nonfinite };

  // Whether a class overtakes c0 in the region [t_cur, t_end] (logits affine there), and where. A root at
  // t_end is left to the next region, whose slopes decide it; at_limit: t_end is T.
  outcome first_change(std::size_t c0, double t_cur, double t_end, bool at_limit, double& t_star,
                       std::int32_t& cls) const {
    const double* a = a_[hidden_].data();
    const double* s = s_[hidden_].data();
    const std::size_t classes = width_[hidden_];
    const double ac = a[c0];
    const double sc = s[c0];
    double best = inf;
    for (std::size_t k = 0; k < classes; ++k) {
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

  // The class just past t: the largest logit there, among (near-)tied logits the largest slope, then
  // the lowest index.
  std::int32_t right_limit_class(double t) const {
    const double* a = a_[hidden_].data();
    const double* s = s_[hidden_].data();
    const std::size_t classes = width_[hidden_];
    double top = -inf;
    double scale = 0;
    for (std::size_t k = 0; k < classes; ++k) {
      top = std::max(top, a[k] + t * s[k]);
      scale = std::max(scale, std::fabs(a[k]) + t * std::fabs(s[k]));
    }
    const double tol = rel_tol * scale;
    std::size_t best = classes;
    for (std::size_t k = 0; k < classes; ++k)
      if (a[k] + t * s[k] >= top - tol && (best == classes || s[k] > s[best])) best = k;
    return static_cast<std::int32_t>(best);
  }

  // One side: from the loaded state (patterns and forms at t = 0+ along the walking direction) up to the
  // first class change, T or max_regions. Breakpoints (|t|, ascending) go to `breakpoints` if recording.
  side_result walk(std::int32_t c0, std::vector<double>& breakpoints) {
    side_result res;
    heap_.clear();
    if (hidden_ > 0) {
      const double* a = a_[0].data();
      const double* s = s_[0].data();
      for (std::size_t u = 0; u < width_[0]; ++u) {
        if (s[u] == 0) continue;  // constant along the line: never flips
        const double t = -a[u] / s[u];
        if (t > 0 && t <= cfg_.t_max) heap_.push_back({t, static_cast<std::uint32_t>(u)});
      }
      std::make_heap(heap_.begin(), heap_.end(), later_first{});
    }
    double bound = heap_.empty() ? cfg_.t_max : std::min(cfg_.t_max, heap_.front().t);
    for (std::size_t k = 1; k < hidden_; ++k) {
      flipped_.clear();
      scan(k, 0.0, bound, false, 0, 0);
      // The t = 0 pattern already follows the right-limit rule; should rounding say otherwise, the
      // forms above follow the scan's verdict.
      if (!flipped_.empty()) recompute(k);
      bound = std::min(bound, next_t_[k]);
    }

    const auto c = static_cast<std::size_t>(c0);
    double t_cur = 0;
    bool breakpoint_at_t_cur = false;
    std::int64_t last_flips = 0;
    std::int64_t since_recompute = 1;
    for (;;) {
      double t_end = cfg_.t_max;
      bool at_limit = true;
      if (!heap_.empty() && heap_.front().t < t_end) {
        t_end = heap_.front().t;
        at_limit = false;
      }
      for (std::size_t k = 1; k < hidden_; ++k)
        if (next_t_[k] < t_end) {
          t_end = next_t_[k];
          at_limit = false;
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
      const std::size_t flips = cross(t_end, full);
      if (full) {
        ++res.cost;
        since_recompute = 1;
      }
      t_cur = t_end;
      breakpoint_at_t_cur = flips > 0;
      if (flips == 0) continue;  // nothing switched (a recomputation settled it): the same region goes on
      if (res.regions >= cfg_.max_regions) {
        res.t = t_end;
        res.cls = -1;
        res.status |= genscope::status_max_regions;
        return res;
      }
      ++res.regions;
      last_flips = static_cast<std::int64_t>(flips);
      res.flips += last_flips;
      if (flips > 1) res.status |= genscope::status_degenerate;
      if (!full) ++since_recompute;
      if (cfg_.record) breakpoints.push_back(t_end);
    }
  }

  const genscope::piecewise_linear_network& net_;
  const walk_config& cfg_;
  std::size_t dim_;
  std::size_t hidden_ = 0;           // ReLU layers: operators 0 .. hidden_ - 1; operator hidden_ gives logits
  std::vector<std::size_t> width_;   // output width of each operator

  // t = 0 forward of one block (row-major, block_rows rows).
  std::vector<double> block_x_, block_d_, block_ma_, block_ms_;
  std::vector<std::vector<double>> block_a_, block_s_, block_m_;

  // Walking state of one side: pre-activation of operator k is a_[k] + t * s_[k]; m_[k] is 1 (active) or 0.
  std::vector<std::vector<double>> a_, s_, m_;
  std::vector<double> next_t_;       // earliest crossing of hidden layer k >= 1 (inf: none before a lower one)
  std::vector<crossing> heap_;       // layer 0's crossings still ahead
  std::vector<double> v_, v_next_, mv_, ma_, ms_;
  std::vector<std::uint32_t> flipped_;
  std::vector<std::uint64_t> hit_;   // per unit of the layer being scanned: 1 if it may cross before the bound
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
    const genscope::piecewise_linear_network* view = net.piecewise_linear();
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
    walker w(*view, dim, cfg_);
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

GENSCOPE_PLUGIN_WITH_CAPABILITIES(genscope::plugin_kind::estimator, "exact", "1.0.0",
                                  "certified generalization interval by walking x + t*d region by region through "
                                  "the ReLU network; counts regions and unit flips",
                                  options, &create, genscope::capability_piecewise_linear)
