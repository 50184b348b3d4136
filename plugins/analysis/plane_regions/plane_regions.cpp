// Analysis plugin "plane_regions": the exact linear regions and decision regions of a piecewise-linear network on a
// 2-D slice of its input space through three samples (or a sample and two random directions), as polygons.
#include "plane_partition.hpp"

#include <genscope/analysis.hpp>
#include <genscope/piecewise_linear.hpp>
#include <genscope/plugin.hpp>
#include <genscope/random.hpp>
#include <genscope/sampling.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using genscope::column_type;
using genscope::option_spec;
using genscope::option_type;
namespace planes = genscope::planes;

const option_spec options[] = {
    {"planes", option_type::integer, "1", "planes per data set, each through samples chosen by the seed"},
    {"points", option_type::string, "",
     "\"i,j,k\": the plane through these three samples of every data set instead of seeded ones (planes = 1)"},
    {"labels", option_type::string, "different",
     "seeded samples: \"different\" (three labels) or \"same\" (one label)"},
    {"plane", option_type::string, "samples",
     "\"samples\": through the three samples; \"directions\": through the first one along two random orthonormal "
     "directions"},
    {"extent", option_type::real, "1.5",
     "half-side of the square box around the plane's centre: extent times the samples' largest distance from their "
     "centroid (\"samples\") or times the data's spread, the root of its total variance (\"directions\")"},
    {"max_regions", option_type::integer, "100000",
     "most linear regions per plane; a plane reaching it keeps the first ones found (status 1)"},
    {"patterns", option_type::boolean, "true",
     "store every region's full activation pattern (one int64 per switch unit); its digest is always stored"},
    genscope::checkpoints_option,
};

// Most pattern values (switch units x max_regions) one plane may store: 1.6 GB as int64.
constexpr double max_pattern_values = 2e8;

constexpr std::int64_t status_capped = 1;      // max_regions reached: the regions do not cover the box
constexpr std::int64_t status_degenerate = 2;  // the three samples span no plane: nothing was cut

struct settings {
  std::size_t planes = 1;
  std::vector<std::size_t> points;  // empty: seeded
  bool same = false;
  bool directions = false;
  double extent = 1.5;
  std::size_t max_regions = 100000;
  bool patterns = true;
  std::string checkpoints;
};

// One plane of a data set: its samples and, for "directions", its two axes.
struct plane_choice {
  std::size_t set = 0;
  std::array<std::size_t, 3> points{};
  std::vector<double> axis_s, axis_t;  // "directions" only
};

// The plane and its box from a choice (status_degenerate when the samples span no plane).
struct placed_plane {
  planes::plane geometry;
  std::array<double, 6> samples{};  // (s, t) of the three samples; NaN when not in the plane
  std::int64_t status = 0;
};

double dot(const std::vector<double>& x, const std::vector<double>& y) {
  double sum = 0;
  for (std::size_t i = 0; i < x.size(); ++i) sum += x[i] * y[i];
  return sum;
}

class plane_regions_analysis final : public genscope::analysis {
 public:
  explicit plane_regions_analysis(settings s) : s_(std::move(s)) {}

  std::vector<genscope::table_spec> tables() const override {
    const auto ragged = genscope::ragged;
    return {{"planes",
             "one plane x(s, t) = origin + s axis_s + t axis_t through samples of a data set, its box cut exactly into "
             "linear regions and decision regions (one row per plane and checkpoint measured)",
             {
                 {"dataset", column_type::string, 1, "data set the samples come from", ""},
                 {"epoch", column_type::int64, 1, "checkpoint epoch of the weights measured; 0 for the weights served",
                  ""},
                 {"points", column_type::int64, 3, "indices of the samples p0, p1, p2 (-1: none, \"directions\")", ""},
                 {"labels", column_type::int64, 3, "their labels (-1: none)", ""},
                 {"basis", column_type::float64, ragged, "origin, axis_s, axis_t: three input vectors, one after the other",
                  ""},
                 {"box", column_type::float64, 4, "s_lo, s_hi, t_lo, t_hi of the box cut", ""},
                 {"samples", column_type::float64, 6, "(s, t) of p0, p1, p2 (NaN: not in the plane)", ""},
                 {"regions", column_type::int64, 1, "linear regions (convex polygons) in the box", "", true},
                 {"decision_regions", column_type::int64, 1,
                  "decision regions: connected parts of the box with one predicted class", "", true},
                 {"decision_pieces", column_type::int64, 1, "parts of linear regions with one predicted class", ""},
                 {"area_error", column_type::float64, 1,
                  "|sum of the regions' areas - the box's| / the box's (a check; NaN when nothing was cut)", ""},
                 {"status", column_type::int64, 1, "bits: 1 max_regions reached, 2 the samples span no plane", ""},
                 {"region_sizes", column_type::int64, ragged, "vertices of each region, region by region", ""},
                 {"region_vertices", column_type::float64, ragged,
                  "(s, t) of every region's vertices, counter-clockwise, region by region", ""},
                 {"region_digests", column_type::int64, ragged, "FNV-1a digest of each region's pattern", ""},
                 {"region_patterns", column_type::int64, ragged,
                  "each region's state of every switch unit, node by node (empty with patterns = false)", ""},
                 {"region_logits", column_type::float64, ragged,
                  "each region's logits a + b s + g t: the C values of a, then of b, then of g", ""},
                 {"piece_sizes", column_type::int64, ragged, "vertices of each decision piece", ""},
                 {"piece_vertices", column_type::float64, ragged, "(s, t) of every piece's vertices, counter-clockwise",
                  ""},
                 {"piece_region", column_type::int64, ragged, "the linear region (0-based, in this row) of each piece",
                  ""},
                 {"piece_class", column_type::int64, ragged, "the predicted class on each piece", ""},
                 {"piece_component", column_type::int64, ragged, "the decision region (0-based) of each piece", ""},
             },
             "dataset"}};
  }

