// Plugin option schemas (declared by plugins) and validated option values (built by the host).
#pragma once

#include <genscope/export.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace genscope {

enum class option_type : std::uint32_t { boolean = 1, integer = 2, real = 3, string = 4 };

/// Name of a type as written in docs and messages: "bool", "int", "float", "string".
GENSCOPE_API const char* to_string(option_type t) noexcept;

/// One option a plugin accepts. Plain aggregate so plugins can declare a
/// static constexpr table. `default_value` is the default written as TOML would
/// (`"8.0"`, `"true"`, `"128"`, `"adam"`); nullptr marks a required option.
struct option_spec {
  const char* name;
  option_type type;
  const char* default_value;
  const char* help;
};

using option_value = std::variant<bool, std::int64_t, double, std::string>;

/// The largest count GenScope accepts anywhere (samples, probes, epochs, widths, ...): 2^32. Larger
/// values are refused by name before any work; what fits may still exceed memory, which is checked
/// separately (genscope/memory.hpp).
inline constexpr std::int64_t max_count = std::int64_t{1} << 32;

/// Values of a plugin's options after the host validated them against the schema:
/// every option of the schema is present, with the declared type (an integer
/// given where a float is declared is widened). Getters throw genscope::error
/// naming the option when it is absent or of another type (a plugin bug).
class GENSCOPE_API option_set {
 public:
  void set(const std::string& name, option_value value);
  bool has(const std::string& name) const;

  bool get_bool(const std::string& name) const;
  std::int64_t get_int(const std::string& name) const;
  /// An int option that counts something: throws std::invalid_argument "option 'NAME' must be between
  /// MINIMUM and MAXIMUM, got V" outside [minimum, maximum].
  std::size_t get_count(const std::string& name, std::int64_t minimum, std::int64_t maximum = max_count) const;
  double get_real(const std::string& name) const;
  /// A string option holding positive integers separated by commas, spaces allowed around each ("1,28,28"):
  /// throws std::invalid_argument "option 'NAME' must be WHAT, positive integers separated by commas (e.g.
  /// "EXAMPLE"), not "TEXT"" when the text is empty or is anything else (an empty item, a sign, a zero,
  /// more than 18 digits).
  std::vector<std::size_t> get_count_list(const std::string& name, const std::string& what,
                                          const std::string& example) const;
  const std::string& get_string(const std::string& name) const;

  const std::map<std::string, option_value>& values() const noexcept { return values_; }

 private:
  const option_value& at(const std::string& name) const;
  std::map<std::string, option_value> values_;
};

/// Text of a value as TOML would write it (strings quoted), for provenance and listings.
GENSCOPE_API std::string to_string(const option_value& v);

/// Parses `text` (a default_value) as `type`; throws genscope::error on mismatch.
GENSCOPE_API option_value parse_option_value(option_type type, const std::string& text);

}  // namespace genscope
