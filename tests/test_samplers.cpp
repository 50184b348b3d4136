// Tests of the sampling building blocks (label_groups, choose_samples, random_unit_vector) and of the
// midline and random sampler plugins, against brute-force enumerations and closed-form distributions.
#include <genscope/error.hpp>
#include <genscope/plugin_registry.hpp>
#include <genscope/random.hpp>
#include <genscope/sampling.hpp>

#include "support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

namespace {

using option_list = std::vector<std::pair<std::string, genscope::option_value>>;
using triple = std::tuple<std::int64_t, std::int64_t, std::int64_t>;

const genscope::plugin_registry& registry() { return genscope::testing::build_plugins(); }

// Options not given keep the plugin's defaults (filled in by the registry).
std::shared_ptr<genscope::direction_sampler> make_sampler(const char* plugin, const option_list& given) {
  genscope::option_set o;
  for (const auto& [name, value] : given) o.set(name, value);
  return registry().create_sampler(plugin, o);
}

std::shared_ptr<genscope::direction_sampler> make_midline(std::int64_t count, bool same_label = true) {
  return make_sampler("midline", {{"count", count}, {"same_label", same_label}});
}

std::shared_ptr<genscope::direction_sampler> make_random(std::int64_t anchors, std::int64_t per_anchor) {
  return make_sampler("random", {{"anchors", anchors}, {"per_anchor", per_anchor}});
}

// Samples in R^dim with the given labels; coordinates irregular enough that (x_j + x_k)/2 - x_i
// rounds differently in float and in double for many entries.
genscope::dataset labelled(std::vector<std::int32_t> labels, std::size_t dim = 3) {
  genscope::dataset data;
  data.name = "labelled";
  data.shape = {dim};
  data.x = genscope::matrix(labels.size(), dim);
  for (std::size_t i = 0; i < labels.size(); ++i)
    for (std::size_t c = 0; c < dim; ++c)
      data.x(i, c) = 0.1f * static_cast<float>(i + 1) + 0.37f * static_cast<float>(c * c) -
                     1.3f * static_cast<float>((i * 7 + c * 3) % 5) / 3.0f;
  data.labels = std::move(labels);
  data.true_labels = data.labels;
  data.class_count = 0;
  for (std::int32_t l : data.labels) data.class_count = std::max<std::size_t>(data.class_count, static_cast<std::size_t>(l) + 1);
  return data;
}

// Nine samples: label 0 x4, label 1 x3, labels 2 and 3 alone, interleaved.
genscope::dataset nine() { return labelled({0, 1, 0, 2, 1, 0, 3, 1, 0}); }

genscope::probe_batch all_probes(const genscope::direction_sampler& s) {
  genscope::probe_batch b;
  s.sample(0, s.probe_count(), b);
  return b;
}

bool same_probes(const genscope::probe_batch& a, const genscope::probe_batch& b) {
  return a.first == b.first && a.anchor == b.anchor && a.partners == b.partners && a.kind == b.kind &&
         a.tangent_dim == b.tangent_dim && a.explained_variance == b.explained_variance && a.x.rows == b.x.rows &&
         a.x.cols == b.x.cols && a.x.data == b.x.data && a.d.rows == b.d.rows && a.d.data == b.d.data;
}

// Probes [0, total) assembled from batches of `batch` probes, the batches spread round-robin over
// `threads` threads, each calling sample() concurrently on the same sampler.
genscope::probe_batch assembled(const genscope::direction_sampler& s, std::size_t batch, std::size_t threads) {
  const std::size_t total = s.probe_count();
  const std::size_t batches = (total + batch - 1) / batch;
  std::vector<genscope::probe_batch> parts(batches);
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (std::size_t b = t; b < batches; b += threads)
        s.sample(b * batch, std::min(batch, total - b * batch), parts[b]);
    });
  for (auto& th : pool) th.join();
  genscope::probe_batch out;
  out.resize(total, s.probe_count() == 0 ? 0 : parts[0].x.cols);
  out.first = 0;
  for (std::size_t b = 0; b < batches; ++b) {
    const auto& part = parts[b];
    REQUIRE(part.first == b * batch);
    for (std::size_t k = 0; k < part.size(); ++k) {
      const std::size_t p = part.first + k;
      out.anchor[p] = part.anchor[k];
      out.partners[p] = part.partners[k];
      out.kind[p] = part.kind[k];
      out.tangent_dim[p] = part.tangent_dim[k];
      out.explained_variance[p] = part.explained_variance[k];
      out.partner_t[p] = part.partner_t[k];
      std::copy(part.x.row(k), part.x.row(k) + part.x.cols, out.x.row(p));
      std::copy(part.d.row(k), part.d.row(k) + part.d.cols, out.d.row(p));
    }
  }
  return out;
}

