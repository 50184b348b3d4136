// Tests of the native backend plugin, loaded through the plugin registry, against a double-precision oracle.
#include "oracles.hpp"
#include "support.hpp"

#include <genscope/error.hpp>
#include <genscope/mlp.hpp>
#include <genscope/network_graph.hpp>
#include <genscope/plugin_registry.hpp>
#include <genscope/random.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
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
  CHECK(info->version == "2.3.0");
  CHECK((info->capabilities & capability_piecewise_linear) != 0);
  CHECK(!info->description.empty());
  REQUIRE(info->options.size() == 4);
  CHECK(std::string(info->options[0].name) == "path");
  CHECK(info->options[0].type == option_type::string);
  CHECK(info->options[0].default_value == nullptr);
  CHECK(std::string(info->options[1].name) == "checkpoint");
  CHECK(info->options[1].type == option_type::integer);
  CHECK(std::string(info->options[1].default_value) == "0");
  CHECK(std::string(info->options[2].name) == "rewind_layers");
  CHECK(info->options[2].type == option_type::string);
  CHECK(std::string(info->options[2].default_value) == "\"\"");
  CHECK(std::string(info->options[3].name) == "rewind_to");
  CHECK(info->options[3].type == option_type::integer);
  CHECK(std::string(info->options[3].default_value) == "0");
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

TEST_CASE("the native backend serves each hidden ReLU layer of an MLP, as a double-precision forward gives it",
          "[interface]") {
  temp_dir dir("native");
  const auto layers = random_layers(12, {20, 9, 4}, 4);
  save_model(dir / "m.h5", mlp(layers, {12}), training_record{});
  const auto backend = open_backend(dir / "m.h5");
  CHECK((registry().find(plugin_kind::backend, "native")->capabilities & capability_hidden_activations) != 0);
  REQUIRE(backend->hidden_layers() == std::vector<std::string>{"relu1", "relu2"});

  matrix x(37, 12);
  rng gen(6);
  for (float& v : x.data) v = static_cast<float>(gen.normal());
  for (std::size_t depth = 1; depth <= 2; ++depth) {
    const std::string layer = "relu" + std::to_string(depth);
    INFO(layer);
    matrix out;
    backend->activations(layer, x, out);
    REQUIRE(out.rows == 37);
    REQUIRE(out.cols == layers[depth - 1].bias.size());
    // The oracle: the first `depth` layers in double, then the ReLU.
    const std::vector<dense_layer> below(layers.begin(), layers.begin() + static_cast<std::ptrdiff_t>(depth));
    std::size_t active = 0;
    for (std::size_t r = 0; r < x.rows; ++r) {
      std::vector<double> bound;
      const auto z = genscope::testing::naive_logits(below, x.row(r), 12, &bound);
      for (std::size_t k = 0; k < out.cols; ++k) {
        CHECK(std::fabs(out(r, k) - std::max(0.0, z[k])) <= 1e-5 * bound[k] + 1e-6);
        active += out(r, k) > 0 ? 1 : 0;
      }
      // A row's activations do not depend on the batch it comes in.
      matrix one;
      backend->activations(layer, matrix_view{x.row(r), 1, 12}, one);
      CHECK(std::memcmp(one.row(0), out.row(r), out.cols * sizeof(float)) == 0);
    }
    CHECK(active > 0);                  // not all inactive ...
    CHECK(active < x.rows * out.cols);  // ... nor all active: the ReLU is there
  }
}

TEST_CASE("hidden layers of a graph are named by their operators, or by node number when unnamed or repeated",
          "[interface]") {
  // x (4) -> dense "a" -> relu "r" -> dense "a" (a repeated name) -> sum of the two (unnamed) -> relu "r2" -> logits.
  rng gen(8);
  auto dense = [&](std::size_t in, std::size_t out, std::size_t from, const std::string& name) {
    graph_op op;
    op.kind = op_kind::dense;
    op.inputs = {from};
    op.name = name;
    op.weight.resize(out * in);
    op.bias.resize(out);
    for (float& w : op.weight) w = static_cast<float>(gen.normal() / 2);
    for (float& b : op.bias) b = static_cast<float>(gen.normal() / 4);
    return op;
  };
  auto relu = [](std::size_t from, const std::string& name) {
    graph_op op;
    op.kind = op_kind::relu;
    op.inputs = {from};
    op.name = name;
    return op;
  };
  graph_op sum;
  sum.kind = op_kind::sum;
  sum.inputs = {2, 3};
  sum.coefficients = {1.0f, 1.0f};
  std::vector<graph_op> ops{dense(4, 6, 0, "a"), relu(1, "r"), dense(6, 6, 2, "a"), sum, relu(4, "r2"),
                            dense(6, 3, 5, "out")};
  const std::vector<graph_op> kept = ops;
  const network_graph net({4}, std::move(ops));
  REQUIRE(net.layer_names() == std::vector<std::string>{"a", "r", "node 3", "node 4", "r2"});

  matrix x(5, 4);
  for (float& v : x.data) v = static_cast<float>(gen.normal());
  matrix out;
  net.activations("node 4", x, out);
  REQUIRE(out.rows == 5);
  REQUIRE(out.cols == 6);
  for (std::size_t r = 0; r < x.rows; ++r) {
    // The oracle in double: h = relu(W1 x + b1), then h + W2 h + b2.
    std::vector<double> h(6), y(6);
    for (std::size_t i = 0; i < 6; ++i) {
      double s = kept[0].bias[i];
      for (std::size_t j = 0; j < 4; ++j) s += static_cast<double>(kept[0].weight[i * 4 + j]) * x(r, j);
      h[i] = std::max(0.0, s);
    }
    for (std::size_t i = 0; i < 6; ++i) {
      double s = kept[2].bias[i];
      for (std::size_t j = 0; j < 6; ++j) s += static_cast<double>(kept[2].weight[i * 6 + j]) * h[j];
      CHECK(std::fabs(out(r, i) - (h[i] + s)) <= 1e-5);
    }
  }
}

TEST_CASE("the native backend refuses a hidden layer it does not have, naming it and the layers it has",
          "[negative]") {
  temp_dir dir("native");
  save_model(dir / "m.h5", mlp(random_layers(6, {5, 3}, 1), {6}), training_record{});
  const auto backend = open_backend(dir / "m.h5");
  matrix out;
  CHECK_THROWS_WITH(backend->activations("relu2", matrix(2, 6), out),
                    Catch::Contains("no layer 'relu2'") && Catch::Contains("'relu1'"));
  CHECK_THROWS_AS(backend->activations("relu1", matrix(2, 7), out), error);  // a batch of the wrong width
}
