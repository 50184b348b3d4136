// Experiment files: a valid file fills every field, and each kind of bad input is its own positioned config_error.
#include <genscope/error.hpp>
#include <genscope/experiment.hpp>
#include <genscope/mlp.hpp>
#include <genscope/plugin_registry.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

namespace {

using Catch::Matchers::Contains;
using genscope::testing::temp_dir;

const genscope::plugin_registry& registry() { return genscope::testing::build_plugins(); }

/// "exp.toml:LINE:COLUMN:" of the first occurrence of `needle` in `text` (plus `shift` columns).
std::string at(const std::string& text, const std::string& needle, int shift = 0) {
  const std::size_t offset = text.find(needle);
  REQUIRE(offset != std::string::npos);
  int line = 1;
  std::size_t line_start = 0;
  for (std::size_t k = 0; k < offset; ++k)
    if (text[k] == '\n') {
      ++line;
      line_start = k + 1;
    }
  return "exp.toml:" + std::to_string(line) + ":" + std::to_string(static_cast<int>(offset - line_start) + 1 + shift) +
         ":";
}

/// `"text` as the opening of a TOML string (a helper: GCC 12 warns falsely on "\"" + std::string).
std::string quoted(const std::string& text) {
  std::string out(1, '"');
  out += text;
  return out;
}

/// Replaces the first `from` of `text` by `to` (the test's one defect).
std::string with(std::string text, const std::string& from, const std::string& to) {
  const std::size_t offset = text.find(from);
  REQUIRE(offset != std::string::npos);
  return text.replace(offset, from.size(), to);
}

genscope::experiment parse(const std::string& text) {
  return genscope::parse_experiment(text, "exp.toml", registry());
}

/// The message of the config_error that parsing `text` must throw.
std::string config_error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const genscope::config_error& e) {
    return e.what();
  }
  FAIL("expected a config_error");
  return {};
}

/// A small valid experiment on synthetic data whose outputs go under `dir`.
std::string small_experiment(const temp_dir& dir) {
  return R"(seed = 3
output = ")" + (dir / "results/exp.h5") +
         R"("
model_cache = ")" + (dir / "models") +
         R"("

[datasets.base]
source = "synthetic"
samples = 300
dim = 16
manifold_dim = 3
classes = 5
cluster_spread = 0.5
separation = 3
noise = 0.01
subset = 200

[datasets.shuffled]
from = "base"
label_mode = "random"

[datasets.held_out]
source = "synthetic"
samples = 100
dim = 16
classes = 5
seed = 11

[models.net]
backend = "native"
dataset = "base"
test = "held_out"

[models.net.train]
hidden = [32, 16]
optimizer = "sgd"
learning_rate = 0.05
momentum = 0.8
weight_decay = 1e-4
epochs = 3
batch_size = 32
init = "glorot"
init_scale = 0.5

[samplers.pairs]
plugin = "pairwise"
dataset = "shuffled"
count = 50

[estimators.bisect]
plugin = "bisection"
T = 2
h = 0.1

[runs.first]
model = "net"
sampler = "pairs"
estimator = "bisect"
batch_size = 8
)";
}

/// A model file of a 784-or-other input MLP with one hidden layer, for loaded-model cases.
void write_model(const std::string& path, std::size_t input, std::size_t classes) {
  genscope::dense_layer hidden{genscope::matrix(4, input), std::vector<float>(4, 0.0f)};
  genscope::dense_layer out{genscope::matrix(classes, 4), std::vector<float>(classes, 0.0f)};
  for (float& w : hidden.weight.data) w = 0.01f;
  for (float& w : out.weight.data) w = 0.02f;
  genscope::save_model(path, genscope::mlp({hidden, out}, {input}), genscope::training_record{});
}

/// Runs `f` with the working directory set to `dir` (relative outputs land there).
template <class F>
void in_directory(const temp_dir& dir, F&& f) {
  const std::filesystem::path previous = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  try {
    f();
  } catch (...) {
    std::filesystem::current_path(previous);
    throw;
  }
  std::filesystem::current_path(previous);
}

}  // namespace

// ---- interface ---------------------------------------------------------------------------------

TEST_CASE("closest_name suggests near names only", "[interface]") {
  const std::vector<std::string> keys{"seed", "output", "model_cache", "datasets"};
  CHECK(genscope::closest_name("sed", keys) == "seed");
  CHECK(genscope::closest_name("outptu", keys) == "output");
  CHECK(genscope::closest_name("model-cache", keys) == "model_cache");
  CHECK(genscope::closest_name("seed", keys) == "seed");
  CHECK(genscope::closest_name("xyz", keys).empty());
  CHECK(genscope::closest_name("runs", keys).empty());
  CHECK(genscope::closest_name("anything", {}).empty());
  // Equally close: the first candidate wins, so the answer is stable.
  CHECK(genscope::closest_name("ab", {"xb", "ax"}) == "xb");
}

