// Test plugins with one defect each (GENSCOPE_TEST_DEFECT selects which); see tests/test_plugins.cpp
// (defects 1 to 8), tests/test_analyses.cpp (9 to 14: analyses and an estimator that load but misbehave)
// and tests/test_plugin_faults.cpp (15 to 21: wrong lengths, NaN, foreign exceptions, an aborting factory).
#include <genscope/analysis.hpp>
#include <genscope/direction_sampler.hpp>
#include <genscope/interval_estimator.hpp>
#include <genscope/network_backend.hpp>
#include <genscope/plugin.hpp>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using genscope::option_spec;
using genscope::option_type;

class empty_sampler final : public genscope::direction_sampler {
 public:
  std::size_t probe_count() const override { return 0; }

 protected:
  void bind(const genscope::dataset&, std::uint64_t) override {}
  void fill(std::size_t, std::size_t, genscope::probe_batch&) const override {}
};

[[maybe_unused]] genscope::plugin_object* create_empty(const genscope::option_set&) { return new empty_sampler; }

constexpr int defect = GENSCOPE_TEST_DEFECT;

/// One table "values", a row per sample of the first data set (its index and first coordinate), bent by
/// the defect: 9 a column name outside [a-z0-9_]+, 10 a column declared twice, 11 the table declared twice,
/// 12 a batch one value short in column "value" from row 16 on, 13 compute() throws from row 16 on.
class defect_analysis final : public genscope::analysis {
 public:
  std::vector<genscope::table_spec> tables() const override {
    using genscope::column_type;
    genscope::table_spec t{"values", "one row per sample of the first data set",
                           {{"index", column_type::int64, 1, "sample index", "", false},
                            {"value", column_type::float64, 1, "the sample's first coordinate", "", true}},
                           ""};
    if constexpr (defect == 9) t.columns[1].name = "Value-1";
    if constexpr (defect == 10) t.columns[1].name = "index";
    std::vector<genscope::table_spec> out{t};
    if constexpr (defect == 11) out.push_back(t);
    return out;
  }
  void prepare(const genscope::network_backend&, const std::vector<const genscope::dataset*>& data,
               std::uint64_t) override {
    data_ = data.at(0);
  }
  std::size_t row_count(std::size_t) const override { return data_->size(); }
  void compute(std::size_t, std::size_t first, std::size_t count, genscope::table_batch& out) const override {
    if (defect == 13 && first >= 16)
      throw std::runtime_error("compute_throws cannot compute row " + std::to_string(first));
    for (std::size_t i = 0; i < count; ++i) {
      out.ints("index")[i] = static_cast<std::int64_t>(first + i);
      out.reals("value")[i] = data_->x(first + i, 0);
    }
    if (defect == 12 && first >= 16) out.reals("value").pop_back();
  }

 private:
  const genscope::dataset* data_ = nullptr;
};

[[maybe_unused]] genscope::plugin_object* create_analysis(const genscope::option_set&) { return new defect_analysis; }

/// An estimator whose extra column is named like an interval column (defect 14).
class clashing_estimator final : public genscope::interval_estimator {
 public:
  void estimate(const genscope::network_backend&, const genscope::probe_batch& probes,
                genscope::interval_batch& out) const override {
    out.resize(probes.size());
  }
  std::vector<genscope::column_spec> extra_columns() const override {
    return {{"t_lo", genscope::column_type::float64, 1, "clashes with the interval column t_lo", "", false}};
  }
};

[[maybe_unused]] genscope::plugin_object* create_clashing(const genscope::option_set&) {
  return new clashing_estimator;
}

/// A pairwise-like sampler (probe i: x = sample i, d = sample i+1 - sample i) whose fill() breaks its
/// contract: 15 one `kind` short, 16 a NaN in d.
class faulty_sampler final : public genscope::direction_sampler {
 public:
  std::size_t probe_count() const override { return data().size() - 1; }

 protected:
  void bind(const genscope::dataset&, std::uint64_t) override {}
  void fill(std::size_t first, std::size_t count, genscope::probe_batch& out) const override {
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t a = first + i;
      out.anchor[i] = static_cast<std::int64_t>(a);
      out.kind[i] = "faulty";
      for (std::size_t k = 0; k < data().dim(); ++k) {
        out.x(i, k) = data().x(a, k);
        out.d(i, k) = data().x(a + 1, k) - data().x(a, k);
      }
    }
    if (defect == 15) out.kind.pop_back();
    if (defect == 16 && count > 0) out.d(count - 1, 0) = std::numeric_limits<float>::quiet_NaN();
  }
};

