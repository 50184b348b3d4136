// Plugin registry: finds libgenscope_<kind>_<name>.so libraries, checks their descriptors, creates objects.
#include <genscope/error.hpp>
#include <genscope/plugin_registry.hpp>
#include <genscope/version.hpp>

#include "detail/edit_distance.hpp"

#include <boost/dll/shared_library.hpp>
#include <boost/filesystem.hpp>
#include <dlfcn.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <utility>

namespace genscope {

namespace {

namespace fs = boost::filesystem;
using library_ptr = std::shared_ptr<boost::dll::shared_library>;

constexpr const char* descriptor_symbol = "genscope_plugin_descriptor";

// Every library this process has loaded, by canonical path. The cache is never
// destroyed, so no library is unloaded before exit: TBB workers may still run
// plugin code during static destruction, and a second registry reuses the handle.
struct library_cache {
  std::mutex mutex;
  std::map<std::string, library_ptr> loaded;
};

library_cache& loaded_libraries() {
  static auto* cache = new library_cache;  // leaked on purpose, see above
  return *cache;
}

// What the file name libgenscope_<kind>_<name>.so says about a library.
struct file_identity {
  bool valid = false;
  plugin_kind kind{};
  std::string name;
};

bool valid_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// Option names are TOML bare keys; upper case is allowed for names from the science ("T").
bool valid_option_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

file_identity parse_file_name(const std::string& file) {
  constexpr std::string_view prefix = "libgenscope_";
  constexpr std::string_view suffix = ".so";
  file_identity id;
  std::string_view rest = file;
  if (!rest.starts_with(prefix) || !rest.ends_with(suffix)) return id;
  rest = rest.substr(prefix.size(), rest.size() - prefix.size() - suffix.size());
  for (plugin_kind k : {plugin_kind::backend, plugin_kind::sampler, plugin_kind::estimator, plugin_kind::analysis}) {
    const std::string kind_prefix = std::string(to_string(k)) + "_";
    if (rest.starts_with(kind_prefix) && valid_name(rest.substr(kind_prefix.size()))) {
      id.valid = true;
      id.kind = k;
      id.name = std::string(rest.substr(kind_prefix.size()));
    }
  }
  return id;
}

// Loads (or reuses) a library; on failure returns nullptr and the loader's message.
library_ptr load_library(const std::string& path, std::string& failure) {
  boost::system::error_code ec;
  fs::path canonical = fs::canonical(path, ec);
  const std::string key = ec ? path : canonical.string();

  auto& cache = loaded_libraries();
  const std::lock_guard<std::mutex> lock(cache.mutex);
  if (auto it = cache.loaded.find(key); it != cache.loaded.end()) return it->second;

  auto library = std::make_shared<boost::dll::shared_library>();
  // rtld_now: a plugin with unresolved symbols fails here, with the linker's
  // message, rather than crashing on first use. rtld_local: plugins cannot
  // interpose on each other's symbols.
  library->load(fs::path(path), boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
  if (ec || !library->is_loaded()) {
    const char* text = dlerror();
    failure = text != nullptr ? text : ec.message();
    return nullptr;
  }
  cache.loaded.emplace(key, library);
  return library;
}

// Checks a descriptor whose api_version already matched; returns "" or what is wrong.
std::string check_descriptor(const plugin_descriptor& d, const file_identity& id) {
  if (d.kind != id.kind)
    return fmt::format("its descriptor declares kind '{}' but its file name says '{}'", to_string(d.kind),
                       to_string(id.kind));
  if (d.name == nullptr || d.name != id.name)
    return fmt::format("its descriptor is named '{}' but its file name says '{}'", d.name ? d.name : "(null)",
                       id.name);
  if (d.version == nullptr) return "its descriptor has no version";
  if (d.description == nullptr) return "its descriptor has no description";
  if (d.create == nullptr) return "its descriptor has no create function";
  if (d.option_count > 0 && d.options == nullptr) return "its descriptor has options but no option table";
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < d.option_count; ++i) {
    const option_spec& o = d.options[i];
    if (o.name == nullptr) return fmt::format("option {} has no name", i);
    if (!valid_option_name(o.name)) return fmt::format("option '{}' is not named [A-Za-z0-9_]+", o.name);
    if (!seen.insert(o.name).second) return fmt::format("option '{}' is declared twice", o.name);
    if (o.type != option_type::boolean && o.type != option_type::integer && o.type != option_type::real &&
        o.type != option_type::string)
      return fmt::format("option '{}' has an unknown type", o.name);
    if (o.help == nullptr) return fmt::format("option '{}' has no help text", o.name);
    if (o.default_value != nullptr) {
      try {
        parse_option_value(o.type, o.default_value);
      } catch (const std::exception& e) {
        return fmt::format("default of option '{}' is invalid: {}", o.name, e.what());
      }
    }
  }
  return {};
}

// Fills defaults and checks names and types, so every factory sees the option_set
// its schema promises whoever built the values (experiment parser, test, tool).
option_set complete_options(const plugin_info& info, const option_set& given) {
  option_set out;
  std::vector<std::string> known;
  for (const auto& o : info.options) known.emplace_back(o.name);
  std::sort(known.begin(), known.end());

  for (const auto& [key, value] : given.values()) {
    auto spec = std::find_if(info.options.begin(), info.options.end(),
                             [&name = key](const option_spec& o) { return name == o.name; });
    if (spec == info.options.end()) {
      const std::string near = detail::closest_name(key, known);
      throw plugin_error(info.name, near.empty()
                                        ? fmt::format("unknown option '{}' (options: {})", key, fmt::join(known, ", "))
                                        : fmt::format("unknown option '{}'; did you mean '{}'?", key, near));
    }
    const bool fits = (spec->type == option_type::boolean && std::holds_alternative<bool>(value)) ||
                      (spec->type == option_type::integer && std::holds_alternative<std::int64_t>(value)) ||
                      (spec->type == option_type::string && std::holds_alternative<std::string>(value));
    if (fits) {
      out.set(key, value);
    } else if (spec->type == option_type::real && std::holds_alternative<double>(value)) {
      out.set(key, value);
    } else if (spec->type == option_type::real && std::holds_alternative<std::int64_t>(value)) {
      out.set(key, static_cast<double>(std::get<std::int64_t>(value)));  // an integer where a float is declared
    } else {
      throw plugin_error(info.name, fmt::format("option '{}' must be a {}, not {}", key, to_string(spec->type),
                                                to_string(value)));
    }
  }
  for (const auto& o : info.options) {
    if (out.has(o.name)) continue;
    if (o.default_value == nullptr)
      throw plugin_error(info.name, fmt::format("option '{}' is required", o.name));
    out.set(o.name, parse_option_value(o.type, o.default_value));
  }
  return out;
}

}  // namespace

struct plugin_registry::impl {
  std::vector<plugin_info> plugins;
  std::vector<plugin_refusal> refusals;
  // Parallel to `plugins`: what create_* needs from the library itself.
  std::vector<const plugin_descriptor*> descriptors;
  std::vector<library_ptr> libraries;
  std::vector<std::string> searched;  // folders, for "no plugins found" messages

