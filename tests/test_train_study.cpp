// Training for the study: stopping at a target accuracy, checkpoints of chosen epochs (saved, reloaded, served by
// the native backend), layer rewinding, the served models' accuracies in the results and the model cache key, each
// checked against an independent oracle.
#include "support.hpp"

#include "h5/h5.hpp"

#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/experiment.hpp>
#include <genscope/mlp.hpp>
#include <genscope/network_graph.hpp>
#include <genscope/pipeline.hpp>
#include <genscope/plugin_registry.hpp>
#include <genscope/random.hpp>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

using namespace genscope;
using Catch::Matchers::Contains;
using genscope::testing::temp_dir;
using genscope::testing::write_file;

namespace {

/// Options of a run without progress output.
genscope::run_options quiet_run() {
  genscope::run_options options;
  options.quiet = true;
  return options;
}

const plugin_registry& registry() { return genscope::testing::build_plugins(); }

// Gaussian clusters; with `shuffle` the labels are a fixed pseudo-random labelling (memorized slowly).
dataset make_blobs(std::size_t n, std::size_t dim, std::size_t classes, std::uint64_t seed, bool shuffle = false) {
  dataset d;
  d.name = "blobs";
  d.shape = {dim};
  d.class_count = classes;
  d.sha256 = "blobs-sha-" + std::to_string(seed);
  rng gen(seed, stream_key("study blobs"));
  std::vector<double> centres(classes * dim);
  for (double& c : centres) c = 2.0 * gen.normal();
  d.x = matrix(n, dim);
  for (std::size_t i = 0; i < n; ++i) {
    const auto y = static_cast<std::int32_t>(i % classes);
    d.labels.push_back(shuffle ? static_cast<std::int32_t>(gen.below(classes)) : y);
    for (std::size_t j = 0; j < dim; ++j)
      d.x(i, j) = static_cast<float>(centres[static_cast<std::size_t>(y) * dim + j] + gen.normal());
  }
  d.true_labels = d.labels;
  return d;
}

train_config small_config() {
  train_config c;
  c.hidden = {24};
  c.learning_rate = 5e-3;
  c.epochs = 6;
  c.batch_size = 16;
  c.seed = 11;
  return c;
}

// Accuracy recomputed from the network's own logits (first maximum wins).
double accuracy_of(const mlp& net, const dataset& d) {
  matrix logits;
  net.forward(d.x, logits);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    const float* z = logits.row(i);
    std::size_t best = 0;
    for (std::size_t k = 1; k < logits.cols; ++k)
      if (z[k] > z[best]) best = k;
    correct += static_cast<std::int32_t>(best) == d.labels[i];
  }
  return static_cast<double>(correct) / static_cast<double>(d.size());
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

bool same_layer(const dense_layer& a, const dense_layer& b) {
  return a.weight.rows == b.weight.rows && a.weight.cols == b.weight.cols && same_bits(a.weight.data, b.weight.data) &&
         same_bits(a.bias, b.bias);
}

bool same_layers(const std::vector<dense_layer>& a, const std::vector<dense_layer>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t l = 0; l < a.size(); ++l)
    if (!same_layer(a[l], b[l])) return false;
  return true;
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

std::shared_ptr<network_backend> open_backend(const std::string& path, std::int64_t checkpoint,
                                              const std::string& rewind_layers = "", std::int64_t rewind_to = 0) {
  option_set o;
  o.set("path", path);
  o.set("checkpoint", checkpoint);
  o.set("rewind_layers", rewind_layers);
  o.set("rewind_to", rewind_to);
  return registry().create_backend("native", o);
}

std::string experiment_text(const temp_dir& dir, const std::string& train_extra, const std::string& model_extra = "") {
  return R"(seed = 3
output = ")" + (dir / "results/exp.h5") +
         R"("
model_cache = ")" + (dir / "models") +
         R"("

[datasets.base]
source = "synthetic"
samples = 120
dim = 8
classes = 4
label_mode = "random"

[models.net]
backend = "native"
dataset = "base"
)" + model_extra +
         R"(

[models.net.train]
hidden = [16]
epochs = 2
batch_size = 32
)" + train_extra +
         R"(

[samplers.pairs]
plugin = "pairwise"
dataset = "base"
count = 10

[estimators.bisect]
plugin = "bisection"
T = 2
h = 0.1

[runs.first]
model = "net"
sampler = "pairs"
estimator = "bisect"
)";
}

std::string config_error_of(const std::string& text) {
  try {
    parse_experiment(text, "exp.toml", registry());
  } catch (const config_error& e) {
    return e.what();
  }
  FAIL("expected a config_error");
  return {};
}

}  // namespace

// ---- target accuracy -----------------------------------------------------------------------------

