// What differs between two versions of an experiment file, key by key (for refusing a resume).
#include <genscope/experiment.hpp>

#include <toml++/toml.h>

#include <set>
#include <sstream>

namespace genscope {

namespace {

std::string shown(const toml::node& n) {
  std::ostringstream os;
  n.visit([&](const auto& v) { os << toml::toml_formatter(v, toml::format_flags::none); });
  std::string s = os.str();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

/// The first difference under `path` ("" when equal): a key added, removed or with another value.
std::string first_change(const toml::table& before, const toml::table& after, const std::string& path) {
  std::set<std::string> keys;
  for (const auto& [k, v] : before) keys.insert(std::string(k.str()));
  for (const auto& [k, v] : after) keys.insert(std::string(k.str()));
  for (const std::string& key : keys) {
    if (path.empty() && key == "output") continue;  // where the results go is not what they are
    const std::string at = path.empty() ? key : path + "." + key;
    const toml::node* b = before.get(key);
    const toml::node* a = after.get(key);
    if (b == nullptr) return at + " was added";
    if (a == nullptr) return at + " was removed";
    if (b->is_table() && a->is_table()) {
      if (std::string change = first_change(*b->as_table(), *a->as_table(), at); !change.empty()) return change;
      continue;
    }
    if (shown(*b) != shown(*a)) return at + " is " + shown(*a) + ", was " + shown(*b);
  }
  return {};
}

}  // namespace

std::string experiment_change(const std::string& before, const std::string& after) {
  toml::table b, a;
  try {
    b = toml::parse(before);
  } catch (const toml::parse_error&) {
    return "the saved experiment text cannot be read";
  }
  try {
    a = toml::parse(after);
  } catch (const toml::parse_error&) {
    return "the experiment text cannot be read";
  }
  return first_change(b, a, "");
}

}  // namespace genscope
