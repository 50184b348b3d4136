// ONNX import: parses a ModelProto with Debian's libonnx (protobuf) and translates its nodes into the native graph's operators.
#include "nn/compiled_graph.hpp"

#include <genscope/error.hpp>
#include <genscope/memory.hpp>
#include <genscope/onnx_import.hpp>
#include <genscope/shape.hpp>

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace genscope {

const char* onnx_supported_operators() noexcept {
  return "Gemm, MatMul, Add, Sub, Mul, Div, Relu, LeakyRelu, Clip, Conv, MaxPool, AveragePool, GlobalAveragePool, "
         "BatchNormalization, Flatten, Reshape, Squeeze, Unsqueeze, Identity, Dropout, Constant, Concat, Pad; and on "
         "constants (shape arithmetic): Shape, ConstantOfShape, Gather, Slice, Transpose, Cast, Concat, Reshape, "
         "Squeeze, Unsqueeze, Add, Sub, Mul, Div";
}

namespace {

// An initializer, a Constant node's output or a result of shape arithmetic, its values widened to double.
struct constant {
  std::vector<std::int64_t> dims;
  std::vector<double> values;
  bool integer = false;  // an integer tensor (shapes, indices): division truncates, casts round towards zero
};

// The batch size in shape arithmetic (Shape of a computed tensor): unknown, carried as this marker, which only
// a Reshape's first dimension may consume.
constexpr double batch_marker = -7.0e15;

// a * b, or SIZE_MAX when it overflows: no tensor holds that many values, so every size check refuses it.
std::size_t times(std::size_t a, std::size_t b) {
  if (b != 0 && a > std::numeric_limits<std::size_t>::max() / b) return std::numeric_limits<std::size_t>::max();
  return a * b;
}

// The number of values of `dims` (SIZE_MAX when it overflows; a negative dim counts as huge).
std::size_t count_of(const std::vector<std::int64_t>& dims) {
  std::size_t n = 1;
  for (std::int64_t d : dims) n = times(n, static_cast<std::size_t>(d));
  return n;
}

// Row-major strides of `dims`.
std::vector<std::size_t> strides_of(const std::vector<std::int64_t>& dims) {
  std::vector<std::size_t> s(dims.size(), 1);
  for (std::size_t k = dims.size(); k-- > 1;) s[k - 1] = s[k] * static_cast<std::size_t>(dims[k]);
  return s;
}

// A tensor the network computes: the graph node holding it and its shape per sample (no batch dimension).
struct value {
  std::size_t node = 0;
  std::vector<std::size_t> shape;
};

std::size_t product(const std::vector<std::size_t>& shape) {
  std::size_t n = 1;
  for (std::size_t d : shape) n = times(n, d);
  return n;
}

template <class T>
void copy_raw(const std::string& raw, std::vector<double>& out) {
  static_assert(std::endian::native == std::endian::little, "ONNX raw data is little-endian");
  out.resize(raw.size() / sizeof(T));
  for (std::size_t i = 0; i < out.size(); ++i) {
    T v;
    std::memcpy(&v, raw.data() + i * sizeof(T), sizeof(T));
    out[i] = static_cast<double>(v);
  }
}

class importer {
 public:
  explicit importer(std::string name) : name_(std::move(name)) {}

  network_graph run(const onnx::ModelProto& model) {
    for (const auto& opset : model.opset_import())
      if (opset.domain().empty() || opset.domain() == "ai.onnx") opset_ = opset.version();
    if (opset_ == 0) fail("declares no opset of the default ONNX domain");
    if (opset_ < 7 || opset_ > 18)
      fail("opset " + std::to_string(opset_) + " is outside the 7-18 this importer reads (export with opset_version=13)");
    if (!model.has_graph()) fail("holds no graph");
    const onnx::GraphProto& g = model.graph();
    for (const auto& t : g.initializer()) constants_[t.name()] = read_tensor(t, "initializer '" + t.name() + "'");
    read_input(g);
    for (const auto& node : g.node()) translate(node);
    if (g.output_size() != 1)
      fail("has " + std::to_string(g.output_size()) + " outputs; GenScope needs one output of logits");
    const std::string& out = g.output(0).name();
    const auto it = values_.find(out);
    if (it == values_.end()) fail("output '" + out + "' is not computed from the input");
    if (it->second.shape.size() != 1)
      fail("output '" + out + "' has shape " + shape_text(it->second.shape) +
           " per sample; GenScope needs a vector of logits (flatten it in the model)");
    return finish(it->second.node);
  }

 private:
  [[noreturn]] void fail(const std::string& message) const { throw io_error(name_, message); }
  [[noreturn]] void fail(const onnx::NodeProto& n, const std::string& message) const {
    fail("node '" + n.name() + "' (" + n.op_type() + "): " + message);
  }

  constant read_tensor(const onnx::TensorProto& t, const std::string& what) const {
    if (t.data_location() == onnx::TensorProto::EXTERNAL)
      fail(what + " keeps its data in an external file; export the model with its weights inside");
    constant c;
    std::vector<std::size_t> dims;
    for (const std::int64_t d : t.dims()) {
      if (d < 0) fail(what + " has a negative dimension " + std::to_string(d));
      c.dims.push_back(d);
      dims.push_back(static_cast<std::size_t>(d));
    }
    std::size_t count = 0;
    try {
      count = shape_product(dims, what);
      check_allocation(count, sizeof(double), what);
    } catch (const io_error&) {
      throw;
    } catch (const error& e) {
      fail(e.what());
    }
    const bool raw = t.has_raw_data();
    switch (t.data_type()) {
      case onnx::TensorProto::FLOAT:
        if (raw) copy_raw<float>(t.raw_data(), c.values);
        else c.values.assign(t.float_data().begin(), t.float_data().end());
        break;
      case onnx::TensorProto::DOUBLE:
        if (raw) copy_raw<double>(t.raw_data(), c.values);
        else c.values.assign(t.double_data().begin(), t.double_data().end());
        break;
      case onnx::TensorProto::INT64:
        c.integer = true;
        if (raw) copy_raw<std::int64_t>(t.raw_data(), c.values);
        else c.values.assign(t.int64_data().begin(), t.int64_data().end());
        break;
      case onnx::TensorProto::INT32:
        c.integer = true;
        if (raw) copy_raw<std::int32_t>(t.raw_data(), c.values);
        else c.values.assign(t.int32_data().begin(), t.int32_data().end());
        break;
      default:
        fail(what + " has element type " + std::to_string(t.data_type()) +
             "; the importer reads float32, float64, int32 and int64 tensors");
    }
    if (c.values.size() != count)
      fail(what + " holds " + std::to_string(c.values.size()) + " values, its dimensions need " +
           std::to_string(count) + (raw ? " (truncated raw data?)" : ""));
    return c;
  }

  void read_input(const onnx::GraphProto& g) {
    std::vector<const onnx::ValueInfoProto*> inputs;
    for (const auto& in : g.input())
      if (constants_.count(in.name()) == 0) inputs.push_back(&in);
    if (inputs.size() != 1)
      fail("has " + std::to_string(inputs.size()) + " inputs (besides its weights); GenScope needs exactly one");
    const onnx::ValueInfoProto& in = *inputs[0];
    const std::string what = "input '" + in.name() + "'";
    if (!in.type().has_tensor_type()) fail(what + " is not a tensor");
    const auto& tt = in.type().tensor_type();
    if (tt.elem_type() != onnx::TensorProto::FLOAT)
      fail(what + " has element type " + std::to_string(tt.elem_type()) + "; GenScope feeds float32");
    if (!tt.has_shape() || tt.shape().dim_size() < 2)
      fail(what + " declares no shape of a batch dimension and at least one more");
    std::vector<std::size_t> shape;
    for (int k = 1; k < tt.shape().dim_size(); ++k) {
      const auto& d = tt.shape().dim(k);
      if (!d.has_dim_value())
        fail(what + " dimension " + std::to_string(k) + " is symbolic ('" + d.dim_param() +
             "'); export with a fixed input size (only the batch dimension may be symbolic)");
      if (d.dim_value() <= 0 || d.dim_value() > (std::int64_t{1} << 32))
        fail(what + " dimension " + std::to_string(k) + " is " + std::to_string(d.dim_value()));
      shape.push_back(static_cast<std::size_t>(d.dim_value()));
    }
    const auto& batch = tt.shape().dim(0);
    if (batch.has_dim_value() && batch.dim_value() != 1 && batch.dim_value() > 0)
      batch_ = batch.dim_value();  // a fixed batch size the exporter may repeat in reshapes
    try {
      check_allocation(shape_product(shape, what), sizeof(double), what);
    } catch (const io_error&) {
      throw;
    } catch (const error& e) {
      fail(e.what());
    }
    input_shape_ = shape;
    shapes_.push_back(shape);
    values_[in.name()] = {0, shape};
  }

  // ---- attributes and operands ----

  const onnx::AttributeProto* attribute(const onnx::NodeProto& n, const std::string& name) const {
    for (const auto& a : n.attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  std::int64_t int_attr(const onnx::NodeProto& n, const std::string& name, std::int64_t fallback) const {
    const auto* a = attribute(n, name);
    return a == nullptr ? fallback : a->i();
  }
  double float_attr(const onnx::NodeProto& n, const std::string& name, double fallback) const {
    const auto* a = attribute(n, name);
    return a == nullptr ? fallback : a->f();
  }
  std::string string_attr(const onnx::NodeProto& n, const std::string& name, const std::string& fallback) const {
    const auto* a = attribute(n, name);
    return a == nullptr ? fallback : a->s();
  }
  std::vector<std::int64_t> ints_attr(const onnx::NodeProto& n, const std::string& name) const {
    const auto* a = attribute(n, name);
    if (a == nullptr) return {};
    return {a->ints().begin(), a->ints().end()};
  }

  bool has_input(const onnx::NodeProto& n, int k) const { return n.input_size() > k && !n.input(k).empty(); }
  const value* find_value(const std::string& name) const {
    const auto it = values_.find(name);
    return it == values_.end() ? nullptr : &it->second;
  }
  const constant* find_constant(const std::string& name) const {
    const auto it = constants_.find(name);
    return it == constants_.end() ? nullptr : &it->second;
  }
  const value& value_input(const onnx::NodeProto& n, int k) const {
    if (!has_input(n, k)) fail(n, "input " + std::to_string(k) + " is missing");
    if (const value* v = find_value(n.input(k))) return *v;
    if (find_constant(n.input(k)) != nullptr)
      fail(n, "input " + std::to_string(k) + " ('" + n.input(k) + "') is a constant; GenScope needs it computed from the "
              "network's input");
    fail(n, "reads '" + n.input(k) + "', which no earlier node produces");
  }
  const constant& constant_input(const onnx::NodeProto& n, int k, const char* what) const {
    if (!has_input(n, k)) fail(n, std::string(what) + " (input " + std::to_string(k) + ") is missing");
    if (const constant* c = find_constant(n.input(k))) return *c;
    if (find_value(n.input(k)) != nullptr)
      fail(n, std::string(what) + " ('" + n.input(k) + "') is computed from the input; it must be a constant (a weight)");
    fail(n, "reads '" + n.input(k) + "', which no earlier node produces");
  }
  static bool known_constant_op(const std::string& t) {
    return t == "Shape" || t == "ConstantOfShape" || t == "Gather" || t == "Slice" || t == "Transpose" || t == "Cast";
  }

  // The constant broadcast (numpy rules, the batch dimension included) to a value of `shape` per sample.
  std::vector<float> broadcast(const onnx::NodeProto& n, const constant& c, const std::vector<std::size_t>& shape) const {
    const std::size_t rank = shape.size() + 1;  // with the batch dimension
    if (c.dims.size() > rank)
      fail(n, "constant of " + std::to_string(c.dims.size()) + " dimensions does not broadcast to a sample of shape " +
                  shape_text(shape));
    std::vector<std::size_t> dims(rank, 1);  // the constant's dims right-aligned
    for (std::size_t k = 0; k < c.dims.size(); ++k) dims[rank - c.dims.size() + k] = static_cast<std::size_t>(c.dims[k]);
    if (dims[0] != 1) fail(n, "constant varies along the batch dimension");
    for (std::size_t k = 1; k < rank; ++k)
      if (dims[k] != 1 && dims[k] != shape[k - 1])
        fail(n, "constant of shape " + shape_text({dims.begin() + 1, dims.end()}) +
                    " does not broadcast to a sample of shape " + shape_text(shape));
    std::vector<float> out(product(shape));
    std::vector<std::size_t> at(shape.size(), 0);
    for (std::size_t i = 0; i < out.size(); ++i) {
      std::size_t src = 0;
      for (std::size_t k = 0; k < shape.size(); ++k) src = src * dims[k + 1] + (dims[k + 1] == 1 ? 0 : at[k]);
      out[i] = static_cast<float>(c.values[src]);
      for (std::size_t k = shape.size(); k-- > 0;) {
        if (++at[k] < shape[k]) break;
        at[k] = 0;
      }
    }
    return out;
  }

  // Appends an operator (checked now, so that a problem names the ONNX node) and binds the node's output 0.
  void emit(const onnx::NodeProto& n, graph_op op) {
    op.name = n.name().empty() ? n.op_type() : n.name();
    detail::compiled_op c;
    try {
      c = detail::compile_op(op, shapes_, "node '" + n.name() + "' (" + n.op_type() + ")");
    } catch (const error& e) {
      fail(e.what());
    }
    ops_.push_back(std::move(op));
    shapes_.push_back(c.shape);
    bind(n, {ops_.size(), c.shape});
  }
  void bind(const onnx::NodeProto& n, value v) {
    if (n.output_size() < 1 || n.output(0).empty()) fail(n, "has no output");
    values_[n.output(0)] = std::move(v);
  }
  void forbid_extra_outputs(const onnx::NodeProto& n, const char* what) const {
    for (int k = 1; k < n.output_size(); ++k)
      if (!n.output(k).empty()) fail(n, std::string("its ") + what + " output is not supported");
  }

  window_geometry window(const onnx::NodeProto& n, const std::vector<std::size_t>& in, std::size_t kh, std::size_t kw,
                         bool dilations) const {
    window_geometry w;
    w.kernel_h = kh;
    w.kernel_w = kw;
    const auto strides = ints_attr(n, "strides");
    const auto dil = ints_attr(n, "dilations");
    const auto pads = ints_attr(n, "pads");
    auto positive = [&](const std::vector<std::int64_t>& v, const char* what) {
      if (v.empty()) return;
      if (v.size() != 2) fail(n, std::string(what) + " needs 2 values (a 2-D window), has " + std::to_string(v.size()));
      for (std::int64_t x : v)
        if (x < 1 || x > (1 << 20)) fail(n, std::string(what) + " of " + std::to_string(x));
    };
    positive(strides, "strides");
    positive(dil, "dilations");
    if (!strides.empty()) {
      w.stride_h = static_cast<std::size_t>(strides[0]);
      w.stride_w = static_cast<std::size_t>(strides[1]);
    }
    if (!dil.empty()) {
      if (!dilations && (dil[0] != 1 || dil[1] != 1)) fail(n, "dilations are not supported here");
      w.dilation_h = static_cast<std::size_t>(dil[0]);
      w.dilation_w = static_cast<std::size_t>(dil[1]);
    }
    const std::string auto_pad = string_attr(n, "auto_pad", "NOTSET");
    if (auto_pad == "NOTSET") {
      if (!pads.empty()) {
        if (pads.size() != 4) fail(n, "pads needs 4 values, has " + std::to_string(pads.size()));
        for (std::int64_t p : pads)
          if (p < 0 || p > (1 << 20)) fail(n, "pads of " + std::to_string(p));
        w.pad_top = static_cast<std::size_t>(pads[0]);
        w.pad_left = static_cast<std::size_t>(pads[1]);
        w.pad_bottom = static_cast<std::size_t>(pads[2]);
        w.pad_right = static_cast<std::size_t>(pads[3]);
      }
    } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      auto same = [&](std::size_t size, std::size_t k, std::size_t s, std::size_t d, std::size_t& begin, std::size_t& end) {
        const std::size_t out = (size + s - 1) / s;
        const std::size_t span = d * (k - 1) + 1;
        const std::size_t need = (out - 1) * s + span;
        const std::size_t total = need > size ? need - size : 0;
        begin = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
        end = total - begin;
      };
      same(in[1], kh, w.stride_h, w.dilation_h, w.pad_top, w.pad_bottom);
      same(in[2], kw, w.stride_w, w.dilation_w, w.pad_left, w.pad_right);
    } else if (auto_pad != "VALID") {
      fail(n, "auto_pad '" + auto_pad + "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
    }
    return w;
  }

  std::pair<std::size_t, std::size_t> kernel(const onnx::NodeProto& n) const {
    const auto k = ints_attr(n, "kernel_shape");
    if (k.size() != 2) fail(n, "kernel_shape needs 2 values (a 2-D window), has " + std::to_string(k.size()));
    for (std::int64_t x : k)
      if (x < 1 || x > (1 << 20)) fail(n, "kernel_shape of " + std::to_string(x));
    return {static_cast<std::size_t>(k[0]), static_cast<std::size_t>(k[1])};
  }

  const value& spatial_input(const onnx::NodeProto& n) const {
    const value& x = value_input(n, 0);
    if (x.shape.size() != 3)
      fail(n, "needs a C x H x W input per sample (2-D windows), has " + shape_text(x.shape));
    return x;
  }

  // ---- shape arithmetic on constants (what exporters write around pads and view(x.size(0), -1)) ----

  std::int64_t axis_of(const onnx::NodeProto& n, std::int64_t axis, std::size_t rank) const {
    const auto r = static_cast<std::int64_t>(rank);
    if (axis < -r || axis >= r) fail(n, "axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
    return axis < 0 ? axis + r : axis;
  }

  std::vector<std::int64_t> int_values(const onnx::NodeProto& n, const constant& c, const char* what) const {
    std::vector<std::int64_t> v;
    constexpr double limit = 9.0e18;  // ONNX writes +-(2^63 - 1) for "to the end"; saturate at about that
    for (double x : c.values) {
      if (x != std::trunc(x) || x == batch_marker) fail(n, std::string(what) + " holds a non-integer value");
      v.push_back(x >= limit    ? std::numeric_limits<std::int64_t>::max() / 2
                  : x <= -limit ? std::numeric_limits<std::int64_t>::min() / 2
                                : static_cast<std::int64_t>(x));
    }
    return v;
  }

  // Axes of Squeeze / Unsqueeze: the attribute before opset 13, the second input from 13 on.
  std::vector<std::int64_t> axes_operand(const onnx::NodeProto& n) const {
    if (opset_ < 13 || !has_input(n, 1)) return ints_attr(n, "axes");
    return int_values(n, constant_input(n, 1, "axes"), "axes");
  }

  void fold(const onnx::NodeProto& n, constant c) {
    if (n.output_size() < 1 || n.output(0).empty()) fail(n, "has no output");
    check_allocation(c.values.size(), sizeof(double), "node '" + n.name() + "' output");
    constants_[n.output(0)] = std::move(c);
  }

  // Ops on constant inputs computed at import; true when `n` was one of them.
  bool fold_constant(const onnx::NodeProto& n) {
    const std::string& t = n.op_type();
    auto all_constant = [&] {
      for (int k = 0; k < n.input_size(); ++k)
        if (!n.input(k).empty() && find_constant(n.input(k)) == nullptr) return false;
      return n.input_size() > 0;
    };
    if (t == "Shape") {
      constant c;
      c.integer = true;
      if (const value* v = has_input(n, 0) ? find_value(n.input(0)) : nullptr) {
        c.values.push_back(batch_marker);
        for (std::size_t d : v->shape) c.values.push_back(static_cast<double>(d));
      } else {
        for (std::int64_t d : constant_input(n, 0, "the input").dims) c.values.push_back(static_cast<double>(d));
      }
      c.dims = {static_cast<std::int64_t>(c.values.size())};
      fold(n, std::move(c));
      return true;
    }
    if (t == "ConstantOfShape") {
      const std::vector<std::int64_t> dims = int_values(n, constant_input(n, 0, "the shape"), "the shape");
      constant c;
      double fill = 0;
      if (const auto* a = attribute(n, "value")) {
        const constant v = read_tensor(a->t(), "node '" + n.name() + "' value");
        if (v.values.size() != 1) fail(n, "value must hold one element");
        fill = v.values[0];
        c.integer = a->t().data_type() != onnx::TensorProto::FLOAT && a->t().data_type() != onnx::TensorProto::DOUBLE;
      }
      for (std::int64_t d : dims)
        if (d < 0) fail(n, "a negative dimension");
      c.dims = dims;
      std::vector<std::size_t> udims(dims.begin(), dims.end());
      check_allocation(shape_product(udims, "node '" + n.name() + "' output"), sizeof(double), "node '" + n.name() + "'");
      c.values.assign(count_of(dims), fill);
      fold(n, std::move(c));
      return true;
    }
    const bool shape_op = t == "Gather" || t == "Unsqueeze" || t == "Squeeze" || t == "Concat" || t == "Reshape" ||
                          t == "Slice" || t == "Transpose" || t == "Cast" || t == "Add" || t == "Sub" || t == "Mul" ||
                          t == "Div";
    if (!shape_op || !all_constant()) return false;
    const constant& x = constant_input(n, 0, "the input");
    constant out;
    out.integer = x.integer;
    if (t == "Cast") {
      const std::int64_t to = int_attr(n, "to", 0);
      out = x;
      out.integer = to != onnx::TensorProto::FLOAT && to != onnx::TensorProto::DOUBLE;
      for (double& v : out.values)
        if (out.integer && v != batch_marker) v = std::trunc(v);
    } else if (t == "Unsqueeze" || t == "Squeeze") {
      out = x;
      const bool un = t == "Unsqueeze";
      std::vector<std::int64_t> axes = axes_operand(n);
      const std::size_t rank = x.dims.size() + (un ? axes.size() : 0);
      for (std::int64_t& a : axes) a = axis_of(n, a, rank);
      std::sort(axes.begin(), axes.end());
      if (un) {
        for (std::int64_t a : axes) out.dims.insert(out.dims.begin() + a, 1);
      } else {
        out.dims.clear();
        for (std::size_t k = 0; k < x.dims.size(); ++k) {
          const bool drop = axes.empty() ? x.dims[k] == 1 : std::binary_search(axes.begin(), axes.end(), std::int64_t(k));
          if (drop && x.dims[k] != 1) fail(n, "squeezes a dimension of size " + std::to_string(x.dims[k]));
          if (!drop) out.dims.push_back(x.dims[k]);
        }
      }
    } else if (t == "Reshape") {
      out = x;
      std::vector<std::int64_t> dims = int_values(n, constant_input(n, 1, "the shape"), "the shape");
      std::int64_t known = 1;
      int infer = -1;
      for (std::size_t k = 0; k < dims.size(); ++k) {
        if (dims[k] == 0) dims[k] = k < x.dims.size() ? x.dims[k] : 0;
        if (dims[k] == -1) {
          if (infer >= 0) fail(n, "the shape has more than one -1");
          infer = static_cast<int>(k);
        } else if (dims[k] < 0) {
          fail(n, "a negative dimension");
        } else {
          if (dims[k] != 0 && known > std::numeric_limits<std::int64_t>::max() / dims[k])
            fail(n, "the shape does not hold the constant's values");
          known *= dims[k];
        }
      }
      if (infer >= 0) dims[static_cast<std::size_t>(infer)] = known == 0 ? 0 : static_cast<std::int64_t>(x.values.size()) / known;
      if (count_of(dims) != x.values.size()) fail(n, "the shape does not hold the constant's values");
      out.dims = dims;
    } else if (t == "Transpose") {
      const std::size_t rank = x.dims.size();
      std::vector<std::int64_t> perm = ints_attr(n, "perm");
      if (perm.empty())
        for (std::size_t k = rank; k-- > 0;) perm.push_back(static_cast<std::int64_t>(k));
      if (perm.size() != rank) fail(n, "perm does not match the rank");
      std::vector<bool> seen(rank, false);
      for (std::int64_t& axis : perm) {
        axis = axis_of(n, axis, rank);
        if (seen[static_cast<std::size_t>(axis)]) fail(n, "perm names an axis twice");
        seen[static_cast<std::size_t>(axis)] = true;
      }
      out.dims.resize(rank);
      for (std::size_t k = 0; k < rank; ++k) out.dims[k] = x.dims[static_cast<std::size_t>(perm[k])];
      const auto in_strides = strides_of(x.dims);
      out.values.resize(x.values.size());
      std::vector<std::int64_t> at(rank, 0);
      for (std::size_t i = 0; i < out.values.size(); ++i) {
        std::size_t src = 0;
        for (std::size_t k = 0; k < rank; ++k) src += static_cast<std::size_t>(at[k]) * in_strides[static_cast<std::size_t>(perm[k])];
        out.values[i] = x.values[src];
        for (std::size_t k = rank; k-- > 0;) {
          if (++at[k] < out.dims[k]) break;
          at[k] = 0;
        }
      }
    } else if (t == "Slice") {
      if (opset_ < 10) fail(n, "Slice before opset 10 is not supported");
      const std::size_t rank = x.dims.size();
      const auto starts = int_values(n, constant_input(n, 1, "starts"), "starts");
      const auto ends = int_values(n, constant_input(n, 2, "ends"), "ends");
      std::vector<std::int64_t> axes, steps(starts.size(), 1);
      if (has_input(n, 3)) axes = int_values(n, constant_input(n, 3, "axes"), "axes");
      else for (std::size_t k = 0; k < starts.size(); ++k) axes.push_back(static_cast<std::int64_t>(k));
      if (has_input(n, 4)) steps = int_values(n, constant_input(n, 4, "steps"), "steps");
      if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
        fail(n, "starts, ends, axes and steps differ in length");
      std::vector<std::int64_t> first(rank, 0), step(rank, 1);
      out.dims = x.dims;
      for (std::size_t k = 0; k < starts.size(); ++k) {
        const auto a = static_cast<std::size_t>(axis_of(n, axes[k], rank));
        const std::int64_t dim = x.dims[a];
        if (steps[k] == 0) fail(n, "a step of 0");
        auto clamp = [&](std::int64_t v, std::int64_t lo, std::int64_t hi) {
          if (v < 0) v += dim;
          return std::clamp(v, lo, hi);
        };
        std::int64_t b = 0, e = 0;
        if (steps[k] > 0) {
          b = clamp(starts[k], 0, dim);
          e = clamp(ends[k], 0, dim);
        } else {
          b = clamp(starts[k], 0, dim - 1);
          e = clamp(ends[k], -1, dim - 1);
        }
        const std::int64_t span = steps[k] > 0 ? e - b : b - e;
        const std::int64_t size = span <= 0 ? 0 : (span + std::abs(steps[k]) - 1) / std::abs(steps[k]);
        first[a] = b;
        step[a] = steps[k];
        out.dims[a] = size;
      }
      const auto in_strides = strides_of(x.dims);
      out.values.resize(count_of(out.dims));
      std::vector<std::int64_t> at(rank, 0);
      for (std::size_t i = 0; i < out.values.size(); ++i) {
        std::size_t src = 0;
        for (std::size_t k = 0; k < rank; ++k) src += static_cast<std::size_t>(first[k] + at[k] * step[k]) * in_strides[k];
        out.values[i] = x.values[src];
        for (std::size_t k = rank; k-- > 0;) {
          if (++at[k] < out.dims[k]) break;
          at[k] = 0;
        }
      }
    } else if (t == "Gather") {
      const constant& ix = constant_input(n, 1, "indices");
      const std::size_t rank = x.dims.size();
      if (rank == 0) fail(n, "gathers from a scalar");
      const auto a = static_cast<std::size_t>(axis_of(n, int_attr(n, "axis", 0), rank));
      const auto indices = int_values(n, ix, "indices");
      std::size_t outer = 1, inner = 1;
      for (std::size_t k = 0; k < a; ++k) outer *= static_cast<std::size_t>(x.dims[k]);
      for (std::size_t k = a + 1; k < rank; ++k) inner *= static_cast<std::size_t>(x.dims[k]);
      out.dims.assign(x.dims.begin(), x.dims.begin() + static_cast<std::ptrdiff_t>(a));
      out.dims.insert(out.dims.end(), ix.dims.begin(), ix.dims.end());
      out.dims.insert(out.dims.end(), x.dims.begin() + static_cast<std::ptrdiff_t>(a) + 1, x.dims.end());
      for (std::size_t o = 0; o < outer; ++o)
        for (std::int64_t i : indices) {
          if (i < 0) i += x.dims[a];
          if (i < 0 || i >= x.dims[a]) fail(n, "index " + std::to_string(i) + " out of range");
          const std::size_t base = (o * static_cast<std::size_t>(x.dims[a]) + static_cast<std::size_t>(i)) * inner;
          out.values.insert(out.values.end(), x.values.begin() + static_cast<std::ptrdiff_t>(base),
                            x.values.begin() + static_cast<std::ptrdiff_t>(base + inner));
        }
    } else if (t == "Concat") {
      const std::size_t rank = x.dims.size();
      if (rank == 0) fail(n, "concatenates scalars");
      const auto a = static_cast<std::size_t>(axis_of(n, int_attr(n, "axis", 0), rank));
      std::vector<const constant*> parts;
      out.dims = x.dims;
      out.dims[a] = 0;
      for (int k = 0; k < n.input_size(); ++k) {
        const constant& c = constant_input(n, k, "an input");
        if (c.dims.size() != rank) fail(n, "concatenates constants of different ranks");
        for (std::size_t d = 0; d < rank; ++d)
          if (d != a && c.dims[d] != x.dims[d]) fail(n, "concatenates constants of different shapes");
        out.dims[a] += c.dims[a];
        out.integer = out.integer && c.integer;
        parts.push_back(&c);
      }
      std::size_t outer = 1;
      for (std::size_t k = 0; k < a; ++k) outer *= static_cast<std::size_t>(x.dims[k]);
      for (std::size_t o = 0; o < outer; ++o)
        for (const constant* c : parts) {
          const std::size_t block = c->values.size() / std::max<std::size_t>(outer, 1);
          out.values.insert(out.values.end(), c->values.begin() + static_cast<std::ptrdiff_t>(o * block),
                            c->values.begin() + static_cast<std::ptrdiff_t>((o + 1) * block));
        }
    } else {  // Add, Sub, Mul, Div of two constants, with numpy broadcasting
      if (n.input_size() != 2) fail(n, "needs two inputs");
      const constant& y = constant_input(n, 1, "the second operand");
      const std::size_t rank = std::max(x.dims.size(), y.dims.size());
      auto aligned = [rank](const constant& c) {
        std::vector<std::int64_t> d(rank, 1);
        std::copy(c.dims.begin(), c.dims.end(), d.begin() + static_cast<std::ptrdiff_t>(rank - c.dims.size()));
        return d;
      };
      const auto dx = aligned(x), dy = aligned(y);
      out.dims.resize(rank);
      for (std::size_t k = 0; k < rank; ++k) {
        if (dx[k] != dy[k] && dx[k] != 1 && dy[k] != 1) fail(n, "constants whose shapes do not broadcast");
        out.dims[k] = std::max(dx[k], dy[k]);
      }
      out.integer = x.integer && y.integer;
      const auto sx = strides_of(dx), sy = strides_of(dy);
      out.values.resize(count_of(out.dims));
      std::vector<std::int64_t> at(rank, 0);
      for (std::size_t i = 0; i < out.values.size(); ++i) {
        std::size_t ix_ = 0, iy = 0;
        for (std::size_t k = 0; k < rank; ++k) {
          if (dx[k] != 1) ix_ += static_cast<std::size_t>(at[k]) * sx[k];
          if (dy[k] != 1) iy += static_cast<std::size_t>(at[k]) * sy[k];
        }
        const double a = x.values[ix_], b = y.values[iy];
        if (a == batch_marker || b == batch_marker) fail(n, "does arithmetic on the batch size");
        double v = t == "Add" ? a + b : t == "Sub" ? a - b : t == "Mul" ? a * b : b == 0 ? 0 : a / b;
        if (t == "Div" && b == 0) fail(n, "divides by zero");
        if (t == "Div" && out.integer) v = std::trunc(v);
        out.values[i] = v;
        for (std::size_t k = rank; k-- > 0;) {
          if (++at[k] < out.dims[k]) break;
          at[k] = 0;
        }
      }
    }
    fold(n, std::move(out));
    return true;
  }

  // ---- operators ----

  void translate(const onnx::NodeProto& n) {
    if (!n.domain().empty() && n.domain() != "ai.onnx")
      fail(n, "belongs to the custom domain '" + n.domain() + "'; supported: " + onnx_supported_operators());
    const std::string& t = n.op_type();
    if (t == "Identity" || t == "Dropout") {
      if (t == "Dropout") {
        forbid_extra_outputs(n, "mask");
        if (has_input(n, 2)) {
          const constant* training = find_constant(n.input(2));
          if (training == nullptr || (!training->values.empty() && training->values[0] != 0))
            fail(n, "runs in training mode; export the model in eval() mode");
        }
      }
      if (const constant* c = has_input(n, 0) ? find_constant(n.input(0)) : nullptr) {
        fold(n, *c);
        return;
      }
      bind(n, value_input(n, 0));
      return;
    }
    if (t == "Constant") return translate_constant(n);
    if (fold_constant(n)) return;
    if (t == "Squeeze" || t == "Unsqueeze") return translate_squeeze(n);
    if (t == "Gemm" || t == "MatMul") return translate_dense(n);
    if (t == "Add" || t == "Sub" || t == "Mul" || t == "Div") return translate_arithmetic(n);
    if (t == "Relu" || t == "LeakyRelu" || t == "Clip") return translate_activation(n);
    if (t == "Conv") return translate_conv(n);
    if (t == "MaxPool" || t == "AveragePool" || t == "GlobalAveragePool") return translate_pool(n);
    if (t == "BatchNormalization") return translate_batch_norm(n);
    if (t == "Flatten" || t == "Reshape") return translate_reshape(n);
    if (t == "Concat") return translate_concat(n);
    if (t == "Pad") return translate_pad(n);
    fail(n, "is not supported" + std::string(known_constant_op(t) ? " on a computed tensor" : "") +
                "; supported: " + std::string(onnx_supported_operators()));
  }

  void translate_constant(const onnx::NodeProto& n) {
    if (n.output_size() != 1) fail(n, "needs one output");
    constant c;
    if (const auto* a = attribute(n, "value")) {
      c = read_tensor(a->t(), "node '" + n.name() + "' (Constant) value");
    } else if (const auto* f = attribute(n, "value_float")) {
      c.values = {f->f()};
    } else if (const auto* fs = attribute(n, "value_floats")) {
      c.values.assign(fs->floats().begin(), fs->floats().end());
      c.dims = {static_cast<std::int64_t>(c.values.size())};
    } else if (const auto* i = attribute(n, "value_int")) {
      c.values = {static_cast<double>(i->i())};
      c.integer = true;
    } else if (const auto* is = attribute(n, "value_ints")) {
      c.values.assign(is->ints().begin(), is->ints().end());
      c.integer = true;
      c.dims = {static_cast<std::int64_t>(c.values.size())};
    } else {
      fail(n, "has no value, value_float(s) or value_int(s) attribute (sparse constants are not supported)");
    }
    constants_[n.output(0)] = std::move(c);
  }

  void translate_dense(const onnx::NodeProto& n) {
    const bool gemm = n.op_type() == "Gemm";
    const value& a = value_input(n, 0);
    const constant& b = constant_input(n, 1, "the weight matrix B");
    if (a.shape.size() != 1)
      fail(n, "takes a sample of shape " + shape_text(a.shape) + "; it needs a vector (flatten it first)");
    if (gemm && int_attr(n, "transA", 0) != 0) fail(n, "transA = 1 would mix the batch into the features");
    const bool trans_b = gemm && int_attr(n, "transB", 0) != 0;
    const double alpha = gemm ? float_attr(n, "alpha", 1.0) : 1.0;
    const double beta = gemm ? float_attr(n, "beta", 1.0) : 1.0;
    if (b.dims.size() != 2) fail(n, "B has " + std::to_string(b.dims.size()) + " dimensions, not 2");
    const auto rows = static_cast<std::size_t>(b.dims[0]), cols = static_cast<std::size_t>(b.dims[1]);
    const std::size_t in = trans_b ? cols : rows, out = trans_b ? rows : cols;
    if (in != a.shape[0])
      fail(n, "B is " + std::to_string(rows) + "x" + std::to_string(cols) + (trans_b ? " (transposed)" : "") +
                  ", its input has " + std::to_string(a.shape[0]) + " features");
    graph_op op;
    op.kind = op_kind::dense;
    op.inputs = {a.node};
    op.weight.resize(out * in);
    for (std::size_t i = 0; i < out; ++i)
      for (std::size_t j = 0; j < in; ++j)
        op.weight[i * in + j] = static_cast<float>(alpha * (trans_b ? b.values[i * cols + j] : b.values[j * cols + i]));
    op.bias.assign(out, 0.0f);
    if (gemm && has_input(n, 2)) {
      const std::vector<float> c = broadcast(n, constant_input(n, 2, "the bias C"), {out});
      for (std::size_t i = 0; i < out; ++i) op.bias[i] = static_cast<float>(beta * c[i]);
    }
    emit(n, std::move(op));
  }

  void translate_arithmetic(const onnx::NodeProto& n) {
    const std::string& t = n.op_type();
    if (n.input_size() != 2) fail(n, "needs two inputs");
    const value* x = find_value(n.input(0));
    const value* y = find_value(n.input(1));
    if (x != nullptr && y != nullptr) {
      if (t != "Add" && t != "Sub") fail(n, "multiplies or divides two computed tensors: not piecewise-linear");
      if (x->shape != y->shape)
        fail(n, "adds tensors of shapes " + shape_text(x->shape) + " and " + shape_text(y->shape) +
                    " (a residual sum needs equal shapes)");
      graph_op op;
      op.kind = op_kind::sum;
      op.inputs = {x->node, y->node};
      op.coefficients = {1.0f, t == "Add" ? 1.0f : -1.0f};
      return emit(n, std::move(op));
    }
    if (x == nullptr && y == nullptr) {
      (void)value_input(n, 0);  // names the missing or constant operand
      fail(n, "has two constant operands (export with do_constant_folding=True)");
    }
    const bool value_first = x != nullptr;
    const value& v = value_first ? *x : *y;
    const std::vector<float> c = broadcast(n, constant_input(n, value_first ? 1 : 0, "the constant operand"), v.shape);
    graph_op op;
    op.kind = op_kind::scale_shift;
    op.inputs = {v.node};
    op.scale.assign(c.size(), 1.0f);
    op.shift.assign(c.size(), 0.0f);
    for (std::size_t i = 0; i < c.size(); ++i) {
      if (t == "Add") op.shift[i] = c[i];
      else if (t == "Sub" && value_first) op.shift[i] = -c[i];
      else if (t == "Sub") {
        op.scale[i] = -1.0f;
        op.shift[i] = c[i];
      } else if (t == "Mul") {
        op.scale[i] = c[i];
      } else {  // Div
        if (!value_first) fail(n, "divides a constant by a computed tensor: not piecewise-linear");
        if (c[i] == 0) fail(n, "divides by zero");
        op.scale[i] = 1.0f / c[i];
      }
    }
    emit(n, std::move(op));
  }

  double scalar(const onnx::NodeProto& n, int k, const char* what, double fallback) const {
    if (!has_input(n, k)) return fallback;
    const constant& c = constant_input(n, k, what);
    if (c.values.size() != 1) fail(n, std::string(what) + " must be one value");
    return c.values[0];
  }

  void translate_activation(const onnx::NodeProto& n) {
    const value& x = value_input(n, 0);
    graph_op op;
    op.inputs = {x.node};
    if (n.op_type() == "Relu") {
      op.kind = op_kind::relu;
    } else if (n.op_type() == "LeakyRelu") {
      op.kind = op_kind::leaky_relu;
      op.negative_slope = static_cast<float>(float_attr(n, "alpha", 0.01));
    } else {
      double low = -std::numeric_limits<double>::infinity(), high = std::numeric_limits<double>::infinity();
      if (opset_ < 11) {
        low = float_attr(n, "min", low);
        high = float_attr(n, "max", high);
      } else {
        low = scalar(n, 1, "min", low);
        high = scalar(n, 2, "max", high);
      }
      if (std::isinf(low) && std::isinf(high) && low < 0 && high > 0) return bind(n, x);  // no bound: identity
      op.kind = op_kind::clip;
      op.low = static_cast<float>(low);
      op.high = static_cast<float>(high);
    }
    emit(n, std::move(op));
  }

  void translate_conv(const onnx::NodeProto& n) {
    const value& x = spatial_input(n);
    const constant& w = constant_input(n, 1, "the weight W");
    if (w.dims.size() != 4)
      fail(n, "weight has " + std::to_string(w.dims.size()) + " dimensions; only 2-D convolutions (4-D weights) are supported");
    const auto kh = static_cast<std::size_t>(w.dims[2]), kw = static_cast<std::size_t>(w.dims[3]);
    const auto ks = ints_attr(n, "kernel_shape");
    if (!ks.empty() && (ks.size() != 2 || static_cast<std::size_t>(ks[0]) != kh || static_cast<std::size_t>(ks[1]) != kw))
      fail(n, "kernel_shape disagrees with the weight's " + std::to_string(kh) + "x" + std::to_string(kw));
    const std::int64_t groups = int_attr(n, "group", 1);
    if (groups < 1 || groups > (1 << 20)) fail(n, "group of " + std::to_string(groups));
    graph_op op;
    op.kind = op_kind::conv;
    op.inputs = {x.node};
    op.out_channels = static_cast<std::size_t>(w.dims[0]);
    op.groups = static_cast<std::size_t>(groups);
    if (x.shape[0] != static_cast<std::size_t>(w.dims[1]) * op.groups)
      fail(n, "the input has " + std::to_string(x.shape[0]) + " channels, the weight expects " +
                  std::to_string(w.dims[1]) + " per group x " + std::to_string(groups) + " groups");
    op.window = window(n, x.shape, kh, kw, true);
    op.weight.assign(w.values.begin(), w.values.end());
    op.bias.assign(op.out_channels, 0.0f);
    if (has_input(n, 2)) {
      const constant& b = constant_input(n, 2, "the bias B");
      if (b.values.size() != op.out_channels)
        fail(n, "bias has " + std::to_string(b.values.size()) + " values for " + std::to_string(op.out_channels) +
                    " output channels");
      op.bias.assign(b.values.begin(), b.values.end());
    }
    emit(n, std::move(op));
  }

  void translate_pool(const onnx::NodeProto& n) {
    const value& x = spatial_input(n);
    graph_op op;
    op.inputs = {x.node};
    if (n.op_type() == "GlobalAveragePool") {
      op.kind = op_kind::avg_pool;
      op.window.kernel_h = x.shape[1];
      op.window.kernel_w = x.shape[2];
      return emit(n, std::move(op));
    }
    const auto [kh, kw] = kernel(n);
    const bool max = n.op_type() == "MaxPool";
    op.kind = max ? op_kind::max_pool : op_kind::avg_pool;
    if (max) {
      forbid_extra_outputs(n, "Indices");
      if (int_attr(n, "storage_order", 0) != 0) fail(n, "storage_order 1 is not supported");
    }
    op.window = window(n, x.shape, kh, kw, max);
    op.window.ceil_mode = int_attr(n, "ceil_mode", 0) != 0;
    op.count_include_pad = !max && int_attr(n, "count_include_pad", 0) != 0;
    emit(n, std::move(op));
  }

  void translate_batch_norm(const onnx::NodeProto& n) {
    const value& x = value_input(n, 0);
    forbid_extra_outputs(n, "running mean and variance");
    if (int_attr(n, "training_mode", 0) != 0) fail(n, "runs in training mode; export the model in eval() mode");
    if (x.shape.empty()) fail(n, "needs an input with a channel dimension");
    const std::size_t channels = x.shape[0];
    const double epsilon = float_attr(n, "epsilon", 1e-5);
    const char* names[] = {"scale", "B", "mean", "var"};
    std::vector<const constant*> p;
    for (int k = 0; k < 4; ++k) {
      p.push_back(&constant_input(n, k + 1, names[k]));
      if (p.back()->values.size() != channels)
        fail(n, std::string(names[k]) + " has " + std::to_string(p.back()->values.size()) + " values for " +
                    std::to_string(channels) + " channels");
    }
    const std::size_t inner = product(x.shape) / channels;
    graph_op op;
    op.kind = op_kind::scale_shift;
    op.inputs = {x.node};
    op.scale.resize(channels * inner);
    op.shift.resize(channels * inner);
    for (std::size_t c = 0; c < channels; ++c) {
      const double var = p[3]->values[c];
      if (!(var + epsilon > 0)) fail(n, "variance + epsilon is not positive for channel " + std::to_string(c));
      const double s = p[0]->values[c] / std::sqrt(var + epsilon);
      const double shift = p[1]->values[c] - p[2]->values[c] * s;
      std::fill_n(op.scale.begin() + static_cast<std::ptrdiff_t>(c * inner), inner, static_cast<float>(s));
      std::fill_n(op.shift.begin() + static_cast<std::ptrdiff_t>(c * inner), inner, static_cast<float>(shift));
    }
    emit(n, std::move(op));
  }

  void translate_reshape(const onnx::NodeProto& n) {
    const value& x = value_input(n, 0);
    const std::size_t size = product(x.shape);
    std::vector<std::size_t> shape;
    if (n.op_type() == "Flatten") {
      std::int64_t axis = int_attr(n, "axis", 1);
      if (axis < 0) axis += static_cast<std::int64_t>(x.shape.size()) + 1;
      if (axis != 1) fail(n, "axis " + std::to_string(int_attr(n, "axis", 1)) + " would mix the batch into the features (use 1)");
      shape = {size};
    } else {
      const constant& target = constant_input(n, 1, "the shape");
      if (target.values.empty()) fail(n, "the target shape is empty");
      const double first = target.values[0];
      if (!(first == 0 || first == -1 || first == 1 || first == batch_marker ||
            (batch_ > 0 && first == static_cast<double>(batch_))))
        fail(n, "the target shape's first dimension " + std::to_string(static_cast<std::int64_t>(first)) +
                    " is not the batch (0, -1 or the batch size)");
      std::size_t known = 1;
      int infer = -1;
      for (std::size_t k = 1; k < target.values.size(); ++k) {
        const double d = target.values[k];
        if (d == batch_marker) fail(n, "the batch size appears past the target shape's first dimension");
        std::size_t dim = 0;
        if (d == -1) {
          if (infer >= 0 || first == -1) fail(n, "the target shape has more than one -1");
          infer = static_cast<int>(k - 1);
        } else if (d == 0 && int_attr(n, "allowzero", 0) == 0) {
          if (k - 1 >= x.shape.size()) fail(n, "a 0 in the target shape copies a dimension the input lacks");
          dim = x.shape[k - 1];
        } else if (d >= 1 && d <= static_cast<double>(std::size_t{1} << 40)) {
          dim = static_cast<std::size_t>(d);
        } else {
          fail(n, "target dimension " + std::to_string(static_cast<std::int64_t>(d)));
        }
        shape.push_back(dim);
        if (dim > 0) known = times(known, dim);
      }
      if (infer >= 0) {
        if (known == 0 || size % known != 0) fail(n, "cannot infer -1: " + std::to_string(size) + " values per sample");
        shape[static_cast<std::size_t>(infer)] = size / known;
      }
      if (shape.empty()) fail(n, "the target shape keeps only the batch dimension");
    }
    if (product(shape) != size)
      fail(n, "target shape " + shape_text(shape) + " does not hold the " + std::to_string(size) +
                  " values of a sample of shape " + shape_text(x.shape));
    emit_reshape(n, x, shape);
  }

  void emit_reshape(const onnx::NodeProto& n, const value& x, std::vector<std::size_t> shape) {
    graph_op op;
    op.kind = op_kind::reshape;
    op.inputs = {x.node};
    op.shape = std::move(shape);
    emit(n, std::move(op));
  }

  // Squeeze / Unsqueeze of a computed tensor: a reshape, unless it touches the batch dimension.
  void translate_squeeze(const onnx::NodeProto& n) {
    const value& x = value_input(n, 0);
    const bool un = n.op_type() == "Unsqueeze";
    std::vector<std::int64_t> axes = axes_operand(n);
    const std::size_t rank = x.shape.size() + 1 + (un ? axes.size() : 0);
    for (std::int64_t& a : axes) {
      a = axis_of(n, a, rank);
      if (a == 0) fail(n, "touches the batch dimension");
    }
    std::sort(axes.begin(), axes.end());
    std::vector<std::size_t> shape;
    if (un) {
      shape = x.shape;
      for (std::int64_t a : axes) shape.insert(shape.begin() + (a - 1), 1);
    } else {
      for (std::size_t k = 0; k < x.shape.size(); ++k) {
        const bool drop = axes.empty() ? x.shape[k] == 1
                                       : std::binary_search(axes.begin(), axes.end(), static_cast<std::int64_t>(k + 1));
        if (drop && x.shape[k] != 1) fail(n, "squeezes a dimension of size " + std::to_string(x.shape[k]));
        if (!drop) shape.push_back(x.shape[k]);
      }
      if (shape.empty()) shape = {1};
    }
    emit_reshape(n, x, std::move(shape));
  }

  void translate_concat(const onnx::NodeProto& n) {
    if (n.input_size() < 1) fail(n, "has no inputs");
    graph_op op;
    op.kind = op_kind::concat;
    const std::size_t rank = value_input(n, 0).shape.size();
    std::int64_t axis = int_attr(n, "axis", 1);
    if (axis < 0) axis += static_cast<std::int64_t>(rank) + 1;
    if (axis < 1 || axis > static_cast<std::int64_t>(rank))
      fail(n, "axis " + std::to_string(int_attr(n, "axis", 1)) + " is the batch or out of range (rank " +
                  std::to_string(rank + 1) + ")");
    op.axis = static_cast<std::size_t>(axis - 1);
    for (int k = 0; k < n.input_size(); ++k) op.inputs.push_back(value_input(n, k).node);
    emit(n, std::move(op));
  }

  void translate_pad(const onnx::NodeProto& n) {
    const value& x = value_input(n, 0);
    const std::string mode = string_attr(n, "mode", "constant");
    if (mode != "constant") fail(n, "mode '" + mode + "' is not supported (only constant padding is affine here)");
    std::vector<double> pads;
    double fill = 0;
    if (opset_ < 11) {
      const auto p = ints_attr(n, "pads");
      pads.assign(p.begin(), p.end());
      fill = float_attr(n, "value", 0.0);
    } else {
      pads = constant_input(n, 1, "pads").values;
      fill = scalar(n, 2, "constant_value", 0.0);
      if (has_input(n, 3)) fail(n, "the axes input is not supported");
    }
    const std::size_t rank = x.shape.size() + 1;
    if (pads.size() != 2 * rank)
      fail(n, "pads has " + std::to_string(pads.size()) + " values, a " + std::to_string(rank) + "-d tensor needs " +
                  std::to_string(2 * rank));
    if (pads[0] != 0 || pads[rank] != 0) fail(n, "pads the batch dimension");
    graph_op op;
    op.kind = op_kind::pad;
    op.inputs = {x.node};
    op.pad_value = static_cast<float>(fill);
    for (std::size_t k = 1; k < rank; ++k) {
      const double b = pads[k], e = pads[rank + k];
      if (b < 0 || e < 0 || b > (1 << 20) || e > (1 << 20))
        fail(n, "pads of " + std::to_string(static_cast<std::int64_t>(b < 0 || b > (1 << 20) ? b : e)) +
                    " (negative pads, i.e. cropping, are not supported)");
      op.pad_begin.push_back(static_cast<std::size_t>(b));
      op.pad_end.push_back(static_cast<std::size_t>(e));
    }
    emit(n, std::move(op));
  }

  // The graph of the operators the output needs, renumbered (dead branches dropped). A clip reading a ReLU that
  // feeds nothing else reads the ReLU's input instead (ReLU6 is exported as Relu then Clip): clip(relu(x), lo, hi)
  // = clip(x, max(lo, 0), hi), one switch per unit as in the network's own definition, not two.
  network_graph finish(std::size_t output) {
    std::vector<std::size_t> readers(ops_.size() + 1, 0);
    for (const graph_op& op : ops_)
      for (std::size_t in : op.inputs) ++readers[in];
    ++readers[output];
    for (graph_op& op : ops_) {
      if (op.kind != op_kind::clip || op.inputs[0] == 0) continue;
      const graph_op& below = ops_[op.inputs[0] - 1];
      if (below.kind != op_kind::relu || readers[op.inputs[0]] != 1) continue;
      op.low = std::max(op.low, 0.0f);
      op.inputs[0] = below.inputs[0];
    }
    std::vector<std::uint8_t> needed(ops_.size() + 1, 0);
    needed[output] = 1;
    for (std::size_t node = ops_.size(); node >= 1; --node)
      if (needed[node] != 0)
        for (std::size_t in : ops_[node - 1].inputs) needed[in] = 1;
    std::vector<std::size_t> renumber(ops_.size() + 1, 0);
    std::vector<graph_op> kept;
    for (std::size_t node = 1; node <= output; ++node) {
      if (needed[node] == 0) continue;
      graph_op op = std::move(ops_[node - 1]);
      for (std::size_t& in : op.inputs) in = renumber[in];
      kept.push_back(std::move(op));
      renumber[node] = kept.size();
    }
    if (kept.empty()) fail("the output is the input itself: the model has no operators");
    try {
      return network_graph(input_shape_, std::move(kept));
    } catch (const io_error&) {
      throw;
    } catch (const error& e) {
      fail(e.what());
    }
  }

  std::string name_;
  std::int64_t opset_ = 0;
  std::int64_t batch_ = 0;
  std::vector<std::size_t> input_shape_;
  std::map<std::string, constant> constants_;
  std::map<std::string, value> values_;
  std::vector<graph_op> ops_;
  std::vector<std::vector<std::size_t>> shapes_;
};

}  // namespace

network_graph import_onnx_bytes(const std::string& bytes, const std::string& name) {
  if (bytes.empty()) throw io_error(name, "is empty, not an ONNX model");
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes))
    throw io_error(name, "is not an ONNX model (protobuf parsing failed: a truncated or corrupt file?)");
  return importer(name).run(model);
}

network_graph import_onnx(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw io_error(path, "ONNX file not found");
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw io_error(path, "cannot read its size: " + ec.message());
  check_allocation(size, 1, "ONNX file '" + path + "'");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error(path, "cannot open for reading");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (!in.good() && !in.eof()) throw io_error(path, "read error");
  return import_onnx_bytes(buffer.str(), path);
}

}  // namespace genscope
