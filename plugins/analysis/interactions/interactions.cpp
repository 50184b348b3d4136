// Analysis plugin "interactions": per sample and checkpoint, the AND-OR (Harsanyi) interactions between n input
// patches that exactly rebuild the network's output on all 2^n masked inputs, sparsified, and their generalizable
// part: the part a reference network (trained on held-out data) shares (Ren et al. 2023; He et al. 2025).
#include "harsanyi.hpp"

#include <genscope/analysis.hpp>
#include <genscope/memory.hpp>
#include <genscope/plugin.hpp>
#include <genscope/sampling.hpp>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using genscope::column_type;
using genscope::option_spec;
using genscope::option_type;
namespace hx = genscope::interactions;

const option_spec options[] = {
    {"points", option_type::integer, "10",
     "samples per data set: 0 = every sample in index order; else that many, choose_samples(N, points, seed, "
     "\"interactions\") in shuffle order"},
    {"grid", option_type::string, "3x3",
     "\"RxC\": the input variables are R x C patches of the input's last two axes (all channels of a patch "
     "together), numbered row by row; ignored when 'groups' is given"},
    {"groups", option_type::string, "",
     "a text file naming the input variables instead: one per line, its 0-based input indices separated by spaces "
     "or commas (blank lines and lines starting with # skipped); an index in at most one variable; inputs in none "
     "keep the sample's value"},
    {"baseline", option_type::string, "mean",
     "the value of a masked input: \"mean\" (each input's mean over the first data set), \"zero\", or "
     "\"patch_mean\" (one value per variable: the mean over its inputs and the first data set)"},
    {"output", option_type::string, "log_odds",
     "v(x_S): \"log_odds\" log(p_y / (1 - p_y)) of the softmax of the logits, or \"logit\" f_y; y is the target"},
    {"target", option_type::string, "label",
     "the class y: \"label\" (the label trained on), \"true_label\" (before any relabelling) or \"predicted\" (the "
     "argmax of the unmasked sample's logits)"},
    {"iterations", option_type::integer, "3000",
     "Adam steps of the sparsifying optimisation of the split gamma and noise q; 0: none (gamma = q = 0)"},
    {"learning_rate", option_type::real, "2",
     "Adam's first step size, times max_S |v(x_S) - v(x_{})| / phi^n (phi = 1.618..., the golden ratio: the growth "
     "of the Moebius transform's largest singular value per variable)"},
    {"final_learning_rate", option_type::real, "1e-5",
     "Adam's last step size, in the same units: the steps shrink geometrically from learning_rate; 0: a constant "
     "step"},
    {"noise_bound", option_type::real, "0.02", "the largest |q_T|, times |v(x_N) - v(x_{})|"},
    {"salient", option_type::real, "0.05",
     "an interaction is salient when |I(S)| >= salient times the largest |I| (AND or OR, nonempty S) of its row"},
    {"shared_fraction", option_type::real, "0.5",
     "with a reference model: a salient interaction is generalizable when the part the reference shares is at "
     "least this fraction of |I(S)|"},
    {"store_all", option_type::boolean, "false",
     "also store all 2^n outputs v, both kinds of interactions and the noise q of every row (ragged columns)"},
    genscope::checkpoints_option,
};

// Most input variables: 2^20 masked forward passes per sample and model.
constexpr std::size_t max_variables = 20;
// Masked inputs per forward pass; fixed, so that a row's values never depend on the thread count.
constexpr std::size_t masks_per_pass = 256;

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

enum class baseline_kind { mean, zero, patch_mean };
enum class output_kind { log_odds, logit };
enum class target_kind { label, true_label, predicted };

struct settings {
  std::size_t points = 10;
  std::size_t grid_rows = 3, grid_cols = 3;
  std::vector<std::vector<std::uint32_t>> groups;  // from the 'groups' file; empty: the grid
  std::string groups_file;
  baseline_kind baseline = baseline_kind::mean;
  output_kind output = output_kind::log_odds;
  target_kind target = target_kind::label;
  std::size_t iterations = 3000;
  double learning_rate = 2, final_learning_rate = 1e-5, noise_bound = 0.02, salient = 0.05, shared_fraction = 0.5;
  bool store_all = false;
  std::string checkpoints;

