// The interval table of a run: its declared columns and the rows of one batch of probes.
#pragma once

#include <genscope/dataset.hpp>
#include <genscope/direction_sampler.hpp>
#include <genscope/export.hpp>
#include <genscope/interval_estimator.hpp>
#include <genscope/table.hpp>

#include <string>
#include <vector>

namespace genscope {

/// The columns of a run (docs/results-format.md), then the estimator's extra columns.
/// Throws genscope::error naming `estimator` when an extra column clashes with an interval column.
GENSCOPE_API table_spec interval_table_spec(const std::vector<column_spec>& extra, const std::string& estimator);

/// Rows of `spec` for one batch: the probes, the estimator's results (checked to hold one per
/// probe) and the derived columns (d_norm, length, clipped ends, the anchor's label in `data`
/// and whether it was corrupted). `owner` names the run in messages.
GENSCOPE_API void interval_rows(const table_spec& spec, const probe_batch& probes, const interval_batch& results,
                                const dataset& data, const std::string& owner, table_batch& out);

}  // namespace genscope
