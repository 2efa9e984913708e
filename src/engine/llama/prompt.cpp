#include "engine/llama/prompt.h"

#include <algorithm>

namespace openbatch::engine {

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

std::vector<llama_token> tokenize_special_text(const llama_vocab* vocab, const std::string& text) {
  return tokenize_impl(vocab, text, /*add_special=*/false, /*parse_special=*/true);
}

std::string token_piece(const llama_vocab* vocab, llama_token token, bool special) {
  char buf[256];
  int32_t n = llama_token_to_piece(vocab, token, buf, sizeof buf, 0, special);
  if (n < 0) {
    std::string big(-n, '\0');
    n = llama_token_to_piece(vocab, token, big.data(), static_cast<int32_t>(big.size()), 0, special);
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
