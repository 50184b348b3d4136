// The report's shared building blocks: gnuplot figures, text files, table cells, model files (see figures.hpp).
#include "report/figures.hpp"

#include "report/sensitivity.hpp"

#include <genscope/error.hpp>

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sys/wait.h>

namespace fs = std::filesystem;

namespace genscope::report {

namespace {

std::string shell_quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

}  // namespace

std::string gp_quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("''") : std::string(1, c);
  return o + "'";
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) throw io_error(path.string(), "cannot write file");
}

std::string cell(double v) { return std::isnan(v) ? "n/a" : num(v); }

std::string joined(const std::vector<std::string>& items, const char* sep) {
  std::string s;
  for (std::size_t i = 0; i < items.size(); ++i) s += (i ? sep : "") + items[i];
  return s;
}

fs::path find_model_file(const std::string& results, const std::string& file) {
  fs::path path = file;
  if (path.is_relative() && !fs::exists(path)) {
    const fs::path results_dir = fs::absolute(results).parent_path();
    for (const fs::path& base : {results_dir, results_dir.parent_path()})
      if (fs::exists(base / file)) return base / file;
  }
  return path;
}

void figure_writer::draw(const std::string& stem, const std::string& data, const std::string& body) {
  write_text(dir / "data" / (stem + ".dat"), data);
  const fs::path script = dir / "gnuplot" / (stem + ".gp");
  std::string text = "# genscope report: " + stem + "\nset datafile missing '?'\nset key outside bottom center horizontal noenhanced\n"
                     "set grid\nset terminal pngcairo size 900,540 noenhanced font 'sans,10'\nset output " +
                     gp_quote(stem + ".png") + "\ndat = " + gp_quote("data/" + stem + ".dat") + "\n" + body +
                     "\nset terminal svg size 900,540 noenhanced font 'sans,10'\nset output " +
                     gp_quote(stem + ".svg") + "\nreplot\nunset output\n";
  write_text(script, text);
  const fs::path log = dir / "gnuplot" / (stem + ".log");
  const std::string cmd = "cd " + shell_quote(dir.string()) + " && " + shell_quote(gnuplot) + " " +
                          shell_quote("gnuplot/" + stem + ".gp") + " > " + shell_quote(log.string()) + " 2>&1";
  const int status = std::system(cmd.c_str());
  const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  if (rc == 127 || rc == 126)
    throw io_error(script.string(), "cannot run gnuplot ('" + gnuplot + "' not found or not executable; install gnuplot-nox)");
  if (rc != 0) {
    std::ifstream in(log);
    std::string first, line;
    while (std::getline(in, line))
      if (!line.empty() && line.find_first_not_of(" ^") != std::string::npos) first = line;
    throw io_error(script.string(), fmt::format("gnuplot failed (exit {}): {}", rc, first));
  }
  for (const char* ext : {".png", ".svg"})
    if (!fs::exists(dir / (stem + ext)) || fs::file_size(dir / (stem + ext)) == 0)
      throw io_error(script.string(), std::string("gnuplot wrote no ") + ext + " file");
  figures.push_back(stem);
}

bool has_group(const h5::group& g, const std::vector<std::string>& path, std::size_t from) {
  if (from == path.size()) return true;
  return g.has(path[from]) && has_group(g.open_group(path[from]), path, from + 1);
}

std::optional<h5::group> model_provenance(const h5::group& root, const std::string& model) {
  if (!has_group(root, {"provenance", "models", model})) return std::nullopt;
  return root.open_group("provenance").open_group("models").open_group(model);
}

}  // namespace genscope::report
