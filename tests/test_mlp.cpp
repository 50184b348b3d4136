// Tests of the native engine: forward pass, gradient, initialization, trainer and model files, against independent oracles.
#include "h5/h5.hpp"
#include "nn/trainer_detail.hpp"
#include "support.hpp"

#include <genscope/dataset.hpp>
#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/mlp.hpp>
#include <genscope/random.hpp>

#include "oracles.hpp"

#include <catch2/catch.hpp>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

using namespace genscope;
using genscope::testing::temp_dir;

namespace {

// ---- builders ----

std::vector<dense_layer> random_layers(std::size_t in, const std::vector<std::size_t>& widths, std::uint64_t seed,
                                       double scale = 1.0) {
  std::vector<dense_layer> layers;
  rng gen(seed, stream_key("test layers"));
  for (std::size_t out : widths) {
    dense_layer layer;
    layer.weight = matrix(out, in);
    const double sd = scale / std::sqrt(static_cast<double>(in));
    for (float& w : layer.weight.data) w = static_cast<float>(sd * gen.normal());
    layer.bias.resize(out);
    for (float& b : layer.bias) b = static_cast<float>(0.1 * gen.normal());
    layers.push_back(std::move(layer));
    in = out;
  }
  return layers;
}

matrix random_batch(std::size_t rows, std::size_t cols, std::uint64_t seed) {
  matrix x(rows, cols);
  rng gen(seed, stream_key("test batch"));
  for (float& v : x.data) v = static_cast<float>(gen.normal());
  return x;
}

// Gaussian clusters in R^dim with well separated centres: linearly separable in practice.
dataset make_blobs(std::size_t n, std::size_t dim, std::size_t classes, std::uint64_t seed, double separation = 6.0) {
  dataset d;
  d.name = "blobs";
  d.shape = {dim};
  d.class_count = classes;
  d.sha256 = "blobs-sha-" + std::to_string(seed);
  rng gen(seed, stream_key("test blobs"));
  std::vector<double> centres(classes * dim);
  for (double& c : centres) c = separation * gen.normal();
  d.x = matrix(n, dim);
  for (std::size_t i = 0; i < n; ++i) {
    const auto y = static_cast<std::int32_t>(i % classes);
    d.labels.push_back(y);
    for (std::size_t j = 0; j < dim; ++j)
      d.x(i, j) = static_cast<float>(centres[static_cast<std::size_t>(y) * dim + j] + gen.normal());
  }
  d.true_labels = d.labels;
  return d;
}

// ---- double-precision oracles (naive loops) ----


using dlayers = std::vector<std::vector<double>>;  // per layer: weights (row-major) then biases

double naive_loss(const std::vector<dense_layer>& shape, const dlayers& w, const dlayers& b, const matrix& x,
                  const std::vector<std::int32_t>& labels) {
  double total = 0;
  for (std::size_t r = 0; r < x.rows; ++r) {
    std::vector<double> a(x.row(r), x.row(r) + x.cols);
    for (std::size_t l = 0; l < shape.size(); ++l) {
      const std::size_t rows = shape[l].weight.rows, cols = shape[l].weight.cols;
      std::vector<double> z(rows);
      for (std::size_t i = 0; i < rows; ++i) {
        double s = b[l][i];
        for (std::size_t j = 0; j < cols; ++j) s += w[l][i * cols + j] * a[j];
        z[i] = l + 1 < shape.size() ? std::max(0.0, s) : s;
      }
      a = std::move(z);
    }
    double m = a[0];
    for (double v : a) m = std::max(m, v);
    double s = 0;
    for (double v : a) s += std::exp(v - m);
    total += m + std::log(s) - a[static_cast<std::size_t>(labels[r])];
  }
  return total / static_cast<double>(x.rows);
}

int argmax(const float* z, std::size_t n) {
  std::size_t best = 0;
  for (std::size_t k = 1; k < n; ++k)
    if (z[k] > z[best]) best = k;
  return static_cast<int>(best);
}

double accuracy_of(const mlp& net, const dataset& d) {
  matrix logits;
  net.forward(d.x, logits);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < d.size(); ++i) correct += argmax(logits.row(i), logits.cols) == d.labels[i];
  return static_cast<double>(correct) / static_cast<double>(d.size());
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

bool same_weights(const mlp& a, const mlp& b) {
  if (a.layers().size() != b.layers().size()) return false;
  for (std::size_t l = 0; l < a.layers().size(); ++l) {
    const dense_layer &x = a.layers()[l], &y = b.layers()[l];
    if (x.weight.rows != y.weight.rows || x.weight.cols != y.weight.cols) return false;
    if (!same_bits(x.weight.data, y.weight.data) || !same_bits(x.bias, y.bias)) return false;
  }
  return true;
}

train_config small_config() {
  train_config c;
  c.hidden = {32};
  c.learning_rate = 1e-2;
  c.epochs = 2;
  c.batch_size = 16;
  c.seed = 7;
  return c;
}

// ---- model files written by hand from the documented layout ----

struct raw_layer {
  std::vector<float> weight;
  std::vector<std::size_t> weight_dims;
  std::vector<float> bias;
};

void write_raw_model(const std::string& path, const std::vector<std::int64_t>& input_shape,
                     const std::vector<raw_layer>& layers, std::int64_t layer_count,
                     const std::string& format = "genscope-mlp", std::int64_t version = 1) {
  h5::file f = h5::file::create(path);
  {
    const h5::group root = f.root();
    root.set_attr("format", format);
    root.set_attr("format_version", version);
    root.set_attr("activation", std::string("relu"));
    root.set_attr("input_shape", input_shape);
    root.set_attr("layer_count", layer_count);
    const h5::group g = root.create_group("layers");
    for (std::size_t l = 0; l < layers.size(); ++l) {
      const h5::group lg = g.create_group(std::to_string(l));
      lg.write("weight", layers[l].weight, layers[l].weight_dims);
      lg.write("bias", layers[l].bias);
    }
  }
  f.close();
}

std::vector<raw_layer> raw_from(const std::vector<dense_layer>& layers) {
  std::vector<raw_layer> out;
  for (const dense_layer& l : layers) out.push_back({l.weight.data, {l.weight.rows, l.weight.cols}, l.bias});
  return out;
}

template <class F>
std::string io_message(F&& f) {
  try {
    f();
  } catch (const io_error& e) {
    return e.what();
  }
  FAIL("no io_error thrown");
  return {};
}

template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const error& e) {
    return e.what();
  }
  FAIL("no genscope::error thrown");
  return {};
}

}  // namespace

