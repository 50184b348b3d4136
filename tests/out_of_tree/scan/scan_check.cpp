// Check of the "scan" plugin: loaded through the plugin registry, run on a classifier with known class changes.
#include <genscope/error.hpp>
#include <genscope/plugin_registry.hpp>

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string>

namespace {

// f(x) on R^1: class 0 on [-0.83, 0.55), class 1 above, class 2 below.
class bands final : public genscope::network_backend {
 public:
  std::vector<std::size_t> input_shape() const override { return {1}; }
  std::size_t class_count() const override { return 3; }
  void logits(genscope::matrix_view x, genscope::matrix& out) const override {
    out.resize(x.rows, 3);
    for (std::size_t i = 0; i < x.rows; ++i) {
      const double s = x(i, 0);
      const int c = s >= 0.55 ? 1 : (s < -0.83 ? 2 : 0);
      for (std::size_t k = 0; k < 3; ++k) out(i, k) = static_cast<int>(k) == c ? 1.0f : 0.0f;
    }
  }
  std::string model_digest() const override { return "bands"; }
  std::string describe() const override { return "three bands on a line"; }
};

int failures = 0;

void expect(bool ok, const std::string& what) {
  std::cout << (ok ? "ok:   " : "FAIL: ") << what << '\n';
  if (!ok) ++failures;
}

bool near(double a, double b, double tol) { return std::abs(a - b) <= tol; }

// Runs an estimator on the probe x = 0, d = 1 and on a clipped probe x = 0, d = 0.01.
genscope::interval_batch run(const genscope::interval_estimator& e) {
  genscope::probe_batch probes;
  probes.resize(2, 1);
  probes.x(0, 0) = 0.0f;
  probes.d(0, 0) = 1.0f;
  probes.x(1, 0) = 0.0f;
  probes.d(1, 0) = 0.01f;
  genscope::interval_batch out;
  e.estimate(bands{}, probes, out);
  return out;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 2) {
    std::cerr << "usage: scan_check PLUGIN_FOLDER\n";
    return 2;
  }
  {
    genscope::plugin_registry registry;
    registry.add_directory(argv[1]);
    for (const auto& r : registry.refusals()) std::cout << "refused: " << r.reason << '\n';
    const genscope::plugin_info* info = registry.find(genscope::plugin_kind::estimator, "scan");
    expect(info != nullptr, "the registry accepts libgenscope_estimator_scan.so");
    if (info == nullptr) return 1;
    expect(info->options.size() == 2, "scan declares options T and h");

    genscope::option_set options;
    options.set("T", 2.0);
    options.set("h", 0.1);
    const auto out = run(*registry.create_estimator("scan", options));
    // Scan points are multiples of 0.1: the last agreeing ones are 0.5 and -0.8.
    expect(near(out.t_hi[0], 0.5, 1e-9) && out.class_hi[0] == 1, "t_hi = 0.5, class 1 beyond");
    expect(near(out.t_lo[0], -0.8, 1e-9) && out.class_lo[0] == 2, "t_lo = -0.8, class 2 beyond");
    expect(out.status[0] == 0 && out.cost[0] == 41, "no flags, 41 forward passes");
    expect(out.t_hi[1] == 2.0 && out.t_lo[1] == -2.0 &&
               out.status[1] == (genscope::status_clipped_hi | genscope::status_clipped_lo),
           "a probe without class change is clipped at +-T");

    options.set("h", 3.0);
    bool refused = false;
    try {
      (void)registry.create_estimator("scan", options);
    } catch (const genscope::plugin_error& e) {
      refused = std::string(e.what()).find("'h'") != std::string::npos;
    }
    expect(refused, "h > T is refused with a plugin_error naming 'h'");
  }

  // With GENSCOPE_PLUGIN_PATH pointing at an installed prefix, discover() finds this
  // plugin next to the installed ones, and scan agrees with bisection to within h.
  if (std::getenv("GENSCOPE_PLUGIN_PATH") != nullptr) {
    const auto registry = genscope::plugin_registry::discover();
    expect(registry.find(genscope::plugin_kind::estimator, "scan") != nullptr, "discover() finds scan");
    expect(registry.find(genscope::plugin_kind::estimator, "bisection") != nullptr, "discover() finds bisection");
    genscope::option_set options;
    options.set("T", 2.0);
    const auto bisection = run(*registry.create_estimator("bisection", options));
    const auto scan = run(*registry.create_estimator("scan", options));
    expect(near(bisection.t_hi[0], 0.55, 1e-4) && near(bisection.t_lo[0], -0.83, 1e-4),
           "bisection finds 0.55 and -0.83");
    expect(scan.t_hi[0] <= bisection.t_hi[0] && scan.t_hi[0] > bisection.t_hi[0] - 0.05 &&
               scan.t_lo[0] >= bisection.t_lo[0] && scan.t_lo[0] < bisection.t_lo[0] + 0.05,
           "scan is within h = 0.05 inside bisection's interval");
  }
  std::cout << (failures == 0 ? "all checks passed\n" : "some checks failed\n");
  return failures == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "scan_check: " << genscope::describe(e) << '\n';
  return 1;
}
