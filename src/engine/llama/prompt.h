// From messages to prompt tokens and from tokens back to text, with the model's own vocabulary.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "llama.h"

namespace openbatch::engine {

// Renders messages with the model's chat template (llama.cpp's built-in templates, detected from the
// GGUF's tokenizer.chat_template; ChatML when the model has none), ending with the assistant's turn.
Result<std::string> apply_chat_template(const std::string& chat_template,
                                        const std::vector<Message>& messages);

// As apply_chat_template, with `marker` written in place of each image of a message (at its offset),
// and the images in the order their markers appear in the text.
struct MarkedPrompt {
  std::string text;
  std::vector<const ImagePart*> images;  // into the messages passed in
};
Result<MarkedPrompt> apply_chat_template_with_images(const std::string& chat_template,
                                                     const std::vector<Message>& messages,
                                                     const std::string& marker);

// Tokenises text, parsing special tokens (the template's markers) as such.
std::vector<llama_token> tokenize(const llama_vocab* vocab, const std::string& text);

// Tokenises a user's text to embed: the model's own begin/end tokens added, none parsed from the text.
std::vector<llama_token> tokenize_input(const llama_vocab* vocab, const std::string& text);

// Tokenises generated text: no special tokens parsed, none added.
std::vector<llama_token> tokenize_text(const llama_vocab* vocab, const std::string& text);

// The bytes a token stands for (special tokens render as nothing).
std::string token_piece(const llama_vocab* vocab, llama_token token);

size_t common_prefix_length(const std::vector<llama_token>& a, const std::vector<llama_token>& b);

}  // namespace openbatch::engine
