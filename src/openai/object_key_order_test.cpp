// The objects openbatch writes have their keys in the order of OpenAI's API reference (`id` and
// `object` first), so that their JSON text reads as OpenAI's does; metadata keeps the client's order.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "openai/chat_completion.h"
#include "openai/completions.h"
#include "openai/embeddings.h"
#include "openai/responses_body.h"
#include "openai/responses_request.h"

namespace openbatch::openai {
namespace {

using nlohmann::ordered_json;
using Keys = std::vector<std::string>;

Keys keys_of(const ordered_json& object) {
  Keys out;
  for (const auto& item : object.items()) out.push_back(item.key());
  return out;
}

engine::ModelInfo model() {
  engine::ModelInfo info;
  info.id = "m";
  info.context_per_sequence = 4096;
  return info;
}

engine::Generation answer() {
  engine::Generation g;
  g.text = "Hello";
  g.prompt_tokens = 12;
  g.completion_tokens = 7;
  return g;
}

TEST(ObjectKeyOrderTest, AChatCompletion) {
  const ordered_json c = build_chat_completion("chatcmpl-1", "m", 100, {answer()}, /*with_logprobs=*/false);
  EXPECT_EQ(keys_of(c), (Keys{"id", "object", "created", "model", "choices", "usage", "service_tier",
                              "system_fingerprint"}));
  EXPECT_EQ(keys_of(c["choices"][0]), (Keys{"index", "message", "logprobs", "finish_reason"}));
  EXPECT_EQ(keys_of(c["choices"][0]["message"]), (Keys{"role", "content", "refusal", "annotations"}));
  EXPECT_EQ(keys_of(c["usage"]), (Keys{"prompt_tokens", "completion_tokens", "total_tokens",
                                       "prompt_tokens_details", "completion_tokens_details"}));
  EXPECT_EQ(c.dump().rfind("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",", 0), 0u);
}

TEST(ObjectKeyOrderTest, AChatCompletionChunk) {
  const ordered_json chunk =
      build_chat_chunk("chatcmpl-1", "m", 100,
                       ordered_json::array({chunk_choice(0, {{"content", "Hi"}}, nullptr, std::nullopt)}),
                       usage_json(1, 2, 0));
  EXPECT_EQ(keys_of(chunk), (Keys{"id", "object", "created", "model", "service_tier", "system_fingerprint",
                                  "choices", "usage"}));
  EXPECT_EQ(keys_of(chunk["choices"][0]), (Keys{"index", "delta", "logprobs", "finish_reason"}));
}

TEST(ObjectKeyOrderTest, ATextCompletionAndItsChunks) {
  const ordered_json c = build_text_completion("cmpl-1", "m", 100, {answer()}, 1, /*with_logprobs=*/false);
  EXPECT_EQ(keys_of(c), (Keys{"id", "object", "created", "model", "system_fingerprint", "choices", "usage"}));
  EXPECT_EQ(keys_of(c["choices"][0]), (Keys{"text", "index", "logprobs", "finish_reason"}));
  const ordered_json chunk = build_completion_chunk("cmpl-1", "m", 100, ordered_json::array());
  EXPECT_EQ(keys_of(chunk), (Keys{"id", "object", "created", "model", "system_fingerprint", "choices"}));
}

TEST(ObjectKeyOrderTest, AnEmbeddingList) {
  auto request = parse_embeddings_request({{"model", "m"}, {"input", "hi"}}, model());
  ASSERT_TRUE(request.is_ok());
  engine::Embeddings e;
  e.vectors = {{0.6f, 0.8f}};
  e.prompt_tokens = 2;
  auto list = build_embeddings_response(*request, e);
  ASSERT_TRUE(list.is_ok());
  EXPECT_EQ(keys_of(*list), (Keys{"object", "data", "model", "usage"}));
  EXPECT_EQ(keys_of((*list)["data"][0]), (Keys{"object", "index", "embedding"}));
}

TEST(ObjectKeyOrderTest, AResponseWithItsMetadataInTheClientsOrder) {
  const ordered_json body = ordered_json::parse(
      R"({"model": "m", "input": "hi", "metadata": {"zeta": "1", "alpha": "2", "mid": "3"}})");
  auto request = parse_responses_request(nlohmann::json(body), model(), &body);
  ASSERT_TRUE(request.is_ok()) << request.status().message();
  const ordered_json r = build_response(*request, "resp_1", 100, answer());
  EXPECT_EQ(keys_of(r), (Keys{"id",
                              "object",
                              "created_at",
                              "status",
                              "background",
                              "error",
                              "incomplete_details",
                              "instructions",
                              "max_output_tokens",
                              "max_tool_calls",
                              "model",
                              "output",
                              "parallel_tool_calls",
                              "previous_response_id",
                              "reasoning",
                              "service_tier",
                              "store",
                              "temperature",
                              "text",
                              "tool_choice",
                              "tools",
                              "top_logprobs",
                              "top_p",
                              "truncation",
                              "usage",
                              "user",
                              "metadata"}));
  EXPECT_EQ(keys_of(r["metadata"]), (Keys{"zeta", "alpha", "mid"}));
  EXPECT_EQ(keys_of(r["output"][0]), (Keys{"id", "type", "status", "role", "content"}));
}

}  // namespace
}  // namespace openbatch::openai
