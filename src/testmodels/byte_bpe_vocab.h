// A small byte-level BPE vocabulary in GPT-2 form, for the random-weight models of make-model: the 256
// byte tokens, a few hundred merges learned from a short English text embedded in the binary, and the
// ChatML special tokens. Any UTF-8 text tokenizes with it (bytes are the fallback), and common English
// words are one or two tokens.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace openbatch::testmodels {

// llama.cpp's token types (llama_token_type), as stored in tokenizer.ggml.token_type.
inline constexpr int32_t kTokenTypeNormal = 1;
inline constexpr int32_t kTokenTypeControl = 3;

struct ByteBpeVocab {
  // Token texts in GPT-2's byte-to-unicode form; token i < 256 is the single byte i.
  std::vector<std::string> tokens;
  std::vector<int32_t> token_types;  // kTokenTypeNormal or kTokenTypeControl, one per token
  std::vector<std::string> merges;   // "left right" in GPT-2 form, highest priority first
  int32_t endoftext_id = -1;         // <|endoftext|>
  int32_t im_start_id = -1;          // <|im_start|>
  int32_t im_end_id = -1;            // <|im_end|>
};

// The vocabulary, trained on first use. Deterministic: the same on every call, run and platform.
// Thread-safe.
const ByteBpeVocab& byte_bpe_vocab();

// GPT-2's bytes_to_unicode: the printable character (as UTF-8) that stands for byte b in token texts.
std::string gpt2_byte_to_unicode(uint8_t b);

// Learns up to max_merges BPE merges from text, splitting it into words first the way Qwen2's
// pre-tokenizer does for ASCII text. Stops early when no pair occurs twice. Ties go to the pair that
// sorts first, so the result depends on nothing but the arguments.
std::vector<std::string> train_bpe_merges(const std::string& text, int max_merges);

}  // namespace openbatch::testmodels