// ======================= forward pass =======================

TEST_CASE("forward matches a double-precision triple loop", "[interface]") {
  struct net_case {
    std::size_t in;
    std::vector<std::size_t> widths;
  };
  const std::vector<net_case> nets = {
      {5, {3}}, {3, {4, 2}}, {17, {33, 5}}, {64, {130, 70, 10}}, {784, {256, 256, 10}}, {29, {300, 7, 19, 4}}};
  for (std::size_t ni = 0; ni < nets.size(); ++ni) {
    const auto& nc = nets[ni];
    const mlp net(random_layers(nc.in, nc.widths, 100 + ni), {nc.in});
    for (std::size_t rows : {1, 7, 300}) {
      const matrix x = random_batch(rows, nc.in, 1000 * ni + rows);
      matrix logits;
      net.forward(x, logits);
      REQUIRE(logits.rows == rows);
      REQUIRE(logits.cols == nc.widths.back());
      for (std::size_t r = 0; r < rows; ++r) {
        std::vector<double> bound;
        const auto ref = genscope::testing::naive_logits(net.layers(), x.row(r), nc.in, &bound);
        for (std::size_t k = 0; k < ref.size(); ++k) {
          INFO("net " << net.describe() << ", batch " << rows << ", row " << r << ", class " << k);
          CHECK(std::fabs(logits(r, k) - ref[k]) <= 1e-5 * bound[k] + 1e-6);
        }
      }
    }
  }
}

TEST_CASE("a row's logits do not depend on the batch it comes in", "[regression]") {
  struct net_case {
    std::size_t in;
    std::vector<std::size_t> widths;
  };
  // A tiny net (Eigen would use its coefficient-wise product), a mid-sized one, and an MNIST-sized one.
  for (const auto& [in, widths] : {net_case{3, {4, 2}}, net_case{50, {130, 10}}, net_case{784, {256, 256, 10}}}) {
    const mlp net(random_layers(in, widths, 5), {in});
    const matrix x = random_batch(300, in, 9);
    matrix all;
    net.forward(x, all);
    for (std::size_t r = 0; r < x.rows; r += 13) {
      for (std::size_t len : {1, 3, 7}) {
        if (r + len > x.rows) continue;
        matrix part;
        net.forward(matrix_view(x.row(r), len, in), part);
        INFO("rows " << r << "+" << len << " of " << net.describe());
        CHECK(std::memcmp(part.data.data(), all.row(r), len * all.cols * sizeof(float)) == 0);
      }
    }
  }
}

TEST_CASE("forward is re-entrant across threads", "[interface]") {
  const mlp net(random_layers(40, {64, 10}, 3), {40});
  const matrix x = random_batch(600, 40, 4);
  matrix ref;
  net.forward(x, ref);
  std::vector<int> same(16, 0);
  tbb::parallel_for(0, 16, [&](int t) {
    matrix out;
    net.forward(x, out);
    same[static_cast<std::size_t>(t)] = same_bits(out.data, ref.data) ? 1 : 0;
  });
  CHECK(std::count(same.begin(), same.end(), 1) == 16);
}

TEST_CASE("forward of an empty batch gives zero rows of logits", "[boundary]") {
  const mlp net(random_layers(6, {5, 3}, 1), {2, 3});
  matrix out(4, 4);
  net.forward(matrix_view(nullptr, 0, 6), out);
  CHECK(out.rows == 0);
  CHECK(out.cols == 3);
}

