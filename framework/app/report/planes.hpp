// Pictures of plane_regions tables in `genscope report`: each plane's decision pieces filled by predicted class, its
// linear regions outlined and its samples marked, as Novak et al.'s Figure 2 (docs/report.md, "Analyses").
#pragma once

#include "h5/h5.hpp"
#include "report/figures.hpp"
#include "report/sensitivity.hpp"

#include <cstddef>
#include <functional>
#include <string>

namespace genscope::report {

/// Draws the rows of table `t` (a plane_regions `planes` table) of analysis `a`, the first `most` of them, into `sec`
/// (figures `analysis-<analysis>-<table>-plane<row>`); rows without polygons and rows beyond `most` go to `note`.
/// Throws io_error naming the file, the table and the row when its polygon columns do not fit each other.
void draw_planes(const h5::group& root, const analysis_info& a, const analysis_table_info& t, figure_writer& fw,
                 section& sec, const std::function<void(const std::string&)>& note, std::size_t most = 12);

}  // namespace genscope::report
