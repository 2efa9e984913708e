#include "openai/responses_body.h"

#include <gtest/gtest.h>

#include "openai/responses_stream.h"

namespace openbatch::openai {
namespace {

using json = nlohmann::ordered_json;

ResponsesRequest request() {
  engine::ModelInfo info;
  info.id = "m";
  info.context_per_sequence = 4096;
  auto r = parse_responses_request({{"model", "m"}, {"input", "hi"}}, info);
  EXPECT_TRUE(r.is_ok());
  return std::move(r).value();
}

engine::Generation answer(std::string text) {
  engine::Generation g;
  g.text = std::move(text);
  g.prompt_tokens = 12;
  g.cached_tokens = 4;
  g.cache_write_tokens = 8;
  g.completion_tokens = 7;
  return g;
}

TEST(ResponsesBodyTest, AnAnswerIsOneMessageWithOutputTextAndUsage) {
  const json r = build_response(request(), "resp_1", 100, answer("Hello"));
  EXPECT_EQ(r["id"], "resp_1");
  EXPECT_EQ(r["object"], "response");
  EXPECT_EQ(r["created_at"], 100);
  EXPECT_EQ(r["status"], "completed");
  EXPECT_EQ(r["model"], "m");
  EXPECT_TRUE(r["error"].is_null());
  EXPECT_TRUE(r["incomplete_details"].is_null());
  EXPECT_EQ(r["previous_response_id"], nullptr);
  ASSERT_EQ(r["output"].size(), 1u);
  const json& m = r["output"][0];
  EXPECT_EQ(m["type"], "message");
  EXPECT_EQ(m["role"], "assistant");
  EXPECT_EQ(m["status"], "completed");
  EXPECT_EQ(m["id"].get<std::string>().rfind("msg_", 0), 0u);
  EXPECT_EQ(m["content"][0]["type"], "output_text");
  EXPECT_EQ(m["content"][0]["text"], "Hello");
  EXPECT_EQ(r["usage"],
            json::parse(
                R"({"input_tokens": 12, "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 8},
      "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 19})"));
}

TEST(ResponsesBodyTest, ReasoningAndCallsAreItemsOfTheirOwn) {
  engine::Generation g = answer("");
  g.reasoning_content = "Think.";
  g.reasoning_tokens = 3;
  g.tool_calls = {{"", "get_weather", R"({"city":"Paris"})"}, {"call_x", "get_time", "{}"}};
  g.finish_reason = engine::FinishReason::kToolCalls;
  const json r = build_response(request(), "resp_1", 100, g);
  ASSERT_EQ(r["output"].size(), 3u);
  EXPECT_EQ(r["output"][0]["type"], "reasoning");
  EXPECT_EQ(r["output"][0]["content"][0], json({{"type", "reasoning_text"}, {"text", "Think."}}));
  EXPECT_EQ(r["output"][1]["type"], "function_call");
  EXPECT_EQ(r["output"][1]["name"], "get_weather");
  EXPECT_EQ(r["output"][1]["arguments"], R"({"city":"Paris"})");
  EXPECT_EQ(r["output"][1]["call_id"].get<std::string>().rfind("call_", 0), 0u);
  EXPECT_EQ(r["output"][1]["id"].get<std::string>().rfind("fc_", 0), 0u);
  EXPECT_EQ(r["output"][2]["call_id"], "call_x");
  EXPECT_EQ(r["usage"]["output_tokens_details"]["reasoning_tokens"], 3);
}

TEST(ResponsesBodyTest, StoppingAtMaxOutputTokensIsIncomplete) {
  engine::Generation g = answer("Hel");
  g.finish_reason = engine::FinishReason::kLength;
  const json r = build_response(request(), "resp_1", 100, g);
  EXPECT_EQ(r["status"], "incomplete");
  EXPECT_EQ(r["incomplete_details"], json({{"reason", "max_output_tokens"}}));
  EXPECT_EQ(r["output"][0]["status"], "incomplete");
}

std::vector<std::string> types(const std::vector<json>& events) {
  std::vector<std::string> out;
  for (const json& e : events) out.push_back(e["type"]);
  return out;
}

TEST(ResponseEventStreamTest, TextStreamsInOpenAIsEventSequence) {
  ResponseEventStream s(std::make_shared<ResponsesRequest>(request()), "resp_1", 100);
  std::vector<json> all = s.start();
  for (const char* piece : {"Hel", "lo"}) {
    engine::GenerationDelta d;
    d.content = piece;
    for (json& e : s.delta(d)) all.push_back(std::move(e));
  }
  for (json& e : s.finish(answer("Hello"))) all.push_back(std::move(e));
  EXPECT_EQ(types(all), (std::vector<std::string>{"response.created", "response.in_progress",
                                                  "response.output_item.added", "response.content_part.added",
                                                  "response.output_text.delta", "response.output_text.delta",
                                                  "response.output_text.done", "response.content_part.done",
                                                  "response.output_item.done", "response.completed"}));
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i]["sequence_number"], i);
  EXPECT_EQ(all[0]["response"]["status"], "in_progress");
  EXPECT_TRUE(all[0]["response"]["usage"].is_null());
  const std::string item_id = all[2]["item"]["id"];
  EXPECT_EQ(all[2]["output_index"], 0);
  EXPECT_EQ(all[4]["item_id"], item_id);
  EXPECT_EQ(all[4]["delta"], "Hel");
  EXPECT_EQ(all[6]["text"], "Hello");
  EXPECT_EQ(all[8]["item"]["content"][0]["text"], "Hello");
  const json& done = all.back()["response"];
  EXPECT_EQ(done["id"], "resp_1");
  EXPECT_EQ(done["status"], "completed");
  EXPECT_EQ(done["output"][0]["id"], item_id);
  EXPECT_EQ(done["usage"]["output_tokens"], 7);
}

