// Native model files: writing and checked reading of the HDF5 layout in docs/model-format.md.
#include "h5/h5.hpp"

#include <genscope/error.hpp>
#include <genscope/shape.hpp>
#include <genscope/mlp.hpp>
#include <genscope/network_graph.hpp>
#include <genscope/onnx_import.hpp>
#include <genscope/version.hpp>

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <numeric>
#include <string>
#include <system_error>
#include <vector>

namespace genscope {
namespace {

constexpr const char* format_name = "genscope-mlp";
constexpr std::int64_t format_version = 1;
constexpr const char* activation_name = "relu";

std::vector<std::int64_t> to_ints(const std::vector<std::size_t>& v) {
  return {v.begin(), v.end()};
}

void write_training(const h5::group& g, const training_record& r) {
  const train_config& c = r.config;
  g.set_attr("trained", std::int64_t{r.trained ? 1 : 0});
  g.set_attr("hidden", to_ints(c.hidden));
  g.set_attr("optimizer", c.optimizer);
  g.set_attr("learning_rate", c.learning_rate);
  g.set_attr("momentum", c.momentum);
  g.set_attr("beta1", c.beta1);
  g.set_attr("beta2", c.beta2);
  g.set_attr("epsilon", c.epsilon);
  g.set_attr("weight_decay", c.weight_decay);
  g.set_attr("epochs", static_cast<std::int64_t>(c.epochs));
  g.set_attr("batch_size", static_cast<std::int64_t>(c.batch_size));
  g.set_attr("init", c.init);
  g.set_attr("init_scale", c.init_scale);
  g.set_attr("seed", c.seed);
  g.set_attr("dataset_name", r.dataset_name);
  g.set_attr("dataset_sha256", r.dataset_sha256);
  g.set_attr("test_dataset_sha256", r.test_dataset_sha256);
  g.set_attr("label_mode", r.label_mode);
  if (c.target_accuracy) g.set_attr("target_accuracy", *c.target_accuracy);
  if (!c.checkpoints.empty()) g.set_attr("checkpoints", to_ints(c.checkpoints));
  if (!r.stop_reason.empty()) g.set_attr("stop_reason", r.stop_reason);
  g.set_attr("epochs_run", static_cast<std::int64_t>(r.epochs_run));
  if (r.epochs.empty()) return;
  std::vector<std::int64_t> epoch;
  std::vector<double> train_loss, train_accuracy, test_loss, test_accuracy, seconds;
  for (const epoch_record& e : r.epochs) {
    epoch.push_back(static_cast<std::int64_t>(e.epoch));
    train_loss.push_back(e.train_loss);
    train_accuracy.push_back(e.train_accuracy);
    test_loss.push_back(e.test_loss);
    test_accuracy.push_back(e.test_accuracy);
    seconds.push_back(e.seconds);
  }
  g.write("epoch", epoch);
  g.write("train_loss", train_loss);
  g.write("train_accuracy", train_accuracy);
  g.write("test_loss", test_loss);
  g.write("test_accuracy", test_accuracy);
  g.write("seconds", seconds);
}

// Reading: every problem becomes an io_error naming the file and the object.
class reader {
 public:
  explicit reader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& message) const { throw io_error(path_, message); }

  void require_attr(const h5::group& g, const std::string& name) const {
    if (!g.has_attr(name)) fail("attribute " + where(g, name) + " is missing");
  }

  std::string text(const h5::group& g, const std::string& name) const {
    require_attr(g, name);
    return g.attr_string(name);
  }
  double real(const h5::group& g, const std::string& name) const {
    require_attr(g, name);
    return g.attr_double(name);
  }
  std::int64_t integer(const h5::group& g, const std::string& name) const {
    require_attr(g, name);
    return g.attr_int(name);
  }
  std::size_t count(const h5::group& g, const std::string& name) const {
    const std::int64_t v = integer(g, name);
    if (v < 0) fail("attribute " + where(g, name) + " is negative (" + std::to_string(v) + ")");
    return static_cast<std::size_t>(v);
  }
  std::vector<std::size_t> counts(const h5::group& g, const std::string& name) const {
    require_attr(g, name);
    std::vector<std::size_t> out;
    for (std::int64_t v : g.attr_ints(name)) {
      if (v < 0) fail("attribute " + where(g, name) + " holds a negative value (" + std::to_string(v) + ")");
      out.push_back(static_cast<std::size_t>(v));
    }
    return out;
  }

