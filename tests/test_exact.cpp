// Oracle tests of the exact region-walk estimator: dense sampling, an ExactLine-style partition, bisection, degenerate nets.
#include "oracles.hpp"
#include "support.hpp"

#include "h5/h5.hpp"

#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/interval_estimator.hpp>
#include <genscope/mlp.hpp>
#include <genscope/plugin_registry.hpp>
#include <genscope/random.hpp>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

using namespace genscope;
using genscope::testing::affine_layer_d;
using genscope::testing::line_interval;
using genscope::testing::line_partition_result;
using genscope::testing::temp_dir;

namespace {

// ---- networks and backends -----------------------------------------------------------------------

/// He-normal weights, small normal biases, in float (as the native engine stores them).
std::vector<dense_layer> random_layers(std::size_t in, const std::vector<std::size_t>& widths, std::uint64_t seed,
                                       double bias_scale = 0.1) {
  std::vector<dense_layer> layers;
  rng gen(seed, stream_key("exact oracle test"));
  for (std::size_t out : widths) {
    dense_layer layer;
    layer.weight = matrix(out, in);
    const double scale = std::sqrt(2.0 / static_cast<double>(in));
    for (float& w : layer.weight.data) w = static_cast<float>(gen.normal() * scale);
    layer.bias.resize(out);
    for (float& b : layer.bias) b = static_cast<float>(bias_scale * gen.normal());
    layers.push_back(std::move(layer));
    in = out;
  }
  return layers;
}

/// A model file of `layers` opened through the native backend plugin.
std::shared_ptr<network_backend> native_backend(const temp_dir& dir, const std::string& name,
                                                const std::vector<dense_layer>& layers) {
  const std::string path = dir / (name + ".h5");
  save_model(path, mlp(layers, {layers.front().weight.cols}), training_record{});
  option_set o;
  o.set("path", path);
  return testing::build_plugins().create_backend("native", o);
}

/// A dense affine operator with plain loops: crafted (duplicate, exactly tied) weights stay exact.
class loop_affine final : public affine_operator {
 public:
  explicit loop_affine(const affine_layer_d& l) : l_(l) {}
  std::size_t input_dim(std::size_t) const override { return l_.in; }
  std::size_t output_dim() const override { return l_.out; }
  void add_bias(std::size_t rows, double* y) const override {
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t i = 0; i < l_.out; ++i) y[r * l_.out + i] += l_.b[i];
  }
  void add_linear(std::size_t, const double* x, std::size_t rows, double* y) const override {
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t i = 0; i < l_.out; ++i) {
        double s = 0;
        for (std::size_t j = 0; j < l_.in; ++j) s += l_.w[i * l_.in + j] * x[r * l_.in + j];
        y[r * l_.out + i] += s;
      }
  }
  void add_column(std::size_t, std::size_t j, double scale, double* y) const override {
    for (std::size_t i = 0; i < l_.out; ++i) y[i] += scale * l_.w[i * l_.in + j];
  }
  void add_transposed(std::size_t, const double* y, std::size_t rows, double* x) const override {
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t j = 0; j < l_.in; ++j) {
        double s = 0;
        for (std::size_t i = 0; i < l_.out; ++i) s += l_.w[i * l_.in + j] * y[r * l_.out + i];
        x[r * l_.in + j] += s;
      }
  }

 private:
  affine_layer_d l_;
};

/// The layers with a ReLU between consecutive ones, as a piecewise-linear graph.
std::unique_ptr<piecewise_linear_graph> loop_network(const std::vector<affine_layer_d>& layers) {
  auto g = std::make_unique<piecewise_linear_graph>(layers.front().in);
  std::size_t last = 0;
  for (std::size_t k = 0; k < layers.size(); ++k) {
    last = g->add_affine(std::make_unique<loop_affine>(layers[k]), {last});
    if (k + 1 == layers.size()) break;
    switch_layer relu;
    relu.input_dim = relu.output_dim = layers[k].out;
    last = g->add_switch(relu, last);
  }
  return g;
}

/// A backend over double-precision layers written by the test (no plugin, no float weights).
class test_backend final : public network_backend {
 public:
  explicit test_backend(std::vector<affine_layer_d> layers)
      : layers_(std::move(layers)), view_(loop_network(layers_)) {}
  std::vector<std::size_t> input_shape() const override { return {layers_.front().in}; }
  std::size_t class_count() const override { return layers_.back().out; }
  void logits(matrix_view x, matrix& out) const override {
    out.resize(x.rows, class_count());
    std::vector<double> in(x.cols), f;
    for (std::size_t r = 0; r < x.rows; ++r) {
      for (std::size_t j = 0; j < x.cols; ++j) in[j] = x(r, j);
      testing::naive_forward(layers_, in.data(), f);
      for (std::size_t k = 0; k < f.size(); ++k) out(r, k) = static_cast<float>(f[k]);
    }
  }
  std::string model_digest() const override { return "test"; }
  std::string describe() const override { return "test network"; }
  const piecewise_linear_graph* piecewise_linear() const override { return view_.get(); }
  const std::vector<affine_layer_d>& layers() const { return layers_; }

 private:
  std::vector<affine_layer_d> layers_;
  std::unique_ptr<piecewise_linear_graph> view_;
};

/// The same network without the view: the estimator must not crash on it.
class no_view_backend final : public network_backend {
 public:
  std::vector<std::size_t> input_shape() const override { return {2}; }
  std::size_t class_count() const override { return 2; }
  void logits(matrix_view x, matrix& out) const override {
    out.resize(x.rows, 2);
    std::fill(out.data.begin(), out.data.end(), 0.0f);
  }
  std::string model_digest() const override { return "none"; }
  std::string describe() const override { return "logits only"; }
};

affine_layer_d layer_d(std::size_t in, std::size_t out, std::vector<double> w, std::vector<double> b) {
  affine_layer_d l;
  l.in = in;
  l.out = out;
  l.w = std::move(w);
  l.b = std::move(b);
  REQUIRE(l.w.size() == in * out);
  REQUIRE(l.b.size() == out);
  return l;
}

// ---- estimators and probes --------------------------------------------------------------------------

struct exact_options {
  double T = 4.0;
  std::int64_t max_regions = 100000;
  bool record = false;
  std::int64_t recompute_every = 64;
};

std::shared_ptr<interval_estimator> make_exact(const exact_options& eo = {}) {
  option_set o;
  o.set("T", eo.T);
  o.set("max_regions", eo.max_regions);
  o.set("record_breakpoints", eo.record);
  o.set("recompute_every", eo.recompute_every);
  return testing::build_plugins().create_estimator("exact", o);
}

interval_batch estimate(const interval_estimator& e, const network_backend& net, const probe_batch& p) {
  interval_batch out;
  e.estimate(net, p, out);
  REQUIRE(out.size() == p.size());
  REQUIRE(out.regions_lo.size() == p.size());
  REQUIRE(out.regions_hi.size() == p.size());
  REQUIRE(out.flips_lo.size() == p.size());
  REQUIRE(out.flips_hi.size() == p.size());
  return out;
}

/// Gaussian anchors and directions (|d| about d_norm).
probe_batch random_probes(std::size_t count, std::size_t dim, std::uint64_t seed, double d_norm = 1.0) {
  probe_batch p;
  p.resize(count, dim);
  rng gen(seed, stream_key("exact probes"));
  for (float& v : p.x.data) v = static_cast<float>(gen.normal());
  for (float& v : p.d.data) v = static_cast<float>(gen.normal() * d_norm / std::sqrt(static_cast<double>(dim)));
  for (std::size_t k = 0; k < count; ++k) p.kind[k] = "random";
  return p;
}

