// Tests of the torchscript backend plugin against PyTorch's own logits (tests/torchscript/models.py), its
// refusals of bad files, modules and options, and genscope runs with it.
#include "support.hpp"

#include "h5/h5.hpp"

#include <genscope/error.hpp>
#include <genscope/network_backend.hpp>
#include <genscope/plugin_registry.hpp>

#include <catch2/catch.hpp>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace genscope;
using Catch::Matchers::Contains;
using genscope::testing::cli_result;
using genscope::testing::read_file;
using genscope::testing::replace;
using genscope::testing::run_cli;
using genscope::testing::temp_dir;
using genscope::testing::write_experiment;
using genscope::testing::write_file;

namespace {

// Written by the build (tests/torchscript/CMakeLists.txt): NAME.pt modules, and data.h5 with the inputs X
// (200 x 1 x 8 x 8), labels y, PyTorch's eager logits logits_NAME of the attention, conv, log and double
// networks on X, and the root attribute sha256_attention (Python's hashlib on attention.pt).
const std::string models_dir = GENSCOPE_TEST_TORCHSCRIPT_DIR;
const std::string data_file = models_dir + "/data.h5";

std::string module(const std::string& name) { return models_dir + "/" + name + ".pt"; }

const plugin_registry& registry() { return genscope::testing::build_plugins(); }

std::shared_ptr<network_backend> open_backend(const std::string& path, const std::string& input_shape = "1,8,8") {
  option_set o;
  o.set("path", path);
  o.set("input_shape", input_shape);
  return registry().create_backend("torchscript", o);
}

/// A float32 array of data.h5 as a matrix of its first dimension's rows.
matrix read_rows(const std::string& name) {
  std::vector<std::size_t> dims;
  const h5::file f = h5::file::open(data_file);
  std::vector<float> values = f.root().read<float>(name, &dims);
  REQUIRE(!dims.empty());
  matrix m;
  m.rows = dims[0];
  m.cols = values.size() / dims[0];
  m.data = std::move(values);
  return m;
}

/// Every value within 1e-5 of PyTorch's, relative to max(1, |PyTorch's|); NaN exactly where PyTorch has NaN.
void check_close(const matrix& ours, const matrix& pytorch) {
  REQUIRE(ours.rows == pytorch.rows);
  REQUIRE(ours.cols == pytorch.cols);
  std::size_t off = 0;
  for (std::size_t i = 0; i < ours.data.size(); ++i) {
    const float a = ours.data[i], b = pytorch.data[i];
    const bool same = std::isnan(b) ? std::isnan(a) : std::fabs(a - b) <= 1e-5f * std::max(1.0f, std::fabs(b));
    if (!same && ++off <= 5) UNSCOPED_INFO("value " << i << ": " << a << ", PyTorch " << b);
  }
  CHECK(off == 0);
}

/// The message of the error creating the backend; fails the test when it is created.
std::string refusal(const std::string& path, const std::string& input_shape = "1,8,8") {
  try {
    open_backend(path, input_shape);
  } catch (const plugin_error& e) {
    return e.what();
  }
  FAIL("the backend was created from " << path << " with input_shape " << input_shape);
  return {};
}

/// A refusal is one line naming the plugin and, where there is one, the file.
void check_refusal(const std::string& message, const std::string& path) {
  INFO(message);
  CHECK_THAT(message, Contains("plugin 'torchscript'") && Contains(path));
  CHECK(message.find('\n') == std::string::npos);
}

int argmax(const float* row, std::size_t n) {
  return static_cast<int>(std::max_element(row, row + n) - row);
}

}  // namespace

TEST_CASE("the torchscript backend is registered with its option schema and no piecewise-linear view",
          "[interface]") {
  const plugin_info* info = registry().find(plugin_kind::backend, "torchscript");
  REQUIRE(info != nullptr);
  CHECK(info->version == "1.0.0");
  CHECK(info->capabilities == 0);
  REQUIRE(info->options.size() == 2);
  CHECK(std::string(info->options[0].name) == "path");
  CHECK(info->options[0].type == option_type::string);
  CHECK(info->options[0].default_value == nullptr);
  CHECK(std::string(info->options[1].name) == "input_shape");
  CHECK(info->options[1].type == option_type::string);
  CHECK(info->options[1].default_value == nullptr);
}