TEST_CASE("training stops after the first epoch whose training accuracy reaches the target", "[interface]") {
  const dataset d = make_blobs(120, 6, 3, 4, true);
  train_config c = small_config();
  c.epochs = 200;
  c.target_accuracy = 0.8;
  training_record r;
  std::vector<std::size_t> seen;
  const mlp net = train_mlp(d, nullptr, c, r, [&](const epoch_record& e) { seen.push_back(e.epoch); });
  CHECK(r.stop_reason == "target_accuracy");
  REQUIRE(r.epochs_run > 1);  // the target is not met at once, so the check below means something
  REQUIRE(r.epochs_run < c.epochs);
  // The curve holds one row per epoch run, numbered 1..n, and the callback saw each.
  REQUIRE(r.epochs.size() == r.epochs_run);
  CHECK(seen.size() == r.epochs_run);
  for (std::size_t i = 0; i < r.epochs.size(); ++i) CHECK(r.epochs[i].epoch == i + 1);
  // Oracle: the returned network's own accuracy is the recorded last one and reaches the target...
  CHECK(accuracy_of(net, d) == r.epochs.back().train_accuracy);
  CHECK(r.epochs.back().train_accuracy >= 0.8);
  // ...and every earlier epoch was below it.
  for (std::size_t i = 0; i + 1 < r.epochs.size(); ++i) CHECK(r.epochs[i].train_accuracy < 0.8);
  // A plain run of exactly that many epochs gives the same weights (the stop changes nothing else).
  train_config plain = small_config();
  plain.epochs = r.epochs_run;
  training_record pr;
  const mlp reference = train_mlp(d, nullptr, plain, pr, {});
  CHECK(same_layers(net.layers(), reference.layers()));
  CHECK(pr.stop_reason == "epoch_cap");
  CHECK(pr.epochs_run == plain.epochs);
}

TEST_CASE("a target met at epoch 1 stops after one epoch, and a target of 1 is allowed", "[boundary]") {
  const dataset d = make_blobs(60, 4, 2, 2);
  train_config c = small_config();
  c.target_accuracy = std::numeric_limits<double>::min();  // any accuracy above 0 meets it
  training_record r;
  train_mlp(d, nullptr, c, r, {});
  if (r.epochs.front().train_accuracy > 0) {
    CHECK(r.epochs_run == 1);
    CHECK(r.stop_reason == "target_accuracy");
  }
  c.target_accuracy = 1.0;
  CHECK_NOTHROW(train_mlp(d, nullptr, c, r, {}));
}

TEST_CASE("a model that hits the epoch cap below the target is saved with stop_reason epoch_cap", "[interface]") {
  temp_dir dir("study");
  const dataset d = make_blobs(150, 6, 5, 6, true);
  train_config c = small_config();
  c.epochs = 2;
  c.target_accuracy = 1.0;
  training_record r;
  const mlp net = train_mlp(d, nullptr, c, r, {});
  REQUIRE(r.epochs.back().train_accuracy < 1.0);
  CHECK(r.stop_reason == "epoch_cap");
  CHECK(r.epochs_run == 2);
  CHECK(r.epochs.size() == 2);
  save_model(dir / "m.h5", net, r);
  const loaded_model back = load_model(dir / "m.h5");
  CHECK(back.record.stop_reason == "epoch_cap");
  CHECK(back.record.epochs_run == 2);
  CHECK(back.record.epochs.size() == 2);
  REQUIRE(back.record.config.target_accuracy.has_value());
  CHECK(*back.record.config.target_accuracy == 1.0);
  CHECK(back.net.digest() == net.digest());
}

TEST_CASE("files without the new fields load with defaults", "[boundary]") {
  temp_dir dir("study");
  const dataset d = make_blobs(40, 4, 2, 3);
  training_record r;
  const mlp net = train_mlp(d, nullptr, small_config(), r, {});
  save_model(dir / "m.h5", net, r);
  const loaded_model back = load_model(dir / "m.h5");
  CHECK_FALSE(back.record.config.target_accuracy.has_value());
  CHECK(back.record.config.checkpoints.empty());
  CHECK(back.record.checkpoints.empty());
  CHECK(back.record.stop_reason == "epoch_cap");
  CHECK(back.record.epochs_run == small_config().epochs);
}