probe_batch probes_from(const std::vector<std::vector<double>>& xs, const std::vector<std::vector<double>>& ds) {
  probe_batch p;
  p.resize(xs.size(), xs.front().size());
  for (std::size_t k = 0; k < xs.size(); ++k)
    for (std::size_t j = 0; j < xs[k].size(); ++j) {
      p.x(k, j) = static_cast<float>(xs[k][j]);
      p.d(k, j) = static_cast<float>(ds[k][j]);
    }
  return p;
}

std::vector<double> row_d(const matrix& m, std::size_t k) { return {m.row(k), m.row(k) + m.cols}; }

struct oracle_line {
  line_partition_result part;
  line_interval iv;
};

oracle_line oracle(const std::vector<affine_layer_d>& layers, const probe_batch& p, std::size_t k, double t_max) {
  const std::vector<double> x = row_d(p.x, k), d = row_d(p.d, k);
  oracle_line o;
  o.part = testing::line_partition(layers, x.data(), d.data(), t_max);
  o.iv = testing::interval_from_partition(o.part);
  return o;
}

bool close_end(double got, double want) { return std::fabs(got - want) <= 1e-9 * std::fabs(want) + 1e-12; }

std::string describe_line(const interval_batch& out, std::size_t k) {
  return fmt::format("walk: class0 {} t_lo {:.17g} (class {}, regions {}, flips {}) t_hi {:.17g} (class {}, regions {}, "
                     "flips {}) status {} cost {}",
                     out.class0[k], out.t_lo[k], out.class_lo[k], out.regions_lo[k], out.flips_lo[k], out.t_hi[k],
                     out.class_hi[k], out.regions_hi[k], out.flips_hi[k], out.status[k], out.cost[k]);
}

std::string describe_oracle(const line_interval& o) {
  return fmt::format("oracle: class0 {} t_lo {:.17g} (class {}, regions {}, flips {}{}) t_hi {:.17g} (class {}, "
                     "regions {}, flips {}{})",
                     o.class0, o.t_lo, o.class_lo, o.regions_lo, o.flips_lo, o.clipped_lo ? ", clipped" : "", o.t_hi,
                     o.class_hi, o.regions_hi, o.flips_hi, o.clipped_hi ? ", clipped" : "");
}

/// Tallies over many lines: the cases set aside as numerically ambiguous must stay a small fraction.
struct tally {
  std::size_t lines = 0, sides = 0, close_sides = 0, tiny_margin = 0, failures = 0;
};

/// The walk's result for probe k against the partition oracle. Ends always; classes and
/// region counts unless two events on that side lie within 1e-9 (then rounding decides).
void compare_with_partition(const interval_batch& out, std::size_t k, const line_interval& o, double t_max,
                            tally& t, const std::string& what) {
  ++t.lines;
  INFO(what << " probe " << k << "\n" << describe_line(out, k) << "\n" << describe_oracle(o));
  if (o.margin0 <= 1e-12) {  // the class at the anchor depends on the summation order
    ++t.tiny_margin;
    return;
  }
  bool ok = out.class0[k] == o.class0;
  ok = ok && close_end(out.t_hi[k], o.t_hi) && close_end(out.t_lo[k], o.t_lo);
  ok = ok && ((out.status[k] & status_clipped_hi) != 0) == o.clipped_hi;
  ok = ok && ((out.status[k] & status_clipped_lo) != 0) == o.clipped_lo;
  ok = ok && (out.status[k] & (status_zero_direction | status_nonfinite | status_max_regions)) == 0;
  if (o.clipped_hi) ok = ok && out.t_hi[k] == t_max && out.class_hi[k] == -1;
  if (o.clipped_lo) ok = ok && out.t_lo[k] == -t_max && out.class_lo[k] == -1;
  t.sides += 2;
  if (o.close_hi) {
    ++t.close_sides;
  } else {
    ok = ok && out.class_hi[k] == o.class_hi && out.regions_hi[k] == o.regions_hi && out.flips_hi[k] == o.flips_hi;
  }
  if (o.close_lo) {
    ++t.close_sides;
  } else {
    ok = ok && out.class_lo[k] == o.class_lo && out.regions_lo[k] == o.regions_lo && out.flips_lo[k] == o.flips_lo;
  }
  ok = ok && out.cost[k] >= 1;
  if (!ok) ++t.failures;
  CHECK(ok);
}

void require_small_fraction(const tally& t, const std::string& what) {
  INFO(what << ": " << t.lines << " lines, " << t.close_sides << " of " << t.sides
            << " sides with events closer than 1e-9, " << t.tiny_margin << " anchors on a class tie");
  CHECK(t.lines > 0);
  CHECK(t.close_sides * 50 <= t.sides + 50);
  CHECK(t.tiny_margin * 50 <= t.lines + 50);
  CHECK(t.failures == 0);
}

// ---- dense sampling oracle --------------------------------------------------------------------------

/// Evaluates the network along x + s d at many s, with preallocated buffers.
class line_sampler {
 public:
  line_sampler(const std::vector<affine_layer_d>& layers, std::vector<double> x, std::vector<double> d)
      : layers_(layers), x_(std::move(x)), d_(std::move(d)) {
    std::size_t hidden = 0, widest = x_.size();
    for (std::size_t l = 0; l + 1 < layers_.size(); ++l) hidden += layers_[l].out;
    for (const auto& l : layers_) widest = std::max(widest, l.out);
    a_.resize(widest);
    z_.resize(widest);
    pre.resize(hidden);
    logits.resize(layers_.back().out);
  }

  /// Fills `pre` (every hidden pre-activation) and `logits`; returns the class.
  int eval(double s) {
    const std::size_t n = x_.size();
    for (std::size_t j = 0; j < n; ++j) a_[j] = x_[j] + s * d_[j];
    std::size_t at = 0;
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      testing::apply_affine(layers_[l], a_.data(), z_.data());
      if (l + 1 == layers_.size()) break;
      for (std::size_t u = 0; u < layers_[l].out; ++u) {
        pre[at + u] = z_[u];
        a_[u] = std::max(0.0, z_[u]);
      }
      at += layers_[l].out;
    }
    for (std::size_t k = 0; k < logits.size(); ++k) logits[k] = z_[k];
    return testing::argmax_low(logits);
  }

  std::vector<double> pre, logits;

 private:
  const std::vector<affine_layer_d>& layers_;
  std::vector<double> x_, d_, a_, z_;
};

/// One side sampled at s = j T / N. Each sampling interval is certified to hold at most one
/// breakpoint, else the side is ambiguous: the lowest layer that changes sign inside an interval
/// is affine there, so it shows as a sign change between the samples; with exactly one such
/// change, the crossing s* is solved and every other unit must keep its sign at s*.
struct sampled_side {
  int class0 = -1;
  bool ambiguous = false, clipped = false;
  double s_before = 0, s_after = 0;  ///< the class first changes in (s_before, s_after]
  int next_class = -1;
  long regions = 1, flips = 0;
};

