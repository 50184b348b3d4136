// Figures of interactions tables in `genscope report` (see interactions.hpp).
#include "report/interactions.hpp"

#include <genscope/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace genscope::report {

namespace {

// The epochs the model was trained for (its model file's training record), when the file says.
std::optional<std::int64_t> trained_epochs(const h5::group& root, const std::string& results, const std::string& model) {
  const auto prov = model_provenance(root, model);
  const std::string file = prov ? attr_text(*prov, "model_file") : "";
  if (file.empty()) return std::nullopt;
  const auto path = find_model_file(results, file);
  if (!std::filesystem::exists(path) || path.extension() == ".onnx") return std::nullopt;
  try {
    const h5::file mf = h5::file::open(path.string());
    const h5::group mr = mf.root();
    if (!mr.has("training")) return std::nullopt;
    const h5::group tr = mr.open_group("training");
    if (tr.has_attr("epochs_run")) return tr.attr_int("epochs_run");
    if (tr.has_attr("epochs")) return tr.attr_int("epochs");
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

// Means over the rows of one (epoch, data set) cell.
struct cell_means {
  std::size_t rows = 0;
  double loss = 0, generalizable = 0, nongeneralizable = 0, total = 0, salient_and = 0, salient_or = 0;
  std::vector<double> generalizable_by_order, nongeneralizable_by_order, total_by_order;
};

std::string number_or_missing(double v) { return std::isfinite(v) ? fmt::format("{:.9g}", v) : std::string("?"); }

}  // namespace

table draw_interactions(const h5::group& root, const std::string& results, const analysis_info& a,
                        const analysis_table_info& t, figure_writer& fw, section& sec,
                        const std::function<void(const std::string&)>& note) {
  const h5::group tg = root.open_group("analyses").open_group(a.name).open_group(t.name);
  const auto epochs = tg.read<std::int64_t>("epoch");
  const auto datasets = tg.read_strings("dataset");
  const auto loss = tg.read<double>("loss");
  const auto salient_and = tg.read<std::int64_t>("salient_and"), salient_or = tg.read<std::int64_t>("salient_or");
  std::vector<std::size_t> dims;
  const auto generalizable = tg.read<double>("generalizable_strength", &dims);
  const auto nongeneralizable = tg.read<double>("nongeneralizable_strength");
  const auto and_strength = tg.read<double>("and_strength"), or_strength = tg.read<double>("or_strength");
  const std::size_t rows = h5::same_rows(tg, {{"epoch", epochs.size()}, {"dataset", datasets.size()},
                                              {"loss", loss.size()}, {"salient_and", salient_and.size()},
                                              {"salient_or", salient_or.size()}});
  const std::size_t by_order = dims.size() == 2 ? dims[1] : 0;
  for (const auto* column : {&generalizable, &nongeneralizable, &and_strength, &or_strength})
    if (by_order < 2 || column->size() != rows * by_order)
      throw io_error(tg.file_path(), fmt::format("analysis table {}: the by-order columns do not hold {} rows of one "
                                                 "width of at least 2",
                                                 tg.path(), rows));
  const std::size_t n = by_order - 1;  // input variables

  // Where the final weights (epoch 0) go on the epoch axis.
  std::int64_t last_checkpoint = 0;
  for (const std::int64_t e : epochs) last_checkpoint = std::max(last_checkpoint, e);
  const std::optional<std::int64_t> trained = trained_epochs(root, results, a.model);
  const std::int64_t final_epoch = trained ? *trained : last_checkpoint + 1;
  if (!trained)
    note(fmt::format("{}: the model file of '{}' does not say how long it trained; its final weights are drawn at "
                     "epoch {}",
                     a.name, a.model, final_epoch));
  auto axis_epoch = [&](std::int64_t e) { return e == 0 ? final_epoch : e; };

  // Means per (epoch on the axis, data set), in the data sets' order of appearance.
  std::vector<std::string> names;
  std::map<std::pair<std::int64_t, std::string>, cell_means> cells;
  bool with_reference = true;
  for (std::size_t r = 0; r < rows; ++r) {
    if (std::find(names.begin(), names.end(), datasets[r]) == names.end()) names.push_back(datasets[r]);
    cell_means& c = cells[{axis_epoch(epochs[r]), datasets[r]}];
    if (c.rows == 0) c.generalizable_by_order = c.nongeneralizable_by_order = c.total_by_order = std::vector<double>(by_order, 0.0);
    ++c.rows;
    c.loss += loss[r];
    c.salient_and += static_cast<double>(salient_and[r]);
    c.salient_or += static_cast<double>(salient_or[r]);
    for (std::size_t k = 0; k < by_order; ++k) {
      const std::size_t i = r * by_order + k;
      with_reference = with_reference && std::isfinite(generalizable[i]) && std::isfinite(nongeneralizable[i]);
      c.generalizable_by_order[k] += generalizable[i];
      c.nongeneralizable_by_order[k] += nongeneralizable[i];
      c.total_by_order[k] += and_strength[i] + or_strength[i];
    }
  }
  for (auto& [key, c] : cells) {
    const double count = static_cast<double>(c.rows);
    c.loss /= count;
    c.salient_and /= count;
    c.salient_or /= count;
    for (std::size_t k = 0; k < by_order; ++k) {
      c.generalizable_by_order[k] /= count;
      c.nongeneralizable_by_order[k] /= count;
      c.total_by_order[k] /= count;
    }
    for (std::size_t k = 1; k < by_order; ++k) {
      c.generalizable += c.generalizable_by_order[k];
      c.nongeneralizable += c.nongeneralizable_by_order[k];
      c.total += c.total_by_order[k];
    }
  }

  table out{fmt::format("analysis-{}-{}-dynamics", a.name, t.name),
            fmt::format("{}: interaction strength per epoch and data set (means over samples)", a.name),
            {"epoch", "dataset", "samples", "loss", "generalizable", "nongeneralizable", "nongeneralizable_fraction",
             "salient_and", "salient_or"},
            {}};
  for (const auto& [key, c] : cells) {
    const double total = c.generalizable + c.nongeneralizable;
    out.rows.push_back({std::to_string(key.first), key.second, std::to_string(c.rows), num(c.loss),
                        with_reference ? num(c.generalizable) : "n/a", with_reference ? num(c.nongeneralizable) : "n/a",
                        with_reference && total > 0 ? num(c.nongeneralizable / total) : "n/a", num(c.salient_and),
                        num(c.salient_or)});
  }
  if (!with_reference)
    note(fmt::format("{}: no reference model, so no generalizable part: the figures show the total strength", a.name));

  // 1. Strength per epoch next to the loss.
  static const char* colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};
  std::string data, plot;
  for (std::size_t d = 0; d < names.size(); ++d) {
    for (const auto& [key, c] : cells)
      if (key.second == names[d])
        data += fmt::format("{} {} {} {} {}\n", key.first, number_or_missing(c.generalizable),
                            number_or_missing(c.nongeneralizable),
                            number_or_missing(c.total), number_or_missing(c.loss));
    data += "\n\n";
    const char* colour = colours[d % 6];
    const std::string name = gp_quote(names[d]);
    if (with_reference)
      plot += fmt::format("dat index {} using 1:2 with linespoints lw 2 lc rgb '{}' title {}.' generalizable', "
                          "dat index {} using 1:3 with linespoints lw 2 dt 2 lc rgb '{}' title {}.' non-generalizable', ",
                          d, colour, name, d, colour, name);
    else
      plot += fmt::format("dat index {} using 1:4 with linespoints lw 2 lc rgb '{}' title {}.' all interactions', ", d,
                          colour, name);
    plot += fmt::format("dat index {} using 1:5 axes x1y2 with lines lw 1 dt 3 lc rgb '{}' title {}.' loss', ", d,
                        colour, name);
  }
  plot.resize(plot.size() - 2);
  const std::string dynamics = fmt::format("analysis-{}-{}-dynamics", a.name, t.name);
  fw.draw(dynamics, data,
          fmt::format("set title {}\nset xlabel 'epoch (final weights at {})'\nset ylabel 'interaction strength "
                      "(mean sum of |I| over orders)'\nset y2label 'cross-entropy loss'\nset ytics nomirror\n"
                      "set y2tics\nset key top left font ',8'\nplot {}",
                      gp_quote(fmt::format("{}: model {}, {} input variables", a.name, a.model, n)), final_epoch, plot));
  sec.figs.push_back(dynamics);
  sec.captions.push_back(fmt::format(
      "{}: per epoch, the mean strength of the {} (solid) and the non-generalizable part (dashed) per data set, and the "
      "mean loss of the same samples (dotted, right axis)",
      a.name, with_reference ? "generalizable part of the interactions" : "interactions"));

  // 2. Strength by order per epoch, on the first data set (the training samples, as listed first), coloured from
  // early (light) to late (dark).
  std::vector<std::pair<std::int64_t, const cell_means*>> first_set;
  for (const auto& [key, c] : cells)
    if (key.second == names.front()) first_set.emplace_back(key.first, &c);
  for (const bool generalizable_part : with_reference ? std::vector<bool>{false, true} : std::vector<bool>{false}) {
    std::string by_order_data, by_order_plot;
    for (std::size_t b = 0; b < first_set.size(); ++b) {
      const cell_means& c = *first_set[b].second;
      const std::vector<double>& values =
          !with_reference ? c.total_by_order : generalizable_part ? c.generalizable_by_order : c.nongeneralizable_by_order;
      for (std::size_t k = 1; k < by_order; ++k) by_order_data += fmt::format("{} {:.9g}\n", k, values[k]);
      by_order_data += "\n\n";
      const double shade = first_set.size() > 1 ? static_cast<double>(b) / static_cast<double>(first_set.size() - 1) : 1.0;
      by_order_plot += fmt::format("{}dat index {} using 1:2 with linespoints lw 2 lc palette frac {:.4f} title 'epoch {}'",
                                   b ? ", " : "", b, shade, first_set[b].first);
    }
    const std::string which = !with_reference ? "all" : generalizable_part ? "generalizable" : "nongeneralizable";
    const std::string stem = fmt::format("analysis-{}-{}-orders-{}", a.name, t.name, which);
    fw.draw(stem, by_order_data,
            fmt::format("set title {}\nset xlabel 'order |S|'\nset ylabel 'mean strength of the order'\n"
                        "set palette defined (0 '#9ecae1', 1 '#08306b')\nunset colorbox\nset key top right font ',8'\n"
                        "set xtics 1\nplot {}",
                        gp_quote(fmt::format("{}: {} strength by order, data set {}", a.name, which, names.front())),
                        by_order_plot));
    sec.figs.push_back(stem);
    sec.captions.push_back(fmt::format("{}: the {} interaction strength of each order on data set {}, one line per "
                                       "epoch (light: early, dark: late)",
                                       a.name, which == "all" ? "total" : which, names.front()));
  }

  // 3. Non-generalizable strength against the loss gap between the second and the first data set.
  if (with_reference && names.size() >= 2) {
    std::string gap_data;
    for (const auto& [key, c] : cells) {
      if (key.second != names.front()) continue;
      const auto other = cells.find({key.first, names[1]});
      if (other == cells.end()) continue;
      gap_data += fmt::format("{:.9g} {:.9g} \"{}\"\n", other->second.loss - c.loss, c.nongeneralizable, key.first);
    }
    const std::string stem = fmt::format("analysis-{}-{}-gap", a.name, t.name);
    fw.draw(stem, gap_data,
            fmt::format("set title {}\nset xlabel {}\nset ylabel {}\n"
                        "plot dat using 1:2 with linespoints pt 7 lw 1 lc rgb '#d62728' notitle, "
                        "dat using 1:2:3 with labels offset char 1,1 font ',8' notitle",
                        gp_quote(a.name + ": non-generalizable interactions and the loss gap"),
                        gp_quote(fmt::format("loss on {} - loss on {}", names[1], names.front())),
                        gp_quote("non-generalizable strength on " + names.front())));
    sec.figs.push_back(stem);
    sec.captions.push_back(fmt::format("{}: per epoch (labels), the mean non-generalizable strength on {} against the "
                                       "gap between the mean loss on {} and on {}",
                                       a.name, names.front(), names[1], names.front()));
  }
  sec.tables.push_back(out);
  return out;
}

}  // namespace genscope::report
