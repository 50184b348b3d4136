// The torchscript backend's engine: a TorchScript module run by libtorch, served as a black-box classifier.
#include "torchscript_engine.hpp"

#include <genscope/datasets.hpp>
#include <genscope/error.hpp>
#include <genscope/export.hpp>
#include <genscope/memory.hpp>
#include <genscope/shape.hpp>

#include <ATen/Parallel.h>
#include <torch/script.h>
#include <torch/version.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

// libtorch's message on one line: without the C++ backtrace, and of a TorchScript traceback only its last
// line, the error itself ("RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x9 and 8x16)").
std::string one_line(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  const std::string text = c10_error != nullptr ? c10_error->what_without_backtrace() : e.what();
  std::string last;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::size_t first = text.find_first_not_of(" \t\r", start);
    if (first != std::string::npos && first < end) last = text.substr(first, end - first);
    start = end + 1;
  }
  return last.empty() ? "(no message)" : last;
}

std::string shape_text(const std::vector<std::size_t>& shape) {
  std::string text;
  for (std::size_t d : shape) {
    if (!text.empty()) text += 'x';
    text += std::to_string(d);
  }
  return text;
}

std::string sizes_text(at::IntArrayRef sizes) {
  std::string text;
  for (std::int64_t d : sizes) {
    if (!text.empty()) text += ", ";
    text += std::to_string(d);
  }
  return "[" + text + "]";
}

torch::jit::Method load_forward(const std::string& path) {
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, torch::kCPU);
  } catch (const std::exception& e) {
    throw genscope::io_error(path, "is not a TorchScript module that this libtorch (" TORCH_VERSION
                                   ") can load (torch.jit.save writes one): " + one_line(e));
  }
  module.eval();
  if (!module.find_method("forward"))
    throw genscope::io_error(path, "the TorchScript module has no forward() method");
  return module.get_method("forward");  // holds the module
}

class torchscript_backend final : public genscope::network_backend {
 public:
  torchscript_backend(const std::string& path, std::vector<std::size_t> shape)
      : path_(path),
        shape_(std::move(shape)),
        dim_(genscope::shape_product(shape_, "option 'input_shape'")),
        digest_(genscope::sha256_file(path)),  // first: a missing or unreadable file is reported as such
        forward_(load_forward(path)) {
    // Two zero inputs find the class count and check, at validation, that forward() accepts this input shape
    // and returns one row per input.
    std::vector<std::size_t> two{2};
    two.insert(two.end(), shape_.begin(), shape_.end());
    const std::size_t values = genscope::shape_product(two, "two inputs of option 'input_shape'");
    genscope::check_allocation(values, sizeof(float), "two inputs of option 'input_shape'");
    const std::vector<float> zeros(values, 0.0f);
    const at::Tensor y =
        run(zeros.data(), 2, "zero inputs of shape " + shape_text(shape_) + " (option 'input_shape')");
    classes_ = static_cast<std::size_t>(y.size(1));
    if (classes_ == 0) throw genscope::io_error(path_, "forward() returns logits of 0 classes");
  }

  std::vector<std::size_t> input_shape() const override { return shape_; }
  std::size_t class_count() const override { return classes_; }

  void logits(genscope::matrix_view x, genscope::matrix& out) const override {
    if (x.cols != dim_)
      throw genscope::error("torchscript backend: batch has " + std::to_string(x.cols) + " columns, the module (" +
                            describe() + ") takes " + std::to_string(dim_));
    out.resize(x.rows, classes_);
    if (x.rows == 0) return;
    const at::Tensor y = run(x.data, x.rows, "a batch of " + std::to_string(x.rows) + " inputs");
    std::memcpy(out.data.data(), y.data_ptr<float>(), out.data.size() * sizeof(float));
  }

  std::string model_digest() const override { return digest_; }
  std::string describe() const override {
    return "TorchScript module " + path_ + " (input " + shape_text(shape_) + ", " + std::to_string(classes_) +
           " classes)";
  }

 private:
  // forward() on `rows` inputs at `x`, as a contiguous float32 rows x C tensor (C = classes_ once known).
  // `what` names the inputs in the message of a forward() that fails.
  at::Tensor run(const float* x, std::size_t rows, const std::string& what) const {
    std::vector<std::int64_t> sizes{static_cast<std::int64_t>(rows)};
    for (std::size_t d : shape_) sizes.push_back(static_cast<std::int64_t>(d));
    // No copy: the tensor views the caller's rows. from_blob wants a mutable pointer, so the module must not
    // write into its input; the tensor is made before InferenceMode starts, so that an in-place write bumps its
    // version counter, which is checked below.
    const at::Tensor input = torch::from_blob(const_cast<float*>(x), sizes, torch::kFloat);  // NOLINT
    const c10::InferenceMode inference;
    c10::IValue result;
    try {
      result = forward_({input});
    } catch (const std::exception& e) {
      throw genscope::io_error(path_, "forward() failed on " + what + ": " + one_line(e));
    }
    if (input._version() != 0)
      throw genscope::io_error(path_, "forward() writes into its input in place (e.g. x.mul_() on the argument); "
                                      "the backend hands the module the caller's inputs without copying them: "
                                      "make the operation out of place, or begin forward() with x = x.clone()");
    if (!result.isTensor())
      throw genscope::io_error(path_, "forward() returned a " + result.tagKind() + ", not a tensor of logits");
    const at::Tensor y = result.toTensor();
    if (y.dim() != 2 || y.size(0) != static_cast<std::int64_t>(rows) ||
        (classes_ != 0 && y.size(1) != static_cast<std::int64_t>(classes_)))
      throw genscope::io_error(path_, "forward() returned a tensor of shape " + sizes_text(y.sizes()) + " for " +
                                          std::to_string(rows) + " inputs; a classifier returns one row of logits "
                                          "per input (" + std::to_string(rows) + " x " +
                                          (classes_ != 0 ? std::to_string(classes_) : std::string("C")) + ")");
    if (!at::isFloatingType(y.scalar_type()))
      throw genscope::io_error(path_, std::string("forward() returned a tensor of ") + c10::toString(y.scalar_type()) +
                                          " values; logits are floating point");
    return y.to(torch::kFloat).contiguous();
  }

  std::string path_;
  std::vector<std::size_t> shape_;
  std::size_t dim_;
  std::string digest_;
  torch::jit::Method forward_;  // const calls from several threads at once are safe for inference
  std::size_t classes_ = 0;
};

}  // namespace

extern "C" GENSCOPE_PLUGIN_EXPORT genscope::network_backend* genscope_torchscript_open(
    const std::string& path, const std::vector<std::size_t>& input_shape) {
  static_assert(std::is_same_v<decltype(genscope_torchscript_open), genscope::torchscript::open_function>);
  // One intra-op thread per forward(): GenScope already evaluates batches on every core at once through TBB,
  // and libtorch's own threads on top of that oversubscribe the cores (README.md, "Threads").
  at::set_num_threads(1);
  return new torchscript_backend(path, input_shape);
}
