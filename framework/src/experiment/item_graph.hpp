// The dependency graph of an experiment's items: cycle detection and build order (Boost.Graph).
#pragma once

#include "experiment/toml_reader.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace genscope::detail {

struct graph_item {
  std::string section;  ///< "datasets", "models", ...
  std::string name;
};

/// Item `from` references item `to` through the value of `field` (e.g. datasets.b.from).
struct graph_reference {
  std::size_t from = 0;
  std::size_t to = 0;
  toml_field field;
};

/// Indices of `items` (given in file order) such that every item comes after
/// the items it references; among items that are ready together, file order wins.
/// A cycle fails at the reference that closes it, naming the items on it.
std::vector<std::size_t> build_order(const toml_reader& reader, const std::vector<graph_item>& items,
                                     const std::vector<graph_reference>& references);

}  // namespace genscope::detail
