// Oracle tests of the AND-OR interactions: the fast transforms against the dense definitions, universal matching,
// planted AND and OR interactions in a hand-built ReLU network, the reference model's shared part, threads, misuse.
#include "oracles.hpp"
#include "support.hpp"

#include "harsanyi.hpp"

#include <genscope/analysis.hpp>
#include <genscope/dataset.hpp>
#include <genscope/mlp.hpp>
#include <genscope/network_backend.hpp>
#include <genscope/random.hpp>
#include <genscope/table.hpp>

#include <catch2/catch.hpp>
#include <tbb/global_control.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

using namespace genscope;
namespace hx = genscope::interactions;
using genscope::testing::make_analysis;
using genscope::testing::make_data;
using genscope::testing::open_native;
using genscope::testing::temp_dir;
using genscope::testing::whole_table;
using genscope::testing::write_file;
using Catch::Matchers::Contains;

namespace {

bool subset(std::size_t t, std::size_t s) { return (t & ~s) == 0; }
double parity(std::size_t s, std::size_t t) { return (__builtin_popcountll(s) - __builtin_popcountll(t)) % 2 ? -1.0 : 1.0; }

// I_and and I_or written from the definitions, summing over every subset: O(4^n).
std::vector<double> dense_and(const std::vector<double>& v_and) {
  std::vector<double> out(v_and.size(), 0.0);
  for (std::size_t s = 0; s < v_and.size(); ++s)
    for (std::size_t t = 0; t < v_and.size(); ++t)
      if (subset(t, s)) out[s] += parity(s, t) * v_and[t];
  return out;
}
std::vector<double> dense_or(const std::vector<double>& v_or) {
  const std::size_t full = v_or.size() - 1;
  std::vector<double> out(v_or.size(), 0.0);
  for (std::size_t s = 0; s < v_or.size(); ++s)
    for (std::size_t t = 0; t < v_or.size(); ++t)
      if (subset(t, s)) out[s] -= parity(s, t) * v_or[full ^ t];
  return out;
}
// v(x_{}) + sum over nonempty T subset of S of I_and(T) + sum over T meeting S of I_or(T), for every S.
std::vector<double> dense_matching(const hx::and_or_split& split, double v_empty) {
  std::vector<double> out(split.and_effects.size(), v_empty);
  for (std::size_t s = 0; s < out.size(); ++s)
    for (std::size_t t = 1; t < out.size(); ++t) {
      if (subset(t, s)) out[s] += split.and_effects[t];
      if ((t & s) != 0) out[s] += split.or_effects[t];
    }
  return out;
}

std::vector<double> random_function(std::size_t n, std::uint64_t seed, double scale) {
  rng gen(seed, stream_key("interactions test"));
  std::vector<double> v(std::size_t{1} << n);
  for (double& x : v) x = scale * gen.normal();
  return v;
}

double max_difference(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

// The salient interactions of a split (|I| >= fraction of the largest), as (kind, mask) -> effect.
std::vector<std::tuple<int, std::size_t, double>> salient_of(const hx::and_or_split& split, double fraction) {
  double largest = 0;
  for (std::size_t s = 1; s < split.and_effects.size(); ++s)
    largest = std::max({largest, std::abs(split.and_effects[s]), std::abs(split.or_effects[s])});
  std::vector<std::tuple<int, std::size_t, double>> out;
  for (std::size_t s = 1; s < split.and_effects.size(); ++s) {
    if (std::abs(split.and_effects[s]) >= fraction * largest) out.emplace_back(0, s, split.and_effects[s]);
    if (std::abs(split.or_effects[s]) >= fraction * largest) out.emplace_back(1, s, split.or_effects[s]);
  }
  return out;
}

// A planted set function on 5 variables: and_weight * [S holds {0,1,2}] + or_weight * [S meets {3,4}].
std::vector<double> planted(double and_weight, double or_weight) {
  std::vector<double> v(32);
  for (std::size_t s = 0; s < 32; ++s) v[s] = 0.25 + and_weight * ((s & 7u) == 7u) + or_weight * ((s & 24u) != 0);
  return v;
}

// The same function as a ReLU network on inputs in {0, 1}^5 (baseline 0, sample all ones): class 0's logit is
// and_weight relu(x0 + x1 + x2 - 2) + or_weight (relu(x3 + x4) - relu(x3 + x4 - 1)) + 0.25; class 1's is 0.
std::vector<dense_layer> planted_net(float and_weight, float or_weight, float sign = 1) {
  dense_layer hidden{matrix(3, 5), {-2.0f, 0.0f, -1.0f}};
  for (std::size_t j = 0; j < 3; ++j) hidden.weight(0, j) = 1;
  for (std::size_t i = 1; i < 3; ++i)
    for (std::size_t j = 3; j < 5; ++j) hidden.weight(i, j) = 1;
  dense_layer out{matrix(2, 3), {sign * 0.25f, 0.0f}};
  out.weight(0, 0) = sign * and_weight;
  out.weight(0, 1) = sign * or_weight;
  out.weight(0, 2) = -sign * or_weight;
  return {hidden, out};
}

dataset ones_data() { return make_data("ones", {{1, 1, 1, 1, 1}, {1, 1, 1, 1, 1}, {0, 0, 0, 0, 0}}, {0, 0, 1}); }

}  // namespace

TEST_CASE("interactions: the fast transforms equal the dense definitions", "[interactions]") {
  for (std::size_t n = 1; n <= 7; ++n) {
    const std::vector<double> v = random_function(n, n, 3.0);
    std::vector<double> fast = v;
    hx::moebius_subsets(fast);
    CHECK(max_difference(fast, dense_and(v)) < 1e-9);
    // The OR dividends of v_or = v: the AND transform of v(N \ T), negated.
    const hx::and_or_split plain = hx::decompose_and_or(v, {});
    std::vector<double> half(v.size());
    for (std::size_t t = 0; t < v.size(); ++t) half[t] = 0.5 * v[t];
    CHECK(max_difference(plain.and_effects, dense_and(half)) < 1e-9);
    std::vector<double> or_dense = dense_or(half);
    CHECK(max_difference(plain.or_effects, or_dense) < 1e-9);
    // The zeta transform inverts the Moebius transform; the superset transform is its transpose.
    hx::zeta_subsets(fast);
    CHECK(max_difference(fast, v) < 1e-9);
    const std::vector<double> w = random_function(n, 100 + n, 1.0);
    std::vector<double> mv = v, mtw = w;
    hx::moebius_subsets(mv);
    hx::moebius_supersets(mtw);
    double left = 0, right = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
      left += mv[i] * w[i];
      right += v[i] * mtw[i];
    }
    CHECK(left == Approx(right).margin(1e-9));
  }
}

