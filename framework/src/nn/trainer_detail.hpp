// Private hooks into the trainer, so tests can check its gradient and initialization against oracles.
#pragma once

#include <genscope/export.hpp>
#include <genscope/matrix.hpp>
#include <genscope/mlp.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace genscope::detail {

/// Mean softmax cross-entropy of the network `layers` on the rows of `x` with
/// `labels`, and its gradient with respect to every weight and bias (resized to
/// the shapes of `layers`), computed by the trainer's own minibatch code.
GENSCOPE_API double loss_and_gradient(const std::vector<dense_layer>& layers, matrix_view x,
                                      const std::vector<std::int32_t>& labels, std::vector<dense_layer>& gradient);

/// The layers train_mlp starts from for this configuration (config.init,
/// config.init_scale, config.seed; biases zero). Validates hidden widths and init.
GENSCOPE_API std::vector<dense_layer> initial_layers(std::size_t input_dim, std::size_t classes,
                                                     const train_config& config);

}  // namespace genscope::detail
