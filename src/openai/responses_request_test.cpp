#include "openai/responses_request.h"

#include <gtest/gtest.h>

#include "openai/error_cases_for_test.h"

namespace openbatch::openai {
namespace {

using nlohmann::json;

engine::ModelInfo test_model() { return request_test_model("gpt-4o-mini"); }

TEST(ResponsesRequestTest, RejectsBadBodiesLikeOpenAI) {
  const int cases = expect_error_cases("responses_request_errors.jsonl", [](const json& body) {
    auto r = parse_responses_request(body, test_model());
    return r.is_ok() ? Status::ok() : r.status();
  });
  EXPECT_GE(cases, 40);
}

TEST(ResponsesRequestTest, AStringInputIsOneUserMessageAfterTheInstructions) {
  auto r = parse_responses_request(
      {{"model", "gpt-4o-mini"}, {"instructions", "Be terse."}, {"input", "Hello"}, {"store", false}},
      test_model());
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const auto& m = r->generation.messages;
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].role, "system");
  EXPECT_EQ(m[0].content, "Be terse.");
  EXPECT_EQ(m[1].role, "user");
  EXPECT_EQ(m[1].content, "Hello");
  EXPECT_EQ(r->model, "gpt-4o-mini");
  EXPECT_FALSE(r->stream);
  EXPECT_EQ(r->echo["store"], false);
  EXPECT_EQ(r->echo["instructions"], "Be terse.");
  EXPECT_EQ(r->echo["text"]["format"]["type"], "text");
  EXPECT_EQ(r->echo["tool_choice"], "auto");
  EXPECT_EQ(r->generation.max_tokens, -1);
}