TEST_CASE("interactions: universal matching, exact before sparsification and within the noise bound after",
          "[interactions]") {
  const std::size_t n = 8;
  const std::vector<double> v = random_function(n, 7, 5.0);
  const hx::and_or_split plain = hx::decompose_and_or(v, {});
  CHECK(max_difference(dense_matching(plain, v[0]), v) < 1e-9);
  CHECK(max_difference(hx::reconstruct(plain, v[0]), v) < 1e-9);

  hx::sparsify_settings opt;
  opt.iterations = 500;
  opt.learning_rate = 0.01;
  opt.noise_bound = 0.2;
  const hx::and_or_split sparse = hx::decompose_and_or(v, opt);
  CHECK(sparse.objective < 0.9 * plain.objective);
  CHECK(sparse.objective_before == plain.objective);
  double noise = 0;
  for (double q : sparse.noise) noise = std::max(noise, std::abs(q));
  CHECK(noise <= opt.noise_bound);
  CHECK(noise > 0);
  // v + q is matched exactly; v itself within the bound.
  std::vector<double> noisy = v;
  for (std::size_t s = 0; s < v.size(); ++s) noisy[s] += sparse.noise[s];
  const std::vector<double> rebuilt = dense_matching(sparse, v[0] + sparse.noise[0]);
  CHECK(max_difference(rebuilt, noisy) < 1e-9);
  CHECK(max_difference(rebuilt, v) <= opt.noise_bound + 1e-9);
  CHECK(max_difference(hx::reconstruct(sparse, v[0] + sparse.noise[0]), noisy) < 1e-9);
  // The same v and settings give the same bits.
  const hx::and_or_split again = hx::decompose_and_or(v, opt);
  CHECK(again.and_effects == sparse.and_effects);
  CHECK(again.or_effects == sparse.or_effects);
}

