#include "engine/llama/sampling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>

#include "engine/llama/chat_template.h"
#include "engine/llama/prompt.h"
#include "engine/llama/text_stream.h"
#include "llama-cpp.h"
#include "testmodels/real_vocab.h"

namespace openbatch::engine {
namespace {

// Real vocabularies (loaded vocabulary only) with the templates of the test models' shapes.
class WhitespaceBoundTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    llama_backend_init();
    llama_model_params params = llama_model_default_params();
    params.vocab_only = true;
    for (const char* name : {"qwen2", "llama-bpe"}) {
      const std::string path = testmodels::llama_models_dir() + "/ggml-vocab-" + name + ".gguf";
      models_.emplace_back(llama_model_load_from_file(path.c_str(), params));
    }
  }
  static void TearDownTestSuite() { models_.clear(); }

  static const llama_model* model(const std::string& tmpl) {
    return tmpl.starts_with("meta-llama") ? models_[1].get() : models_[0].get();
  }

  static std::vector<llama_model_ptr> models_;
};

std::vector<llama_model_ptr> WhitespaceBoundTest::models_;

GenerationRequest request_of(const std::string& mode) {
  GenerationRequest r;
  r.messages = {{"user", "What is the weather in Paris?", {}}};
  r.reasoning_effort = ReasoningEffort::kNone;
  r.sampling.temperature = 1.0f;
  if (mode == "tools") {
    r.tools = {
        {"get_weather", "The weather.",
         R"({"type":"object","properties":{"city":{"type":"string"},"days":{"type":"array","items":)"
         R"({"type":"integer"}},"unit":{"type":"string","enum":["c","f"]}},"required":["city","days","unit"]})",
         true}};
    r.tool_choice = ToolChoice::kRequired;
    r.parallel_tool_calls = false;
  } else if (mode == "json_object") {
    r.response_format = ResponseFormat::kJsonObject;
  } else {
    r.response_format = ResponseFormat::kJsonSchema;
    r.json_schema =
        R"({"type":"object","properties":{"title":{"type":"string"},"tags":{"type":"array","items":)"
        R"({"type":"string"}},"meta":{"type":"object","properties":{"year":{"type":"integer"}},)"
        R"("required":["year"]}},"required":["title","tags","meta"]})";
  }
  return r;
}

struct Walk {
  std::string text;
  int longest_run = 0;  // the longest whitespace run outside JSON strings
  bool ended = false;   // the grammar let it end
};

// A model that writes whitespace wherever it is allowed to and, inside a string, soon closes it: the
// worst case for the bound. Everything else is noise. lone_bytes: inside a string it prefers the tokens
// of single non-ASCII bytes (pieces of UTF-8 characters), as a weak model may.
Walk walk(const llama_vocab* vocab, const ByteTokens& bytes, RequestSampler& sampler, uint32_t seed,
          bool lone_bytes = false) {
  const int n_vocab = llama_vocab_n_tokens(vocab);
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 2.0f);
  std::vector<float> logits(n_vocab);
  std::vector<bool> opens_with_quote(n_vocab);
  for (int t = 0; t < n_vocab; ++t) opens_with_quote[t] = token_piece(vocab, t).starts_with('"');
  Walk w;
  bool in_string = false, escaped = false;
  int run = 0;
  auto read = [&](const std::string& piece) {
    w.text += piece;
    for (char c : piece) {
      if (in_string) {
        if (escaped) {
          escaped = false;
        } else if (c == '\\') {
          escaped = true;
        } else if (c == '"') {
          in_string = false;
        }
        continue;
      }
      if (c == '"') in_string = true;
      run = (c == ' ' || c == '\n' || c == '\t' || c == '\r') ? run + 1 : 0;
      w.longest_run = std::max(w.longest_run, run);
    }
  };
  for (int step = 0; step < 400; ++step) {
    for (int t = 0; t < n_vocab; ++t) {
      logits[t] = noise(rng);
      const TokenText& s = bytes.text[t];
      if (!in_string && s.all_blank && s.leading > 0) logits[t] += 40.0f;
      if (in_string && opens_with_quote[t]) logits[t] += 8.0f;
    }
    if (in_string && lone_bytes) {
      for (int b = 0x80; b < 0x100; ++b) {
        if (bytes.of_byte[b] >= 0) logits[bytes.of_byte[b]] += 12.0f;
      }
    }
    const llama_token token = sampler.sample(logits.data());
    if (llama_vocab_is_eog(vocab, token)) {
      w.ended = true;
      break;
    }
    read(token_piece(vocab, token, /*special=*/true));
    read(sampler.take_forced_text(64));
  }
  return w;
}

// An ended walk of a required call: its text parses into at least one call, each complete.
void expect_complete_calls(const ChatPrompt& prompt, const std::string& text) {
  ParsedMessage m = prompt.parser->parse(text, /*partial=*/false);
  ASSERT_GE(m.tool_calls.size(), 1u) << text;
  for (const ToolCall& call : m.tool_calls) EXPECT_TRUE(call_complete(call)) << text;
}

