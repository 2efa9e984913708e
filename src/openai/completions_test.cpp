#include "openai/completions.h"

#include <gtest/gtest.h>

#include "openai/error_cases_for_test.h"

namespace openbatch::openai {
namespace {

using nlohmann::json;

engine::ModelInfo test_model() { return request_test_model("gpt-3.5-turbo-instruct"); }

TEST(CompletionRequestTest, RejectsBadBodiesLikeOpenAI) {
  const int cases = expect_error_cases("completion_request_errors.jsonl", [](const json& body) {
    auto r = parse_completion_request(body, test_model());
    return r.is_ok() ? Status::ok() : r.status();
  });
  EXPECT_GE(cases, 20);
}

TEST(CompletionRequestTest, PromptsAsStringsOrTokens) {
  auto one = parse_completion_request({{"model", "m"}, {"prompt", "Once upon"}}, test_model());
  ASSERT_TRUE(one.is_ok()) << one.status().message();
  ASSERT_EQ(one->prompts.size(), 1u);
  EXPECT_EQ(one->prompts[0].text, "Once upon");
  EXPECT_EQ(one->generation.max_tokens, 16);  // OpenAI's default
  EXPECT_TRUE(one->generation.messages.empty());

  auto strings = parse_completion_request({{"model", "m"}, {"prompt", {"a", "b"}}, {"n", 2}}, test_model());
  ASSERT_TRUE(strings.is_ok());
  ASSERT_EQ(strings->prompts.size(), 2u);
  EXPECT_EQ(strings->prompts[1].text, "b");
  EXPECT_EQ(strings->n, 2);

  auto tokens = parse_completion_request({{"model", "m"}, {"prompt", {1, 2, 3}}}, test_model());
  ASSERT_TRUE(tokens.is_ok());
  ASSERT_EQ(tokens->prompts.size(), 1u);
  EXPECT_EQ(tokens->prompts[0].tokens, (std::vector<int32_t>{1, 2, 3}));

  auto arrays = parse_completion_request({{"model", "m"}, {"prompt", {{1, 2}, {3}}}}, test_model());
  ASSERT_TRUE(arrays.is_ok());
  ASSERT_EQ(arrays->prompts.size(), 2u);
  EXPECT_EQ(arrays->prompts[1].tokens, (std::vector<int32_t>{3}));
}

TEST(CompletionRequestTest, SamplingStopSeedLogprobsAndEcho) {
  auto r = parse_completion_request({{"model", "m"},
                                     {"prompt", "x"},
                                     {"max_tokens", 5},
                                     {"temperature", 0},
                                     {"top_p", 0.5},
                                     {"stop", "\n"},
                                     {"seed", 7},
                                     {"logprobs", 2},
                                     {"best_of", 1},
                                     {"stream", true},
                                     {"stream_options", {{"include_usage", true}}}},
                                    test_model());
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->generation.max_tokens, 5);
  EXPECT_FLOAT_EQ(r->generation.sampling.temperature, 0.0f);
  EXPECT_FLOAT_EQ(r->generation.sampling.top_p, 0.5f);
  EXPECT_EQ(r->generation.stop, (std::vector<std::string>{"\n"}));
  EXPECT_EQ(r->generation.sampling.seed, 7u);
  EXPECT_EQ(r->logprobs, 2);
  EXPECT_TRUE(r->generation.logprobs);
  EXPECT_EQ(r->generation.top_logprobs, 2);
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_FALSE(r->prompts[0].echo);

  auto echo = parse_completion_request({{"model", "m"}, {"prompt", "x"}, {"echo", true}}, test_model());
  ASSERT_TRUE(echo.is_ok());
  EXPECT_TRUE(echo->prompts[0].echo);
}

TEST(CompletionBodyTest, ChoicesUsageAndLogprobsInTheCompletionsShape) {
  engine::Generation a;
  a.text = "Hi there";
  a.prompt_tokens = 3;
  a.completion_tokens = 2;
  a.logprobs = {{"Hi", -0.5f, {{"Hi", -0.5f}, {"Yo", -1.5f}}}, {" there", -0.25f, {}}};
  engine::Generation b = a;
  b.finish_reason = engine::FinishReason::kLength;
  const json c = build_text_completion("cmpl-1", "m", 5, {a, b}, 2, true);
  EXPECT_EQ(c["id"], "cmpl-1");
  EXPECT_EQ(c["object"], "text_completion");
  EXPECT_EQ(c["created"], 5);
  ASSERT_EQ(c["choices"].size(), 2u);
  EXPECT_EQ(c["choices"][0]["text"], "Hi there");
  EXPECT_EQ(c["choices"][0]["index"], 0);
  EXPECT_EQ(c["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(c["choices"][1]["finish_reason"], "length");
  EXPECT_EQ(c["choices"][0]["logprobs"],
            json::parse(R"({"tokens": ["Hi", " there"], "token_logprobs": [-0.5, -0.25],
      "top_logprobs": [{"Hi": -0.5, "Yo": -1.5}, {}], "text_offset": [0, 2]})"));
  // Two choices of one prompt: its tokens count once.
  EXPECT_EQ(c["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(c["usage"]["completion_tokens"], 4);
  EXPECT_EQ(c["usage"]["total_tokens"], 7);
}

TEST(CompletionBodyTest, AnEchoedPromptShiftsTheTextOffsets) {
  engine::Generation g;
  g.text = "Say: ok";
  g.logprobs = {{"ok", -0.1f, {}}};
  const json c = build_text_completion("cmpl-1", "m", 5, {g}, 1, true);
  EXPECT_EQ(c["choices"][0]["logprobs"]["text_offset"], json::array({5}));
  EXPECT_TRUE(build_text_completion("cmpl-1", "m", 5, {g}, 1, false)["choices"][0]["logprobs"].is_null());
}

}  // namespace
}  // namespace openbatch::openai