TEST_CASE("a valid experiment fills every field", "[interface]") {
  temp_dir dir("experiment");
  const std::string text = small_experiment(dir);
  const genscope::experiment e = parse(text);

  CHECK(e.file == "exp.toml");
  CHECK(e.text == text);
  CHECK(e.seed == 3);
  CHECK(e.output == dir / "results/exp.h5");
  CHECK(e.model_cache == dir / "models");
  CHECK(std::filesystem::is_directory(dir.path() / "results"));  // created by the writability check

  REQUIRE(e.datasets.size() == 3);
  const genscope::dataset_spec& base = e.datasets[0];
  CHECK(base.name == "base");
  CHECK(base.source == "synthetic");
  CHECK(base.samples == 300);
  CHECK(base.dim == 16);
  CHECK(base.manifold_dim == 3);
  CHECK(base.classes == 5);
  CHECK(base.cluster_spread == 0.5);
  CHECK(base.separation == 3.0);
  CHECK(base.noise == 0.01);
  CHECK(base.subset == 200);
  CHECK(base.labels_mode == genscope::label_mode::real);
  CHECK(base.seed == 3);  // the experiment seed

  const genscope::dataset_spec& shuffled = e.datasets[1];  // `from` copies, then overrides
  CHECK(shuffled.name == "shuffled");
  CHECK(shuffled.source == "synthetic");
  CHECK(shuffled.samples == 300);
  CHECK(shuffled.dim == 16);
  CHECK(shuffled.subset == 200);
  CHECK(shuffled.seed == base.seed);
  CHECK(shuffled.labels_mode == genscope::label_mode::random);

  const genscope::dataset_spec& held_out = e.datasets[2];
  CHECK(held_out.seed == 11);
  CHECK(held_out.manifold_dim == genscope::dataset_spec{}.manifold_dim);
  CHECK(held_out.subset == 0);

  REQUIRE(e.models.size() == 1);
  const genscope::model_spec& net = e.models[0];
  CHECK(net.name == "net");
  CHECK(net.backend == "native");
  CHECK(net.dataset == "base");
  CHECK(net.test_dataset == "held_out");
  CHECK(net.where.line == 27);
  CHECK(net.where.column == 9);
  REQUIRE(net.train.has_value());
  const genscope::train_config& train = *net.train;
  CHECK(train.hidden == std::vector<std::size_t>{32, 16});
  CHECK(train.optimizer == "sgd");
  CHECK(train.learning_rate == 0.05);
  CHECK(train.momentum == 0.8);
  CHECK(train.weight_decay == 1e-4);
  CHECK(train.epochs == 3);
  CHECK(train.batch_size == 32);
  CHECK(train.init == "glorot");
  CHECK(train.init_scale == 0.5);
  CHECK(train.beta1 == genscope::train_config{}.beta1);  // not given: train_config's default
  CHECK(train.seed == 3);                                 // not given: the experiment seed
  CHECK_FALSE(net.backend_options.has("path"));           // set later to the cached model

  REQUIRE(e.samplers.size() == 1);
  CHECK(e.samplers[0].name == "pairs");
  CHECK(e.samplers[0].plugin == "pairwise");
  CHECK(e.samplers[0].dataset == "shuffled");
  CHECK(e.samplers[0].options.get_int("count") == 50);
  CHECK(e.samplers[0].options.get_bool("same_label"));  // default filled in

  REQUIRE(e.estimators.size() == 1);
  const genscope::option_set& est = e.estimators[0].options;
  CHECK(e.estimators[0].plugin == "bisection");
  REQUIRE(std::holds_alternative<double>(est.values().at("T")));  // int widened to float
  CHECK(est.get_real("T") == 2.0);
  CHECK(est.get_real("h") == 0.1);
  CHECK(est.get_real("tol") == 1e-4);

  REQUIRE(e.runs.size() == 1);
  CHECK(e.runs[0].name == "first");
  CHECK(e.runs[0].model == "net");
  CHECK(e.runs[0].sampler == "pairs");
  CHECK(e.runs[0].estimator == "bisect");
  CHECK(e.runs[0].batch_size == 8);

  // Dependencies first; among items ready together, file order.
  CHECK(e.build_order == std::vector<std::string>{"datasets.base", "datasets.shuffled", "datasets.held_out",
                                                  "models.net", "samplers.pairs", "estimators.bisect",
                                                  "runs.first"});
}