  void check(const std::vector<genscope::dataset_shape>& data, std::size_t) const override {
    if (data.empty()) throw std::invalid_argument("plane_regions: 'datasets' names no data set");
    for (const genscope::dataset_shape& d : data) {
      if (d.count < 3)
        throw std::invalid_argument("plane_regions: data set '" + d.name + "' has " + std::to_string(d.count) +
                                    " samples; a plane needs three");
      for (const std::size_t i : s_.points)
        if (i >= d.count)
          throw std::invalid_argument("plane_regions: option 'points' names sample " + std::to_string(i) +
                                      "; data set '" + d.name + "' has " + std::to_string(d.count));
      if (s_.points.empty() && !s_.same && d.class_count != 0 && d.class_count < 3)
        throw std::invalid_argument("plane_regions: data set '" + d.name + "' has " + std::to_string(d.class_count) +
                                    " classes, fewer than three (labels = \"different\")");
    }
  }

  void prepare(const genscope::network_backend& model, const std::vector<const genscope::dataset*>& data,
               std::uint64_t seed) override {
    data_ = data;
    epochs_.clear();
    models_.clear();
    views_.clear();
    for (const std::int64_t epoch : genscope::checkpoints_to_measure(model, s_.checkpoints)) {
      auto measured = genscope::model_at_checkpoint(model, epoch);
      const genscope::piecewise_linear_graph* view = measured->piecewise_linear();
      if (view == nullptr)
        throw std::invalid_argument("plane_regions: the backend offers no piecewise-linear view (the analysis needs "
                                    "capability_piecewise_linear)");
      if (view->input_dim() != data.front()->dim())
        throw std::invalid_argument("plane_regions: the network takes " + std::to_string(view->input_dim()) +
                                    " inputs, data set '" + data.front()->name + "' has " +
                                    std::to_string(data.front()->dim()));
      std::size_t units = 0;
      for (std::size_t i = 1; i < view->size(); ++i)
        if (view->at(i).is_switch()) units += view->at(i).width;
      if (s_.patterns && static_cast<double>(units) * static_cast<double>(s_.max_regions) > max_pattern_values)
        throw std::invalid_argument("plane_regions: option 'patterns': the network has " + std::to_string(units) +
                                    " switch units, so max_regions = " + std::to_string(s_.max_regions) +
                                    " regions could store " + std::to_string(units * s_.max_regions) +
                                    " pattern values per plane (at most 2e8); set patterns = false (the digests "
                                    "stay) or lower max_regions");
      epochs_.push_back(epoch);
      views_.push_back(view);
      models_.push_back(std::move(measured));
    }
    choices_.clear();
    spreads_.clear();
    for (std::size_t s = 0; s < data.size(); ++s) {
      const genscope::dataset& d = *data[s];
      genscope::require_labels(d);
      spreads_.push_back(s_.directions ? spread(d) : 0.0);
      const genscope::label_groups groups(d.labels);
      const std::vector<std::size_t> starts = genscope::triplet_starts(groups, s_.same);
      if (s_.points.empty() && starts.empty())
        throw std::runtime_error("plane_regions: data set '" + d.name + "' has " +
                                 (s_.same ? std::string("no label with three samples (labels = \"same\")")
                                          : std::string("fewer than three labels (labels = \"different\")")));
      for (std::size_t r = 0; r < s_.planes; ++r) {
        // Plane r of data set s: a generator of its own, so a plane never depends on the others.
        genscope::rng random(seed, genscope::stream_key("plane_regions"), (static_cast<std::uint64_t>(s) << 40) + r);
        plane_choice c;
        c.set = s;
        if (s_.points.empty()) c.points = genscope::draw_triplet(groups, d.labels, starts, s_.same, random);
        else std::copy(s_.points.begin(), s_.points.end(), c.points.begin());
        if (s_.directions) {
          c.axis_s = random_direction(random, d.dim());
          c.axis_t = random_direction(random, d.dim());
          // Gram-Schmidt: axis_t orthogonal to axis_s (two Gaussian directions are independent almost surely).
          const double along = dot(c.axis_t, c.axis_s);
          for (std::size_t j = 0; j < c.axis_t.size(); ++j) c.axis_t[j] -= along * c.axis_s[j];
          const double norm = std::sqrt(dot(c.axis_t, c.axis_t));
          for (double& x : c.axis_t) x /= norm;
        }
        choices_.push_back(std::move(c));
      }
    }
  }