TEST_CASE("forward propagates NaN inputs to the logits", "[boundary]") {
  const mlp net(random_layers(4, {8, 3}, 2), {4});
  matrix x = random_batch(2, 4, 2);
  x(1, 2) = std::numeric_limits<float>::quiet_NaN();
  matrix out;
  net.forward(x, out);
  for (std::size_t k = 0; k < 3; ++k) {
    CHECK(std::isfinite(out(0, k)));
    CHECK(std::isnan(out(1, k)));
  }
}

TEST_CASE("describe, input_dim and class_count", "[interface]") {
  const mlp net(random_layers(784, {256, 256, 10}, 1), {28, 28});
  CHECK(net.describe() == "784-256-256-10 ReLU MLP");
  CHECK(net.input_dim() == 784);
  CHECK(net.class_count() == 10);
  CHECK(net.input_shape() == std::vector<std::size_t>{28, 28});
}

TEST_CASE("forward refuses a batch of the wrong width", "[negative]") {
  const mlp net(random_layers(6, {5, 3}, 1), {6});
  matrix out;
  CHECK_THROWS_AS(net.forward(random_batch(2, 7, 1), out), error);
}

TEST_CASE("mlp refuses layers whose shapes do not chain", "[negative]") {
  auto layers = random_layers(6, {5, 3}, 1);
  layers[1].weight = matrix(3, 4);
  const std::string msg = error_message([&] { mlp(layers, {6}); });
  CHECK_THAT(msg, Catch::Contains("layer 1"));
}

TEST_CASE("mlp refuses a bias whose size differs from the weight rows", "[negative]") {
  auto layers = random_layers(6, {5, 3}, 1);
  layers[0].bias.pop_back();
  CHECK_THAT(error_message([&] { mlp(layers, {6}); }), Catch::Contains("bias"));
}

TEST_CASE("mlp refuses an input shape that does not match the first layer", "[negative]") {
  CHECK_THROWS_AS(mlp(random_layers(6, {5, 3}, 1), {7}), error);
}

TEST_CASE("mlp refuses an empty layer list", "[negative]") {
  CHECK_THROWS_AS(mlp({}, {6}), error);
}

// ======================= digest =======================

TEST_CASE("digest hashes the documented byte layout", "[interface]") {
  const mlp net(random_layers(3, {4, 2}, 8), {3});
  // docs/model-format.md: "genscope-mlp", then little-endian uint64 rank, dims,
  // layer count, and per layer uint64 rows, cols, float32 weights, float32 biases.
  std::vector<unsigned char> bytes;
  auto put = [&](std::uint64_t v) {
    for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<unsigned char>(v >> (8 * i)));
  };
  auto put_floats = [&](const std::vector<float>& v) {
    for (float f : v) {
      std::uint32_t u;
      std::memcpy(&u, &f, 4);
      for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<unsigned char>(u >> (8 * i)));
    }
  };
  for (char c : std::string("genscope-mlp")) bytes.push_back(static_cast<unsigned char>(c));
  put(1);
  put(3);
  put(2);
  for (const dense_layer& l : net.layers()) {
    put(l.weight.rows);
    put(l.weight.cols);
    put_floats(l.weight.data);
    put_floats(l.bias);
  }
  CHECK(net.digest() == sha256_hex(bytes.data(), bytes.size()));
  CHECK(net.digest().size() == 64);
}

TEST_CASE("digest changes with one weight bit and with the input shape", "[interface]") {
  auto layers = random_layers(6, {5, 3}, 1);
  const mlp a(layers, {6});
  const mlp same(layers, {6});
  CHECK(a.digest() == same.digest());
  const mlp reshaped(layers, {2, 3});
  CHECK(a.digest() != reshaped.digest());
  layers[1].weight.data[4] = std::nextafter(layers[1].weight.data[4], 10.0f);
  CHECK(a.digest() != mlp(layers, {6}).digest());
}

// ======================= gradient and initialization =======================

TEST_CASE("loss gradient matches central finite differences", "[interface]") {
  const auto layers = random_layers(5, {6, 4, 3}, 21);
  const matrix x = random_batch(7, 5, 22);
  const std::vector<std::int32_t> labels = {0, 2, 1, 1, 0, 2, 2};
  std::vector<dense_layer> grad;
  const double loss = detail::loss_and_gradient(layers, x, labels, grad);

  dlayers w, b;
  for (const dense_layer& l : layers) {
    w.emplace_back(l.weight.data.begin(), l.weight.data.end());
    b.emplace_back(l.bias.begin(), l.bias.end());
  }
  CHECK(loss == Approx(naive_loss(layers, w, b, x, labels)).epsilon(1e-5));
  const double h = 1e-6;
  REQUIRE(grad.size() == layers.size());
  for (std::size_t l = 0; l < layers.size(); ++l) {
    REQUIRE(grad[l].weight.data.size() == w[l].size());
    REQUIRE(grad[l].bias.size() == b[l].size());
    for (std::size_t k = 0; k < w[l].size(); ++k) {
      const double keep = w[l][k];
      w[l][k] = keep + h;
      const double up = naive_loss(layers, w, b, x, labels);
      w[l][k] = keep - h;
      const double down = naive_loss(layers, w, b, x, labels);
      w[l][k] = keep;
      INFO("layer " << l << " weight " << k);
      CHECK(grad[l].weight.data[k] == Approx((up - down) / (2 * h)).margin(2e-5).epsilon(1e-3));
    }
    for (std::size_t k = 0; k < b[l].size(); ++k) {
      const double keep = b[l][k];
      b[l][k] = keep + h;
      const double up = naive_loss(layers, w, b, x, labels);
      b[l][k] = keep - h;
      const double down = naive_loss(layers, w, b, x, labels);
      b[l][k] = keep;
      INFO("layer " << l << " bias " << k);
      CHECK(grad[l].bias[k] == Approx((up - down) / (2 * h)).margin(2e-5).epsilon(1e-3));
    }
  }
}