TEST_CASE("defaults apply when keys are left out", "[interface]") {
  temp_dir dir("experiment");
  const std::string text = "output = \"" + (dir / "r.h5") + "\"\nmodel_cache = \"" + (dir / "m") + R"("
[datasets.d]
source = "synthetic"
[models.m]
backend = "native"
dataset = "d"
[models.m.train]
[samplers.s]
plugin = "pairwise"
dataset = "d"
[estimators.e]
plugin = "bisection"
[runs.r]
model = "m"
sampler = "s"
estimator = "e"
)";
  const genscope::experiment e = parse(text);
  CHECK(e.seed == 0);
  const genscope::dataset_spec d = e.datasets.at(0);
  const genscope::dataset_spec defaults;
  CHECK(d.samples == defaults.samples);
  CHECK(d.dim == defaults.dim);
  CHECK(d.classes == defaults.classes);
  CHECK(d.seed == 0);
  const genscope::train_config& t = *e.models.at(0).train;
  CHECK(t.hidden == genscope::train_config{}.hidden);
  CHECK(t.optimizer == "adam");
  CHECK(t.epochs == genscope::train_config{}.epochs);
  CHECK(e.samplers.at(0).options.get_int("count") == 1000);
  CHECK(e.estimators.at(0).options.get_real("T") == 4.0);
  CHECK(e.runs.at(0).batch_size == 64);
}

TEST_CASE("an IDX data set is checked from its headers", "[interface]") {
  temp_dir dir("experiment");
  const std::string text = "output = \"" + (dir / "r.h5") + "\"\nmodel_cache = \"" + (dir / "m") + R"("
[datasets.fashion]
split = "t10k"
subset = 100
label_mode = "random"
seed = 5
[models.m]
backend = "native"
dataset = "fashion"
[models.m.train]
hidden = [8]
epochs = 1
[samplers.s]
plugin = "pairwise"
dataset = "fashion"
count = 10
[estimators.e]
plugin = "bisection"
[runs.r]
model = "m"
sampler = "s"
estimator = "e"
)";
  const genscope::experiment e = parse(text);
  const genscope::dataset_spec& d = e.datasets.at(0);
  CHECK(d.source == "idx");
  CHECK(d.dir.empty());  // the source's default folder
  CHECK(d.split == "t10k");
  CHECK(d.subset == 100);
  CHECK(d.labels_mode == genscope::label_mode::random);
  CHECK(d.seed == 5);
}

/// An experiment whose model `loaded` is read from dir/net.h5 (a 16-4-3 MLP, written here).
std::string loaded_model_experiment(const temp_dir& dir) {
  write_model(dir / "net.h5", 16, 3);
  return "output = \"" + (dir / "r.h5") + "\"\nmodel_cache = \"" + (dir / "m") + R"("
[datasets.d]
source = "synthetic"
dim = 16
classes = 3
[models.loaded]
backend = "native"
path = ")" + (dir / "net.h5") + R"("
[samplers.s]
plugin = "pairwise"
dataset = "d"
[estimators.e]
plugin = "bisection"
[runs.r]
model = "loaded"
sampler = "s"
estimator = "e"
)";
}

TEST_CASE("a model loaded from a file is checked against its runs", "[interface]") {
  temp_dir dir("experiment");
  const std::string text = loaded_model_experiment(dir);
  const genscope::experiment e = parse(text);
  CHECK_FALSE(e.models.at(0).train.has_value());
  CHECK(e.models.at(0).backend_options.get_string("path") == dir / "net.h5");
  CHECK_FALSE(std::filesystem::exists(dir / "m"));  // no model trains: the cache is not touched

  SECTION("of another input dimension") {
    const std::string bad = with(text, "dim = 16", "dim = 12");
    const std::string message = config_error_of(bad);
    CHECK_THAT(message, Contains(at(bad, "[runs.r]", 6)) && Contains("run 'r'") && Contains("model 'loaded'") &&
                            Contains("dataset 'd'") && Contains("16") && Contains("12"));
  }
  SECTION("whose file is missing") {
    const std::string bad = with(text, "net.h5", "absent.h5");
    const std::string message = config_error_of(bad);
    CHECK_THAT(message, Contains(at(bad, quoted(dir / "absent.h5"))) && Contains("model 'loaded'") &&
                            Contains("absent.h5"));
  }
}

/// loaded_model_experiment whose model has `dataset = "d"` and `test = "held"`, a synthetic data set of `dim` and
/// `classes`.
std::string loaded_with_test_set(const temp_dir& dir, int dim, int classes) {
  return with(loaded_model_experiment(dir), "[samplers.s]",
              "dataset = \"d\"\ntest = \"held\"\n[datasets.held]\nsource = \"synthetic\"\ndim = " + std::to_string(dim) +
                  "\nclasses = " + std::to_string(classes) + "\nseed = 9\n[samplers.s]");
}