sampled_side sample_side(const std::vector<affine_layer_d>& layers, const std::vector<double>& x,
                         const std::vector<double>& d, double t_max, std::size_t steps) {
  sampled_side r;
  line_sampler line(layers, x, d);
  const int c0 = r.class0 = line.eval(0.0);
  std::vector<double> prev = line.pre, cur;
  const double step = t_max / static_cast<double>(steps);
  for (std::size_t j = 1; j <= steps; ++j) {
    const double s0 = step * static_cast<double>(j - 1);
    const double s1 = j == steps ? t_max : step * static_cast<double>(j);
    const int c = line.eval(s1);
    long flips = 0;
    std::size_t flipped = 0;
    for (std::size_t u = 0; u < prev.size(); ++u)
      if ((prev[u] > 0) != (line.pre[u] > 0)) {
        ++flips;
        flipped = u;
      }
    if (flips >= 2 || (flips == 1 && c != c0)) {
      r.ambiguous = true;
      return r;
    }
    cur = line.pre;
    if (flips == 1) {
      const double za = prev[flipped], zb = cur[flipped];
      const double s_star = s0 + (s1 - s0) * (za / (za - zb));
      const int c_star = line.eval(s_star);
      bool single = c_star == c0;
      for (std::size_t u = 0; u < cur.size() && single; ++u)
        if (u != flipped && ((line.pre[u] > 0) != (cur[u] > 0))) single = false;
      if (!single) {
        r.ambiguous = true;
        return r;
      }
      ++r.regions;
      ++r.flips;
    }
    if (c != c0) {
      // No breakpoint inside: the logits are affine here, so the classes form c0 ... c0 k ... k
      // unless a third class shows up between the samples.
      for (int q = 1; q < 16 && !r.ambiguous; ++q) {
        const int cq = line.eval(s0 + (s1 - s0) * q / 16.0);
        if (cq != c0 && cq != c) r.ambiguous = true;
      }
      r.s_before = s0;
      r.s_after = s1;
      r.next_class = c;
      return r;
    }
    prev.swap(cur);
  }
  r.clipped = true;
  r.s_before = r.s_after = t_max;
  return r;
}

/// Compares one side of the walk (outward coordinate s = |t|) with the sampling; false when they disagree.
bool side_agrees(const sampled_side& s, double s_walk, int class_walk, std::int64_t regions_walk,
                 std::int64_t flips_walk, bool clipped_walk, double t_max) {
  if (s.clipped) return clipped_walk && s_walk == t_max && class_walk == -1 && regions_walk == s.regions &&
                        flips_walk == s.flips;
  return !clipped_walk && s_walk >= s.s_before - 1e-12 && s_walk <= s.s_after + 1e-12 && class_walk == s.next_class &&
         regions_walk == s.regions && flips_walk == s.flips;
}

// ---- trained Fashion-MNIST networks -----------------------------------------------------------------

struct trained_net {
  std::vector<dense_layer> layers;
  double train_accuracy = 0;
  std::shared_ptr<network_backend> backend;
};

struct fmnist_setup {
  temp_dir dir{"exact-fmnist"};
  dataset real, random;
  trained_net real_net, random_net;
};

trained_net train_on(const temp_dir& dir, const dataset& data, const std::string& name) {
  train_config c;
  c.hidden = {64, 64};
  c.epochs = 30;
  c.batch_size = 64;
  c.seed = 7;
  training_record record;
  const mlp net = train_mlp(data, nullptr, c, record, {});
  trained_net t;
  t.layers = net.layers();
  t.train_accuracy = record.epochs.back().train_accuracy;
  t.backend = native_backend(dir, name, t.layers);
  return t;
}

/// Two 784-64-64-10 MLPs trained on 500 Fashion-MNIST images, real and permuted labels (once per process).
const fmnist_setup& fmnist() {
  static const std::unique_ptr<fmnist_setup> s = [] {
    auto setup = std::make_unique<fmnist_setup>();
    dataset_spec spec;
    spec.source = "idx";
    spec.subset = 500;
    spec.seed = 1;
    setup->real = build_dataset(spec);
    spec.labels_mode = label_mode::random;
    setup->random = build_dataset(spec);
    setup->real_net = train_on(setup->dir, setup->real, "real");
    setup->random_net = train_on(setup->dir, setup->random, "random");
    return setup;
  }();
  return *s;
}

/// Pairwise probes (x_i, x_j - x_i) between same-label samples, then random directions of the
/// same typical length.
probe_batch fmnist_probes(const dataset& data, std::size_t pairs, std::size_t randoms, std::uint64_t seed) {
  const std::size_t n = data.dim();
  probe_batch p;
  p.resize(pairs + randoms, n);
  rng gen(seed, stream_key("exact fmnist probes"));
  double mean_norm = 0;
  for (std::size_t k = 0; k < pairs; ++k) {
    const std::size_t i = gen.below(data.size());
    std::size_t j = i;
    while (j == i || data.labels[j] != data.labels[i]) j = gen.below(data.size());
    double norm = 0;
    for (std::size_t c = 0; c < n; ++c) {
      p.x(k, c) = data.x(i, c);
      p.d(k, c) = data.x(j, c) - data.x(i, c);
      norm += static_cast<double>(p.d(k, c)) * p.d(k, c);
    }
    mean_norm += std::sqrt(norm) / static_cast<double>(pairs);
    p.anchor[k] = static_cast<std::int64_t>(i);
    p.partners[k] = {static_cast<std::int64_t>(j), -1};
    p.kind[k] = "pairwise";
  }
  for (std::size_t k = pairs; k < pairs + randoms; ++k) {
    const std::size_t i = gen.below(data.size());
    std::vector<double> d(n);
    double norm = 0;
    for (double& v : d) {
      v = gen.normal();
      norm += v * v;
    }
    for (std::size_t c = 0; c < n; ++c) {
      p.x(k, c) = data.x(i, c);
      p.d(k, c) = static_cast<float>(d[c] * mean_norm / std::sqrt(norm));
    }
    p.anchor[k] = static_cast<std::int64_t>(i);
    p.kind[k] = "random";
  }
  return p;
}

}  // namespace

// ---- 1. dense sampling ----------------------------------------------------------------------------

TEST_CASE("exact agrees with dense sampling of small random networks", "[interface]") {
  temp_dir dir("exact-sampling");
  const double t_max = 4.0;
  const std::size_t steps = 20000;
  const auto walk = make_exact({t_max});
  std::size_t sides = 0, ambiguous = 0, clipped = 0, lines = 0;
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    rng shape(seed, stream_key("exact sampling shapes"));
    const std::size_t in = 2 + shape.below(7);
    const std::size_t depth = 1 + seed % 4;
    std::vector<std::size_t> widths;
    for (std::size_t l = 0; l < depth; ++l) widths.push_back(4 + shape.below(13));
    widths.push_back(2 + shape.below(5));
    const auto layers = random_layers(in, widths, seed);
    const auto layers_d = testing::to_double(layers);
    const auto backend = native_backend(dir, "net" + std::to_string(seed), layers);
    const probe_batch p = random_probes(50, in, 100 + seed);
    const interval_batch out = estimate(*walk, *backend, p);
    for (std::size_t k = 0; k < p.size(); ++k) {
      ++lines;
      std::vector<double> x = row_d(p.x, k), d = row_d(p.d, k), minus_d(d);
      for (double& v : minus_d) v = -v;
      const sampled_side hi = sample_side(layers_d, x, d, t_max, steps);
      const sampled_side lo = sample_side(layers_d, x, minus_d, t_max, steps);
      INFO("network " << seed << " (" << in << " inputs, widths " << fmt::format("{}", fmt::join(widths, "-"))
                      << ") probe " << k << "\n"
                      << describe_line(out, k) << "\nsampled hi (" << hi.s_before << ", " << hi.s_after
                      << "] class " << hi.next_class << " regions " << hi.regions << " flips " << hi.flips
                      << (hi.clipped ? " clipped" : "") << "\nsampled lo (" << -lo.s_after << ", " << -lo.s_before
                      << "] class " << lo.next_class << " regions " << lo.regions << " flips " << lo.flips
                      << (lo.clipped ? " clipped" : ""));
      CHECK((out.status[k] & (status_zero_direction | status_nonfinite | status_max_regions)) == 0);
      CHECK(out.class0[k] == hi.class0);
      for (const auto* side : {&hi, &lo}) {
        ++sides;
        ambiguous += side->ambiguous;
        clipped += side->clipped;
      }
      if (!hi.ambiguous)
        CHECK(side_agrees(hi, out.t_hi[k], out.class_hi[k], out.regions_hi[k], out.flips_hi[k],
                          (out.status[k] & status_clipped_hi) != 0, t_max));
      if (!lo.ambiguous)
        CHECK(side_agrees(lo, -out.t_lo[k], out.class_lo[k], out.regions_lo[k], out.flips_lo[k],
                          (out.status[k] & status_clipped_lo) != 0, t_max));
    }
  }
  WARN("dense sampling: " << lines << " lines, " << sides << " sides, " << ambiguous
                          << " set aside (two breakpoints or class events closer than T/" << steps << "), "
                          << clipped << " clipped");
  CHECK(ambiguous * 10 <= sides);
  CHECK(clipped < sides);
  CHECK(clipped > 0);
}

