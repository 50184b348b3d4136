// Figures of interactions tables in `genscope report`: generalizable and non-generalizable interaction strength per
// epoch next to the loss, their distribution over orders, and against the train-test loss gap (He et al. 2025).
#pragma once

#include "h5/h5.hpp"
#include "report/figures.hpp"
#include "report/sensitivity.hpp"

#include <functional>
#include <string>

namespace genscope::report {

/// Draws table `t` (an interactions `samples` table) of analysis `a` into `sec`: the dynamics figure, the strength
/// by order per epoch, and (with a reference model and two data sets) non-generalizable strength against the loss
/// gap; adds the per-epoch table to `sec.tables` and returns it for the CSV files. The final weights (epoch 0 in the
/// table) are placed at the model's trained epochs when its model file (found from `results`) says how many, else
/// one past the last checkpoint. Throws io_error naming the file and table when its columns do not fit each other.
table draw_interactions(const h5::group& root, const std::string& results, const analysis_info& a,
                        const analysis_table_info& t, figure_writer& fw, section& sec,
                        const std::function<void(const std::string&)>& note);

}  // namespace genscope::report
