// Backend plugin "torchscript": any network PyTorch can save with torch.jit, served as a black-box classifier.
#include "torchscript_engine.hpp"

#include <genscope/network_backend.hpp>
#include <genscope/options.hpp>
#include <genscope/plugin.hpp>

#include <dlfcn.h>

#include <filesystem>
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
  // The product is checked when the module is opened.
  const std::vector<std::size_t> shape = options.get_count_list("input_shape", "the shape of one input", "1,28,28");
  return engine()(options.get_string("path"), shape);
}

}  // namespace

GENSCOPE_PLUGIN(genscope::plugin_kind::backend, "torchscript", "1.0.0",
                "any TorchScript module (torch.jit.script/trace, saved as .pt) as a black-box classifier, "
                "through libtorch; no piecewise-linear view",
                options_table, &create)