  // h5::group reads integers as int64 only, and a seed may use all 64 bits.
  std::uint64_t unsigned64(const h5::group& g, const std::string& name) const {
    require_attr(g, name);
    h5::handle attr(H5Aopen(g.id(), name.c_str(), H5P_DEFAULT));
    if (!attr) fail("cannot open attribute " + where(g, name));
    h5::handle type(H5Aget_type(attr.get()));
    h5::handle space(H5Aget_space(attr.get()));
    if (!type || !space || H5Tget_class(type.get()) != H5T_INTEGER || H5Sget_simple_extent_npoints(space.get()) != 1)
      fail("attribute " + where(g, name) + " is not one integer");
    std::uint64_t v = 0;
    if (H5Aread(attr.get(), H5T_NATIVE_UINT64, &v) < 0) fail("cannot read attribute " + where(g, name));
    return v;
  }

  h5::group open_group(const h5::group& parent, const std::string& name, const std::string& what) const {
    if (!parent.has(name)) fail(what + " is missing (no group " + where_child(parent, name) + ")");
    return parent.open_group(name);
  }

  // A finite-valued float dataset of the given rank.
  std::vector<float> floats(const h5::group& g, const std::string& name, std::size_t rank, const std::string& what,
                            std::vector<std::size_t>& dims) const {
    if (!g.has(name)) fail(what + " is missing (no dataset " + where_child(g, name) + ")");
    std::vector<float> v = g.read<float>(name, &dims);
    if (dims.size() != rank)
      fail(what + " is " + std::to_string(dims.size()) + "-D, expected " + std::to_string(rank) + "-D");
    for (std::size_t k = 0; k < v.size(); ++k) {
      if (std::isfinite(v[k])) continue;
      std::string message = what + " contains " + (std::isnan(v[k]) ? "NaN" : "inf") + " at ";
      if (rank == 2)
        message.append("(").append(std::to_string(k / dims[1])).append(", ").append(std::to_string(k % dims[1])).append(")");
      else
        message.append(std::to_string(k));
      fail(message);
    }
    return v;
  }

  template <class T>
  std::vector<T> column(const h5::group& g, const std::string& name, std::size_t n) const {
    if (!g.has(name)) fail("training curve dataset " + where_child(g, name) + " is missing");
    std::vector<T> v = g.read<T>(name);
    if (v.size() != n)
      fail("training curve dataset " + where_child(g, name) + " has " + std::to_string(v.size()) +
           " values, 'epoch' has " + std::to_string(n));
    return v;
  }

 private:
  static std::string where(const h5::group& g, const std::string& name) { return g.path() + "@" + name; }
  static std::string where_child(const h5::group& g, const std::string& name) {
    return (g.path() == "/" ? "/" : g.path() + "/") + name;
  }
  std::string path_;
};

training_record read_training(const reader& rd, const h5::group& g) {
  training_record r;
  r.trained = rd.integer(g, "trained") != 0;
  train_config& c = r.config;
  c.hidden = rd.counts(g, "hidden");
  c.optimizer = rd.text(g, "optimizer");
  c.learning_rate = rd.real(g, "learning_rate");
  c.momentum = rd.real(g, "momentum");
  c.beta1 = rd.real(g, "beta1");
  c.beta2 = rd.real(g, "beta2");
  c.epsilon = rd.real(g, "epsilon");
  c.weight_decay = rd.real(g, "weight_decay");
  c.epochs = rd.count(g, "epochs");
  c.batch_size = rd.count(g, "batch_size");
  c.init = rd.text(g, "init");
  c.init_scale = rd.real(g, "init_scale");
  c.seed = rd.unsigned64(g, "seed");
  r.dataset_name = rd.text(g, "dataset_name");
  r.dataset_sha256 = rd.text(g, "dataset_sha256");
  r.test_dataset_sha256 = rd.text(g, "test_dataset_sha256");
  r.label_mode = rd.text(g, "label_mode");
  if (g.has_attr("target_accuracy")) c.target_accuracy = rd.real(g, "target_accuracy");
  if (g.has_attr("checkpoints")) c.checkpoints = rd.counts(g, "checkpoints");
  if (g.has_attr("stop_reason")) r.stop_reason = rd.text(g, "stop_reason");
  if (!g.has("epoch")) {
    r.epochs_run = g.has_attr("epochs_run") ? rd.count(g, "epochs_run") : 0;
    return r;
  }
  const std::vector<std::int64_t> epoch = g.read<std::int64_t>("epoch");
  const std::size_t n = epoch.size();
  const auto train_loss = rd.column<double>(g, "train_loss", n);
  const auto train_accuracy = rd.column<double>(g, "train_accuracy", n);
  const auto test_loss = rd.column<double>(g, "test_loss", n);
  const auto test_accuracy = rd.column<double>(g, "test_accuracy", n);
  const auto seconds = rd.column<double>(g, "seconds", n);
  for (std::size_t i = 0; i < n; ++i) {
    if (epoch[i] < 0) rd.fail("training curve dataset /training/epoch holds a negative value");
    r.epochs.push_back(
        {static_cast<std::size_t>(epoch[i]), train_loss[i], train_accuracy[i], test_loss[i], test_accuracy[i],
         seconds[i]});
  }
  r.epochs_run = g.has_attr("epochs_run") ? rd.count(g, "epochs_run") : n;
  return r;
}

std::string checkpoint_group_name(std::size_t epoch) { return "epoch_" + std::to_string(epoch); }

void write_layers(const h5::group& parent, const std::vector<dense_layer>& layers) {
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const dense_layer& layer = layers[l];
    const h5::group g = parent.create_group(std::to_string(l));
    g.write("weight", layer.weight.data, {layer.weight.rows, layer.weight.cols});
    g.write("bias", layer.bias);
  }
}

