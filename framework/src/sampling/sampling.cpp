// Label groups, seeded sample choice and random unit vectors for sampler plugins.
#include <genscope/error.hpp>
#include <genscope/sampling.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <utility>

namespace genscope {

label_groups::label_groups(const std::vector<std::int32_t>& labels) {
  const std::size_t n = labels.size();
  order_.resize(n);
  std::iota(order_.begin(), order_.end(), std::size_t{0});
  std::stable_sort(order_.begin(), order_.end(), [&](std::size_t a, std::size_t b) { return labels[a] < labels[b]; });
  position_.resize(n);
  group_first_.resize(n);
  group_size_.resize(n);
  for (std::size_t begin = 0; begin < n;) {
    std::size_t end = begin;
    while (end < n && labels[order_[end]] == labels[order_[begin]]) ++end;
    for (std::size_t k = begin; k < end; ++k) {
      position_[order_[k]] = k;
      group_first_[order_[k]] = begin;
      group_size_[order_[k]] = end - begin;
    }
    largest_ = std::max(largest_, end - begin);
    ++label_count_;
    begin = end;
  }
}

namespace {

// Maps r to the r-th position of [0, total) outside the sorted, disjoint intervals `holes`.
std::size_t skip_holes(std::size_t r, const std::vector<std::pair<std::size_t, std::size_t>>& holes) {
  for (const auto& [start, length] : holes)
    if (r >= start) r += length;
  return r;
}

}  // namespace

std::size_t label_groups::same_label(std::size_t i, std::size_t r, std::span<const std::size_t> skip) const {
  std::vector<std::pair<std::size_t, std::size_t>> holes;
  holes.reserve(skip.size());
  for (std::size_t s : skip) holes.emplace_back(position_[s], 1);
  std::sort(holes.begin(), holes.end());
  return order_[skip_holes(group_first_[i] + r, holes)];
}

std::size_t label_groups::other_label(std::size_t i, std::size_t r, std::span<const std::size_t> skip) const {
  std::vector<std::pair<std::size_t, std::size_t>> holes;
  holes.reserve(skip.size() + 1);
  holes.emplace_back(group_first_[i], group_size_[i]);
  for (std::size_t s : skip) holes.emplace_back(position_[s], 1);
  std::sort(holes.begin(), holes.end());
  return order_[skip_holes(r, holes)];
}

void require_labels(const dataset& data) {
  if (data.labels.size() != data.size())
    throw error("data set '" + data.name + "' has " + std::to_string(data.labels.size()) + " labels for " +
                std::to_string(data.size()) + " samples");
}

std::vector<std::size_t> choose_samples(std::size_t n, std::size_t count, std::uint64_t seed,
                                        std::string_view stream) {
  if (count > n)
    throw error("cannot choose " + std::to_string(count) + " distinct samples from " + std::to_string(n));
  std::vector<std::size_t> perm(n);
  std::iota(perm.begin(), perm.end(), std::size_t{0});
  rng gen(seed, stream_key(stream));
  for (std::size_t i = 0; i < count; ++i) std::swap(perm[i], perm[i + gen.below(n - i)]);
  perm.resize(count);
  return perm;
}

std::vector<std::size_t> choose_points(std::size_t n, std::size_t points, std::uint64_t seed, std::string_view stream) {
  if (points != 0) return choose_samples(n, points, seed, stream);
  std::vector<std::size_t> all(n);
  std::iota(all.begin(), all.end(), std::size_t{0});
  return all;
}

std::vector<std::size_t> triplet_starts(const label_groups& groups, bool same) {
  std::vector<std::size_t> starts;
  for (std::size_t i = 0; i < groups.size(); ++i)
    if (same ? groups.group_size(i) >= 3 : groups.label_count() >= 3) starts.push_back(i);
  return starts;
}

std::array<std::size_t, 3> draw_triplet(const label_groups& groups, const std::vector<std::int32_t>& labels,
                                        const std::vector<std::size_t>& starts, bool same, rng& random) {
  if (starts.empty()) throw error("draw_triplet: no sample can start a triplet");
  const std::size_t i = starts[random.below(starts.size())];
  if (same) {
    const std::size_t j = groups.same_label(i, random.below(groups.group_size(i) - 1), std::array{i});
    const std::size_t k = groups.same_label(i, random.below(groups.group_size(i) - 2), std::array{i, j});
    return {i, j, k};
  }
  const std::size_t j = groups.other_label(i, random.below(labels.size() - groups.group_size(i)));
  std::size_t k = j;
  while (labels[k] == labels[i] || labels[k] == labels[j]) k = random.below(labels.size());
  return {i, j, k};
}

void random_unit_vector(rng& random, float* out, std::size_t n) {
  // With n = 0 every draw has norm 0: the redraw loop below would never end.
  if (n == 0) throw error("random_unit_vector: there is no unit vector of dimension 0");
  std::vector<double> v(n);
  double norm = 0;
  while (norm == 0) {
    norm = 0;
    for (double& x : v) {
      x = random.normal();
      norm += x * x;
    }
    norm = std::sqrt(norm);
  }
  for (std::size_t j = 0; j < n; ++j) out[j] = static_cast<float>(v[j] / norm);
}

}  // namespace genscope
