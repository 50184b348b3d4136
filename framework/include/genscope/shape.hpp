// Sizes read from files and experiments: the product of a shape, checked for overflow.
#pragma once

#include <genscope/export.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace genscope {

/// The product of `shape`'s dimensions (1 for an empty shape). Throws genscope::error
/// "WHAT has shape A x B x ..., whose N values overflow a 64-bit count" when it does not fit
/// in std::size_t, so a corrupt or hostile size never wraps around to a small one.
GENSCOPE_API std::size_t shape_product(const std::vector<std::size_t>& shape, const std::string& what);

/// "3x32x32" (dimensions joined by 'x'), "scalar" for an empty shape: a shape in messages.
GENSCOPE_API std::string shape_text(const std::vector<std::size_t>& shape);

}  // namespace genscope
