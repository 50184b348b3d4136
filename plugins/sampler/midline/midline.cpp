// Sampler plugin "midline": probes x = x_i, d = (x_j + x_k)/2 - x_i over triangles (i, j, k) of samples
// with the same label (or, as a control, j and k of labels other than i's).
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
     "triangles of three samples with the same label; false: j and k of labels other than i's (a control)"},
};

class midline_sampler final : public genscope::direction_sampler {
 public:
  midline_sampler(std::size_t count, bool same_label) : count_(count), same_label_(same_label) {}

  std::size_t probe_count() const override { return count_; }

 protected:
  void bind(const genscope::dataset& data, std::uint64_t /*seed: used per probe in fill()*/) override {
    const std::size_t n = data.size();
    genscope::require_labels(data);
    groups_ = genscope::label_groups(data.labels);
    eligible_.clear();
    for (std::size_t i = 0; i < n; ++i) {
      const bool ok = same_label_ ? groups_.group_size(i) >= 3 : n - groups_.group_size(i) >= 2;
      if (ok) eligible_.push_back(i);
    }
    if (same_label_ && eligible_.empty())
      throw std::runtime_error("midline: no label of data set '" + data.name +
                               "' has three samples, so there is no same-label triangle (same_label = true)");
    if (!same_label_ && groups_.label_count() < 2)
      throw std::runtime_error("midline: data set '" + data.name +
                               "' has fewer than two labels, so there is no mixed-label triangle "
                               "(same_label = false)");
    if (!same_label_ && eligible_.empty())
      throw std::runtime_error("midline: no sample of data set '" + data.name +
                               "' has two samples of other labels, so there is no mixed-label triangle "
                               "(same_label = false)");
  }

  void fill(std::size_t first, std::size_t count, genscope::probe_batch& out) const override {
    const genscope::dataset& data = this->data();
    const std::size_t dim = data.dim();
    const std::size_t n = data.size();
    for (std::size_t p = 0; p < count; ++p) {
      genscope::rng random(seed(), genscope::stream_key("midline"), first + p);
      const std::size_t i = eligible_[random.below(eligible_.size())];
      const std::size_t size = groups_.group_size(i);
      std::size_t j = 0;
      std::size_t k = 0;
      if (same_label_) {
        // j uniform among the size - 1 others of i's label, k among the size - 2 left.
        const std::array<std::size_t, 1> skip_i = {i};
        j = groups_.same_label(i, random.below(size - 1), skip_i);
        const std::array<std::size_t, 2> skip_ij = {i, j};
        k = groups_.same_label(i, random.below(size - 2), skip_ij);
      } else {
        // j uniform among the n - size samples of other labels, k among the n - size - 1 left.
        j = groups_.other_label(i, random.below(n - size));
        const std::array<std::size_t, 1> skip_j = {j};
        k = groups_.other_label(i, random.below(n - size - 1), skip_j);
      }
      out.anchor[p] = static_cast<std::int64_t>(i);
      out.partners[p] = {static_cast<std::int64_t>(j), static_cast<std::int64_t>(k)};
      out.partner_t[p] = 1.0f;  // x + d = (x_j + x_k)/2
      out.kind[p] = same_label_ ? "midline" : "midline_mixed";
      const float* xi = data.x.row(i);
      const float* xj = data.x.row(j);
      const float* xk = data.x.row(k);
      float* x = out.x.row(p);
      float* d = out.d.row(p);
      for (std::size_t c = 0; c < dim; ++c) {
        x[c] = xi[c];
        const double mid = (static_cast<double>(xj[c]) + static_cast<double>(xk[c])) / 2;
        d[c] = static_cast<float>(mid - static_cast<double>(xi[c]));
      }
    }
  }

 private:
  std::size_t count_;
  bool same_label_;
  genscope::label_groups groups_;
  std::vector<std::size_t> eligible_;  // samples that can be the vertex i
};

genscope::plugin_object* create(const genscope::option_set& o) {
  return new midline_sampler(o.get_count("count", 1), o.get_bool("same_label"));
}

}  // namespace

GENSCOPE_PLUGIN(genscope::plugin_kind::sampler, "midline", "1.0.0",
                "medians of same-label (or mixed-label) triangles of training samples: x = x_i, "
                "d = (x_j + x_k)/2 - x_i",
                options, &create)
