// Importing ONNX files (as torch.onnx.export writes them) into the native graph of operators.
#pragma once

#include <genscope/export.hpp>
#include <genscope/network_graph.hpp>

#include <string>

namespace genscope {

/// The ONNX operator types the importer translates, comma-separated (for messages and docs).
GENSCOPE_API const char* onnx_supported_operators() noexcept;

/// Reads an ONNX model file (read with Debian's libonnx protobuf classes) into a network graph: one input
/// whose shape is known but for the batch dimension, one output of logits, and the operators of
/// onnx_supported_operators() (docs/model-format.md, "Importing ONNX"). Throws io_error naming the file,
/// and the node with its op type, at the first problem: a missing, truncated or non-ONNX file, several
/// inputs or outputs, an unsupported operator or attribute, shapes that do not fit.
GENSCOPE_API network_graph import_onnx(const std::string& path);

/// The same from the file's bytes; `name` stands for the file in messages.
GENSCOPE_API network_graph import_onnx_bytes(const std::string& bytes, const std::string& name);

}  // namespace genscope
