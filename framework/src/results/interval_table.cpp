// The interval table of a run: column declarations and the derivation of each row from probes and results.
#include "results/interval_table.hpp"

#include <genscope/error.hpp>

#include <fmt/format.h>

#include <cmath>

namespace genscope {

namespace {

const std::vector<column_spec>& interval_columns() {
  using t = column_type;
  static const std::vector<column_spec> columns{
      {"probe", t::int64, 1, "probe index (0, 1, ...)", ""},
      {"anchor", t::int64, 1, "data set index of the anchor x (-1 if not a sample)", ""},
      {"partner_1", t::int64, 1, "first index defining d (-1 when unused)", ""},
      {"partner_2", t::int64, 1, "second index defining d (-1 when unused)", ""},
      {"kind", t::string, 1, "direction kind", ""},
      {"anchor_label", t::int64, 1, "label of the anchor in the sampler's data set (-1 if none)", ""},
      {"anchor_corrupted", t::int64, 1, "1: the anchor's label differs from its source label; 0: it does not; -1: no anchor", ""},
      {"d_norm", t::float64, 1, "Euclidean norm of d", ""},
      {"t_lo", t::float64, 1, "lower end of the generalization interval, in units of d", ""},
      {"t_hi", t::float64, 1, "upper end of the generalization interval, in units of d", ""},
      {"length", t::float64, 1, "(t_hi - t_lo) * d_norm: interval length in input units (right-censored when an end is clipped)", ""},
      {"class", t::int64, 1, "predicted class at the anchor", ""},
      {"class_lo", t::int64, 1, "class just below t_lo (-1 when clipped)", ""},
      {"class_hi", t::int64, 1, "class just above t_hi (-1 when clipped)", ""},
      {"clipped_lo", t::int64, 1, "1 when t_lo reached -T without a class change", ""},
      {"clipped_hi", t::int64, 1, "1 when t_hi reached +T without a class change", ""},
      {"status", t::int64, 1, "status bits (docs/results-format.md)", ""},
      {"cost", t::int64, 1, "forward passes spent on the probe", ""},
      {"regions_lo", t::int64, 1, "linear regions crossed from t = 0 to t_lo (-1: not measured)", ""},
      {"regions_hi", t::int64, 1, "linear regions crossed from t = 0 to t_hi (-1: not measured)", ""},
      {"flips_lo", t::int64, 1, "unit sign changes between t_lo and 0 (-1: not measured)", ""},
      {"flips_hi", t::int64, 1, "unit sign changes between 0 and t_hi (-1: not measured)", ""},
      {"tangent_dim", t::int64, 1, "dimension of the local tangent space the direction came from (-1: unused)", ""},
      {"explained_variance", t::float64, 1, "fraction of the neighbourhood's variance the tangent space explains (-1: unused)", ""},
      {"partner_t", t::float64, 1, "t at which the line reaches the point its partners define (1: pairwise, midline; -1: none)", ""},
  };
  return columns;
}

template <class To, class From>
void copy_into(std::vector<To>& to, const std::vector<From>& from) {
  to.assign(from.begin(), from.end());
}

}  // namespace

table_spec interval_table_spec(const std::vector<column_spec>& extra, const std::string& estimator) {
  table_spec spec;
  spec.name = "intervals";
  spec.description = "one generalization interval per probe";
  spec.columns = interval_columns();
  spec.group_by = "kind";
  for (const column_spec& c : extra) {
    for (const column_spec& base : interval_columns())
      if (base.name == c.name)
        throw error(fmt::format("estimator '{}': its extra column '{}' clashes with the interval column of that name",
                                estimator, c.name));
    spec.columns.push_back(c);
  }
  check_table_spec(spec, "estimator '" + estimator + "'");
  return spec;
}

void interval_rows(const table_spec& spec, const probe_batch& probes, const interval_batch& results,
                   const dataset& data, const std::string& owner, table_batch& out) {
  const std::size_t n = probes.size();
  if (probes.tangent_dim.size() != n || probes.explained_variance.size() != n || probes.partner_t.size() != n ||
      probes.partners.size() != n ||
      probes.kind.size() != n || probes.d.rows != n)
    throw error(fmt::format("{}: the sampler returned a probe batch whose columns differ in length from its {} "
                            "anchors (probe_batch::resize shapes them)",
                            owner, n));
  if (results.size() != n)
    throw error(fmt::format("{}: the estimator returned {} results for {} probes", owner, results.size(), n));
  out.reset(spec, n);
  auto& probe = out.ints("probe");
  auto& p1 = out.ints("partner_1");
  auto& p2 = out.ints("partner_2");
  auto& label = out.ints("anchor_label");
  auto& corrupted = out.ints("anchor_corrupted");
  auto& norm = out.reals("d_norm");
  auto& length = out.reals("length");
  auto& clo = out.ints("clipped_lo");
  auto& chi = out.ints("clipped_hi");
  for (std::size_t k = 0; k < n; ++k) {
    probe[k] = static_cast<std::int64_t>(probes.first + k);
    p1[k] = probes.partners[k][0];
    p2[k] = probes.partners[k][1];
    const std::int64_t a = probes.anchor[k];
    const bool has_anchor = a >= 0 && static_cast<std::size_t>(a) < data.labels.size();
    const auto i = static_cast<std::size_t>(a);
    label[k] = has_anchor ? data.labels[i] : -1;
    corrupted[k] = !has_anchor ? -1 : i < data.true_labels.size() ? data.true_labels[i] != data.labels[i] : 0;
    double s = 0;
    const float* d = probes.d.row(k);
    for (std::size_t j = 0; j < probes.d.cols; ++j) s += static_cast<double>(d[j]) * d[j];
    norm[k] = std::sqrt(s);
    length[k] = (results.t_hi[k] - results.t_lo[k]) * norm[k];
    clo[k] = (results.status[k] & status_clipped_lo) != 0;
    chi[k] = (results.status[k] & status_clipped_hi) != 0;
  }
  copy_into(out.ints("anchor"), probes.anchor);
  out.strings("kind") = probes.kind;
  copy_into(out.reals("t_lo"), results.t_lo);
  copy_into(out.reals("t_hi"), results.t_hi);
  copy_into(out.ints("class"), results.class0);
  copy_into(out.ints("class_lo"), results.class_lo);
  copy_into(out.ints("class_hi"), results.class_hi);
  copy_into(out.ints("status"), results.status);
  copy_into(out.ints("cost"), results.cost);
  copy_into(out.ints("regions_lo"), results.regions_lo);
  copy_into(out.ints("regions_hi"), results.regions_hi);
  copy_into(out.ints("flips_lo"), results.flips_lo);
  copy_into(out.ints("flips_hi"), results.flips_hi);
  copy_into(out.ints("tangent_dim"), probes.tangent_dim);
  copy_into(out.reals("explained_variance"), probes.explained_variance);
  copy_into(out.reals("partner_t"), probes.partner_t);
  const std::size_t base = interval_columns().size();
  if (spec.columns.size() == base) return;
  // The estimator's own columns, checked against what it declared.
  table_spec extra;
  extra.name = spec.name;
  extra.columns.assign(spec.columns.begin() + static_cast<std::ptrdiff_t>(base), spec.columns.end());
  if (results.extra.rows() != n)
    throw error(fmt::format("{}: the estimator filled its extra columns for {} of {} probes", owner,
                            results.extra.rows(), n));
  results.extra.check(extra, owner + " (estimator's extra columns)");
  for (std::size_t k = 0; k < extra.columns.size(); ++k) out.copy_column(base + k, results.extra, k);
}

}  // namespace genscope
