// Pictures of plane_regions tables in `genscope report` (see planes.hpp).
#include "report/planes.hpp"

#include <genscope/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace genscope::report {

namespace {

// The polygons of one family of plane_regions columns (region_* or piece_*): per row, the slice of `sizes` (vertex
// counts) and of `vertices` ((s, t) pairs) it owns, checked against each other.
struct polygon_columns {
  std::vector<std::int64_t> sizes;
  std::vector<double> vertices;
  std::vector<std::uint64_t> size_start, size_count, vertex_start, vertex_count;
};

polygon_columns read_polygons(const h5::group& tg, const std::string& prefix, std::size_t rows) {
  polygon_columns c{tg.read<std::int64_t>(prefix + "_sizes"), tg.read<double>(prefix + "_vertices"),
                    tg.read<std::uint64_t>(prefix + "_sizes_start"), tg.read<std::uint64_t>(prefix + "_sizes_count"),
                    tg.read<std::uint64_t>(prefix + "_vertices_start"),
                    tg.read<std::uint64_t>(prefix + "_vertices_count")};
  h5::same_rows(tg, {{prefix + "_sizes_start", c.size_start.size()}, {prefix + "_sizes_count", c.size_count.size()},
                     {prefix + "_vertices_start", c.vertex_start.size()},
                     {prefix + "_vertices_count", c.vertex_count.size()}, {"regions", rows}});
  for (std::size_t r = 0; r < rows; ++r) {
    const bool sizes_fit = c.size_start[r] <= c.sizes.size() && c.size_count[r] <= c.sizes.size() - c.size_start[r];
    const bool vertices_fit =
        c.vertex_start[r] <= c.vertices.size() && c.vertex_count[r] <= c.vertices.size() - c.vertex_start[r];
    std::int64_t total = 0;
    if (sizes_fit)
      for (std::uint64_t k = 0; k < c.size_count[r]; ++k) {
        const std::int64_t n = c.sizes[c.size_start[r] + k];
        total = n < 3 || total > std::numeric_limits<std::int32_t>::max() ? -1 : total + n;
        if (total < 0) break;
      }
    if (!sizes_fit || !vertices_fit || total < 0 || 2 * static_cast<std::uint64_t>(total) != c.vertex_count[r])
      throw io_error(tg.file_path(), fmt::format("analysis table {}: row {}'s {} polygons do not match their vertices "
                                                 "({}_sizes and {}_vertices disagree)",
                                                 tg.path(), r, prefix, prefix, prefix));
  }
  return c;
}

// Appends the polygons of `row` as closed gnuplot blocks "s t value" (each separated by a blank line); `value(k)`
// gives the third column of the row's k-th polygon.
template <class Value>
void append_polygons(std::string& data, const polygon_columns& c, std::size_t row, const Value& value) {
  std::uint64_t v = c.vertex_start[row] / 2;
  for (std::uint64_t k = 0; k < c.size_count[row]; ++k) {
    const std::int64_t n = c.sizes[c.size_start[row] + k];
    for (std::int64_t i = 0; i <= n; ++i) {
      const std::uint64_t at = v + static_cast<std::uint64_t>(i % n);
      data += fmt::format("{:.9g} {:.9g} {}\n", c.vertices[2 * at], c.vertices[2 * at + 1], value(k));
    }
    data += "\n";
    v += static_cast<std::uint64_t>(n);
  }
}

}  // namespace