TEST_CASE("training refuses a target accuracy of 0 or less or above 1", "[negative]") {
  const dataset d = make_blobs(20, 3, 2, 1);
  for (double t : {0.0, -0.5, 1.5, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    train_config c = small_config();
    c.target_accuracy = t;
    training_record r;
    CHECK_THAT(error_message([&] { train_mlp(d, nullptr, c, r, {}); }),
               Contains("train_config.target_accuracy") && Contains("(0, 1]"));
  }
}

// ---- checkpoints ---------------------------------------------------------------------------------

TEST_CASE("checkpoint weights equal separate runs of that many epochs, in memory and on file", "[interface]") {
  temp_dir dir("study");
  const dataset d = make_blobs(90, 5, 3, 8, true);
  dataset test = make_blobs(30, 5, 3, 9);
  train_config c = small_config();
  c.epochs = 5;
  c.checkpoints = {1, 3, 5, 9};  // 9 is beyond the epochs run: not reached
  training_record r;
  const mlp net = train_mlp(d, &test, c, r, {});
  REQUIRE(r.checkpoints.size() == 3);
  save_model(dir / "m.h5", net, r);

  const loaded_model listing = load_model(dir / "m.h5");
  REQUIRE(listing.record.checkpoints.size() == 3);
  CHECK(listing.record.config.checkpoints == c.checkpoints);
  CHECK(same_layers(listing.net.layers(), net.layers()));  // the final model stays where it is

  const std::vector<std::size_t> saved{1, 3, 5};
  matrix probe(17, 5);
  rng gen(21);
  for (float& v : probe.data) v = static_cast<float>(gen.normal());
  for (std::size_t i = 0; i < saved.size(); ++i) {
    const std::size_t e = saved[i];
    CAPTURE(e);
    train_config plain = small_config();
    plain.epochs = e;
    training_record pr;
    const mlp oracle = train_mlp(d, &test, plain, pr, {});
    const model_checkpoint& cp = r.checkpoints[i];
    CHECK(cp.epoch == e);
    CHECK(same_layers(cp.layers, oracle.layers()));
    CHECK(cp.train_accuracy == accuracy_of(oracle, d));
    CHECK(cp.test_accuracy == accuracy_of(oracle, test));
    // The listing read back: epochs and accuracies, no weights.
    const model_checkpoint& lc = listing.record.checkpoints[i];
    CHECK(lc.epoch == e);
    CHECK(lc.train_accuracy == cp.train_accuracy);
    CHECK(lc.test_accuracy == cp.test_accuracy);
    CHECK(lc.layers.empty());
    // load_model(path, e) and the native backend serve that run's network exactly.
    CHECK(same_layers(load_model(dir / "m.h5", e).net.layers(), oracle.layers()));
    const auto backend = open_backend(dir / "m.h5", static_cast<std::int64_t>(e));
    CHECK(backend->model_digest() == oracle.digest());
    matrix got, want;
    backend->logits(probe, got);
    oracle.forward(probe, want);
    CHECK(same_bits(got.data, want.data));
  }
  const auto final_backend = open_backend(dir / "m.h5", 0);
  CHECK(final_backend->model_digest() == net.digest());
  CHECK(open_backend(dir / "m.h5", 1)->model_digest() != net.digest());
}

TEST_CASE("checkpoints after an early stop are not reached", "[boundary]") {
  const dataset d = make_blobs(120, 6, 3, 4, true);
  train_config c = small_config();
  c.epochs = 200;
  c.target_accuracy = 0.8;
  training_record first;
  train_mlp(d, nullptr, c, first, {});
  REQUIRE(first.stop_reason == "target_accuracy");
  const std::size_t n = first.epochs_run;
  c.checkpoints = {1, n, n + 1, 199};
  training_record r;
  train_mlp(d, nullptr, c, r, {});
  CHECK(r.epochs_run == n);
  REQUIRE(r.checkpoints.size() == 2);
  CHECK(r.checkpoints[0].epoch == 1);
  CHECK(r.checkpoints[1].epoch == n);
}

TEST_CASE("training refuses checkpoints that are zero or not strictly ascending", "[negative]") {
  const dataset d = make_blobs(20, 3, 2, 1);
  training_record r;
  train_config c = small_config();
  c.checkpoints = {0, 2};
  CHECK_THAT(error_message([&] { train_mlp(d, nullptr, c, r, {}); }),
             Contains("train_config.checkpoints[0]") && Contains("is 0"));
  c.checkpoints = {3, 2};
  CHECK_THAT(error_message([&] { train_mlp(d, nullptr, c, r, {}); }),
             Contains("train_config.checkpoints[1]") && Contains("ascending"));
  c.checkpoints = {2, 2};
  CHECK_THAT(error_message([&] { train_mlp(d, nullptr, c, r, {}); }), Contains("ascending"));
}

TEST_CASE("native backend: a checkpoint the file does not hold names the file and the saved epochs", "[negative]") {
  temp_dir dir("study");
  const dataset d = make_blobs(40, 4, 2, 3);
  train_config c = small_config();
  c.epochs = 4;
  c.checkpoints = {2, 4};
  training_record r;
  save_model(dir / "m.h5", train_mlp(d, nullptr, c, r, {}), r);
  const std::string message = error_message([&] { open_backend(dir / "m.h5", 3); });
  CHECK_THAT(message, Contains(dir / "m.h5") && Contains("epoch 3") && Contains("saved epochs: 2, 4"));
  CHECK_THAT(error_message([&] { load_model(dir / "m.h5", 7); }), Contains("saved epochs: 2, 4"));

  training_record plain;
  save_model(dir / "plain.h5", train_mlp(d, nullptr, small_config(), plain, {}), plain);
  CHECK_THAT(error_message([&] { open_backend(dir / "plain.h5", 1); }),
             Contains(dir / "plain.h5") && Contains("saved epochs: none"));
}

TEST_CASE("native backend: a negative checkpoint is refused", "[negative]") {
  temp_dir dir("study");
  const dataset d = make_blobs(40, 4, 2, 3);
  training_record r;
  save_model(dir / "m.h5", train_mlp(d, nullptr, small_config(), r, {}), r);
  CHECK_THAT(error_message([&] { open_backend(dir / "m.h5", -1); }),
             Contains("checkpoint") && Contains(">= 0") && Contains(dir / "m.h5"));
}

TEST_CASE("the native backend declares the checkpoint option", "[interface]") {
  const plugin_info* info = registry().find(plugin_kind::backend, "native");
  REQUIRE(info != nullptr);
  bool found = false;
  for (const option_spec& o : info->options)
    if (std::string(o.name) == "checkpoint") {
      found = true;
      CHECK(o.type == option_type::integer);
      REQUIRE(o.default_value != nullptr);
      CHECK(std::string(o.default_value) == "0");
    }
  CHECK(found);
}

// ---- model cache key -----------------------------------------------------------------------------

TEST_CASE("the cache key is unchanged without the new keys and changes with each", "[interface]") {
  train_config c = small_config();
  // Oracle: the documented v1 text, rebuilt here.
  std::string text = "genscope-train-v1\nhidden=24\n";
  text += fmt::format("optimizer={}\nlearning_rate={:a}\nmomentum={:a}\nbeta1={:a}\nbeta2={:a}\nepsilon={:a}\n",
                      c.optimizer, c.learning_rate, c.momentum, c.beta1, c.beta2, c.epsilon);
  text += fmt::format("weight_decay={:a}\nepochs={}\nbatch_size={}\ninit={}\ninit_scale={:a}\nseed={}\n",
                      c.weight_decay, c.epochs, c.batch_size, c.init, c.init_scale, c.seed);
  text += "train=aaa\ntest=bbb\n";
  const std::string base = model_cache_key(c, "aaa", "bbb");
  CHECK(base == sha256_hex(text.data(), text.size()));

  train_config t = c;
  t.target_accuracy = 0.9;
  const std::string with_target = model_cache_key(t, "aaa", "bbb");
  CHECK(with_target != base);
  t.target_accuracy = 0.95;
  CHECK(model_cache_key(t, "aaa", "bbb") != with_target);

  train_config k = c;
  k.checkpoints = {10, 50};
  const std::string with_checkpoints = model_cache_key(k, "aaa", "bbb");
  CHECK(with_checkpoints != base);
  CHECK(with_checkpoints != with_target);
  k.checkpoints = {10, 50, 100};
  CHECK(model_cache_key(k, "aaa", "bbb") != with_checkpoints);
  k.checkpoints = {10};
  CHECK(model_cache_key(k, "aaa", "bbb") != with_checkpoints);
}

// ---- experiment files and the pipeline -------------------------------------------------------------

TEST_CASE("an experiment's train table reads target_accuracy and checkpoints", "[interface]") {
  temp_dir dir("study");
  const experiment exp = parse_experiment(
      experiment_text(dir, "target_accuracy = 0.75\ncheckpoints = [1, 5, 20]"), "exp.toml", registry());
  REQUIRE(exp.models.size() == 1);
  REQUIRE(exp.models[0].train.has_value());
  REQUIRE(exp.models[0].train->target_accuracy.has_value());
  CHECK(*exp.models[0].train->target_accuracy == 0.75);
  CHECK(exp.models[0].train->checkpoints == std::vector<std::size_t>{1, 5, 20});
  const experiment plain = parse_experiment(experiment_text(dir, ""), "exp.toml", registry());
  CHECK_FALSE(plain.models[0].train->target_accuracy.has_value());
  CHECK(plain.models[0].train->checkpoints.empty());
}

TEST_CASE("experiment: target_accuracy of 0 or less, above 1, NaN or not a number", "[negative]") {
  temp_dir dir("study");
  for (const char* bad : {"0", "0.0", "-0.2", "1.01", "2"}) {
    CAPTURE(bad);
    CHECK_THAT(config_error_of(experiment_text(dir, std::string("target_accuracy = ") + bad)),
               Contains("exp.toml:") && Contains("models.net.train.target_accuracy") && Contains("(0, 1]"));
  }
  CHECK_THAT(config_error_of(experiment_text(dir, "target_accuracy = nan")),
             Contains("models.net.train.target_accuracy") && Contains("finite"));
  CHECK_THAT(config_error_of(experiment_text(dir, "target_accuracy = \"high\"")),
             Contains("models.net.train.target_accuracy"));
}

TEST_CASE("experiment: checkpoints not ascending, zero or not an array of ints", "[negative]") {
  temp_dir dir("study");
  CHECK_THAT(config_error_of(experiment_text(dir, "checkpoints = [10, 5]")),
             Contains("models.net.train.checkpoints") && Contains("ascending") && Contains("5 follows 10"));
  CHECK_THAT(config_error_of(experiment_text(dir, "checkpoints = [5, 5]")), Contains("ascending"));
  CHECK_THAT(config_error_of(experiment_text(dir, "checkpoints = [0, 5]")),
             Contains("models.net.train.checkpoints[0]"));
  CHECK_THAT(config_error_of(experiment_text(dir, "checkpoints = 10")),
             Contains("models.net.train.checkpoints") && Contains("array of ints"));
  CHECK_THAT(config_error_of(experiment_text(dir, "checkpoints = [1.5]")),
             Contains("models.net.train.checkpoints[0]"));
  CHECK_THAT(config_error_of(experiment_text(dir, "checkpoints = [\"a\"]")),
             Contains("models.net.train.checkpoints[0]"));
}

TEST_CASE("the pipeline warns about a model that hit its epoch cap below the target", "[interface]") {
  temp_dir dir("study");
  const experiment exp =
      parse_experiment(experiment_text(dir, "target_accuracy = 1.0\ncheckpoints = [1]"), "exp.toml", registry());
  std::ostringstream log;
  run_experiment(exp, registry(), quiet_run(), log);
  CHECK_THAT(log.str(), Contains("warning: model net") && Contains("target_accuracy 100.00%") &&
                            Contains("within 2 epochs") && Contains("train accuracy reached"));
  // The cached model is reused under the same key, and warned about again.
  std::ostringstream again;
  run_experiment(exp, registry(), quiet_run(), again);
  CHECK_THAT(again.str(), Contains("warning: model net"));
  // The cached file records the stop and the checkpoint.
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "models")) {
    ++files;
    const loaded_model m = load_model(entry.path().string());
    CHECK(m.record.stop_reason == "epoch_cap");
    CHECK(m.record.epochs_run == 2);
    REQUIRE(m.record.checkpoints.size() == 1);
    CHECK(m.record.checkpoints[0].epoch == 1);
  }
  CHECK(files == 1);
}