TEST_CASE("the torchscript backend serves a scripted attention network's logits as PyTorch computes them",
          "[interface]") {
  const auto backend = open_backend(module("attention"));
  CHECK(backend->input_shape() == std::vector<std::size_t>{1, 8, 8});
  CHECK(backend->input_dim() == 64);
  CHECK(backend->class_count() == 3);
  CHECK(backend->piecewise_linear() == nullptr);
  CHECK(backend->describe() == "TorchScript module " + module("attention") + " (input 1x8x8, 3 classes)");
  CHECK(backend->model_digest() == h5::file::open(data_file).root().attr_string("sha256_attention"));

  const matrix x = read_rows("X");
  REQUIRE(x.rows == 200);
  REQUIRE(x.cols == 64);
  matrix out;
  backend->logits(x, out);
  check_close(out, read_rows("logits_attention"));

  matrix none;
  backend->logits(matrix_view(x.data.data(), 0, 64), none);
  CHECK(none.rows == 0);
  CHECK(none.data.empty());
}

TEST_CASE("the torchscript backend serves a traced convolutional network, any input_shape of its size",
          "[interface]") {
  const matrix x = read_rows("X");
  matrix out;
  open_backend(module("conv"))->logits(x, out);
  check_close(out, read_rows("logits_conv"));
}

TEST_CASE("torchscript: logits() called from several threads at once gives PyTorch's logits", "[interface][stress]") {
  const auto backend = open_backend(module("attention"));
  const matrix x = read_rows("X");
  const matrix pytorch = read_rows("logits_attention");
  matrix whole;
  backend->logits(x, whole);

  // More threads than this machine has cores; odd tasks take the rows in blocks of 1 to 13.
  const oneapi::tbb::global_control threads(oneapi::tbb::global_control::max_allowed_parallelism, 8);
  oneapi::tbb::task_arena arena(8);
  std::vector<matrix> results(48);
  arena.execute([&] {
    oneapi::tbb::parallel_for(std::size_t{0}, results.size(), [&](std::size_t t) {
      matrix& out = results[t];
      if (t % 2 == 0) return backend->logits(x, out);
      const std::size_t block = 1 + t % 13;
      out.resize(x.rows, 3);
      for (std::size_t first = 0; first < x.rows; first += block) {
        matrix part;
        backend->logits(matrix_view(x.row(first), std::min(block, x.rows - first), x.cols), part);
        std::copy(part.data.begin(), part.data.end(), out.row(first));
      }
    });
  });
  for (std::size_t t = 0; t < results.size(); ++t) {
    INFO("task " << t);
    if (t % 2 == 0) CHECK(results[t].data == whole.data);  // the same batch: the same bits
    check_close(results[t], pytorch);
  }
}

TEST_CASE("torchscript: NaN logits pass through as NaN", "[interface]") {
  const auto backend = open_backend(module("log"));  // log of the input: NaN for negative values
  CHECK(backend->class_count() == 3);
  matrix out;
  backend->logits(read_rows("X"), out);
  const matrix pytorch = read_rows("logits_log");
  REQUIRE(std::count_if(pytorch.data.begin(), pytorch.data.end(), [](float v) { return std::isnan(v); }) > 100);
  check_close(out, pytorch);
}

TEST_CASE("torchscript: float64 logits are served as float32", "[interface]") {
  matrix out;
  open_backend(module("double"))->logits(read_rows("X"), out);
  check_close(out, read_rows("logits_double"));
}

TEST_CASE("torchscript: a batch of the wrong width is refused", "[negative]") {
  const auto backend = open_backend(module("attention"));
  matrix out;
  CHECK_THROWS_WITH(backend->logits(matrix(2, 63), out), Contains("63 columns") && Contains("64"));
}

