// The keys of [datasets.NAME] and [models.NAME.train] tables, mapped 1:1 onto dataset_spec and train_config.
#pragma once

#include "experiment/toml_reader.hpp"

#include <genscope/datasets.hpp>
#include <genscope/mlp.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace genscope::detail {

/// Every key a [datasets.NAME] table accepts, in documentation order.
const std::vector<std::string>& dataset_keys();

/// The sources a dataset key applies to ("idx", "cifar10", "synthetic", "hdf5"); none when it applies to every source.
std::vector<std::string> dataset_key_sources(const std::string& key);

/// Checks one dataset key's type and range and stores it in `spec` (`from` is checked, not stored).
void apply_dataset_field(const toml_reader& reader, dataset_spec& spec, const toml_field& f);

/// Every key a [models.NAME.train] table accepts.
const std::vector<std::string>& train_keys();

/// Reads a train table (`path` is its dotted path); unset fields keep train_config's defaults
/// except `seed`, which defaults to `default_seed` (the experiment's).
train_config read_train_config(const toml_reader& reader, const toml::table& table, const std::string& path,
                               std::uint64_t default_seed);

}  // namespace genscope::detail
