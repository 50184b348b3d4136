// Exact k nearest neighbours at data set scale, shared by every sampler on the same data and labels.
#pragma once

#include <genscope/dataset.hpp>
#include <genscope/export.hpp>
#include <genscope/matrix.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace genscope {

/// The k nearest neighbours of every sample among the other samples.
struct knn_graph {
  std::size_t k = 0;
  bool same_label = false;             ///< neighbours restricted to the sample's own label
  std::vector<std::int64_t> index;     ///< N x k sample indices, nearest first
  std::vector<double> distance;        ///< N x k Euclidean distances (exact, in double), ascending

  std::size_t size() const noexcept { return k == 0 ? 0 : index.size() / k; }
  const std::int64_t* neighbours(std::size_t i) const noexcept { return index.data() + i * k; }
  const double* distances(std::size_t i) const noexcept { return distance.data() + i * k; }
};

/// Exact k nearest neighbours of every row of x among the other rows (Euclidean; a
/// sample is never its own neighbour, a duplicate of it is, at distance 0). Order:
/// ascending exact distance, ties broken by the smaller index, so the result equals a
/// naive O(N^2) search in double. When `labels` is given (size N), neighbours are
/// restricted to rows of the same label. Candidates come from blocked float32
/// matrix products (|a|^2 + |b|^2 - 2 a.b) run in parallel with oneTBB; every
/// selection is then confirmed in double against a rigorous rounding bound, and a
/// row whose order the bound cannot settle is searched again exactly.
/// Throws error when k = 0, x has non-finite values, labels has the wrong size, or some
/// sample has fewer than k candidates (naming the label and its sample count).
GENSCOPE_API knn_graph nearest_neighbours(const matrix& x, std::size_t k,
                                          const std::vector<std::int32_t>* labels = nullptr);

/// nearest_neighbours(data.x, k, same_label ? &data.labels : nullptr), computed once per
/// process for each (data.sha256, k, same_label) and shared by every caller while any
/// holds it. Data sets without a sha256 are not cached.
GENSCOPE_API std::shared_ptr<const knn_graph> shared_nearest_neighbours(const dataset& data, std::size_t k,
                                                                        bool same_label);

}  // namespace genscope