TEST_CASE("torchscript: a forward() that fails on a batch is one error naming the file, the backend goes on",
          "[negative]") {
  const auto backend = open_backend(module("raising"));  // raises on an input above 100
  matrix x(2, 64), out;
  x(1, 5) = 101.0f;
  try {
    backend->logits(x, out);
    FAIL("no error");
  } catch (const genscope::error& e) {
    const std::string message = e.what();
    CHECK(message.find('\n') == std::string::npos);
    CHECK_THAT(message, Contains(module("raising")) && Contains("forward() failed on a batch of 2 inputs") &&
                            Contains("an input above 100"));
  }
  x(1, 5) = 0.5f;
  backend->logits(x, out);
  CHECK(out.data == std::vector<float>{0, 0, 0, 0, 0, 0});
}

TEST_CASE("torchscript: a missing file is refused naming it", "[negative]") {
  temp_dir dir("torchscript");
  const std::string message = refusal(dir / "absent.pt");
  check_refusal(message, dir / "absent.pt");
  CHECK_THAT(message, Contains("no such file"));
}

TEST_CASE("torchscript: a file of random bytes is refused", "[negative]") {
  temp_dir dir("torchscript");
  std::string bytes(4096, '\0');
  std::mt19937 gen(11);
  for (char& c : bytes) c = static_cast<char>(gen() & 0xff);
  write_file(dir / "random.pt", bytes);
  const std::string message = refusal(dir / "random.pt");
  check_refusal(message, dir / "random.pt");
  CHECK_THAT(message, Contains("is not a TorchScript module"));
}

TEST_CASE("torchscript: an HDF5 file is refused", "[negative]") {
  const std::string message = refusal(data_file);
  check_refusal(message, data_file);
  CHECK_THAT(message, Contains("is not a TorchScript module"));
}

TEST_CASE("torchscript: a truncated module file is refused", "[negative]") {
  temp_dir dir("torchscript");
  const std::string whole = read_file(module("attention"));
  for (const std::size_t size : {std::size_t{0}, whole.size() / 2, whole.size() - 1}) {
    write_file(dir / "cut.pt", whole.substr(0, size));
    const std::string message = refusal(dir / "cut.pt");
    check_refusal(message, dir / "cut.pt");
    CHECK_THAT(message, Contains("is not a TorchScript module"));
  }
}

TEST_CASE("torchscript: a module pickled with torch.save instead of torch.jit.save is refused", "[negative]") {
  const std::string message = refusal(module("pickled"));
  check_refusal(message, module("pickled"));
  CHECK_THAT(message, Contains("is not a TorchScript module") && Contains("torch.jit.save"));
}

TEST_CASE("torchscript: a module without forward() is refused", "[negative]") {
  const std::string message = refusal(module("no_forward"));
  check_refusal(message, module("no_forward"));
  CHECK_THAT(message, Contains("no forward() method"));
}

TEST_CASE("torchscript: an input_shape the module cannot take is refused, naming the option", "[negative]") {
  const std::string message = refusal(module("attention"), "1,8,9");
  check_refusal(message, module("attention"));
  CHECK_THAT(message, Contains("forward() failed on zero inputs of shape 1x8x9 (option 'input_shape')") &&
                          Contains("invalid for input of size 144"));
}

TEST_CASE("torchscript: a module expecting float64 inputs is refused", "[negative]") {
  const std::string message = refusal(module("float64"));
  check_refusal(message, module("float64"));
  CHECK_THAT(message, Contains("forward() failed on zero inputs") && Contains("must have the same dtype"));
}

TEST_CASE("torchscript: a module returning a 1-D tensor is refused", "[negative]") {
  const std::string message = refusal(module("flat"));
  check_refusal(message, module("flat"));
  CHECK_THAT(message, Contains("returned a tensor of shape [2] for 2 inputs") && Contains("(2 x C)"));
}

TEST_CASE("torchscript: a module returning a 3-D tensor is refused", "[negative]") {
  const std::string message = refusal(module("cube"));
  check_refusal(message, module("cube"));
  CHECK_THAT(message, Contains("returned a tensor of shape [2, 8, 8]"));
}

TEST_CASE("torchscript: a module returning a tuple is refused", "[negative]") {
  const std::string message = refusal(module("pair"));
  check_refusal(message, module("pair"));
  CHECK_THAT(message, Contains("returned a Tuple, not a tensor of logits"));
}

