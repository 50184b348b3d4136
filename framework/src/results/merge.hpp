// Merging the results of an experiment's shards into the file one process would have written (docs/cluster.md).
#pragma once

#include "h5/h5.hpp"

#include <genscope/export.hpp>

#include <string>
#include <vector>

namespace genscope {

/// One shard's results: a file on disk (`path`), or the bytes of one held in memory (`image`, when `path` is
/// empty: an MPI rank's results), named in messages by `name`.
struct shard_source {
  std::string name;
  std::string path;
  std::string image;
};

/// The complete results of the experiment the shards (any order) belong to, in memory, named `output` in
/// messages: the caller saves it (h5::file::save_atomically). Throws error naming the shards at fault, as
/// merge_shards (genscope/shards.hpp) describes, before anything is merged.
GENSCOPE_API h5::file merge_shard_sources(const std::vector<shard_source>& shards, const std::string& output);

}  // namespace genscope
