// `genscope report`: an HTML report with gnuplot figures, CSV tables and statistics from a results file.
#pragma once

#include <genscope/export.hpp>

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace genscope::report {

struct options {
  std::string results;        ///< results file (HDF5)
  std::string out_dir;        ///< folder to write (created when missing)
  std::size_t bootstrap = 2000;  ///< bootstrap resamples for the median and ROC AUC intervals (0: none)
  std::uint64_t seed = 1;     ///< seed of the bootstraps
  std::string gnuplot = "gnuplot";  ///< gnuplot executable
  bool quiet = false;         ///< no progress notes
};

/// A table: written as DIR/<name>.csv and printed aligned.
struct table {
  std::string name;   ///< file stem
  std::string title;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

struct result {
  std::vector<table> tables;
  std::vector<std::string> figures;  ///< figure stems; each has DIR/<stem>.png and DIR/<stem>.svg
};

/// Writes the report; progress notes go to `log`. Throws io_error naming the file at fault.
GENSCOPE_API result write_report(const options& opt, std::ostream& log);

/// Prints a table with aligned columns.
GENSCOPE_API void print_table(const table& t, std::ostream& out);

}  // namespace genscope::report
