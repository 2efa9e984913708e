#include "engine/llama/raw_prompt.h"

#include <memory>

#include "engine/llama/prompt.h"

namespace openbatch::engine {

namespace {

class PlainTextParser final : public ChatOutputParser {
 public:
  ParsedMessage parse(const std::string& text, bool /*partial*/) const override {
    ParsedMessage out;
    out.content = text;
    return out;
  }
  bool structured() const override { return false; }
};

}  // namespace

ChatPrompt raw_chat_prompt(const RawPrompt& prompt) {
  static const auto parser = std::make_shared<const PlainTextParser>();
  ChatPrompt out;
  out.text = prompt.text;
  out.parser = parser;
  return out;
}

Result<std::vector<llama_token>> raw_prompt_tokens(const llama_vocab* vocab, const RawPrompt& prompt) {
  std::vector<llama_token> tokens;
  if (!prompt.tokens.empty()) {
    const int vocab_size = llama_vocab_n_tokens(vocab);
    for (int32_t t : prompt.tokens) {
      if (t < 0 || t >= vocab_size) {
        return Status::invalid_request("Invalid token id " + std::to_string(t) +
                                           " in 'prompt': the vocabulary has " + std::to_string(vocab_size) +
                                           " tokens.",
                                       "prompt", "invalid_value");
      }
    }
    tokens.assign(prompt.tokens.begin(), prompt.tokens.end());
  } else {
    tokens = tokenize(vocab, prompt.text);
  }
  if (tokens.empty()) return Status::invalid_request("The prompt has no tokens.", "prompt", "invalid_value");
  return tokens;
}

std::string raw_prompt_echo(const llama_vocab* vocab, const RawPrompt& prompt) {
  if (prompt.tokens.empty()) return prompt.text;
  std::string out;
  for (int32_t t : prompt.tokens) out += token_piece(vocab, t);
  return out;
}

}  // namespace openbatch::engine
