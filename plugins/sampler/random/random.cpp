// Sampler plugin "random": isotropic Gaussian unit directions at seeded anchors, the baseline direction kind.
#include <genscope/direction_sampler.hpp>
#include <genscope/plugin.hpp>
#include <genscope/random.hpp>
#include <genscope/sampling.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using genscope::option_spec;
using genscope::option_type;

const option_spec options[] = {
    {"anchors", option_type::integer, "200",
     "number of anchors, chosen like the local_pca sampler's (choose_samples, stream \"anchors\")"},
    {"per_anchor", option_type::integer, "1", "random unit directions per anchor"},
};

class random_sampler final : public genscope::direction_sampler {
 public:
  random_sampler(std::size_t anchors, std::size_t per_anchor) : anchors_count_(anchors), per_anchor_(per_anchor) {}

  void check(const genscope::dataset_shape& shape) const override { check_count(shape.count, "the data set"); }

  std::size_t probe_count() const override { return anchors_count_ * per_anchor_; }

 protected:
  void bind(const genscope::dataset& data, std::uint64_t seed) override {
    check_count(data.size(), "data set '" + data.name + "'");
    if (data.dim() == 0) throw std::runtime_error("data set '" + data.name + "' has samples of dimension 0");
    anchors_ = genscope::choose_samples(data.size(), anchors_count_, seed, "anchors");
  }

  void fill(std::size_t first, std::size_t count, genscope::probe_batch& out) const override {
    const genscope::dataset& data = this->data();
    const std::size_t dim = data.dim();
    for (std::size_t b = 0; b < count; ++b) {
      const std::size_t p = first + b;
      const std::size_t anchor = anchors_[p / per_anchor_];
      out.anchor[b] = static_cast<std::int64_t>(anchor);
      out.kind[b] = "random";
      const float* xa = data.x.row(anchor);
      std::copy(xa, xa + dim, out.x.row(b));
      genscope::rng random(seed(), genscope::stream_key("random"), p);
      genscope::random_unit_vector(random, out.d.row(b), dim);
    }
  }

 private:
  void check_count(std::size_t samples, const std::string& what) const {
    if (anchors_count_ > samples)
      throw std::invalid_argument("option 'anchors' = " + std::to_string(anchors_count_) + " exceeds the " +
                                  std::to_string(samples) + " samples of " + what);
  }

  std::size_t anchors_count_;
  std::size_t per_anchor_;
  std::vector<std::size_t> anchors_;  // choose_samples(N, anchors, seed, "anchors")
};

genscope::plugin_object* create(const genscope::option_set& o) {
  const std::size_t anchors = o.get_count("anchors", 1);
  const std::size_t per_anchor = o.get_count("per_anchor", 1);
  if (anchors * per_anchor > static_cast<std::size_t>(genscope::max_count))  // each <= 2^32: no overflow
    throw std::invalid_argument("options 'anchors' = " + std::to_string(anchors) + " and 'per_anchor' = " +
                                std::to_string(per_anchor) + " make more than 2^32 probes");
  return new random_sampler(anchors, per_anchor);
}

}  // namespace

GENSCOPE_PLUGIN(genscope::plugin_kind::sampler, "random", "1.0.0",
                "isotropic Gaussian unit directions at seeded anchors (the baseline): x = x_a, |d| = 1", options,
                &create)