TEST_CASE("a trained model with the backend option checkpoint serves that epoch's weights", "[interface]") {
  temp_dir dir("study");
  const experiment exp =
      parse_experiment(experiment_text(dir, "checkpoints = [1]", "checkpoint = 1"), "exp.toml", registry());
  std::ostringstream log;
  run_experiment(exp, registry(), run_options{}, log);
  std::string file;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "models")) file = entry.path().string();
  REQUIRE(!file.empty());
  const std::string epoch1 = load_model(file, 1).net.digest();
  const std::string final_digest = load_model(file).net.digest();
  REQUIRE(epoch1 != final_digest);
  CHECK_THAT(log.str(), Contains("digest " + epoch1.substr(0, 12)) && Contains("checkpoints of epochs 1"));
  CHECK_THAT(log.str(), !Contains("digest " + final_digest.substr(0, 12)));
  CHECK_THAT(log.str(), !Contains("warning"));
}

TEST_CASE("a trained model asking for a checkpoint it does not save fails naming the file", "[negative]") {
  temp_dir dir("study");
  const experiment exp =
      parse_experiment(experiment_text(dir, "checkpoints = [1]", "checkpoint = 2"), "exp.toml", registry());
  std::ostringstream log;
  try {
    run_experiment(exp, registry(), quiet_run(), log);
    FAIL("expected an error");
  } catch (const error& e) {
    CHECK_THAT(std::string(e.what()), Contains("no checkpoint of epoch 2") && Contains("saved epochs: 1") &&
                                          Contains((dir / "models")));
  }
}

