// GenScope's error types and the one function that formats any exception for the user.
#include <genscope/error.hpp>

#include <fmt/format.h>

#include <new>
#include <typeinfo>

namespace genscope {

error::error(const std::string& message) : std::runtime_error(message) {}
error::~error() = default;

namespace {
std::string positioned(const std::string& file, int line, int column, const std::string& message) {
  if (line <= 0) return fmt::format("{}: {}", file, message);
  if (column <= 0) return fmt::format("{}:{}: {}", file, line, message);
  return fmt::format("{}:{}:{}: {}", file, line, column, message);
}
}  // namespace

config_error::config_error(std::string file, int line, int column, const std::string& message)
    : error(positioned(file, line, column, message)), file_(std::move(file)), line_(line), column_(column) {}
config_error::~config_error() = default;

io_error::io_error(std::string path, const std::string& message)
    : error(fmt::format("{}: {}", path, message)), path_(std::move(path)) {}
io_error::~io_error() = default;

plugin_error::plugin_error(std::string plugin, const std::string& message)
    : error(fmt::format("plugin '{}': {}", plugin, message)), plugin_(std::move(plugin)) {}
plugin_error::~plugin_error() = default;

std::string describe(const std::exception& e) {
  if (dynamic_cast<const error*>(&e) != nullptr) return e.what();
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) return "out of memory";
  return fmt::format("internal error: {}", e.what());
}

}  // namespace genscope