TEST_CASE("initializations have the documented distributions", "[interface]") {
  const std::size_t in = 400, out = 300;
  auto moments = [](const std::vector<float>& v) {
    double s = 0, s2 = 0, mx = 0;
    for (float f : v) {
      s += f;
      s2 += static_cast<double>(f) * f;
      mx = std::max(mx, std::fabs(static_cast<double>(f)));
    }
    const double n = static_cast<double>(v.size());
    return std::array<double, 3>{s / n, std::sqrt(s2 / n - (s / n) * (s / n)), mx};
  };
  train_config c;
  c.hidden = {out};
  c.seed = 3;
  SECTION("he: normal, std sqrt(2/fan_in), times init_scale") {
    c.init = "he";
    c.init_scale = 0.5;
    const auto layers = detail::initial_layers(in, 10, c);
    const auto m = moments(layers[0].weight.data);
    CHECK(m[0] == Approx(0).margin(0.01 * m[1]));
    CHECK(m[1] == Approx(0.5 * std::sqrt(2.0 / in)).epsilon(0.01));
    CHECK(moments(layers[1].weight.data)[1] == Approx(0.5 * std::sqrt(2.0 / out)).epsilon(0.05));
  }
  SECTION("glorot: uniform in +-sqrt(6/(fan_in+fan_out))") {
    c.init = "glorot";
    const auto layers = detail::initial_layers(in, 10, c);
    const double a = std::sqrt(6.0 / (in + out));
    const auto m = moments(layers[0].weight.data);
    CHECK(m[2] <= a);
    CHECK(m[2] > 0.99 * a);
    CHECK(m[1] == Approx(a / std::sqrt(3.0)).epsilon(0.01));
  }
  SECTION("lecun: normal, std sqrt(1/fan_in)") {
    c.init = "lecun";
    const auto layers = detail::initial_layers(in, 10, c);
    CHECK(moments(layers[0].weight.data)[1] == Approx(std::sqrt(1.0 / in)).epsilon(0.01));
  }
  SECTION("biases are zero, shapes follow hidden and the class count, the seed decides") {
    const auto layers = detail::initial_layers(in, 10, c);
    REQUIRE(layers.size() == 2);
    CHECK(layers[0].weight.rows == out);
    CHECK(layers[0].weight.cols == in);
    CHECK(layers[1].weight.rows == 10);
    CHECK(layers[1].weight.cols == out);
    for (const auto& l : layers) CHECK(std::all_of(l.bias.begin(), l.bias.end(), [](float v) { return v == 0; }));
    CHECK(same_bits(detail::initial_layers(in, 10, c)[0].weight.data, layers[0].weight.data));
    c.seed = 4;
    CHECK(!same_bits(detail::initial_layers(in, 10, c)[0].weight.data, layers[0].weight.data));
  }
}

// ======================= training =======================

TEST_CASE("training is bit-identical whatever the thread count", "[interface]") {
  // Widths above the 128-column GEMM tile, so products really are cut into tiles.
  const dataset d = make_blobs(300, 40, 5, 11, 1.0);
  train_config c;
  c.hidden = {150, 130};
  c.epochs = 3;
  c.batch_size = 50;
  c.seed = 42;
  auto train_with = [&](std::size_t threads, const std::string& optimizer) {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
    c.optimizer = optimizer;
    training_record r;
    mlp net = train_mlp(d, nullptr, c, r, {});
    return std::make_pair(std::move(net), r);
  };
  for (const std::string optimizer : {"adam", "sgd"}) {
    const auto [one, r1] = train_with(1, optimizer);
    const auto [two, r2] = train_with(2, optimizer);
    const auto [four, r4] = train_with(4, optimizer);
    INFO(optimizer);
    CHECK(same_weights(one, two));
    CHECK(same_weights(one, four));
    CHECK(r1.epochs.back().train_loss == r2.epochs.back().train_loss);
    CHECK(one.digest() == four.digest());
  }
}