  std::size_t variables() const { return groups.empty() ? grid_rows * grid_cols : groups.size(); }
};

// Where one sample comes from.
struct point_ref {
  std::uint32_t set = 0;
  std::size_t index = 0;
};

// One model's outputs on the 2^n masked versions of a sample and their decomposition.
struct measured {
  std::vector<double> v;  // v(x_S) by mask
  hx::sparsify_settings settings;
  hx::and_or_split split;
};

class interactions_analysis final : public genscope::analysis {
 public:
  explicit interactions_analysis(settings s) : s_(std::move(s)) {}

  bool takes_reference_model() const override { return true; }
  void set_reference_model(const genscope::network_backend& reference) override { reference_ = &reference; }

  std::vector<genscope::table_spec> tables() const override {
    const std::size_t by_order = s_.variables() + 1;
    const auto ragged = genscope::ragged;
    return {{"samples",
             "one sample at one checkpoint: its AND-OR interactions between the input variables, by order, and the "
             "salient ones (one row per checkpoint measured, data set and sample)",
             {
                 {"dataset", column_type::string, 1, "name of the data set the sample is taken from", ""},
                 {"index", column_type::int64, 1, "index of the sample in its data set", ""},
                 {"epoch", column_type::int64, 1, "checkpoint epoch of the weights measured; 0 for the weights served",
                  ""},
                 {"label", column_type::int64, 1, "the sample's label (the label trained on)", ""},
                 {"target", column_type::int64, 1, "the class y whose output v is decomposed (option 'target')", ""},
                 {"correct", column_type::int64, 1, "1 when the unmasked sample's argmax is its label, else 0", "",
                  true},
                 {"loss", column_type::float64, 1, "cross-entropy of the unmasked sample at its label", "", true},
                 {"v_sample", column_type::float64, 1, "v(x_N): the output on the unmasked sample", "", true},
                 {"v_baseline", column_type::float64, 1, "v(x_{}): the output with every variable masked", "", true},
                 {"matching_error", column_type::float64, 1,
                  "max over S of |v(x_S) - the sum of the plain split's interactions (gamma = q = 0)| (universal "
                  "matching; rounding only)",
                  "", true},
                 {"noise_bound", column_type::float64, 1,
                  "tau = noise_bound times |v(x_N) - v(x_{})|: the bound on |q_T|, so the sparsified interactions "
                  "rebuild every v(x_S) within tau",
                  ""},
                 {"noise_max", column_type::float64, 1, "max |q_T| of the split found (<= tau)", ""},
                 {"objective_before", column_type::float64, 1,
                  "sum over nonempty S of |I_and(S)| + |I_or(S)| for the plain split (gamma = q = 0)", "", true},
                 {"objective", column_type::float64, 1, "the same sum for the sparsified split", "", true},
                 {"salient_and", column_type::int64, 1, "number of salient AND interactions", "", true},
                 {"salient_or", column_type::int64, 1, "number of salient OR interactions", "", true},
                 {"and_strength", column_type::float64, by_order,
                  "sum of |I_and(S)| over the S of each order 0..n (order 0: always 0)", ""},
                 {"or_strength", column_type::float64, by_order, "sum of |I_or(S)| over the S of each order 0..n", ""},
                 {"salient_by_order", column_type::int64, by_order, "salient interactions (AND and OR) of each order",
                  ""},
                 {"reference_v_sample", column_type::float64, 1,
                  "the reference model's v(x_N); NaN without a reference model", ""},
                 {"generalizable_strength", column_type::float64, by_order,
                  "per order, the sum over AND and OR interactions of |shared(S)|, the part the reference model's "
                  "interaction of the same kind and subset shares: sign(I) min(|I|, |I_ref|) when the signs agree, "
                  "else 0; NaN without a reference model",
                  ""},
                 {"nongeneralizable_strength", column_type::float64, by_order,
                  "per order, the sum of |I(S)| - |shared(S)|; NaN without a reference model", ""},
                 {"generalizable_count", column_type::int64, by_order,
                  "per order, salient interactions whose shared part is at least shared_fraction of |I(S)|; -1 "
                  "without a reference model",
                  ""},
                 {"nongeneralizable_count", column_type::int64, by_order,
                  "per order, the other salient interactions; -1 without a reference model", ""},
                 {"salient_mask", column_type::int64, ragged,
                  "each salient interaction's subset S as a mask (bit i: variable i), strongest first", ""},
                 {"salient_kind", column_type::int64, ragged, "0 for AND, 1 for OR", ""},
                 {"salient_effect", column_type::float64, ragged, "its I(S), signed", ""},
                 {"salient_shared", column_type::float64, ragged,
                  "shared(S) with the reference model; NaN without one", ""},
                 {"outputs", column_type::float64, ragged, "store_all: v(x_S) for every mask S = 0 .. 2^n - 1", ""},
                 {"and_effects", column_type::float64, ragged,
                  "store_all: I_and(S) for every mask (S = 0: v_and(x_{}))", ""},
                 {"or_effects", column_type::float64, ragged, "store_all: I_or(S) for every mask (S = 0: -v_or(x_N))",
                  ""},
                 {"noise", column_type::float64, ragged, "store_all: q_S for every mask", ""},
             },
             "dataset"}};
  }

