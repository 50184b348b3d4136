// Tests of the feature_quantization analysis: crafted first layers whose clusters are known by construction,
// Maennel et al.'s regime (small initialization, full-batch gradient descent) against ordinary training, and bad
// options.
#include "support.hpp"

#include <genscope/analysis.hpp>
#include <genscope/dataset.hpp>
#include <genscope/datasets.hpp>
#include <genscope/mlp.hpp>
#include <genscope/network_backend.hpp>
#include <genscope/plugin_registry.hpp>
#include <genscope/random.hpp>
#include <genscope/table.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

using namespace genscope;

namespace {

void report(const char* what, double value) {
  if (std::getenv("FEATURE_TEST_REPORT") != nullptr) std::printf("feature test: %s = %.6g\n", what, value);
}

/// A model file of `layers` served by the native backend (the file lives as long as the object).
struct served {
  testing::temp_dir dir{"features"};
  std::shared_ptr<network_backend> backend;
  explicit served(const mlp& net) {
    save_model(dir / "model.h5", net, training_record{});
    option_set o;
    o.set("path", dir / "model.h5");
    backend = testing::build_plugins().create_backend("native", o);
  }
};

std::shared_ptr<analysis> make_analysis(const std::vector<std::pair<std::string, option_value>>& settings = {}) {
  return testing::make_analysis("feature_quantization", settings);
}

table_batch table_of(const analysis& a, std::size_t t) { return testing::whole_table(a, t); }

dataset gaussian(std::size_t count, std::size_t n, std::size_t classes, std::uint64_t seed) {
  rng gen(seed, stream_key("feature test data"));
  dataset d;
  d.name = "train";
  d.shape = {n};
  d.x = matrix(count, n);
  for (float& v : d.x.data) v = static_cast<float>(gen.normal());
  for (std::size_t i = 0; i < count; ++i) d.labels.push_back(static_cast<std::int32_t>(gen.below(classes)));
  d.true_labels = d.labels;
  d.class_count = classes;
  return d;
}

}  // namespace

TEST_CASE("feature_quantization finds the clusters a first layer was built with", "[feature_quantization]") {
  // Three directions in (w, b) space (n = 4 inputs, bias last): 5 units along a, within 2 degrees of it, with
  // norms 1..5; 3 units along b with norms 2; 2 units along c (the opposite of a, never merged with it) of norm
  // 0.5. Masses 15, 6, 1: at 10 degrees three clusters, ranked a, b, c.
  const std::vector<double> a{1, 0, 0, 0, 0}, b{0, 1, 1, 0, 0.5}, c{-1, 0, 0, 0, 0};
  std::vector<std::vector<double>> units;
  std::vector<double> norms;
  for (int k = 1; k <= 5; ++k) {
    const double tilt = (k - 3) * 0.5 * std::numbers::pi / 180.0;  // -1 .. 1 degrees, in the plane of e0 and e3
    units.push_back({std::cos(tilt), 0, 0, std::sin(tilt), 0});
    norms.push_back(k);
  }
  for (int k = 0; k < 3; ++k) units.push_back(b), norms.push_back(2);
  for (int k = 0; k < 2; ++k) units.push_back(c), norms.push_back(0.5);
  dense_layer first, last;
  first.weight = matrix(units.size(), 4);
  first.bias.resize(units.size());
  for (std::size_t u = 0; u < units.size(); ++u) {
    double length = 0;
    for (double v : units[u]) length += v * v;
    const double scale = norms[u] / std::sqrt(length);
    for (std::size_t j = 0; j < 4; ++j) first.weight(u, j) = static_cast<float>(scale * units[u][j]);
    first.bias[u] = static_cast<float>(scale * units[u][4]);
  }
  last.weight = matrix(2, units.size());
  last.bias.assign(2, 0.0f);
  const served model(mlp({first, last}, {4}));
  const dataset data = gaussian(50, 4, 2, 1);
  auto fq = make_analysis({{"top", std::int64_t{2}}, {"mass_fraction", 0.9}});
  fq->prepare(*model.backend, {&data}, 1);
  const table_batch summary = table_of(*fq, 0), clusters = table_of(*fq, 1);
  CHECK(summary.ints("features")[0] == 10);
  CHECK(summary.ints("input_dim")[0] == 4);
  CHECK(summary.ints("clusters")[0] == 3);
  CHECK(summary.ints("clusters_for_mass")[0] == 2);  // 15 + 6 = 21 of 22 >= 0.9
  CHECK(summary.reals("top_fraction")[0] == Approx(21.0 / 22.0).epsilon(1e-6));
  CHECK(summary.reals("mass_participation")[0] == Approx(22.0 * 22.0 / (225 + 36 + 1)).epsilon(1e-6));
  REQUIRE(clusters.rows() == 3);
  CHECK(clusters.ints("features") == std::vector<std::int64_t>{5, 3, 2});
  CHECK(clusters.reals("mass")[0] == Approx(15).epsilon(1e-6));
  CHECK(clusters.reals("mass")[1] == Approx(6).epsilon(1e-6));
  // The mass-weighted mean tilt of cluster a is (-1 - 1 + 0 + 2 + 5) / 15 = 1/3 degree: its farthest unit (-1) lies
  // 4/3 degrees from it.
  CHECK(clusters.reals("spread")[0] == Approx(4.0 / 3.0).epsilon(1e-4));
  // The directions: a (1/3 degree from e0), b and c normalized.
  const std::vector<double>& d = clusters.reals("direction");
  REQUIRE(d.size() == 15);
  CHECK(d[0] == Approx(1).epsilon(1e-4));
  CHECK(d[5 + 1] == Approx(1 / std::sqrt(2.25)).epsilon(1e-6));
  CHECK(d[5 + 4] == Approx(0.5 / std::sqrt(2.25)).epsilon(1e-6));
  CHECK(d[10] == Approx(-1).epsilon(1e-6));
  // Alignments are cosines and squared projections: within [-1, 1] and [0, 1].
  for (double v : clusters.reals("point_alignment")) CHECK(std::abs(v) <= 1 + 1e-12);
  for (double v : clusters.reals("subspace_alignment")) CHECK((v >= 0 && v <= 1 + 1e-12));

  // A threshold below the tilts splits cluster a into its five units.
  auto fine = make_analysis({{"angle", 0.2}});
  fine->prepare(*model.backend, {&data}, 1);
  CHECK(table_of(*fine, 0).ints("clusters")[0] == 7);
}

