// PyTorch as a real client of the ONNX import: logits against PyTorch's, the exact walk and the Jacobian against PyTorch in float64, and every refusal.
#include "support.hpp"

#include "h5/h5.hpp"

#include <genscope/error.hpp>
#include <genscope/network_backend.hpp>
#include <genscope/network_graph.hpp>
#include <genscope/onnx_import.hpp>
#include <genscope/plugin_registry.hpp>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <sys/file.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace genscope;
using genscope::testing::read_file;
using genscope::testing::run_cli;
using genscope::testing::temp_dir;
using genscope::testing::write_file;

namespace {

const std::vector<std::string> networks{"mlp", "lenet", "resnet", "depthwise", "leaky_avg"};

std::string script() { return std::string(GENSCOPE_TEST_SOURCE_DIR) + "/tests/onnx_models.py"; }

/// The folder of networks tests/onnx_models.py builds with PyTorch: built once per build folder (under a file
/// lock, as ctest runs test cases in parallel processes) and again whenever the script changes.
const std::string& models() {
  static const std::string dir = [] {
    namespace fs = std::filesystem;
    const fs::path root = fs::path(GENSCOPE_TEST_BINARY_DIR) / "onnx_models";
    fs::create_directories(root);
    const std::string stamp = std::to_string(std::hash<std::string>{}(read_file(script())));
    const int lock = ::open((root / "lock").c_str(), O_CREAT | O_RDWR, 0644);
    REQUIRE(lock >= 0);
    REQUIRE(::flock(lock, LOCK_EX) == 0);
    const fs::path done = root / ("built-" + stamp);
    if (!fs::exists(done)) {
      const std::string cmd = "/usr/bin/python3 '" + script() + "' build '" + root.string() + "' > '" +
                              (root / "build.log").string() + "' 2>&1";
      INFO("PyTorch model build failed; see " << (root / "build.log").string());
      REQUIRE(std::system(cmd.c_str()) == 0);
      write_file(done.string(), "");
    }
    ::flock(lock, LOCK_UN);
    ::close(lock);
    return root.string();
  }();
  return dir;
}

std::string model_path(const std::string& name, const std::string& ext = ".onnx") { return models() + "/" + name + ext; }

std::string import_message(const std::string& path) {
  try {
    (void)import_onnx(path);
  } catch (const io_error& e) {
    return e.what();
  }
  return "no error";
}

/// Largest |a - b| / max(1, |b|_inf of the row) over all logits.
double worst_relative(const matrix& got, const std::vector<float>& expected, std::size_t classes) {
  double worst = 0;
  for (std::size_t r = 0; r < got.rows; ++r) {
    double scale = 1;
    for (std::size_t k = 0; k < classes; ++k) scale = std::max(scale, std::fabs(double(expected[r * classes + k])));
    for (std::size_t k = 0; k < classes; ++k)
      worst = std::max(worst, std::fabs(double(got(r, k)) - expected[r * classes + k]) / scale);
  }
  return worst;
}

/// An experiment's first tables: an HDF5 data set, the native backend serving `model`, `pairs` pairwise probes.
std::string experiment_head(const std::string& output, const std::string& data, const std::string& model,
                            std::size_t pairs) {
  return fmt::format(R"(seed = 3
output = "{0}"

[datasets.data]
source = "hdf5"
path = "{1}"

[models.net]
backend = "native"
path = "{2}"

[samplers.pairs]
plugin = "pairwise"
dataset = "data"
count = {3}
)",
                     output, data, model, pairs);
}

std::string python(const std::string& args) {
  const std::string log = models() + "/oracle-" + std::to_string(::getpid()) + ".log";
  // PyTorch's float64 convolutions allocate and free large buffers per call: glibc keeping them (no mmap, no trim)
  // saves more than half the oracle's time.
  const std::string env = "MALLOC_MMAP_THRESHOLD_=4000000000 MALLOC_TRIM_THRESHOLD_=4000000000 MALLOC_TOP_PAD_=536870912 ";
  const int status =
      std::system((env + "/usr/bin/python3 '" + script() + "' " + args + " > '" + log + "' 2>&1").c_str());
  std::string out = read_file(log);
  std::filesystem::remove(log);
  return (status == 0 ? "ok\n" : "FAILED\n") + out;
}

