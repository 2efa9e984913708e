#include "engine/llama/prompt.h"

#include <algorithm>

namespace openbatch::engine {

Result<std::string> apply_chat_template(const std::string& chat_template,
                                        const std::vector<Message>& messages) {
  std::vector<llama_chat_message> chat;
  chat.reserve(messages.size());
  size_t total = 0;
  for (const auto& m : messages) {
    chat.push_back({m.role.c_str(), m.content.c_str()});
    total += m.content.size() + m.role.size() + 32;
  }
  const char* tmpl = chat_template.empty() ? "chatml" : chat_template.c_str();
  std::string buf(total * 2 + 256, '\0');
  int32_t n = llama_chat_apply_template(tmpl, chat.data(), chat.size(), true, buf.data(),
                                        static_cast<int32_t>(buf.size()));
  if (n > static_cast<int32_t>(buf.size())) {
    buf.resize(n);
    n = llama_chat_apply_template(tmpl, chat.data(), chat.size(), true, buf.data(), n);
  }
  if (n < 0) return Status::internal("the model's chat template is not supported by this server");
  buf.resize(n);
  return buf;
}

Result<MarkedPrompt> apply_chat_template_with_images(const std::string& chat_template,
                                                     const std::vector<Message>& messages,
                                                     const std::string& marker) {
  MarkedPrompt out;
  std::vector<Message> marked;
  marked.reserve(messages.size());
  for (const Message& m : messages) {
    Message copy{m.role, "", {}};
    size_t from = 0;
    for (const ImagePart& image : m.images) {
      const size_t at = std::min(image.offset, m.content.size());
      copy.content.append(m.content, from, at - from);
      copy.content += marker;
      from = std::max(from, at);
      out.images.push_back(&image);
    }
    copy.content.append(m.content, from, std::string::npos);
    marked.push_back(std::move(copy));
  }
  auto text = apply_chat_template(chat_template, marked);
  if (!text) return text.status();
  out.text = std::move(text).value();
  return out;
}

namespace {

std::vector<llama_token> tokenize_impl(const llama_vocab* vocab, const std::string& text, bool add_special,
                                       bool parse_special) {
  std::vector<llama_token> tokens(text.size() + 8);
  int32_t n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                             static_cast<int32_t>(tokens.size()), add_special, parse_special);
  if (n < 0) {
    tokens.resize(-n);
    n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                       static_cast<int32_t>(tokens.size()), add_special, parse_special);
  }
  tokens.resize(std::max<int32_t>(n, 0));
  return tokens;
}

}  // namespace

std::vector<llama_token> tokenize(const llama_vocab* vocab, const std::string& text) {
  return tokenize_impl(vocab, text, /*add_special=*/true, /*parse_special=*/true);
}

std::vector<llama_token> tokenize_input(const llama_vocab* vocab, const std::string& text) {
  return tokenize_impl(vocab, text, /*add_special=*/true, /*parse_special=*/false);
}

std::vector<llama_token> tokenize_text(const llama_vocab* vocab, const std::string& text) {
  return tokenize_impl(vocab, text, /*add_special=*/false, /*parse_special=*/false);
}

std::string token_piece(const llama_vocab* vocab, llama_token token) {
  char buf[256];
  int32_t n = llama_token_to_piece(vocab, token, buf, sizeof buf, 0, /*special=*/false);
  if (n < 0) {
    std::string big(-n, '\0');
    n = llama_token_to_piece(vocab, token, big.data(), static_cast<int32_t>(big.size()), 0, false);
    big.resize(std::max<int32_t>(n, 0));
    return big;
  }
  return std::string(buf, n);
}

size_t common_prefix_length(const std::vector<llama_token>& a, const std::vector<llama_token>& b) {
  size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

}  // namespace openbatch::engine