void check_split_independence(const genscope::direction_sampler& s) {
  const auto whole = all_probes(s);
  for (const auto& [batch, threads] : std::vector<std::pair<std::size_t, std::size_t>>{{1, 1}, {7, 2}, {64, 4}, {13, 3}}) {
    INFO("batch " << batch << ", threads " << threads);
    CHECK(same_probes(assembled(s, batch, threads), whole));
  }
}

// Pearson chi-square of observed counts against expected probabilities; every observed key must be expected.
double chi_square(const std::map<triple, double>& observed, const std::map<triple, double>& expected, double n) {
  for (const auto& [key, count] : observed) {
    INFO("unexpected triangle " << std::get<0>(key) << "," << std::get<1>(key) << "," << std::get<2>(key));
    REQUIRE(expected.count(key) == 1);
  }
  double chi2 = 0;
  for (const auto& [key, p] : expected) {
    const auto it = observed.find(key);
    const double o = it == observed.end() ? 0.0 : it->second;
    chi2 += (o - n * p) * (o - n * p) / (n * p);
  }
  return chi2;
}

// A chi-square statistic with `dof` degrees of freedom exceeds dof + 6 sqrt(2 dof) with probability well
// below 1e-5 for the dof used here: loose enough never to fail by chance, tight enough to catch a bias.
double chi_square_bound(std::size_t dof) { return static_cast<double>(dof) + 6.0 * std::sqrt(2.0 * static_cast<double>(dof)); }

// Oracle distributions of the midline triangles, by enumerating every ordered triple.
std::map<triple, double> midline_oracle(const std::vector<std::int32_t>& labels, bool same_label) {
  const std::size_t n = labels.size();
  std::vector<std::size_t> eligible;
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t partners = 0;
    for (std::size_t j = 0; j < n; ++j)
      if (j != i && (labels[j] == labels[i]) == same_label) ++partners;
    if (partners >= 2) eligible.push_back(i);
  }
  std::map<triple, double> p;
  for (std::size_t i : eligible) {
    std::vector<std::size_t> partners;
    for (std::size_t j = 0; j < n; ++j)
      if (j != i && (labels[j] == labels[i]) == same_label) partners.push_back(j);
    const double m = static_cast<double>(partners.size());
    for (std::size_t j : partners)
      for (std::size_t k : partners)
        if (j != k)
          p[{static_cast<std::int64_t>(i), static_cast<std::int64_t>(j), static_cast<std::int64_t>(k)}] =
              1.0 / static_cast<double>(eligible.size()) / (m * (m - 1));
  }
  return p;
}

void check_midline_geometry(const genscope::dataset& data, const genscope::probe_batch& b, bool same_label) {
  for (std::size_t p = 0; p < b.size(); ++p) {
    INFO("probe " << p);
    const std::int64_t i = b.anchor[p];
    const std::int64_t j = b.partners[p][0];
    const std::int64_t k = b.partners[p][1];
    REQUIRE(i >= 0);
    REQUIRE(j >= 0);
    REQUIRE(k >= 0);
    REQUIRE(static_cast<std::size_t>(i) < data.size());
    REQUIRE(static_cast<std::size_t>(j) < data.size());
    REQUIRE(static_cast<std::size_t>(k) < data.size());
    CHECK(i != j);
    CHECK(i != k);
    CHECK(j != k);
    const auto li = data.labels[static_cast<std::size_t>(i)];
    const auto lj = data.labels[static_cast<std::size_t>(j)];
    const auto lk = data.labels[static_cast<std::size_t>(k)];
    if (same_label) {
      CHECK(lj == li);
      CHECK(lk == li);
      CHECK(b.kind[p] == "midline");
    } else {
      CHECK(lj != li);
      CHECK(lk != li);
      CHECK(b.kind[p] == "midline_mixed");
    }
    CHECK(b.tangent_dim[p] == -1);
    CHECK(b.explained_variance[p] == -1.0f);
    for (std::size_t c = 0; c < data.dim(); ++c) {
      const double xi = data.x(static_cast<std::size_t>(i), c);
      const double xj = data.x(static_cast<std::size_t>(j), c);
      const double xk = data.x(static_cast<std::size_t>(k), c);
      CHECK(b.x(p, c) == data.x(static_cast<std::size_t>(i), c));
      CHECK(b.d(p, c) == static_cast<float>(0.5 * (xj + xk) - xi));
    }
  }
}

struct moments {
  double max_norm_error = 0;
  double max_mean = 0;         // largest |mean of a component|
  double max_cov_error = 0;    // largest |E[v_a v_b] - delta_ab / n|
  double max_fourth_error = 0; // largest |E[v_a^4] - 3 / (n (n + 2))|: second moments alone miss e.g. a cube's corners
};