TEST_CASE("a loaded model takes a test set, for its recorded test accuracy", "[interface]") {
  temp_dir dir("experiment");
  const genscope::experiment e = parse(loaded_with_test_set(dir, 16, 3));
  CHECK(e.models.at(0).dataset == "d");
  CHECK(e.models.at(0).test_dataset == "held");
}

TEST_CASE("a loaded model's test set of another dimension is refused", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = loaded_with_test_set(dir, 12, 3);
  CHECK_THAT(config_error_of(text), Contains(at(text, "\"held\"")) && Contains("model 'loaded'") &&
                                        Contains("test dataset 'held'") && Contains("dimension 12") &&
                                        Contains("the model's input has dimension 16"));
}

TEST_CASE("a loaded model's test set of another class count is refused", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = loaded_with_test_set(dir, 16, 5);
  CHECK_THAT(config_error_of(text), Contains(at(text, "\"held\"")) && Contains("test dataset 'held' has 5 classes") &&
                                        Contains("the model has 3"));
}

TEST_CASE("a loaded model's bad rewinding is reported at validation, at its option", "[negative]") {
  temp_dir dir("experiment");
  const std::string text =
      with(loaded_model_experiment(dir), "[samplers.s]", "rewind_layers = \"1,7\"\nrewind_to = 1\n[samplers.s]");
  CHECK_THAT(config_error_of(text), Contains(at(text, "rewind_layers =")) && Contains("model 'loaded'") &&
                                        Contains(dir / "net.h5") && Contains("lists layer 7") &&
                                        Contains("2 weight layers"));
}

TEST_CASE("load_experiment reads the file and keeps its text", "[interface]") {
  temp_dir dir("experiment");
  const std::string text = small_experiment(dir);
  genscope::testing::write_file(dir / "exp.toml", text);
  const genscope::experiment e = genscope::load_experiment(dir / "exp.toml", registry());
  CHECK(e.file == dir / "exp.toml");
  CHECK(e.text == text);
  CHECK(e.runs.size() == 1);
}

TEST_CASE("experiments/quickstart.toml validates", "[interface]") {
  temp_dir dir("experiment");
  in_directory(dir, [&] {
    const genscope::experiment e =
        genscope::load_experiment(std::string(GENSCOPE_TEST_SOURCE_DIR) + "/experiments/quickstart.toml", registry());
    CHECK(e.output == "results/quickstart.h5");
    CHECK(e.runs.size() == 2);
    REQUIRE(e.datasets.size() == 3);
    CHECK(e.datasets[1].labels_mode == genscope::label_mode::random);
    CHECK(e.datasets[1].subset == e.datasets[0].subset);
    CHECK(e.datasets[1].seed == e.datasets[0].seed);
  });
}

TEST_CASE("the complete example of docs/experiment-format.md validates", "[interface]") {
  const std::string doc = genscope::testing::read_file(std::string(GENSCOPE_TEST_SOURCE_DIR) +
                                                       "/docs/experiment-format.md");
  const std::size_t section = doc.find("## Complete example");
  REQUIRE(section != std::string::npos);
  const std::size_t begin = doc.find("```toml\n", section);
  REQUIRE(begin != std::string::npos);
  const std::size_t end = doc.find("```", begin + 8);
  REQUIRE(end != std::string::npos);
  temp_dir dir("experiment");
  in_directory(dir, [&] {
    const genscope::experiment e = parse(doc.substr(begin + 8, end - begin - 8));
    CHECK_FALSE(e.runs.empty());
  });
}

// ---- negative: one test per kind of bad input ---------------------------------------------------

TEST_CASE("a TOML syntax error is reported at its position", "[negative]") {
  const std::string message = config_error_of("seed = 1\n[datasets.a\n");
  CHECK_THAT(message, Contains("exp.toml:2:12:") && Contains("table header"));
}

TEST_CASE("an unknown top-level key suggests the near one", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "seed = 3", "sed = 3");
  CHECK_THAT(config_error_of(text), Contains("exp.toml:1:1:") && Contains("unknown key 'sed'") &&
                                        Contains("did you mean 'seed'?"));
}

TEST_CASE("a megabyte-long unknown key is reported on one short line", "[negative][regression]") {
  temp_dir dir("experiment");
  const std::string text = small_experiment(dir) + std::string(1000000, 'k') + " = 3\n";
  const std::string message = config_error_of(text);
  CHECK(message.size() < 1000);
  CHECK_THAT(message, Contains("unknown key '" + std::string(60, 'k') + "...' (1000000 characters)"));
}

