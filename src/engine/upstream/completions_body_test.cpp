#include "engine/upstream/completions_body.h"

#include <gtest/gtest.h>

#include <future>

#include "engine/upstream/upstream_engine.h"
#include "engine/upstream/upstream_server_for_test.h"

namespace openbatch::engine::upstream {
namespace {

using nlohmann::json;

TEST(CompletionsBodyTest, ARawPromptGoesAsACompletionsBody) {
  GenerationRequest r;
  r.raw_prompt = RawPrompt{"Once", {}, true};
  r.max_tokens = 5;
  r.stop = {"\n"};
  r.sampling.seed = 3;
  r.logprobs = true;
  r.top_logprobs = 2;
  json body = completions_body(r, "up");
  EXPECT_EQ(body["model"], "up");
  EXPECT_EQ(body["prompt"], "Once");
  EXPECT_EQ(body["echo"], true);
  EXPECT_EQ(body["max_tokens"], 5);
  EXPECT_EQ(body["stop"], json::array({"\n"}));
  EXPECT_EQ(body["seed"], 3);
  EXPECT_EQ(body["logprobs"], 2);
  EXPECT_FALSE(body.contains("messages"));

  r.raw_prompt = RawPrompt{"", {1, 2}, false};
  r.logprobs = false;
  body = completions_body(r, "up");
  EXPECT_EQ(body["prompt"], json::array({1, 2}));
  EXPECT_FALSE(body.contains("echo"));
  EXPECT_FALSE(body.contains("logprobs"));
}

TEST(CompletionsBodyTest, ATextCompletionBecomesAGeneration) {
  auto g = parse_text_completion(json::parse(R"({"choices": [{"text": "abc", "finish_reason": "length",
      "logprobs": {"tokens": ["a"], "token_logprobs": [-0.5], "top_logprobs": [{"a": -0.5, "b": -2}]}}],
      "usage": {"prompt_tokens": 4, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 1}}})"));
  ASSERT_TRUE(g) << g.status().message();
  EXPECT_EQ(g->text, "abc");
  EXPECT_EQ(g->finish_reason, FinishReason::kLength);
  EXPECT_EQ(g->prompt_tokens, 4);
  EXPECT_EQ(g->completion_tokens, 3);
  EXPECT_EQ(g->cached_tokens, 1);
  ASSERT_EQ(g->logprobs.size(), 1u);
  EXPECT_EQ(g->logprobs[0].top.size(), 2u);
  EXPECT_EQ(parse_text_completion(json::parse(R"({"choices": [{"message": {}}]})")).status().status_code(),
            StatusCode::kBadGateway);
}

TEST(UpstreamEngineTest, ARawPromptIsSentToTheUpstreamsCompletions) {
  testing::UpstreamServer server;
  UpstreamOptions options;
  options.base_urls = {server.base_url()};
  options.model = "upstream-model";
  options.parallel = 1;
  auto engine = start_upstream_engine(options);
  ASSERT_TRUE(engine) << engine.status().message();
  GenerationRequest r;
  r.raw_prompt = RawPrompt{"abc", {}, true};
  std::string streamed;
  auto promise = std::make_shared<std::promise<Result<Generation>>>();
  GenerationCallbacks callbacks;
  callbacks.on_delta = [&streamed](GenerationDelta d) { streamed += d.content; };
  callbacks.on_done = [promise](Result<Generation> g) { promise->set_value(std::move(g)); };
  (*engine)->submit(r, std::move(callbacks));
  Result<Generation> g = promise->get_future().get();
  ASSERT_TRUE(g) << g.status().message();
  EXPECT_EQ(g->text, "abccba");
  EXPECT_EQ(streamed, "abccba");  // asked whole, handed on in one piece
  EXPECT_EQ(g->finish_reason, FinishReason::kLength);
  EXPECT_EQ(g->prompt_tokens, 4);
  EXPECT_EQ(server.bodies().at(0)["prompt"], "abc");
  EXPECT_FALSE(server.bodies().at(0).contains("stream"));
}

}  // namespace
}  // namespace openbatch::engine::upstream