[[maybe_unused]] genscope::plugin_object* create_faulty_sampler(const genscope::option_set&) {
  return new faulty_sampler;
}

/// An estimator that breaks its contract: 17 t_hi NaN, 18 one t_hi short, 19 throws an int.
class faulty_estimator final : public genscope::interval_estimator {
 public:
  void estimate(const genscope::network_backend&, const genscope::probe_batch& probes,
                genscope::interval_batch& out) const override {
    out.resize(probes.size());
    if (defect == 17 && !out.t_hi.empty()) out.t_hi.back() = std::numeric_limits<double>::quiet_NaN();
    if (defect == 18 && !out.t_hi.empty()) out.t_hi.pop_back();
    if (defect == 19) throw 42;
  }
};

[[maybe_unused]] genscope::plugin_object* create_faulty_estimator(const genscope::option_set&) {
  return new faulty_estimator;
}

/// A 20-input, 4-class backend whose logits() returns 3 columns and whose hidden layer "hidden" one row too few
/// (defect 21).
class faulty_backend final : public genscope::network_backend {
 public:
  std::vector<std::size_t> input_shape() const override { return {20}; }
  std::size_t class_count() const override { return 4; }
  void logits(genscope::matrix_view x, genscope::matrix& out) const override { out = genscope::matrix(x.rows, 3); }
  std::vector<std::string> hidden_layers() const override { return {"hidden"}; }
  void activations(const std::string&, genscope::matrix_view x, genscope::matrix& out) const override {
    out = genscope::matrix(x.rows - 1, 5);
  }
  std::string model_digest() const override { return "faulty"; }
  std::string describe() const override { return "a backend with too few logits"; }
};

[[maybe_unused]] genscope::plugin_object* create_faulty_backend(const genscope::option_set&) {
  return new faulty_backend;
}

}  // namespace

#if GENSCOPE_TEST_DEFECT == 1
// no_descriptor: an ordinary library that exports something else.
extern "C" GENSCOPE_PLUGIN_EXPORT int genscope_not_a_descriptor() { return 1; }

#elif GENSCOPE_TEST_DEFECT == 2
// kind_mismatch: file name says estimator, descriptor says sampler.
namespace {
const option_spec options[] = {{"count", option_type::integer, "1", "unused"}};
}
GENSCOPE_PLUGIN(genscope::plugin_kind::sampler, "kind_mismatch", "1.0.0", "wrong kind", options, &create_empty)

#elif GENSCOPE_TEST_DEFECT == 3
// duplicate_option: two options named the same.
namespace {
const option_spec options[] = {{"count", option_type::integer, "1", "first"},
                               {"count", option_type::real, "2.0", "second"}};
}
GENSCOPE_PLUGIN(genscope::plugin_kind::sampler, "duplicate_option", "1.0.0", "duplicate", options, &create_empty)

#elif GENSCOPE_TEST_DEFECT == 4
// null_create: no factory.
namespace {
const option_spec options[] = {{"count", option_type::integer, "1", "unused"}};
}
GENSCOPE_PLUGIN(genscope::plugin_kind::sampler, "null_create", "1.0.0", "no factory", options, nullptr)

#elif GENSCOPE_TEST_DEFECT == 5
// bad_default: a default that is not of the declared type.
namespace {
const option_spec options[] = {{"count", option_type::integer, "many", "unused"}};
}
GENSCOPE_PLUGIN(genscope::plugin_kind::sampler, "bad_default", "1.0.0", "bad default", options, &create_empty)

#elif GENSCOPE_TEST_DEFECT == 6
// throws_int: accepted, but its factory throws something that is not a std::exception.
namespace {
const option_spec options[] = {{"count", option_type::integer, "1", "unused"}};
genscope::plugin_object* create_throwing(const genscope::option_set&) { throw 42; }
}  // namespace
GENSCOPE_PLUGIN(genscope::plugin_kind::sampler, "throws_int", "1.0.0", "throws an int", options, &create_throwing)

