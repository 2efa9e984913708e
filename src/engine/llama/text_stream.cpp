#include "engine/llama/text_stream.h"

#include <algorithm>

namespace openbatch::engine {

size_t utf8_complete_prefix(std::string_view s) {
  // Walk back over at most 3 continuation bytes to the lead byte of the last character.
  size_t n = s.size();
  size_t i = n;
  int back = 0;
  while (i > 0 && back < 4) {
    unsigned char c = static_cast<unsigned char>(s[i - 1]);
    if ((c & 0xC0) != 0x80) {  // a lead byte or ASCII
      size_t need = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
      return (n - (i - 1) >= need) ? n : i - 1;
    }
    --i;
    ++back;
  }
  return n;
}

TextStream::TextStream(std::vector<std::string> stop) : stop_(std::move(stop)) {
  std::erase_if(stop_, [](const std::string& s) { return s.empty(); });
}

bool TextStream::append(std::string_view piece) {
  if (stopped_) return true;
  const size_t old_size = text_.size();
  text_.append(piece);
  size_t longest = 0;
  for (const auto& s : stop_) longest = std::max(longest, s.size());
  const size_t from = old_size >= longest ? old_size - longest + 1 : 0;
  size_t cut = std::string::npos;
  for (const auto& s : stop_) {
    size_t pos = text_.find(s, from);
    if (pos != std::string::npos) cut = std::min(cut, pos);
  }
  if (cut != std::string::npos) {
    text_.resize(cut);
    sent_ = std::min(sent_, text_.size());
    stopped_ = true;
  }
  return stopped_;
}

size_t TextStream::safe_end() const {
  size_t end = text_.size();
  // Hold back the longest tail that is a prefix of some stop string.
  for (const auto& s : stop_) {
    for (size_t k = std::min(s.size() - 1, text_.size()); k > 0; --k) {
      if (text_.compare(text_.size() - k, k, s, 0, k) == 0) {
        end = std::min(end, text_.size() - k);
        break;
      }
    }
  }
  return utf8_complete_prefix(std::string_view(text_).substr(0, end));
}

std::string TextStream::take_ready() {
  size_t end = stopped_ ? utf8_complete_prefix(text_) : safe_end();
  if (end <= sent_) return "";
  std::string out = text_.substr(sent_, end - sent_);
  sent_ = end;
  return out;
}

std::string TextStream::take_rest() {
  size_t end = utf8_complete_prefix(text_);
  text_.resize(end);
  if (end <= sent_) return "";
  std::string out = text_.substr(sent_);
  sent_ = end;
  return out;
}

}  // namespace openbatch::engine
