// GenScope's product version and the separate plugin interface version.
#pragma once

#include <genscope/export.hpp>

#include <cstdint>
#include <string>

namespace genscope {

/// Interface version of the plugin ABI (descriptor layout and the four plugin
/// interfaces). Bumped on any change a compiled plugin would notice; plugins
/// built for another value are refused. History: 2 added the piecewise-linear
/// view, descriptor capabilities and region counts in interval_batch; 3 added
/// direction_sampler::check and the tangent_dim / explained_variance probe columns; 4 added
/// the analysis kind, declared tables (table.hpp), estimators' extra columns (which now
/// carry the exact walk's breakpoints) and affine_operator::apply_transposed, and moved the
/// checks every sampler repeated into direction_sampler (prepare() and sample() non-virtual;
/// samplers implement the protected virtual bind() and fill()); 5 made the piecewise-linear
/// view a graph (piecewise_linear_graph: multi-input affine operators that accumulate, sparse
/// updates, and switches: ReLU, LeakyReLU, clip, max pooling); 6 added hidden activations
/// (network_backend::hidden_layers() and activations(), capability_hidden_activations); 7 added training
/// checkpoints (network_backend::checkpoint_epochs() and at_checkpoint()); 8 added an analysis's reference
/// model (analysis::takes_reference_model() and set_reference_model()).
inline constexpr std::uint32_t plugin_api_version = 8;

/// Product version, e.g. "0.1.0".
GENSCOPE_API const char* version() noexcept;

/// Git commit the core was built from ("unknown" outside a checkout; "-dirty" suffix
/// when the tree had uncommitted changes).
GENSCOPE_API const char* git_commit() noexcept;

/// Plugin interface version the loaded core speaks (plugin_api_version at its build).
GENSCOPE_API std::uint32_t runtime_plugin_api_version() noexcept;

}  // namespace genscope
