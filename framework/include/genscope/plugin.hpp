// The plugin ABI: what a plugin library exports and how the host recognizes it.
//
// A plugin is a MODULE shared library exporting one C function,
// `genscope_plugin_descriptor`, that returns a pointer to a static
// plugin_descriptor. The host reads `api_version` first and refuses the
// library, naming it and both versions, unless it equals plugin_api_version;
// nothing else in the descriptor is touched before that check.
//
// Rules for plugin authors (they keep the library safe to load and use):
// - Build with hidden visibility; only the descriptor function is exported
//   (GENSCOPE_PLUGIN does that).
// - create() returns an object of the class matching `kind` (network_backend,
//   direction_sampler, interval_estimator or analysis), allocated with new; the host
//   deletes it through the virtual destructor while the library is loaded.
// - Throw only std::exception-derived errors; the host rethrows them as
//   genscope::plugin_error naming the plugin.
// - No thread_local state: TBB runs plugin code on pooled threads.
#pragma once

#include <genscope/export.hpp>
#include <genscope/options.hpp>
#include <genscope/version.hpp>

#include <cstddef>
#include <cstdint>

namespace genscope {

enum class plugin_kind : std::uint32_t { backend = 1, sampler = 2, estimator = 3, analysis = 4 };

/// Capability bits of plugin_descriptor::capabilities: what a backend offers,
/// what an estimator or analysis requires. Validation refuses a run or analysis
/// that requires a capability its model's backend does not offer.
enum capability_bits : std::uint32_t {
  capability_piecewise_linear = 1u << 0,    ///< network_backend::piecewise_linear() returns a view
  capability_hidden_activations = 1u << 1,  ///< network_backend::hidden_layers() names layers activations() gives
};

/// "backend", "sampler", "estimator" or "analysis".
GENSCOPE_API const char* to_string(plugin_kind k) noexcept;

/// Common base of every object a plugin creates. Its destructor is defined in
/// the core, so the vtable and type information have one home.
class GENSCOPE_API plugin_object {
 public:
  plugin_object() = default;
  plugin_object(const plugin_object&) = delete;
  plugin_object& operator=(const plugin_object&) = delete;
  virtual ~plugin_object();
};

/// What a plugin library exports. `api_version` must stay the first member.
struct plugin_descriptor {
  std::uint32_t api_version;  ///< plugin_api_version the plugin was compiled against
  plugin_kind kind;
  const char* name;         ///< unique within its kind, [a-z0-9_]+
  const char* version;      ///< the plugin's own version, e.g. "1.0.0"
  const char* description;  ///< one line
  const option_spec* options;
  std::size_t option_count;
  /// Makes a new object from validated options (see option_set). Throws
  /// std::exception-derived errors for values the schema cannot express
  /// (ranges, combinations), with a message naming the option.
  plugin_object* (*create)(const option_set& options);
  /// capability_bits offered (backend) or required (estimator, analysis); 0 for none.
  std::uint32_t capabilities = 0;
};

}  // namespace genscope

/// Defines the exported descriptor function of a plugin library:
///   GENSCOPE_PLUGIN(genscope::plugin_kind::estimator, "bisection", "1.0.0",
///                   "one line", options_table, &create_function)
/// where options_table is a static array of option_spec (every plugin has at least one option).
/// GENSCOPE_PLUGIN_WITH_CAPABILITIES adds the capability_bits as a last argument.
#define GENSCOPE_PLUGIN(kind_, name_, version_, description_, options_, create_) \
  GENSCOPE_PLUGIN_WITH_CAPABILITIES(kind_, name_, version_, description_, options_, create_, 0u)

#define GENSCOPE_PLUGIN_WITH_CAPABILITIES(kind_, name_, version_, description_, options_, create_, caps_) \
  extern "C" GENSCOPE_PLUGIN_EXPORT const ::genscope::plugin_descriptor*                                 \
  genscope_plugin_descriptor() {                                                                        \
    static const ::genscope::plugin_descriptor descriptor{                                               \
        ::genscope::plugin_api_version, kind_, name_, version_, description_, options_,                  \
        sizeof(options_) / sizeof(::genscope::option_spec), create_, caps_};                             \
    return &descriptor;                                                                                  \
  }