TEST(ResponseEventStreamTest, ReasoningThenACallEachCloseBeforeTheNext) {
  ResponseEventStream s(std::make_shared<ResponsesRequest>(request()), "resp_1", 100);
  std::vector<json> all = s.start();
  engine::GenerationDelta think;
  think.reasoning_content = "Hmm.";
  engine::GenerationDelta call;
  call.tool_calls = {{0, "", "get_weather", "{\"city\":"}};
  engine::GenerationDelta more;
  more.tool_calls = {{0, "", "", "\"Paris\"}"}};
  for (const auto* d : {&think, &call, &more}) {
    for (json& e : s.delta(*d)) all.push_back(std::move(e));
  }
  engine::Generation g = answer("");
  g.reasoning_content = "Hmm.";
  g.tool_calls = {{"", "get_weather", R"({"city":"Paris"})"}};
  g.finish_reason = engine::FinishReason::kToolCalls;
  for (json& e : s.finish(g)) all.push_back(std::move(e));
  EXPECT_EQ(
      types(all),
      (std::vector<std::string>{
          "response.created", "response.in_progress", "response.output_item.added",
          "response.content_part.added", "response.reasoning_text.delta", "response.reasoning_text.done",
          "response.content_part.done", "response.output_item.done", "response.output_item.added",
          "response.function_call_arguments.delta", "response.function_call_arguments.delta",
          "response.function_call_arguments.done", "response.output_item.done", "response.completed"}));
  EXPECT_EQ(all[8]["output_index"], 1);
  EXPECT_EQ(all[8]["item"]["type"], "function_call");
  EXPECT_EQ(all[8]["item"]["arguments"], "");
  EXPECT_EQ(all[11]["arguments"], R"({"city":"Paris"})");
  const json& output = all.back()["response"]["output"];
  ASSERT_EQ(output.size(), 2u);
  EXPECT_EQ(output[0]["type"], "reasoning");
  EXPECT_EQ(output[1]["call_id"], all[8]["item"]["call_id"]);
  EXPECT_EQ(output[1]["arguments"], R"({"city":"Paris"})");
}

TEST(ResponseEventStreamTest, AFailureEndsTheStreamWithResponseFailed) {
  ResponseEventStream s(std::make_shared<ResponsesRequest>(request()), "resp_1", 100);
  s.start();
  auto events = s.finish(Status::unavailable("going away"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "response.failed");
  EXPECT_EQ(events[0]["sequence_number"], 2);
  EXPECT_EQ(events[0]["response"]["status"], "failed");
  EXPECT_EQ(events[0]["response"]["error"]["message"], "going away");
}

// A generation whose text never came as deltas (an upstream that answers whole) still shows it.
TEST(ResponseEventStreamTest, TextTheDeltasDidNotShowIsWrittenAtTheEnd) {
  ResponseEventStream s(std::make_shared<ResponsesRequest>(request()), "resp_1", 100);
  s.start();
  auto events = s.finish(answer("Whole"));
  EXPECT_EQ(types(events),
            (std::vector<std::string>{"response.output_item.added", "response.content_part.added",
                                      "response.output_text.delta", "response.output_text.done",
                                      "response.content_part.done", "response.output_item.done",
                                      "response.completed"}));
  EXPECT_EQ(events[2]["delta"], "Whole");
}

}  // namespace
}  // namespace openbatch::openai