// The checkpoint list under /checkpoints (weights not read), ascending by epoch.
std::vector<model_checkpoint> read_checkpoint_list(const reader& rd, const h5::group& root) {
  std::vector<model_checkpoint> out;
  if (!root.has("checkpoints")) return out;
  const h5::group all = root.open_group("checkpoints");
  for (const std::string& name : all.children()) {
    const h5::group g = all.open_group(name);
    model_checkpoint cp;
    cp.epoch = rd.count(g, "epoch");
    if (name != checkpoint_group_name(cp.epoch))
      rd.fail("checkpoint group /checkpoints/" + name + " records epoch " + std::to_string(cp.epoch));
    cp.train_accuracy = rd.real(g, "train_accuracy");
    cp.test_accuracy = rd.real(g, "test_accuracy");
    out.push_back(std::move(cp));
  }
  std::sort(out.begin(), out.end(),
            [](const model_checkpoint& a, const model_checkpoint& b) { return a.epoch < b.epoch; });
  return out;
}

std::string epoch_list(const std::vector<model_checkpoint>& checkpoints) {
  if (checkpoints.empty()) return "none";
  std::string s;
  for (const model_checkpoint& cp : checkpoints) s += (s.empty() ? "" : ", ") + std::to_string(cp.epoch);
  return s;
}

}  // namespace