// Norm, mean and second moments of the rows of a count x n float matrix.
moments direction_moments(const float* rows, std::size_t count, std::size_t n) {
  moments m;
  std::vector<double> mean(n, 0.0);
  std::vector<double> second(n * n, 0.0);
  std::vector<double> fourth(n, 0.0);
  for (std::size_t r = 0; r < count; ++r) {
    const float* v = rows + r * n;
    double norm2 = 0;
    for (std::size_t a = 0; a < n; ++a) {
      norm2 += static_cast<double>(v[a]) * v[a];
      mean[a] += v[a];
      fourth[a] += std::pow(static_cast<double>(v[a]), 4);
      for (std::size_t b = 0; b < n; ++b) second[a * n + b] += static_cast<double>(v[a]) * v[b];
    }
    m.max_norm_error = std::max(m.max_norm_error, std::fabs(std::sqrt(norm2) - 1.0));
  }
  const double c = static_cast<double>(count);
  for (std::size_t a = 0; a < n; ++a) {
    m.max_mean = std::max(m.max_mean, std::fabs(mean[a] / c));
    const double nn = static_cast<double>(n);
    m.max_fourth_error = std::max(m.max_fourth_error, std::fabs(fourth[a] / c - 3.0 / (nn * (nn + 2))));
    for (std::size_t b = 0; b < n; ++b) {
      const double expected = a == b ? 1.0 / static_cast<double>(n) : 0.0;
      m.max_cov_error = std::max(m.max_cov_error, std::fabs(second[a * n + b] / c - expected));
    }
  }
  return m;
}

}  // namespace

// ---- label_groups ------------------------------------------------------------------------------

TEST_CASE("label_groups enumerate exactly the right samples, each once, whatever the skips", "[interface]") {
  const std::vector<std::vector<std::int32_t>> cases = {
      {0, 1, 0, 2, 1, 0, 3, 1, 0},
      {5, 5, 5, 5},
      {-3, 7, 7, -3, 0, 7, 2, 2, -3, 7},
      {1},
      {9, 4},
  };
  for (const auto& labels : cases) {
    const std::size_t n = labels.size();
    const genscope::label_groups g(labels);
    REQUIRE(g.size() == n);
    CHECK(g.label_count() == std::set<std::int32_t>(labels.begin(), labels.end()).size());
    std::size_t largest = 0;
    for (std::size_t i = 0; i < n; ++i) {
      INFO("labels case of size " << n << ", sample " << i);
      std::vector<std::size_t> same;   // index order
      std::vector<std::size_t> other;
      for (std::size_t s = 0; s < n; ++s) (labels[s] == labels[i] ? same : other).push_back(s);
      CHECK(g.group_size(i) == same.size());
      largest = std::max(largest, same.size());

      // same_label: every skip set of size 0, 1 or 2 drawn from i's label.
      std::vector<std::vector<std::size_t>> skips = {{}};
      for (std::size_t a = 0; a < same.size(); ++a) {
        skips.push_back({same[a]});
        for (std::size_t b = 0; b < same.size(); ++b)
          if (a != b) skips.push_back({same[a], same[b]});
      }
      for (const auto& skip : skips) {
        std::vector<std::size_t> expected;
        for (std::size_t s : same)
          if (std::find(skip.begin(), skip.end(), s) == skip.end()) expected.push_back(s);
        std::vector<std::size_t> got;
        for (std::size_t r = 0; r < same.size() - skip.size(); ++r) got.push_back(g.same_label(i, r, skip));
        CHECK(got == expected);  // exactly the set, each once, in index order
      }

      // other_label: every skip set of size 0, 1 or 2 drawn from the other labels.
      std::vector<std::vector<std::size_t>> other_skips = {{}};
      for (std::size_t a = 0; a < other.size(); ++a) {
        other_skips.push_back({other[a]});
        for (std::size_t b = 0; b < other.size(); ++b)
          if (a != b) other_skips.push_back({other[a], other[b]});
      }
      for (const auto& skip : other_skips) {
        std::multiset<std::size_t> expected;
        for (std::size_t s : other)
          if (std::find(skip.begin(), skip.end(), s) == skip.end()) expected.insert(s);
        std::multiset<std::size_t> got;
        for (std::size_t r = 0; r < other.size() - skip.size(); ++r) got.insert(g.other_label(i, r, skip));
        CHECK(got == expected);  // exactly the set, each once
      }
    }
    CHECK(g.largest_group() == largest);
  }
}

TEST_CASE("label_groups of no samples are empty", "[boundary]") {
  const genscope::label_groups g(std::vector<std::int32_t>{});
  CHECK(g.size() == 0);
  CHECK(g.label_count() == 0);
  CHECK(g.largest_group() == 0);
}

// ---- choose_samples ----------------------------------------------------------------------------

