// Sampler plugin "pairwise": probes x = x_i, d = x_j - x_i over pairs of samples with the same (or different) label.
#include <genscope/direction_sampler.hpp>
#include <genscope/plugin.hpp>
#include <genscope/random.hpp>
#include <genscope/sampling.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using genscope::option_spec;
using genscope::option_type;

const option_spec options[] = {
    {"count", option_type::integer, "1000", "number of probes"},
    {"same_label", option_type::boolean, "true",
     "pairs of samples with the same label; false pairs different labels (a control)"},
};

class pairwise_sampler final : public genscope::direction_sampler {
 public:
  pairwise_sampler(std::size_t count, bool same_label) : count_(count), same_label_(same_label) {}

  std::size_t probe_count() const override { return count_; }

 protected:
  void bind(const genscope::dataset& data, std::uint64_t /*seed: used per probe in fill()*/) override {
    const std::size_t n = data.size();
    genscope::require_labels(data);
    // Samples grouped by label: "the r-th other sample of the same label" and "the r-th
    // sample of another label" are index computations instead of rejection loops.
    groups_ = genscope::label_groups(data.labels);
    eligible_.clear();
    for (std::size_t i = 0; i < n; ++i)
      if (!same_label_ || groups_.group_size(i) >= 2) eligible_.push_back(i);
    if (same_label_ && eligible_.empty())
      throw std::runtime_error("pairwise: no label of data set '" + data.name +
                               "' has two samples, so there is no same-label pair (same_label = true)");
    if (!same_label_ && groups_.label_count() < 2)
      throw std::runtime_error("pairwise: data set '" + data.name +
                               "' has fewer than two labels, so there is no different-label pair "
                               "(same_label = false)");
  }

  void fill(std::size_t first, std::size_t count, genscope::probe_batch& out) const override {
    const genscope::dataset& data = this->data();
    const std::size_t dim = data.dim();
    const std::size_t n = data.size();
    for (std::size_t k = 0; k < count; ++k) {
      genscope::rng random(seed(), genscope::stream_key("pairwise"), first + k);
      const std::size_t i = eligible_[random.below(eligible_.size())];
      std::size_t j = 0;
      if (same_label_) {
        // Uniform among the other group_size - 1 members of the anchor's label.
        const std::array<std::size_t, 1> skip = {i};
        j = groups_.same_label(i, random.below(groups_.group_size(i) - 1), skip);
      } else {
        // Uniform among the n - group_size samples of other labels.
        j = groups_.other_label(i, random.below(n - groups_.group_size(i)));
      }
      out.anchor[k] = static_cast<std::int64_t>(i);
      out.partners[k] = {static_cast<std::int64_t>(j), -1};
      out.partner_t[k] = 1.0f;  // x + d = x_j
      out.kind[k] = same_label_ ? "pairwise" : "pairwise_diff";
      const float* xi = data.x.row(i);
      const float* xj = data.x.row(j);
      float* x = out.x.row(k);
      float* d = out.d.row(k);
      for (std::size_t c = 0; c < dim; ++c) {
        x[c] = xi[c];
        d[c] = xj[c] - xi[c];
      }
    }
  }

 private:
  std::size_t count_;
  bool same_label_;
  genscope::label_groups groups_;
  std::vector<std::size_t> eligible_;  // samples that can be anchors
};

genscope::plugin_object* create(const genscope::option_set& o) {
  return new pairwise_sampler(o.get_count("count", 1), o.get_bool("same_label"));
}

}  // namespace

GENSCOPE_PLUGIN(genscope::plugin_kind::sampler, "pairwise", "1.0.0",
                "pairs of training samples with the same label (or different labels): x = x_i, d = x_j - x_i",
                options, &create)