  void check(const std::vector<genscope::dataset_shape>& data, std::size_t model_input_dim) const override {
    if (data.empty()) throw std::invalid_argument("interactions needs at least one data set (datasets = [...])");
    for (const genscope::dataset_shape& d : data)
      if (s_.points > d.count)
        throw std::invalid_argument("option 'points' = " + std::to_string(s_.points) + " exceeds the " +
                                    std::to_string(d.count) + " samples of data set '" + d.name + "'");
    check_groups(model_input_dim);
  }

  void prepare(const genscope::network_backend& model, const std::vector<const genscope::dataset*>& data,
               std::uint64_t seed) override {
    if (data.empty()) throw std::invalid_argument("interactions needs at least one data set (datasets = [...])");
    const std::size_t dim = model.input_dim();
    check_groups(dim);
    if (model.class_count() < 2)
      throw std::invalid_argument("interactions needs a model of at least 2 classes, this one has " +
                                  std::to_string(model.class_count()));
    variables_ = s_.groups.empty() ? grid_groups(model.input_shape()) : s_.groups;
    for (std::size_t i = 0; i < variables_.size(); ++i)
      if (variables_[i].empty())
        throw std::invalid_argument("option 'grid' = \"" + std::to_string(s_.grid_rows) + "x" +
                                    std::to_string(s_.grid_cols) + "\": patch " + std::to_string(i) +
                                    " holds no input (the input's last two axes are smaller than the grid)");
    std::vector<point_ref> rows;
    for (std::size_t s = 0; s < data.size(); ++s) {
      const genscope::dataset& set = *data[s];
      const std::string name = "data set '" + set.name + "'";
      if (set.dim() != dim)
        throw std::invalid_argument(name + " has samples of dimension " + std::to_string(set.dim()) +
                                    ", the model takes " + std::to_string(dim));
      genscope::require_labels(set);
      if (s_.points > set.size())
        throw std::invalid_argument("option 'points' = " + std::to_string(s_.points) + " exceeds the " +
                                    std::to_string(set.size()) + " samples of " + name);
      const std::vector<std::size_t> chosen = genscope::choose_points(set.size(), s_.points, seed, "interactions");
      for (const std::size_t i : chosen) {
        for (const std::int32_t y : {set.labels[i], set.true_labels.empty() ? set.labels[i] : set.true_labels[i]})
          if (y < 0 || static_cast<std::size_t>(y) >= model.class_count())
            throw std::invalid_argument(name + ": sample " + std::to_string(i) + " has label " + std::to_string(y) +
                                        ", not a class of the model's " + std::to_string(model.class_count()));
        rows.push_back({static_cast<std::uint32_t>(s), i});
      }
    }
    baseline_ = baseline_values(*data.front());
    epochs_.clear();
    models_.clear();
    for (const std::int64_t epoch : genscope::checkpoints_to_measure(model, s_.checkpoints)) {
      epochs_.push_back(epoch);
      models_.push_back(genscope::model_at_checkpoint(model, epoch));
    }
    // store_all keeps four values per mask of every row in the results: refuse a table that cannot fit.
    if (s_.store_all)
      genscope::check_allocation(4 * (std::uint64_t{1} << variables_.size()) * epochs_.size() * rows.size(),
                                 sizeof(double),
                                 "option 'store_all' (" + std::to_string(epochs_.size() * rows.size()) + " rows of 4 x 2^" +
                                     std::to_string(variables_.size()) + " values)");
    data_ = data;
    rows_ = std::move(rows);
  }

