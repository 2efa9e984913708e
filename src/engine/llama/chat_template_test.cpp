#include "engine/llama/chat_template.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine/llama/prompt.h"
#include "llama-cpp.h"
#include "testmodels/real_vocab.h"

namespace openbatch::engine {
namespace {

// A real vocabulary (llama.cpp's ggml-vocab-qwen2.gguf, loaded vocabulary only) and a real template.
class ChatTemplateTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    llama_backend_init();
    llama_model_params params = llama_model_default_params();
    params.vocab_only = true;
    const std::string path = testmodels::llama_models_dir() + "/ggml-vocab-qwen2.gguf";
    model_.reset(llama_model_load_from_file(path.c_str(), params));
  }
  static void TearDownTestSuite() { model_.reset(); }

  static std::unique_ptr<ChatTemplate> load(const std::string& file) {
    auto source = testmodels::load_chat_template(file);
    EXPECT_TRUE(source.is_ok()) << source.status().message();
    auto tmpl = ChatTemplate::load(model_.get(), "test", source.value());
    EXPECT_TRUE(tmpl.is_ok()) << tmpl.status().message();
    return std::move(tmpl).value();
  }

  static GenerationRequest weather_request(ToolChoice choice) {
    GenerationRequest r;
    r.messages = {{"user", "What is the weather in Paris?", {}}};
    r.tools = {{"get_weather", "The weather.",
                R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})", true}};
    r.tool_choice = choice;
    return r;
  }

  static llama_model_ptr model_;
};

llama_model_ptr ChatTemplateTest::model_;

TEST_F(ChatTemplateTest, RendersTheTemplatesOwnDefaultSystemPrompt) {
  auto tmpl = load("Qwen-Qwen2.5-7B-Instruct.jinja");
  GenerationRequest r;
  r.messages = {{"user", "What is the weather in Paris?", {}}};
  auto prompt = tmpl->render(r, "");
  ASSERT_TRUE(prompt.is_ok());
  EXPECT_NE(prompt->text.find("You are Qwen, created by Alibaba Cloud."), std::string::npos) << prompt->text;
  EXPECT_TRUE(prompt->text.ends_with("<|im_start|>assistant\n"));
  EXPECT_TRUE(prompt->grammar.empty());
}

TEST_F(ChatTemplateTest, ToolsGoIntoThePromptAndRequiredMeansACall) {
  auto tmpl = load("Qwen-Qwen2.5-7B-Instruct.jinja");
  auto required = tmpl->render(weather_request(ToolChoice::kRequired), "");
  ASSERT_TRUE(required.is_ok());
  EXPECT_NE(required->text.find("get_weather"), std::string::npos);
  EXPECT_FALSE(required->grammar_lazy);
  const size_t root = required->grammar.find("root ::=");
  ASSERT_NE(root, std::string::npos);
  const std::string root_rule = required->grammar.substr(root, required->grammar.find('\n', root) - root);
  EXPECT_EQ(root_rule.find("until-"), std::string::npos) << root_rule;
  EXPECT_FALSE(required->grammar_prefill.empty());

  auto automatic = tmpl->render(weather_request(ToolChoice::kAuto), "");
  ASSERT_TRUE(automatic.is_ok());
  EXPECT_TRUE(automatic->grammar_lazy);
  EXPECT_FALSE(automatic->trigger_tokens.empty() && automatic->trigger_patterns.empty());

  GenerationRequest named = weather_request(ToolChoice::kRequired);
  named.tool_choice_function = "no_such_tool";
  auto refused = tmpl->render(named, "");
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().param(), "tool_choice");
}

TEST_F(ChatTemplateTest, ParsesACallAndStreamsItInPieces) {
  auto tmpl = load("Qwen-Qwen2.5-7B-Instruct.jinja");
  auto prompt = tmpl->render(weather_request(ToolChoice::kAuto), "");
  ASSERT_TRUE(prompt.is_ok());
  const std::string text =
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
  ParsedMessage whole = prompt->parser->parse(text, /*partial=*/false);
  ASSERT_EQ(whole.tool_calls.size(), 1u);
  EXPECT_EQ(whole.tool_calls[0].name, "get_weather");
  EXPECT_EQ(nlohmann::json::parse(whole.tool_calls[0].arguments),
            nlohmann::json::parse(R"({"city":"Paris"})"));
  EXPECT_EQ(whole.content, "");

  MessageStream stream(prompt->parser);
  std::string arguments, name;
  for (size_t i = 0; i < text.size(); i += 5) {
    GenerationDelta d = stream.append(text.substr(i, 5), /*partial=*/true);
    EXPECT_TRUE(d.content.empty()) << d.content;
    for (const auto& t : d.tool_calls) {
      EXPECT_EQ(t.index, 0);
      if (!t.name.empty()) name = t.name;
      arguments += t.arguments;
    }
  }
  EXPECT_EQ(name, "get_weather");
  EXPECT_EQ(nlohmann::json::parse(arguments), nlohmann::json::parse(R"({"city":"Paris"})"));

  ParsedMessage prose = prompt->parser->parse("It is sunny.", false);
  EXPECT_EQ(prose.content, "It is sunny.");
  EXPECT_TRUE(prose.tool_calls.empty());
}

