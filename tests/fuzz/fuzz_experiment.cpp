// Fuzzes the experiment loader (TOML parsing and validation): any input ends in an experiment or a
// genscope::error; anything else (a crash, a sanitizer report, another exception) is a finding.
#include "fuzz_support.hpp"

#include <genscope/experiment.hpp>
#include <genscope/plugin_registry.hpp>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  genscope::fuzz::enter_scratch_folder();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // Validation creates the output and model cache folders: inputs that could name a path outside the
  // scratch folder (a '/', any escape sequence, '..') are not used.
  if (text.find('/') != std::string::npos || text.find('\\') != std::string::npos ||
      text.find("..") != std::string::npos)
    return -1;
  static const genscope::plugin_registry plugins = genscope::plugin_registry::discover();
  try {
    genscope::parse_experiment(text, "fuzz.toml", plugins);
  } catch (const genscope::error& e) {
    genscope::fuzz::refused(e);
  }
  return 0;
}