  std::size_t row_count(std::size_t) const override { return epochs_.size() * choices_.size(); }

  void compute(std::size_t, std::size_t first, std::size_t count, genscope::table_batch& out) const override {
    if (views_.empty()) throw std::logic_error("plane_regions: compute() called before prepare()");
    if (first > row_count(0) || count > row_count(0) - first)
      throw std::out_of_range("plane_regions: rows [" + std::to_string(first) + ", " + std::to_string(first + count) +
                              ") requested, the table has " + std::to_string(row_count(0)));
    for (std::size_t r = 0; r < count; ++r) {
      const std::size_t row = first + r;
      const std::size_t m = row / choices_.size();
      const plane_choice& c = choices_[row % choices_.size()];
      const genscope::dataset& d = *data_[c.set];
      const placed_plane placed = place(c);
      out.strings("dataset")[r] = d.name;
      out.ints("epoch")[r] = epochs_[m];
      for (std::size_t q = 0; q < 3; ++q) {
        const bool used = !s_.directions || q == 0;
        out.ints("points")[3 * r + q] = used ? static_cast<std::int64_t>(c.points[q]) : -1;
        out.ints("labels")[3 * r + q] = used ? d.labels[c.points[q]] : -1;
      }
      for (const auto* v : {&placed.geometry.origin, &placed.geometry.axis_s, &placed.geometry.axis_t})
        out.reals("basis").insert(out.reals("basis").end(), v->begin(), v->end());
      out.counts("basis")[r] = 3 * d.dim();
      const planes::plane& g = placed.geometry;
      const std::array<double, 4> box{g.s_lo, g.s_hi, g.t_lo, g.t_hi};
      std::copy(box.begin(), box.end(), out.reals("box").begin() + static_cast<std::ptrdiff_t>(4 * r));
      std::copy(placed.samples.begin(), placed.samples.end(), out.reals("samples").begin() + static_cast<std::ptrdiff_t>(6 * r));
      out.ints("status")[r] = placed.status;
      if (placed.status & status_degenerate) {
        out.reals("area_error")[r] = std::numeric_limits<double>::quiet_NaN();
        continue;
      }
      const planes::partition part =
          planes::partition_plane(*views_[m], g, {.max_regions = s_.max_regions, .keep_patterns = s_.patterns});
      write(part, g, r, out);
    }
  }

