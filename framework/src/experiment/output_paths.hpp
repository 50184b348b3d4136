// The folder check shared by output paths and the model cache (the public checks are in experiment.hpp).
#pragma once

#include <filesystem>
#include <string>

namespace genscope::detail {

/// Why a folder cannot take our files, or "" when it can (creating it if needed).
std::string folder_problem(const std::filesystem::path& folder);

}  // namespace genscope::detail
