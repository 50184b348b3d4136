// Checking an experiment item's plugin options against the plugin's schema.
#pragma once

#include "experiment/toml_reader.hpp"

#include <genscope/options.hpp>
#include <genscope/plugin_registry.hpp>

#include <string>
#include <vector>

namespace genscope::detail {

/// What the loader knows about the item whose options are read.
struct plugin_item {
  std::string label;     ///< e.g. "sampler 'pairs_real'", for messages
  std::string table;     ///< e.g. "[samplers.pairs_real]"
  source_position at;    ///< the item's position, for missing options
  std::vector<std::string> reserved;  ///< the framework's own keys of this item (for suggestions)
};

/// Validates `given` (the item's keys that are not the framework's) against the
/// plugin's option_spec list: unknown names (with a suggestion), types (an int
/// is widened where a float is declared) and, when `require_all`, missing
/// required options. Options not given take their declared default; a required
/// option not given is left unset when !require_all.
option_set read_plugin_options(const toml_reader& reader, const plugin_info& plugin, const plugin_item& item,
                               const std::vector<toml_field>& given, bool require_all);

/// The declared option named `name`, or nullptr.
const option_spec* find_option(const plugin_info& plugin, const std::string& name);

/// Where a message from a plugin or a loader most likely points: the key it
/// names in quotes, else a string value it quotes (a file path), else `fallback`.
source_position blame(const std::string& message, const std::vector<toml_field>& fields, source_position fallback);

}  // namespace genscope::detail