// A tool round trip as the SDK sends it back: the model's reasoning, its call, the call's output.
TEST(ResponsesRequestTest, FunctionCallItemsBecomeTheAssistantTurnAndItsToolResult) {
  json body = {
      {"model", "m"},
      {"input",
       {{{"role", "developer"}, {"content", "Use tools."}},
        {{"type", "message"},
         {"role", "user"},
         {"content", {{{"type", "input_text"}, {"text", "Weather?"}}}}},
        {{"type", "reasoning"},
         {"id", "rs_1"},
         {"summary", json::array()},
         {"content", {{{"type", "reasoning_text"}, {"text", "I should call it."}}}}},
        {{"type", "function_call"},
         {"id", "fc_1"},
         {"call_id", "call_1"},
         {"name", "get_weather"},
         {"arguments", "{\"city\":\"Paris\"}"},
         {"status", "completed"}},
        {{"type", "function_call"}, {"call_id", "call_2"}, {"name", "get_weather"}, {"arguments", "{}"}},
        {{"type", "function_call_output"}, {"call_id", "call_1"}, {"output", "21C"}},
        {{"type", "function_call_output"},
         {"call_id", "call_2"},
         {"output", {{{"type", "input_text"}, {"text", "rain"}}}}}}},
      {"tools",
       {{{"type", "function"},
         {"name", "get_weather"},
         {"description", "Weather"},
         {"parameters", {{"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}}},
         {"strict", true}}}},
      {"tool_choice", {{"type", "function"}, {"name", "get_weather"}}},
      {"parallel_tool_calls", false},
      {"reasoning", {{"effort", "low"}}}};
  auto r = parse_responses_request(body, test_model());
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const auto& g = r->generation;
  ASSERT_EQ(g.messages.size(), 5u);
  EXPECT_EQ(g.messages[0].role, "system");
  EXPECT_EQ(g.messages[1].content, "Weather?");
  EXPECT_EQ(g.messages[2].role, "assistant");
  EXPECT_EQ(g.messages[2].reasoning_content, "I should call it.");
  ASSERT_EQ(g.messages[2].tool_calls.size(), 2u);
  EXPECT_EQ(g.messages[2].tool_calls[0].id, "call_1");
  EXPECT_EQ(g.messages[2].tool_calls[0].arguments, "{\"city\":\"Paris\"}");
  EXPECT_EQ(g.messages[3].role, "tool");
  EXPECT_EQ(g.messages[3].tool_call_id, "call_1");
  EXPECT_EQ(g.messages[3].content, "21C");
  EXPECT_EQ(g.messages[4].content, "rain");
  ASSERT_EQ(g.tools.size(), 1u);
  EXPECT_EQ(g.tools[0].name, "get_weather");
  EXPECT_EQ(g.tools[0].description, "Weather");
  EXPECT_EQ(g.tools[0].strict, true);
  EXPECT_EQ(g.tool_choice, engine::ToolChoice::kRequired);
  EXPECT_EQ(g.tool_choice_function, "get_weather");
  EXPECT_FALSE(g.parallel_tool_calls);
  EXPECT_EQ(g.reasoning_effort, engine::ReasoningEffort::kLow);
  EXPECT_EQ(r->echo["reasoning"]["effort"], "low");
  EXPECT_EQ(r->echo["tools"][0]["name"], "get_weather");
}

TEST(ResponsesRequestTest, ASentBackAssistantMessageKeepsItsText) {
  json body = {{"model", "m"},
               {"input",
                {{{"role", "user"}, {"content", "Hi"}},
                 {{"type", "message"},
                  {"id", "msg_1"},
                  {"status", "completed"},
                  {"role", "assistant"},
                  {"content",
                   {{{"type", "output_text"},
                     {"text", "Hello!"},
                     {"annotations", json::array()},
                     {"logprobs", json::array()}}}}},
                 {{"role", "user"}, {"content", "Again"}}}}};
  auto r = parse_responses_request(body, test_model());
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->generation.messages.size(), 3u);
  EXPECT_EQ(r->generation.messages[1].role, "assistant");
  EXPECT_EQ(r->generation.messages[1].content, "Hello!");
}

TEST(ResponsesRequestTest, TextFormatsAndSamplingFields) {
  auto r = parse_responses_request({{"model", "m"},
                                    {"input", "Answer in JSON."},
                                    {"text", {{"format", {{"type", "json_object"}}}}},
                                    {"max_output_tokens", 64},
                                    {"temperature", 0.5},
                                    {"top_p", 0.9},
                                    {"stream", true},
                                    {"stream_options", {{"include_obfuscation", false}}}},
                                   test_model());
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->generation.response_format, engine::ResponseFormat::kJsonObject);
  EXPECT_EQ(r->generation.max_tokens, 64);
  EXPECT_FLOAT_EQ(r->generation.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r->generation.sampling.top_p, 0.9f);
  EXPECT_TRUE(r->stream);
  EXPECT_EQ(r->echo["max_output_tokens"], 64);

  // The schema keeps the client's key order (ordered), which decides the order the answer writes.
  const std::string text =
      R"({"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "movie",
      "strict": true, "schema": {"type": "object", "properties": {"title": {"type": "string"}, "genre": {"type": "string"}}}}}})";
  const auto ordered = nlohmann::ordered_json::parse(text);
  auto s = parse_responses_request(json::parse(text), test_model(), &ordered);
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  EXPECT_EQ(s->generation.response_format, engine::ResponseFormat::kJsonSchema);
  EXPECT_EQ(s->generation.json_schema_name, "movie");
  EXPECT_EQ(s->generation.json_schema_strict, true);
  EXPECT_LT(s->generation.json_schema.find("title"), s->generation.json_schema.find("genre"));
  EXPECT_EQ(s->echo["text"]["format"]["name"], "movie");
}

TEST(ResponsesRequestTest, ImagePartsNeedAVisionModelAndKeepTheirPlace) {
  engine::ModelInfo vision = test_model();
  vision.has_vision = true;
  json body = {{"model", "m"},
               {"input",
                {{{"role", "user"},
                  {"content",
                   {{{"type", "input_text"}, {"text", "Oak chair"}},
                    {{"type", "input_image"}, {"image_url", "data:image/png;base64,AAAA"}, {"detail", "low"}},
                    {{"type", "input_text"}, {"text", "!"}}}}}}}};
  auto r = parse_responses_request(body, vision);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const auto& m = r->generation.messages[0];
  EXPECT_EQ(m.content, "Oak chair!");
  ASSERT_EQ(m.images.size(), 1u);
  EXPECT_EQ(m.images[0].offset, 9u);
  EXPECT_EQ(m.images[0].url, "data:image/png;base64,AAAA");
  EXPECT_EQ(m.images[0].detail, "low");
}

}  // namespace
}  // namespace openbatch::openai