// ---- layer rewinding ----------------------------------------------------------------------------------

namespace {

// A 5-16-16-3 MLP trained for 6 epochs with the weights of epochs 2 and 3 kept, saved as dir/a.h5.
train_config rewind_config() {
  train_config c = small_config();
  c.hidden = {16, 16};
  c.epochs = 6;
  c.checkpoints = {2, 3};
  return c;
}

const dataset& rewind_data() {
  static const dataset d = make_blobs(90, 5, 3, 8, true);
  return d;
}

std::string save_run_a(const temp_dir& dir) {
  training_record r;
  save_model(dir / "a.h5", train_mlp(rewind_data(), nullptr, rewind_config(), r, {}), r);
  return dir / "a.h5";
}

// The final network of the same run trained for `epochs` epochs only, saved and read back.
mlp separate_run(const temp_dir& dir, std::size_t epochs) {
  train_config c = rewind_config();
  c.epochs = epochs;
  c.checkpoints.clear();
  training_record r;
  const std::string path = dir / ("epochs" + std::to_string(epochs) + ".h5");
  save_model(path, train_mlp(rewind_data(), nullptr, c, r, {}), r);
  return load_model(path).net;
}

std::string rewind_error(const std::string& path, const std::string& layers, std::int64_t to,
                         std::int64_t checkpoint = 0) {
  return error_message([&] { open_backend(path, checkpoint, layers, to); });
}

}  // namespace

TEST_CASE("a rewound layer is bit-identical to a separately trained run's, the other layers to the final model's",
          "[interface]") {
  temp_dir dir("rewind");
  const std::string a_path = save_run_a(dir);
  const mlp a = load_model(a_path).net;
  const mlp b = separate_run(dir, 3);  // run B: the same configuration and seed, 3 epochs
  REQUIRE(a.layers().size() == 3);
  REQUIRE_FALSE(same_layer(a.layers()[1], b.layers()[1]));  // so that rewinding layer 2 changes it

  const mlp rewound = load_model(a_path, 0, layer_rewind{{2}, 3}).net;
  REQUIRE(rewound.layers().size() == 3);
  CHECK(same_layer(rewound.layers()[0], a.layers()[0]));
  CHECK(same_layer(rewound.layers()[1], b.layers()[1]));
  CHECK(same_layer(rewound.layers()[2], a.layers()[2]));

  // The backend serves exactly the MLP assembled by hand from those arrays, under that MLP's digest.
  const mlp by_hand({a.layers()[0], b.layers()[1], a.layers()[2]}, a.input_shape());
  const auto backend = open_backend(a_path, 0, "2", 3);
  CHECK(backend->model_digest() == by_hand.digest());
  CHECK(backend->model_digest() != a.digest());
  CHECK(backend->model_digest() != b.digest());
  matrix probe(23, 5);
  rng gen(4);
  for (float& v : probe.data) v = static_cast<float>(gen.normal());
  matrix got, want;
  backend->logits(probe, got);
  by_hand.forward(probe, want);
  CHECK(same_bits(got.data, want.data));
  // A list with spaces names the same layers.
  CHECK(open_backend(a_path, 0, " 2 ", 3)->model_digest() == by_hand.digest());
}