void draw_planes(const h5::group& root, const analysis_info& a, const analysis_table_info& t, figure_writer& fw,
                 section& sec, const std::function<void(const std::string&)>& note, std::size_t most) {
  const h5::group tg = root.open_group("analyses").open_group(a.name).open_group(t.name);
  const std::vector<std::string> datasets = tg.read_strings("dataset");
  const std::vector<std::int64_t> epochs = tg.read<std::int64_t>("epoch");
  const std::vector<std::int64_t> regions = tg.read<std::int64_t>("regions");
  const std::vector<std::int64_t> decisions = tg.read<std::int64_t>("decision_regions");
  const std::vector<double> boxes = tg.read<double>("box"), samples = tg.read<double>("samples");
  const std::vector<std::int64_t> points = tg.read<std::int64_t>("points");
  const std::size_t rows = h5::same_rows(tg, {{"regions", regions.size()}, {"dataset", datasets.size()},
                                              {"epoch", epochs.size()}, {"decision_regions", decisions.size()},
                                              {"box", boxes.size() / 4}, {"samples", samples.size() / 6},
                                              {"points", points.size() / 3}});
  const polygon_columns region = read_polygons(tg, "region", rows), piece = read_polygons(tg, "piece", rows);
  const std::vector<std::int64_t> classes = tg.read<std::int64_t>("piece_class");
  if (classes.size() != piece.sizes.size())
    throw io_error(tg.file_path(), fmt::format("analysis table {}: piece_class holds {} values for {} pieces", tg.path(),
                                               classes.size(), piece.sizes.size()));
  const std::int64_t top = classes.empty() ? 1 : *std::max_element(classes.begin(), classes.end());
  static const char* colours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  std::string palette;
  for (std::int64_t k = 0; k <= std::max<std::int64_t>(top, 1); ++k)
    palette += fmt::format("{}{} '{}'", k ? ", " : "", k, colours[k % 10]);
  std::size_t drawn = 0;
  for (std::size_t r = 0; r < rows && drawn < most; ++r) {
    if (piece.size_count[r] == 0) {
      note(fmt::format("{}, {} row {}: no polygons (the samples span no plane), no picture", a.name, t.name, r));
      continue;
    }
    std::string data;
    const std::uint64_t first = piece.size_start[r];
    append_polygons(data, piece, r, [&](std::uint64_t k) { return classes[first + k]; });
    data += "\n";
    append_polygons(data, region, r, [](std::uint64_t) { return 0; });
    data += "\n";
    for (std::size_t q = 0; q < 3; ++q)
      if (std::isfinite(samples[6 * r + 2 * q]) && std::isfinite(samples[6 * r + 2 * q + 1]))
        data += fmt::format("{:.9g} {:.9g} \"sample {}\"\n", samples[6 * r + 2 * q], samples[6 * r + 2 * q + 1],
                            points[3 * r + q]);
    const std::string stem = fmt::format("analysis-{}-{}-plane{}", a.name, t.name, r);
    const std::string what = fmt::format("model {}, epoch {}, data set {}", a.model,
                                         epochs[r] == 0 ? std::string("final") : std::to_string(epochs[r]), datasets[r]);
    fw.draw(stem, data,
            fmt::format("set title {}\nset size ratio -1\nset xrange [{:.9g}:{:.9g}]\nset yrange [{:.9g}:{:.9g}]\n"
                        "set xlabel 's'\nset ylabel 't'\nset style fill solid 0.75 noborder\n"
                        "set palette maxcolors {} defined ({})\nset cbrange [-0.5:{}.5]\nset cblabel 'predicted class'\n"
                        "plot dat index 0 using 1:2:3 with filledcurves closed fillcolor palette notitle, \\\n"
                        "     dat index 1 using 1:2 with lines lc rgb '#222222' lw 0.3 title 'linear regions', \\\n"
                        "     dat index 2 using 1:2 with points pt 7 ps 1.2 lc rgb 'black' title 'samples', \\\n"
                        "     dat index 2 using 1:2:3 with labels offset char 1,1 notitle",
                        gp_quote(what + ": " + std::to_string(regions[r]) + " linear regions, " +
                                 std::to_string(decisions[r]) + " decision regions"),
                        boxes[4 * r], boxes[4 * r + 1], boxes[4 * r + 2], boxes[4 * r + 3], std::max<std::int64_t>(top, 1) + 1,
                        palette, std::max<std::int64_t>(top, 1)));
    sec.figs.push_back(stem);
    sec.captions.push_back(fmt::format("{}: the plane through the samples, {} linear regions (outlined) and {} decision "
                                       "regions (filled by predicted class)",
                                       what, regions[r], decisions[r]));
    ++drawn;
  }
  if (rows > drawn && drawn == most)
    note(fmt::format("{}, {}: pictures of the first {} of {} planes", a.name, t.name, most, rows));
}

}  // namespace genscope::report
