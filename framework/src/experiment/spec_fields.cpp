// The keys of [datasets.NAME] and [models.NAME.train] tables, mapped 1:1 onto dataset_spec and train_config.
#include "experiment/spec_fields.hpp"

#include <fmt/format.h>

namespace genscope::detail {

const std::vector<std::string>& dataset_keys() {
  static const std::vector<std::string> keys{
      "source",       "from",          "dir",        "split",      "images", "labels",     "samples", "dim",
      "manifold_dim", "classes",       "cluster_spread", "separation", "noise", "path",   "x",          "y",
      "subset",       "label_mode",    "corruption", "seed", "transform", "pca_dim", "pca_fit"};
  return keys;
}

std::vector<std::string> dataset_key_sources(const std::string& key) {
  if (key == "dir" || key == "split") return {"idx", "cifar10"};
  if (key == "images" || key == "labels") return {"idx"};
  if (key == "samples" || key == "dim" || key == "manifold_dim" || key == "classes" || key == "cluster_spread" ||
      key == "separation" || key == "noise")
    return {"synthetic"};
  if (key == "path" || key == "x" || key == "y") return {"hdf5"};
  return {};
}

void apply_dataset_field(const toml_reader& reader, dataset_spec& spec, const toml_field& f) {
  const std::string& k = f.name;
  if (k == "source")
    spec.source = reader.get_choice(f, {"idx", "cifar10", "synthetic", "hdf5"});
  else if (k == "from")
    reader.get_string(f);
  else if (k == "dir")
    spec.dir = reader.get_string(f);
  else if (k == "split")  // idx takes train/t10k, cifar10 train/test: checked with the source, by validation
    spec.split = reader.get_choice(f, {"train", "t10k", "test"});
  else if (k == "images")
    spec.images = reader.get_string(f);
  else if (k == "labels")
    spec.labels = reader.get_string(f);
  else if (k == "samples")
    spec.samples = reader.get_count(f, 1);
  else if (k == "dim")
    spec.dim = reader.get_count(f, 1);
  else if (k == "manifold_dim")
    spec.manifold_dim = reader.get_count(f, 1);
  else if (k == "classes")
    spec.classes = reader.get_count(f, 1);
  else if (k == "cluster_spread")
    spec.cluster_spread = reader.get_real(f, real_range::non_negative);
  else if (k == "separation")
    spec.separation = reader.get_real(f, real_range::non_negative);
  else if (k == "noise")
    spec.noise = reader.get_real(f, real_range::non_negative);
  else if (k == "path")
    spec.path = reader.get_string(f);
  else if (k == "x")
    spec.x = reader.get_string(f);
  else if (k == "y")
    spec.y = reader.get_string(f);
  else if (k == "subset")
    spec.subset = reader.get_count(f, 0);
  else if (k == "label_mode") {
    spec.labels_mode = *label_mode_from_name(reader.get_choice(f, {"real", "random", "corrupt"}));
  } else if (k == "corruption") {
    spec.corruption = reader.get_real(f, real_range::non_negative);
    if (spec.corruption > 1)
      reader.fail(f.value_at(), fmt::format("{} = {} must be in [0, 1] (the fraction of labels changed)", f.path,
                                            spec.corruption));
  } else if (k == "transform")
    spec.transform = reader.get_choice(f, {"none", "avgpool2", "avgpool4", "pca"});
  else if (k == "pca_dim")
    spec.pca_dim = reader.get_count(f, 1);
  else if (k == "pca_fit")
    spec.pca_fit = reader.get_string(f);
  else if (k == "seed")
    spec.seed = reader.get_seed(f);
  else
    reader.unknown_key(f, dataset_keys(), fmt::format("in [{}]", f.path.substr(0, f.path.rfind('.'))));
}

const std::vector<std::string>& train_keys() {
  static const std::vector<std::string> keys{"hidden", "optimizer",    "learning_rate", "momentum", "beta1",
                                             "beta2",  "epsilon",      "weight_decay",  "epochs",   "batch_size",
                                             "init",   "init_scale",   "seed",          "target_accuracy",
                                             "checkpoints"};
  return keys;
}

train_config read_train_config(const toml_reader& reader, const toml::table& table, const std::string& path,
                               std::uint64_t default_seed) {
  train_config c;
  c.seed = default_seed;
  for (const toml_field& f : reader.fields(table, path)) {
    const std::string& k = f.name;
    if (k == "hidden")
      c.hidden = reader.get_count_array(f, 1);
    else if (k == "optimizer")
      c.optimizer = reader.get_choice(f, {"adam", "sgd"});
    else if (k == "learning_rate")
      c.learning_rate = reader.get_real(f, real_range::positive);
    else if (k == "momentum")
      c.momentum = reader.get_real(f, real_range::unit_interval_open);
    else if (k == "beta1")
      c.beta1 = reader.get_real(f, real_range::unit_interval_open);
    else if (k == "beta2")
      c.beta2 = reader.get_real(f, real_range::unit_interval_open);
    else if (k == "epsilon")
      c.epsilon = reader.get_real(f, real_range::positive);
    else if (k == "weight_decay")
      c.weight_decay = reader.get_real(f, real_range::non_negative);
    else if (k == "epochs")
      c.epochs = reader.get_count(f, 0);
    else if (k == "batch_size")
      c.batch_size = reader.get_count(f, 1);
    else if (k == "init")
      c.init = reader.get_choice(f, {"he", "glorot", "lecun"});
    else if (k == "init_scale")
      c.init_scale = reader.get_real(f, real_range::positive);
    else if (k == "seed")
      c.seed = reader.get_seed(f);
    else if (k == "target_accuracy") {
      const double t = reader.get_real(f, real_range::any);  // refuses NaN and inf
      if (!(t > 0 && t <= 1)) reader.fail(f.value_at(), fmt::format("'{}' must lie in (0, 1], not {}", f.path, t));
      c.target_accuracy = t;
    } else if (k == "checkpoints") {
      c.checkpoints = reader.get_count_array(f, 1);
      for (std::size_t i = 1; i < c.checkpoints.size(); ++i)
        if (c.checkpoints[i] <= c.checkpoints[i - 1])
          reader.fail(f.value_at(), fmt::format("'{}' must be strictly ascending: {} follows {}", f.path,
                                                c.checkpoints[i], c.checkpoints[i - 1]));
    } else
      reader.unknown_key(f, train_keys(), fmt::format("in [{}]", path));
  }
  return c;
}

}  // namespace genscope::detail
