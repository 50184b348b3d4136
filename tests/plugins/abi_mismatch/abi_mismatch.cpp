// Test plugin whose descriptor claims plugin API 999: the registry must refuse it before reading anything else.
#include <genscope/interval_estimator.hpp>
#include <genscope/plugin.hpp>

namespace {

const genscope::option_spec options[] = {{"unused", genscope::option_type::integer, "0", "never read"}};

genscope::plugin_object* create(const genscope::option_set&) { return nullptr; }

}  // namespace

// Written out instead of GENSCOPE_PLUGIN, which always stamps the current plugin_api_version.
extern "C" GENSCOPE_PLUGIN_EXPORT const genscope::plugin_descriptor* genscope_plugin_descriptor() {
  static const genscope::plugin_descriptor descriptor{
      999, genscope::plugin_kind::estimator, "abi_mismatch", "0.0.0", "claims a plugin API from the future",
      options, 1, &create};
  return &descriptor;
}
