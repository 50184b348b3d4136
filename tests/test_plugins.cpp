// Tests of the plugin registry: discovery, descriptors, object creation and every way a library is refused.
#include <genscope/error.hpp>
#include <genscope/plugin_registry.hpp>
#include <genscope/version.hpp>

#include "detail/edit_distance.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <string>

namespace {

using genscope::plugin_kind;

const std::string plugin_dir = GENSCOPE_TEST_PLUGIN_DIR;
const std::string test_plugin_dir = std::string(GENSCOPE_TEST_BINARY_DIR) + "/test-plugins";
const std::string abi_dir = test_plugin_dir + "/abi_mismatch";
const std::string defects_dir = test_plugin_dir + "/defects";

genscope::plugin_registry build_registry() {
  genscope::plugin_registry r;
  r.add_directory(plugin_dir);
  return r;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const genscope::plugin_refusal* refusal_of(const genscope::plugin_registry& r, const std::string& name) {
  for (const auto& x : r.refusals())
    if (x.name == name) return &x;
  return nullptr;
}

std::string refusal_reason(const std::string& library) {
  genscope::plugin_registry r;
  r.add_library(library);
  REQUIRE(r.plugins().empty());
  REQUIRE(r.refusals().size() == 1);
  return r.refusals()[0].reason;
}

// Sets an environment variable for one scope.
class scoped_env {
 public:
  scoped_env(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) {
      old_ = old;
      had_ = true;
    }
    ::setenv(name, value.c_str(), 1);
  }
  ~scoped_env() {
    if (had_) {
      ::setenv(name_, old_.c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

// A 1-D, two-class network: class 1 exactly where x > 0.5 (logits (0.5, x)).
class step_backend final : public genscope::network_backend {
 public:
  std::vector<std::size_t> input_shape() const override { return {1}; }
  std::size_t class_count() const override { return 2; }
  void logits(genscope::matrix_view x, genscope::matrix& out) const override {
    out.resize(x.rows, 2);
    for (std::size_t i = 0; i < x.rows; ++i) {
      out(i, 0) = 0.5f;
      out(i, 1) = x(i, 0);
    }
  }
  std::string model_digest() const override { return "step"; }
  std::string describe() const override { return "step at 0.5"; }
};

}  // namespace

TEST_CASE("the build's plugins are found with complete descriptors", "[interface]") {
  const auto r = build_registry();
  INFO("refusals: " << r.refusals().size());
  CHECK(r.refusals().empty());
  for (const auto& [kind, name] : {std::pair{plugin_kind::sampler, "pairwise"},
                                   std::pair{plugin_kind::estimator, "bisection"}}) {
    const genscope::plugin_info* p = r.find(kind, name);
    REQUIRE(p != nullptr);
    CHECK(p->name == name);
    CHECK(p->kind == kind);
    CHECK_FALSE(p->version.empty());
    CHECK_FALSE(p->description.empty());
    CHECK_FALSE(p->options.empty());
    CHECK(contains(p->path, "libgenscope_" + std::string(genscope::to_string(kind)) + "_" + name + ".so"));
    for (const auto& o : p->options) {
      CHECK(o.name != nullptr);
      CHECK(o.help != nullptr);
    }
  }
  const auto samplers = r.names(plugin_kind::sampler);
  CHECK(std::find(samplers.begin(), samplers.end(), "pairwise") != samplers.end());
  CHECK(std::is_sorted(samplers.begin(), samplers.end()));
  CHECK(&r.require(plugin_kind::estimator, "bisection") == r.find(plugin_kind::estimator, "bisection"));
}

TEST_CASE("option schemas carry the documented defaults", "[interface]") {
  const auto r = build_registry();
  auto default_of = [&](plugin_kind kind, const char* plugin, const std::string& option) -> std::string {
    for (const auto& o : r.require(kind, plugin).options)
      if (option == o.name) return o.default_value ? o.default_value : "(required)";
    return "(missing)";
  };
  CHECK(default_of(plugin_kind::sampler, "pairwise", "count") == "1000");
  CHECK(default_of(plugin_kind::sampler, "pairwise", "same_label") == "true");
  CHECK(default_of(plugin_kind::estimator, "bisection", "T") == "4.0");
  CHECK(default_of(plugin_kind::estimator, "bisection", "h") == "0.05");
  CHECK(default_of(plugin_kind::estimator, "bisection", "tol") == "1e-4");
  CHECK(default_of(plugin_kind::estimator, "bisection", "scan_chunk") == "16");
}

TEST_CASE("discover() searches GENSCOPE_PLUGIN_PATH first, then beside the executable", "[interface]") {
  const scoped_env env("GENSCOPE_PLUGIN_PATH", "/nonexistent/genscope:" + abi_dir + "::");
  const auto r = genscope::plugin_registry::discover();
  // From GENSCOPE_PLUGIN_PATH:
  const auto* refused = refusal_of(r, "abi_mismatch");
  REQUIRE(refused != nullptr);
  CHECK(refused->kind == plugin_kind::estimator);
  // From <exe dir>/../lib/genscope/plugins (test programs live in the build's bin/):
  CHECK(r.find(plugin_kind::sampler, "pairwise") != nullptr);
  CHECK(r.find(plugin_kind::estimator, "bisection") != nullptr);
}

TEST_CASE("the first library of a kind and name wins", "[boundary]") {
  auto r = build_registry();
  const std::size_t count = r.plugins().size();
  const std::string first_path = r.require(plugin_kind::sampler, "pairwise").path;
  r.add_directory(plugin_dir);
  r.add_library(plugin_dir + "/libgenscope_sampler_pairwise.so");
  CHECK(r.plugins().size() == count);
  CHECK(r.require(plugin_kind::sampler, "pairwise").path == first_path);
}

TEST_CASE("missing plugin folders are ignored", "[boundary]") {
  genscope::plugin_registry r;
  r.add_directory("/nonexistent/genscope/plugins");
  CHECK(r.plugins().empty());
  CHECK(r.refusals().empty());
}

TEST_CASE("objects are created with defaults filled in and integers widened", "[interface]") {
  const auto r = build_registry();
  auto sampler = r.create_sampler("pairwise", genscope::option_set{});
  REQUIRE(sampler != nullptr);
  genscope::option_set options;
  options.set("T", std::int64_t{2});  // an integer where a float is declared
  options.set("h", 0.25);
  auto estimator = r.create_estimator("bisection", options);
  REQUIRE(estimator != nullptr);

  step_backend net;
  genscope::probe_batch probes;
  probes.resize(1, 1);
  probes.x(0, 0) = 0.0f;
  probes.d(0, 0) = 1.0f;
  genscope::interval_batch out;
  estimator->estimate(net, probes, out);
  REQUIRE(out.size() == 1);
  CHECK(out.t_hi[0] == Approx(0.5).margin(1e-4));  // T = 2 was accepted: the boundary at 0.5 is found
  CHECK(out.t_lo[0] == -2.0);                       // and nothing changes down to -T
}

TEST_CASE("objects keep working after their registry is gone", "[interface]") {
  std::shared_ptr<genscope::interval_estimator> estimator;
  std::shared_ptr<genscope::direction_sampler> sampler;
  {
    const auto r = build_registry();
    estimator = r.create_estimator("bisection", genscope::option_set{});
    sampler = r.create_sampler("pairwise", genscope::option_set{});
  }
  genscope::dataset data;
  data.name = "tiny";
  data.shape = {1};
  data.x = genscope::matrix(2, 1);
  data.x(0, 0) = 0.0f;
  data.x(1, 0) = 1.0f;
  data.labels = {0, 0};
  data.class_count = 1;
  sampler->prepare(data, 7);
  genscope::probe_batch probes;
  sampler->sample(0, 4, probes);
  REQUIRE(probes.size() == 4);

  step_backend net;
  genscope::interval_batch out;
  estimator->estimate(net, probes, out);
  for (std::size_t k = 0; k < probes.size(); ++k) {
    // From 0 towards 1 the class changes at t = 0.5; from 1 towards 0 likewise.
    CHECK(out.t_hi[k] == Approx(0.5).margin(1e-4));
    CHECK(out.class_hi[k] == 1 - out.class0[k]);
  }
}

TEST_CASE("a factory error becomes plugin_error naming the plugin", "[negative]") {
  const auto r = build_registry();
  genscope::option_set options;
  options.set("count", std::int64_t{0});
  try {
    (void)r.create_sampler("pairwise", options);
    FAIL("count = 0 was accepted");
  } catch (const genscope::plugin_error& e) {
    CHECK(e.plugin() == "pairwise");
    CHECK(contains(e.what(), "plugin 'pairwise'"));
    CHECK(contains(e.what(), "count"));
  }
}

TEST_CASE("an unknown option is refused with a suggestion", "[negative]") {
  const auto r = build_registry();
  genscope::option_set options;
  options.set("cuont", std::int64_t{5});
  CHECK_THROWS_WITH(r.create_sampler("pairwise", options),
                    Catch::Contains("plugin 'pairwise'") && Catch::Contains("unknown option 'cuont'") &&
                        Catch::Contains("did you mean 'count'?"));
}

TEST_CASE("an option of the wrong type is refused", "[negative]") {
  const auto r = build_registry();
  genscope::option_set options;
  options.set("same_label", std::string("yes"));
  CHECK_THROWS_AS(r.create_sampler("pairwise", options), genscope::plugin_error);
  CHECK_THROWS_WITH(r.create_sampler("pairwise", options),
                    Catch::Contains("'same_label'") && Catch::Contains("bool"));
}

TEST_CASE("asking for a plugin of the wrong kind is refused", "[negative]") {
  const auto r = build_registry();
  CHECK_THROWS_AS(r.create_estimator("pairwise", genscope::option_set{}), genscope::plugin_error);
  CHECK_THROWS_AS(r.create_backend("bisection", genscope::option_set{}), genscope::plugin_error);
}

TEST_CASE("an unknown plugin name gives 'did you mean'", "[negative]") {
  const auto r = build_registry();
  CHECK_THROWS_WITH(r.require(plugin_kind::estimator, "bisecton"),
                    Catch::Contains("unknown estimator 'bisecton'") && Catch::Contains("did you mean 'bisection'?"));
  CHECK_THROWS_AS(r.create_sampler("pairwize", genscope::option_set{}), genscope::plugin_error);
}

TEST_CASE("an unknown plugin name far from every known one lists what is available", "[negative]") {
  const auto r = build_registry();
  CHECK_THROWS_WITH(r.require(plugin_kind::sampler, "zzzzzzzz"),
                    Catch::Contains("unknown sampler 'zzzzzzzz'") && Catch::Contains("available:") &&
                        Catch::Contains("pairwise"));
}

TEST_CASE("an empty registry says where it looked", "[negative]") {
  genscope::plugin_registry r;
  r.add_directory("/nonexistent/genscope/plugins");
  CHECK_THROWS_WITH(r.require(plugin_kind::backend, "native"),
                    Catch::Contains("no backend plugins were found in /nonexistent/genscope/plugins"));
}

TEST_CASE("a library built for another plugin API is refused with both versions", "[negative]") {
  genscope::plugin_registry r;
  r.add_directory(abi_dir);
  CHECK(r.plugins().empty());
  const auto* refused = refusal_of(r, "abi_mismatch");
  REQUIRE(refused != nullptr);
  CHECK(refused->kind == plugin_kind::estimator);
  CHECK(contains(refused->path, "libgenscope_estimator_abi_mismatch.so"));
  const std::string expected = "libgenscope_estimator_abi_mismatch.so (estimator 'abi_mismatch') was built for "
                               "plugin API 999, this GenScope speaks " +
                               std::to_string(genscope::plugin_api_version) +
                               ": rebuild it against this GenScope's headers";
  CHECK(refused->reason == expected);
  CHECK(genscope::runtime_plugin_api_version() == genscope::plugin_api_version);

  try {
    (void)r.require(plugin_kind::estimator, "abi_mismatch");
    FAIL("a refused plugin was required without error");
  } catch (const genscope::plugin_error& e) {
    CHECK(e.plugin() == "abi_mismatch");
    CHECK(contains(e.what(), expected));
  }
  CHECK_THROWS_WITH(r.create_estimator("abi_mismatch", genscope::option_set{}), Catch::Contains("API 999"));
}

TEST_CASE("a library without the descriptor symbol is refused", "[negative]") {
  const std::string reason = refusal_reason(defects_dir + "/libgenscope_sampler_no_descriptor.so");
  CHECK(contains(reason, "libgenscope_sampler_no_descriptor.so (sampler 'no_descriptor')"));
  CHECK(contains(reason, "genscope_plugin_descriptor"));
}

TEST_CASE("a library that cannot be loaded is refused with the loader's message", "[negative]") {
  genscope::testing::temp_dir dir("plugins");
  const std::string path = dir / "libgenscope_backend_garbage.so";
  genscope::testing::write_file(path, std::string(256, 'x'));  // long enough to be read as a header
  const std::string reason = refusal_reason(path);
  INFO(reason);
  CHECK(contains(reason, "libgenscope_backend_garbage.so (backend 'garbage') could not be loaded"));
  CHECK(contains(reason, "invalid ELF header"));  // the dynamic loader's own words
}

TEST_CASE("a library whose descriptor kind differs from its file name is refused", "[negative]") {
  const std::string reason = refusal_reason(defects_dir + "/libgenscope_estimator_kind_mismatch.so");
  CHECK(contains(reason, "declares kind 'sampler'"));
  CHECK(contains(reason, "file name says 'estimator'"));
}

TEST_CASE("a library whose descriptor name differs from its file name is refused", "[negative]") {
  const std::string reason = refusal_reason(defects_dir + "/libgenscope_sampler_name_mismatch.so");
  CHECK(contains(reason, "'other_name'"));
}

TEST_CASE("a library declaring an option twice is refused", "[negative]") {
  const std::string reason = refusal_reason(defects_dir + "/libgenscope_sampler_duplicate_option.so");
  CHECK(contains(reason, "option 'count' is declared twice"));
}

TEST_CASE("a library without a create function is refused", "[negative]") {
  const std::string reason = refusal_reason(defects_dir + "/libgenscope_sampler_null_create.so");
  CHECK(contains(reason, "no create function"));
}

TEST_CASE("a library with a default of the wrong type is refused", "[negative]") {
  const std::string reason = refusal_reason(defects_dir + "/libgenscope_sampler_bad_default.so");
  CHECK(contains(reason, "default of option 'count'"));
  CHECK(contains(reason, "'many'"));
}

TEST_CASE("a file not named like a plugin is refused without being loaded", "[negative]") {
  genscope::testing::temp_dir dir("plugins");
  const std::string path = dir / "libgenscope_widget_x.so";
  genscope::testing::write_file(path, "not loaded\n");
  const std::string reason = refusal_reason(path);
  CHECK(contains(reason, "libgenscope_widget_x.so is not named libgenscope_<kind>_<name>.so"));
}

TEST_CASE("a factory throwing a non-standard exception becomes plugin_error", "[negative]") {
  genscope::plugin_registry r;
  r.add_library(defects_dir + "/libgenscope_sampler_throws_int.so");
  REQUIRE(r.find(plugin_kind::sampler, "throws_int") != nullptr);
  CHECK_THROWS_WITH(r.create_sampler("throws_int", genscope::option_set{}),
                    Catch::Contains("plugin 'throws_int'") && Catch::Contains("not a std::exception"));
}

TEST_CASE("a factory returning null becomes plugin_error", "[negative]") {
  genscope::plugin_registry r;
  r.add_library(defects_dir + "/libgenscope_sampler_returns_null.so");
  CHECK_THROWS_WITH(r.create_sampler("returns_null", genscope::option_set{}),
                    Catch::Contains("plugin 'returns_null'") && Catch::Contains("returned no object"));
}

TEST_CASE("a folder of broken libraries yields only refusals and accepted-but-failing plugins", "[negative]") {
  genscope::plugin_registry r;
  r.add_directory(defects_dir);
  CHECK(r.refusals().size() == 6);
  CHECK(r.names(plugin_kind::sampler) ==
        std::vector<std::string>{"nan_direction", "returns_null", "short_fill", "throws_int"});
  for (const auto& x : r.refusals()) CHECK(contains(x.reason, x.name));
}

TEST_CASE("edit distance matches hand-counted values", "[interface]") {
  using genscope::detail::edit_distance;
  CHECK(edit_distance("", "") == 0);
  CHECK(edit_distance("abc", "") == 3);
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("bisecton", "bisection") == 1);
  CHECK(edit_distance("flaw", "lawn") == 2);
  CHECK(edit_distance("cuont", "count") == 1);  // a swap of neighbours is one edit
  CHECK(edit_distance("ca", "abc") == 3);       // optimal string alignment, not full Damerau (2)
  CHECK(genscope::detail::closest_name("pairwize", {"bisection", "pairwise"}) == "pairwise");
  CHECK(genscope::detail::closest_name("foo", {"scan", "native"}).empty());
}