TEST_CASE("an unknown key in a data set suggests the near one", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "samples = 300", "smaples = 300");
  CHECK_THAT(config_error_of(text), Contains(at(text, "smaples")) && Contains("unknown key 'smaples'") &&
                                        Contains("[datasets.base]") && Contains("did you mean 'samples'?"));
}

TEST_CASE("an unknown key in a train table suggests the near one", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "epochs = 3", "epoch = 3");
  CHECK_THAT(config_error_of(text), Contains(at(text, "epoch =")) && Contains("unknown key 'epoch'") &&
                                        Contains("did you mean 'epochs'?"));
}

TEST_CASE("an unknown key in a run suggests the near one", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "batch_size = 8", "batchsize = 8");
  CHECK_THAT(config_error_of(text), Contains(at(text, "batchsize")) && Contains("'batchsize'") &&
                                        Contains("did you mean 'batch_size'?"));
}

TEST_CASE("a value of the wrong type names the key and the expected type", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "hidden = [32, 16]", "hidden = 256");
  CHECK_THAT(config_error_of(text), Contains(at(text, "hidden = 256", 9)) && Contains("'models.net.train.hidden'") &&
                                        Contains("must be an array of ints, not an int"));
}

TEST_CASE("an array element of the wrong type is pointed at", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "hidden = [32, 16]", "hidden = [32, \"16\"]");
  CHECK_THAT(config_error_of(text), Contains(at(text, "\"16\"")) && Contains("'models.net.train.hidden[1]'") &&
                                        Contains("must be an int"));
}

TEST_CASE("a float key accepts ints but not strings", "[negative]") {
  temp_dir dir("experiment");
  CHECK_NOTHROW(parse(with(small_experiment(dir), "learning_rate = 0.05", "learning_rate = 1")));
  const std::string text = with(small_experiment(dir), "learning_rate = 0.05", "learning_rate = \"fast\"");
  CHECK_THAT(config_error_of(text), Contains(at(text, "\"fast\"")) && Contains("'models.net.train.learning_rate'") &&
                                        Contains("must be a float, not a string"));
}

TEST_CASE("a negative subset is out of range", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "subset = 200", "subset = -5");
  CHECK_THAT(config_error_of(text), Contains(at(text, "subset = -5", 9)) && Contains("'datasets.base.subset'") &&
                                        Contains("between 0 and 4294967296") && Contains("-5"));
}

TEST_CASE("negative epochs are out of range", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "epochs = 3", "epochs = -1");
  CHECK_THAT(config_error_of(text), Contains(at(text, "epochs = -1", 9)) && Contains("'models.net.train.epochs'") &&
                                        Contains("between 0 and 4294967296"));
}

TEST_CASE("counts have the documented upper bound 2^32, named with their key", "[negative]") {
  temp_dir dir("experiment");
  for (const auto& [from, to, key, range] :
       {std::tuple{"epochs = 3", "epochs = 1000000000000", "'models.net.train.epochs'", "between 0 and 4294967296 (2^32)"},
        std::tuple{"samples = 300", "samples = 100000000000000", "'datasets.base.samples'", "between 1 and 4294967296 (2^32)"},
        std::tuple{"dim = 16", "dim = 10000000000000", "'datasets.base.dim'", "between 1 and 4294967296 (2^32)"},
        std::tuple{"hidden = [32, 16]", "hidden = [32, 100000000000]", "'models.net.train.hidden[1]'",
                   "between 1 and 4294967296 (2^32)"}}) {
    const std::string text = with(small_experiment(dir), from, to);
    CHECK_THAT(config_error_of(text), Contains(key) && Contains(range));
  }
}

TEST_CASE("data sets and models larger than memory are refused at validation, naming them", "[negative]") {
  temp_dir dir("experiment");
  const std::string data = with(small_experiment(dir), "samples = 300", "samples = 4000000000");
  CHECK_THAT(config_error_of(data), Contains("[datasets.base]: 4000000000 samples of dimension 16") &&
                                        Contains("more than the") && Contains("GENSCOPE_MEMORY_LIMIT"));
  const std::string model = with(small_experiment(dir), "hidden = [32, 16]", "hidden = [4000000000, 16]");
  CHECK_THAT(config_error_of(model), Contains("model 'net': training") && Contains("hidden 4000000000x16") &&
                                         Contains("more than the"));
  const std::string classes = with(small_experiment(dir), "classes = 5\n", "classes = 400\n");
  CHECK_THAT(config_error_of(classes), Contains("classes (400) must not exceed samples (300)"));
}

