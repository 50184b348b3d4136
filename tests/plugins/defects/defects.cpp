// Test plugins with one defect each (GENSCOPE_TEST_DEFECT selects which); see tests/test_plugins.cpp.
#include <genscope/direction_sampler.hpp>
#include <genscope/plugin.hpp>

#include <stdexcept>

namespace {

using genscope::option_spec;
using genscope::option_type;

class empty_sampler final : public genscope::direction_sampler {
 public:
  void prepare(const genscope::dataset&, std::uint64_t) override {}
  std::size_t probe_count() const override { return 0; }
  void sample(std::size_t, std::size_t, genscope::probe_batch&) const override {}
};

[[maybe_unused]] genscope::plugin_object* create_empty(const genscope::option_set&) { return new empty_sampler; }

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

#else
#error "GENSCOPE_TEST_DEFECT must select a defect"
#endif
