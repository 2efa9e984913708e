// From prompt text to tokens and from tokens back to text, with the model's own vocabulary (the
// prompt text itself comes from the chat template: chat_template.h).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "llama.h"

namespace openbatch::engine {

// Tokenises text, parsing special tokens (the template's markers) as such.
std::vector<llama_token> tokenize(const llama_vocab* vocab, const std::string& text);

// Tokenises a user's text to embed: the model's own begin/end tokens added, none parsed from the text.
std::vector<llama_token> tokenize_input(const llama_vocab* vocab, const std::string& text);

// Tokenises generated text: no special tokens parsed, none added.
std::vector<llama_token> tokenize_text(const llama_vocab* vocab, const std::string& text);

// Tokenises generated text that may hold a chat format's tags: special tokens parsed, none added.
std::vector<llama_token> tokenize_special_text(const llama_vocab* vocab, const std::string& text);

// The bytes a token stands for (special tokens render as nothing unless `special`).
std::string token_piece(const llama_vocab* vocab, llama_token token, bool special = false);

size_t common_prefix_length(const std::vector<llama_token>& a, const std::vector<llama_token>& b);

}  // namespace openbatch::engine