TEST_CASE("an unknown optimizer suggests the near one", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "\"sgd\"", "\"adamw\"");
  CHECK_THAT(config_error_of(text), Contains(at(text, "\"adamw\"")) && Contains("'models.net.train.optimizer'") &&
                                        Contains("did you mean 'adam'?"));
}

TEST_CASE("a label_mode other than real or random is refused", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "\"random\"", "\"shuffled\"");
  CHECK_THAT(config_error_of(text), Contains(at(text, "\"shuffled\"")) && Contains("'datasets.shuffled.label_mode'") &&
                                        Contains("\"real\", \"random\""));
}

TEST_CASE("an unknown data source is refused", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "source = \"synthetic\"", "source = \"csv\"");
  CHECK_THAT(config_error_of(text), Contains(at(text, "\"csv\"")) && Contains("'datasets.base.source'") &&
                                        Contains("\"idx\", \"cifar10\", \"synthetic\", \"hdf5\""));
}

TEST_CASE("a key of another source is refused", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "seed = 11", "seed = 11\nsplit = \"train\"");
  CHECK_THAT(config_error_of(text), Contains(at(text, "split =")) && Contains("'datasets.held_out.split'") &&
                                        Contains("source = \"idx\" or \"cifar10\" only"));
}

TEST_CASE("a manifold larger than its space is refused", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "manifold_dim = 3", "manifold_dim = 17");
  CHECK_THAT(config_error_of(text), Contains(at(text, "manifold_dim = 17", 15)) && Contains("manifold_dim (17)") &&
                                        Contains("dim (16)"));
}

TEST_CASE("a missing output is reported", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "output =", "# output =");
  CHECK_THAT(config_error_of(text), Contains("exp.toml:1:1:") && Contains("missing required key 'output'"));
}

TEST_CASE("a run without an estimator is reported", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "estimator = \"bisect\"", "");
  CHECK_THAT(config_error_of(text), Contains(at(text, "first]")) && Contains("[runs.first]") &&
                                        Contains("missing required key 'estimator'"));
}

TEST_CASE("a sampler without a data set is reported", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "dataset = \"shuffled\"", "");
  CHECK_THAT(config_error_of(text), Contains(at(text, "pairs]")) && Contains("[samplers.pairs]") &&
                                        Contains("missing required key 'dataset'"));
}

TEST_CASE("a sampler without a plugin is reported", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "plugin = \"pairwise\"", "");
  CHECK_THAT(config_error_of(text), Contains(at(text, "pairs]")) && Contains("missing required key 'plugin'"));
}

TEST_CASE("a model without a backend is reported", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "backend = \"native\"", "");
  CHECK_THAT(config_error_of(text), Contains(at(text, "net]")) && Contains("missing required key 'backend'"));
}

TEST_CASE("a model that trains needs a data set", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "dataset = \"base\"", "");
  CHECK_THAT(config_error_of(text), Contains(at(text, "[models.net.train]", 12)) && Contains("needs 'dataset'"));
}

TEST_CASE("a loaded model without its required option is reported", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = "output = \"" + (dir / "r.h5") + R"("
[datasets.d]
source = "synthetic"
[models.loaded]
backend = "native"
[samplers.s]
plugin = "pairwise"
dataset = "d"
[estimators.e]
plugin = "bisection"
[runs.r]
model = "loaded"
sampler = "s"
estimator = "e"
)";
  CHECK_THAT(config_error_of(text), Contains(at(text, "loaded]")) && Contains("[models.loaded]") &&
                                        Contains("missing required option 'path'"));
}

TEST_CASE("a trained model with a model file is refused", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "test = \"held_out\"", "test = \"held_out\"\npath = \"x.h5\"");
  CHECK_THAT(config_error_of(text), Contains(at(text, "path =")) && Contains("'models.net.path'") &&
                                        Contains("model_cache"));
}

TEST_CASE("an unknown plugin suggests the near one", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "\"pairwise\"", "\"pairwis\"");
  CHECK_THAT(config_error_of(text), Contains(at(text, "\"pairwis\"")) && Contains("sampler 'pairs'") &&
                                        Contains("'pairwis'") && Contains("did you mean 'pairwise'?"));
}

TEST_CASE("an unknown plugin option suggests the near one", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "count = 50", "cont = 50");
  CHECK_THAT(config_error_of(text), Contains(at(text, "cont =")) && Contains("unknown option 'cont'") &&
                                        Contains("'pairwise'") && Contains("did you mean 'count'?"));
}

