// Backend plugin "torchscript": any network PyTorch can save with torch.jit, served as a black-box classifier.
#include "torchscript_engine.hpp"

#include <genscope/network_backend.hpp>
#include <genscope/options.hpp>
#include <genscope/plugin.hpp>

#include <dlfcn.h>

#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr genscope::option_spec options_table[] = {
    {"path", genscope::option_type::string, nullptr,
     "TorchScript file (torch.jit.script(model).save(\"model.pt\") or torch.jit.trace)"},
    {"input_shape", genscope::option_type::string, nullptr,
     "shape of one input without the batch dimension, e.g. \"1,28,28\"; its product is the input dimension"},
};

// "1,28,28" (spaces allowed around the numbers) as {1, 28, 28}.
std::vector<std::size_t> parse_shape(const std::string& text) {
  std::vector<std::size_t> shape;
  std::istringstream items(text);
  std::string item;
  bool valid = !text.empty() && text.back() != ',';  // getline yields no empty item after a last comma
  while (valid && std::getline(items, item, ',')) {
    const std::size_t first = item.find_first_not_of(' '), last = item.find_last_not_of(' ');
    const std::string number = first == std::string::npos ? "" : item.substr(first, last + 1 - first);
    // At most 18 digits, so stoull cannot overflow; the product is checked when the module is opened.
    valid = !number.empty() && number.size() <= 18 && number.find_first_not_of("0123456789") == std::string::npos &&
            std::stoull(number) > 0;
    if (valid) shape.push_back(std::stoull(number));
  }
  if (!valid)
    throw std::invalid_argument("option 'input_shape' must be the shape of one input, positive integers separated "
                                "by commas (e.g. \"1,28,28\"), not \"" + text + "\"");
  return shape;
}

// The engine library beside this one, which links libtorch. This library links none, so that the processes that
// only list plugins do not load libtorch (most of a second); the engine is dlopen'ed when a model is opened,
// and never closed (the plugin ABI rules).
genscope::torchscript::open_function* engine() {
  Dl_info self{};
  if (dladdr(options_table, &self) == 0 || self.dli_fname == nullptr)
    throw std::runtime_error("torchscript backend: cannot find the folder of its own library");
  const std::string path =
      (std::filesystem::path(self.dli_fname).parent_path() / genscope::torchscript::engine_file).string();
  void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr)
    throw std::runtime_error("torchscript backend: cannot load its engine " + path + ": " + dlerror());
  void* open = dlsym(library, genscope::torchscript::open_symbol);
  if (open == nullptr)
    throw std::runtime_error("torchscript backend: its engine " + path + " does not export " +
                             genscope::torchscript::open_symbol);
  return reinterpret_cast<genscope::torchscript::open_function*>(open);
}

genscope::plugin_object* create(const genscope::option_set& options) {
  const std::vector<std::size_t> shape = parse_shape(options.get_string("input_shape"));
  return engine()(options.get_string("path"), shape);
}

}  // namespace

GENSCOPE_PLUGIN(genscope::plugin_kind::backend, "torchscript", "1.0.0",
                "any TorchScript module (torch.jit.script/trace, saved as .pt) as a black-box classifier, "
                "through libtorch; no piecewise-linear view",
                options_table, &create)