  bool known(plugin_kind kind, const std::string& name) const {
    auto same = [&](const auto& p) { return p.kind == kind && p.name == name; };
    return std::any_of(plugins.begin(), plugins.end(), same) || std::any_of(refusals.begin(), refusals.end(), same);
  }

  template <class T>
  std::shared_ptr<T> create(const plugin_registry& self, plugin_kind kind, std::string_view name,
                            const option_set& options) const {
    const plugin_info& info = self.require(kind, name);
    const auto index = static_cast<std::size_t>(&info - plugins.data());
    const plugin_descriptor* d = descriptors[index];
    const option_set complete = complete_options(info, options);

    plugin_object* raw = nullptr;
    try {
      raw = d->create(complete);
    } catch (const plugin_error&) {
      throw;
    } catch (const std::exception& e) {
      throw plugin_error(info.name, e.what());
    } catch (...) {
      throw plugin_error(info.name, "create() threw an exception that is not a std::exception");
    }
    if (raw == nullptr) throw plugin_error(info.name, "create() returned no object");
    // The descriptor's kind was checked against `kind` by require(), so the
    // object is a T; static_cast because type information is not shared
    // reliably across the library boundary. The deleter holds the library so
    // the object's code stays loaded as long as the object lives.
    library_ptr library = libraries[index];
    return std::shared_ptr<T>(static_cast<T*>(raw), [library](T* p) { delete p; });
  }
};

plugin_registry::plugin_registry() : impl_(std::make_unique<impl>()) {}
plugin_registry::~plugin_registry() = default;
plugin_registry::plugin_registry(plugin_registry&&) noexcept = default;
plugin_registry& plugin_registry::operator=(plugin_registry&&) noexcept = default;

plugin_registry plugin_registry::discover() {
  plugin_registry registry;
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("GENSCOPE_PLUGIN_PATH")) {
    std::string_view rest = env;
    while (!rest.empty()) {
      const auto colon = rest.find(':');
      const std::string_view entry = rest.substr(0, colon);
      if (!entry.empty()) dirs.emplace_back(std::string(entry));
      rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    }
  }
  boost::system::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path prefix = exe.parent_path() / "..";
    dirs.push_back(prefix / "lib" / "genscope" / "plugins");
    dirs.push_back(prefix / GENSCOPE_INSTALL_LIBDIR / "genscope" / "plugins");
  }
  dirs.emplace_back(GENSCOPE_INSTALL_PLUGIN_DIR);

  std::set<std::string> seen;
  for (const auto& dir : dirs) {
    const std::string normal = dir.lexically_normal().string();
    if (seen.insert(normal).second) registry.add_directory(normal);
  }
  return registry;
}

void plugin_registry::add_directory(const std::string& dir) {
  impl_->searched.push_back(dir);
  boost::system::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  std::vector<std::string> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string file = it->path().filename().string();
    if (file.starts_with("libgenscope_") && file.ends_with(".so") && fs::is_regular_file(it->path(), ec))
      files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());  // a stable order, whatever the file system returns
  for (const auto& f : files) add_library(f);
}

