// The one reader of the sampling fields: what it puts into a generation request, and the errors each
// endpoint's set of fields gives.
#include "openai/sampling_fields.h"

#include <gtest/gtest.h>

namespace openbatch::openai {
namespace {

using nlohmann::json;

const SamplingFieldSet kResponses{
    .max_tokens = "max_output_tokens", .min_max_tokens = 16, .penalties_n_seed_stop = false};

TEST(SamplingFieldsTest, PutsWhatTheBodySaysIntoTheGeneration) {
  engine::GenerationRequest gen;
  auto r = read_sampling_fields({{"temperature", 0.5},
                                 {"top_p", 0.25},
                                 {"presence_penalty", 1},
                                 {"frequency_penalty", -1},
                                 {"max_tokens", 7},
                                 {"n", 3},
                                 {"seed", -1},
                                 {"stream", true},
                                 {"ignore_eos", true},
                                 {"stop", {"a", "b"}},
                                 {"logit_bias", {{"12", -100}}}},
                                SamplingFieldSet{}, gen);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->n, 3);
  EXPECT_TRUE(r->stream);
  EXPECT_EQ(r->max_tokens, 7);
  EXPECT_EQ(gen.max_tokens, 7);
  EXPECT_FLOAT_EQ(gen.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(gen.sampling.top_p, 0.25f);
  EXPECT_FLOAT_EQ(gen.sampling.presence_penalty, 1.0f);
  EXPECT_FLOAT_EQ(gen.sampling.frequency_penalty, -1.0f);
  EXPECT_EQ(gen.sampling.seed, 0xFFFFFFFFu);  // modulo 2^32
  EXPECT_TRUE(gen.ignore_eos);
  EXPECT_EQ(gen.stop, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(gen.sampling.logit_bias.size(), 1u);
  EXPECT_EQ(gen.sampling.logit_bias[0].first, 12);

  // A silent body leaves the request's defaults.
  engine::GenerationRequest defaults, untouched;
  auto silent = read_sampling_fields(json::object(), SamplingFieldSet{}, untouched);
  ASSERT_TRUE(silent.is_ok());
  EXPECT_EQ(silent->n, 1);
  EXPECT_FALSE(silent->stream);
  EXPECT_FALSE(silent->max_tokens);
  EXPECT_EQ(untouched.max_tokens, defaults.max_tokens);
  EXPECT_FLOAT_EQ(untouched.sampling.temperature, defaults.sampling.temperature);
}

TEST(SamplingFieldsTest, EachSetNamesItsOwnFieldsInItsErrors) {
  engine::GenerationRequest gen;
  for (const SamplingFieldSet& set : {SamplingFieldSet{}, kResponses}) {
    auto hot = read_sampling_fields({{"temperature", 3}}, set, gen);
    ASSERT_FALSE(hot.is_ok());
    EXPECT_TRUE(hot.status().is_invalid_argument());
    EXPECT_EQ(hot.status().param(), "temperature");
    EXPECT_EQ(hot.status().code(), "decimal_above_max_value");
  }
  auto short_answer = read_sampling_fields({{"max_output_tokens", 15}}, kResponses, gen);
  ASSERT_FALSE(short_answer.is_ok());
  EXPECT_EQ(short_answer.status().param(), "max_output_tokens");
  EXPECT_EQ(short_answer.status().code(), "integer_below_min_value");
  EXPECT_TRUE(read_sampling_fields({{"max_tokens", 1}}, SamplingFieldSet{}, gen).is_ok());

  // Fields outside the set are not read (the endpoint has refused them already, or takes them as its own).
  engine::GenerationRequest responses;
  auto r = read_sampling_fields({{"n", "x"}, {"stop", 5}, {"max_output_tokens", 16}}, kResponses, responses);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(responses.max_tokens, 16);
  EXPECT_TRUE(responses.stop.empty());
}

TEST(SamplingFieldsTest, StreamOptionsOnlyWithAStream) {
  auto none = stream_options_of(json::object(), false);
  ASSERT_TRUE(none.is_ok());
  EXPECT_EQ(*none, nullptr);
  auto without = stream_options_of({{"stream_options", {{"include_usage", true}}}}, false);
  ASSERT_FALSE(without.is_ok());
  EXPECT_EQ(without.status().param(), "stream_options");
  auto not_object = read_include_usage({{"stream_options", 1}}, true);
  ASSERT_FALSE(not_object.is_ok());
  EXPECT_EQ(not_object.status().code(), "invalid_type");
  auto usage = read_include_usage({{"stream_options", {{"include_usage", true}}}}, true);
  ASSERT_TRUE(usage.is_ok());
  EXPECT_TRUE(*usage);
  auto bad = read_include_usage({{"stream_options", {{"include_usage", 1}}}}, true);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().param(), "stream_options.include_usage");
}

}  // namespace
}  // namespace openbatch::openai
