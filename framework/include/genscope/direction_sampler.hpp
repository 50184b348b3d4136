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
  /// The t at which x + t d reaches the point the partners define (1 for a pairwise probe,
  /// d = x_j - x_i, and a midline probe, d = (x_j + x_k)/2 - x_i): t_hi >= partner_t means the
  /// network classifies that whole segment like x (it interpolates). -1 where d leads to no point.
  std::vector<float> partner_t;
  matrix x;
  matrix d;

  std::size_t size() const noexcept { return anchor.size(); }
  /// Resizes every column to `count` probes of dimension `dim`; partners, tangent_dim,
  /// explained_variance and partner_t set to -1.
  void resize(std::size_t count, std::size_t dim);
};

/// Emits probes deterministically. The host calls the public functions; a plugin
/// implements bind() and fill() (and probe_count(), optionally check()). prepare() and
/// sample() are non-virtual: they hold the checks every sampler shares, once. Contract:
/// - check() is called at validation, before any data is loaded or model trained,
///   with the shape of the sampler's data set; it throws when the sampler cannot
///   serve data of that shape (wrong dimension, index out of range, too few
///   samples), naming the option or file. The default accepts any shape.
/// - prepare() is called once, from one thread, before any other call but check().
///   It calls bind(), the plugin's own preparation: bind() may precompute indices
///   and throws when the data cannot serve the sampler (e.g. no label has two
///   samples), naming the option. Only when bind() returns does prepare() record the
///   data set (kept alive by the host until the sampler is destroyed) and the seed,
///   which data() and seed() then return; until then the sampler is unprepared.
/// - probe_count() is fixed after prepare().
/// - sample() serves probes [first, first + count). It throws std::logic_error when
///   the sampler is unprepared and std::out_of_range when the range exceeds
///   probe_count(); otherwise it resizes `out` to `count` probes of the data set's
///   dimension (partners, tangent_dim and explained_variance -1), sets out.first =
///   first and calls fill(), which fills x, d, anchor, kind and whichever other
///   columns apply. Each probe depends only on (seed, global probe index), never on
///   the batching or on earlier calls, so any split into batches and any thread
///   count gives identical probes. sample() and fill() are const and may be called
///   from several threads at once.
class GENSCOPE_API direction_sampler : public plugin_object {
 public:
  ~direction_sampler() override;

  virtual void check(const dataset_shape& shape) const;
  /// bind(data, seed), then records `data` and `seed` if it returned.
  void prepare(const dataset& data, std::uint64_t seed);
  virtual std::size_t probe_count() const = 0;
  /// Checks the sampler is prepared and the range lies within probe_count(), sizes
  /// `out` and sets out.first, then fill(first, count, out), then checks what fill() left:
  /// every column `count` long, x and d of `count` rows of the data set's dimension, and every
  /// value of x, d, partner_t and explained_variance finite (std::runtime_error otherwise).
  void sample(std::size_t first, std::size_t count, probe_batch& out) const;

 protected:
  /// The plugin's preparation for `data` and `seed` (data() and seed() are not yet set).
  virtual void bind(const dataset& data, std::uint64_t seed) = 0;
  /// Fills probes [first, first + count) into `out`, already resized to `count` probes of
  /// data().dim() with out.first == first; the range lies within probe_count().
  virtual void fill(std::size_t first, std::size_t count, probe_batch& out) const = 0;

  /// The data set prepare() bound; valid only after prepare() succeeded (always in fill()).
  const dataset& data() const noexcept { return *data_; }
  /// The seed prepare() bound.
  std::uint64_t seed() const noexcept { return seed_; }

 private:
  void check_filled(const probe_batch& out, std::size_t count) const;

  const dataset* data_ = nullptr;  // null until prepare() succeeds
  std::uint64_t seed_ = 0;
  std::size_t dim_ = 0;            // data_->dim() at prepare()
};

}  // namespace genscope
