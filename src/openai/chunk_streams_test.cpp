// The chunks of streamed chat completions and completions, built without an engine.
#include <gtest/gtest.h>

#include "common/status.h"
#include "openai/chat_stream.h"
#include "openai/completions_stream.h"

namespace openbatch::openai {
namespace {

using json = nlohmann::ordered_json;

TEST(ChatChunkStreamTest, RoleChunksThenDeltasThenFinishUsageAndDone) {
  ChatCompletionRequest request;
  request.model = "m";
  request.n = 2;
  request.include_usage = true;
  ChatChunkStream stream(request, "chatcmpl-1", 1700000000);

  auto start = stream.start();
  ASSERT_EQ(start.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const json& c = start[i].data;
    EXPECT_EQ(start[i].name, "");
    EXPECT_EQ(c["id"], "chatcmpl-1");
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    EXPECT_EQ(c["created"], 1700000000);
    EXPECT_TRUE(c["usage"].is_null()) << "include_usage: every chunk but the last has usage null";
    EXPECT_EQ(c["choices"][0]["index"], i);
    EXPECT_EQ(c["choices"][0]["delta"]["role"], "assistant");
  }

  // A tool call carries its id, type and name with its first piece only.
  engine::GenerationDelta first;
  first.tool_calls = {{0, "", "get_weather", "{\"ci"}};
  auto a = stream.delta(1, first);
  ASSERT_EQ(a.size(), 1u);
  const json& call = a[0].data["choices"][0]["delta"]["tool_calls"][0];
  EXPECT_EQ(a[0].data["choices"][0]["index"], 1);
  EXPECT_FALSE(a[0].data["choices"][0]["delta"].contains("content"));
  const std::string id = call["id"].get<std::string>();
  EXPECT_EQ(id.rfind("call_", 0), 0u) << id;
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["function"]["name"], "get_weather");
  engine::GenerationDelta second;
  second.tool_calls = {{0, "", "", "ty\"}"}};
  const json later = stream.delta(1, second)[0].data["choices"][0]["delta"]["tool_calls"][0];
  EXPECT_FALSE(later.contains("id"));
  EXPECT_EQ(later["function"], json({{"arguments", "ty\"}"}}));
  engine::GenerationDelta text;
  text.content = "Hi";
  EXPECT_EQ(stream.delta(0, text)[0].data["choices"][0]["delta"]["content"], "Hi");

  json completion = {
      {"choices",
       {{{"index", 0}, {"finish_reason", "length"}}, {{"index", 1}, {"finish_reason", "tool_calls"}}}},
      {"usage", {{"prompt_tokens", 3}}}};
  auto end = stream.finish(completion);
  ASSERT_EQ(end.size(), 4u);
  EXPECT_EQ(end[0].data["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(end[1].data["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_TRUE(end[2].data["choices"].empty());
  EXPECT_EQ(end[2].data["usage"]["prompt_tokens"], 3);
  EXPECT_TRUE(end[3].done_marker);
}

TEST(ChatChunkStreamTest, WithoutIncludeUsageNoUsageAndAFailureIsAnErrorThenDone) {
  ChatCompletionRequest request;
  request.model = "m";
  ChatChunkStream stream(request, "chatcmpl-2", 1);
  auto start = stream.start();
  ASSERT_EQ(start.size(), 1u);
  EXPECT_FALSE(start[0].data.contains("usage"));
  auto end = stream.finish(Status::unavailable("busy"));
  ASSERT_EQ(end.size(), 2u);
  EXPECT_EQ(end[0].data["error"]["message"], "busy");
  EXPECT_FALSE(end[0].done_marker);
  EXPECT_TRUE(end[1].done_marker);
}

TEST(CompletionChunkStreamTest, TextOffsetsCountFromTheStartOfEachChoicesText) {
  CompletionRequest request;
  request.model = "m";
  request.n = 2;
  request.logprobs = 1;
  request.prompts.resize(1);
  CompletionChunkStream stream(request, "cmpl-1", 5);
  EXPECT_TRUE(stream.start().empty());

  // An echoed prompt comes first in a delta, without tokens of its own.
  engine::GenerationDelta echo_and_token;
  echo_and_token.content = "Once upon";
  echo_and_token.logprobs = {{" upon", -0.5f, {}}};
  auto a = stream.delta(1, echo_and_token);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].data["object"], "text_completion");
  EXPECT_EQ(a[0].data["choices"][0]["index"], 1);
  EXPECT_EQ(a[0].data["choices"][0]["text"], "Once upon");
  EXPECT_EQ(a[0].data["choices"][0]["logprobs"]["text_offset"], json({4}));
  engine::GenerationDelta next;
  next.content = " a";
  next.logprobs = {{" a", -0.1f, {}}};
  EXPECT_EQ(stream.delta(1, next)[0].data["choices"][0]["logprobs"]["text_offset"], json({9}));
  // Choice 0 counts on its own.
  EXPECT_EQ(stream.delta(0, next)[0].data["choices"][0]["logprobs"]["text_offset"], json({0}));

  auto end = stream.finish(json{{"choices", {{{"index", 0}, {"finish_reason", "stop"}}}}, {"usage", {}}});
  ASSERT_EQ(end.size(), 2u);
  EXPECT_EQ(end[0].data["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(end[0].data["choices"][0]["text"], "");
  EXPECT_FALSE(end[0].data.contains("usage"));
  EXPECT_TRUE(end[1].done_marker);
}

}  // namespace
}  // namespace openbatch::openai