/// Checks that tests/onnx_models.py's `check-KIND` of network `name` on an experiment's data set and results file
/// passes; returns what it printed.
std::string pytorch_check(const std::string& kind, const std::string& name, const std::string& data,
                          const std::string& results) {
  const std::string out = python("check-" + kind + " '" + models() + "' " + name + " '" + data + "' '" + results + "'");
  INFO(kind << ": " << out);
  CHECK(out.rfind("ok\n", 0) == 0);
  return out;
}

/// Runs an experiment through the CLI (written into `dir`); the test stops unless it succeeds.
void run_experiment(const temp_dir& dir, const std::string& experiment) {
  const auto r = run_cli("run --quiet '" + testing::write_experiment(dir, experiment) + "'");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
}

}  // namespace

TEST_CASE("imported ONNX networks give PyTorch's logits on 1,000 inputs", "[onnx][interface]") {
  for (const std::string& name : networks) {
    INFO(name);
    const network_graph net = import_onnx(model_path(name));
    const h5::file f = h5::file::open(model_path(name, ".h5"));
    std::vector<std::size_t> xdims, ldims;
    const std::vector<float> x = f.root().read<float>("X", &xdims);
    const std::vector<float> logits = f.root().read<float>("logits", &ldims);
    REQUIRE(xdims[0] == 1000);
    REQUIRE(net.input_dim() * 1000 == x.size());
    REQUIRE(net.class_count() == ldims[1]);
    matrix out;
    net.forward(matrix_view(x.data(), 1000, net.input_dim()), out);
    const double worst = worst_relative(out, logits, ldims[1]);
    INFO(net.describe() << ": largest relative difference " << worst);
    CHECK(worst <= 1e-5);

    // The native model file keeps the network exactly; the native backend serves either file.
    temp_dir dir("onnx-native");
    save_network(dir / "net.h5", net, "onnx: test");
    const network_graph loaded = load_network(dir / "net.h5");
    CHECK(loaded.digest() == net.digest());
    matrix again;
    loaded.forward(matrix_view(x.data(), 1000, net.input_dim()), again);
    CHECK(again.data == out.data);
    for (const std::string& path : {model_path(name), dir / "net.h5"}) {
      option_set o;
      o.set("path", path);
      const auto backend = testing::build_plugins().create_backend("native", o);
      REQUIRE(backend->piecewise_linear() != nullptr);
      matrix served;
      backend->logits(matrix_view(x.data(), 1000, net.input_dim()), served);
      CHECK(served.data == out.data);
    }
  }
}

TEST_CASE("a row's logits do not depend on the batch it comes in", "[onnx][interface]") {
  const network_graph net = import_onnx(model_path("resnet"));
  const h5::file f = h5::file::open(model_path("resnet", ".h5"));
  const std::vector<float> x = f.root().read<float>("X");
  matrix all, some;
  net.forward(matrix_view(x.data(), 1000, net.input_dim()), all);
  net.forward(matrix_view(x.data() + 37 * net.input_dim(), 5, net.input_dim()), some);
  for (std::size_t r = 0; r < 5; ++r)
    for (std::size_t k = 0; k < net.class_count(); ++k) CHECK(some(r, k) == all(37 + r, k));
}