namespace {

/// The model file layout (docs/model-format.md) under `root`; `path` names the file in messages.
void write_model(const h5::group& root, const std::string& path, const mlp& net, const training_record& record) {
  if (net.layers().empty()) throw io_error(path, "cannot save a network without layers");
  root.set_attr("format", std::string(format_name));
  root.set_attr("format_version", format_version);
  root.set_attr("activation", std::string(activation_name));
  root.set_attr("input_shape", to_ints(net.input_shape()));
  root.set_attr("layer_count", static_cast<std::int64_t>(net.layers().size()));
  root.set_attr("description", net.describe());
  root.set_attr("genscope_version", std::string(version()));
  root.set_attr("git_commit", std::string(git_commit()));
  write_layers(root.create_group("layers"), net.layers());
  write_training(root.create_group("training"), record);
  bool any_checkpoint = false;
  for (const model_checkpoint& cp : record.checkpoints) any_checkpoint = any_checkpoint || !cp.layers.empty();
  if (any_checkpoint) {
    const h5::group all = root.create_group("checkpoints");
    for (const model_checkpoint& cp : record.checkpoints) {
      if (cp.layers.empty()) continue;  // a listing read back by load_model: no weights to write
      const std::string name = checkpoint_group_name(cp.epoch);
      if (cp.epoch == 0) throw io_error(path, "checkpoint epoch is 0");
      if (all.has(name)) throw io_error(path, "checkpoint epoch " + std::to_string(cp.epoch) + " appears twice");
      bool same = cp.layers.size() == net.layers().size();
      for (std::size_t l = 0; same && l < cp.layers.size(); ++l)
        same = cp.layers[l].weight.rows == net.layers()[l].weight.rows &&
               cp.layers[l].weight.cols == net.layers()[l].weight.cols &&
               cp.layers[l].weight.data.size() == cp.layers[l].weight.rows * cp.layers[l].weight.cols &&
               cp.layers[l].bias.size() == net.layers()[l].bias.size();
      if (!same)
        throw io_error(path, "checkpoint epoch " + std::to_string(cp.epoch) + " has other layer shapes than the network");
      const h5::group g = all.create_group(name);
      g.set_attr("epoch", static_cast<std::int64_t>(cp.epoch));
      g.set_attr("train_accuracy", cp.train_accuracy);
      g.set_attr("test_accuracy", cp.test_accuracy);
      write_layers(g, cp.layers);
    }
  }
}

/// Builds a file in memory with `fill`, then replaces `path` atomically (parent folders created).
template <class Fill>
void save_file(const std::string& path, Fill&& fill) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) {
    fs::create_directories(parent, ec);
    if (ec) throw io_error(path, "cannot create folder '" + parent.string() + "': " + ec.message());
  }
  h5::file f = h5::file::create_in_memory(path);
  fill(f.root());
  f.save_atomically(path);
}

}  // namespace

void save_model(const std::string& path, const mlp& net, const training_record& record) {
  save_file(path, [&](const h5::group& root) { write_model(root, path, net, record); });
}

void save_training_state(const std::string& path, const training_state& state) {
  save_file(path, [&](const h5::group& root) {
    write_model(root, path, state.net, state.record);
    const h5::group g = root.create_group("optimizer");
    g.set_attr("steps", static_cast<std::int64_t>(state.optimizer_steps));
    g.set_attr("moment_count", static_cast<std::int64_t>(state.moments.size()));
    for (std::size_t k = 0; k < state.moments.size(); ++k) g.write("moment_" + std::to_string(k), state.moments[k]);
  });
}

training_state load_training_state(const std::string& path) {
  training_state state;
  loaded_model m = load_model(path);
  for (model_checkpoint& cp : m.record.checkpoints) cp.layers = load_model(path, cp.epoch).net.layers();
  state.net = std::move(m.net);
  state.record = std::move(m.record);
  const h5::file f = h5::file::open(path);
  const h5::group root = f.root();
  if (!root.has("optimizer")) throw io_error(path, "is a model file, not a training state (no /optimizer)");
  const h5::group g = root.open_group("optimizer");
  const std::int64_t steps = g.attr_int("steps");
  const std::int64_t count = g.attr_int("moment_count");
  if (steps < 0 || count < 0 || count > 1024) throw io_error(path, "/optimizer: steps or moment_count out of range");
  state.optimizer_steps = static_cast<std::uint64_t>(steps);
  for (std::int64_t k = 0; k < count; ++k) {
    std::vector<float> moment = g.read<float>("moment_" + std::to_string(k));
    for (float v : moment)
      if (!std::isfinite(v)) throw io_error(path, "/optimizer/moment_" + std::to_string(k) + " holds a non-finite value");
    state.moments.push_back(std::move(moment));
  }
  return state;
}

loaded_model load_model(const std::string& path) { return load_model(path, 0); }