TEST_CASE("torchscript: a module returning integer labels is refused", "[negative]") {
  const std::string message = refusal(module("label"));
  check_refusal(message, module("label"));
  CHECK_THAT(message, Contains("returned a tensor of Long values") && Contains("floating point"));
}

TEST_CASE("torchscript: a module writing into its input is refused", "[negative]") {
  const std::string message = refusal(module("in_place"));
  check_refusal(message, module("in_place"));
  CHECK_THAT(message, Contains("writes into its input in place") && Contains("x.clone()"));
}

TEST_CASE("torchscript: a malformed input_shape is refused naming the option", "[negative]") {
  for (const char* shape : {"", " ", "1,,8", "1,8,", ",8", "0,8", "1,-8", "a", "1.5", "1x8x8", "1234567890123456789"}) {
    std::string quoted = "\"";
    quoted.append(shape).append("\"");
    INFO("input_shape = " << quoted);
    CHECK_THAT(refusal(module("attention"), shape), Contains("option 'input_shape' must be") && Contains(quoted));
  }
  CHECK(open_backend(module("conv"), " 1, 8 ,8 ")->input_shape() == std::vector<std::size_t>{1, 8, 8});
}

TEST_CASE("torchscript: without its engine library the plugin says which file is missing", "[negative]") {
  temp_dir dir("torchscript");
  const std::string plugin = "libgenscope_backend_torchscript.so";
  std::filesystem::copy_file(std::string(GENSCOPE_TEST_PLUGIN_DIR) + "/" + plugin, dir / plugin);
  plugin_registry alone;
  alone.add_directory(dir.path().string());
  option_set o;
  o.set("path", module("attention"));
  o.set("input_shape", std::string("1,8,8"));
  CHECK_THROWS_WITH(alone.create_backend("torchscript", o),
                    Contains("cannot load its engine " + (dir / "genscope_torchscript_engine.so")));
}

namespace {

/// An experiment probing the attention network along 60 same-label pairs of data.h5 with bisection.
std::string experiment_text(const temp_dir& dir) {
  return "seed = 3\noutput = \"" + (dir / "results.h5") + "\"\nmodel_cache = \"" + (dir / "models") +
         "\"\n\n"
         "[datasets.points]\nsource = \"hdf5\"\npath = \"" + data_file + "\"\n\n"
         "[models.net]\nbackend = \"torchscript\"\npath = \"" + module("attention") +
         "\"\ninput_shape = \"1,8,8\"\n\n"
         "[samplers.pairs]\nplugin = \"pairwise\"\ndataset = \"points\"\ncount = 60\n\n"
         "[estimators.bisect]\nplugin = \"bisection\"\nT = 2\nh = 0.05\n\n"
         "[runs.main]\nmodel = \"net\"\nsampler = \"pairs\"\nestimator = \"bisect\"\nbatch_size = 16\n";
}

}  // namespace

TEST_CASE("genscope run: bisection intervals of a TorchScript network, its classes PyTorch's", "[interface]") {
  temp_dir dir("torchscript-run");
  const std::string file = write_experiment(dir, experiment_text(dir));
  const cli_result r = run_cli("run --quiet --threads 2 " + file);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);

  const h5::file results = h5::file::open(dir / "results.h5");
  const h5::group run = results.root().open_group("runs").open_group("main");
  const std::vector<double> t_lo = run.read<double>("t_lo"), t_hi = run.read<double>("t_hi");
  const std::vector<std::int64_t> anchor = run.read<std::int64_t>("anchor"), cls = run.read<std::int64_t>("class");
  const std::vector<std::int64_t> status = run.read<std::int64_t>("status");
  REQUIRE(t_lo.size() == 60);
  const matrix pytorch = read_rows("logits_attention");
  std::size_t ended = 0;
  for (std::size_t i = 0; i < t_lo.size(); ++i) {
    INFO("probe " << i);
    CHECK(std::isfinite(t_lo[i]));
    CHECK(std::isfinite(t_hi[i]));
    CHECK(t_lo[i] <= 0.0);
    CHECK(t_hi[i] >= 0.0);
    CHECK((status[i] & 8) == 0);  // no non-finite output
    REQUIRE(anchor[i] >= 0);
    REQUIRE(anchor[i] < 200);
    // The class at t = 0 is the anchor's class under PyTorch's own logits.
    CHECK(cls[i] == argmax(pytorch.row(static_cast<std::size_t>(anchor[i])), 3));
    ended += (status[i] & 3) != 3;
  }
  CHECK(ended > 0);  // some interval ends at a class change, not only at the search limit

  const h5::group provenance = results.root().open_group("provenance").open_group("models").open_group("net");
  CHECK(provenance.attr_string("backend") == "torchscript");
  CHECK(provenance.attr_string("digest") == h5::file::open(data_file).root().attr_string("sha256_attention"));
  CHECK(provenance.attr_string("description") ==
        "TorchScript module " + module("attention") + " (input 1x8x8, 3 classes)");

  // The same intervals with one thread: logits() depends on its batch only, not on the threads around it.
  const cli_result one = run_cli("run --quiet --threads 1 -o " + (dir / "one.h5") + " " + file);
  INFO(one.err);
  REQUIRE(one.exit_code == 0);
  const h5::group run1 = h5::file::open(dir / "one.h5").root().open_group("runs").open_group("main");
  CHECK(run1.read<double>("t_lo") == t_lo);
  CHECK(run1.read<double>("t_hi") == t_hi);
}

