// GenScope's error types: every failure of set-up, configuration or I/O is one of these.
#pragma once

#include <genscope/export.hpp>

#include <exception>
#include <stdexcept>
#include <string>

namespace genscope {

/// Base of every error GenScope throws. what() is one line that names the
/// file, key or plugin concerned and what is wrong.
class GENSCOPE_API error : public std::runtime_error {
 public:
  explicit error(const std::string& message);
  ~error() override;
};

/// A problem in an experiment file or in options: carries the position when known
/// (line and column are 1-based; 0 means unknown). what() reads `file:line:column: message`.
class GENSCOPE_API config_error : public error {
 public:
  config_error(std::string file, int line, int column, const std::string& message);
  ~config_error() override;
  const std::string& file() const noexcept { return file_; }
  int line() const noexcept { return line_; }
  int column() const noexcept { return column_; }

 private:
  std::string file_;
  int line_;
  int column_;
};

/// A file that cannot be read, written or parsed. what() reads `path: message`.
class GENSCOPE_API io_error : public error {
 public:
  io_error(std::string path, const std::string& message);
  ~io_error() override;
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

/// A plugin that cannot be loaded or that failed. what() reads `plugin 'name': message`.
class GENSCOPE_API plugin_error : public error {
 public:
  plugin_error(std::string plugin, const std::string& message);
  ~plugin_error() override;
  const std::string& plugin() const noexcept { return plugin_; }

 private:
  std::string plugin_;
};

/// The one line GenScope prints for any exception (genscope errors verbatim,
/// foreign exceptions prefixed with their origin).
GENSCOPE_API std::string describe(const std::exception& e);

}  // namespace genscope
