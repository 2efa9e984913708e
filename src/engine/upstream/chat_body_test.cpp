#include "engine/upstream/chat_body.h"

#include <gtest/gtest.h>

namespace openbatch::engine::upstream {
namespace {

using nlohmann::json;

TEST(ChatBodyTest, ToolsToolChoiceAndToolMessagesGoUpstream) {
  GenerationRequest r;
  r.messages = {{"user", "weather?", {}}};
  Message call{"assistant", "", {}};
  call.tool_calls = {{"call_1", "get_weather", R"({"city":"Paris"})"}};
  r.messages.push_back(call);
  Message result{"tool", "21", {}};
  result.tool_call_id = "call_1";
  r.messages.push_back(result);
  r.tools = {
      {"get_weather", "The weather.", R"({"type":"object","properties":{"city":{"type":"string"}}})", true}};
  r.tool_choice = ToolChoice::kRequired;
  r.tool_choice_function = "get_weather";
  r.parallel_tool_calls = false;
  r.reasoning_effort = ReasoningEffort::kLow;
  json body = chat_body(r, "up");
  EXPECT_EQ(body["tools"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(body["tools"][0]["function"]["strict"], true);
  EXPECT_EQ(body["tools"][0]["function"]["parameters"]["properties"]["city"]["type"], "string");
  EXPECT_EQ(body["tool_choice"]["function"]["name"], "get_weather");
  EXPECT_EQ(body["parallel_tool_calls"], false);
  EXPECT_EQ(body["reasoning_effort"], "low");
  EXPECT_TRUE(body["messages"][1]["content"].is_null());
  EXPECT_EQ(body["messages"][1]["tool_calls"][0]["id"], "call_1");
  EXPECT_EQ(body["messages"][2]["tool_call_id"], "call_1");
}

TEST(ChatBodyTest, AnAnswersToolCallsAndReasoningComeBack) {
  json answer = json::parse(R"({"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
      "role": "assistant", "content": null, "reasoning_content": "hmm",
      "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]}}],
      "usage": {"prompt_tokens": 5, "completion_tokens": 7, "completion_tokens_details": {"reasoning_tokens": 3}}})");
  auto g = parse_chat_completion(answer);
  ASSERT_TRUE(g.is_ok()) << g.status().message();
  EXPECT_EQ(g->finish_reason, FinishReason::kToolCalls);
  ASSERT_EQ(g->tool_calls.size(), 1u);
  EXPECT_EQ(g->tool_calls[0].id, "call_9");
  EXPECT_EQ(g->tool_calls[0].arguments, R"({"a":1})");
  EXPECT_EQ(g->reasoning_content, "hmm");
  EXPECT_EQ(g->reasoning_tokens, 3);
}

}  // namespace
}  // namespace openbatch::engine::upstream