TEST_CASE("the partition oracle agrees with dense sampling (oracle self-check)", "[interface]") {
  const double t_max = 4.0;
  std::size_t sides = 0, ambiguous = 0, close = 0;
  for (std::uint64_t seed = 0; seed < 12; ++seed) {
    rng shape(seed, stream_key("exact oracle shapes"));
    const std::size_t in = 2 + shape.below(7);
    std::vector<std::size_t> widths;
    for (std::size_t l = 0; l < 1 + seed % 4; ++l) widths.push_back(4 + shape.below(13));
    widths.push_back(2 + shape.below(5));
    const auto layers_d = testing::to_double(random_layers(in, widths, 500 + seed));
    const probe_batch p = random_probes(20, in, 600 + seed);
    for (std::size_t k = 0; k < p.size(); ++k) {
      std::vector<double> x = row_d(p.x, k), d = row_d(p.d, k), minus_d(d);
      for (double& v : minus_d) v = -v;
      const line_interval o = oracle(layers_d, p, k, t_max).iv;
      const sampled_side hi = sample_side(layers_d, x, d, t_max, 20000);
      const sampled_side lo = sample_side(layers_d, x, minus_d, t_max, 20000);
      INFO("network " << seed << " probe " << k << "\n" << describe_oracle(o));
      CHECK(o.class0 == hi.class0);
      sides += 2;
      ambiguous += hi.ambiguous + lo.ambiguous;
      close += o.close_hi + o.close_lo;
      if (!hi.ambiguous && !o.close_hi)
        CHECK(side_agrees(hi, o.t_hi, o.class_hi, o.regions_hi, o.flips_hi, o.clipped_hi, t_max));
      if (!lo.ambiguous && !o.close_lo)
        CHECK(side_agrees(lo, -o.t_lo, o.class_lo, o.regions_lo, o.flips_lo, o.clipped_lo, t_max));
    }
  }
  WARN("self-check: " << sides << " sides, " << ambiguous << " ambiguous for sampling, " << close << " close");
  CHECK(ambiguous * 10 <= sides);
  CHECK(close * 50 <= sides);
}

// ---- 2. ExactLine-style partition -----------------------------------------------------------------

TEST_CASE("exact agrees with the layer-by-layer partition on random networks", "[interface]") {
  temp_dir dir("exact-partition");
  const auto walk = make_exact({});
  tally t;
  for (std::uint64_t seed = 0; seed < 40; ++seed) {
    rng shape(seed, stream_key("exact partition shapes"));
    const std::size_t in = 2 + shape.below(15);
    const std::size_t depth = 1 + shape.below(5);
    std::vector<std::size_t> widths;
    for (std::size_t l = 0; l < depth; ++l) widths.push_back(4 + shape.below(29));
    widths.push_back(2 + shape.below(9));
    const auto layers = random_layers(in, widths, 1000 + seed);
    const auto layers_d = testing::to_double(layers);
    const auto backend = native_backend(dir, "net" + std::to_string(seed), layers);
    const probe_batch p = random_probes(60, in, 2000 + seed, 0.5 + static_cast<double>(seed % 4));
    const interval_batch out = estimate(*walk, *backend, p);
    for (std::size_t k = 0; k < p.size(); ++k)
      compare_with_partition(out, k, oracle(layers_d, p, k, 4.0).iv, 4.0, t,
                             fmt::format("network {} ({}-{})", seed, in, fmt::join(widths, "-")));
  }
  require_small_fraction(t, "random networks");
}

TEST_CASE("exact agrees with the layer-by-layer partition on trained Fashion-MNIST MLPs", "[interface]") {
  const fmnist_setup& s = fmnist();
  const double t_max = 2.0;
  const auto walk = make_exact({t_max});
  for (const auto* which : {&s.real, &s.random}) {
    const trained_net& net = which == &s.real ? s.real_net : s.random_net;
    const std::string name = which == &s.real ? "real labels" : "random labels";
    const auto layers_d = testing::to_double(net.layers);
    const probe_batch p = fmnist_probes(*which, 150, 100, which == &s.real ? 1 : 2);
    const interval_batch out = estimate(*walk, *net.backend, p);
    tally t;
    std::int64_t regions = 0;
    for (std::size_t k = 0; k < p.size(); ++k) {
      compare_with_partition(out, k, oracle(layers_d, p, k, t_max).iv, t_max, t, name + " " + p.kind[k]);
      regions += out.regions_lo[k] + out.regions_hi[k] - 1;
    }
    WARN(name << " (train accuracy " << net.train_accuracy << "): " << p.size() << " probes, " << t.close_sides << " ambiguous sides, mean regions crossed "
              << static_cast<double>(regions) / static_cast<double>(p.size()));
    require_small_fraction(t, name);
  }
}

// ---- 3. bisection -------------------------------------------------------------------------------