TEST_CASE("interactions: the sparsified split recovers a planted AND of three, an OR of two and their sum",
          "[interactions]") {
  // The plugin's defaults: 3000 steps shrinking from 2 to 1e-5 times max_S |v(S) - v({})| / phi^5, no noise.
  hx::sparsify_settings opt;
  opt.iterations = 3000;
  struct planted_case {
    double and_weight, or_weight;
  };
  for (const planted_case c : {planted_case{3, 0}, planted_case{0, 2}, planted_case{3, 2}, planted_case{-1.5, 4}}) {
    CAPTURE(c.and_weight, c.or_weight);
    const std::vector<double> v = planted(c.and_weight, c.or_weight);
    double spread = 0;  // max_S |v(S) - v({})|
    for (const double x : v) spread = std::max(spread, std::abs(x - v[0]));
    const double unit = spread / std::pow((1 + std::sqrt(5.0)) / 2, 5);
    opt.learning_rate = 2 * unit;
    opt.final_learning_rate = 1e-5 * unit;
    const hx::sparsify_settings relative = hx::relative_settings(v, 3000, 2, 1e-5, 0.02);
    CHECK(relative.learning_rate == Approx(opt.learning_rate).epsilon(1e-12));
    CHECK(relative.final_learning_rate == Approx(opt.final_learning_rate).epsilon(1e-12));
    CHECK(relative.noise_bound == Approx(0.02 * std::abs(v.back() - v[0])).epsilon(1e-12));
    const hx::and_or_split split = hx::decompose_and_or(v, opt);
    std::vector<std::tuple<int, std::size_t, double>> expected;
    if (c.and_weight != 0) expected.emplace_back(0, 7, c.and_weight);
    if (c.or_weight != 0) expected.emplace_back(1, 24, c.or_weight);
    const auto found = salient_of(split, 0.05);
    REQUIRE(found.size() == expected.size());
    for (std::size_t k = 0; k < found.size(); ++k) {
      CHECK(std::get<0>(found[k]) == std::get<0>(expected[k]));
      CHECK(std::get<1>(found[k]) == std::get<1>(expected[k]));
      CHECK(std::get<2>(found[k]) == Approx(std::get<2>(expected[k])).margin(0.02));
    }
    CHECK(split.objective == Approx(std::abs(c.and_weight) + std::abs(c.or_weight)).margin(1e-3));
  }
}

