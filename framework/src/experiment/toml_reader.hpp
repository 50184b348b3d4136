// Positioned, typed access to TOML values for the experiment loader: every mismatch is a config_error.
#pragma once

#include <genscope/experiment.hpp>

#include <toml++/toml.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace genscope::detail {

source_position position_of(const toml::source_region& region);

/// One `key = value` of a table, with the dotted path that messages name it by.
struct toml_field {
  std::string path;  ///< e.g. "datasets.real.subset"
  std::string name;  ///< e.g. "subset"
  const toml::key* key = nullptr;
  const toml::node* value = nullptr;

  source_position key_at() const;
  source_position value_at() const;
};

/// How a float value is constrained.
enum class real_range { any, positive, non_negative, unit_interval_open };

/// Reads fields of one experiment file; `fail` throws config_error in that file.
class toml_reader {
 public:
  explicit toml_reader(std::string file);

  const std::string& file() const noexcept { return file_; }
  [[noreturn]] void fail(source_position at, const std::string& message) const;

  /// The fields of `table` in file order; `prefix` is the table's dotted path ("" for the root).
  std::vector<toml_field> fields(const toml::table& table, const std::string& prefix) const;

  /// Throws "unknown key 'x' <where>; did you mean 'y'?" at the key (where: "in [runs.r]").
  [[noreturn]] void unknown_key(const toml_field& f, const std::vector<std::string>& known,
                                const std::string& where) const;

  std::string get_string(const toml_field& f) const;           ///< non-empty string
  std::int64_t get_int(const toml_field& f) const;
  std::size_t get_count(const toml_field& f, std::size_t minimum) const;  ///< int in [minimum, max_count]
  std::uint64_t get_seed(const toml_field& f) const;           ///< int >= 0
  double get_real(const toml_field& f, real_range range) const;  ///< float or int, finite
  bool get_bool(const toml_field& f) const;
  /// One of `choices`, with a suggestion when misspelt.
  std::string get_choice(const toml_field& f, const std::vector<std::string>& choices) const;
  const toml::table& get_table(const toml_field& f) const;
  /// Array of ints, each >= minimum.
  std::vector<std::size_t> get_count_array(const toml_field& f, std::size_t minimum) const;

  /// "a string", "an int", ...
  static std::string type_phrase(const toml::node& node);
  /// The value as written in TOML (strings quoted), for messages.
  static std::string value_text(const toml::node& node);

 private:
  [[noreturn]] void wrong_type(const toml_field& f, const std::string& expected) const;
  std::string file_;
};

}  // namespace genscope::detail