TEST_CASE("exact and bisection agree on trained networks except where a narrow excursion explains it",
          "[regression]") {
  const fmnist_setup& s = fmnist();
  const double t_max = 2.0, h = t_max / 64, tol = 1e-6 * t_max;
  option_set bo;
  bo.set("T", t_max);
  bo.set("h", h);
  bo.set("tol", tol);
  bo.set("scan_chunk", std::int64_t{16});
  const auto bisect = testing::build_plugins().create_estimator("bisection", bo);
  const auto walk = make_exact({t_max});
  std::size_t sides = 0, agree = 0, unexplained = 0;
  std::map<std::string, std::vector<std::string>> explained;  // by explanation: the cases
  for (const auto* which : {&s.real, &s.random}) {
    const trained_net& net = which == &s.real ? s.real_net : s.random_net;
    const auto layers_d = testing::to_double(net.layers);
    const probe_batch p = fmnist_probes(*which, 200, 100, which == &s.real ? 3 : 4);
    const interval_batch b = estimate(*bisect, *net.backend, p);
    const interval_batch e = estimate(*walk, *net.backend, p);
    for (std::size_t k = 0; k < p.size(); ++k) {
      const oracle_line o = oracle(layers_d, p, k, t_max);
      for (int side = 0; side < 2; ++side) {
        ++sides;
        const double sign = side == 0 ? 1.0 : -1.0;
        const double te = sign * (side == 0 ? e.t_hi[k] : e.t_lo[k]);  // outward coordinates
        const double tb = sign * (side == 0 ? b.t_hi[k] : b.t_lo[k]);
        if (b.class0[k] == e.class0[k] && std::fabs(tb - te) <= tol + 1e-9) {
          ++agree;
          continue;
        }
        // Double-precision margin of the best class over the runner-up at outward coordinate `at`.
        const auto near_tie = [&](double at) {
          const std::vector<double> f = o.part.logits_at(sign * at);
          double top = -1e300, second = -1e300, scale = 1;
          for (double v : f) {
            scale = std::max(scale, std::fabs(v));
            if (v > top) {
              second = top;
              top = v;
            } else if (v > second) {
              second = v;
            }
          }
          return top - second <= 1e-5 * scale;
        };
        const int c0 = e.class0[k];
        std::string why;
        if (b.class0[k] != e.class0[k]) {
          if (near_tie(0)) why = "float32 tie at the anchor";
        } else if (tb > te) {
          // Bisection saw class0 at every scan point up to tb: the walk's change must be an excursion
          // that returns to class0 within h, between scan points (or float32 must be at a tie there).
          const double w_end = std::min(te + h, t_max);
          const bool returns = testing::class_holds_somewhere(o.part, c0, sign > 0 ? te : -w_end,
                                                              sign > 0 ? w_end : -te, 1e-9) ||
                               (w_end == t_max && std::fabs(tb - t_max) <= tol);
          bool scans_agree = true;
          for (int j = 1; j * h <= tb + 1e-12; ++j)
            if (testing::argmax_low(o.part.logits_at(sign * j * h)) != c0 && !near_tie(j * h)) scans_agree = false;
          if (returns && scans_agree)
            why = "narrow excursion missed by bisection";
          else if (near_tie(tb))
            why = "float32 tie: bisection's change later";  // float32 logits move the boundary
        } else if (near_tie(tb) || near_tie(std::min(tb + tol, t_max))) {
          // Bisection changed class earlier: double logits must be at a tie where float32 switched.
          why = "float32 tie: bisection's change earlier";
        }
        const std::string line = fmt::format(
            "{} probe {} ({}) side {}: bisection {:.9g} (class {}), exact {:.9g} (class {}), class0 {} / {}",
            which == &s.real ? "real" : "random", k, p.kind[k], side == 0 ? "hi" : "lo", sign * tb,
            side == 0 ? b.class_hi[k] : b.class_lo[k], sign * te, side == 0 ? e.class_hi[k] : e.class_lo[k],
            b.class0[k], e.class0[k]);
        if (!why.empty()) {
          explained[why].push_back(line);
        } else {
          ++unexplained;
          FAIL_CHECK("unexplained disagreement: " << line);
        }
      }
    }
  }
  std::ostringstream report;
  report << "bisection vs exact: " << sides << " sides, " << agree << " agree within tol, " << unexplained
         << " unexplained";
  for (const auto& [why, cases] : explained) {
    report << "\n" << cases.size() << " x " << why << ", e.g.";
    for (std::size_t i = 0; i < std::min<std::size_t>(3, cases.size()); ++i) report << "\n  " << cases[i];
  }
  WARN(report.str());
  CHECK(unexplained == 0);
  CHECK(agree * 2 > sides);
}

// ---- 4. degenerate cases --------------------------------------------------------------------------

namespace {

/// A 2-input network: 6 first-layer units, 4 second-layer units, 3 classes, with class 0 far
/// ahead (both ends clipped) when `bias0` is large; rows 1 and 4 of the first layer are duplicates.
std::vector<affine_layer_d> duplicate_row_net(double bias0) {
  std::vector<affine_layer_d> net;
  net.push_back(layer_d(2, 6, {1, 0.5, 0.25, -1, -1, 0.75, 0.5, 2, 0.25, -1, 1, 1}, {-0.5, 0.25, -1, 0.5, 0.25, 0.125}));
  net.push_back(layer_d(6, 4, {1, -1, 0.5, 0.25, -0.5, 1, -0.5, 1, 1, -1, 0.5, 0.25, 0.25, 0.25, -1, 1, 1, -0.5,
                               1, 0.5, 0.5, -0.5, -1, 1},
                        {0.1, -0.2, 0.3, 0.05}));
  net.push_back(layer_d(4, 3, {1, -1, 0.5, 0.25, -0.5, 1, 0.25, -1, 0.5, 0.5, -1, 1}, {bias0, 0, 0}));
  return net;
}

/// Checks every probe of `p` against the partition oracle (which must see no ambiguity).
void check_all(const test_backend& net, const probe_batch& p, const interval_batch& out, double t_max,
               const std::string& what) {
  tally t;
  for (std::size_t k = 0; k < p.size(); ++k) compare_with_partition(out, k, oracle(net.layers(), p, k, t_max).iv, t_max, t, what);
  CHECK(t.failures == 0);
}

}  // namespace

TEST_CASE("exact counts two units crossing at the same t as one breakpoint with two flips", "[boundary]") {
  const test_backend net(duplicate_row_net(100.0));
  // Units 1 and 4 share w = (0.25, -1), b = 0.25: from (-1, -1) along (1, 1.25) both are 1 - t
  // (crossing at t = 1); from (2, 0.5) along (1, -0.75) both are 0.25 + t (crossing at t = -0.25).
  const probe_batch p = probes_from({{-1, -1}, {2, 0.5}}, {{1, 1.25}, {1, -0.75}});
  const auto out = estimate(*make_exact({}), net, p);
  check_all(net, p, out, 4.0, "duplicate rows");
  for (std::size_t k = 0; k < p.size(); ++k) {
    const oracle_line o = oracle(net.layers(), p, k, 4.0);
    INFO("probe " << k << "\n" << describe_line(out, k) << "\n" << describe_oracle(o.iv));
    // The shared crossing is inside the interval and flips two units at once.
    const auto& bp = k == 0 ? o.iv.flips_at_hi : o.iv.flips_at_lo;
    CHECK(std::count(bp.begin(), bp.end(), 2L) >= 1);
    CHECK((out.status[k] & status_degenerate) != 0);
    CHECK((out.status[k] & (status_clipped_lo | status_clipped_hi)) == (status_clipped_lo | status_clipped_hi));
  }
}

TEST_CASE("exact applies the right-limit rule to a unit exactly at zero at t = 0", "[boundary]") {
  // Unit 0 is w = (1, 2), b = 0; at x = (0.5, -0.25) it is exactly 0. Along d = (1, 0) its slope
  // is +1: active on the upper side, inactive on the lower side; along -d the reverse.
  std::vector<affine_layer_d> layers = duplicate_row_net(100.0);
  layers[0].w[0] = 1;
  layers[0].w[1] = 2;
  layers[0].b[0] = 0;
  const test_backend net(layers);
  const probe_batch p = probes_from({{0.5, -0.25}, {0.5, -0.25}, {0.5, -0.25}}, {{1, 0}, {-1, 0}, {0.25, 0.5}});
  const auto out = estimate(*make_exact({}), net, p);
  check_all(net, p, out, 4.0, "unit at zero");
  for (std::size_t k = 0; k < p.size(); ++k) {
    INFO("probe " << k << "\n" << describe_line(out, k));
    CHECK((out.status[k] & status_degenerate) != 0);
  }
  // No breakpoint is reported at t = 0 itself (open intervals on each side).
  const auto rec = estimate(*make_exact({4.0, 100000, true}), net, p);
  for (double b : rec.extra.reals("breakpoints")) CHECK(b != 0.0);
}

