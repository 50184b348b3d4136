// Checking an experiment item's plugin options against the plugin's schema.
#include "experiment/plugin_options.hpp"

#include "detail/edit_distance.hpp"

#include <genscope/error.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cctype>
#include <cstring>

namespace genscope::detail {

const option_spec* find_option(const plugin_info& plugin, const std::string& name) {
  for (const option_spec& o : plugin.options)
    if (name == o.name) return &o;
  return nullptr;
}

namespace {

option_value read_value(const toml_reader& reader, const toml_field& f, const option_spec& spec,
                        const std::string& owner) {
  const toml::node& v = *f.value;
  switch (spec.type) {
    case option_type::boolean:
      if (const auto* b = v.as_boolean()) return b->get();
      break;
    case option_type::integer:
      if (const auto* i = v.as_integer()) return i->get();
      break;
    case option_type::real:
      if (v.is_floating_point() || v.is_integer()) return reader.get_real(f, real_range::any);
      break;
    case option_type::string:
      if (const auto* s = v.as_string()) return s->get();
      break;
  }
  const char* type = to_string(spec.type);
  const bool vowel = std::strchr("aeiou", type[0]) != nullptr;
  reader.fail(f.value_at(), fmt::format("'{}' must be {} {} (option of {}), not {}", f.path, vowel ? "an" : "a",
                                        type, owner, toml_reader::type_phrase(v)));
}

}  // namespace

option_set read_plugin_options(const toml_reader& reader, const plugin_info& plugin, const plugin_item& item,
                               const std::vector<toml_field>& given, bool require_all) {
  const std::string owner = fmt::format("{} plugin '{}'", to_string(plugin.kind), plugin.name);
  std::vector<std::string> names;
  for (const option_spec& o : plugin.options) names.emplace_back(o.name);

  option_set out;
  for (const toml_field& f : given) {
    const option_spec* spec = find_option(plugin, f.name);
    if (spec == nullptr) {
      std::vector<std::string> candidates = names;
      candidates.insert(candidates.end(), item.reserved.begin(), item.reserved.end());
      const std::string guess = closest_name(f.name, candidates);
      std::string message = fmt::format("unknown option '{}' of {} in {}", f.name, owner, item.table);
      if (!guess.empty())
        message += fmt::format("; did you mean '{}'?", guess);
      else
        message += fmt::format(" (its options: {})", fmt::join(names, ", "));
      reader.fail(f.key_at(), message);
    }
    out.set(f.name, read_value(reader, f, *spec, owner));
  }

  for (const option_spec& o : plugin.options) {
    if (out.has(o.name)) continue;
    if (o.default_value == nullptr) {
      if (!require_all) continue;
      reader.fail(item.at, fmt::format("{} is missing required option '{}' of {} ({}: {})", item.table, o.name,
                                       owner, to_string(o.type), o.help != nullptr ? o.help : ""));
    }
    try {
      out.set(o.name, parse_option_value(o.type, o.default_value));
    } catch (const error& e) {
      reader.fail(item.at, fmt::format("{} declares an invalid default for option '{}': {}", owner, o.name,
                                       e.what()));
    }
  }
  return out;
}

source_position blame(const std::string& message, const std::vector<toml_field>& fields, source_position fallback) {
  for (const toml_field& f : fields)
    if (message.find("'" + f.name + "'") != std::string::npos) return f.key_at();
  for (const toml_field& f : fields) {
    const auto* s = f.value->as_string();
    if (s != nullptr && s->get().size() > 1 && message.find(s->get()) != std::string::npos) return f.value_at();
  }
  // Last, the key as a bare word ("subset 5000 exceeds ..."): letters, digits and '_' must not touch it.
  const auto word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; };
  for (const toml_field& f : fields) {
    for (std::size_t at = message.find(f.name); at != std::string::npos; at = message.find(f.name, at + 1)) {
      const std::size_t end = at + f.name.size();
      if ((at == 0 || !word_char(message[at - 1])) && (end == message.size() || !word_char(message[end])))
        return f.key_at();
    }
  }
  return fallback;
}

}  // namespace genscope::detail
