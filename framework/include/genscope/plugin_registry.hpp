// Host side of the plugin ABI: finds plugin libraries, checks them, and creates plugin objects.
#pragma once

#include <genscope/analysis.hpp>
#include <genscope/direction_sampler.hpp>
#include <genscope/export.hpp>
#include <genscope/interval_estimator.hpp>
#include <genscope/network_backend.hpp>
#include <genscope/plugin.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace genscope {

/// A plugin found and accepted by the registry.
struct plugin_info {
  plugin_kind kind;
  std::string name;
  std::string version;
  std::string description;
  std::string path;                  ///< the library file
  std::vector<option_spec> options;  ///< points into the library's static data (never unloaded)
  std::uint32_t capabilities = 0;    ///< capability_bits offered (backend) or required (estimator, analysis)
};

/// A library that was found but refused (wrong API version, no descriptor, load failure).
struct plugin_refusal {
  std::string path;
  plugin_kind kind;   ///< from the file name libgenscope_<kind>_<name>.so
  std::string name;   ///< from the file name
  std::string reason; ///< one line naming the library and the problem
};

/// The plugins available to this process.
///
/// Libraries are named libgenscope_<kind>_<name>.so and are searched, in
/// order, in each folder of GENSCOPE_PLUGIN_PATH (colon-separated), in
/// ../lib/genscope/plugins beside the running executable (the build tree or an
/// installed prefix), and in the install prefix's lib/genscope/plugins. The
/// first library of a given kind and name wins. A library whose descriptor
/// has another api_version is refused before anything else is read from it.
/// Loaded libraries stay loaded until the process exits; every object
/// created also holds its library.
class GENSCOPE_API plugin_registry {
 public:
  plugin_registry();
  ~plugin_registry();
  plugin_registry(plugin_registry&&) noexcept;
  plugin_registry& operator=(plugin_registry&&) noexcept;

  /// Registry over the standard search path described above.
  static plugin_registry discover();

  /// Loads every libgenscope_*.so of `dir` (missing folders are ignored).
  void add_directory(const std::string& dir);
  /// Loads one library; a refusal is recorded, not thrown.
  void add_library(const std::string& path);

  const std::vector<plugin_info>& plugins() const;
  const std::vector<plugin_refusal>& refusals() const;

  /// The accepted plugin of that kind and name, or nullptr.
  const plugin_info* find(plugin_kind kind, std::string_view name) const;
  /// Names of accepted plugins of a kind, sorted.
  std::vector<std::string> names(plugin_kind kind) const;
  /// Throws plugin_error when no such plugin is accepted: the message gives the
  /// refusal reason if that library was refused, else the closest known name.
  const plugin_info& require(plugin_kind kind, std::string_view name) const;

  /// Creates objects; factory exceptions are rethrown as plugin_error naming the plugin.
  std::shared_ptr<network_backend> create_backend(std::string_view name, const option_set& options) const;
  std::shared_ptr<direction_sampler> create_sampler(std::string_view name, const option_set& options) const;
  std::shared_ptr<interval_estimator> create_estimator(std::string_view name, const option_set& options) const;
  std::shared_ptr<analysis> create_analysis(std::string_view name, const option_set& options) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace genscope
