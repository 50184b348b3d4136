// Training for the study: stopping at a target accuracy, checkpoints of chosen epochs (saved, reloaded, served by
// the native backend) and the model cache key of both, each checked against an independent oracle.
#include "support.hpp"

#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/experiment.hpp>
#include <genscope/mlp.hpp>
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

namespace {

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

bool same_layers(const std::vector<dense_layer>& a, const std::vector<dense_layer>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t l = 0; l < a.size(); ++l)
    if (a[l].weight.rows != b[l].weight.rows || a[l].weight.cols != b[l].weight.cols ||
        !same_bits(a[l].weight.data, b[l].weight.data) || !same_bits(a[l].bias, b[l].bias))
      return false;
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

std::shared_ptr<network_backend> open_backend(const std::string& path, std::int64_t checkpoint) {
  option_set o;
  o.set("path", path);
  o.set("checkpoint", checkpoint);
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

TEST_CASE("a target met at epoch 1 stops after one epoch; a target of 1 is allowed", "[boundary]") {
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

TEST_CASE("training refuses a target accuracy outside (0, 1]", "[negative]") {
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

TEST_CASE("experiment: target_accuracy outside (0, 1], NaN or not a number", "[negative]") {
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
  run_experiment(exp, registry(), run_options{true, 0}, log);
  CHECK_THAT(log.str(), Contains("warning: model net") && Contains("target_accuracy 100.00%") &&
                            Contains("within 2 epochs") && Contains("train accuracy reached"));
  // The cached model is reused under the same key, and warned about again.
  std::ostringstream again;
  run_experiment(exp, registry(), run_options{true, 0}, again);
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
  run_experiment(exp, registry(), run_options{false, 0}, log);
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
    run_experiment(exp, registry(), run_options{true, 0}, log);
    FAIL("expected an error");
  } catch (const error& e) {
    CHECK_THAT(std::string(e.what()), Contains("no checkpoint of epoch 2") && Contains("saved epochs: 1") &&
                                          Contains((dir / "models")));
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
    CHECK_THAT(error_message([&] { run_experiment(exp, registry(), run_options{true, 0}, log); }),
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