TEST_CASE("interactions: the analysis finds the interactions planted in a ReLU network, on every masked input",
          "[interactions]") {
  temp_dir dir("interactions-planted");
  const auto net = open_native(dir, "planted", planted_net(3, 2));
  const dataset data = ones_data();
  auto a = make_analysis("interactions", {{"grid", std::string("1x5")}, {"baseline", std::string("zero")},
                                          {"output", std::string("logit")}, {"points", std::int64_t{0}},
                                          {"noise_bound", 0.0}, {"store_all", true}});
  a->prepare(*net, {&data}, 1);
  REQUIRE(a->row_count(0) == 3);
  const table_batch t = whole_table(*a, 0);
  // Rows 0 and 1: the all-ones sample of class 0. Its v on every mask is the planted function.
  const std::vector<double> expected = planted(3, 2);
  const std::vector<double> outputs(t.reals("outputs").begin(), t.reals("outputs").begin() + 32);
  CHECK(max_difference(outputs, expected) < 1e-6);
  CHECK(t.reals("v_sample")[0] == Approx(5.25).margin(1e-6));
  CHECK(t.reals("v_baseline")[0] == Approx(0.25).margin(1e-6));
  CHECK(t.reals("matching_error")[0] < 1e-9);
  CHECK(t.reals("noise_max")[0] == 0);
  CHECK(t.ints("salient_and")[0] == 1);
  CHECK(t.ints("salient_or")[0] == 1);
  REQUIRE(t.counts("salient_mask")[0] == 2);
  CHECK(t.ints("salient_mask")[0] == 7);  // the strongest first: AND of {0, 1, 2}
  CHECK(t.ints("salient_kind")[0] == 0);
  CHECK(t.reals("salient_effect")[0] == Approx(3).margin(0.02));
  CHECK(t.ints("salient_mask")[1] == 24);  // OR of {3, 4}
  CHECK(t.ints("salient_kind")[1] == 1);
  CHECK(t.reals("salient_effect")[1] == Approx(2).margin(0.02));
  // By order (width n + 1 = 6): one salient interaction of order 2 and one of order 3.
  const std::vector<std::int64_t> counts(t.ints("salient_by_order").begin(), t.ints("salient_by_order").begin() + 6);
  CHECK(counts == std::vector<std::int64_t>{0, 0, 1, 1, 0, 0});
  CHECK(t.reals("and_strength")[3] == Approx(3).margin(0.02));
  CHECK(t.reals("or_strength")[2] == Approx(2).margin(0.02));
  // No reference model: no generalizable part.
  CHECK(std::isnan(t.reals("reference_v_sample")[0]));
  CHECK(std::isnan(t.reals("generalizable_strength")[2]));
  CHECK(t.ints("generalizable_count")[2] == -1);
  // Row 2: the all-zeros sample equals the baseline, so v is constant and nothing interacts.
  CHECK(t.reals("v_sample")[2] == t.reals("v_baseline")[2]);
  CHECK(t.ints("salient_and")[2] + t.ints("salient_or")[2] == 0);
  CHECK(t.reals("objective")[2] == 0);
}

