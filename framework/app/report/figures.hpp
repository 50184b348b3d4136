// The report's building blocks shared by its section files: page sections, gnuplot figure writing, text files and
// table cells (docs/report.md).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "h5/h5.hpp"
#include "report/report.hpp"

namespace genscope::report {

/// A section of the page: a paragraph, figures with captions, then tables (a titled one is introduced by its title
/// and, when named, a link to its CSV).
struct section {
  std::string title, anchor;
  std::vector<std::string> figs;  ///< figure stems
  std::vector<std::string> captions;
  std::vector<table> tables;
  std::string text;
};

/// Draws the report's figures with gnuplot into `dir`.
struct figure_writer {
  std::filesystem::path dir;
  std::string gnuplot;
  std::vector<std::string> figures;  ///< stems drawn so far

  /// Writes data/<stem>.dat and gnuplot/<stem>.gp (the variable `dat` names the data file; `body` sets up and
  /// plots), then runs gnuplot to make <stem>.png and <stem>.svg. Throws io_error naming the script when gnuplot
  /// cannot run or fails.
  void draw(const std::string& stem, const std::string& data, const std::string& body);
};

/// A string as a gnuplot single-quoted literal.
std::string gp_quote(const std::string& s);

/// Writes `text` to `path`; throws io_error naming the file when it cannot.
void write_text(const std::filesystem::path& path, const std::string& text);

/// A value of the analysis tables: num(v), "n/a" when not available (NaN).
std::string cell(double v);

/// The items joined with `sep`.
std::string joined(const std::vector<std::string>& items, const char* sep);

/// Where the model file a results file names (`model_file` of /provenance/models/<m>) is: a relative path is
/// relative to where `genscope run` ran, so the current folder is tried, then the folder of `results` and its parent.
/// Returns the path as given when none exists.
std::filesystem::path find_model_file(const std::string& results, const std::string& file);

/// Whether `g` has the nested groups path[from], path[from + 1], ...
bool has_group(const h5::group& g, const std::vector<std::string>& path, std::size_t from = 0);

/// /provenance/models/<model>, when the file has it.
std::optional<h5::group> model_provenance(const h5::group& root, const std::string& model);

}  // namespace genscope::report