namespace {

/// Pairwise and midline probes walked exactly, the Jacobian, the transitions, the manifold geometry and the first-layer
/// features of network
/// `name` in one experiment (the geometry on the data with half the labels changed: the network's own classes
/// are too few),
/// then every probe and point checked by tests/onnx_models.py against PyTorch in float64.
// The box of each network's plane: some hundreds to a few thousand regions (a LeNet plane through images spanning
// their distances holds millions, the MLP's a handful near the images).
std::string plane_extent(const std::string& name) {
  if (name == "mlp") return "0.5";
  if (name == "lenet") return "0.01";
  return "0.05";
}

void check_against_pytorch(const std::string& name) {
  {
    temp_dir dir("onnx-walk");
    const std::string data = model_path(name + "_data", ".h5");
    const std::string experiment = experiment_head(dir / "results.h5", data, model_path(name), 6) + R"(
[samplers.mid]
plugin = "midline"
dataset = "data"
count = 3

[estimators.walk]
plugin = "exact"
T = 1.2
record_breakpoints = true

[runs.pairs]
model = "net"
sampler = "pairs"
estimator = "walk"

[runs.mid]
model = "net"
sampler = "mid"
estimator = "walk"

[analyses.jacobian]
plugin = "jacobian"
model = "net"
datasets = ["data"]
points = 8

[analyses.loops]
plugin = "transitions"
model = "net"
datasets = ["data"]
triplets = 3
K = 200

[datasets.mixed]
source = "hdf5"
path = ")" + data + R"("
label_mode = "corrupt"
corruption = 0.5

[analyses.geometry]
plugin = "manifold_geometry"
model = "net"
datasets = ["mixed"]
samples = 3
n_t = 40

[analyses.features]
plugin = "feature_quantization"
model = "net"
datasets = ["data"]
angle = 1e-6

[analyses.planes]
plugin = "plane_regions"
model = "net"
datasets = ["data"]
points = "0,1,2"
patterns = false
extent = )" + plane_extent(name) + "\n";
    run_experiment(dir, experiment);
    for (const char* kind : {"exact", "jacobian", "manifold", "planes", "features"})
      pytorch_check(kind, name, data, dir / "results.h5");
  }
}

}  // namespace

TEST_CASE("the exact walk and the analyses through an MLP agree with PyTorch in float64", "[onnx][oracle]") {
  check_against_pytorch("mlp");
}

TEST_CASE("the exact walk and the analyses through convolutions, max pooling and batch norm agree with PyTorch in "
          "float64",
          "[onnx][oracle]") {
  check_against_pytorch("lenet");
}

TEST_CASE("the exact walk and the analyses through residual blocks agree with PyTorch in float64", "[onnx][oracle]") {
  check_against_pytorch("resnet");
}

TEST_CASE("the exact walk and the analyses through a depthwise convolution and ReLU6 agree with PyTorch in float64",
          "[onnx][oracle]") {
  check_against_pytorch("depthwise");
}

TEST_CASE("the exact walk and the analyses through LeakyReLU, average pooling, concatenation and padding agree with "
          "PyTorch in float64",
          "[onnx][oracle]") {
  check_against_pytorch("leaky_avg");
}

TEST_CASE("the interactions analysis on every imported network agrees with PyTorch in float64 and the dense "
          "definitions",
          "[onnx][oracle]") {
  // Six variables (64 masks): 2 x 3 patches of each image, all channels together; six runs of the MLP's 20 inputs.
  for (const std::string& name : networks) {
    INFO(name);
    temp_dir dir("onnx-interactions");
    const std::string data = model_path(name + "_data", ".h5");
    const std::string experiment = experiment_head(dir / "results.h5", data, model_path(name), 1) + R"(
[analyses.interactions]
plugin = "interactions"
model = "net"
datasets = ["data"]
grid = ")" + std::string(name == "mlp" ? "1x6" : "2x3") + R"("
points = 4
iterations = 200
store_all = true
)";
    run_experiment(dir, experiment);
    CHECK_THAT(pytorch_check("interactions", name, data, dir / "results.h5"), Catch::Contains("4 rows of 64 masks"));
  }
}

TEST_CASE("the report of a run on an ONNX model says the model holds no training curve", "[onnx][report]") {
  temp_dir dir("onnx-report");
  const std::string experiment = experiment_head(dir / "results.h5", model_path("mlp_data", ".h5"), model_path("mlp"), 6) + R"(
[estimators.walk]
plugin = "exact"
T = 1.0

[runs.pairs]
model = "net"
sampler = "pairs"
estimator = "walk"
)";
  REQUIRE(run_cli("run --quiet '" + testing::write_experiment(dir, experiment) + "'").exit_code == 0);
  const auto r = run_cli("report --quiet '" + (dir / "results.h5") + "' -o '" + (dir / "report") + "'");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(read_file(dir / "report/training.csv"), Catch::Contains("an ONNX model holds no training curve"));
  CHECK(std::filesystem::exists(dir / "report/index.html"));
}