TEST_CASE("training does not depend on where buffers land in memory", "[regression]") {
  // Eigen picks vector or scalar code per element from a destination's address,
  // and some of its paths round differently (tiny products, packet sqrt): shifting
  // the heap between runs must not change a bit. Tiny layers take Eigen's
  // coefficient-wise product path.
  const dataset d = make_blobs(45, 3, 2, 6, 1.0);
  train_config c = small_config();
  c.hidden = {4, 5};
  c.batch_size = 4;
  c.epochs = 3;
  training_record r;
  const mlp reference = train_mlp(d, nullptr, c, r, {});
  for (std::size_t shift : {1, 3, 7, 13}) {
    std::vector<std::vector<float>> ballast;
    for (std::size_t i = 0; i < 8; ++i) ballast.emplace_back(shift * (i + 1) + 1, 1.0f);
    training_record again;
    const mlp net = train_mlp(d, nullptr, c, again, {});
    CHECK(same_weights(net, reference));
  }
}

TEST_CASE("training reaches 100% accuracy on separable blobs", "[interface]") {
  const dataset d = make_blobs(400, 10, 4, 5);
  for (const std::string optimizer : {"adam", "sgd"}) {
    train_config c = small_config();
    c.optimizer = optimizer;
    c.learning_rate = optimizer == "adam" ? 1e-2 : 5e-2;
    c.epochs = 20;
    training_record r;
    const mlp net = train_mlp(d, nullptr, c, r, {});
    INFO(optimizer);
    CHECK(accuracy_of(net, d) == 1.0);
    CHECK(r.epochs.back().train_accuracy == 1.0);
    CHECK(r.epochs.back().train_loss < r.epochs.front().train_loss);
  }
}

TEST_CASE("training fits a small random labelling (memorization)", "[interface]") {
  dataset d = make_blobs(120, 20, 3, 8, 0.0);  // centres at 0: labels carry no signal
  train_config c = small_config();
  c.hidden = {128, 128};
  c.learning_rate = 3e-3;
  c.epochs = 150;
  training_record r;
  const mlp net = train_mlp(d, nullptr, c, r, {});
  CHECK(accuracy_of(net, d) == 1.0);
}

TEST_CASE("epoch records, callback and training record", "[interface]") {
  const dataset d = make_blobs(100, 6, 3, 1);
  dataset test = make_blobs(40, 6, 3, 2);
  test.sha256 = "test-sha";
  train_config c = small_config();
  c.epochs = 3;
  training_record r;
  r.label_mode = "random";
  std::vector<std::size_t> seen;
  const mlp net = train_mlp(d, &test, c, r, [&](const epoch_record& e) { seen.push_back(e.epoch); });
  CHECK(seen == std::vector<std::size_t>{1, 2, 3});
  CHECK(r.trained);
  CHECK(r.label_mode == "random");
  CHECK(r.dataset_name == "blobs");
  CHECK(r.dataset_sha256 == d.sha256);
  CHECK(r.test_dataset_sha256 == "test-sha");
  CHECK(r.config.seed == c.seed);
  CHECK(r.config.hidden == c.hidden);
  REQUIRE(r.epochs.size() == 3);
  CHECK(r.epochs.back().test_accuracy == Approx(accuracy_of(net, test)));
  CHECK(r.epochs.back().train_accuracy == Approx(accuracy_of(net, d)));
  for (const auto& e : r.epochs) {
    CHECK(std::isfinite(e.test_loss));
    CHECK(e.seconds >= 0);
  }
  CHECK(net.input_shape() == std::vector<std::size_t>{6});

  training_record no_test;
  train_mlp(d, nullptr, c, no_test, {});
  CHECK(std::isnan(no_test.epochs.back().test_loss));
  CHECK(std::isnan(no_test.epochs.back().test_accuracy));
}

TEST_CASE("a network without hidden layers trains, saves and loads", "[boundary]") {
  temp_dir dir("mlp");
  const dataset d = make_blobs(80, 5, 3, 12);
  train_config c = small_config();
  c.hidden = {};
  c.epochs = 10;
  training_record r;
  const mlp net = train_mlp(d, nullptr, c, r, {});
  REQUIRE(net.layers().size() == 1);
  CHECK(net.describe() == "5-3 ReLU MLP");
  CHECK(r.epochs.back().train_loss < 0.5 * r.epochs.front().train_loss);
  CHECK(r.epochs.back().train_accuracy == Approx(accuracy_of(net, d)));
  save_model(dir / "linear.h5", net, r);
  const loaded_model m = load_model(dir / "linear.h5");
  CHECK(same_weights(m.net, net));
  CHECK(m.record.config.hidden.empty());
}

TEST_CASE("a batch size above the sample count trains on one full batch", "[boundary]") {
  const dataset d = make_blobs(30, 4, 2, 3);
  train_config c = small_config();
  c.batch_size = 1000;
  training_record r;
  CHECK_NOTHROW(train_mlp(d, nullptr, c, r, {}));
  CHECK(r.epochs.size() == 2);
}