TEST_CASE("choose_samples draws distinct samples with the prefix property", "[interface]") {
  for (std::size_t n : {1u, 2u, 9u, 50u}) {
    for (std::uint64_t seed : {0u, 1u, 77u}) {
      const auto all = genscope::choose_samples(n, n, seed, "anchors");
      REQUIRE(all.size() == n);
      std::vector<std::size_t> sorted = all;
      std::sort(sorted.begin(), sorted.end());
      for (std::size_t k = 0; k < n; ++k) CHECK(sorted[k] == k);  // a permutation of 0..n-1
      for (std::size_t c = 0; c <= n; ++c) {
        const auto some = genscope::choose_samples(n, c, seed, "anchors");
        REQUIRE(some.size() == c);
        CHECK(std::equal(some.begin(), some.end(), all.begin()));
      }
    }
  }
  // Another stream or seed gives another choice (50! orders: a coincidence is impossible in practice).
  CHECK(genscope::choose_samples(50, 50, 3, "anchors") != genscope::choose_samples(50, 50, 3, "other"));
  CHECK(genscope::choose_samples(50, 50, 3, "anchors") != genscope::choose_samples(50, 50, 4, "anchors"));
}

TEST_CASE("choose_samples is uniform over ordered choices", "[interface]") {
  // Oracle: a uniform shuffle makes each of the 5 * 4 ordered pairs equally likely, 1/20.
  const std::size_t draws = 20000;
  std::map<triple, double> observed;
  std::map<triple, double> expected;
  for (std::int64_t a = 0; a < 5; ++a)
    for (std::int64_t b = 0; b < 5; ++b)
      if (a != b) expected[{a, b, 0}] = 1.0 / 20;
  for (std::uint64_t seed = 0; seed < draws; ++seed) {
    const auto c = genscope::choose_samples(5, 2, seed, "anchors");
    observed[{static_cast<std::int64_t>(c[0]), static_cast<std::int64_t>(c[1]), 0}] += 1;
  }
  CHECK(chi_square(observed, expected, static_cast<double>(draws)) < chi_square_bound(19));
}

TEST_CASE("choose_samples refuses more samples than there are", "[negative]") {
  CHECK_THROWS_AS(genscope::choose_samples(3, 4, 1, "anchors"), genscope::error);
  CHECK_THROWS_WITH(genscope::choose_samples(3, 4, 1, "anchors"), Catch::Contains("4") && Catch::Contains("3"));
  CHECK_THROWS_AS(genscope::choose_samples(0, 1, 1, "anchors"), genscope::error);
  CHECK(genscope::choose_samples(0, 0, 1, "anchors").empty());
}

// ---- random_unit_vector ------------------------------------------------------------------------

TEST_CASE("random_unit_vector is a unit vector, mean 0 and covariance I/n", "[interface]") {
  // For v uniform on the unit sphere of R^5: E v = 0, E v v^T = I/5, E v_a^4 = 3/35. Standard errors
  // over 40000 draws: about 0.0022 for a mean, 0.0011 for a second moment, 0.0008 for a fourth
  // moment; the bounds are ~6 of those.
  const std::size_t n = 5;
  const std::size_t draws = 40000;
  std::vector<float> rows(draws * n);
  for (std::size_t r = 0; r < draws; ++r) {
    genscope::rng random(12, genscope::stream_key("test"), r);
    genscope::random_unit_vector(random, rows.data() + r * n, n);
  }
  const auto m = direction_moments(rows.data(), draws, n);
  CHECK(m.max_norm_error < 1e-6);
  CHECK(m.max_mean < 0.015);
  CHECK(m.max_cov_error < 0.008);
  CHECK(m.max_fourth_error < 0.005);
}

TEST_CASE("random_unit_vector in one dimension is +1 or -1, each half the time", "[boundary]") {
  std::size_t plus = 0;
  const std::size_t draws = 10000;
  for (std::size_t r = 0; r < draws; ++r) {
    genscope::rng random(3, genscope::stream_key("test"), r);
    float v = 0;
    genscope::random_unit_vector(random, &v, 1);
    REQUIRE((v == 1.0f || v == -1.0f));
    plus += v > 0;
  }
  CHECK(static_cast<double>(plus) / draws == Approx(0.5).margin(0.03));  // 6 standard deviations
}

TEST_CASE("random_unit_vector refuses dimension 0 instead of looping forever", "[negative]") {
  genscope::rng random(1);
  float v = 0;
  CHECK_THROWS_WITH(genscope::random_unit_vector(random, &v, 0), Catch::Contains("dimension 0"));
}

// ---- midline -----------------------------------------------------------------------------------

TEST_CASE("midline probes are same-label triangles with d the exact median", "[interface]") {
  const auto data = nine();
  auto sampler = make_midline(2000);
  sampler->prepare(data, 11);
  REQUIRE(sampler->probe_count() == 2000);
  const auto b = all_probes(*sampler);
  REQUIRE(b.size() == 2000);
  CHECK(b.first == 0);
  CHECK(b.x.rows == 2000);
  CHECK(b.x.cols == 3);
  CHECK(b.d.cols == 3);
  check_midline_geometry(data, b, true);
  // Samples 3 and 6 are alone in their labels: never vertices of a triangle.
  for (std::size_t p = 0; p < b.size(); ++p)
    for (std::int64_t v : {b.anchor[p], b.partners[p][0], b.partners[p][1]}) CHECK((v != 3 && v != 6));
}

