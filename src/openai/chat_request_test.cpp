#include <gtest/gtest.h>

#include "openai/chat_completion.h"
#include "openai/error_cases_for_test.h"

namespace openbatch::openai {
namespace {

using nlohmann::json;

engine::ModelInfo test_model() { return request_test_model("gpt-4o-mini"); }

// Every line of testdata/chat_request_errors.jsonl is a body and the error OpenAI answers it with.
TEST(ChatRequestTest, RejectsBadBodiesLikeOpenAI) {
  const int cases = expect_error_cases("chat_request_errors.jsonl", [](const json& body) {
    auto r = parse_chat_completion_request(body, test_model());
    return r.is_ok() ? Status::ok() : r.status();
  });
  EXPECT_GE(cases, 30);
}

// The guide's Example 2 user message: the title, then the image; images keep their place in the text.
TEST(ChatRequestTest, ImagePartsKeepTheirPlaceInTheMessage) {
  engine::ModelInfo vision = test_model();
  vision.has_vision = true;
  json body = {
      {"model", "gpt-4o-mini"},
      {"messages",
       {{{"role", "system"}, {"content", "caption it"}},
        {{"role", "user"},
         {"content",
          {{{"type", "image_url"}, {"image_url", {{"url", "https://x/a.png"}}}},
           {{"type", "text"}, {"text", "Oak chair"}},
           {{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64,AAAA"}, {"detail", "low"}}}},
           {{"type", "text"}, {"text", "!"}}}}}}}};
  auto r = parse_chat_completion_request(body, vision);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const auto& m = r->generation.messages;
  ASSERT_EQ(m.size(), 2u);
  EXPECT_TRUE(m[0].images.empty());
  EXPECT_EQ(m[1].content, "Oak chair!");
  ASSERT_EQ(m[1].images.size(), 2u);
  EXPECT_EQ(m[1].images[0].offset, 0u);
  EXPECT_EQ(m[1].images[0].url, "https://x/a.png");
  EXPECT_EQ(m[1].images[0].detail, "");  // none sent
  EXPECT_EQ(m[1].images[1].offset, 9u);
  EXPECT_EQ(m[1].images[1].url, "data:image/png;base64,AAAA");
  EXPECT_EQ(m[1].images[1].detail, "low");
  EXPECT_EQ(m[1].images[1].data, nullptr);
  EXPECT_TRUE(engine::has_images(m));

  auto text_model = parse_chat_completion_request(body, test_model());
  ASSERT_FALSE(text_model.is_ok());
  EXPECT_EQ(text_model.status().code(), "image_not_supported");
  EXPECT_NE(text_model.status().message().find("does not accept images"), std::string::npos);
}

TEST(ChatRequestTest, ParsesTheGuidesRequest) {
  json body = {{"model", "gpt-4o-mini"},
               {"temperature", 0.1},
               {"response_format", {{"type", "json_object"}}},
               {"messages",
                {{{"role", "system"}, {"content", "output a json object"}},
                 {{"role", "developer"}, {"content", "be brief"}},
                 {{"role", "user"},
                  {"content", {{{"type", "text"}, {"text", "A "}}, {{"type", "text"}, {"text", "film"}}}}}}}};
  auto r = parse_chat_completion_request(body, test_model());
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->model, "gpt-4o-mini");
  EXPECT_FLOAT_EQ(r->generation.sampling.temperature, 0.1f);
  EXPECT_EQ(r->generation.response_format, engine::ResponseFormat::kJsonObject);
  ASSERT_EQ(r->generation.messages.size(), 3u);
  EXPECT_EQ(r->generation.messages[1].role, "system");
  EXPECT_EQ(r->generation.messages[2].content, "A film");
  EXPECT_EQ(r->n, 1);
  EXPECT_FALSE(r->stream);
}

TEST(ChatRequestTest, MaxCompletionTokensWinsOverMaxTokens) {
  json body = {{"model", "m"},
               {"max_tokens", 10},
               {"max_completion_tokens", 5},
               {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  auto r = parse_chat_completion_request(body, test_model());
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->generation.max_tokens, 5);
}

TEST(ChatRequestTest, IgnoreEosExtensionIsRead) {
  json body = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  auto plain = parse_chat_completion_request(body, test_model());
  ASSERT_TRUE(plain.is_ok());
  EXPECT_FALSE(plain->generation.ignore_eos);
  body["ignore_eos"] = true;
  auto forced = parse_chat_completion_request(body, test_model());
  ASSERT_TRUE(forced.is_ok());
  EXPECT_TRUE(forced->generation.ignore_eos);
}

TEST(ChatRequestTest, JsonSchemaIsKeptSerialised) {
  json schema = {{"type", "object"}, {"properties", {{"a", {{"type", "integer"}}}}}, {"required", {"a"}}};
  json body = {
      {"model", "m"},
      {"messages", {{{"role", "user"}, {"content", "hi"}}}},
      {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "x"}, {"schema", schema}}}}}};
  auto r = parse_chat_completion_request(body, test_model());
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->generation.response_format, engine::ResponseFormat::kJsonSchema);
  EXPECT_EQ(json::parse(r->generation.json_schema), schema);
}