TEST_CASE("feature_quantization: small initialization and full-batch gradient descent concentrate the features "
          "on the same few directions at every width (Maennel et al. 2018)",
          "[feature_quantization]") {
  // 20 Gaussian points in 4 dimensions with random labels; a 4-W-2 ReLU network trained to 100% by plain gradient
  // descent (sgd without momentum on the full batch, learning rate 0.5, 2,000 steps).
  const dataset data = gaussian(20, 4, 2, 4);
  struct outcome {
    std::int64_t for_mass = 0;
    std::vector<std::vector<double>> directions;  // of the clusters holding the mass, largest first
    double accuracy = 0;
  };
  auto measure = [&](std::size_t width, double scale) {
    train_config cfg;
    cfg.hidden = {width};
    cfg.optimizer = "sgd";
    cfg.momentum = 0;
    cfg.learning_rate = 0.5;
    cfg.batch_size = data.size();
    cfg.epochs = 2000;
    cfg.init_scale = scale;
    cfg.seed = 3;
    training_record record;
    const served model(train_mlp(data, nullptr, cfg, record, {}));
    auto fq = make_analysis();
    fq->prepare(*model.backend, {&data}, 1);
    const table_batch s = table_of(*fq, 0), c = table_of(*fq, 1);
    outcome o;
    o.for_mass = s.ints("clusters_for_mass")[0];
    o.accuracy = record.epochs.back().train_accuracy;
    for (std::int64_t k = 0; k < o.for_mass; ++k)
      o.directions.emplace_back(c.reals("direction").begin() + 5 * k, c.reals("direction").begin() + 5 * (k + 1));
    report(("width " + std::to_string(width) + " scale " + std::to_string(scale) + " clusters_for_mass").c_str(),
           static_cast<double>(o.for_mass));
    return o;
  };
  const outcome small64 = measure(64, 1e-3), small256 = measure(256, 1e-3), large256 = measure(256, 1.0);
  CHECK(small64.accuracy == 1.0);
  CHECK(small256.accuracy == 1.0);
  CHECK(large256.accuracy == 1.0);
  // A few clusters hold 90% of the mass, about as many at width 64 as at 256; from a large initialization the
  // features stay spread over many directions.
  CHECK(small64.for_mass <= 10);
  CHECK(std::abs(small64.for_mass - small256.for_mass) <= 2);
  CHECK(large256.for_mass > 10 * small256.for_mass);
  // The directions are the data's, not the width's: most heavy clusters at width 64 have one within 20 degrees at
  // width 256 (measured: 5 of 6, at 5 to 17 degrees; the sixth at 57).
  std::size_t matched = 0;
  for (const auto& d : small64.directions) {
    double best = -1;
    for (const auto& e : small256.directions) {
      double dot = 0;
      for (std::size_t j = 0; j < 5; ++j) dot += d[j] * e[j];
      best = std::max(best, dot);
    }
    report("best cosine to a width-256 direction", best);
    matched += best > std::cos(20 * std::numbers::pi / 180);
  }
  CHECK(3 * matched >= 2 * small64.directions.size());
}

TEST_CASE("feature_quantization: bad options and data are refused naming them", "[feature_quantization][negative]") {
  using Catch::Contains;
  auto refused = [](const std::vector<std::pair<std::string, option_value>>& settings, const std::string& text) {
    CHECK_THROWS_WITH(make_analysis(settings), Contains(text));
  };
  refused({{"angle", 0.0}}, "option 'angle'");
  refused({{"angle", 180.0}}, "option 'angle'");
  refused({{"mass_fraction", 0.0}}, "option 'mass_fraction'");
  refused({{"mass_fraction", 1.5}}, "option 'mass_fraction'");
  refused({{"top", std::int64_t{0}}}, "top");
  refused({{"components", std::int64_t{0}}}, "components");
  auto fq = make_analysis();
  CHECK_THROWS_WITH(fq->check({{{4}, 20, 2, "a"}, {{4}, 20, 2, "b"}}, 4), Contains("reads one data set"));
  dense_layer first, last;
  first.weight = matrix(3, 4);
  first.bias.assign(3, 0.0f);
  first.weight(0, 0) = 1;
  last.weight = matrix(2, 3);
  last.bias.assign(2, 0.0f);
  const served model(mlp({first, last}, {4}));
  const dataset wide = gaussian(10, 5, 2, 1);
  CHECK_THROWS_WITH(fq->prepare(*model.backend, {&wide}, 1),
                    Contains("data set 'train' has samples of dimension 5, the model takes 4"));
}