  std::size_t row_count(std::size_t table) const override {
    if (table != 0) throw std::out_of_range("interactions has one table (0), not " + std::to_string(table));
    return epochs_.size() * rows_.size();
  }

  void compute(std::size_t table, std::size_t first, std::size_t count, genscope::table_batch& out) const override {
    if (models_.empty()) throw std::logic_error("interactions: compute() before prepare()");
    if (first > row_count(table) || count > row_count(table) - first)
      throw std::out_of_range("interactions: rows [" + std::to_string(first) + ", " + std::to_string(first + count) +
                              ") beyond the table's " + std::to_string(row_count(table)));
    for (std::size_t r = 0; r < count; ++r) compute_row(first + r, r, out);
  }

 private:
  void check_groups(std::size_t dim) const {
    const std::size_t n = s_.variables();
    if (n == 0 || n > max_variables)
      throw std::invalid_argument("option '" + std::string(s_.groups.empty() ? "grid" : "groups") + "' makes " +
                                  std::to_string(n) + " input variables; between 1 and " +
                                  std::to_string(max_variables) + " are possible (2^n masked inputs per sample)");
    std::vector<bool> seen(dim, false);
    for (std::size_t g = 0; g < s_.groups.size(); ++g)
      for (const std::uint32_t i : s_.groups[g]) {
        if (i >= dim)
          throw std::invalid_argument("option 'groups' (" + s_.groups_file + "): variable " + std::to_string(g) +
                                      " names input " + std::to_string(i) + ", the model takes " +
                                      std::to_string(dim) + " inputs");
        if (seen[i])
          throw std::invalid_argument("option 'groups' (" + s_.groups_file + "): input " + std::to_string(i) +
                                      " is in two variables");
        seen[i] = true;
      }
  }

  // The grid's patches over the input shape's last two axes (rows, columns); every leading axis (channels) whole.
  std::vector<std::vector<std::uint32_t>> grid_groups(const std::vector<std::size_t>& shape) const {
    std::size_t height = 1, width = 1, planes = 1;
    if (shape.size() == 1) {
      width = shape[0];
    } else if (!shape.empty()) {
      height = shape[shape.size() - 2];
      width = shape.back();
      for (std::size_t k = 0; k + 2 < shape.size(); ++k) planes *= shape[k];
    }
    std::vector<std::vector<std::uint32_t>> groups(s_.grid_rows * s_.grid_cols);
    for (std::size_t p = 0; p < planes; ++p)
      for (std::size_t i = 0; i < height; ++i)
        for (std::size_t j = 0; j < width; ++j) {
          const std::size_t row = i * s_.grid_rows / height, col = j * s_.grid_cols / width;
          groups[row * s_.grid_cols + col].push_back(static_cast<std::uint32_t>((p * height + i) * width + j));
        }
    return groups;
  }