TEST_CASE("interactions: masked outputs match a double forward pass and the effects the dense definitions",
          "[interactions]") {
  temp_dir dir("interactions-oracle");
  const std::vector<dense_layer> layers = genscope::testing::random_net(12, {16, 16, 3}, 4);
  const auto net = open_native(dir, "random", layers);
  const auto exact = genscope::testing::to_double(layers);
  const dataset data = genscope::testing::gaussian_data("g", 20, 12, 3, 9);
  std::vector<double> mean(12, 0.0);
  for (std::size_t i = 0; i < data.size(); ++i)
    for (std::size_t j = 0; j < 12; ++j) mean[j] += static_cast<double>(data.x(i, j)) / 20.0;
  for (const std::string baseline : {"mean", "zero", "patch_mean"}) {
    CAPTURE(baseline);
    // A 1-D input of 12 under a 1x6 grid: variable i is inputs 2i and 2i + 1.
    std::vector<double> masked(12);
    for (std::size_t j = 0; j < 12; ++j)
      masked[j] = baseline == "zero" ? 0.0 : baseline == "mean" ? mean[j] : 0.5 * (mean[j & ~1u] + mean[j | 1u]);
    auto a = make_analysis("interactions", {{"grid", std::string("1x6")}, {"baseline", baseline},
                                            {"points", std::int64_t{3}}, {"iterations", std::int64_t{0}},
                                            {"store_all", true}});
    a->prepare(*net, {&data}, 11);
    const table_batch t = whole_table(*a, 0);
    REQUIRE(t.rows() == 3);
    for (std::size_t r = 0; r < 3; ++r) {
      const auto i = static_cast<std::size_t>(t.ints("index")[r]);
      const auto y = static_cast<std::size_t>(data.labels[i]);
      CHECK(t.ints("target")[r] == static_cast<std::int64_t>(y));
      {  // the unmasked sample's cross-entropy and correctness
        std::vector<double> x(12), logits;
        for (std::size_t j = 0; j < 12; ++j) x[j] = data.x(i, j);
        genscope::testing::naive_forward(exact, x.data(), logits);
        double total = 0;
        for (const double f : logits) total += std::exp(f);
        CHECK(t.reals("loss")[r] == Approx(std::log(total) - logits[y]).margin(1e-4));
        const auto top = static_cast<std::size_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
        CHECK(t.ints("correct")[r] == (top == y ? 1 : 0));
      }
      REQUIRE(t.counts("outputs")[r] == 64);
      const auto from = static_cast<std::ptrdiff_t>(64 * r);
      const std::vector<double> outputs(t.reals("outputs").begin() + from, t.reals("outputs").begin() + from + 64);
      for (std::size_t s = 0; s < 64; ++s) {
        std::vector<double> x = masked, logits;
        for (std::size_t j = 0; j < 12; ++j)
          if ((s >> (j / 2)) & 1u) x[j] = data.x(i, j);
        genscope::testing::naive_forward(exact, x.data(), logits);
        double others = 0;
        for (std::size_t k = 0; k < 3; ++k)
          if (k != y) others += std::exp(logits[k]);
        CHECK(outputs[s] == Approx(logits[y] - std::log(others)).margin(1e-4));
      }
      std::vector<double> half(64);
      for (std::size_t s = 0; s < 64; ++s) half[s] = 0.5 * outputs[s];
      const std::vector<double> and_effects(t.reals("and_effects").begin() + from,
                                            t.reals("and_effects").begin() + from + 64);
      const std::vector<double> or_effects(t.reals("or_effects").begin() + from,
                                           t.reals("or_effects").begin() + from + 64);
      CHECK(max_difference(and_effects, dense_and(half)) < 1e-9);
      CHECK(max_difference(or_effects, dense_or(half)) < 1e-9);
      CHECK(t.reals("matching_error")[r] < 1e-9);
      // The strength by order sums the magnitudes of the dense effects.
      for (std::size_t k = 1; k <= 6; ++k) {
        double and_sum = 0, or_sum = 0;
        for (std::size_t s = 1; s < 64; ++s)
          if (static_cast<std::size_t>(__builtin_popcountll(s)) == k) {
            and_sum += std::abs(and_effects[s]);
            or_sum += std::abs(or_effects[s]);
          }
        CHECK(t.reals("and_strength")[7 * r + k] == Approx(and_sum).margin(1e-9));
        CHECK(t.reals("or_strength")[7 * r + k] == Approx(or_sum).margin(1e-9));
      }
    }
  }
}

TEST_CASE("interactions: the reference model's shared part splits generalizable from non-generalizable ones",
          "[interactions]") {
  temp_dir dir("interactions-reference");
  const auto net = open_native(dir, "planted", planted_net(3, 2));
  const auto same = open_native(dir, "same", planted_net(3, 2));
  const auto negated = open_native(dir, "negated", planted_net(3, 2, -1));
  const auto weaker = open_native(dir, "weaker", planted_net(1, 2));
  const dataset data = ones_data();
  auto row = [&](const network_backend& reference) {
    auto a = make_analysis("interactions", {{"grid", std::string("1x5")}, {"baseline", std::string("zero")},
                                            {"output", std::string("logit")}, {"points", std::int64_t{0}},
                                            {"noise_bound", 0.0}, {"shared_fraction", 0.5}});
    a->set_reference_model(reference);
    a->prepare(*net, {&data}, 1);
    return whole_table(*a, 0);
  };
  SECTION("the same network shares everything") {
    const table_batch t = row(*same);
    CHECK(t.reals("reference_v_sample")[0] == Approx(5.25).margin(1e-6));
    CHECK(t.reals("generalizable_strength")[3] == Approx(3).margin(0.02));
    CHECK(t.reals("generalizable_strength")[2] == Approx(2).margin(0.02));
    CHECK(t.reals("nongeneralizable_strength")[3] == Approx(0).margin(1e-9));
    CHECK(t.ints("generalizable_count")[2] == 1);
    CHECK(t.ints("generalizable_count")[3] == 1);
    CHECK(t.ints("nongeneralizable_count")[3] == 0);
    CHECK(t.reals("salient_shared")[0] == t.reals("salient_effect")[0]);
  }
  SECTION("a network of the opposite sign shares nothing") {
    const table_batch t = row(*negated);
    CHECK(t.reals("generalizable_strength")[3] == 0);
    CHECK(t.reals("nongeneralizable_strength")[3] == Approx(3).margin(0.02));
    CHECK(t.ints("generalizable_count")[3] == 0);
    CHECK(t.ints("nongeneralizable_count")[3] == 1);
    CHECK(t.ints("nongeneralizable_count")[2] == 1);
  }
  SECTION("a weaker AND is shared in part: 1 of 3, below shared_fraction") {
    const table_batch t = row(*weaker);
    CHECK(t.reals("generalizable_strength")[3] == Approx(1).margin(0.02));
    CHECK(t.reals("nongeneralizable_strength")[3] == Approx(2).margin(0.03));
    CHECK(t.ints("nongeneralizable_count")[3] == 1);  // 1/3 < 0.5
    CHECK(t.ints("generalizable_count")[2] == 1);     // the OR is the same in both
  }
}

