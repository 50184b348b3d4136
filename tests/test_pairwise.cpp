// Tests of the pairwise sampler plugin on a small hand-made data set.
#include <genscope/error.hpp>
#include <genscope/plugin_registry.hpp>

#include "support.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>

namespace {

const genscope::plugin_registry& registry() { return genscope::testing::build_plugins(); }

std::shared_ptr<genscope::direction_sampler> make_sampler(std::int64_t count, bool same_label = true) {
  genscope::option_set o;
  o.set("count", count);
  o.set("same_label", same_label);
  return registry().create_sampler("pairwise", o);
}

// Seven samples in R^3 with labels 0 (x3), 1 (x2), 2 (x1), 3 (x1); coordinates chosen so
// that differences are not exactly representable sums of their parts.
genscope::dataset small_data() {
  genscope::dataset data;
  data.name = "small";
  data.shape = {3};
  data.x = genscope::matrix(7, 3);
  for (std::size_t i = 0; i < 7; ++i)
    for (std::size_t c = 0; c < 3; ++c) data.x(i, c) = 0.1f * static_cast<float>(i + 1) + 0.37f * static_cast<float>(c * c);
  data.labels = {0, 1, 0, 2, 1, 0, 3};
  data.true_labels = data.labels;
  data.class_count = 4;
  return data;
}

genscope::dataset labelled(std::vector<std::int32_t> labels) {
  genscope::dataset data;
  data.name = "labelled";
  data.shape = {1};
  data.x = genscope::matrix(labels.size(), 1);
  data.labels = std::move(labels);
  return data;
}

void check_probe_geometry(const genscope::dataset& data, const genscope::probe_batch& b, bool same_label) {
  for (std::size_t k = 0; k < b.size(); ++k) {
    const auto i = static_cast<std::size_t>(b.anchor[k]);
    const auto j = static_cast<std::size_t>(b.partners[k][0]);
    REQUIRE(i < data.size());
    REQUIRE(j < data.size());
    CHECK(b.partners[k][1] == -1);
    CHECK(i != j);
    if (same_label) {
      CHECK(data.labels[i] == data.labels[j]);
      CHECK(b.kind[k] == "pairwise");
    } else {
      CHECK(data.labels[i] != data.labels[j]);
      CHECK(b.kind[k] == "pairwise_diff");
    }
    for (std::size_t c = 0; c < data.dim(); ++c) {
      CHECK(b.x(k, c) == data.x(i, c));
      CHECK(b.d(k, c) == data.x(j, c) - data.x(i, c));
    }
  }
}

bool same_probes(const genscope::probe_batch& a, const genscope::probe_batch& b) {
  return a.anchor == b.anchor && a.partners == b.partners && a.kind == b.kind && a.x.data == b.x.data &&
         a.d.data == b.d.data;
}

}  // namespace

TEST_CASE("pairwise probes pair same-label samples, x the anchor and d the exact difference", "[interface]") {
  const auto data = small_data();
  auto sampler = make_sampler(500);
  sampler->prepare(data, 11);
  REQUIRE(sampler->probe_count() == 500);
  genscope::probe_batch b;
  sampler->sample(0, 500, b);
  REQUIRE(b.size() == 500);
  CHECK(b.first == 0);
  CHECK(b.x.rows == 500);
  CHECK(b.x.cols == 3);
  check_probe_geometry(data, b, true);
  // Samples 3 and 6 are alone in their labels: never anchors, never partners.
  for (std::size_t k = 0; k < b.size(); ++k) {
    CHECK(b.anchor[k] != 3);
    CHECK(b.anchor[k] != 6);
  }
}

TEST_CASE("pairwise with same_label = false pairs different labels", "[interface]") {
  const auto data = small_data();
  auto sampler = make_sampler(500, false);
  sampler->prepare(data, 11);
  genscope::probe_batch b;
  sampler->sample(0, 500, b);
  check_probe_geometry(data, b, false);
}