  std::vector<float> baseline_values(const genscope::dataset& d) const {
    std::vector<float> b(d.dim(), 0.0f);
    if (s_.baseline == baseline_kind::zero) return b;
    std::vector<double> mean(d.dim(), 0.0);
    for (std::size_t i = 0; i < d.size(); ++i) {
      const float* x = d.x.row(i);
      for (std::size_t j = 0; j < d.dim(); ++j) mean[j] += x[j];
    }
    for (double& m : mean) m /= static_cast<double>(d.size());
    if (s_.baseline == baseline_kind::patch_mean)
      for (const auto& group : variables_) {
        double sum = 0;
        for (const std::uint32_t j : group) sum += mean[j];
        for (const std::uint32_t j : group) mean[j] = sum / static_cast<double>(group.size());
      }
    for (std::size_t j = 0; j < d.dim(); ++j) b[j] = static_cast<float>(mean[j]);
    return b;
  }

  // log sum_k exp f_k over the classes k other than `skip` (skip = classes: all of them), in double, stably.
  static double log_sum_exp(const float* f, std::size_t classes, std::size_t skip) {
    double top = -std::numeric_limits<double>::infinity();
    for (std::size_t k = 0; k < classes; ++k)
      if (k != skip) top = std::max(top, static_cast<double>(f[k]));
    double sum = 0;
    for (std::size_t k = 0; k < classes; ++k)
      if (k != skip) sum += std::exp(static_cast<double>(f[k]) - top);
    return top + std::log(sum);
  }

  // log(p_y / (1 - p_y)) of the softmax p of the logits f.
  static double log_odds(const float* f, std::size_t classes, std::size_t y) {
    return static_cast<double>(f[y]) - log_sum_exp(f, classes, y);
  }

