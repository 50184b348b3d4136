// The one function the torchscript backend's engine library (the part linked to libtorch) exports.
#pragma once

#include <genscope/network_backend.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace genscope::torchscript {

/// File name of the engine library, in the plugin's own folder. It does not start with "libgenscope_",
/// so the plugin registry does not take it for a plugin.
inline constexpr const char* engine_file = "genscope_torchscript_engine.so";
inline constexpr const char* open_symbol = "genscope_torchscript_open";

/// Signature of the exported `genscope_torchscript_open`: loads the TorchScript module saved at `path`,
/// which takes inputs of `input_shape` (one input, without the batch dimension), and returns a backend
/// allocated with new. Throws std::exception-derived errors naming the file: a missing or unreadable
/// file, one that is not TorchScript, a module without forward(), or a forward() that fails on zero
/// inputs of that shape or does not return a float tensor of one row of logits per input.
using open_function = network_backend*(const std::string& path, const std::vector<std::size_t>& input_shape);

}  // namespace genscope::torchscript
