// The product of a shape's dimensions, refused when it overflows.
#include <genscope/error.hpp>
#include <genscope/shape.hpp>

namespace genscope {

std::size_t shape_product(const std::vector<std::size_t>& shape, const std::string& what) {
  std::size_t product = 1;
  bool overflow = false;
  for (std::size_t d : shape) overflow = __builtin_mul_overflow(product, d, &product) || overflow;
  if (!overflow) return product;
  std::string text;
  for (std::size_t d : shape) text += (text.empty() ? "" : " x ") + std::to_string(d);
  throw error(what + " has shape " + text + ", whose number of values overflows a 64-bit count");
}

std::string shape_text(const std::vector<std::size_t>& shape) {
  std::string t;
  for (std::size_t d : shape) t += (t.empty() ? "" : "x") + std::to_string(d);
  return t.empty() ? "scalar" : t;
}

}  // namespace genscope