TEST_CASE("partner_t says where each probe's line reaches its partner point", "[interface]") {
  // x + 1 d is x_j (pairwise) or the midpoint of x_j and x_k (midline); unit directions reach no point.
  const auto data = nine();
  for (const char* plugin : {"pairwise", "midline", "random"}) {
    INFO(plugin);
    auto sampler = std::string(plugin) == "random" ? make_random(5, 2) : make_sampler(plugin, {});
    sampler->prepare(data, 4);
    const auto b = all_probes(*sampler);
    REQUIRE(b.partner_t.size() == b.size());
    const float want = std::string(plugin) == "random" ? -1.0f : 1.0f;
    for (std::size_t p = 0; p < b.size(); ++p) CHECK(b.partner_t[p] == want);
    if (want < 0) continue;
    for (std::size_t p = 0; p < b.size(); ++p) {
      const auto j = static_cast<std::size_t>(b.partners[p][0]);
      const auto k = b.partners[p][1] < 0 ? j : static_cast<std::size_t>(b.partners[p][1]);
      for (std::size_t c = 0; c < b.x.cols; ++c)
        CHECK(b.x(p, c) + b.d(p, c) == Approx((data.x(j, c) + data.x(k, c)) / 2).margin(1e-5));
    }
  }
}

TEST_CASE("midline with same_label = false draws both partners from other labels", "[interface]") {
  const auto data = nine();
  auto sampler = make_midline(2000, false);
  sampler->prepare(data, 11);
  check_midline_geometry(data, all_probes(*sampler), false);
}

TEST_CASE("midline's d rounds once from double, not through float sums", "[regression]") {
  // Values chosen so that float arithmetic (x_j + x_k) / 2 - x_i differs from the double result
  // rounded once for some triangles: e.g. i = 2, j = 0, k = 1 gives -2^-23 in float (1 + 2^-23 + 2^-24
  // rounds to 1 + 2^-22) but -5 * 2^-25 in double.
  genscope::dataset data = labelled({0, 0, 0}, 1);
  data.x(0, 0) = 1.0f + 0x1.0p-23f;
  data.x(1, 0) = 0x1.0p-24f;
  data.x(2, 0) = 0.5f + 0x1.0p-22f;
  auto sampler = make_midline(60);
  sampler->prepare(data, 2);
  const auto b = all_probes(*sampler);
  std::set<std::int64_t> anchors;
  std::size_t discriminating = 0;
  for (std::size_t p = 0; p < b.size(); ++p) {
    const auto i = static_cast<std::size_t>(b.anchor[p]);
    const auto j = static_cast<std::size_t>(b.partners[p][0]);
    const auto k = static_cast<std::size_t>(b.partners[p][1]);
    CHECK(i + j + k == 3);  // a permutation of {0, 1, 2}
    const double exact = (static_cast<double>(data.x(j, 0)) + data.x(k, 0)) / 2 - data.x(i, 0);
    CHECK(b.d(p, 0) == static_cast<float>(exact));
    const float in_float = (data.x(j, 0) + data.x(k, 0)) / 2 - data.x(i, 0);
    if (in_float != static_cast<float>(exact)) ++discriminating;
    anchors.insert(b.anchor[p]);
  }
  CHECK(anchors.size() == 3);
  CHECK(discriminating > 0);  // the check above could tell the two computations apart
}

TEST_CASE("midline same-label triangles are uniform", "[interface]") {
  // Oracle: vertex i uniform over the 7 samples whose label has >= 3 samples, then (j, k) uniform over
  // the ordered pairs of distinct other members of i's label: 30 ordered triangles in all.
  const auto data = nine();
  const std::size_t n = 30000;
  auto sampler = make_midline(static_cast<std::int64_t>(n));
  sampler->prepare(data, 3);
  const auto b = all_probes(*sampler);
  std::map<triple, double> observed;
  for (std::size_t p = 0; p < n; ++p) observed[{b.anchor[p], b.partners[p][0], b.partners[p][1]}] += 1;
  const auto expected = midline_oracle(data.labels, true);
  REQUIRE(expected.size() == 30);
  CHECK(observed.size() == expected.size());
  CHECK(chi_square(observed, expected, static_cast<double>(n)) < chi_square_bound(expected.size() - 1));
}