 private:
  // The root of the total variance of a data set's samples.
  static double spread(const genscope::dataset& d) {
    const std::size_t n = d.size(), dim = d.dim();
    std::vector<double> mean(dim, 0.0);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < dim; ++j) mean[j] += d.x.row(i)[j];
    for (double& m : mean) m /= static_cast<double>(n);
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < dim; ++j) sum += (d.x.row(i)[j] - mean[j]) * (d.x.row(i)[j] - mean[j]);
    return std::sqrt(sum / static_cast<double>(n));
  }

  // A Gaussian direction of unit norm in double (random_unit_vector draws it, rounded to float).
  static std::vector<double> random_direction(genscope::rng& random, std::size_t dim) {
    std::vector<float> v(dim);
    genscope::random_unit_vector(random, v.data(), dim);
    std::vector<double> out(v.begin(), v.end());
    const double norm = std::sqrt(dot(out, out));
    for (double& x : out) x /= norm;
    return out;
  }

  placed_plane place(const plane_choice& c) const {
    const genscope::dataset& d = *data_[c.set];
    const std::size_t dim = d.dim();
    std::array<std::vector<double>, 3> p;
    for (std::size_t q = 0; q < 3; ++q) p[q].assign(d.x.row(c.points[q]), d.x.row(c.points[q]) + dim);
    placed_plane out;
    planes::plane& g = out.geometry;
    double half = 0;
    if (s_.directions) {
      g.origin = p[0];
      g.axis_s = c.axis_s;
      g.axis_t = c.axis_t;
      half = s_.extent * spreads_[c.set];
      out.samples = {0, 0, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
    } else {
      // Origin at the centroid, axis_s along p1 - p0, axis_t the rest of p2 - p0: orthonormal.
      g.origin.assign(dim, 0.0);
      for (std::size_t j = 0; j < dim; ++j) g.origin[j] = (p[0][j] + p[1][j] + p[2][j]) / 3;
      g.axis_s.assign(dim, 0.0);
      g.axis_t.assign(dim, 0.0);
      for (std::size_t j = 0; j < dim; ++j) {
        g.axis_s[j] = p[1][j] - p[0][j];
        g.axis_t[j] = p[2][j] - p[0][j];
      }
      const double first = std::sqrt(dot(g.axis_s, g.axis_s));
      if (first > 0)
        for (double& x : g.axis_s) x /= first;
      const double along = dot(g.axis_t, g.axis_s);
      for (std::size_t j = 0; j < dim; ++j) g.axis_t[j] -= along * g.axis_s[j];
      const double second = std::sqrt(dot(g.axis_t, g.axis_t));
      // Collinear or coincident samples (to rounding, relative to their distance) span no plane.
      if (!(first > 0) || !(second > 1e-9 * std::max(first, std::abs(along)))) {
        out.status = status_degenerate;
        std::fill(g.axis_t.begin(), g.axis_t.end(), 0.0);
        out.samples.fill(std::numeric_limits<double>::quiet_NaN());
        g.s_lo = g.s_hi = g.t_lo = g.t_hi = 0;
        return out;
      }
      for (double& x : g.axis_t) x /= second;
      double reach = 0;
      for (std::size_t q = 0; q < 3; ++q) {
        std::vector<double> offset(dim);
        for (std::size_t j = 0; j < dim; ++j) offset[j] = p[q][j] - g.origin[j];
        out.samples[2 * q] = dot(offset, g.axis_s);
        out.samples[2 * q + 1] = dot(offset, g.axis_t);
        reach = std::max(reach, std::hypot(out.samples[2 * q], out.samples[2 * q + 1]));
      }
      half = s_.extent * reach;
    }
    if (!(half > 0) || !std::isfinite(half)) {
      out.status = status_degenerate;
      g.s_lo = g.s_hi = g.t_lo = g.t_hi = 0;
      return out;
    }
    g.s_lo = g.t_lo = -half;
    g.s_hi = g.t_hi = half;
    return out;
  }

  void write(const planes::partition& part, const planes::plane& g, std::size_t r, genscope::table_batch& out) const {
    out.ints("regions")[r] = static_cast<std::int64_t>(part.regions.size());
    out.ints("decision_regions")[r] = static_cast<std::int64_t>(part.decision_regions);
    out.ints("decision_pieces")[r] = static_cast<std::int64_t>(part.pieces.size());
    if (part.capped) out.ints("status")[r] |= status_capped;
    double total = 0;
    auto& sizes = out.ints("region_sizes");
    auto& vertices = out.reals("region_vertices");
    auto& digests = out.ints("region_digests");
    auto& patterns = out.ints("region_patterns");
    auto& logits = out.reals("region_logits");
    std::size_t vertex_values = 0, pattern_values = 0, logit_values = 0;
    for (const planes::linear_region& region : part.regions) {
      total += planes::area(region.shape);
      sizes.push_back(static_cast<std::int64_t>(region.shape.size()));
      for (const planes::point& v : region.shape) {
        vertices.push_back(v.s);
        vertices.push_back(v.t);
      }
      vertex_values += 2 * region.shape.size();
      digests.push_back(static_cast<std::int64_t>(region.digest));
      for (const std::uint32_t state : region.pattern) patterns.push_back(state);
      pattern_values += region.pattern.size();
      logits.insert(logits.end(), region.logits.begin(), region.logits.end());
      logit_values += region.logits.size();
    }
    const double box_area = (g.s_hi - g.s_lo) * (g.t_hi - g.t_lo);
    out.reals("area_error")[r] = std::abs(total - box_area) / box_area;
    out.counts("region_sizes")[r] = part.regions.size();
    out.counts("region_digests")[r] = part.regions.size();
    out.counts("region_vertices")[r] = vertex_values;
    out.counts("region_patterns")[r] = pattern_values;
    out.counts("region_logits")[r] = logit_values;
    auto& piece_sizes = out.ints("piece_sizes");
    auto& piece_vertices = out.reals("piece_vertices");
    std::size_t piece_values = 0;
    for (const planes::decision_piece& piece : part.pieces) {
      piece_sizes.push_back(static_cast<std::int64_t>(piece.shape.size()));
      for (const planes::point& v : piece.shape) {
        piece_vertices.push_back(v.s);
        piece_vertices.push_back(v.t);
      }
      piece_values += 2 * piece.shape.size();
      out.ints("piece_region").push_back(static_cast<std::int64_t>(piece.region));
      out.ints("piece_class").push_back(static_cast<std::int64_t>(piece.label));
      out.ints("piece_component").push_back(static_cast<std::int64_t>(piece.component));
    }
    for (const char* name : {"piece_sizes", "piece_region", "piece_class", "piece_component"})
      out.counts(name)[r] = part.pieces.size();
    out.counts("piece_vertices")[r] = piece_values;
  }

  settings s_;
  std::vector<const genscope::dataset*> data_;
  std::vector<std::int64_t> epochs_;                                      // per model measured
  std::vector<std::shared_ptr<const genscope::network_backend>> models_;  // holds the views
  std::vector<const genscope::piecewise_linear_graph*> views_;
  std::vector<plane_choice> choices_;  // planes of every data set, data set by data set
  std::vector<double> spreads_;        // per data set ("directions")
};