TEST_CASE("training refuses an unknown optimizer", "[negative]") {
  train_config c = small_config();
  c.optimizer = "rmsprop";
  training_record r;
  CHECK_THAT(error_message([&] { train_mlp(make_blobs(20, 3, 2, 1), nullptr, c, r, {}); }),
             Catch::Contains("train_config.optimizer") && Catch::Contains("rmsprop"));
}

TEST_CASE("training refuses an unknown init", "[negative]") {
  train_config c = small_config();
  c.init = "xavier";
  training_record r;
  CHECK_THAT(error_message([&] { train_mlp(make_blobs(20, 3, 2, 1), nullptr, c, r, {}); }),
             Catch::Contains("train_config.init"));
}

TEST_CASE("training refuses a zero batch size", "[negative]") {
  train_config c = small_config();
  c.batch_size = 0;
  training_record r;
  CHECK_THAT(error_message([&] { train_mlp(make_blobs(20, 3, 2, 1), nullptr, c, r, {}); }),
             Catch::Contains("train_config.batch_size"));
}

TEST_CASE("zero epochs gives the initialization: He weights, zero biases, the first epoch's starting point",
          "[training]") {
  train_config c = small_config();
  c.hidden = {400, 300};
  c.epochs = 0;
  const dataset data = make_blobs(60, 50, 3, 1);
  training_record r;
  const mlp untrained = train_mlp(data, nullptr, c, r, {});
  CHECK(r.epochs_run == 0);
  CHECK(r.epochs.empty());
  REQUIRE(untrained.layers().size() == 3);
  for (const dense_layer& l : untrained.layers()) {
    // He initialization: normal with variance 2 / fan_in (closed form), biases 0.
    double sum = 0, squares = 0;
    for (float w : l.weight.data) {
      sum += w;
      squares += static_cast<double>(w) * w;
    }
    const double n = static_cast<double>(l.weight.data.size());
    const double expected = 2.0 / static_cast<double>(l.weight.cols);
    INFO(l.weight.rows << " x " << l.weight.cols);
    CHECK(std::abs(sum / n) < 5 * std::sqrt(expected / n));
    CHECK(squares / n == Approx(expected).epsilon(5 * std::sqrt(2.0 / n)));
    for (float b : l.bias) CHECK(b == 0.0f);
  }
  // One epoch at a learning rate too small to move a float32 weight starts from the same weights.
  c.epochs = 1;
  c.learning_rate = 1e-30;
  training_record one;
  const mlp barely = train_mlp(data, nullptr, c, one, {});
  for (std::size_t l = 0; l < 3; ++l) CHECK(barely.layers()[l].weight.data == untrained.layers()[l].weight.data);
  // target_accuracy needs an epoch to reach.
  c.epochs = 0;
  c.target_accuracy = 0.9;
  CHECK_THAT(error_message([&] { train_mlp(data, nullptr, c, r, {}); }),
             Catch::Contains("train_config.target_accuracy") && Catch::Contains("epochs = 0"));
}

TEST_CASE("training refuses a learning rate <= 0", "[negative]") {
  train_config c = small_config();
  c.learning_rate = 0;
  training_record r;
  CHECK_THAT(error_message([&] { train_mlp(make_blobs(20, 3, 2, 1), nullptr, c, r, {}); }),
             Catch::Contains("train_config.learning_rate"));
}

TEST_CASE("training refuses a NaN learning rate", "[negative]") {
  train_config c = small_config();
  c.learning_rate = std::numeric_limits<double>::quiet_NaN();
  training_record r;
  CHECK_THROWS_AS(train_mlp(make_blobs(20, 3, 2, 1), nullptr, c, r, {}), error);
}

TEST_CASE("training refuses a zero hidden width", "[negative]") {
  train_config c = small_config();
  c.hidden = {8, 0};
  training_record r;
  CHECK_THAT(error_message([&] { train_mlp(make_blobs(20, 3, 2, 1), nullptr, c, r, {}); }),
             Catch::Contains("train_config.hidden[1]"));
}

TEST_CASE("training refuses empty data", "[negative]") {
  dataset d = make_blobs(20, 3, 2, 1);
  d.x = matrix(0, 3);
  d.labels.clear();
  training_record r;
  CHECK_THAT(error_message([&] { train_mlp(d, nullptr, small_config(), r, {}); }), Catch::Contains("empty"));
}

TEST_CASE("training refuses labels out of range", "[negative]") {
  dataset d = make_blobs(20, 3, 2, 1);
  d.labels[5] = 2;
  training_record r;
  CHECK_THAT(error_message([&] { train_mlp(d, nullptr, small_config(), r, {}); }),
             Catch::Contains("label 2 of sample 5"));
}

TEST_CASE("training refuses NaN in the data", "[negative]") {
  dataset d = make_blobs(20, 3, 2, 1);
  d.x(4, 1) = std::numeric_limits<float>::quiet_NaN();
  training_record r;
  CHECK_THAT(error_message([&] { train_mlp(d, nullptr, small_config(), r, {}); }),
             Catch::Contains("NaN at sample 4, feature 1"));
}