TEST_CASE("a plugin option of the wrong type names the option and type", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "count = 50", "count = \"five\"");
  CHECK_THAT(config_error_of(text), Contains(at(text, "\"five\"")) && Contains("'samplers.pairs.count'") &&
                                        Contains("must be an int") && Contains("not a string"));
}

TEST_CASE("a plugin option out of the plugin's range is pointed at", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "T = 2", "T = -1");
  CHECK_THAT(config_error_of(text), Contains(at(text, "T = -1")) && Contains("estimator 'bisect'") &&
                                        Contains("'T'"));
}

TEST_CASE("an undefined reference suggests the near name", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "model = \"net\"", "model = \"nett\"");
  CHECK_THAT(config_error_of(text), Contains(at(text, "\"nett\"")) && Contains("unknown model 'nett'") &&
                                        Contains("'runs.first.model'") && Contains("did you mean 'net'?"));
}

TEST_CASE("a cycle through from is refused", "[negative]") {
  temp_dir dir("experiment");
  std::string text = with(small_experiment(dir), "[datasets.base]\n", "[datasets.base]\nfrom = \"shuffled\"\n");
  CHECK_THAT(config_error_of(text), Contains(at(text, "\"base\"")) && Contains("'datasets.shuffled.from'") &&
                                        Contains("base -> shuffled -> base"));
}

TEST_CASE("a data set derived from itself is refused", "[negative]") {
  temp_dir dir("experiment");
  std::string text = with(small_experiment(dir), "from = \"base\"", "from = \"shuffled\"");
  CHECK_THAT(config_error_of(text), Contains(at(text, "\"shuffled\"")) && Contains("shuffled -> shuffled"));
}

TEST_CASE("training with a backend other than native is refused", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "backend = \"native\"", "backend = \"onnx\"");
  CHECK_THAT(config_error_of(text), Contains(at(text, "[models.net.train]", 12)) &&
                                        Contains("[models.net.train]") && Contains("native backend only"));
}

TEST_CASE("a run whose model and data set dimensions differ is refused", "[negative]") {
  temp_dir dir("experiment");
  std::string text = with(small_experiment(dir), "dim = 16\nclasses = 5\nseed = 11", "dim = 32\nclasses = 5\nseed = 11");
  text = with(text, "dim = 16", "dim = 32");  // the model trains on dimension 32 ...
  text = with(text, "dataset = \"shuffled\"", "dataset = \"other\"");
  text += "\n[datasets.other]\nsource = \"synthetic\"\ndim = 16\n";  // ... and is probed on dimension 16
  CHECK_THAT(config_error_of(text), Contains(at(text, "first]")) && Contains("run 'first'") &&
                                        Contains("model 'net'") && Contains("dataset 'other'") &&
                                        Contains("dimension 32") && Contains("dimension 16"));
}

TEST_CASE("a run on a data set with more classes than its model is refused", "[negative][regression]") {
  // The model trains on 5 classes and is probed on 8-class data: once accepted and run.
  temp_dir dir("experiment");
  std::string text = with(small_experiment(dir), "dataset = \"shuffled\"", "dataset = \"many\"");
  text += "\n[datasets.many]\nsource = \"synthetic\"\ndim = 16\nclasses = 8\n";
  CHECK_THAT(config_error_of(text), Contains(at(text, "first]")) && Contains("run 'first'") &&
                                        Contains("dataset 'many' of 8 classes") && Contains("model 'net' has 5"));
}

TEST_CASE("a test set of another dimension is refused", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "dim = 16\nclasses = 5\nseed = 11",
                                "dim = 8\nclasses = 5\nseed = 11");
  CHECK_THAT(config_error_of(text), Contains(at(text, "\"held_out\"")) && Contains("test dataset 'held_out'") &&
                                        Contains("8") && Contains("16"));
}

TEST_CASE("a missing IDX file is reported at validation", "[negative]") {
  temp_dir dir("experiment");
  const std::string missing = dir / "no-such-folder";
  const std::string text = with(small_experiment(dir), "source = \"synthetic\"\nsamples = 100\ndim = 16\nclasses = 5",
                                "dir = \"" + missing + "\"\nsplit = \"t10k\"");
  CHECK_THAT(config_error_of(text), Contains(at(text, quoted(missing))) && Contains("dataset 'held_out'") &&
                                        Contains(missing));
}

TEST_CASE("an unwritable output is reported", "[negative]") {
  temp_dir dir("experiment");
  genscope::testing::write_file(dir / "file", "not a folder");
  const std::string text = with(small_experiment(dir), dir / "results/exp.h5", dir / "file/x.h5");
  CHECK_THAT(config_error_of(text), Contains(at(text, quoted(dir / "file/x.h5"))) && Contains("'output'") &&
                                        Contains(dir / "file/x.h5"));
}