// "i,j,k" as three sample indices.
std::vector<std::size_t> parse_points(const std::string& text) {
  std::vector<std::size_t> out;
  std::size_t at = 0;
  while (at <= text.size()) {
    const std::size_t comma = std::min(text.find(',', at), text.size());
    std::size_t value = 0;
    const char* begin = text.data() + at;
    const char* end = text.data() + comma;
    while (begin < end && *begin == ' ') ++begin;
    while (end > begin && end[-1] == ' ') --end;
    const auto [ptr, ec] = std::from_chars(begin, end, value);
    if (begin == end || ec != std::errc() || ptr != end)
      throw std::invalid_argument("option 'points' must be three sample indices \"i,j,k\", not \"" + text + "\"");
    out.push_back(value);
    at = comma + 1;
  }
  if (out.size() != 3)
    throw std::invalid_argument("option 'points' must be three sample indices \"i,j,k\", not \"" + text + "\"");
  return out;
}

genscope::plugin_object* create(const genscope::option_set& o) {
  settings s;
  s.planes = o.get_count("planes", 1, 1000000);
  const std::string points = o.get_string("points");
  if (!points.empty()) {
    s.points = parse_points(points);
    if (s.planes != 1)
      throw std::invalid_argument("option 'points' fixes one plane per data set; 'planes' must be 1, not " +
                                  std::to_string(s.planes));
  }
  const std::string labels = o.get_string("labels");
  if (labels != "same" && labels != "different")
    throw std::invalid_argument("option 'labels' must be \"same\" or \"different\", not \"" + labels + "\"");
  s.same = labels == "same";
  const std::string kind = o.get_string("plane");
  if (kind != "samples" && kind != "directions")
    throw std::invalid_argument("option 'plane' must be \"samples\" or \"directions\", not \"" + kind + "\"");
  s.directions = kind == "directions";
  s.extent = o.get_real("extent");
  if (!(s.extent > 0) || !(s.extent <= 1e6))
    throw std::invalid_argument("option 'extent' must be in (0, 1e6], got " + std::to_string(s.extent));
  s.max_regions = o.get_count("max_regions", 1, 100000000);
  s.patterns = o.get_bool("patterns");
  s.checkpoints = o.get_string("checkpoints");
  genscope::check_checkpoints_option(s.checkpoints);
  return new plane_regions_analysis(std::move(s));
}

}  // namespace

GENSCOPE_PLUGIN_WITH_CAPABILITIES(genscope::plugin_kind::analysis, "plane_regions", "1.0.0",
                                  "exact linear regions and decision regions of a piecewise-linear network on a 2-D "
                                  "slice through three samples, as polygons (Novak et al. 2018, Figure 2)",
                                  options, &create, genscope::capability_piecewise_linear)
