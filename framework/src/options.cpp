// Option values: typed access for plugins and the text form used in listings and provenance.
#include <genscope/error.hpp>
#include <genscope/options.hpp>

#include <stdexcept>

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <sstream>

namespace genscope {

const char* to_string(option_type t) noexcept {
  switch (t) {
    case option_type::boolean: return "bool";
    case option_type::integer: return "int";
    case option_type::real: return "float";
    case option_type::string: return "string";
  }
  return "?";
}

void option_set::set(const std::string& name, option_value value) { values_[name] = std::move(value); }
bool option_set::has(const std::string& name) const { return values_.count(name) != 0; }

const option_value& option_set::at(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) throw error(fmt::format("option '{}' is not set", name));
  return it->second;
}

namespace {
template <class T>
const T& typed(const option_value& v, const std::string& name, const char* type) {
  if (const T* p = std::get_if<T>(&v)) return *p;
  throw error(fmt::format("option '{}' is not of type {}", name, type));
}
}  // namespace

bool option_set::get_bool(const std::string& name) const { return typed<bool>(at(name), name, "bool"); }
std::int64_t option_set::get_int(const std::string& name) const { return typed<std::int64_t>(at(name), name, "int"); }
std::size_t option_set::get_count(const std::string& name, std::int64_t minimum, std::int64_t maximum) const {
  const std::int64_t v = get_int(name);
  if (v < minimum || v > maximum)
    throw std::invalid_argument("option '" + name + "' must be between " + std::to_string(minimum) + " and " +
                                std::to_string(maximum) + ", got " + std::to_string(v));
  return static_cast<std::size_t>(v);
}

double option_set::get_real(const std::string& name) const {
  const option_value& v = at(name);
  if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  return typed<double>(v, name, "float");
}
const std::string& option_set::get_string(const std::string& name) const {
  return typed<std::string>(at(name), name, "string");
}

std::vector<std::size_t> option_set::get_count_list(const std::string& name, const std::string& what,
                                                    const std::string& example) const {
  const std::string& text = get_string(name);
  std::vector<std::size_t> counts;
  std::istringstream items(text);
  std::string item;
  bool valid = !text.empty() && text.back() != ',';  // getline yields no empty item after a last comma
  while (valid && std::getline(items, item, ',')) {
    const std::size_t first = item.find_first_not_of(' '), last = item.find_last_not_of(' ');
    const std::string number = first == std::string::npos ? "" : item.substr(first, last + 1 - first);
    // At most 18 digits, so stoull cannot overflow.
    valid = !number.empty() && number.size() <= 18 && number.find_first_not_of("0123456789") == std::string::npos &&
            std::stoull(number) > 0;
    if (valid) counts.push_back(std::stoull(number));
  }
  if (!valid)
    throw std::invalid_argument("option '" + name + "' must be " + what +
                                ", positive integers separated by commas (e.g. \"" + example + "\"), not \"" + text +
                                "\"");
  return counts;
}

std::string to_string(const option_value& v) {
  struct visitor {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(std::int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return fmt::format("{}", d); }
    std::string operator()(const std::string& s) const { return fmt::format("\"{}\"", s); }
  };
  return std::visit(visitor{}, v);
}

option_value parse_option_value(option_type type, const std::string& text) {
  auto fail = [&] { return error(fmt::format("'{}' is not a valid {}", text, to_string(type))); };
  switch (type) {
    case option_type::boolean:
      if (text == "true") return true;
      if (text == "false") return false;
      throw fail();
    case option_type::integer: {
      std::int64_t v = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || p != text.data() + text.size()) throw fail();
      return v;
    }
    case option_type::real: {
      double v = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || p != text.data() + text.size() || !std::isfinite(v)) throw fail();
      return v;
    }
    case option_type::string: {
      std::string s = text;
      if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
      return s;
    }
  }
  throw fail();
}

}  // namespace genscope
