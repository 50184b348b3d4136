// Tests of the native backend plugin, loaded through the plugin registry, against a double-precision oracle.
#include "oracles.hpp"
#include "support.hpp"

#include <genscope/error.hpp>
#include <genscope/mlp.hpp>
#include <genscope/plugin_registry.hpp>
#include <genscope/random.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

using namespace genscope;
using genscope::testing::temp_dir;

namespace {

const genscope::plugin_registry& registry() { return genscope::testing::build_plugins(); }

std::vector<dense_layer> random_layers(std::size_t in, const std::vector<std::size_t>& widths, std::uint64_t seed) {
  std::vector<dense_layer> layers;
  rng gen(seed, stream_key("native backend test"));
  for (std::size_t out : widths) {
    dense_layer layer;
    layer.weight = matrix(out, in);
    for (float& w : layer.weight.data) w = static_cast<float>(gen.normal() / std::sqrt(static_cast<double>(in)));
    layer.bias.resize(out);
    for (float& b : layer.bias) b = static_cast<float>(0.1 * gen.normal());
    layers.push_back(std::move(layer));
    in = out;
  }
  return layers;
}

std::shared_ptr<network_backend> open_backend(const std::string& path) {
  option_set o;
  o.set("path", path);
  return registry().create_backend("native", o);
}


}  // namespace

TEST_CASE("the native backend is registered with its option schema", "[interface]") {
  const plugin_info* info = registry().find(plugin_kind::backend, "native");
  REQUIRE(info != nullptr);
  CHECK(info->version == "2.0.0");
  CHECK((info->capabilities & capability_piecewise_linear) != 0);
  CHECK(!info->description.empty());
  REQUIRE(info->options.size() == 2);
  CHECK(std::string(info->options[0].name) == "path");
  CHECK(info->options[0].type == option_type::string);
  CHECK(info->options[0].default_value == nullptr);
  CHECK(std::string(info->options[1].name) == "checkpoint");
  CHECK(info->options[1].type == option_type::integer);
  CHECK(std::string(info->options[1].default_value) == "0");
}

TEST_CASE("the native backend serves the saved network's logits", "[interface]") {
  temp_dir dir("native");
  const auto layers = random_layers(12, {20, 9, 4}, 3);
  const mlp net(layers, {3, 4});
  save_model(dir / "m.h5", net, training_record{});
  const auto backend = open_backend(dir / "m.h5");
  CHECK(backend->input_shape() == std::vector<std::size_t>{3, 4});
  CHECK(backend->input_dim() == 12);
  CHECK(backend->class_count() == 4);
  CHECK(backend->describe() == "12-20-9-4 ReLU MLP");
  CHECK(backend->model_digest() == net.digest());

  matrix x(37, 12);
  rng gen(5);
  for (float& v : x.data) v = static_cast<float>(gen.normal());
  matrix out;
  backend->logits(x, out);
  REQUIRE(out.rows == 37);
  REQUIRE(out.cols == 4);
  for (std::size_t r = 0; r < x.rows; ++r) {
    std::vector<double> bound;
    const auto ref = genscope::testing::naive_logits(layers, x.row(r), 12, &bound);
    for (std::size_t k = 0; k < 4; ++k) CHECK(std::fabs(out(r, k) - ref[k]) <= 1e-5 * bound[k] + 1e-6);
  }
}

TEST_CASE("the native backend refuses a batch of the wrong width", "[negative]") {
  temp_dir dir("native");
  save_model(dir / "m.h5", mlp(random_layers(6, {5, 3}, 1), {6}), training_record{});
  const auto backend = open_backend(dir / "m.h5");
  matrix out;
  CHECK_THROWS_AS(backend->logits(matrix(2, 7), out), error);
}

TEST_CASE("the native backend refuses a missing model file, naming it", "[negative]") {
  temp_dir dir("native");
  const std::string path = dir / "absent.h5";
  try {
    open_backend(path);
    FAIL("no error");
  } catch (const plugin_error& e) {
    CHECK_THAT(e.what(), Catch::Contains(path) && Catch::Contains("native"));
  }
}

TEST_CASE("the native backend refuses a model with a NaN weight", "[negative]") {
  temp_dir dir("native");
  auto layers = random_layers(6, {5, 3}, 1);
  layers[0].weight(1, 1) = std::numeric_limits<float>::quiet_NaN();
  save_model(dir / "nan.h5", mlp(layers, {6}), training_record{});
  try {
    open_backend(dir / "nan.h5");
    FAIL("no error");
  } catch (const plugin_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("nan.h5") && Catch::Contains("layer 0 weight contains NaN"));
  }
}
