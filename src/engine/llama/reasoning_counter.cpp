#include "engine/llama/reasoning_counter.h"

#include <string_view>

namespace openbatch::engine {

void ReasoningCounter::update(const ChatPrompt& chat, const std::string& text, int completion_tokens,
                              int& reasoning_tokens) {
  if (done_) return;
  if (!thinking_) {
    const size_t start = text.find_first_not_of(" \t\r\n");
    if (start == std::string::npos) return;
    const std::string_view rest = std::string_view(text).substr(start);
    const std::string& tag = chat.thinking_start_tag;
    if (tag.empty()) {
      done_ = true;
      return;
    }
    if (rest.size() < tag.size()) {
      if (!tag.starts_with(rest)) done_ = true;
      return;
    }
    if (!rest.starts_with(tag)) {
      done_ = true;
      return;
    }
    thinking_ = true;
  }
  reasoning_tokens = completion_tokens;
  for (const std::string& end : chat.thinking_end_tags) {
    if (!end.empty() && text.find(end) != std::string::npos) {
      thinking_ = false;
      done_ = true;
    }
  }
}

}  // namespace openbatch::engine