TEST_CASE("an unwritable model cache is reported when a model trains", "[negative]") {
  temp_dir dir("experiment");
  genscope::testing::write_file(dir / "file", "not a folder");
  const std::string text = with(small_experiment(dir), dir / "models", dir / "file/models");
  CHECK_THAT(config_error_of(text), Contains(at(text, quoted(dir / "file/models"))) && Contains("'model_cache'") &&
                                        Contains(dir / "file/models"));
}

TEST_CASE("an experiment without runs is refused", "[negative]") {
  temp_dir dir("experiment");
  std::string text = small_experiment(dir);
  text = text.substr(0, text.find("[runs.first]"));
  CHECK_THAT(config_error_of(text), Contains("exp.toml:1:1:") && Contains("no runs"));
}

TEST_CASE("an item name with other characters is refused", "[negative]") {
  temp_dir dir("experiment");
  const std::string text = with(small_experiment(dir), "[datasets.held_out]", "[datasets.\"held out\"]");
  CHECK_THAT(config_error_of(text), Contains(at(text, "\"held out\"")) && Contains("'held out'") &&
                                        Contains("letters, digits"));
}

TEST_CASE("a missing experiment file is an io_error naming it", "[negative]") {
  temp_dir dir("experiment");
  try {
    genscope::load_experiment(dir / "absent.toml", registry());
    FAIL("expected an io_error");
  } catch (const genscope::io_error& e) {
    CHECK_THAT(e.what(), Contains(dir / "absent.toml"));
  }
}

namespace {

/// The build's plugins plus the logits_only test backend (serves logits, no piecewise-linear view).
genscope::plugin_registry registry_with_logits_only() {
  genscope::plugin_registry r;
  r.add_directory(GENSCOPE_TEST_PLUGIN_DIR);
  r.add_directory(std::string(GENSCOPE_TEST_BINARY_DIR) + "/test-plugins/logits_only");
  return r;
}

/// small_experiment with the trained model replaced by a model file served by `backend`, probed by
/// an estimator item "walk" of plugin `estimator`.
std::string loaded_model_experiment(const temp_dir& dir, const std::string& backend, const std::string& estimator) {
  write_model(dir / "m.h5", 16, 5);
  std::string text = small_experiment(dir);
  const std::size_t from = text.find("[models.net]");
  const std::size_t to = text.find("[samplers.pairs]");
  REQUIRE(from != std::string::npos);
  REQUIRE(to != std::string::npos);
  text.replace(from, to - from, "[models.net]\nbackend = \"" + backend + "\"\npath = \"" + (dir / "m.h5") + "\"\n\n");
  text = with(text, "[estimators.bisect]\nplugin = \"bisection\"\nT = 2\nh = 0.1",
              "[estimators.walk]\nplugin = \"" + estimator + "\"\nT = 2");
  return with(text, "estimator = \"bisect\"", "estimator = \"walk\"");
}

}  // namespace

TEST_CASE("the exact estimator with a backend without a piecewise-linear view is refused", "[negative]") {
  temp_dir dir("experiment");
  const genscope::plugin_registry plugins = registry_with_logits_only();
  REQUIRE(plugins.find(genscope::plugin_kind::backend, "logits_only") != nullptr);
  REQUIRE(plugins.find(genscope::plugin_kind::estimator, "exact") != nullptr);
  const std::string text = loaded_model_experiment(dir, "logits_only", "exact");
  try {
    genscope::parse_experiment(text, "exp.toml", plugins);
    FAIL("expected a config_error");
  } catch (const genscope::config_error& e) {
    CHECK_THAT(e.what(), Contains(at(text, "first]")) && Contains("run 'first'") && Contains("'exact'") &&
                             Contains("'logits_only'") && Contains("piecewise-linear"));
  }
}

TEST_CASE("the exact estimator with the native backend validates (control for the refusal)", "[interface]") {
  temp_dir dir("experiment");
  const genscope::plugin_registry plugins = registry_with_logits_only();
  const genscope::experiment native = genscope::parse_experiment(loaded_model_experiment(dir, "native", "exact"),
                                                                 "exp.toml", plugins);
  REQUIRE(native.estimators.size() == 1);
  CHECK(native.estimators[0].plugin == "exact");
  CHECK(native.models[0].backend == "native");
  // logits_only itself is a usable backend: with bisection, which needs logits only, the run validates.
  const genscope::experiment logits = genscope::parse_experiment(
      loaded_model_experiment(dir, "logits_only", "bisection"), "exp.toml", plugins);
  CHECK(logits.models[0].backend == "logits_only");
}
