// Plugin kind "sampler": emits probes (anchor point x and direction d) over a data set.
#pragma once

#include <genscope/dataset.hpp>
#include <genscope/datasets.hpp>
#include <genscope/export.hpp>
#include <genscope/matrix.hpp>
#include <genscope/plugin.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace genscope {

/// A batch of probes (x, d) with where they came from. All vectors have size(),
/// x and d are size() x n. Probe k of the batch has global index first + k.
struct GENSCOPE_API probe_batch {
  std::size_t first = 0;
  std::vector<std::int64_t> anchor;                  ///< data set index of x (-1 if x is not a sample)
  std::vector<std::array<std::int64_t, 2>> partners; ///< indices defining d (-1 where unused)
  std::vector<std::string> kind;                     ///< direction kind, e.g. "pairwise"
  /// Dimension m of the estimated tangent space the direction came from (local PCA); -1 where unused.
  std::vector<std::int32_t> tangent_dim;
  /// Fraction of the neighbourhood's variance the tangent space explains, in [0, 1]; -1 where unused.
  std::vector<float> explained_variance;
  matrix x;
  matrix d;

  std::size_t size() const noexcept { return anchor.size(); }
  /// Resizes every column to `count` probes of dimension `dim`; partners, tangent_dim and
  /// explained_variance set to -1.
  void resize(std::size_t count, std::size_t dim);
};

/// Emits probes deterministically. Contract:
/// - check() is called at validation, before any data is loaded or model trained,
///   with the shape of the sampler's data set; it throws when the sampler cannot
///   serve data of that shape (wrong dimension, index out of range, too few
///   samples), naming the option or file. The default accepts any shape.
/// - prepare() is called once, from one thread, before any other call; it binds
///   the sampler to its data set (kept alive by the host until the sampler is
///   destroyed) and may precompute indices. It throws when the data cannot
///   serve the sampler (e.g. no label has two samples), naming the option.
/// - probe_count() is fixed after prepare().
/// - sample() fills probes [first, first + count). Each probe depends only on
///   (seed, global probe index), never on the batching or on earlier calls, so
///   any split into batches and any thread count gives identical probes.
///   It is const and may be called from several threads at once.
class GENSCOPE_API direction_sampler : public plugin_object {
 public:
  ~direction_sampler() override;

  virtual void check(const dataset_shape& shape) const;
  virtual void prepare(const dataset& data, std::uint64_t seed) = 0;
  virtual std::size_t probe_count() const = 0;
  virtual void sample(std::size_t first, std::size_t count, probe_batch& out) const = 0;
};

}  // namespace genscope