void plugin_registry::add_library(const std::string& path) {
  const std::string file = fs::path(path).filename().string();
  const file_identity id = parse_file_name(file);
  if (!id.valid) {
    impl_->refusals.push_back({path, plugin_kind{}, fs::path(file).stem().string(),
                               fmt::format("{} is not named libgenscope_<kind>_<name>.so with kind backend, "
                                           "sampler, estimator or analysis and name [a-z0-9_]+",
                                           file)});
    return;
  }
  // The first library of a kind and name decides, accepted or refused, so a
  // folder early on GENSCOPE_PLUGIN_PATH overrides (or visibly breaks) later ones.
  if (impl_->known(id.kind, id.name)) return;

  const std::string who = fmt::format("{} ({} '{}')", file, to_string(id.kind), id.name);
  auto refuse = [&](const std::string& why) {
    impl_->refusals.push_back({path, id.kind, id.name, fmt::format("{} {}", who, why)});
  };

  std::string failure;
  library_ptr library = load_library(path, failure);
  if (!library) return refuse(fmt::format("could not be loaded: {}", failure));
  if (!library->has(descriptor_symbol))
    return refuse(fmt::format("does not export {}(): it was not built with GENSCOPE_PLUGIN", descriptor_symbol));

  using descriptor_function = const plugin_descriptor*();
  const plugin_descriptor* d = nullptr;
  try {
    d = library->get<descriptor_function>(descriptor_symbol)();
  } catch (...) {
    return refuse(fmt::format("threw from {}()", descriptor_symbol));
  }
  if (d == nullptr) return refuse(fmt::format("returned no descriptor from {}()", descriptor_symbol));
  // api_version first: nothing else in the descriptor has a known layout until it matches.
  if (d->api_version != plugin_api_version)
    return refuse(fmt::format("was built for plugin API {}, this GenScope speaks {}: rebuild it against this "
                              "GenScope's headers",
                              d->api_version, plugin_api_version));
  if (const std::string problem = check_descriptor(*d, id); !problem.empty()) return refuse(problem);

  plugin_info info;
  info.kind = d->kind;
  info.name = d->name;
  info.version = d->version;
  info.description = d->description;
  info.path = path;
  info.options.assign(d->options, d->options + d->option_count);
  info.capabilities = d->capabilities;
  impl_->plugins.push_back(std::move(info));
  impl_->descriptors.push_back(d);
  impl_->libraries.push_back(std::move(library));
}

const std::vector<plugin_info>& plugin_registry::plugins() const { return impl_->plugins; }
const std::vector<plugin_refusal>& plugin_registry::refusals() const { return impl_->refusals; }

const plugin_info* plugin_registry::find(plugin_kind kind, std::string_view name) const {
  for (const auto& p : impl_->plugins)
    if (p.kind == kind && p.name == name) return &p;
  return nullptr;
}

std::vector<std::string> plugin_registry::names(plugin_kind kind) const {
  std::vector<std::string> out;
  for (const auto& p : impl_->plugins)
    if (p.kind == kind) out.push_back(p.name);
  std::sort(out.begin(), out.end());
  return out;
}

const plugin_info& plugin_registry::require(plugin_kind kind, std::string_view name) const {
  if (const plugin_info* p = find(kind, name)) return *p;
  for (const auto& r : impl_->refusals)
    if (r.kind == kind && r.name == name) throw plugin_error(std::string(name), r.reason);

  const std::vector<std::string> available = names(kind);
  const std::string near = detail::closest_name(name, available);
  std::string message;
  if (!near.empty()) {
    message = fmt::format("unknown {} '{}'; did you mean '{}'?", to_string(kind), name, near);
  } else if (!available.empty()) {
    message = fmt::format("unknown {} '{}'; available: {}", to_string(kind), name, fmt::join(available, ", "));
  } else if (!impl_->searched.empty()) {
    message = fmt::format("unknown {} '{}'; no {} plugins were found in {} (set GENSCOPE_PLUGIN_PATH)",
                          to_string(kind), name, to_string(kind), fmt::join(impl_->searched, ":"));
  } else {
    message = fmt::format("unknown {} '{}'; no plugins are loaded", to_string(kind), name);
  }
  throw plugin_error(std::string(name), message);
}

std::shared_ptr<network_backend> plugin_registry::create_backend(std::string_view name,
                                                                 const option_set& options) const {
  return impl_->create<network_backend>(*this, plugin_kind::backend, name, options);
}

std::shared_ptr<direction_sampler> plugin_registry::create_sampler(std::string_view name,
                                                                   const option_set& options) const {
  return impl_->create<direction_sampler>(*this, plugin_kind::sampler, name, options);
}

std::shared_ptr<interval_estimator> plugin_registry::create_estimator(std::string_view name,
                                                                      const option_set& options) const {
  return impl_->create<interval_estimator>(*this, plugin_kind::estimator, name, options);
}

std::shared_ptr<analysis> plugin_registry::create_analysis(std::string_view name, const option_set& options) const {
  return impl_->create<analysis>(*this, plugin_kind::analysis, name, options);
}

}  // namespace genscope