TEST_CASE("pairwise anchors and partners are uniform", "[interface]") {
  // Oracle: anchors uniform over the 5 samples whose label has a partner; partners
  // uniform over the other members of the anchor's label.
  const auto data = small_data();
  const std::size_t n = 50000;
  auto sampler = make_sampler(static_cast<std::int64_t>(n));
  sampler->prepare(data, 3);
  genscope::probe_batch b;
  sampler->sample(0, n, b);
  std::map<std::pair<std::int64_t, std::int64_t>, double> pairs;
  for (std::size_t k = 0; k < n; ++k) pairs[{b.anchor[k], b.partners[k][0]}] += 1.0 / static_cast<double>(n);
  const std::map<std::pair<std::int64_t, std::int64_t>, double> expected = {
      {{0, 2}, 0.1}, {{0, 5}, 0.1}, {{2, 0}, 0.1}, {{2, 5}, 0.1}, {{5, 0}, 0.1}, {{5, 2}, 0.1},
      {{1, 4}, 0.2}, {{4, 1}, 0.2}};
  REQUIRE(pairs.size() == expected.size());
  for (const auto& [pair, p] : expected) {
    INFO("pair " << pair.first << "," << pair.second);
    CHECK(pairs[pair] == Approx(p).margin(0.01));  // 5 standard deviations at n = 50000
  }
}

TEST_CASE("pairwise different-label partners are uniform over the other labels", "[interface]") {
  const auto data = small_data();
  const std::size_t n = 50000;
  auto sampler = make_sampler(static_cast<std::int64_t>(n), false);
  sampler->prepare(data, 5);
  genscope::probe_batch b;
  sampler->sample(0, n, b);
  std::map<std::int64_t, double> anchors;
  std::map<std::int64_t, double> partners_of_3;  // sample 3 (label 2): partners are the 6 others
  double anchored_at_3 = 0;
  for (std::size_t k = 0; k < n; ++k) {
    anchors[b.anchor[k]] += 1.0 / static_cast<double>(n);
    if (b.anchor[k] == 3) {
      partners_of_3[b.partners[k][0]] += 1;
      anchored_at_3 += 1;
    }
  }
  REQUIRE(anchors.size() == 7);
  for (const auto& [i, p] : anchors) CHECK(p == Approx(1.0 / 7).margin(0.01));
  REQUIRE(partners_of_3.size() == 6);
  for (const auto& [j, c] : partners_of_3) CHECK(c / anchored_at_3 == Approx(1.0 / 6).margin(0.04));
}

TEST_CASE("pairwise probes are deterministic for a seed and differ across seeds", "[interface]") {
  const auto data = small_data();
  auto a = make_sampler(100);
  auto b = make_sampler(100);
  auto c = make_sampler(100);
  a->prepare(data, 42);
  b->prepare(data, 42);
  c->prepare(data, 43);
  genscope::probe_batch pa;
  genscope::probe_batch pb;
  genscope::probe_batch pc;
  a->sample(0, 100, pa);
  b->sample(0, 100, pb);
  c->sample(0, 100, pc);
  CHECK(same_probes(pa, pb));
  CHECK_FALSE(same_probes(pa, pc));
}

TEST_CASE("pairwise probes do not depend on the batch split", "[regression]") {
  const auto data = small_data();
  for (bool same : {true, false}) {
    auto sampler = make_sampler(100, same);
    sampler->prepare(data, 9);
    genscope::probe_batch whole;
    genscope::probe_batch head;
    genscope::probe_batch tail;
    sampler->sample(0, 100, whole);
    sampler->sample(0, 37, head);
    sampler->sample(37, 63, tail);
    CHECK(tail.first == 37);
    REQUIRE(head.size() + tail.size() == whole.size());
    for (std::size_t k = 0; k < 100; ++k) {
      const auto& part = k < 37 ? head : tail;
      const std::size_t kk = k < 37 ? k : k - 37;
      CHECK(part.anchor[kk] == whole.anchor[k]);
      CHECK(part.partners[kk] == whole.partners[k]);
      for (std::size_t col = 0; col < 3; ++col) {
        CHECK(part.x(kk, col) == whole.x(k, col));
        CHECK(part.d(kk, col) == whole.d(k, col));
      }
    }
  }
}