TEST_CASE("midline mixed-label triangles are uniform", "[interface]") {
  // Oracle: vertex i uniform over all 9 samples (each has >= 2 samples of other labels), then (j, k)
  // uniform over ordered pairs of distinct samples of labels other than i's: 282 ordered triangles.
  const auto data = nine();
  const std::size_t n = 100000;
  auto sampler = make_midline(static_cast<std::int64_t>(n), false);
  sampler->prepare(data, 4);
  const auto b = all_probes(*sampler);
  std::map<triple, double> observed;
  for (std::size_t p = 0; p < n; ++p) observed[{b.anchor[p], b.partners[p][0], b.partners[p][1]}] += 1;
  const auto expected = midline_oracle(data.labels, false);
  REQUIRE(expected.size() == 282);
  CHECK(observed.size() == expected.size());
  CHECK(chi_square(observed, expected, static_cast<double>(n)) < chi_square_bound(expected.size() - 1));
}

TEST_CASE("midline probes do not depend on batching or thread count", "[regression]") {
  const auto data = nine();
  for (bool same : {true, false}) {
    auto sampler = make_midline(300, same);
    sampler->prepare(data, 9);
    check_split_independence(*sampler);
  }
}

TEST_CASE("midline probes are deterministic for a seed and differ across seeds", "[interface]") {
  const auto data = nine();
  auto a = make_midline(200);
  auto b = make_midline(200);
  auto c = make_midline(200);
  a->prepare(data, 42);
  b->prepare(data, 42);
  c->prepare(data, 43);
  CHECK(same_probes(all_probes(*a), all_probes(*b)));
  CHECK_FALSE(same_probes(all_probes(*a), all_probes(*c)));
}

TEST_CASE("midline defaults to 1000 same-label probes", "[interface]") {
  auto sampler = make_sampler("midline", {});
  const auto data = nine();
  sampler->prepare(data, 1);
  REQUIRE(sampler->probe_count() == 1000);
  check_midline_geometry(data, all_probes(*sampler), true);
}

TEST_CASE("midline works at the smallest data sets it can serve", "[boundary]") {
  auto same = make_midline(20);
  const auto three = labelled({4, 4, 4});
  same->prepare(three, 1);
  auto b = all_probes(*same);
  for (std::size_t p = 0; p < b.size(); ++p) CHECK(b.anchor[p] + b.partners[p][0] + b.partners[p][1] == 3);

  // Mixed: only sample 0 has two samples of another label; its partners are 1 and 2.
  auto mixed = make_midline(20, false);
  const auto one_two = labelled({0, 1, 1});
  mixed->prepare(one_two, 1);
  b = all_probes(*mixed);
  for (std::size_t p = 0; p < b.size(); ++p) {
    CHECK(b.anchor[p] == 0);
    CHECK(b.partners[p][0] + b.partners[p][1] == 3);
  }

  same->sample(20, 0, b);  // an empty batch at the end is fine
  CHECK(b.size() == 0);
  CHECK(b.first == 20);
}

TEST_CASE("midline refuses a data set where no label has three samples", "[negative]") {
  auto sampler = make_midline(10);
  const auto data = labelled({0, 0, 1, 1, 2});
  CHECK_THROWS_WITH(sampler->prepare(data, 1),
                    Catch::Contains("no label") && Catch::Contains("three samples") && Catch::Contains("same_label"));
}

TEST_CASE("midline mixed-label refuses a data set with one label", "[negative]") {
  auto sampler = make_midline(10, false);
  const auto data = labelled({2, 2, 2, 2});
  CHECK_THROWS_WITH(sampler->prepare(data, 1),
                    Catch::Contains("fewer than two labels") && Catch::Contains("same_label = false"));
}

TEST_CASE("midline mixed-label refuses a data set without two samples of another label", "[negative]") {
  auto sampler = make_midline(10, false);
  const auto data = labelled({0, 1});
  CHECK_THROWS_WITH(sampler->prepare(data, 1),
                    Catch::Contains("two samples of other labels") && Catch::Contains("same_label = false"));
}

TEST_CASE("midline refuses an empty data set", "[negative]") {
  CHECK_THROWS(make_midline(10)->prepare(labelled({}), 1));
  CHECK_THROWS(make_midline(10, false)->prepare(labelled({}), 1));
}

TEST_CASE("midline refuses labels that do not match the samples", "[negative]") {
  auto data = nine();
  data.labels.pop_back();
  CHECK_THROWS_WITH(make_midline(10)->prepare(data, 1), Catch::Contains("8 labels for 9 samples"));
}

TEST_CASE("midline refuses count = 0", "[negative]") {
  try {
    (void)make_midline(0);
    FAIL("count = 0 was accepted");
  } catch (const genscope::plugin_error& e) {
    CHECK(e.plugin() == "midline");
    CHECK_THAT(e.what(), Catch::Contains("'count'") && Catch::Contains("got 0"));
  }
}

TEST_CASE("midline refuses a negative count", "[negative]") {
  CHECK_THROWS_WITH(make_midline(-5), Catch::Contains("'count'") && Catch::Contains("got -5"));
}