TEST_CASE("interactions: rows do not depend on the thread count or the batching", "[interactions]") {
  temp_dir dir("interactions-threads");
  const auto net = open_native(dir, "random", genscope::testing::random_net(12, {16, 16, 3}, 5));
  const dataset data = genscope::testing::gaussian_data("g", 30, 12, 3, 2);
  auto a = make_analysis("interactions", {{"grid", std::string("1x12")}, {"points", std::int64_t{4}},
                                          {"iterations", std::int64_t{100}}, {"store_all", true}});
  a->prepare(*net, {&data}, 3);
  table_batch two;
  {
    const tbb::global_control limit(tbb::global_control::max_allowed_parallelism, 2);
    two = whole_table(*a, 0);
  }
  const tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
  // One row at a time, in reverse order.
  for (std::size_t r = 4; r-- > 0;) {
    table_batch single;
    single.reset(a->tables()[0], 1);
    a->compute(0, r, 1, single);
    CHECK(single.reals("v_sample")[0] == two.reals("v_sample")[r]);
    CHECK(single.reals("objective")[0] == two.reals("objective")[r]);
    const auto from = static_cast<std::ptrdiff_t>(4096 * r);
    CHECK(std::equal(single.reals("and_effects").begin(), single.reals("and_effects").end(),
                     two.reals("and_effects").begin() + from));
    CHECK(std::equal(single.reals("outputs").begin(), single.reals("outputs").end(),
                     two.reals("outputs").begin() + from));
  }
}

TEST_CASE("interactions: bad options are refused naming the option", "[interactions][negative]") {
  auto refused = [](const std::vector<std::pair<std::string, option_value>>& settings, const std::string& words) {
    CAPTURE(words);
    CHECK_THROWS_WITH(make_analysis("interactions", settings), Contains(words));
  };
  refused({{"grid", std::string("3by3")}}, "option 'grid'");
  refused({{"grid", std::string("0x3")}}, "option 'grid'");
  refused({{"grid", std::string("3x")}}, "option 'grid'");
  refused({{"baseline", std::string("median")}}, "option 'baseline'");
  refused({{"output", std::string("prob")}}, "option 'output'");
  refused({{"target", std::string("other")}}, "option 'target'");
  refused({{"salient", 1.5}}, "option 'salient'");
  refused({{"learning_rate", -1.0}}, "option 'learning_rate'");
  refused({{"final_learning_rate", 1e9}}, "option 'final_learning_rate'");
  refused({{"noise_bound", std::nan("")}}, "option 'noise_bound'");
  refused({{"shared_fraction", 2.0}}, "option 'shared_fraction'");
  refused({{"iterations", std::int64_t{-1}}}, "iterations");
  refused({{"checkpoints", std::string("every")}}, "checkpoints");
  refused({{"groups", std::string("/nonexistent/groups.txt")}}, "cannot read");
}