  // v(x_S) of `model` for every mask S, in fixed passes of masks_per_pass masked inputs, run in parallel.
  std::vector<double> outputs(const genscope::network_backend& model, const float* x, std::size_t y) const {
    const std::size_t size = std::size_t{1} << variables_.size(), dim = baseline_.size();
    const std::size_t classes = model.class_count();
    std::vector<double> v(size);
    const std::size_t passes = (size + masks_per_pass - 1) / masks_per_pass;
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, passes, 1), [&](const tbb::blocked_range<std::size_t>& range) {
      genscope::matrix in, logits;
      for (std::size_t pass = range.begin(); pass != range.end(); ++pass) {
        const std::size_t begin = pass * masks_per_pass, end = std::min(size, begin + masks_per_pass);
        in = genscope::matrix(end - begin, dim);
        for (std::size_t m = begin; m < end; ++m) {
          float* row = in.data.data() + (m - begin) * dim;
          std::copy(x, x + dim, row);  // inputs in no variable keep the sample's value
          for (std::size_t i = 0; i < variables_.size(); ++i)
            if (((m >> i) & 1u) == 0)
              for (const std::uint32_t j : variables_[i]) row[j] = baseline_[j];
        }
        model.logits(in, logits);
        for (std::size_t m = begin; m < end; ++m) {
          const float* f = logits.row(m - begin);
          v[m] = s_.output == output_kind::logit ? static_cast<double>(f[y]) : log_odds(f, classes, y);
        }
      }
    });
    return v;
  }

  measured measure(const genscope::network_backend& model, const float* x, std::size_t y) const {
    measured m;
    m.v = outputs(model, x, y);
    m.settings = hx::relative_settings(m.v, s_.iterations, s_.learning_rate, s_.final_learning_rate, s_.noise_bound);
    m.split = hx::decompose_and_or(m.v, m.settings);
    return m;
  }

  std::size_t target_class(const genscope::network_backend& model, const genscope::dataset& d, std::size_t i) const {
    switch (s_.target) {
      case target_kind::label: return static_cast<std::size_t>(d.labels[i]);
      case target_kind::true_label:
        return static_cast<std::size_t>(d.true_labels.empty() ? d.labels[i] : d.true_labels[i]);
      case target_kind::predicted: break;
    }
    genscope::matrix logits;
    model.logits(genscope::matrix_view(d.x.row(i), 1, d.dim()), logits);
    return static_cast<std::size_t>(std::max_element(logits.data.begin(), logits.data.end()) - logits.data.begin());
  }

  void compute_row(std::size_t row, std::size_t o, genscope::table_batch& out) const {
    const std::size_t e = row / rows_.size();
    const point_ref& p = rows_[row % rows_.size()];
    const genscope::dataset& d = *data_[p.set];
    const genscope::network_backend& model = *models_[e];
    const std::size_t n = variables_.size(), by_order = n + 1, size = std::size_t{1} << n;
    const float* x = d.x.row(p.index);
    const std::size_t y = target_class(model, d, p.index);
    const auto label = static_cast<std::size_t>(d.labels[p.index]);

    out.strings("dataset")[o] = d.name;
    out.ints("index")[o] = static_cast<std::int64_t>(p.index);
    out.ints("epoch")[o] = epochs_[e];
    out.ints("label")[o] = static_cast<std::int64_t>(label);
    out.ints("target")[o] = static_cast<std::int64_t>(y);
    {
      genscope::matrix logits;
      model.logits(genscope::matrix_view(x, 1, d.dim()), logits);
      const float* f = logits.row(0);
      const auto top = static_cast<std::size_t>(std::max_element(f, f + model.class_count()) - f);
      out.ints("correct")[o] = top == label ? 1 : 0;
      out.reals("loss")[o] = log_sum_exp(f, model.class_count(), model.class_count()) - static_cast<double>(f[label]);
    }

    const measured m = measure(model, x, y);
    const hx::and_or_split& split = m.split;
    out.reals("v_sample")[o] = m.v.back();
    out.reals("v_baseline")[o] = m.v.front();
    out.reals("matching_error")[o] = matching_error(m.v, s_.iterations == 0 ? split : plain_split(m.v));
    out.reals("noise_bound")[o] = std::isfinite(m.v.back() - m.v.front()) ? m.settings.noise_bound : nan;
    double noise_max = 0;
    for (const double q : split.noise) noise_max = std::max(noise_max, std::abs(q));
    out.reals("noise_max")[o] = noise_max;
    out.reals("objective_before")[o] = split.objective_before;
    out.reals("objective")[o] = split.objective;

    // The reference model's interactions on the same masked inputs, and the shared part of each.
    std::vector<double> shared_and(size, nan), shared_or(size, nan);
    if (reference_ != nullptr) {
      const measured ref = measure(*reference_, x, y);
      out.reals("reference_v_sample")[o] = ref.v.back();
      for (std::size_t s = 0; s < size; ++s) {
        shared_and[s] = shared(split.and_effects[s], ref.split.and_effects[s]);
        shared_or[s] = shared(split.or_effects[s], ref.split.or_effects[s]);
      }
    } else {
      out.reals("reference_v_sample")[o] = nan;
    }

    double largest = 0;
    for (std::size_t s = 1; s < size; ++s)
      largest = std::max({largest, std::abs(split.and_effects[s]), std::abs(split.or_effects[s])});
    const double threshold = s_.salient * largest;
    struct salient_one {
      std::uint64_t mask;
      std::int64_t kind;
      double effect, shared;
    };
    std::vector<salient_one> salient;
    const std::size_t base = o * by_order;  // row o's first value in the by-order columns
    auto& and_strength = out.reals("and_strength");
    auto& or_strength = out.reals("or_strength");
    auto& salient_by_order = out.ints("salient_by_order");
    auto& gen_strength = out.reals("generalizable_strength");
    auto& non_strength = out.reals("nongeneralizable_strength");
    auto& gen_count = out.ints("generalizable_count");
    auto& non_count = out.ints("nongeneralizable_count");
    const bool with_reference = reference_ != nullptr;
    for (std::size_t k = 0; k < by_order; ++k) {
      gen_strength[base + k] = with_reference ? 0.0 : nan;
      non_strength[base + k] = with_reference ? 0.0 : nan;
      gen_count[base + k] = with_reference ? 0 : -1;
      non_count[base + k] = with_reference ? 0 : -1;
    }
    std::int64_t salient_and = 0, salient_or = 0;
    for (std::size_t s = 1; s < size; ++s) {
      const std::size_t k = base + static_cast<std::size_t>(hx::order_of(s));
      and_strength[k] += std::abs(split.and_effects[s]);
      or_strength[k] += std::abs(split.or_effects[s]);
      for (const std::int64_t kind : {0, 1}) {
        const double effect = kind == 0 ? split.and_effects[s] : split.or_effects[s];
        const double part = kind == 0 ? shared_and[s] : shared_or[s];
        if (with_reference) {
          gen_strength[k] += std::abs(part);
          non_strength[k] += std::abs(effect) - std::abs(part);
        }
        if (!(std::abs(effect) >= threshold) || effect == 0) continue;
        ++salient_by_order[k];
        ++(kind == 0 ? salient_and : salient_or);
        salient.push_back({s, kind, effect, part});
        if (with_reference) ++(std::abs(part) >= s_.shared_fraction * std::abs(effect) ? gen_count[k] : non_count[k]);
      }
    }
    out.ints("salient_and")[o] = salient_and;
    out.ints("salient_or")[o] = salient_or;
    std::sort(salient.begin(), salient.end(), [](const salient_one& a, const salient_one& b) {
      if (std::abs(a.effect) != std::abs(b.effect)) return std::abs(a.effect) > std::abs(b.effect);
      if (a.kind != b.kind) return a.kind < b.kind;
      return a.mask < b.mask;
    });
    for (const salient_one& one : salient) {
      out.ints("salient_mask").push_back(static_cast<std::int64_t>(one.mask));
      out.ints("salient_kind").push_back(one.kind);
      out.reals("salient_effect").push_back(one.effect);
      out.reals("salient_shared").push_back(one.shared);
    }
    for (const char* column : {"salient_mask", "salient_kind", "salient_effect", "salient_shared"})
      out.counts(column)[o] = salient.size();
    if (s_.store_all) {
      for (const auto& [column, values] : {std::pair{"outputs", &m.v}, std::pair{"and_effects", &split.and_effects},
                                           std::pair{"or_effects", &split.or_effects}, std::pair{"noise", &split.noise}}) {
        out.reals(column).insert(out.reals(column).end(), values->begin(), values->end());
        out.counts(column)[o] = values->size();
      }
    }
  }

  static hx::and_or_split plain_split(const std::vector<double>& v) { return hx::decompose_and_or(v, {}); }

  // Universal matching of a split with no noise: the largest |v(x_S) - rebuilt(S)|.
  static double matching_error(const std::vector<double>& v, const hx::and_or_split& split) {
    const std::vector<double> rebuilt = hx::reconstruct(split, v.front() + split.noise.front());
    double worst = 0;
    for (std::size_t s = 0; s < v.size(); ++s) worst = std::max(worst, std::abs(v[s] - rebuilt[s]));
    return worst;
  }

  // The part of interaction `effect` the reference's `reference` shares: sign * min of the magnitudes when the
  // signs agree, else 0.
  static double shared(double effect, double reference) {
    if (effect > 0 && reference > 0) return std::min(effect, reference);
    if (effect < 0 && reference < 0) return std::max(effect, reference);
    return 0;
  }

  settings s_;
  const genscope::network_backend* reference_ = nullptr;
  std::vector<std::vector<std::uint32_t>> variables_;  // input indices of each variable
  std::vector<float> baseline_;                        // the masked value of every input
  std::vector<const genscope::dataset*> data_;
  std::vector<point_ref> rows_;
  std::vector<std::int64_t> epochs_;
  std::vector<std::shared_ptr<const genscope::network_backend>> models_;
};