TEST_CASE("genscope run: the exact estimator with the torchscript backend is refused at validation",
          "[negative]") {
  temp_dir dir("torchscript-run");
  const std::string text = replace(experiment_text(dir), "plugin = \"bisection\"\nT = 2\nh = 0.05",
                                   "plugin = \"exact\"\nT = 2");
  const cli_result r = run_cli("run --quiet " + write_experiment(dir, text));
  CHECK(r.exit_code != 0);
  CHECK(genscope::testing::line_count(r.err) == 1);
  CHECK_THAT(r.err, Contains("estimator 'bisect' (plugin 'exact') needs a piecewise-linear view of the network, "
                             "which backend 'torchscript' of model 'net' does not offer"));
  CHECK(!std::filesystem::exists(dir / "results.h5"));
}

TEST_CASE("genscope run: the jacobian analysis with the torchscript backend is refused at validation",
          "[negative]") {
  temp_dir dir("torchscript-run");
  const std::string text = experiment_text(dir) +
                           "\n[analyses.sens]\nplugin = \"jacobian\"\nmodel = \"net\"\ndatasets = [\"points\"]\n";
  const cli_result r = run_cli("run --quiet " + write_experiment(dir, text));
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, Contains("analysis 'sens' (plugin 'jacobian') needs a piecewise-linear view of the network, "
                             "which backend 'torchscript' of model 'net' does not offer"));
}

TEST_CASE("genscope run: the manifold_geometry analysis with the torchscript backend is refused at validation",
          "[negative]") {
  temp_dir dir("torchscript-run");
  const std::string text = experiment_text(dir) +
                           "\n[analyses.geometry]\nplugin = \"manifold_geometry\"\nmodel = \"net\"\n"
                           "datasets = [\"points\"]\n";
  const cli_result r = run_cli("run --quiet " + write_experiment(dir, text));
  CHECK(r.exit_code != 0);
  CHECK(genscope::testing::line_count(r.err) == 1);
  CHECK_THAT(r.err, Contains("analysis 'geometry' (plugin 'manifold_geometry') needs the activations of hidden "
                             "layers, which backend 'torchscript' of model 'net' does not offer"));
  CHECK(!std::filesystem::exists(dir / "results.h5"));
}

TEST_CASE("genscope run: an input_shape whose size is not the data set's dimension is refused at validation",
          "[negative]") {
  temp_dir dir("torchscript-run");
  // The log network takes any input of at least 3 values; 1x7x7 is 49, the data set's samples 64.
  std::string text = replace(experiment_text(dir), module("attention"), module("log"));
  text = replace(text, "input_shape = \"1,8,8\"", "input_shape = \"1,7,7\"");
  const cli_result r = run_cli("run --quiet " + write_experiment(dir, text));
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, Contains("run 'main': model 'net' takes inputs of dimension 49, but sampler 'pairs' draws from "
                             "dataset 'points' of dimension 64"));
}