TEST_CASE("interactions: a groups file names the variables, and a bad one is refused naming file and line",
          "[interactions][negative]") {
  temp_dir dir("interactions-groups");
  const auto net = open_native(dir, "planted", planted_net(3, 2));
  const dataset data = ones_data();
  const std::string path = dir / "groups.txt";
  SECTION("two variables: {0, 1, 2} and {3, 4}") {
    write_file(path, "# the AND inputs, then the OR inputs\n0 1 2\n\n3,4\n");
    auto a = make_analysis("interactions", {{"groups", path}, {"baseline", std::string("zero")},
                                            {"output", std::string("logit")}, {"points", std::int64_t{0}},
                                            {"iterations", std::int64_t{0}}, {"store_all", true}});
    a->prepare(*net, {&data}, 1);
    const table_batch t = whole_table(*a, 0);
    REQUIRE(t.counts("outputs")[0] == 4);
    // v({}) = 0.25, v({AND}) = 3.25, v({OR}) = 2.25, v(both) = 5.25.
    CHECK(t.reals("outputs")[0] == Approx(0.25).margin(1e-6));
    CHECK(t.reals("outputs")[1] == Approx(3.25).margin(1e-6));
    CHECK(t.reals("outputs")[2] == Approx(2.25).margin(1e-6));
    CHECK(t.reals("outputs")[3] == Approx(5.25).margin(1e-6));
  }
  SECTION("one variable {0, 1, 2}: inputs 3 and 4, in no variable, keep the sample's value") {
    write_file(path, "0 1 2\n");
    auto a = make_analysis("interactions", {{"groups", path}, {"baseline", std::string("zero")},
                                            {"output", std::string("logit")}, {"points", std::int64_t{0}},
                                            {"iterations", std::int64_t{0}}, {"store_all", true}});
    a->prepare(*net, {&data}, 1);
    const table_batch t = whole_table(*a, 0);
    REQUIRE(t.counts("outputs")[0] == 2);
    CHECK(t.reals("outputs")[0] == Approx(2.25).margin(1e-6));  // the OR of inputs 3, 4 holds throughout
    CHECK(t.reals("outputs")[1] == Approx(5.25).margin(1e-6));
  }
  SECTION("a word that is no index") {
    write_file(path, "0 1\n2 x\n");
    CHECK_THROWS_WITH(make_analysis("interactions", {{"groups", path}}), Contains("line 2") && Contains("'x'"));
  }
  SECTION("an empty file") {
    write_file(path, "# nothing\n");
    CHECK_THROWS_WITH(make_analysis("interactions", {{"groups", path}}), Contains("names no variable"));
  }
  SECTION("an index beyond the input, or in two variables") {
    write_file(path, "0 1\n2 5\n");
    auto a = make_analysis("interactions", {{"groups", path}});
    CHECK_THROWS_WITH(a->prepare(*net, {&data}, 1), Contains("names input 5") && Contains("5 inputs"));
    write_file(path, "0 1\n1 2\n");
    auto b = make_analysis("interactions", {{"groups", path}});
    CHECK_THROWS_WITH(b->prepare(*net, {&data}, 1), Contains("input 1 is in two variables"));
  }
}

TEST_CASE("interactions: too many variables, empty patches and too many points are refused",
          "[interactions][negative]") {
  temp_dir dir("interactions-sizes");
  const auto net = open_native(dir, "planted", planted_net(3, 2));
  const dataset data = ones_data();
  auto big = make_analysis("interactions", {{"grid", std::string("3x7")}, {"points", std::int64_t{1}}});
  CHECK_THROWS_WITH(big->check({{{5}, 3, 2, "ones"}}, 5), Contains("21 input variables") && Contains("20"));
  auto empty = make_analysis("interactions", {{"grid", std::string("2x2")}, {"points", std::int64_t{0}}});
  CHECK_THROWS_WITH(empty->prepare(*net, {&data}, 1), Contains("holds no input"));
  auto many = make_analysis("interactions", {{"points", std::int64_t{4}}, {"grid", std::string("1x5")}});
  CHECK_THROWS_WITH(many->prepare(*net, {&data}, 1), Contains("option 'points' = 4") && Contains("'ones'"));
}

