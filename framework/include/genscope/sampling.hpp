// Building blocks shared by sampler and analysis plugins: label groups, seeded anchor and triplet choice, random unit vectors.
#pragma once

#include <genscope/dataset.hpp>
#include <genscope/export.hpp>
#include <genscope/random.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace genscope {

/// Samples grouped by label (ties by index), so that "the r-th sample of the same
/// label, skipping a few" and "the r-th sample of another label" are index
/// computations instead of rejection loops. Built once in prepare(); const
/// member functions may be called from several threads.
class GENSCOPE_API label_groups {
 public:
  label_groups() = default;
  explicit label_groups(const std::vector<std::int32_t>& labels);

  std::size_t size() const noexcept { return position_.size(); }  ///< samples
  std::size_t label_count() const noexcept { return label_count_; }  ///< distinct labels
  /// How many samples share sample i's label (i included).
  std::size_t group_size(std::size_t i) const { return group_size_[i]; }
  /// Largest group_size over all samples (0 when empty).
  std::size_t largest_group() const noexcept { return largest_; }

  /// The r-th sample (in index order) with i's label, skipping the samples in `skip`,
  /// which must all have i's label and be distinct; r < group_size(i) - skip.size().
  std::size_t same_label(std::size_t i, std::size_t r, std::span<const std::size_t> skip = {}) const;
  /// The r-th sample (in label-grouped order) whose label differs from i's, skipping
  /// `skip` (distinct samples of other labels); r < size() - group_size(i) - skip.size().
  std::size_t other_label(std::size_t i, std::size_t r, std::span<const std::size_t> skip = {}) const;

 private:
  std::vector<std::size_t> order_;        // sample indices grouped by label
  std::vector<std::size_t> position_;     // per sample: its place in order_
  std::vector<std::size_t> group_first_;  // per sample: where its label's run starts in order_
  std::vector<std::size_t> group_size_;   // per sample: length of that run
  std::size_t label_count_ = 0;
  std::size_t largest_ = 0;
};

/// Throws error when data.labels does not hold one label per sample (names the data set).
GENSCOPE_API void require_labels(const dataset& data);

/// The first `count` entries of a seeded Fisher-Yates shuffle of 0..n-1, in shuffle
/// order: a seeded choice of distinct samples that depends only on (n, seed, stream),
/// and whose first c entries are the same for every count >= c. Samplers that pass the
/// same stream (e.g. "anchors") draw the same anchors. Throws error when count > n.
GENSCOPE_API std::vector<std::size_t> choose_samples(std::size_t n, std::size_t count, std::uint64_t seed,
                                                     std::string_view stream);

/// An analysis's `points` option over n samples: every sample in index order when `points` is 0, else
/// choose_samples(n, points, seed, stream). Throws error when points > n.
GENSCOPE_API std::vector<std::size_t> choose_points(std::size_t n, std::size_t points, std::uint64_t seed,
                                                    std::string_view stream);

/// The samples that can start a triplet of three distinct samples sharing a label (`same`: the samples of a
/// label with at least three) or carrying three different labels (every sample when there are at least three
/// labels, else none).
GENSCOPE_API std::vector<std::size_t> triplet_starts(const label_groups& groups, bool same);

/// Three distinct samples drawn with `random`: the first among `starts` (triplet_starts(groups, same), not
/// empty), the other two sharing its label (`same`) or with two more different labels. `labels` are those
/// `groups` was built from. Throws error when `starts` is empty.
GENSCOPE_API std::array<std::size_t, 3> draw_triplet(const label_groups& groups, const std::vector<std::int32_t>& labels,
                                                     const std::vector<std::size_t>& starts, bool same, rng& random);

/// Fills out[0, n) with an isotropic Gaussian direction of unit Euclidean norm
/// (drawn and normalized in double; redrawn in the measure-zero case of norm 0).
/// Throws error when n = 0.
GENSCOPE_API void random_unit_vector(rng& random, float* out, std::size_t n);

}  // namespace genscope