TEST_CASE("rewinding combines with checkpoint, and rewinding every layer serves that epoch's run", "[interface]") {
  temp_dir dir("rewind");
  const std::string a_path = save_run_a(dir);
  const mlp two = separate_run(dir, 2), three = separate_run(dir, 3);
  // Epoch 2's weights with layers 1 and 3 from epoch 3.
  const mlp mixed = load_model(a_path, 2, layer_rewind{{3, 1}, 3}).net;
  CHECK(same_layer(mixed.layers()[0], three.layers()[0]));
  CHECK(same_layer(mixed.layers()[1], two.layers()[1]));
  CHECK(same_layer(mixed.layers()[2], three.layers()[2]));
  CHECK(open_backend(a_path, 2, "3,1", 3)->model_digest() == mixed.digest());
  CHECK(open_backend(a_path, 0, "1,2,3", 3)->model_digest() == three.digest());
  // Without rewinding, the options change nothing.
  CHECK(open_backend(a_path, 0, "", 0)->model_digest() == load_model(a_path).net.digest());
}

TEST_CASE("rewinding: a layer number beyond the network names the file, the option and the layer count",
          "[negative]") {
  temp_dir dir("rewind");
  const std::string a_path = save_run_a(dir);
  CHECK_THAT(rewind_error(a_path, "2,4", 3), Contains(a_path) && Contains("'rewind_layers'") &&
                                                 Contains("layer 4") && Contains("3 weight layers"));
  // Layer 0 through the library (the option refuses it as malformed, below).
  CHECK_THAT(error_message([&] { load_model(a_path, 0, layer_rewind{{0}, 3}); }),
             Contains(a_path) && Contains("'rewind_layers'") && Contains("layer 0") && Contains("numbered 1 to 3"));
}

TEST_CASE("rewinding: a malformed layer list names the file and the option", "[negative]") {
  temp_dir dir("rewind");
  const std::string a_path = save_run_a(dir);
  for (const char* bad : {"2,,3", "2,", ",2", "a", "2;3", "-1", "+2", "1.5", "0", " ", "2 3"}) {
    CAPTURE(bad);
    CHECK_THAT(rewind_error(a_path, bad, 3), Contains("option 'rewind_layers' must be weight layer numbers") &&
                                                 Contains(std::string("\"") + bad + "\"") && Contains(a_path));
  }
}

TEST_CASE("rewinding: a layer listed twice is refused", "[negative]") {
  temp_dir dir("rewind");
  const std::string a_path = save_run_a(dir);
  CHECK_THAT(rewind_error(a_path, "2,3, 2", 3),
             Contains(a_path) && Contains("'rewind_layers' lists layer 2 twice"));
}

TEST_CASE("rewinding: an epoch the file does not hold lists the saved epochs", "[negative]") {
  temp_dir dir("rewind");
  const std::string a_path = save_run_a(dir);
  CHECK_THAT(rewind_error(a_path, "2", 4), Contains(a_path) && Contains("'rewind_to' is 4") &&
                                               Contains("no checkpoint of epoch 4") &&
                                               Contains("saved epochs: 2, 3"));
}

TEST_CASE("rewinding: layers without rewind_to are refused", "[negative]") {
  temp_dir dir("rewind");
  const std::string a_path = save_run_a(dir);
  CHECK_THAT(rewind_error(a_path, "2,3", 0),
             Contains(a_path) && Contains("'rewind_layers' is \"2,3\"") && Contains("'rewind_to' is not set"));
}

TEST_CASE("rewinding: rewind_to without layers is refused", "[negative]") {
  temp_dir dir("rewind");
  const std::string a_path = save_run_a(dir);
  CHECK_THAT(rewind_error(a_path, "", 3),
             Contains(a_path) && Contains("'rewind_to' is 3") && Contains("'rewind_layers' lists no layer"));
}

TEST_CASE("rewinding: a negative rewind_to is refused", "[negative]") {
  temp_dir dir("rewind");
  const std::string a_path = save_run_a(dir);
  CHECK_THAT(rewind_error(a_path, "2", -3),
             Contains(a_path) && Contains("option 'rewind_to' must be >= 0") && Contains("-3"));
}

TEST_CASE("rewinding: a graph or ONNX model file is refused", "[negative]") {
  temp_dir dir("rewind");
  const std::string a_path = save_run_a(dir);
  save_network(dir / "graph.h5", network_graph::from_mlp(load_model(a_path).net), "test");
  CHECK_THAT(rewind_error(dir / "graph.h5", "2", 3),
             Contains(dir / "graph.h5") && Contains("graph model cannot be rewound") && Contains("MLP model file"));
  write_file(dir / "net.onnx", "not read: refused before the import");
  CHECK_THAT(rewind_error(dir / "net.onnx", "2", 3),
             Contains(dir / "net.onnx") && Contains("ONNX model cannot be rewound"));
}

