// PyTorch as the benches' reference: runs bench/torch_reference.py on the same network and probes and reads its figures.
#pragma once

#include "bench_support.hpp"

#include <genscope/direction_sampler.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#ifndef GENSCOPE_BENCH_SOURCE_DIR
#error "GENSCOPE_BENCH_SOURCE_DIR must name the source folder (bench/CMakeLists.txt)"
#endif

namespace genscope::bench {

inline std::string torch_script() { return std::string(GENSCOPE_BENCH_SOURCE_DIR) + "/bench/torch_reference.py"; }

/// What PyTorch measured (bench/torch_reference.py measure): its bisection's ends and time, and float32 inference.
struct torch_figures {
  bool ok = false;
  std::string note;               ///< why not, when !ok
  std::vector<double> t_lo, t_hi;  ///< per probe, in the order of the batches
  double bisection_s = 0;
  std::int64_t forward_calls = 0, rows_evaluated = 0;
  std::size_t infer_batch = 0;
  double infer_dense_s = 0, infer_mkldnn_s = 0;  ///< one batch of infer_batch inputs, best of 5
  int threads = 0;
  std::string version;
};

/// Runs `python3 bench/torch_reference.py ARGS`, its output into `log`; returns the last line of the log on failure
/// (empty on success).
inline std::string run_torch_script(const std::string& args, const std::filesystem::path& log) {
  const std::string command = "/usr/bin/python3 '" + torch_script() + "' " + args + " > '" + log.string() + "' 2>&1";
  if (std::system(command.c_str()) == 0) return "";
  std::ifstream in(log);
  std::string line, last = "bench/torch_reference.py failed";
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}

/// PyTorch's bisection (oneDNN, `threads` threads) on the probes of `batches`, and its inference at `infer_batch`.
/// kind and weights: as torch_reference.py measure takes them. A failure (no python3-torch, say) is returned as a
/// note, not thrown: the bench prints n/a.
inline torch_figures torch_measure(const std::string& kind, const std::string& weights,
                                   const std::vector<probe_batch>& batches, double t_max, double h, double tol,
                                   int threads, std::size_t infer_batch, const std::filesystem::path& scratch) {
  torch_figures f;
  try {
    std::filesystem::create_directories(scratch);
    const std::filesystem::path probes = scratch / (kind + "-probes.h5"), out = scratch / (kind + "-torch.h5");
    std::vector<float> x, d;
    std::size_t dim = 0;
    for (const probe_batch& b : batches) {
      dim = b.x.cols;
      x.insert(x.end(), b.x.data.begin(), b.x.data.end());
      d.insert(d.end(), b.d.data.begin(), b.d.data.end());
    }
    const std::size_t count = dim == 0 ? 0 : x.size() / dim;
    {
      const h5::file file = h5::file::create(probes.string());
      file.root().write("x", x, {count, dim});
      file.root().write("d", d, {count, dim});
    }
    char numbers[160];
    std::snprintf(numbers, sizeof numbers, " --T %.17g --h %.17g --tol %.17g --threads %d --batch %zu", t_max, h, tol,
                  threads, infer_batch);
    const std::string failure = run_torch_script("measure " + kind + " '" + weights + "' '" + probes.string() + "' '" +
                                                     out.string() + "'" + numbers,
                                                 scratch / (kind + "-torch.log"));
    if (!failure.empty()) {
      f.note = failure;
      return f;
    }
    const h5::file file = h5::file::open(out.string());
    const h5::group root = file.root();
    f.t_lo = root.read<double>("t_lo");
    f.t_hi = root.read<double>("t_hi");
    f.bisection_s = root.attr_double("bisection_seconds");
    f.forward_calls = root.attr_int("forward_calls");
    f.rows_evaluated = root.attr_int("rows_evaluated");
    f.infer_batch = static_cast<std::size_t>(root.attr_int("infer_batch"));
    f.infer_dense_s = root.attr_double("infer_dense_seconds");
    f.infer_mkldnn_s = root.attr_double("infer_mkldnn_seconds");
    f.threads = static_cast<int>(root.attr_int("threads"));
    f.version = root.attr_string("torch_version");
    if (f.t_lo.size() != count || f.t_hi.size() != count) {
      f.note = "torch_reference.py returned " + std::to_string(f.t_lo.size()) + " ends for " + std::to_string(count) +
               " probes";
      return f;
    }
    f.ok = true;
  } catch (const std::exception& e) {
    f.note = e.what();
  }
  return f;
}

}  // namespace genscope::bench