TEST_F(WhitespaceBoundTest, LlamasGrammarsAloneLetBlanksRunOn) {
  const llama_vocab* vocab = llama_model_get_vocab(models_[0].get());
  GenerationRequest r = request_of("json_object");
  ChatPrompt plain;
  plain.parser = nullptr;
  auto grammar = prepare_sampling(vocab, r, plain);
  ASSERT_TRUE(grammar.is_ok());
  SamplerPtr g(llama_sampler_clone((*grammar)->prototype.get()));
  // Between two tokens of the object: far more blanks than a pretty-printer writes.
  const std::string text = "{\"a\":" + std::string(1, '\n') + std::string(20, ' ') + "1" +
                           std::string(1, '\n') + std::string(20, '\t') + "}";
  for (llama_token t : tokenize_text(vocab, text)) {
    llama_token_data d{t, 1.0f, 0.0f};
    llama_token_data_array one{&d, 1, -1, false};
    llama_sampler_apply(g.get(), &one);
    ASSERT_FALSE(std::isinf(d.logit)) << "the grammar rejects " << token_piece(vocab, t);
    llama_sampler_accept(g.get(), t);
  }
}

// Every structured answer the templates' grammars shape (a required call, json_object, json_schema),
// written by a model that wants blanks everywhere: no run outside strings is longer than the bound,
// the bound is reached (the pressure was real), and the answers that end parse.
TEST_F(WhitespaceBoundTest, RunsOutsideStringsStopAtTheBound) {
  for (const std::string tmpl_file : {"Qwen-Qwen2.5-7B-Instruct.jinja",
                                      "meta-llama-Llama-3.2-3B-Instruct.jinja", "Qwen-Qwen3-0.6B.jinja"}) {
    auto source = testmodels::load_chat_template(tmpl_file);
    ASSERT_TRUE(source.is_ok()) << source.status().message();
    auto tmpl = ChatTemplate::load(model(tmpl_file), "test", *source);
    ASSERT_TRUE(tmpl.is_ok()) << tmpl.status().message();
    const llama_vocab* vocab = llama_model_get_vocab(model(tmpl_file));
    const ByteTokens bytes = ByteTokens::of(vocab);
    for (const std::string mode : {"tools", "json_object", "json_schema"}) {
      SCOPED_TRACE(tmpl_file + " " + mode);
      GenerationRequest r = request_of(mode);
      auto prompt = (*tmpl)->render(r, "");
      ASSERT_TRUE(prompt.is_ok()) << prompt.status().message();
      auto grammar = prepare_sampling(vocab, r, *prompt);
      ASSERT_TRUE(grammar.is_ok()) << grammar.status().message();
      int longest = 0, ended = 0;
      for (uint32_t seed = 1; seed <= 3; ++seed) {
        r.sampling.seed = seed;
        RequestSampler sampler(vocab, r, *grammar, &bytes);
        const Walk w = walk(vocab, bytes, sampler, seed);
        EXPECT_LE(w.longest_run, kMaxStructuralWhitespace) << w.text;
        longest = std::max(longest, w.longest_run);
        if (!w.ended) continue;
        ++ended;
        if (mode == "tools") {
          // (Ending at the first call is the engine's: here the grammar lets the walk go on to more.)
          expect_complete_calls(*prompt, w.text);
        } else {
          ParsedMessage m = prompt->parser->parse(w.text, /*partial=*/false);
          std::string json = m.content;
          // The templates' grammars allow a ```json fence around the object.
          if (const size_t open = json.find("```json"); open != std::string::npos) {
            json = json.substr(open + 7, json.rfind("```") - open - 7);
          }
          EXPECT_TRUE(nlohmann::json::parse(json, nullptr, false).is_object()) << w.text;
        }
      }
      EXPECT_EQ(longest, kMaxStructuralWhitespace);
      EXPECT_GT(ended, 0);
    }
  }
}

// llama.cpp's grammars take a string's bytes one by one, so a model that writes pieces of characters
// could leave invalid UTF-8 in a string (and llama.cpp's parser then reads no call at all): the sampler
// keeps the text UTF-8.
TEST_F(WhitespaceBoundTest, StringsStayUtf8) {
  auto source = testmodels::load_chat_template("Qwen-Qwen2.5-7B-Instruct.jinja");
  ASSERT_TRUE(source.is_ok());
  auto tmpl = ChatTemplate::load(models_[0].get(), "test", *source);
  ASSERT_TRUE(tmpl.is_ok());
  const llama_vocab* vocab = llama_model_get_vocab(models_[0].get());
  const ByteTokens bytes = ByteTokens::of(vocab);
  int non_ascii = 0, ended = 0;
  for (const std::string mode : {"tools", "json_object"}) {
    GenerationRequest r = request_of(mode);
    auto prompt = (*tmpl)->render(r, "");
    ASSERT_TRUE(prompt.is_ok());
    auto grammar = prepare_sampling(vocab, r, *prompt);
    ASSERT_TRUE(grammar.is_ok());
    for (uint32_t seed = 1; seed <= 3; ++seed) {
      r.sampling.seed = seed;
      RequestSampler sampler(vocab, r, *grammar, &bytes);
      const Walk w = walk(vocab, bytes, sampler, seed, /*lone_bytes=*/true);
      // A walk cut short may end inside a character; before that, every byte is valid UTF-8.
      const nlohmann::json whole = w.text.substr(0, utf8_complete_prefix(w.text));
      EXPECT_EQ(whole.dump(-1, ' ', false, nlohmann::json::error_handler_t::ignore),
                whole.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
          << "invalid UTF-8: " << w.text;
      non_ascii += std::ranges::any_of(w.text, [](char c) { return static_cast<uint8_t>(c) >= 0x80; });
      if (!w.ended) continue;
      ++ended;
      if (mode == "tools") expect_complete_calls(*prompt, w.text);
    }
  }
  EXPECT_GT(non_ascii, 3);  // the pressure was real
  EXPECT_GT(ended, 0);
}

}  // namespace
}  // namespace openbatch::engine
