// Fuzzes the directions file read by the `file` sampler, described as text (hdf5_from_text.hpp): loading, prepare() against a 4-dimensional data
// set and sampling every probe, each ending in probes or a genscope::error.
#include "fuzz_support.hpp"
#include "hdf5_from_text.hpp"

#include <genscope/datasets.hpp>
#include <genscope/direction_sampler.hpp>
#include <genscope/plugin_registry.hpp>

#include <algorithm>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  genscope::fuzz::enter_scratch_folder();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const genscope::plugin_registry plugins = genscope::plugin_registry::discover();
  static const genscope::dataset points = [] {
    genscope::dataset_spec spec;
    spec.source = "synthetic";
    spec.samples = 16;
    spec.dim = 4;
    spec.manifold_dim = 2;
    spec.classes = 2;
    return genscope::build_dataset(spec);
  }();
  genscope::option_set options;
  genscope::fuzz::write_hdf5_from_text(std::string(reinterpret_cast<const char*>(data), size), "directions.h5");
  options.set("path", std::string("directions.h5"));
  try {
    auto sampler = plugins.create_sampler("file", options);
    sampler->prepare(points, 1);
    genscope::probe_batch probes;
    const std::size_t n = sampler->probe_count();
    for (std::size_t first = 0; first < n; first += 64) sampler->sample(first, std::min<std::size_t>(64, n - first), probes);
  } catch (const genscope::error& e) {
    genscope::fuzz::refused(e);
  }
  return 0;
}
