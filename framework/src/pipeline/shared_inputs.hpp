// What rank 0 of an MPI job sends the other ranks: its data sets and trained model files.
#pragma once

#include <genscope/dataset.hpp>
#include <genscope/export.hpp>
#include <genscope/ranks.hpp>

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

/// Rank 0's `inputs` on every rank (collective; `inputs` is read on rank 0 only). A header of sizes and
/// strings goes first, then every array of every data set straight from rank 0's memory into the receiving
/// data set's, with no copy besides MPI's own. Throws error when the header is damaged.
GENSCOPE_API shared_inputs share_inputs(const rank_group& ranks, const shared_inputs& inputs);

}  // namespace genscope