TEST_CASE("unsupported operators are refused naming the file, the node, its op type and the supported list",
          "[onnx][negative]") {
  const std::string message = import_message(model_path("unsupported"));
  CHECK_THAT(message, Catch::Contains(model_path("unsupported")));
  CHECK_THAT(message, Catch::Contains("(Sigmoid): is not supported"));
  CHECK_THAT(message, Catch::Contains("supported: Gemm, MatMul"));
  CHECK_THAT(import_message(model_path("square")), Catch::Contains("(Mul): multiplies or divides two computed tensors"));
  // Through the CLI: one line, exit code 1.
  temp_dir dir("onnx-cli");
  const auto r = run_cli("import '" + model_path("unsupported") + "' -o '" + (dir / "out.h5") + "'");
  CHECK(r.exit_code == 1);
  CHECK(testing::line_count(r.err) == 1);
  CHECK_THAT(r.err, Catch::Contains("Sigmoid"));
  CHECK_FALSE(std::filesystem::exists(dir / "out.h5"));
}

TEST_CASE("graphs GenScope cannot serve are refused naming the file and what is wrong", "[onnx][negative]") {
  CHECK_THAT(import_message(model_path("two_inputs")), Catch::Contains("has 2 inputs"));
  CHECK_THAT(import_message(model_path("two_outputs")), Catch::Contains("has 2 outputs"));
  CHECK_THAT(import_message(model_path("symbolic")), Catch::Contains("dimension 2 is symbolic ('H')"));
  CHECK_THAT(import_message(model_path("image_logits")), Catch::Contains("needs a vector of logits"));
}

// An ONNX model written with ONNX's own protobuf classes: x (N x 8) + reshape(transpose(C, perm), shape), C a 2 x 4
// constant: shape arithmetic as exporters write it, with a perm and a target shape chosen by the test.
std::string transpose_model(const std::vector<std::int64_t>& perm, const std::vector<std::int64_t>& to = {1, 8}) {
  onnx::ModelProto model;
  model.set_ir_version(7);
  model.add_opset_import()->set_version(13);
  onnx::GraphProto& g = *model.mutable_graph();
  g.set_name("transpose");
  auto add_value = [](onnx::ValueInfoProto* v, const char* name, std::vector<std::int64_t> dims) {
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    for (std::size_t k = 0; k < dims.size(); ++k) {
      if (dims[k] < 0) t->mutable_shape()->add_dim()->set_dim_param("N");
      else t->mutable_shape()->add_dim()->set_dim_value(dims[k]);
    }
  };
  add_value(g.add_input(), "x", {-1, 8});
  add_value(g.add_output(), "logits", {-1, 8});
  onnx::TensorProto& c = *g.add_initializer();
  c.set_name("c");
  c.set_data_type(onnx::TensorProto::FLOAT);
  c.add_dims(2);
  c.add_dims(4);
  for (int k = 0; k < 8; ++k) c.add_float_data(static_cast<float>(k));
  onnx::TensorProto& shape = *g.add_initializer();
  shape.set_name("shape");
  shape.set_data_type(onnx::TensorProto::INT64);
  shape.add_dims(static_cast<std::int64_t>(to.size()));
  for (const std::int64_t d : to) shape.add_int64_data(d);
  auto node = [&g](const char* name, const char* op, std::vector<const char*> inputs, const char* output) {
    onnx::NodeProto& n = *g.add_node();
    n.set_name(name);
    n.set_op_type(op);
    for (const char* in : inputs) n.add_input(in);
    n.add_output(output);
    return &n;
  };
  onnx::AttributeProto& a = *node("flip", "Transpose", {"c"}, "ct")->add_attribute();
  a.set_name("perm");
  a.set_type(onnx::AttributeProto::INTS);
  for (const std::int64_t v : perm) a.add_ints(v);
  node("flat", "Reshape", {"ct", "shape"}, "row");
  node("shift", "Add", {"x", "row"}, "logits");
  return model.SerializeAsString();
}