TEST_CASE("pairwise works at the smallest data sets it can serve", "[boundary]") {
  auto same = make_sampler(10);
  const auto two = labelled({4, 4});
  same->prepare(two, 1);
  genscope::probe_batch b;
  same->sample(0, 10, b);
  for (std::size_t k = 0; k < 10; ++k) CHECK(b.anchor[k] + b.partners[k][0] == 1);

  auto different = make_sampler(10, false);
  const auto one_each = labelled({0, 1});
  different->prepare(one_each, 1);
  different->sample(0, 10, b);
  for (std::size_t k = 0; k < 10; ++k) CHECK(b.anchor[k] + b.partners[k][0] == 1);

  same->sample(10, 0, b);  // an empty batch at the end is fine
  CHECK(b.size() == 0);
}

TEST_CASE("pairwise refuses a data set where no label has two samples", "[negative]") {
  auto sampler = make_sampler(10);
  const auto data = labelled({0, 1, 2});
  CHECK_THROWS_WITH(sampler->prepare(data, 1),
                    Catch::Contains("no label") && Catch::Contains("two samples") && Catch::Contains("same_label"));
}

TEST_CASE("pairwise different-label refuses a data set with one label", "[negative]") {
  auto sampler = make_sampler(10, false);
  const auto data = labelled({2, 2, 2});
  CHECK_THROWS_WITH(sampler->prepare(data, 1), Catch::Contains("fewer than two labels") &&
                                                   Catch::Contains("same_label = false"));
}

TEST_CASE("pairwise refuses an empty data set", "[negative]") {
  auto sampler = make_sampler(10);
  CHECK_THROWS(sampler->prepare(labelled({}), 1));
}

TEST_CASE("pairwise refuses count = 0", "[negative]") {
  try {
    (void)make_sampler(0);
    FAIL("count = 0 was accepted");
  } catch (const genscope::plugin_error& e) {
    CHECK(e.plugin() == "pairwise");
    CHECK_THAT(e.what(), Catch::Contains("'count'") && Catch::Contains("got 0"));
  }
}

TEST_CASE("pairwise refuses a negative count", "[negative]") {
  CHECK_THROWS_WITH(make_sampler(-5), Catch::Contains("'count'") && Catch::Contains("got -5"));
}

TEST_CASE("pairwise refuses probes past probe_count()", "[negative]") {
  auto sampler = make_sampler(10);
  const auto data = small_data();
  sampler->prepare(data, 1);
  genscope::probe_batch b;
  CHECK_THROWS_AS(sampler->sample(5, 6, b), std::out_of_range);
  CHECK_THROWS_WITH(sampler->sample(5, 6, b), Catch::Equals("probes [5, 11) requested, the sampler has 10"));
  CHECK_THROWS_AS(sampler->sample(5, std::numeric_limits<std::size_t>::max(), b), std::out_of_range);  // no overflow
  CHECK_THROWS_AS(sampler->sample(11, 0, b), std::out_of_range);
  sampler->sample(10, 0, b);  // an empty batch at the end is fine
  CHECK(b.size() == 0);
  CHECK(b.first == 10);
}

TEST_CASE("pairwise refuses sample() before prepare()", "[negative]") {
  auto sampler = make_sampler(10);
  genscope::probe_batch b;
  CHECK_THROWS_WITH(sampler->sample(0, 1, b), Catch::Contains("before prepare()"));
  // A prepare() that throws leaves the sampler unprepared.
  const auto one_label = labelled({2});
  CHECK_THROWS(sampler->prepare(one_label, 1));
  CHECK_THROWS_AS(sampler->sample(0, 1, b), std::logic_error);
}
