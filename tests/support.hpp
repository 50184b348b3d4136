// Helpers shared by tests: temporary folders and running the genscope CLI as a user would.
#pragma once

#include <genscope/analysis.hpp>
#include <genscope/datasets.hpp>
#include <genscope/mlp.hpp>
#include <genscope/network_backend.hpp>
#include <genscope/plugin_registry.hpp>
#include <genscope/random.hpp>
#include <genscope/table.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>
#include <sys/wait.h>
#include <unistd.h>

namespace genscope::testing {

/// A fresh folder under /tmp, removed when the object goes away.
class temp_dir {
 public:
  explicit temp_dir(const std::string& tag) {
    std::string pattern = (std::filesystem::temp_directory_path() / ("genscope-" + tag + "-XXXXXX")).string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct cli_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs `genscope ARGS` (ARGS already shell-quoted) with optional environment prefix, e.g. "GENSCOPE_PLUGIN_PATH=x".
inline cli_result run_cli(const std::string& args, const std::string& env = "") {
  static int counter = 0;
  const std::string base = (std::filesystem::temp_directory_path() /
                            ("genscope-cli-" + std::to_string(::getpid()) + "-" + std::to_string(counter++)))
                               .string();
  const std::string cmd = env + (env.empty() ? "" : " ") + GENSCOPE_TEST_CLI + " " + args + " > " + base +
                          ".out 2> " + base + ".err < /dev/null";
  const int status = std::system(cmd.c_str());
  cli_result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(base + ".out");
  r.err = read_file(base + ".err");
  std::filesystem::remove(base + ".out");
  std::filesystem::remove(base + ".err");
  return r;
}

/// h5py's verdict on two results files (tests/compare_results.py, an independent reader): "" when equal,
/// timing, host and merge attributes aside; else the differences it lists.
inline std::string differences(const std::filesystem::path& a, const std::filesystem::path& b) {
  const std::filesystem::path out = a.string() + ".diff";
  const std::string cmd = std::string("/usr/bin/python3 ") + GENSCOPE_TEST_SOURCE_DIR + "/tests/compare_results.py '" +
                          a.string() + "' '" + b.string() + "' > '" + out.string() + "' 2>&1";
  const int status = std::system(cmd.c_str());
  const std::string text = read_file(out.string());
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  return text.empty() ? "compare_results.py failed" : text;
}

/// Writes `text` as dir/experiment.toml and returns its path.
inline std::string write_experiment(const temp_dir& dir, const std::string& text) {
  const std::string path = dir / "experiment.toml";
  write_file(path, text);
  return path;
}

/// `text` with its first `from` replaced by `to`; throws (failing the test) when `from` is absent.
inline std::string replace(std::string text, const std::string& from, const std::string& to) {
  const auto pos = text.find(from);
  if (pos == std::string::npos) throw std::logic_error("replace: '" + from + "' is not in the text");
  return text.replace(pos, from.size(), to);
}

inline int line_count(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

/// The build's plugins (pairwise, bisection, native, ...), loaded once per test executable.
inline const genscope::plugin_registry& build_plugins() {
  static const genscope::plugin_registry registry = [] {
    genscope::plugin_registry r;
    r.add_directory(GENSCOPE_TEST_PLUGIN_DIR);
    return r;
  }();
  return registry;
}

/// Analysis plugin `name` of the build with the given options.
inline std::shared_ptr<genscope::analysis> make_analysis(
    const std::string& name, const std::vector<std::pair<std::string, genscope::option_value>>& settings) {
  genscope::option_set o;
  for (const auto& [key, value] : settings) o.set(key, value);
  return build_plugins().create_analysis(name, o);
}

/// Every row of table `t` of a prepared analysis, in one compute() call.
inline genscope::table_batch whole_table(const genscope::analysis& a, std::size_t t) {
  genscope::table_batch out;
  out.reset(a.tables()[t], a.row_count(t));
  a.compute(t, 0, a.row_count(t), out);
  return out;
}

/// He-normal float weights and small normal biases; widths end with the classes. (The stream's name is that of its
/// first user, the transitions tests, so their networks stay the same.)
inline std::vector<genscope::dense_layer> random_net(std::size_t in, const std::vector<std::size_t>& widths,
                                                     std::uint64_t seed) {
  std::vector<genscope::dense_layer> layers;
  genscope::rng gen(seed, genscope::stream_key("transitions test net"));
  for (std::size_t out : widths) {
    genscope::dense_layer l{genscope::matrix(out, in), std::vector<float>(out)};
    for (float& w : l.weight.data) w = static_cast<float>(gen.normal() * std::sqrt(2.0 / static_cast<double>(in)));
    for (float& b : l.bias) b = static_cast<float>(0.1 * gen.normal());
    layers.push_back(std::move(l));
    in = out;
  }
  return layers;
}

/// The network saved as a model file in `dir` and opened through the native backend plugin, as the host does.
inline std::shared_ptr<genscope::network_backend> open_native(const temp_dir& dir, const std::string& name,
                                                              const genscope::mlp& net) {
  const std::string path = dir / (name + ".h5");
  genscope::save_model(path, net, genscope::training_record{});
  genscope::option_set o;
  o.set("path", path);
  return build_plugins().create_backend("native", o);
}

inline std::shared_ptr<genscope::network_backend> open_native(const temp_dir& dir, const std::string& name,
                                                              const std::vector<genscope::dense_layer>& layers) {
  return open_native(dir, name, genscope::mlp(layers, {layers.front().weight.cols}));
}

/// A data set of the given rows and labels (true labels the same).
inline genscope::dataset make_data(const std::string& name, const std::vector<std::vector<float>>& rows,
                                   const std::vector<std::int32_t>& labels) {
  genscope::dataset d;
  d.name = name;
  d.shape = {rows.front().size()};
  d.x = genscope::matrix(rows.size(), rows.front().size());
  for (std::size_t i = 0; i < rows.size(); ++i)
    for (std::size_t j = 0; j < rows[i].size(); ++j) d.x(i, j) = rows[i][j];
  d.labels = labels;
  d.true_labels = labels;
  for (std::int32_t y : labels) d.class_count = std::max(d.class_count, static_cast<std::size_t>(y) + 1);
  return d;
}

/// n standard normal samples of dimension dim, labels i % classes.
inline genscope::dataset gaussian_data(const std::string& name, std::size_t n, std::size_t dim, std::size_t classes,
                                       std::uint64_t seed) {
  genscope::rng gen(seed, genscope::stream_key("transitions test data"));
  std::vector<std::vector<float>> rows(n, std::vector<float>(dim));
  std::vector<std::int32_t> labels;
  for (std::size_t i = 0; i < n; ++i) {
    for (float& v : rows[i]) v = static_cast<float>(gen.normal());
    labels.push_back(static_cast<std::int32_t>(i % classes));
  }
  return make_data(name, rows, labels);
}

/// A small real network for oracle tests: 300 Fashion-MNIST training images (a seeded subset of
/// Debian's dataset-fashion-mnist) and a 784-32-32-10 MLP trained on them for 10 epochs (about 0.3 s).
struct small_fashion_net {
  genscope::dataset data;
  genscope::mlp net;
  double train_accuracy = 0;
};

inline small_fashion_net train_small_fashion_net() {
  genscope::dataset_spec spec;
  spec.name = "train";
  spec.source = "idx";
  spec.dir = "/usr/share/datasets/fashion-mnist";
  spec.split = "train";
  spec.subset = 300;
  spec.seed = 3;
  genscope::dataset data = genscope::build_dataset(spec);
  genscope::train_config cfg;
  cfg.hidden = {32, 32};
  cfg.epochs = 10;
  cfg.batch_size = 32;
  cfg.seed = 5;
  genscope::training_record record;
  genscope::mlp net = genscope::train_mlp(data, nullptr, cfg, record, {});
  return {std::move(data), std::move(net), record.epochs.back().train_accuracy};
}

}  // namespace genscope::testing