TEST_CASE("exact handles units that are constant along the direction", "[boundary]") {
  // d = (+-1, 0, 0): units 0-2 ignore the first input, so they never change along the line.
  std::vector<affine_layer_d> layers;
  layers.push_back(layer_d(3, 6, {0, 1, -0.5, 0, 0.5, 0.5, 0, -1, 0.25, 1, 0.5, -0.25, -1, 0.25, 1, 0.5, 1, -1},
                           {0.25, -0.5, 0.5, 0.125, -0.25, 0.5}));
  layers.push_back(layer_d(6, 3, {1, -1, 0.5, 0.25, -0.5, 1, -0.5, 1, 1, -1, 0.5, 0.25, 0.25, 0.25, -1, 1, 1, -0.5},
                           {0, 0.1, -0.1}));
  const test_backend net(layers);
  const probe_batch p = probes_from({{0.3, 0.5, 0.25}, {-1.5, 0.5, 0.25}, {2, -1, 0.5}}, {{1, 0, 0}, {0.5, 0, 0}, {-2, 0, 0}});
  const auto out = estimate(*make_exact({}), net, p);
  check_all(net, p, out, 4.0, "constant units");
  for (std::size_t k = 0; k < p.size(); ++k) {
    const oracle_line o = oracle(net.layers(), p, k, 4.0);
    // Units 0-2 are affine with zero slope: the oracle's pieces never change them.
    for (const auto& pat : o.part.pattern)
      for (std::size_t u = 0; u < 3; ++u) CHECK(pat[u] == o.part.pattern.front()[u]);
  }
  // Unit 1 is 0.5 x1 + 0.5 x2 - 0.5: exactly zero all along lines with x1 = x2 = 0.5. Its two pieces agree on
  // the whole line (zero value, zero slope), so t = 0 is no breakpoint and nothing is degenerate.
  const probe_batch z = probes_from({{0.3, 0.5, 0.5}, {0.3, 0.5, 0.5}}, {{1, 0, 0}, {-1, 0, 0}});
  const auto zout = estimate(*make_exact({}), net, z);
  check_all(net, z, zout, 4.0, "unit constant at zero");
  for (std::size_t k = 0; k < z.size(); ++k) CHECK((zout.status[k] & status_degenerate) == 0);
}

TEST_CASE("exact breaks a logit tie at t = 0 towards the lower class", "[boundary]") {
  // h = relu(x + 4): logits f0 = h0, f1 = -100, f2 = h1. At x = (1, 1), f0 = f2 = 5.
  std::vector<affine_layer_d> layers;
  layers.push_back(layer_d(2, 2, {1, 0, 0, 1}, {4, 4}));
  layers.push_back(layer_d(2, 3, {1, 0, 0, 0, 0, 1}, {0, -100, 0}));
  const test_backend net(layers);
  // d = (0, 1): f2 - f0 = t, so class 2 takes over at once on the upper side; d = (1, 0): on the lower side.
  const probe_batch p = probes_from({{1, 1}, {1, 1}}, {{0, 1}, {1, 0}});
  const auto out = estimate(*make_exact({}), net, p);
  check_all(net, p, out, 4.0, "tie at t = 0");
  CHECK(out.class0[0] == 0);
  CHECK(out.class0[1] == 0);
  CHECK(out.t_hi[0] == 0.0);
  CHECK(out.class_hi[0] == 2);
  CHECK(out.regions_hi[0] == 1);
  CHECK(out.t_lo[1] == 0.0);
  CHECK(out.class_lo[1] == 2);
  CHECK(out.regions_lo[1] == 1);
  // The other side of each runs on: f0 > f2 there until h hits zero at x = -4 (t = -5 or beyond T).
  CHECK(out.t_lo[0] == -4.0);
  CHECK(out.t_hi[1] == 4.0);
  for (std::size_t k = 0; k < p.size(); ++k) CHECK((out.status[k] & status_degenerate) != 0);
}

TEST_CASE("exact resolves simultaneous overtaking and permanent ties by the lower index", "[boundary]") {
  // h = relu(x + 4); f0 = h0 + h1 - 3, f1 = 2 h0 - 6, f2 = h0 + h1 - 3 + 1, f3 = 2 h0 - 6 (a copy of f1).
  // Classes 1 and 3 are tied everywhere and overtake class 2 together where h0 - h1 = 4.
  std::vector<affine_layer_d> layers;
  layers.push_back(layer_d(2, 2, {1, 0, 0, 1}, {4, 4}));
  layers.push_back(layer_d(2, 4, {1, 1, 2, 0, 1, 1, 2, 0}, {-3, -6, -2, -6}));
  const test_backend net(layers);
  // From x = (0, 0) along d = (1, -1): h0 - h1 = 2t, so the overtaking is at t = 2 (h1 = 2 > 0 there).
  const probe_batch p = probes_from({{0, 0}, {0, 0}}, {{1, -1}, {-1, 1}});
  const auto out = estimate(*make_exact({}), net, p);
  check_all(net, p, out, 4.0, "simultaneous overtaking");
  CHECK(out.class0[0] == 2);  // f0 and f2 differ by 1 everywhere: f2 wins, f0 never overtakes
  CHECK(out.t_hi[0] == Approx(2.0).epsilon(1e-12));
  CHECK(out.class_hi[0] == 1);  // 1 and 3 tie past t = 2: the lower index
  CHECK(out.t_lo[1] == Approx(-2.0).epsilon(1e-12));
  CHECK(out.class_lo[1] == 1);
}

TEST_CASE("exact clips both ends when one class dominates the whole line", "[boundary]") {
  auto layers = testing::to_double(random_layers(5, {12, 12, 4}, 77));
  layers.back().b[3] = 1000.0;
  const test_backend net(layers);
  const probe_batch p = random_probes(20, 5, 78);
  const auto out = estimate(*make_exact({3.0}), net, p);
  check_all(net, p, out, 3.0, "dominant class");
  for (std::size_t k = 0; k < p.size(); ++k) {
    INFO(describe_line(out, k));
    CHECK(out.class0[k] == 3);
    CHECK(out.t_lo[k] == -3.0);
    CHECK(out.t_hi[k] == 3.0);
    CHECK(out.class_lo[k] == -1);
    CHECK(out.class_hi[k] == -1);
    CHECK((out.status[k] & (status_clipped_lo | status_clipped_hi)) == (status_clipped_lo | status_clipped_hi));
    CHECK(out.regions_lo[k] >= 1);
    CHECK(out.regions_hi[k] >= 1);
  }
}

TEST_CASE("exact agrees with the partition on a 10-layer network", "[boundary]") {
  temp_dir dir("exact-deep");
  const auto layers = random_layers(6, {12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 5}, 31);
  const auto backend = native_backend(dir, "deep", layers);
  const probe_batch p = random_probes(80, 6, 32, 2.0);
  const auto out = estimate(*make_exact({}), *backend, p);
  tally t;
  const auto layers_d = testing::to_double(layers);
  for (std::size_t k = 0; k < p.size(); ++k) compare_with_partition(out, k, oracle(layers_d, p, k, 4.0).iv, 4.0, t, "10 layers");
  require_small_fraction(t, "10 layers");
}

TEST_CASE("exact agrees with the partition on a 2,048-wide network", "[boundary]") {
  temp_dir dir("exact-wide");
  const auto layers = random_layers(16, {2048, 10}, 41);
  const auto backend = native_backend(dir, "wide", layers);
  const probe_batch p = random_probes(24, 16, 42, 3.0);
  const auto out = estimate(*make_exact({}), *backend, p);
  tally t;
  const auto layers_d = testing::to_double(layers);
  std::int64_t most = 0;
  for (std::size_t k = 0; k < p.size(); ++k) {
    compare_with_partition(out, k, oracle(layers_d, p, k, 4.0).iv, 4.0, t, "2048 wide");
    most = std::max(most, out.regions_lo[k] + out.regions_hi[k] - 1);
  }
  CHECK(most > 50);
  require_small_fraction(t, "2048 wide");
}