// "RxC" with R, C >= 1.
std::pair<std::size_t, std::size_t> parse_grid(const std::string& text) {
  const auto x = text.find('x');
  auto number = [&](std::size_t from, std::size_t to) {
    std::size_t value = 0;
    const char* begin = text.data() + from;
    const char* end = text.data() + to;
    const auto [ptr, ec] = std::from_chars(begin, end, value);
    if (ec != std::errc() || ptr != end || value == 0 || begin == end)
      throw std::invalid_argument("option 'grid' = \"" + text + "\" must be \"RxC\" with R, C >= 1, e.g. \"3x3\"");
    return value;
  };
  if (x == std::string::npos) number(0, 0);
  return {number(0, x), number(x + 1, text.size())};
}

std::vector<std::vector<std::uint32_t>> read_groups(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("option 'groups': cannot read \"" + path + "\"");
  std::vector<std::vector<std::uint32_t>> groups;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    std::replace(line.begin(), line.end(), ',', ' ');
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    std::istringstream fields(line);
    std::vector<std::uint32_t> group;
    std::string field;
    while (fields >> field) {
      std::uint32_t index = 0;
      const auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), index);
      if (ec != std::errc() || ptr != field.data() + field.size())
        throw std::invalid_argument("option 'groups': \"" + path + "\" line " + std::to_string(number) + ": '" +
                                    field + "' is not an input index (a non-negative integer)");
      group.push_back(index);
    }
    groups.push_back(std::move(group));
  }
  if (groups.empty()) throw std::invalid_argument("option 'groups': \"" + path + "\" names no variable");
  return groups;
}