TEST_CASE("shape arithmetic on constants: a Transpose follows its perm, a perm that is no permutation and a Reshape to an overflowing shape are refused naming the node",
          "[onnx][negative]") {
  // Control: the transposed constant, added to x = 0, is C^T read row by row.
  const network_graph net = import_onnx_bytes(transpose_model({1, 0}), "transpose.onnx");
  std::vector<float> zero(8, 0.0f);
  matrix logits;
  net.forward(matrix_view(zero.data(), 1, 8), logits);
  const std::vector<float> expected{0, 4, 1, 5, 2, 6, 3, 7};
  CHECK(std::vector<float>(logits.row(0), logits.row(0) + 8) == expected);
  CHECK(import_onnx_bytes(transpose_model({-1, 0}), "transpose.onnx").class_count() == 8);  // negative axes count back
  for (const auto& perm : std::vector<std::vector<std::int64_t>>{{0, 0}, {1, 1}, {-1, 1}}) {
    try {
      (void)import_onnx_bytes(transpose_model(perm), "bad-transpose.onnx");
      FAIL("a repeated axis in perm was accepted");
    } catch (const error& e) {
      CHECK_THAT(e.what(), Catch::Contains("bad-transpose.onnx") && Catch::Contains("flip") &&
                               Catch::Contains("Transpose") && Catch::Contains("perm names an axis twice"));
    }
  }
  try {
    (void)import_onnx_bytes(transpose_model({0, 2}), "bad-transpose.onnx");
    FAIL("an axis out of range in perm was accepted");
  } catch (const error& e) {
    CHECK_THAT(e.what(), Catch::Contains("flip") && Catch::Contains("axis 2 out of range"));
  }
  // A target shape whose product overflows 64 bits (fuzz_onnx found it) is refused, not wrapped.
  for (const auto& to : std::vector<std::vector<std::int64_t>>{{7019249444787257344, 115},
                                                                {4294967296, 4294967296, 8},
                                                                {-1, 4611686018427387904, 4}}) {
    try {
      (void)import_onnx_bytes(transpose_model({1, 0}, to), "huge-reshape.onnx");
      FAIL("a reshape of constants to an overflowing shape was accepted");
    } catch (const error& e) {
      CHECK_THAT(e.what(), Catch::Contains("huge-reshape.onnx") && Catch::Contains("flat") &&
                               Catch::Contains("Reshape") && Catch::Contains("does not hold the constant's values"));
    }
  }
}

TEST_CASE("shape arithmetic of view(x.size(0), -1) is folded into a reshape", "[onnx][interface]") {
  const network_graph net = import_onnx(model_path("view_batch"));
  CHECK(net.input_dim() == 36);
  CHECK(net.class_count() == 3);
}

TEST_CASE("missing, empty, truncated and non-ONNX files are refused naming the file", "[onnx][negative]") {
  temp_dir dir("onnx-bad");
  CHECK_THAT(import_message(dir / "missing.onnx"), Catch::Contains("not found"));
  write_file(dir / "empty.onnx", "");
  CHECK_THAT(import_message(dir / "empty.onnx"), Catch::Contains("is empty"));
  const std::string whole = read_file(model_path("lenet"));
  write_file(dir / "truncated.onnx", whole.substr(0, whole.size() / 2));
  const std::string truncated = import_message(dir / "truncated.onnx");
  CHECK_THAT(truncated, Catch::Contains(dir / "truncated.onnx"));
  CHECK_THAT(truncated, Catch::Contains("not an ONNX model") || Catch::Contains("holds"));
  write_file(dir / "text.onnx", "this is not a protobuf message at all, just some text\n");
  CHECK_THAT(import_message(dir / "text.onnx"), Catch::Contains(dir / "text.onnx"));
  CHECK_THAT(import_message(model_path("lenet", ".h5")), Catch::Contains("not an ONNX model"));
}

TEST_CASE("a network whose input does not fit the data set is refused at validation", "[onnx][negative]") {
  temp_dir dir("onnx-shape");
  const std::string experiment =
      experiment_head(dir / "results.h5", model_path("mlp_data", ".h5"), model_path("lenet"), 4) + R"(
[estimators.walk]
plugin = "exact"

[runs.pairs]
model = "net"
sampler = "pairs"
estimator = "walk"
)";
  const auto r = run_cli("run '" + testing::write_experiment(dir, experiment) + "'");
  CHECK(r.exit_code != 0);
  INFO(r.err);
  CHECK_THAT(r.err, Catch::Contains("784"));
  CHECK_THAT(r.err, Catch::Contains("20"));
  CHECK_FALSE(std::filesystem::exists(dir / "results.h5"));
}