TEST_CASE("exact stops a side at max_regions promptly", "[boundary]") {
  temp_dir dir("exact-max");
  const auto layers = random_layers(16, {2048, 2}, 51);
  const auto layers_d = testing::to_double(layers);
  const auto backend = native_backend(dir, "wide", layers);
  // A huge T: the line crosses every one of the 2048 hyperplanes somewhere.
  const double t_max = 1e6;
  const probe_batch p = random_probes(8, 16, 52, 3.0);
  const auto start = std::chrono::steady_clock::now();
  const auto out = estimate(*make_exact({t_max, 3}), *backend, p);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(seconds < 2.0);
  for (std::size_t k = 0; k < p.size(); ++k) {
    const line_interval o = oracle(layers_d, p, k, t_max).iv;
    INFO("probe " << k << "\n" << describe_line(out, k) << "\n" << describe_oracle(o));
    for (int side = 0; side < 2; ++side) {
      const auto regions = side == 0 ? out.regions_hi[k] : out.regions_lo[k];
      const auto& bp = side == 0 ? o.breakpoints_hi : o.breakpoints_lo;
      const double t = side == 0 ? out.t_hi[k] : out.t_lo[k];
      const auto bit = side == 0 ? status_clipped_hi : status_clipped_lo;
      if (bp.size() >= 3) {
        // The side crossed 3 regions before its class changed: it stopped there.
        CHECK((out.status[k] & status_max_regions) != 0);
        CHECK((out.status[k] & bit) == 0);
        CHECK(regions == 3);
        // The oracle interpolates over pieces as long as T: its points are good to about 1e-16 T.
        CHECK(std::fabs(t) >= std::fabs(bp[1]) - 1e-12 * t_max);
        CHECK(std::fabs(t) <= std::fabs(bp[2]) + 1e-12 * t_max);
      } else {
        CHECK(regions <= 3);
      }
    }
  }
  std::size_t stopped = 0;
  for (std::size_t k = 0; k < p.size(); ++k) stopped += (out.status[k] & status_max_regions) != 0;
  CHECK(stopped > 0);
}

TEST_CASE("exact reports a zero direction without walking", "[boundary]") {
  const test_backend net(duplicate_row_net(0.0));
  const probe_batch p = probes_from({{0.5, 0.25}, {0.5, 0.25}}, {{0, 0}, {1, 0.5}});
  const auto out = estimate(*make_exact({4.0, 100000, true}), net, p);
  CHECK((out.status[0] & status_zero_direction) != 0);
  CHECK((out.status[0] & (status_clipped_lo | status_clipped_hi | status_max_regions)) == 0);
  CHECK(out.t_lo[0] == 0.0);
  CHECK(out.t_hi[0] == 0.0);
  std::vector<double> f;
  const std::vector<double> x{0.5, 0.25};
  testing::naive_forward(net.layers(), x.data(), f);
  CHECK(out.class0[0] == testing::argmax_low(f));
  CHECK(out.cost[0] <= 1);
  REQUIRE(out.extra.counts("breakpoints").size() == 2);
  CHECK(out.extra.counts("breakpoints")[0] == 0);
  // Its neighbour is unaffected.
  CHECK((out.status[1] & status_zero_direction) == 0);
  CHECK(out.t_hi[1] > 0);
}

TEST_CASE("exact results do not depend on the batching", "[regression]") {
  temp_dir dir("exact-batches");
  const auto layers = random_layers(10, {24, 24, 6}, 61);
  const auto backend = native_backend(dir, "net", layers);
  const probe_batch p = random_probes(45, 10, 62, 2.0);
  const auto e = make_exact({4.0, 100000, true});
  const auto whole = estimate(*e, *backend, p);
  std::vector<std::uint64_t> offsets{0};
  for (std::size_t k = 0; k < p.size(); ++k) offsets.push_back(offsets.back() + whole.extra.counts("breakpoints")[k]);
  REQUIRE(offsets.back() == whole.extra.reals("breakpoints").size());
  const auto same = [&](std::size_t first, std::size_t count) {
    probe_batch part;
    part.resize(count, p.x.cols);
    part.first = first;
    for (std::size_t k = 0; k < count; ++k)
      for (std::size_t j = 0; j < p.x.cols; ++j) {
        part.x(k, j) = p.x(first + k, j);
        part.d(k, j) = p.d(first + k, j);
      }
    const auto out = estimate(*e, *backend, part);
    REQUIRE(out.extra.counts("breakpoints").size() == count);
    std::size_t at = 0;
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t g = first + k;
      INFO("probe " << g);
      CHECK(out.t_lo[k] == whole.t_lo[g]);
      CHECK(out.t_hi[k] == whole.t_hi[g]);
      CHECK(out.class0[k] == whole.class0[g]);
      CHECK(out.class_lo[k] == whole.class_lo[g]);
      CHECK(out.class_hi[k] == whole.class_hi[g]);
      CHECK(out.status[k] == whole.status[g]);
      CHECK(out.cost[k] == whole.cost[g]);
      CHECK(out.regions_lo[k] == whole.regions_lo[g]);
      CHECK(out.regions_hi[k] == whole.regions_hi[g]);
      CHECK(out.flips_lo[k] == whole.flips_lo[g]);
      CHECK(out.flips_hi[k] == whole.flips_hi[g]);
      REQUIRE(out.extra.counts("breakpoints")[k] == whole.extra.counts("breakpoints")[g]);
      for (std::uint64_t i = 0; i < out.extra.counts("breakpoints")[k]; ++i)
        CHECK(out.extra.reals("breakpoints")[at + i] == whole.extra.reals("breakpoints")[offsets[g] + i]);
      at += out.extra.counts("breakpoints")[k];
    }
  };
  for (std::size_t k = 0; k < p.size(); ++k) same(k, 1);
  same(0, 17);
  same(17, 28);
  // An empty batch.
  probe_batch none;
  none.resize(0, 10);
  CHECK(estimate(*e, *backend, none).size() == 0);
}

TEST_CASE("exact results hardly depend on recompute_every", "[regression]") {
  temp_dir dir("exact-recompute");
  const auto layers = random_layers(12, {256, 64, 8}, 71);
  const auto layers_d = testing::to_double(layers);
  const auto backend = native_backend(dir, "net", layers);
  const probe_batch p = random_probes(30, 12, 72, 3.0);
  const auto every = estimate(*make_exact({4.0, 100000, false, 1}), *backend, p);
  const auto rarely = estimate(*make_exact({4.0, 100000, false, 1000000}), *backend, p);
  const auto usual = estimate(*make_exact({}), *backend, p);
  tally t;
  for (const auto* out : {&every, &rarely, &usual})
    for (std::size_t k = 0; k < p.size(); ++k) compare_with_partition(*out, k, oracle(layers_d, p, k, 4.0).iv, 4.0, t, "recompute");
  require_small_fraction(t, "recompute_every");
  // Cost: one forward pass, plus one per recomputation.
  for (std::size_t k = 0; k < p.size(); ++k) {
    const auto regions = static_cast<std::uint64_t>(every.regions_lo[k] + every.regions_hi[k]);
    INFO(describe_line(every, k));
    CHECK(rarely.cost[k] == 1);
    CHECK(usual.cost[k] >= 1);
    CHECK(usual.cost[k] <= 3 + regions / 64);
    CHECK(every.cost[k] >= regions - 2);
    CHECK(every.cost[k] <= regions + 2);
  }
}

// ---- 5. recorded breakpoints ----------------------------------------------------------------------