TEST_CASE("training refuses a test set of another dimension", "[negative]") {
  const dataset d = make_blobs(20, 3, 2, 1);
  const dataset test = make_blobs(20, 4, 2, 1);
  training_record r;
  CHECK_THAT(error_message([&] { train_mlp(d, &test, small_config(), r, {}); }), Catch::Contains("test data"));
}

// ======================= model files =======================

TEST_CASE("save and load round-trip weights and record exactly", "[interface]") {
  temp_dir dir("mlp");
  const dataset d = make_blobs(60, 12, 3, 4);
  train_config c = small_config();
  c.seed = std::numeric_limits<std::uint64_t>::max();  // all 64 bits must survive
  c.optimizer = "sgd";
  c.init = "glorot";
  c.weight_decay = 1e-4;
  training_record r;
  r.label_mode = "real";
  mlp net = train_mlp(d, nullptr, c, r, {});
  net = mlp(net.layers(), {3, 4});
  const std::string path = dir / "sub/folder/model.h5";  // parent folders are created
  save_model(path, net, r);
  CHECK(std::filesystem::exists(path));
  CHECK(!std::filesystem::exists(path + ".partial"));

  const loaded_model m = load_model(path);
  CHECK(same_weights(m.net, net));
  CHECK(m.net.input_shape() == std::vector<std::size_t>{3, 4});
  CHECK(m.net.digest() == net.digest());
  const training_record& q = m.record;
  CHECK(q.trained);
  CHECK(q.label_mode == "real");
  CHECK(q.dataset_name == r.dataset_name);
  CHECK(q.dataset_sha256 == r.dataset_sha256);
  CHECK(q.test_dataset_sha256 == r.test_dataset_sha256);
  CHECK(q.config.hidden == c.hidden);
  CHECK(q.config.optimizer == "sgd");
  CHECK(q.config.init == "glorot");
  CHECK(q.config.seed == c.seed);
  CHECK(q.config.learning_rate == c.learning_rate);
  CHECK(q.config.momentum == c.momentum);
  CHECK(q.config.beta1 == c.beta1);
  CHECK(q.config.beta2 == c.beta2);
  CHECK(q.config.epsilon == c.epsilon);
  CHECK(q.config.weight_decay == c.weight_decay);
  CHECK(q.config.epochs == c.epochs);
  CHECK(q.config.batch_size == c.batch_size);
  CHECK(q.config.init_scale == c.init_scale);
  REQUIRE(q.epochs.size() == r.epochs.size());
  for (std::size_t i = 0; i < q.epochs.size(); ++i) {
    CHECK(q.epochs[i].epoch == r.epochs[i].epoch);
    CHECK(q.epochs[i].train_loss == r.epochs[i].train_loss);
    CHECK(q.epochs[i].train_accuracy == r.epochs[i].train_accuracy);
    CHECK(std::isnan(q.epochs[i].test_loss));
    CHECK(std::isnan(q.epochs[i].test_accuracy));
    CHECK(q.epochs[i].seconds == r.epochs[i].seconds);
  }
}

TEST_CASE("an untrained model round-trips with an untrained record", "[interface]") {
  temp_dir dir("mlp");
  const mlp net(random_layers(5, {4, 2}, 1), {5});
  save_model(dir / "m.h5", net, training_record{});
  const loaded_model m = load_model(dir / "m.h5");
  CHECK(same_weights(m.net, net));
  CHECK(!m.record.trained);
  CHECK(m.record.epochs.empty());
}

TEST_CASE("a file written from the documented layout loads", "[interface]") {
  temp_dir dir("mlp");
  const auto layers = random_layers(6, {5, 3}, 2);
  write_raw_model(dir / "raw.h5", {6}, raw_from(layers), 2);
  const loaded_model m = load_model(dir / "raw.h5");
  CHECK(same_weights(m.net, mlp(layers, {6})));
  CHECK(!m.record.trained);
}

TEST_CASE("load_model: missing file", "[negative]") {
  temp_dir dir("mlp");
  const std::string path = dir / "absent.h5";
  CHECK_THAT(io_message([&] { load_model(path); }), Catch::Contains(path));
}

TEST_CASE("load_model: a file that is not HDF5", "[negative]") {
  temp_dir dir("mlp");
  const std::string path = dir / "text.h5";
  genscope::testing::write_file(path, "784-256-10 definitely not HDF5\n");
  CHECK_THAT(io_message([&] { load_model(path); }), Catch::Contains(path) && Catch::Contains("not an HDF5 file"));
}

TEST_CASE("load_model: a truncated model file", "[negative]") {
  temp_dir dir("mlp");
  const std::string path = dir / "cut.h5";
  save_model(path, mlp(random_layers(64, {128, 10}, 1), {64}), training_record{});
  const auto size = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, size / 2);
  CHECK_THAT(io_message([&] { load_model(path); }), Catch::Contains(path));
}