#elif GENSCOPE_TEST_DEFECT == 7
// returns_null: accepted, but its factory returns no object.
namespace {
const option_spec options[] = {{"count", option_type::integer, "1", "unused"}};
genscope::plugin_object* create_null(const genscope::option_set&) { return nullptr; }
}  // namespace
GENSCOPE_PLUGIN(genscope::plugin_kind::sampler, "returns_null", "1.0.0", "returns null", options, &create_null)

#elif GENSCOPE_TEST_DEFECT == 8
// name_mismatch: file name says name_mismatch, descriptor says something else.
namespace {
const option_spec options[] = {{"count", option_type::integer, "1", "unused"}};
}
GENSCOPE_PLUGIN(genscope::plugin_kind::sampler, "other_name", "1.0.0", "wrong name", options, &create_empty)

#elif GENSCOPE_TEST_DEFECT >= 9 && GENSCOPE_TEST_DEFECT <= 13
// Analyses accepted by the registry that declare bad tables or misbehave in compute() (see defect_analysis).
namespace {
const option_spec options[] = {{"unused", option_type::integer, "0", "unused"}};
}
#if GENSCOPE_TEST_DEFECT == 9
#define DEFECT_NAME "bad_column_name"
#elif GENSCOPE_TEST_DEFECT == 10
#define DEFECT_NAME "duplicate_column"
#elif GENSCOPE_TEST_DEFECT == 11
#define DEFECT_NAME "duplicate_table"
#elif GENSCOPE_TEST_DEFECT == 12
#define DEFECT_NAME "wrong_count"
#else
#define DEFECT_NAME "compute_throws"
#endif
GENSCOPE_PLUGIN(genscope::plugin_kind::analysis, DEFECT_NAME, "1.0.0", "misbehaving analysis", options,
                &create_analysis)

#elif GENSCOPE_TEST_DEFECT == 14
// extra_clash: an estimator whose extra column clashes with the interval column t_lo.
namespace {
const option_spec options[] = {{"unused", option_type::integer, "0", "unused"}};
}
GENSCOPE_PLUGIN(genscope::plugin_kind::estimator, "extra_clash", "1.0.0", "clashing extra column", options,
                &create_clashing)

#elif GENSCOPE_TEST_DEFECT == 15 || GENSCOPE_TEST_DEFECT == 16
namespace {
const option_spec options[] = {{"unused", option_type::integer, "0", "unused"}};
}
GENSCOPE_PLUGIN(genscope::plugin_kind::sampler, GENSCOPE_TEST_DEFECT == 15 ? "short_fill" : "nan_direction", "1.0.0",
                "a sampler whose fill() breaks its contract", options, &create_faulty_sampler)

#elif GENSCOPE_TEST_DEFECT >= 17 && GENSCOPE_TEST_DEFECT <= 19
namespace {
const option_spec options[] = {{"unused", option_type::integer, "0", "unused"}};
}
GENSCOPE_PLUGIN(genscope::plugin_kind::estimator,
                GENSCOPE_TEST_DEFECT == 17 ? "nan_interval" : GENSCOPE_TEST_DEFECT == 18 ? "short_result" : "throws_int_estimate",
                "1.0.0", "an estimator that breaks its contract", options, &create_faulty_estimator)

#elif GENSCOPE_TEST_DEFECT == 20
// aborting_factory: an analysis whose factory kills the process.
namespace {
const option_spec options[] = {{"unused", option_type::integer, "0", "unused"}};
genscope::plugin_object* create_aborting(const genscope::option_set&) { std::abort(); }
}  // namespace
GENSCOPE_PLUGIN(genscope::plugin_kind::analysis, "aborting_factory", "1.0.0", "its factory aborts", options,
                &create_aborting)

#elif GENSCOPE_TEST_DEFECT == 21
namespace {
const option_spec options[] = {{"unused", option_type::integer, "0", "unused"}};
}
GENSCOPE_PLUGIN_WITH_CAPABILITIES(genscope::plugin_kind::backend, "bad_logits", "1.0.0",
                                  "too few logits and activation rows", options, &create_faulty_backend,
                                  genscope::capability_hidden_activations)

#else
#error "GENSCOPE_TEST_DEFECT must select a defect"
#endif