TEST(ChatCompletionTest, BuildsOpenAIsShape) {
  engine::Generation g;
  g.text = "{}";
  g.prompt_tokens = 10;
  g.completion_tokens = 2;
  g.cached_tokens = 4;
  json c = build_chat_completion("chatcmpl-x", "gpt-4o-mini", 123, {g}, false);
  EXPECT_EQ(c["object"], "chat.completion");
  EXPECT_EQ(c["choices"][0]["message"]["content"], "{}");
  EXPECT_EQ(c["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(c["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(c["usage"]["total_tokens"], 12);
  EXPECT_EQ(c["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
}

TEST(IdsTest, AreUniqueAndPrefixed) {
  std::string a = new_id("batch_"), b = new_id("batch_");
  EXPECT_NE(a, b);
  EXPECT_EQ(a.rfind("batch_", 0), 0u);
  EXPECT_GE(a.size(), 6u + 24u);
}

TEST(ChatRequestTest, ReadsToolsToolChoiceAndToolMessages) {
  json body = json::parse(R"({"model": "m", "parallel_tool_calls": false, "reasoning_effort": "none",
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "d", "strict": true,
               "parameters": {"type": "object", "properties": {"z": {"type": "string"}, "a": {"type": "string"}}}}}],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "messages": [{"role": "user", "content": "hi"},
                 {"role": "assistant", "content": null, "refusal": null, "annotations": [],
                  "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
                 {"role": "tool", "tool_call_id": "call_1", "content": "21"}]})");
  const std::string raw = body.dump();
  // The client's key order (z before a), as it sent it.
  const std::string ordered_raw =
      R"({"tools": [{"function": {"parameters": {"type": "object", "properties": {"z": {"type": "string"}, "a": {"type": "string"}}}}}]})";
  const auto ordered = nlohmann::ordered_json::parse(ordered_raw);
  auto r = parse_chat_completion_request(body, test_model(), &ordered);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const auto& g = r->generation;
  ASSERT_EQ(g.tools.size(), 1u);
  EXPECT_EQ(g.tools[0].name, "get_weather");
  EXPECT_EQ(g.tools[0].strict, std::optional<bool>(true));
  EXPECT_LT(g.tools[0].parameters.find("\"z\""), g.tools[0].parameters.find("\"a\""));
  EXPECT_EQ(g.tool_choice, engine::ToolChoice::kRequired);
  EXPECT_EQ(g.tool_choice_function, "get_weather");
  EXPECT_FALSE(g.parallel_tool_calls);
  EXPECT_EQ(g.reasoning_effort, engine::ReasoningEffort::kNone);
  ASSERT_EQ(g.messages.size(), 3u);
  ASSERT_EQ(g.messages[1].tool_calls.size(), 1u);
  EXPECT_EQ(g.messages[1].tool_calls[0].id, "call_1");
  EXPECT_EQ(g.messages[2].role, "tool");
  EXPECT_EQ(g.messages[2].tool_call_id, "call_1");
}

TEST(ChatRequestTest, AnswersCarryToolCallsAndReasoning) {
  engine::Generation g;
  g.tool_calls = {{"", "get_weather", R"({"city":"Paris"})"}};
  g.finish_reason = engine::FinishReason::kToolCalls;
  g.reasoning_content = "thinking";
  g.completion_tokens = 10;
  g.reasoning_tokens = 4;
  json c = build_chat_completion("chatcmpl-x", "m", 0, {g}, false);
  const json& m = c["choices"][0]["message"];
  EXPECT_TRUE(m["content"].is_null());
  EXPECT_EQ(m["reasoning_content"], "thinking");
  EXPECT_EQ(c["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(m["tool_calls"][0]["type"], "function");
  EXPECT_EQ(m["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(m["tool_calls"][0]["id"].get<std::string>().rfind("call_", 0), 0u);
  EXPECT_EQ(c["usage"]["completion_tokens_details"]["reasoning_tokens"], 4);
}

}  // namespace
}  // namespace openbatch::openai