loaded_model load_model(const std::string& path, std::size_t checkpoint) {
  const reader rd(path);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) rd.fail("model file not found");
  if (!std::filesystem::is_regular_file(path, ec)) rd.fail("model path is not a regular file");
  const h5::file f = h5::file::open(path);
  const h5::group root = f.root();

  if (!root.has_attr("format")) rd.fail("not a GenScope model file (no 'format' attribute on /)");
  const std::string format = root.attr_string("format");
  if (format != format_name)
    rd.fail("not a GenScope model file (format is '" + format + "', expected '" + format_name + "')");
  const std::int64_t version_found = rd.integer(root, "format_version");
  if (version_found < 1 || version_found > format_version)
    rd.fail("format_version " + std::to_string(version_found) + " is not supported (this GenScope reads " +
            std::to_string(format_version) + ")");
  const std::string activation = rd.text(root, "activation");
  if (activation != activation_name)
    rd.fail("activation '" + activation + "' is not supported (expected '" + activation_name + "')");
  const std::vector<std::size_t> input_shape = rd.counts(root, "input_shape");
  if (input_shape.empty()) rd.fail("attribute /@input_shape is empty");
  std::size_t input_dim = 0;
  try {
    input_dim = shape_product(input_shape, "attribute /@input_shape");
  } catch (const error& e) {
    rd.fail(e.what());
  }
  if (input_dim == 0) rd.fail("attribute /@input_shape has a zero dimension");
  const std::size_t layer_count = rd.count(root, "layer_count");
  if (layer_count == 0) rd.fail("layer_count is 0");

  const std::vector<model_checkpoint> checkpoints = read_checkpoint_list(rd, root);
  std::string prefix;  // "" for the final weights, "checkpoint epoch N " for a checkpoint's
  h5::group layers_group = rd.open_group(root, "layers", "layer list");
  if (checkpoint != 0) {
    const std::string name = checkpoint_group_name(checkpoint);
    if (!root.has("checkpoints") || !root.open_group("checkpoints").has(name))
      rd.fail("no checkpoint of epoch " + std::to_string(checkpoint) + " (saved epochs: " + epoch_list(checkpoints) +
              ")");
    layers_group = root.open_group("checkpoints").open_group(name);
    prefix = "checkpoint epoch " + std::to_string(checkpoint) + " ";
  }
  const std::size_t stored = layers_group.children().size();
  if (stored != layer_count)
    rd.fail(layers_group.path() + " holds " + std::to_string(stored) + " entries, layer_count is " +
            std::to_string(layer_count));

  std::vector<dense_layer> layers(layer_count);
  std::size_t in = input_dim;
  for (std::size_t l = 0; l < layer_count; ++l) {
    const std::string name = prefix + "layer " + std::to_string(l);
    const h5::group g = rd.open_group(layers_group, std::to_string(l), name);
    std::vector<std::size_t> wdims, bdims;
    std::vector<float> weight = rd.floats(g, "weight", 2, name + " weight", wdims);
    std::vector<float> bias = rd.floats(g, "bias", 1, name + " bias", bdims);
    if (wdims[0] == 0 || wdims[1] == 0) rd.fail(name + " weight is empty");
    if (bias.size() != wdims[0])
      rd.fail(name + " bias has " + std::to_string(bias.size()) + " values, weight has " + std::to_string(wdims[0]) +
              " rows");
    if (wdims[1] != in)
      rd.fail(name + " weight has " + std::to_string(wdims[1]) + " columns, " +
              (l == 0 ? "input_shape gives " + std::to_string(in) + " features"
                      : "layer " + std::to_string(l - 1) + " has " + std::to_string(in) + " outputs"));
    layers[l].weight.rows = wdims[0];
    layers[l].weight.cols = wdims[1];
    layers[l].weight.data = std::move(weight);
    layers[l].bias = std::move(bias);
    in = wdims[0];
  }

  loaded_model out;
  if (root.has("training")) out.record = read_training(rd, root.open_group("training"));
  out.record.checkpoints = checkpoints;
  try {
    out.net = mlp(std::move(layers), input_shape);
  } catch (const io_error&) {
    throw;
  } catch (const error& e) {
    rd.fail(e.what());  // the checks above should have caught it; keep the file name anyway
  }
  return out;
}

