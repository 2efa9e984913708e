// Jump-forward decoding: the text a grammar forces next (a schema's keys, JSON punctuation) is decoded
// like prompt tokens in the next step instead of being drawn token by token. Internal to engine/llama/.
#pragma once

#include <string>
#include <vector>

#include "engine/llama/chat_template.h"
#include "engine/llama/sampling.h"
#include "llama.h"

namespace openbatch::engine {

// Forced text, as the tokens to decode.
struct ForcedTokens {
  std::vector<llama_token> tokens;
  std::string text;  // what the tokens spell
};

// The most bytes of forced text taken at once.
inline constexpr size_t kMaxForcedBytes = 64;

// Takes the text the sampler's grammar forces next (at most kMaxForcedBytes), spelled in the model's
// tokens: a format's own tags (chat.preserved_tokens) as the single tokens the model knows, and byte by
// byte where the tokenizer would change the text (SentencePiece's leading space). At most `budget`
// tokens: the generation ends at its limit within the forced text. The sampler accepts the tokens
// (grammar and penalties). Nothing, and nothing taken, when budget <= 0 or the grammar forces nothing.
ForcedTokens take_forced_tokens(RequestSampler& sampler, const llama_vocab* vocab, const ByteTokens& bytes,
                                const ChatPrompt& chat, int budget);

}  // namespace openbatch::engine