namespace {

// Two data sets in one HDF5 file (X_train/y_train, X_test/y_test: 160 and 60 samples of 6 features, 4 classes).
void write_rewind_data(const std::string& path) {
  const std::string script = path + ".py";
  write_file(script, R"(import sys
import h5py, numpy as np
rng = np.random.default_rng(5)
centres = 1.5 * rng.normal(size=(4, 6))
with h5py.File(sys.argv[1], 'w') as f:
    for split, n in (('train', 160), ('test', 60)):
        y = np.arange(n) % 4
        f['X_' + split] = (centres[y] + rng.normal(size=(n, 6))).astype(np.float32)
        f['y_' + split] = y.astype(np.int32)
)");
  REQUIRE(std::system(("/usr/bin/python3 '" + script + "' '" + path + "'").c_str()) == 0);
}

std::string rewind_experiment(const temp_dir& dir, const std::string& output, const std::string& models) {
  return fmt::format(R"(seed = 2
output = "{}"
model_cache = "{}"

[datasets.train]
source = "hdf5"
path = "{}"
x = "X_train"
y = "y_train"

[datasets.held]
from = "train"
x = "X_test"
y = "y_test"
{}
[samplers.pairs]
plugin = "pairwise"
dataset = "train"
count = 6

[estimators.bisect]
plugin = "bisection"
T = 2
h = 0.1

[runs.main]
model = "rewound"
sampler = "pairs"
estimator = "bisect"
)",
                     dir / output, dir / "models", dir / "data.h5", models);
}

// Two models of one train table: the final weights, and layers 2 and 3 rewound to epoch 2.
std::string trained_models() {
  const std::string train = "hidden = [16, 16]\nepochs = 5\nbatch_size = 16\nlearning_rate = 0.005\ncheckpoints = [2]\n";
  return "\n[models.final]\nbackend = \"native\"\ndataset = \"train\"\ntest = \"held\"\n[models.final.train]\n" + train +
         "\n[models.rewound]\nbackend = \"native\"\ndataset = \"train\"\ntest = \"held\"\nrewind_layers = \"2,3\"\n"
         "rewind_to = 2\n[models.rewound.train]\n" +
         train;
}

}  // namespace

TEST_CASE("genscope run records each model's train and test accuracy, as a numpy forward of its weights gives them",
          "[interface]") {
  using genscope::testing::run_cli;
  temp_dir dir("rewind-run");
  write_rewind_data(dir / "data.h5");
  write_file(dir / "exp.toml", rewind_experiment(dir, "one.h5", trained_models()));
  const auto one = run_cli("run --threads 1 " + (dir / "exp.toml"));
  INFO(one.err);
  REQUIRE(one.exit_code == 0);

  // Independently: numpy in float64 over the model file's arrays, the rewound layers read from /checkpoints/epoch_2.
  write_file(dir / "check.py", R"(import sys
import h5py, numpy as np
with h5py.File(sys.argv[2]) as d:
    data = {'train': (d['X_train'][:], d['y_train'][:]), 'held': (d['X_test'][:], d['y_test'][:])}
with h5py.File(sys.argv[1]) as r:
    for name, rewound in (('final', ()), ('rewound', (1, 2))):
        g = r['provenance/models/' + name]
        with h5py.File(g.attrs['model_file']) as m:
            layers = [(m[('checkpoints/epoch_2/' if l in rewound else 'layers/') + str(l)])
                      for l in range(int(m.attrs['layer_count']))]
            layers = [(l['weight'][:].astype(np.float64), l['bias'][:].astype(np.float64)) for l in layers]
        for attr, split in (('train_accuracy', 'train'), ('test_accuracy', 'held')):
            z, y = data[split][0].astype(np.float64), data[split][1]
            for k, (w, b) in enumerate(layers):
                z = z @ w.T + b
                if k + 1 < len(layers):
                    z = np.maximum(z, 0)
            print(name, attr, repr(float(np.mean(np.argmax(z, axis=1) == y))))
)");
  const std::string printed = dir / "check.txt";
  REQUIRE(std::system(("/usr/bin/python3 '" + (dir / "check.py") + "' '" + (dir / "one.h5") + "' '" +
                       (dir / "data.h5") + "' > '" + printed + "'")
                          .c_str()) == 0);
  const h5::file results = h5::file::open(dir / "one.h5");
  const h5::group models = results.root().open_group("provenance").open_group("models");
  std::istringstream lines(genscope::testing::read_file(printed));
  std::string name, attr, value;
  std::size_t checked = 0;
  while (lines >> name >> attr >> value) {
    CAPTURE(name, attr);
    const double recorded = models.open_group(name).attr_double(attr);
    CHECK(recorded >= 0.0);
    CHECK(recorded <= 1.0);
    CHECK(recorded == std::stod(value));
    ++checked;
  }
  CHECK(checked == 4);
  const h5::group final_model = models.open_group("final"), rewound = models.open_group("rewound");
  CHECK(rewound.attr_string("digest") != final_model.attr_string("digest"));
  // One train table, one training run: the second model reuses the first one's file in the cache.
  CHECK(rewound.attr_string("model_file") == final_model.attr_string("model_file"));
  CHECK(std::distance(std::filesystem::directory_iterator(dir / "models"), std::filesystem::directory_iterator()) == 1);
  CHECK_THAT(one.out + one.err, Contains("model rewound: reusing " + final_model.attr_string("model_file")));
  // The final model's training accuracy is the trainer's own after its last epoch.
  CHECK(final_model.attr_double("train_accuracy") ==
        load_model(final_model.attr_string("model_file")).record.epochs.back().train_accuracy);

  SECTION("the same whatever the thread count") {
    const auto two = run_cli("run --quiet --threads 2 -o " + (dir / "two.h5") + " " + (dir / "exp.toml"));
    INFO(two.err);
    REQUIRE(two.exit_code == 0);
    const h5::file other = h5::file::open(dir / "two.h5");
    const h5::group again = other.root().open_group("provenance").open_group("models");
    for (const char* model : {"final", "rewound"})
      for (const char* a : {"train_accuracy", "test_accuracy"}) {
        CAPTURE(model, a);
        CHECK(again.open_group(model).attr_double(a) == models.open_group(model).attr_double(a));
      }
  }
  // Runs the experiment with `tables` in place of the trained models into dir/STEM.h5; returns the model's group.
  const auto run_with = [&](const std::string& stem, const std::string& tables) {
    write_file(dir / (stem + ".toml"), rewind_experiment(dir, stem + ".h5", tables));
    const auto r = run_cli("run --quiet " + (dir / (stem + ".toml")));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const h5::file f = h5::file::open(dir / (stem + ".h5"));
    return f.root().open_group("provenance").open_group("models").open_group("rewound");
  };
  const std::string model_file = final_model.attr_string("model_file");
  SECTION("a loaded model rewound the same way, with a test set, is the same model") {
    const h5::group g = run_with("loaded", fmt::format(R"(
[models.rewound]
backend = "native"
path = "{}"
dataset = "train"
test = "held"
rewind_layers = "2, 3"
rewind_to = 2
)",
                                                       model_file));
    CHECK(g.attr_string("digest") == rewound.attr_string("digest"));
    CHECK(g.attr_double("train_accuracy") == rewound.attr_double("train_accuracy"));
    CHECK(g.attr_double("test_accuracy") == rewound.attr_double("test_accuracy"));
  }
  SECTION("a model without data sets records no accuracy") {
    const h5::group g = run_with("bare", "\n[models.rewound]\nbackend = \"native\"\npath = \"" + model_file + "\"\n");
    CHECK_FALSE(g.has_attr("train_accuracy"));
    CHECK_FALSE(g.has_attr("test_accuracy"));
  }
}