TEST_CASE("midline refuses probes past probe_count()", "[negative]") {
  auto sampler = make_midline(10);
  const auto data = nine();
  sampler->prepare(data, 1);
  genscope::probe_batch b;
  CHECK_THROWS_AS(sampler->sample(5, 6, b), std::out_of_range);
  CHECK_THROWS_WITH(sampler->sample(5, 6, b), Catch::Equals("probes [5, 11) requested, the sampler has 10"));
  CHECK_THROWS(sampler->sample(11, 0, b));
}

TEST_CASE("midline refuses sample() before prepare()", "[negative]") {
  auto sampler = make_midline(10);
  genscope::probe_batch b;
  CHECK_THROWS_WITH(sampler->sample(0, 1, b), Catch::Contains("before prepare()"));
}

// ---- random ------------------------------------------------------------------------------------

TEST_CASE("random probes are unit directions at the choose_samples anchors", "[interface]") {
  const auto data = labelled(std::vector<std::int32_t>(40, 0), 6);
  auto sampler = make_random(25, 3);
  sampler->prepare(data, 17);
  REQUIRE(sampler->probe_count() == 75);
  const auto b = all_probes(*sampler);
  REQUIRE(b.size() == 75);
  CHECK(b.d.cols == 6);
  const auto anchors = genscope::choose_samples(40, 25, 17, "anchors");
  for (std::size_t p = 0; p < b.size(); ++p) {
    INFO("probe " << p);
    CHECK(b.anchor[p] == static_cast<std::int64_t>(anchors[p / 3]));
    CHECK(b.partners[p][0] == -1);
    CHECK(b.partners[p][1] == -1);
    CHECK(b.kind[p] == "random");
    CHECK(b.tangent_dim[p] == -1);
    CHECK(b.explained_variance[p] == -1.0f);
    double norm2 = 0;
    for (std::size_t c = 0; c < 6; ++c) {
      CHECK(b.x(p, c) == data.x(anchors[p / 3], c));
      norm2 += static_cast<double>(b.d(p, c)) * b.d(p, c);
    }
    CHECK(std::fabs(std::sqrt(norm2) - 1.0) < 1e-6);
    // The documented stream: d = random_unit_vector(rng(seed, stream_key("random"), p)).
    genscope::rng random(17, genscope::stream_key("random"), p);
    std::vector<float> expected(6);
    genscope::random_unit_vector(random, expected.data(), 6);
    CHECK(std::equal(expected.begin(), expected.end(), b.d.row(p)));
  }
  // The directions of one anchor's probes differ from each other.
  for (std::size_t a = 0; a < 25; ++a) {
    CHECK_FALSE(std::equal(b.d.row(3 * a), b.d.row(3 * a) + 6, b.d.row(3 * a + 1)));
    CHECK_FALSE(std::equal(b.d.row(3 * a + 1), b.d.row(3 * a + 1) + 6, b.d.row(3 * a + 2)));
  }
}

TEST_CASE("random directions are isotropic", "[interface]") {
  // E d = 0, E d d^T = I/4 and E d_a^4 = 1/8 for d uniform on the unit sphere of R^4; 20000 directions
  // (standard errors about 0.0035 for a mean, 0.0017 for a second moment, 0.0014 for a fourth moment).
  const auto data = labelled(std::vector<std::int32_t>(50, 1), 4);
  auto sampler = make_random(50, 400);
  sampler->prepare(data, 5);
  const auto b = all_probes(*sampler);
  REQUIRE(b.size() == 20000);
  const auto m = direction_moments(b.d.data.data(), b.size(), 4);
  CHECK(m.max_norm_error < 1e-6);
  CHECK(m.max_mean < 0.02);
  CHECK(m.max_cov_error < 0.012);
  CHECK(m.max_fourth_error < 0.009);
  // With anchors = N the anchors are a permutation: every sample is anchor of exactly per_anchor probes.
  std::map<std::int64_t, std::size_t> uses;
  for (std::int64_t a : b.anchor) ++uses[a];
  REQUIRE(uses.size() == 50);
  for (const auto& [a, c] : uses) CHECK(c == 400);
}

TEST_CASE("random shares its anchors with local_pca", "[interface]") {
  const auto data = labelled({0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1}, 4);
  auto random = make_random(12, 1);
  auto pca = make_sampler("local_pca", {{std::string("anchors"), std::int64_t{12}},
                                        {std::string("k"), std::int64_t{3}},
                                        {std::string("same_label"), false},
                                        {std::string("tangent_count"), std::int64_t{1}},
                                        {std::string("normal_count"), std::int64_t{0}}});
  random->prepare(data, 8);
  pca->prepare(data, 8);
  CHECK(all_probes(*random).anchor == all_probes(*pca).anchor);
}

