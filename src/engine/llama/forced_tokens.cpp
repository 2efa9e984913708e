#include "engine/llama/forced_tokens.h"

#include <cstdint>

#include "engine/llama/prompt.h"

namespace openbatch::engine {

ForcedTokens take_forced_tokens(RequestSampler& sampler, const llama_vocab* vocab, const ByteTokens& bytes,
                                const ChatPrompt& chat, int budget) {
  ForcedTokens out;
  if (budget <= 0) return out;
  out.text = sampler.take_forced_text(kMaxForcedBytes);
  if (out.text.empty()) return out;
  out.tokens =
      chat.preserved_tokens.empty() ? tokenize_text(vocab, out.text) : tokenize_special_text(vocab, out.text);
  std::string spelled;
  for (llama_token t : out.tokens) spelled += chat.piece_of(vocab, t);
  if (spelled != out.text) {
    out.tokens.clear();
    for (char c : out.text) out.tokens.push_back(bytes.of_byte[static_cast<uint8_t>(c)]);
  }
  if (static_cast<int>(out.tokens.size()) > budget) {
    out.tokens.resize(static_cast<size_t>(budget));
    out.text.clear();
    for (llama_token t : out.tokens) out.text += chat.piece_of(vocab, t);
  }
  sampler.accept_forced(out.tokens);
  return out;
}

}  // namespace openbatch::engine
