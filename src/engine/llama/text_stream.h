// Turns generated pieces into text that is safe to hand out: whole UTF-8 characters, and nothing that
// might turn out to be the start of a stop string. Pure logic, no llama.cpp.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace openbatch::engine {

class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stop);

  // Appends a piece. Returns true when a stop string is now complete: the text is cut before it.
  bool append(std::string_view piece);
  // The text that can be handed out since the last call (may be empty).
  std::string take_ready();
  // Everything not yet handed out, at the end of the generation: held-back text that never became a
  // stop string is released; a broken UTF-8 character at the very end is dropped.
  std::string take_rest();
  const std::string& text() const { return text_; }

 private:
  size_t safe_end() const;

  std::vector<std::string> stop_;
  std::string text_;
  size_t sent_ = 0;
  bool stopped_ = false;
};

// Length of the longest prefix of s that ends on a UTF-8 character boundary with no partial
// character at its end.
size_t utf8_complete_prefix(std::string_view s);

}  // namespace openbatch::engine