// parallel_tool_calls false (or a named function) asks for one call; llama.cpp's grammar for Hermes'
// per-call tags still allows more, so the prompt says so and the engine ends at the first whole call.
TEST_F(ChatTemplateTest, OneCallWhenParallelCallsAreOff) {
  auto tmpl = load("Qwen-Qwen2.5-7B-Instruct.jinja");
  struct Case {
    ToolChoice choice;
    bool parallel;
    std::string function;
    bool single;
  };
  for (const Case& c :
       {Case{ToolChoice::kRequired, false, "", true}, Case{ToolChoice::kAuto, false, "", true},
        Case{ToolChoice::kRequired, true, "get_weather", true}, Case{ToolChoice::kRequired, true, "", false},
        Case{ToolChoice::kAuto, true, "", false}, Case{ToolChoice::kNone, false, "", false}}) {
    GenerationRequest r = weather_request(c.choice);
    r.parallel_tool_calls = c.parallel;
    r.tool_choice_function = c.function;
    auto prompt = tmpl->render(r, "");
    ASSERT_TRUE(prompt.is_ok());
    EXPECT_EQ(prompt->single_tool_call, c.single) << static_cast<int>(c.choice) << c.parallel << c.function;
  }
  GenerationRequest plain;
  plain.messages = {{"user", "Hi", {}}};
  plain.parallel_tool_calls = false;
  EXPECT_FALSE(tmpl->render(plain, "")->single_tool_call);
}

// A call is whole once its arguments' object closes; the parser hands out a cut call's arguments as far
// as they go, even in a final parse.
TEST_F(ChatTemplateTest, ACutCallIsNotComplete) {
  auto tmpl = load("Qwen-Qwen2.5-7B-Instruct.jinja");
  auto prompt = tmpl->render(weather_request(ToolChoice::kRequired), "");
  ASSERT_TRUE(prompt.is_ok());
  const std::string call = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}";
  for (const std::string& cut : {call.substr(0, call.size() - 8), call.substr(0, call.size() - 2)}) {
    ParsedMessage m = prompt->parser->parse(cut, /*partial=*/false);
    ASSERT_EQ(m.tool_calls.size(), 1u) << cut;
    EXPECT_FALSE(call_complete(m.tool_calls[0])) << m.tool_calls[0].arguments;
  }
  for (const std::string& whole : {call.substr(0, call.size() - 1), call + "\n</tool_call>"}) {
    ParsedMessage m = prompt->parser->parse(whole, /*partial=*/true);
    ASSERT_EQ(m.tool_calls.size(), 1u) << whole;
    EXPECT_TRUE(call_complete(m.tool_calls[0])) << m.tool_calls[0].arguments;
  }
  EXPECT_FALSE(call_complete({"", "", R"({"city": "Paris"})"}));
  EXPECT_FALSE(call_complete({"", "get_weather", R"("Paris")"}));
}

TEST_F(ChatTemplateTest, ThinkingGoesToReasoningAndCanBeTurnedOff) {
  auto tmpl = load("Qwen-Qwen3-0.6B.jinja");
  EXPECT_TRUE(tmpl->supports_thinking_switch());
  GenerationRequest r;
  r.messages = {{"user", "Hi", {}}};
  auto thinking = tmpl->render(r, "");
  ASSERT_TRUE(thinking.is_ok());
  EXPECT_EQ(thinking->thinking_start_tag.find("<think>"), 0u);
  ParsedMessage m = thinking->parser->parse("<think>\nLet me see.\n</think>\n\nHello!", false);
  EXPECT_TRUE(m.reasoning_content.starts_with("Let me see.")) << m.reasoning_content;
  EXPECT_EQ(m.content, "Hello!");

  r.reasoning_effort = ReasoningEffort::kNone;
  auto plain = tmpl->render(r, "");
  ASSERT_TRUE(plain.is_ok());
  EXPECT_NE(plain->text.find("<think>\n\n</think>"), std::string::npos) << plain->text;
  EXPECT_FALSE(plain->thinking_open);
}

TEST_F(ChatTemplateTest, ATemplateThatDoesNotParseStopsTheLoad) {
  auto tmpl = ChatTemplate::load(model_.get(), "broken.gguf", "{% for m in messages %}{{ m.content ");
  ASSERT_FALSE(tmpl.is_ok());
  EXPECT_NE(tmpl.status().message().find("broken.gguf"), std::string::npos);
}

}  // namespace
}  // namespace openbatch::engine