TEST_CASE("exact records the partition's breakpoints inside the interval", "[interface]") {
  temp_dir dir("exact-record");
  const auto e = make_exact({4.0, 100000, true});
  std::size_t lines = 0, compared = 0;
  for (std::uint64_t seed = 0; seed < 6; ++seed) {
    const auto layers = random_layers(4 + seed, {8 + 4 * seed, 10, 4}, 300 + seed);
    const auto layers_d = testing::to_double(layers);
    const auto backend = native_backend(dir, "net" + std::to_string(seed), layers);
    const probe_batch p = random_probes(40, 4 + seed, 400 + seed, 2.0);
    const auto out = estimate(*e, *backend, p);
    REQUIRE(out.extra.counts("breakpoints").size() == p.size());
    std::size_t at = 0;
    for (std::size_t k = 0; k < p.size(); ++k) {
      ++lines;
      const std::vector<double> rec(out.extra.reals("breakpoints").begin() + static_cast<std::ptrdiff_t>(at),
                                    out.extra.reals("breakpoints").begin() + static_cast<std::ptrdiff_t>(at + out.extra.counts("breakpoints")[k]));
      at += out.extra.counts("breakpoints")[k];
      INFO("network " << seed << " probe " << k << "\n" << describe_line(out, k) << "\nrecorded "
                      << fmt::format("{}", fmt::join(rec, ", ")));
      CHECK(static_cast<std::int64_t>(out.extra.counts("breakpoints")[k]) == out.regions_lo[k] + out.regions_hi[k] - 2);
      CHECK(std::is_sorted(rec.begin(), rec.end()));
      const auto below = std::count_if(rec.begin(), rec.end(), [](double b) { return b < 0; });
      CHECK(below == out.regions_lo[k] - 1);
      for (double b : rec) {
        CHECK(b > out.t_lo[k]);
        CHECK(b < out.t_hi[k]);
        CHECK(b != 0.0);
      }
      const line_interval o = oracle(layers_d, p, k, 4.0).iv;
      if (o.close_lo || o.close_hi || o.margin0 <= 1e-12) continue;
      ++compared;
      std::vector<double> want(o.breakpoints_lo.rbegin(), o.breakpoints_lo.rend());
      want.insert(want.end(), o.breakpoints_hi.begin(), o.breakpoints_hi.end());
      INFO("oracle " << fmt::format("{}", fmt::join(want, ", ")));
      REQUIRE(rec.size() == want.size());
      for (std::size_t i = 0; i < rec.size(); ++i) CHECK(close_end(rec[i], want[i]));
    }
    CHECK(at == out.extra.reals("breakpoints").size());
  }
  CHECK(compared * 10 >= lines * 9);
}

TEST_CASE("exact records nothing unless asked", "[interface]") {
  temp_dir dir("exact-record");
  const auto layers = random_layers(4, {8, 3}, 5);
  const auto backend = native_backend(dir, "net", layers);
  const auto out = estimate(*make_exact({}), *backend, random_probes(5, 4, 6));
  CHECK(out.extra.column_count() == 0);
  CHECK(make_exact({})->extra_columns().empty());
}

// ---- misuse -----------------------------------------------------------------------------------------

TEST_CASE("exact is registered and requires the piecewise-linear view", "[interface]") {
  const plugin_info* info = testing::build_plugins().find(plugin_kind::estimator, "exact");
  REQUIRE(info != nullptr);
  CHECK((info->capabilities & capability_piecewise_linear) != 0);
  std::vector<std::string> names;
  for (const option_spec& o : info->options) names.emplace_back(o.name);
  for (const char* name : {"T", "max_regions", "record_breakpoints", "recompute_every"})
    CHECK(std::find(names.begin(), names.end(), name) != names.end());
}

TEST_CASE("exact refuses probes of the wrong width", "[negative]") {
  const test_backend net(duplicate_row_net(0.0));
  probe_batch p;
  p.resize(1, 3);
  interval_batch out;
  CHECK_THROWS_WITH(make_exact({})->estimate(net, p, out), Catch::Contains("3"));
}

TEST_CASE("exact refuses a backend without a piecewise-linear view", "[negative]") {
  const no_view_backend net;
  probe_batch p;
  p.resize(1, 2);
  p.d(0, 0) = 1;
  interval_batch out;
  CHECK_THROWS(make_exact({})->estimate(net, p, out));
}

TEST_CASE("exact refuses T = 0", "[negative]") {
  CHECK_THROWS_WITH(make_exact({0.0}), Catch::Contains("'T'"));
}

TEST_CASE("exact refuses max_regions = 0", "[negative]") {
  CHECK_THROWS_WITH(make_exact({4.0, 0}), Catch::Contains("'max_regions'"));
}

TEST_CASE("exact refuses recompute_every = 0", "[negative]") {
  CHECK_THROWS_WITH(make_exact({4.0, 100000, false, 0}), Catch::Contains("'recompute_every'"));
}

// ---- 7. end to end ----------------------------------------------------------------------------------

TEST_CASE("genscope run with the exact estimator writes region and breakpoint columns", "[interface]") {
  temp_dir dir("exact-cli");
  const std::string text = fmt::format(R"(seed = 3
output = "{}"
model_cache = "{}"

[datasets.train]
source = "synthetic"
samples = 300
dim = 12
manifold_dim = 3
classes = 4
noise = 0.05

[models.net]
backend = "native"
dataset = "train"

[models.net.train]
hidden = [24, 24]
epochs = 10
batch_size = 32

[samplers.pairs]
plugin = "pairwise"
dataset = "train"
count = 120

[estimators.walk]
plugin = "exact"
T = 3.0
record_breakpoints = true

[runs.main]
model = "net"
sampler = "pairs"
estimator = "walk"
batch_size = 16
)",
                                       dir / "results.h5", dir / "models");
  testing::write_file(dir / "exact.toml", text);
  const auto r = testing::run_cli("run --quiet " + (dir / "exact.toml"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const h5::file f = h5::file::open(dir / "results.h5");
  const h5::group run = f.root().open_group("runs").open_group("main");
  const auto regions_lo = run.read<std::int64_t>("regions_lo");
  const auto regions_hi = run.read<std::int64_t>("regions_hi");
  const auto flips_lo = run.read<std::int64_t>("flips_lo");
  const auto flips_hi = run.read<std::int64_t>("flips_hi");
  const auto t_lo = run.read<double>("t_lo");
  const auto t_hi = run.read<double>("t_hi");
  const auto start = run.read<std::uint64_t>("breakpoint_start");
  const auto count = run.read<std::uint64_t>("breakpoint_count");
  const auto values = run.read<double>("breakpoints");
  REQUIRE(regions_lo.size() == 120);
  REQUIRE(start.size() == 120);
  REQUIRE(count.size() == 120);
  std::uint64_t next = 0;
  std::int64_t crossed = 0;
  for (std::size_t i = 0; i < regions_lo.size(); ++i) {
    INFO("row " << i);
    CHECK(regions_lo[i] >= 1);
    CHECK(regions_hi[i] >= 1);
    CHECK(flips_lo[i] >= regions_lo[i] - 1);
    CHECK(flips_hi[i] >= regions_hi[i] - 1);
    CHECK(start[i] == next);
    CHECK(static_cast<std::int64_t>(count[i]) == regions_lo[i] + regions_hi[i] - 2);
    next += count[i];
    REQUIRE(next <= values.size());
    for (std::uint64_t j = start[i]; j < start[i] + count[i]; ++j) {
      CHECK(values[j] > t_lo[i]);
      CHECK(values[j] < t_hi[i]);
      if (j > start[i]) CHECK(values[j] > values[j - 1]);
    }
    crossed += regions_lo[i] + regions_hi[i] - 1;
  }
  CHECK(next == values.size());
  CHECK(crossed > 120);  // some interval crosses more than one region

  const auto inspect = testing::run_cli("inspect " + (dir / "results.h5"));
  INFO(inspect.out << inspect.err);
  REQUIRE(inspect.exit_code == 0);
  std::istringstream lines(inspect.out);
  std::string line;
  bool found = false;
  while (std::getline(lines, line) && line.rfind("cost per run", 0) != 0)  // the table, not the cost lines
    if (line.rfind("main ", 0) == 0) {
      found = true;
      CHECK(std::regex_search(line, std::regex("[0-9]+ / [0-9]+\\.[0-9]\\s*$")));
    }
  CHECK(found);
}
