// Estimator plugin "scan": a plain fixed-step scan, t = +-h, +-2h, ... up to +-T, without bisection.
#include <genscope/interval_estimator.hpp>
#include <genscope/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

const genscope::option_spec options[] = {
    {"T", genscope::option_type::real, "4.0", "search limit: no class change is looked for beyond |t| = T"},
    {"h", genscope::option_type::real, "0.05", "scan step; the interval ends are only known to within h"},
};

// Reports, on each side, the last scan point whose class agrees with t = 0 (so the
// interval is underestimated by less than h) and the class at the next scan point.
class scan_estimator final : public genscope::interval_estimator {
 public:
  scan_estimator(double t_max, double h) : t_max_(t_max) {
    // Points k*h below T, then T itself: the same grid on both sides.
    for (std::size_t k = 1; static_cast<double>(k) * h < t_max * (1 - 1e-12); ++k)
      points_.push_back(static_cast<double>(k) * h);
    points_.push_back(t_max);
  }

  void estimate(const genscope::network_backend& net, const genscope::probe_batch& probes,
                genscope::interval_batch& out) const override {
    const std::size_t dim = net.input_dim();
    if (probes.size() > 0 && (probes.x.cols != dim || probes.d.cols != dim))
      throw std::invalid_argument("scan: probes are " + std::to_string(probes.x.cols) +
                                  " wide, the backend takes " + std::to_string(dim));
    out.resize(probes.size());
    const std::size_t per_side = points_.size();
    genscope::matrix rows(1 + 2 * per_side, dim);
    genscope::matrix logits;
    std::vector<int> classes;
    for (std::size_t p = 0; p < probes.size(); ++p) {
      const float* x = probes.x.row(p);
      const float* d = probes.d.row(p);
      // One forward per probe: t = 0, then the positive side, then the negative side.
      for (std::size_t r = 0; r < rows.rows; ++r) {
        const double t = r == 0 ? 0.0 : (r <= per_side ? points_[r - 1] : -points_[r - 1 - per_side]);
        for (std::size_t c = 0; c < dim; ++c) rows(r, c) = static_cast<float>(x[c] + t * d[c]);
      }
      net.logits(rows, logits);
      genscope::predict_classes(logits, classes);
      out.class0[p] = classes[0];
      out.cost[p] = rows.rows;
      if (std::all_of(d, d + dim, [](float v) { return v == 0.0f; })) {
        out.status[p] = genscope::status_zero_direction;
        continue;
      }
      if (classes[0] < 0) {
        out.status[p] = genscope::status_nonfinite;
        continue;
      }
      side(classes.data() + 1, classes[0], out.t_hi[p], out.class_hi[p], out.status[p],
           genscope::status_clipped_hi);
      side(classes.data() + 1 + per_side, classes[0], out.t_lo[p], out.class_lo[p], out.status[p],
           genscope::status_clipped_lo);
      out.t_lo[p] = -out.t_lo[p];
    }
  }

 private:
  void side(const int* classes, int c0, double& t, std::int32_t& cls, std::uint32_t& status,
            std::uint32_t clipped) const {
    t = 0;
    for (std::size_t k = 0; k < points_.size(); ++k) {
      if (classes[k] == c0) {
        t = points_[k];
        continue;
      }
      cls = classes[k];
      if (classes[k] < 0) status |= genscope::status_nonfinite;
      return;
    }
    t = t_max_;
    cls = -1;
    status |= clipped;
  }

  double t_max_;
  std::vector<double> points_;
};

genscope::plugin_object* create(const genscope::option_set& o) {
  const double t_max = o.get_real("T");
  const double h = o.get_real("h");
  if (!(t_max > 0) || !std::isfinite(t_max)) throw std::invalid_argument("option 'T' must be positive");
  if (!(h > 0) || h > t_max) throw std::invalid_argument("option 'h' must be in (0, T]");
  if (t_max / h > 1e6) throw std::invalid_argument("option 'h' is too small: more than 1e6 scan points per side");
  return new scan_estimator(t_max, h);
}

}  // namespace

GENSCOPE_PLUGIN(genscope::plugin_kind::estimator, "scan", "1.0.0",
                "generalization interval by a fixed-step scan up to T (no refinement)", options, &create)
