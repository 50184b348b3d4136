// What rank 0 of an MPI job sends the other ranks: its data sets and trained model files, as bytes.
#pragma once

#include <genscope/dataset.hpp>
#include <genscope/export.hpp>

#include <map>
#include <memory>
#include <string>

namespace genscope {

/// The inputs every rank computes from, built once on rank 0: data sets by name, and the files of trained
/// models (the model cache's files) by path.
struct shared_inputs {
  std::map<std::string, std::shared_ptr<const dataset>> datasets;
  std::map<std::string, std::string> model_files;
};

/// `inputs` as one byte string (for rank_group::broadcast).
GENSCOPE_API std::string encode(const shared_inputs& inputs);
/// The inputs `bytes` encode. Throws error when the bytes are truncated or damaged, or a data set's content
/// no longer matches its sha256.
GENSCOPE_API shared_inputs decode_shared_inputs(const std::string& bytes);

}  // namespace genscope