TEST_CASE("interactions: the sparsified objective of random MLPs reaches the exact LP optimum within 1 percent",
          "[interactions][oracle]") {
  // Three random MLPs on 12 Gaussian inputs (six variables of two inputs each, 64 masks), the plugin's defaults
  // (3000 Adam steps) at noise_bound 0 and 0.02; tests/interactions_lp.py solves each row's LP with cvxopt and
  // brackets its optimum by a dual certificate. A control analysis without optimisation (the half-half split) must
  // fail the same check.
  temp_dir dir("interactions-lp");
  const std::vector<std::vector<std::size_t>> widths{{16, 16, 3}, {32, 3}, {24, 12, 3}};
  std::string experiment = "seed = 4\noutput = \"" + (dir / "results.h5") + R"("

[datasets.gauss]
source = "synthetic"
samples = 300
dim = 12
manifold_dim = 12
classes = 3
separation = 1.0
)";
  for (std::size_t k = 0; k < widths.size(); ++k) {
    const std::string net = "net" + std::to_string(k);
    (void)open_native(dir, net, genscope::testing::random_net(12, widths[k], 20 + k));
    experiment += "\n[models." + net + "]\nbackend = \"native\"\npath = \"" + (dir / (net + ".h5")) + "\"\n";
    for (const std::string tau : {"0.0", "0.02"})
      experiment += "\n[analyses." + net + "_tau" + tau.substr(2) + "]\nplugin = \"interactions\"\nmodel = \"" + net +
                    "\"\ndatasets = [\"gauss\"]\ngrid = \"1x6\"\npoints = 6\nstore_all = true\nnoise_bound = " + tau +
                    "\n";
  }
  experiment += R"(
[analyses.control]
plugin = "interactions"
model = "net0"
datasets = ["gauss"]
grid = "1x6"
points = 3
store_all = true
iterations = 0
)";
  const auto r = genscope::testing::run_cli("run --quiet '" + genscope::testing::write_experiment(dir, experiment) + "'");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto oracle = [&](const std::string& analyses) {
    const std::string log = dir / "lp.log";
    const int status = std::system(("/usr/bin/python3 '" GENSCOPE_TEST_SOURCE_DIR "/tests/interactions_lp.py' '" +
                                    (dir / "results.h5") + "' " + analyses + " > '" + log + "' 2>&1")
                                       .c_str());
    return std::pair{status, genscope::testing::read_file(log)};
  };
  const auto [status, log] = oracle("net0_tau0 net0_tau02 net1_tau0 net1_tau02 net2_tau0 net2_tau02");
  INFO(log);
  CHECK(status == 0);
  CHECK_THAT(log, Contains("36 rows checked, 0 problems"));
  // The control: the half-half split is feasible and consistent, but far from the optimum.
  const auto [control_status, control_log] = oracle("control");
  INFO(control_log);
  CHECK(control_status != 0);
  CHECK_THAT(control_log, Contains("above the LP optimum") && Contains("3 rows checked, 3 problems"));
}

TEST_CASE("interactions: store_all for more values than the memory budget allows is refused naming the option",
          "[interactions][negative]") {
  temp_dir dir("interactions-budget");
  const std::string text = "seed = 1\noutput = \"" + (dir / "results.h5") + "\"\nmodel_cache = \"" + (dir / "models") +
                           R"("

[datasets.gauss]
source = "synthetic"
samples = 60
dim = 12
classes = 3

[models.net]
backend = "native"
dataset = "gauss"
train = { hidden = [8], epochs = 1 }

[analyses.all]
plugin = "interactions"
model = "net"
datasets = ["gauss"]
grid = "1x12"
points = 20
iterations = 0
store_all = true
)";
  // 20 rows of 4 x 4096 doubles: 2.6 MB, over a 1 MB budget.
  const auto r = genscope::testing::run_cli("run --quiet " + genscope::testing::write_experiment(dir, text),
                                            "GENSCOPE_MEMORY_LIMIT=1M");
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(genscope::testing::line_count(r.err) == 1);
  CHECK_THAT(r.err, Contains("option 'store_all'") && Contains("20 rows of 4 x 2^12 values") &&
                        Contains("GENSCOPE_MEMORY_LIMIT"));
}
