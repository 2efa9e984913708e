// Counts the completion tokens a generation spends thinking: all of them from the start of the thinking
// block (the prompt's end, or a start tag the model writes first) to the token that completes an end
// tag. Internal to engine/llama/.
#pragma once

#include <string>

#include "engine/llama/chat_template.h"

namespace openbatch::engine {

class ReasoningCounter {
 public:
  ReasoningCounter() = default;
  // Starts inside the thinking block when the prompt opened it; counts nothing when the format has no
  // end tag.
  explicit ReasoningCounter(const ChatPrompt& chat)
      : thinking_(chat.thinking_open), done_(chat.thinking_end_tags.empty()) {}

  // Reads the text generated so far, `completion_tokens` tokens, and sets reasoning_tokens to them
  // while the model thinks. REQUIRES: chat is the prompt the counter was made with.
  void update(const ChatPrompt& chat, const std::string& text, int completion_tokens, int& reasoning_tokens);

 private:
  bool thinking_ = false;  // the model is inside its thinking block
  bool done_ = true;       // it has left it, or never opened one
};

}  // namespace openbatch::engine
