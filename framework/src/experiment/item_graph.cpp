// The dependency graph of an experiment's items: cycle detection and build order (Boost.Graph).
#include "experiment/item_graph.hpp"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/depth_first_search.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <queue>

namespace genscope::detail {

namespace {

struct edge_data {
  std::size_t reference = 0;  // index into the references
};

// Edges point from an item to what it references; bidirectional for the in-edges Kahn's order needs.
using item_graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS, boost::no_property, edge_data>;
using vertex = boost::graph_traits<item_graph>::vertex_descriptor;

struct cycle_found {
  std::size_t from;
  std::size_t to;
  std::size_t reference;
};

// Records the DFS tree so that a back edge u -> v can be walked back from u to v.
class cycle_visitor : public boost::default_dfs_visitor {
 public:
  explicit cycle_visitor(std::vector<std::size_t>& parent) : parent_(&parent) {}

  template <class Edge, class Graph>
  void tree_edge(Edge e, const Graph& g) const {
    (*parent_)[boost::target(e, g)] = boost::source(e, g);
  }
  template <class Edge, class Graph>
  void back_edge(Edge e, const Graph& g) const {
    throw cycle_found{boost::source(e, g), boost::target(e, g), g[e].reference};
  }

 private:
  std::vector<std::size_t>* parent_;
};

}  // namespace

std::vector<std::size_t> build_order(const toml_reader& reader, const std::vector<graph_item>& items,
                                     const std::vector<graph_reference>& references) {
  item_graph g(items.size());
  for (std::size_t r = 0; r < references.size(); ++r)
    boost::add_edge(references[r].from, references[r].to, edge_data{r}, g);

  std::vector<std::size_t> parent(items.size(), items.size());
  try {
    // Vertices are visited in index (= file) order, so the cycle reported is stable.
    boost::depth_first_search(g, boost::visitor(cycle_visitor(parent)));
  } catch (const cycle_found& c) {
    std::vector<std::size_t> chain{c.from};
    for (std::size_t v = c.from; v != c.to && parent[v] < items.size();) {
      v = parent[v];
      chain.push_back(v);
    }
    std::reverse(chain.begin(), chain.end());
    chain.push_back(c.to);
    const bool one_section = std::all_of(chain.begin(), chain.end(), [&](std::size_t v) {
      return items[v].section == items[chain.front()].section;
    });
    std::string text;
    for (std::size_t v : chain) {
      if (!text.empty()) text += " -> ";
      text += one_section ? items[v].name : items[v].section + "." + items[v].name;
    }
    const toml_field& f = references[c.reference].field;
    reader.fail(f.value_at(), fmt::format("'{}' closes a reference cycle: {} (an item cannot depend on itself)",
                                          f.path, text));
  }

  // Kahn's algorithm with a min-heap on file order: dependencies first, ties in file order.
  std::vector<std::size_t> pending(items.size());
  std::priority_queue<std::size_t, std::vector<std::size_t>, std::greater<>> ready;
  for (std::size_t v = 0; v < items.size(); ++v) {
    pending[v] = boost::out_degree(v, g);
    if (pending[v] == 0) ready.push(v);
  }
  std::vector<std::size_t> order;
  while (!ready.empty()) {
    const std::size_t v = ready.top();
    ready.pop();
    order.push_back(v);
    for (auto [e, end] = boost::in_edges(v, g); e != end; ++e) {
      const vertex user = boost::source(*e, g);
      if (--pending[user] == 0) ready.push(user);
    }
  }
  return order;
}

}  // namespace genscope::detail