loaded_model load_model(const std::string& path, std::size_t checkpoint, const layer_rewind& rewind) {
  loaded_model out = load_model(path, checkpoint);
  if (rewind.layers.empty() && rewind.epoch == 0) return out;
  const reader rd(path);
  std::string listed;
  for (std::size_t l : rewind.layers) listed += (listed.empty() ? "" : ",") + std::to_string(l);
  if (rewind.layers.empty())
    rd.fail("'rewind_to' is " + std::to_string(rewind.epoch) + " but 'rewind_layers' lists no layer to rewind");
  if (rewind.epoch == 0)
    rd.fail("'rewind_layers' is \"" + listed + "\" but 'rewind_to' is not set (the checkpoint epoch those layers come "
            "from)");
  std::vector<dense_layer> layers = out.net.layers();
  const std::size_t count = layers.size();
  std::vector<bool> seen(count, false);
  for (std::size_t l : rewind.layers) {
    if (l == 0 || l > count)
      rd.fail("'rewind_layers' lists layer " + std::to_string(l) + ", but the network has " + std::to_string(count) +
              " weight layers (numbered 1 to " + std::to_string(count) + ")");
    if (seen[l - 1]) rd.fail("'rewind_layers' lists layer " + std::to_string(l) + " twice (\"" + listed + "\")");
    seen[l - 1] = true;
  }
  const auto& saved = out.record.checkpoints;
  if (std::none_of(saved.begin(), saved.end(), [&](const model_checkpoint& cp) { return cp.epoch == rewind.epoch; }))
    rd.fail("'rewind_to' is " + std::to_string(rewind.epoch) + ", but there is no checkpoint of epoch " +
            std::to_string(rewind.epoch) + " (saved epochs: " + epoch_list(saved) + ")");
  const mlp from = load_model(path, rewind.epoch).net;
  for (std::size_t l : rewind.layers) layers[l - 1] = from.layers()[l - 1];
  try {
    out.net = mlp(std::move(layers), out.net.input_shape());
  } catch (const error& e) {
    rd.fail("the layers of checkpoint epoch " + std::to_string(rewind.epoch) + " do not fit the others: " + e.what());
  }
  return out;
}

}  // namespace genscope

// ---- graph models (format "genscope-graph") ----