// ---- diverging training and bad command-line numbers ---------------------------------------------------

TEST_CASE("a diverging training run stops at its first non-finite epoch and returns no model", "[negative]") {
  train_config c = small_config();
  c.learning_rate = 1e30;
  training_record record;
  std::size_t epochs_seen = 0;
  const std::string message = error_message(
      [&] { train_mlp(make_blobs(120, 8, 4, 2), nullptr, c, record, [&](const epoch_record&) { ++epochs_seen; }); });
  CHECK_THAT(message, Contains("diverged at epoch 1") && Contains("'blobs'") && Contains("nothing was saved"));
  CHECK(epochs_seen == 0);  // the diverged epoch is not reported as an ordinary one
}

TEST_CASE("an experiment whose model diverges fails and caches nothing, every time", "[negative]") {
  temp_dir dir("study-diverge");
  const experiment exp = parse_experiment(experiment_text(dir, "learning_rate = 1e30"), "exp.toml", registry());
  for (int attempt = 0; attempt < 2; ++attempt) {
    INFO("attempt " << attempt);
    std::ostringstream log;
    CHECK_THAT(error_message([&] { run_experiment(exp, registry(), quiet_run(), log); }),
               Contains("diverged at epoch 1"));
    std::size_t cached = 0;
    if (std::filesystem::exists(dir / "models"))
      for (const auto& entry : std::filesystem::directory_iterator(dir / "models")) cached += entry.is_regular_file();
    CHECK(cached == 0);
  }
}

TEST_CASE("genscope train refuses negative counts and seeds, and a diverging run writes no file", "[negative]") {
  temp_dir dir("study-cli");
  const std::string out = dir / "model.h5";
  for (const char* option : {"--epochs", "--batch", "--subset", "--test-subset", "--seed", "--data-seed"}) {
    INFO(option);
    const auto r = genscope::testing::run_cli(fmt::format("train -o '{}' {} -1", out, option));
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Contains(fmt::format("the argument ('-1') for option '{}' is invalid", option)));
    CHECK(genscope::testing::line_count(r.err) == 1);
  }
  const auto diverged =
      genscope::testing::run_cli(fmt::format("train -o '{}' --lr 1e30 --subset 200 --test-subset 0 --epochs 3 "
                                             "--hidden 16 --quiet",
                                             out));
  CHECK(diverged.exit_code == 1);
  CHECK_THAT(diverged.err, Contains("diverged at epoch 1"));
  CHECK_FALSE(std::filesystem::exists(out));
}
