#include "openai/endpoints.h"

#include <gtest/gtest.h>

namespace openbatch::openai {
namespace {

using nlohmann::json;

// Counts a token per byte of the prompt's text (messages' content, or the raw prompt), the way
// estimate_prompt_tokens would at four bytes a token: enough to see what each endpoint counts.
class CountingEngine final : public engine::Engine {
 public:
  CountingEngine() {
    info_.id = "m";
    info_.context_per_sequence = 4096;
  }
  const engine::ModelInfo& model_info() const override { return info_; }
  std::shared_ptr<engine::GenerationHandle> submit(engine::GenerationRequest,
                                                   engine::GenerationCallbacks callbacks) override {
    callbacks.on_done(Status::internal("not for running"));
    return nullptr;
  }
  Result<int> count_prompt_tokens(const engine::GenerationRequest& request) override {
    if (request.raw_prompt) return static_cast<int>(request.raw_prompt->text.size());
    int n = 0;
    for (const auto& m : request.messages) n += static_cast<int>(m.content.size());
    return n;
  }
  void shutdown() override {}

 private:
  engine::ModelInfo info_;
};

TEST(CountEndpointPromptTokensTest, CountsThePromptOfEachEndpointOnce) {
  CountingEngine engine;
  auto chat = count_endpoint_prompt_tokens(
      engine, kChatCompletionsEndpoint,
      {{"model", "m"},
       {"n", 3},
       {"messages", {{{"role", "system"}, {"content", "abcd"}}, {{"role", "user"}, {"content", "ef"}}}}});
  ASSERT_TRUE(chat.is_ok()) << chat.status().message();
  EXPECT_EQ(*chat, 6);  // n choices share one prompt

  auto responses = count_endpoint_prompt_tokens(engine, kResponsesEndpoint,
                                                {{"model", "m"}, {"instructions", "ab"}, {"input", "cde"}});
  ASSERT_TRUE(responses.is_ok()) << responses.status().message();
  EXPECT_EQ(*responses, 5);

  // Every prompt of a completions body; token ids count as they are.
  auto completions = count_endpoint_prompt_tokens(engine, kCompletionsEndpoint,
                                                  {{"model", "m"}, {"prompt", {"abc", "defgh"}}});
  ASSERT_TRUE(completions.is_ok()) << completions.status().message();
  EXPECT_EQ(*completions, 8);
  auto ids =
      count_endpoint_prompt_tokens(engine, kCompletionsEndpoint, {{"model", "m"}, {"prompt", {1, 2, 3, 4}}});
  ASSERT_TRUE(ids.is_ok()) << ids.status().message();
  EXPECT_EQ(*ids, 4);

  auto embeddings =
      count_endpoint_prompt_tokens(engine, kEmbeddingsEndpoint, {{"model", "m"}, {"input", {"ab", "cdef"}}});
  ASSERT_TRUE(embeddings.is_ok()) << embeddings.status().message();
  EXPECT_EQ(*embeddings, 6);
}

TEST(CountEndpointPromptTokensTest, ABodyThatDoesNotParseSaysWhy) {
  CountingEngine engine;
  auto r = count_endpoint_prompt_tokens(engine, kChatCompletionsEndpoint, {{"model", "m"}, {"messages", 7}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_TRUE(r.status().is_invalid_argument());
}

TEST(EstimatePromptTokensTest, ATokenPerFourBytesOfText) {
  engine::GenerationRequest request;
  request.messages = {{"user", "12345678", {}, {}, {}, {}}, {"assistant", "1", {}, {}, {}, {}}};
  EXPECT_EQ(engine::estimate_prompt_tokens(request), 3);  // 9 bytes, rounded up
  request.raw_prompt = engine::RawPrompt{"", {5, 6}, false};
  request.messages.clear();
  EXPECT_EQ(engine::estimate_prompt_tokens(request), 2);
}

}  // namespace
}  // namespace openbatch::openai