namespace genscope {
namespace {

constexpr const char* graph_format_name = "genscope-graph";
constexpr std::int64_t graph_format_version = 1;

std::vector<double> to_doubles(const std::vector<float>& v) { return {v.begin(), v.end()}; }

void write_operator(const h5::group& g, const graph_op& op) {
  g.set_attr("op", std::string(op_kind_name(op.kind)));
  g.set_attr("inputs", to_ints(op.inputs));
  g.set_attr("name", op.name);
  const window_geometry& w = op.window;
  auto write_window = [&] {
    g.set_attr("kernel", std::vector<std::int64_t>{static_cast<std::int64_t>(w.kernel_h), static_cast<std::int64_t>(w.kernel_w)});
    g.set_attr("strides", std::vector<std::int64_t>{static_cast<std::int64_t>(w.stride_h), static_cast<std::int64_t>(w.stride_w)});
    g.set_attr("dilations",
               std::vector<std::int64_t>{static_cast<std::int64_t>(w.dilation_h), static_cast<std::int64_t>(w.dilation_w)});
    g.set_attr("pads", std::vector<std::int64_t>{static_cast<std::int64_t>(w.pad_top), static_cast<std::int64_t>(w.pad_left),
                                                 static_cast<std::int64_t>(w.pad_bottom),
                                                 static_cast<std::int64_t>(w.pad_right)});
  };
  switch (op.kind) {
    case op_kind::dense:
      g.write("weight", op.weight, {op.bias.size(), op.bias.empty() ? 0 : op.weight.size() / op.bias.size()});
      g.write("bias", op.bias);
      break;
    case op_kind::conv: {
      write_window();
      g.set_attr("out_channels", static_cast<std::int64_t>(op.out_channels));
      g.set_attr("groups", static_cast<std::int64_t>(op.groups));
      const std::size_t per = op.out_channels * w.kernel_h * w.kernel_w;
      g.write("weight", op.weight, {op.out_channels, per == 0 ? 0 : op.weight.size() / per, w.kernel_h, w.kernel_w});
      g.write("bias", op.bias);
      break;
    }
    case op_kind::avg_pool:
    case op_kind::max_pool:
      write_window();
      g.set_attr("ceil_mode", std::int64_t{w.ceil_mode ? 1 : 0});
      if (op.kind == op_kind::avg_pool) g.set_attr("count_include_pad", std::int64_t{op.count_include_pad ? 1 : 0});
      break;
    case op_kind::scale_shift:
      g.write("scale", op.scale);
      g.write("shift", op.shift);
      break;
    case op_kind::pad:
      g.set_attr("pad_begin", to_ints(op.pad_begin));
      g.set_attr("pad_end", to_ints(op.pad_end));
      g.set_attr("pad_value", static_cast<double>(op.pad_value));
      break;
    case op_kind::sum: g.set_attr("coefficients", to_doubles(op.coefficients)); break;
    case op_kind::concat: g.set_attr("axis", static_cast<std::int64_t>(op.axis)); break;
    case op_kind::reshape: g.set_attr("shape", to_ints(op.shape)); break;
    case op_kind::leaky_relu: g.set_attr("negative_slope", static_cast<double>(op.negative_slope)); break;
    case op_kind::clip:
      g.set_attr("low", static_cast<double>(op.low));
      g.set_attr("high", static_cast<double>(op.high));
      break;
    case op_kind::relu: break;
  }
}

graph_op read_operator(const reader& rd, const h5::group& g, const std::string& what) {
  static const op_kind kinds[] = {op_kind::dense,   op_kind::conv,       op_kind::avg_pool, op_kind::max_pool,
                                  op_kind::scale_shift, op_kind::pad, op_kind::sum,      op_kind::concat,
                                  op_kind::reshape, op_kind::relu,       op_kind::leaky_relu, op_kind::clip};
  graph_op op;
  const std::string name = rd.text(g, "op");
  bool known = false;
  std::string all;
  for (op_kind k : kinds) {
    all += (all.empty() ? "" : ", ") + std::string(op_kind_name(k));
    if (name == op_kind_name(k)) {
      op.kind = k;
      known = true;
    }
  }
  if (!known) rd.fail(what + ": operator '" + name + "' is not one this GenScope knows (" + all + ")");
  op.inputs = rd.counts(g, "inputs");
  if (g.has_attr("name")) op.name = g.attr_string("name");
  auto pair = [&](const std::string& attr, std::size_t& a, std::size_t& b) {
    const std::vector<std::size_t> v = rd.counts(g, attr);
    if (v.size() != 2) rd.fail(what + ": attribute '" + attr + "' needs 2 values, has " + std::to_string(v.size()));
    a = v[0];
    b = v[1];
  };
  auto read_window = [&] {
    window_geometry& w = op.window;
    pair("kernel", w.kernel_h, w.kernel_w);
    pair("strides", w.stride_h, w.stride_w);
    pair("dilations", w.dilation_h, w.dilation_w);
    const std::vector<std::size_t> pads = rd.counts(g, "pads");
    if (pads.size() != 4) rd.fail(what + ": attribute 'pads' needs 4 values, has " + std::to_string(pads.size()));
    w.pad_top = pads[0];
    w.pad_left = pads[1];
    w.pad_bottom = pads[2];
    w.pad_right = pads[3];
  };
  std::vector<std::size_t> dims;
  switch (op.kind) {
    case op_kind::dense:
      op.weight = rd.floats(g, "weight", 2, what + " weight", dims);
      op.bias = rd.floats(g, "bias", 1, what + " bias", dims);
      break;
    case op_kind::conv:
      read_window();
      op.out_channels = rd.count(g, "out_channels");
      op.groups = rd.count(g, "groups");
      op.weight = rd.floats(g, "weight", 4, what + " weight", dims);
      op.bias = rd.floats(g, "bias", 1, what + " bias", dims);
      break;
    case op_kind::avg_pool:
    case op_kind::max_pool:
      read_window();
      op.window.ceil_mode = rd.integer(g, "ceil_mode") != 0;
      if (op.kind == op_kind::avg_pool) op.count_include_pad = rd.integer(g, "count_include_pad") != 0;
      break;
    case op_kind::scale_shift:
      op.scale = rd.floats(g, "scale", 1, what + " scale", dims);
      op.shift = rd.floats(g, "shift", 1, what + " shift", dims);
      break;
    case op_kind::pad:
      op.pad_begin = rd.counts(g, "pad_begin");
      op.pad_end = rd.counts(g, "pad_end");
      op.pad_value = static_cast<float>(rd.real(g, "pad_value"));
      break;
    case op_kind::sum:
      rd.require_attr(g, "coefficients");
      for (double c : g.attr_doubles("coefficients")) op.coefficients.push_back(static_cast<float>(c));
      break;
    case op_kind::concat: op.axis = rd.count(g, "axis"); break;
    case op_kind::reshape: op.shape = rd.counts(g, "shape"); break;
    case op_kind::leaky_relu: op.negative_slope = static_cast<float>(rd.real(g, "negative_slope")); break;
    case op_kind::clip:
      op.low = static_cast<float>(rd.real(g, "low"));
      op.high = static_cast<float>(rd.real(g, "high"));
      break;
    case op_kind::relu: break;
  }
  return op;
}

}  // namespace

void save_network(const std::string& path, const network_graph& net, const std::string& source) {
  if (net.ops().empty()) throw io_error(path, "cannot save a network without operators");
  save_file(path, [&](const h5::group& root) {
    root.set_attr("format", std::string(graph_format_name));
    root.set_attr("format_version", graph_format_version);
    root.set_attr("input_shape", to_ints(net.input_shape()));
    root.set_attr("operator_count", static_cast<std::int64_t>(net.ops().size()));
    root.set_attr("description", net.describe());
    root.set_attr("source", source);
    root.set_attr("genscope_version", std::string(version()));
    root.set_attr("git_commit", std::string(git_commit()));
    const h5::group ops = root.create_group("operators");
    for (std::size_t k = 0; k < net.ops().size(); ++k) write_operator(ops.create_group(std::to_string(k + 1)), net.ops()[k]);
  });
}

std::vector<std::size_t> saved_checkpoints(const std::string& path) {
  if (std::filesystem::path(path).extension() == ".onnx") return {};
  {
    const reader rd(path);
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) rd.fail("model file not found");
    const h5::file f = h5::file::open(path);
    if (!f.root().has_attr("format") || f.root().attr_string("format") != format_name) return {};
  }
  std::vector<std::size_t> epochs;
  for (const model_checkpoint& c : load_model(path).record.checkpoints) epochs.push_back(c.epoch);
  return epochs;
}

