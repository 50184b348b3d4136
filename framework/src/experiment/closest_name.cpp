// closest_name: the public face of the core's shared "did you mean" lookup.
#include <genscope/experiment.hpp>

#include "detail/edit_distance.hpp"

#include <string>
#include <vector>

namespace genscope {

std::string closest_name(const std::string& word, const std::vector<std::string>& candidates) {
  return detail::closest_name(word, candidates);
}

}  // namespace genscope