genscope::plugin_object* create(const genscope::option_set& o) {
  settings s;
  s.points = o.get_count("points", 0);
  std::tie(s.grid_rows, s.grid_cols) = parse_grid(o.get_string("grid"));
  s.groups_file = o.get_string("groups");
  if (!s.groups_file.empty()) s.groups = read_groups(s.groups_file);
  const std::string baseline = o.get_string("baseline");
  if (baseline == "mean") s.baseline = baseline_kind::mean;
  else if (baseline == "zero") s.baseline = baseline_kind::zero;
  else if (baseline == "patch_mean") s.baseline = baseline_kind::patch_mean;
  else throw std::invalid_argument("option 'baseline' = \"" + baseline + "\" must be \"mean\", \"zero\" or \"patch_mean\"");
  const std::string output = o.get_string("output");
  if (output == "log_odds") s.output = output_kind::log_odds;
  else if (output == "logit") s.output = output_kind::logit;
  else throw std::invalid_argument("option 'output' = \"" + output + "\" must be \"log_odds\" or \"logit\"");
  const std::string target = o.get_string("target");
  if (target == "label") s.target = target_kind::label;
  else if (target == "true_label") s.target = target_kind::true_label;
  else if (target == "predicted") s.target = target_kind::predicted;
  else
    throw std::invalid_argument("option 'target' = \"" + target + "\" must be \"label\", \"true_label\" or \"predicted\"");
  s.iterations = o.get_count("iterations", 0, 10'000'000);
  auto real = [&](const char* name, double low, double high) {
    const double value = o.get_real(name);
    if (!(value >= low && value <= high))
      throw std::invalid_argument("option '" + std::string(name) + "' = " + std::to_string(value) +
                                  " must be between " + std::to_string(low) + " and " + std::to_string(high));
    return value;
  };
  s.learning_rate = real("learning_rate", 0, 1e3);
  s.final_learning_rate = real("final_learning_rate", 0, 1e3);
  s.noise_bound = real("noise_bound", 0, 1e3);
  s.salient = real("salient", 0, 1);
  s.shared_fraction = real("shared_fraction", 0, 1);
  s.store_all = o.get_bool("store_all");
  s.checkpoints = o.get_string("checkpoints");
  genscope::check_checkpoints_option(s.checkpoints);
  return new interactions_analysis(std::move(s));
}

}  // namespace

GENSCOPE_PLUGIN(genscope::plugin_kind::analysis, "interactions", "1.0.0",
                "AND-OR (Harsanyi) interactions between input patches, sparsified, with the part a reference model "
                "shares (generalizable) by order, per sample and checkpoint (Ren et al. 2023; He et al. 2025)",
                options, &create)