network_graph load_network(const std::string& path, std::size_t checkpoint, const layer_rewind& rewind) {
  const reader rd(path);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) rd.fail("model file not found");
  if (!std::filesystem::is_regular_file(path, ec)) rd.fail("model path is not a regular file");
  const bool rewinding = !rewind.layers.empty() || rewind.epoch != 0;
  if (std::filesystem::path(path).extension() == ".onnx") {
    if (checkpoint != 0) rd.fail("an ONNX model holds no checkpoints (checkpoint " + std::to_string(checkpoint) + " asked for)");
    if (rewinding) rd.fail("an ONNX model cannot be rewound ('rewind_layers' and 'rewind_to' need an MLP model file)");
    return import_onnx(path);
  }
  std::string format;
  {
    const h5::file f = h5::file::open(path);
    if (!f.root().has_attr("format")) rd.fail("not a GenScope model file (no 'format' attribute on /)");
    format = f.root().attr_string("format");
  }
  if (format == format_name) {
    const mlp net = load_model(path, checkpoint, rewind).net;
    return network_graph::from_mlp(net);
  }
  if (format != graph_format_name)
    rd.fail("not a GenScope model file (format is '" + format + "', expected '" + graph_format_name + "' or '" +
            format_name + "')");
  if (checkpoint != 0)
    rd.fail("a graph model holds no checkpoints (checkpoint " + std::to_string(checkpoint) + " asked for)");
  if (rewinding) rd.fail("a graph model cannot be rewound ('rewind_layers' and 'rewind_to' need an MLP model file)");
  const h5::file f = h5::file::open(path);
  const h5::group root = f.root();
  const std::int64_t version_found = rd.integer(root, "format_version");
  if (version_found < 1 || version_found > graph_format_version)
    rd.fail("format_version " + std::to_string(version_found) + " is not supported (this GenScope reads " +
            std::to_string(graph_format_version) + ")");
  const std::vector<std::size_t> input_shape = rd.counts(root, "input_shape");
  const std::size_t count = rd.count(root, "operator_count");
  if (count == 0) rd.fail("operator_count is 0");
  const h5::group ops_group = rd.open_group(root, "operators", "operator list");
  const std::size_t stored = ops_group.children().size();
  if (stored != count)
    rd.fail("/operators holds " + std::to_string(stored) + " entries, operator_count is " + std::to_string(count));
  std::vector<graph_op> ops;
  for (std::size_t k = 1; k <= count; ++k) {
    const std::string what = "operator " + std::to_string(k);
    ops.push_back(read_operator(rd, rd.open_group(ops_group, std::to_string(k), what), what));
  }
  try {
    return network_graph(input_shape, std::move(ops));
  } catch (const io_error&) {
    throw;
  } catch (const error& e) {
    rd.fail(e.what());
  }
}

}  // namespace genscope