TEST_CASE("load_model: a NaN weight", "[negative]") {
  temp_dir dir("mlp");
  auto layers = random_layers(6, {5, 3}, 1);
  layers[1].weight(2, 4) = std::numeric_limits<float>::quiet_NaN();
  save_model(dir / "nan.h5", mlp(layers, {6}), training_record{});
  CHECK_THAT(io_message([&] { load_model(dir / "nan.h5"); }),
             Catch::Contains("nan.h5") && Catch::Contains("layer 1 weight contains NaN at (2, 4)"));
}

TEST_CASE("load_model: an infinite bias", "[negative]") {
  temp_dir dir("mlp");
  auto layers = random_layers(6, {5, 3}, 1);
  layers[0].bias[3] = -std::numeric_limits<float>::infinity();
  save_model(dir / "inf.h5", mlp(layers, {6}), training_record{});
  CHECK_THAT(io_message([&] { load_model(dir / "inf.h5"); }), Catch::Contains("layer 0 bias contains inf at 3"));
}

TEST_CASE("load_model: shapes of consecutive layers disagree", "[negative]") {
  temp_dir dir("mlp");
  auto raw = raw_from(random_layers(6, {5, 3}, 1));
  raw[1].weight.resize(3 * 4);
  raw[1].weight_dims = {3, 4};
  write_raw_model(dir / "shape.h5", {6}, raw, 2);
  CHECK_THAT(io_message([&] { load_model(dir / "shape.h5"); }),
             Catch::Contains("layer 1 weight has 4 columns, layer 0 has 5 outputs"));
}

TEST_CASE("load_model: bias size differs from the weight rows", "[negative]") {
  temp_dir dir("mlp");
  auto raw = raw_from(random_layers(6, {5, 3}, 1));
  raw[0].bias.push_back(0.0f);
  write_raw_model(dir / "bias.h5", {6}, raw, 2);
  CHECK_THAT(io_message([&] { load_model(dir / "bias.h5"); }),
             Catch::Contains("layer 0 bias has 6 values, weight has 5 rows"));
}

TEST_CASE("load_model: input_shape disagrees with the first layer", "[negative]") {
  temp_dir dir("mlp");
  write_raw_model(dir / "in.h5", {7}, raw_from(random_layers(6, {5, 3}, 1)), 2);
  CHECK_THAT(io_message([&] { load_model(dir / "in.h5"); }), Catch::Contains("layer 0 weight has 6 columns"));
}

TEST_CASE("load_model: an input_shape whose product overflows is refused, not wrapped", "[negative][regression]") {
  // (2^60 + 1) x 16 wraps to 16 in 64 bits: the 16-input first layer used to make it look consistent.
  temp_dir dir("mlp");
  write_raw_model(dir / "overflow.h5", {(std::int64_t{1} << 60) + 1, 16}, raw_from(random_layers(16, {5, 3}, 1)), 2);
  CHECK_THAT(io_message([&] { load_model(dir / "overflow.h5"); }),
             Catch::Contains(dir / "overflow.h5") && Catch::Contains("input_shape") &&
                 Catch::Contains("1152921504606846977 x 16") && Catch::Contains("overflows"));
}

TEST_CASE("load_model: a missing layer", "[negative]") {
  temp_dir dir("mlp");
  write_raw_model(dir / "missing.h5", {6}, raw_from(random_layers(6, {5, 3}, 1)), 3);
  CHECK_THAT(io_message([&] { load_model(dir / "missing.h5"); }), Catch::Contains("layer_count is 3"));
}

TEST_CASE("load_model: a weight that is not 2-D", "[negative]") {
  temp_dir dir("mlp");
  auto raw = raw_from(random_layers(6, {5, 3}, 1));
  raw[0].weight_dims = {30};
  write_raw_model(dir / "rank.h5", {6}, raw, 2);
  CHECK_THAT(io_message([&] { load_model(dir / "rank.h5"); }), Catch::Contains("layer 0 weight is 1-D"));
}

TEST_CASE("load_model: an HDF5 file of another format", "[negative]") {
  temp_dir dir("mlp");
  write_raw_model(dir / "other.h5", {6}, raw_from(random_layers(6, {5, 3}, 1)), 2, "keras");
  CHECK_THAT(io_message([&] { load_model(dir / "other.h5"); }), Catch::Contains("not a GenScope model file"));
}

TEST_CASE("load_model: a newer format version", "[negative]") {
  temp_dir dir("mlp");
  write_raw_model(dir / "v2.h5", {6}, raw_from(random_layers(6, {5, 3}, 1)), 2, "genscope-mlp", 2);
  CHECK_THAT(io_message([&] { load_model(dir / "v2.h5"); }), Catch::Contains("format_version 2"));
}

TEST_CASE("save_model refuses a network without layers", "[negative]") {
  temp_dir dir("mlp");
  CHECK_THROWS_AS(save_model(dir / "empty.h5", mlp(), training_record{}), io_error);
  CHECK(!std::filesystem::exists(dir / "empty.h5"));
}
