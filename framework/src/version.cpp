// Version queries answered from the build's generated information.
#include <genscope/version.hpp>

#include "build_info.hpp"

namespace genscope {

const char* version() noexcept { return GENSCOPE_VERSION_STRING; }
const char* git_commit() noexcept { return GENSCOPE_GIT_COMMIT_STRING; }
std::uint32_t runtime_plugin_api_version() noexcept { return plugin_api_version; }

}  // namespace genscope
