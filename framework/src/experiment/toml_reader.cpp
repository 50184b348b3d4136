// Positioned, typed access to TOML values for the experiment loader.
#include "experiment/toml_reader.hpp"

#include "detail/edit_distance.hpp"

#include <genscope/error.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

namespace genscope::detail {

source_position position_of(const toml::source_region& region) {
  return {static_cast<int>(region.begin.line), static_cast<int>(region.begin.column)};
}

source_position toml_field::key_at() const {
  const source_position at = key != nullptr ? position_of(key->source()) : source_position{};
  return at.line > 0 ? at : value_at();
}

source_position toml_field::value_at() const {
  const source_position at = value != nullptr ? position_of(value->source()) : source_position{};
  if (at.line > 0 || key == nullptr) return at;
  return position_of(key->source());
}

toml_reader::toml_reader(std::string file) : file_(std::move(file)) {}

namespace {

// Names and values quoted from the file ('...') longer than this are shortened in messages: a megabyte-long
// key is still reported on one readable line.
constexpr std::size_t longest_quote = 100;

std::string shorten_quotes(const std::string& message) {
  std::string out;
  std::size_t pos = 0;
  while (pos < message.size()) {
    const std::size_t open = message.find('\'', pos);
    const std::size_t close = open == std::string::npos ? open : message.find('\'', open + 1);
    if (close == std::string::npos) break;
    out.append(message, pos, open + 1 - pos);
    const std::size_t length = close - open - 1;
    if (length > longest_quote)
      out += message.substr(open + 1, 60) + "...' (" + std::to_string(length) + " characters)";
    else
      out.append(message, open + 1, length + 1);
    pos = close + 1;
  }
  out.append(message, std::min(pos, message.size()), std::string::npos);
  return out;
}

}  // namespace

void toml_reader::fail(source_position at, const std::string& message) const {
  throw config_error(file_, at.line, at.column, shorten_quotes(message));
}

std::vector<toml_field> toml_reader::fields(const toml::table& table, const std::string& prefix) const {
  std::vector<toml_field> out;
  for (const auto& [k, v] : table) {
    toml_field f;
    f.name = std::string(k.str());
    f.path = prefix.empty() ? f.name : prefix + "." + f.name;
    f.key = &k;
    f.value = &v;
    out.push_back(std::move(f));
  }
  // toml++ keeps keys sorted by name; messages and "file order" need the order of the text.
  std::stable_sort(out.begin(), out.end(), [](const toml_field& a, const toml_field& b) {
    const source_position pa = a.key_at(), pb = b.key_at();
    return std::tie(pa.line, pa.column) < std::tie(pb.line, pb.column);
  });
  return out;
}

void toml_reader::unknown_key(const toml_field& f, const std::vector<std::string>& known,
                              const std::string& where) const {
  const std::string guess = closest_name(f.name, known);
  std::string message = fmt::format("unknown key '{}' {}", f.name, where);
  if (!guess.empty())
    message += fmt::format("; did you mean '{}'?", guess);
  else
    message += fmt::format(" (known keys: {})", fmt::join(known, ", "));
  fail(f.key_at(), message);
}

std::string toml_reader::type_phrase(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an int";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a bool";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

std::string toml_reader::value_text(const toml::node& node) {
  if (const auto* s = node.as_string()) return fmt::format("\"{}\"", s->get());
  if (const auto* i = node.as_integer()) return std::to_string(i->get());
  if (const auto* d = node.as_floating_point()) return fmt::format("{}", d->get());
  if (const auto* b = node.as_boolean()) return b->get() ? "true" : "false";
  return type_phrase(node);
}

void toml_reader::wrong_type(const toml_field& f, const std::string& expected) const {
  fail(f.value_at(), fmt::format("'{}' must be {}, not {}", f.path, expected, type_phrase(*f.value)));
}

std::string toml_reader::get_string(const toml_field& f) const {
  const auto* s = f.value->as_string();
  if (s == nullptr) wrong_type(f, "a string");
  if (s->get().empty()) fail(f.value_at(), fmt::format("'{}' must not be empty", f.path));
  return s->get();
}

std::int64_t toml_reader::get_int(const toml_field& f) const {
  const auto* i = f.value->as_integer();
  if (i == nullptr) wrong_type(f, "an int");
  return i->get();
}

std::size_t toml_reader::get_count(const toml_field& f, std::size_t minimum) const {
  const std::int64_t v = get_int(f);
  if (v < 0 || static_cast<std::uint64_t>(v) < minimum || v > max_count)
    fail(f.value_at(), fmt::format("'{}' must be an int between {} and {} (2^32), not {}", f.path, minimum, max_count, v));
  return static_cast<std::size_t>(v);
}

std::uint64_t toml_reader::get_seed(const toml_field& f) const {
  const std::int64_t v = get_int(f);
  if (v < 0) fail(f.value_at(), fmt::format("'{}' must be an int >= 0, not {}", f.path, v));
  return static_cast<std::uint64_t>(v);
}

double toml_reader::get_real(const toml_field& f, real_range range) const {
  double v = 0;
  if (const auto* d = f.value->as_floating_point())
    v = d->get();
  else if (const auto* i = f.value->as_integer())
    v = static_cast<double>(i->get());
  else
    wrong_type(f, "a float");
  if (!std::isfinite(v)) fail(f.value_at(), fmt::format("'{}' must be finite, not {}", f.path, value_text(*f.value)));
  const char* rule = nullptr;
  switch (range) {
    case real_range::any: break;
    case real_range::positive:
      if (!(v > 0)) rule = "> 0";
      break;
    case real_range::non_negative:
      if (!(v >= 0)) rule = ">= 0";
      break;
    case real_range::unit_interval_open:
      if (!(v >= 0 && v < 1)) rule = "in [0, 1)";
      break;
  }
  if (rule != nullptr)
    fail(f.value_at(), fmt::format("'{}' must be a float {}, not {}", f.path, rule, value_text(*f.value)));
  return v;
}

bool toml_reader::get_bool(const toml_field& f) const {
  const auto* b = f.value->as_boolean();
  if (b == nullptr) wrong_type(f, "a bool");
  return b->get();
}

std::string toml_reader::get_choice(const toml_field& f, const std::vector<std::string>& choices) const {
  const auto* s = f.value->as_string();
  if (s == nullptr) wrong_type(f, "a string");
  if (std::find(choices.begin(), choices.end(), s->get()) != choices.end()) return s->get();
  std::string quoted;
  for (const std::string& c : choices) quoted += (quoted.empty() ? "\"" : ", \"") + c + "\"";
  std::string message = fmt::format("'{}' must be one of {}, not \"{}\"", f.path, quoted, s->get());
  const std::string guess = closest_name(s->get(), choices);
  if (!guess.empty()) message += fmt::format("; did you mean '{}'?", guess);
  fail(f.value_at(), message);
}

const toml::table& toml_reader::get_table(const toml_field& f) const {
  const auto* t = f.value->as_table();
  if (t == nullptr) wrong_type(f, "a table");
  return *t;
}

std::vector<std::size_t> toml_reader::get_count_array(const toml_field& f, std::size_t minimum) const {
  const auto* a = f.value->as_array();
  if (a == nullptr) wrong_type(f, "an array of ints");
  std::vector<std::size_t> out;
  for (std::size_t k = 0; k < a->size(); ++k) {
    toml_field element;
    element.path = fmt::format("{}[{}]", f.path, k);
    element.name = f.name;
    element.value = a->get(k);
    out.push_back(get_count(element, minimum));
  }
  return out;
}

}  // namespace genscope::detail