TEST_CASE("random probes do not depend on batching or thread count", "[regression]") {
  const auto data = labelled(std::vector<std::int32_t>(30, 2), 5);
  auto sampler = make_random(20, 7);
  sampler->prepare(data, 9);
  check_split_independence(*sampler);
}

TEST_CASE("random probes are deterministic for a seed and differ across seeds", "[interface]") {
  const auto data = labelled(std::vector<std::int32_t>(30, 2), 5);
  auto a = make_random(10, 2);
  auto b = make_random(10, 2);
  auto c = make_random(10, 2);
  a->prepare(data, 42);
  b->prepare(data, 42);
  c->prepare(data, 43);
  CHECK(same_probes(all_probes(*a), all_probes(*b)));
  CHECK_FALSE(same_probes(all_probes(*a), all_probes(*c)));
}

TEST_CASE("random defaults to 200 anchors with one direction each", "[interface]") {
  auto sampler = make_sampler("random", {});
  const auto data = labelled(std::vector<std::int32_t>(200, 0), 2);
  sampler->check({{2}, 200, 1, "data"});
  sampler->prepare(data, 1);
  REQUIRE(sampler->probe_count() == 200);
  const auto b = all_probes(*sampler);
  CHECK(b.anchor.size() == 200);
  CHECK(std::set<std::int64_t>(b.anchor.begin(), b.anchor.end()).size() == 200);
}

TEST_CASE("random accepts as many anchors as samples", "[boundary]") {
  auto sampler = make_random(3, 2);
  CHECK_NOTHROW(sampler->check({{4}, 3, 1, "data"}));
  const auto data = labelled({0, 0, 0}, 1);
  sampler->prepare(data, 1);
  const auto b = all_probes(*sampler);
  for (std::size_t p = 0; p < b.size(); ++p) CHECK(std::fabs(b.d(p, 0)) == 1.0f);  // the unit sphere of R^1
}

TEST_CASE("random refuses more anchors than samples at validation", "[negative]") {
  auto sampler = make_random(10, 1);
  CHECK_THROWS_WITH(sampler->check({{3}, 9, 2, "data"}),
                    Catch::Contains("'anchors'") && Catch::Contains("10") && Catch::Contains("9 samples"));
}

TEST_CASE("random refuses more anchors than samples at prepare()", "[negative]") {
  auto sampler = make_random(10, 1);
  const auto data = labelled({0, 1, 0});
  CHECK_THROWS_WITH(sampler->prepare(data, 1), Catch::Contains("'anchors'") && Catch::Contains("3 samples"));
}

TEST_CASE("random refuses samples of dimension 0", "[negative]") {
  auto sampler = make_random(2, 1);
  const auto data = labelled({0, 1, 0}, 0);
  CHECK_THROWS_WITH(sampler->prepare(data, 1), Catch::Contains("dimension 0"));
}

TEST_CASE("random refuses anchors = 0 and negative anchors", "[negative]") {
  try {
    (void)make_random(0, 1);
    FAIL("anchors = 0 was accepted");
  } catch (const genscope::plugin_error& e) {
    CHECK(e.plugin() == "random");
    CHECK_THAT(e.what(), Catch::Contains("'anchors'") && Catch::Contains("got 0"));
  }
  CHECK_THROWS_WITH(make_random(-4, 1), Catch::Contains("'anchors'") && Catch::Contains("got -4"));
}

TEST_CASE("random refuses per_anchor = 0 and negative per_anchor", "[negative]") {
  CHECK_THROWS_WITH(make_random(5, 0), Catch::Contains("'per_anchor'") && Catch::Contains("got 0"));
  CHECK_THROWS_WITH(make_random(5, -1), Catch::Contains("'per_anchor'") && Catch::Contains("got -1"));
}

TEST_CASE("random refuses counts beyond 2^32, alone or multiplied", "[negative]") {
  const std::int64_t big = std::numeric_limits<std::int64_t>::max();
  CHECK_THROWS_WITH(make_random(big, 4), Catch::Contains("'anchors' must be between 1 and 4294967296"));
  CHECK_THROWS_WITH(make_random(std::int64_t{1} << 20, std::int64_t{1} << 20),
                    Catch::Contains("make more than 2^32 probes"));
}

TEST_CASE("random refuses probes past probe_count()", "[negative]") {
  auto sampler = make_random(4, 2);
  const auto data = labelled({0, 1, 0, 1});
  sampler->prepare(data, 1);
  genscope::probe_batch b;
  CHECK_THROWS_AS(sampler->sample(5, 4, b), std::out_of_range);
  CHECK_THROWS_WITH(sampler->sample(5, 4, b), Catch::Equals("probes [5, 9) requested, the sampler has 8"));
}

TEST_CASE("random refuses sample() before prepare()", "[negative]") {
  auto sampler = make_random(4, 2);
  genscope::probe_batch b;
  CHECK_THROWS_WITH(sampler->sample(0, 1, b), Catch::Contains("before prepare()"));
}
