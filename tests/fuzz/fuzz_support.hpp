// Shared by the fuzz targets: a private scratch folder as working directory, and inputs written to files.
#pragma once

#include <genscope/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <unistd.h>

namespace genscope::fuzz {

/// Makes a fresh folder under $TMPDIR (or /tmp) the working directory, so that whatever a
/// fuzzed input makes GenScope create stays inside it. Called from LLVMFuzzerInitialize.
inline void enter_scratch_folder() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/genscope-fuzz-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr || ::chdir(pattern.c_str()) != 0) std::abort();
}

/// Writes the input to `name` in the working directory and returns its path.
inline std::string input_file(const std::uint8_t* data, std::size_t size, const std::string& name) {
  std::ofstream out(name, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) std::abort();
  return name;
}

/// What a fuzz target does with the genscope::error an input ended in: nothing, or print it when
/// GENSCOPE_FUZZ_VERBOSE is set (to check that the seeds get past the first checks).
inline void refused(const genscope::error& e) {
  static const bool verbose = std::getenv("GENSCOPE_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "refused: %s\n", e.what());
}

}  // namespace genscope::fuzz
