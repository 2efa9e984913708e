// Per-request token sampling: the sampler chain (logit bias, penalties, top-p, temperature, seeded
// draw), the grammar that enforces a response_format or tool calls (with a bound on the whitespace it
// lets run on between JSON tokens), jump-forward over text the grammar forces, and log-probabilities of
// generated tokens.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "llama.h"

namespace openbatch::engine {

struct SamplerDeleter {
  void operator()(llama_sampler* s) const { llama_sampler_free(s); }
};
using SamplerPtr = std::unique_ptr<llama_sampler, SamplerDeleter>;

// The grammar of a response_format, parsed once per schema and vocabulary; each request clones it.
struct CompiledGrammar {
  SamplerPtr prototype;  // llama's grammar sampler in its start state: cloned, never used itself
};

struct ChatPrompt;

// Checks a request's sampling options (token ids in logit_bias) and returns the compiled grammar that
// enforces its rendered prompt's constraints (tool calls, response_format), or null for free text.
// Thread-safe.
Result<std::shared_ptr<const CompiledGrammar>> prepare_sampling(const llama_vocab* vocab,
                                                                const GenerationRequest& request,
                                                                const ChatPrompt& prompt);

// The longest run of whitespace a grammar-constrained answer may write between JSON tokens (outside
// strings): a newline and 15 characters of indentation, what a pretty-printer writes at a depth of 7
// with two spaces. llama.cpp's grammars allow up to 22 characters a `space` rule and put several of them
// side by side (`space space`, `(tool-call? space)+`), so a weak model could spend its whole budget on
// blanks inside a structured answer.
inline constexpr int kMaxStructuralWhitespace = 16;

// What one token's text does to the text before it: to a run of blanks, and to a UTF-8 character
// left unfinished.
struct TokenText {
  uint16_t leading = 0;        // whitespace bytes before the first other byte (all of them when all_blank)
  uint16_t trailing = 0;       // whitespace bytes after the last other byte (0 when all_blank)
  uint16_t longest_inner = 0;  // the longest run after the first other byte (trailing included)
  bool all_blank = false;
  // Where a UTF-8 decoder stands after the token, given where it stood before (the index): 0 between
  // characters, 1 to 3 continuation bytes lacking, 4 to 7 after a lead byte whose next byte has a narrower
  // range (E0, ED, F0, F4); -1 where the token's bytes make the text invalid UTF-8.
  std::array<int8_t, 8> utf8_after{};
};

// Where a vocabulary keeps its single-byte tokens and end-of-generation tokens, and what each token's
// text is made of. Computed once per model.
struct ByteTokens {
  std::array<llama_token, 256> of_byte;  // -1 where the vocabulary has no token for that byte alone
  std::vector<llama_token> end_of_generation;
  std::vector<TokenText> text;  // one per token

  static ByteTokens of(const llama_vocab* vocab);
};

// Samples the tokens of one generation.
class RequestSampler {
 public:
  // REQUIRES: grammar came from prepare_sampling(vocab, request); bytes outlives the sampler.
  RequestSampler(const llama_vocab* vocab, const GenerationRequest& request,
                 const std::shared_ptr<const CompiledGrammar>& grammar, const ByteTokens* bytes);

  // Draws the next token from a row of logits (llama_get_logits_ith) and accepts it. Samplers of
  // different generations may run on different threads at once. The grammar is checked
  // after the draw, as llama-server does: only when it rejects the token are the logits masked and
  // the draw repeated, so a grammar costs one token check per step instead of a vocabulary scan.
  // Under a grammar, a run of whitespace where the grammar allows only whitespace and JSON's own
  // tokens (not inside a string or free text, where it allows any character) ends at
  // kMaxStructuralWhitespace bytes, and no token holding a longer run after other text is drawn: the
  // longest run outside strings is bounded whatever the grammar's `space` rules allow. The bound
  // gives way only where the grammar allows nothing else. Under a grammar the text also stays valid
  // UTF-8 (llama.cpp's grammars take a string's bytes one by one, and its parser refuses a call whose
  // arguments are not UTF-8).
  llama_token sample(const float* logits);

  // Jump-forward decoding: the text the grammar allows as the only continuation (a schema's keys,
  // punctuation), at most max_bytes of ASCII, already accepted by the grammar. Empty without a grammar.
  std::string take_forced_text(size_t max_bytes);

  // Tells the chain (penalties) about tokens that were appended without being drawn.
  void accept_forced(const std::vector<llama_token>& tokens);

  // The whitespace bytes at the end of what was sampled or forced so far.
  int whitespace_run() const { return whitespace_run_; }

 private:
  // The vocabulary's logits after logit_bias and the penalties, into candidates_.
  void fill_candidates(const float* logits);
  // Keeps the candidates that can be drawn at all: those within kCutLogits * temperature of the
  // best (the others' probability is below e^-kCutLogits of the best's, 1e-13), all of them at
  // temperature 0 but the best. A 150k vocabulary leaves a few hundred at most, so the softmax and
  // a grammar's mask run over those instead of all.
  // Returns the floor it cut at; below_best lowers it further.
  float cut_candidates(float below_best = INFINITY);
  llama_token draw_from(llama_token_data_array& candidates);
  llama_token sample_with_grammar(const float* logits);
  static constexpr float kCutLogits = 30.0f;
  llama_token only_end_of_generation(const llama_token_data_array& masked) const;
  // Whether the grammar, where it stands, allows only structure (whitespace, JSON punctuation and
  // literals): it rejects '~', which any string or free text takes.
  bool at_structure() const;
  // The most leading whitespace a token may bring now (INT_MAX where the run is not bounded).
  int leading_whitespace_allowed() const;
  // Whether token would break the whitespace bound or UTF-8.
  bool unwanted(llama_token token) const;
  // Sets the logits of the tokens that would break the whitespace bound or UTF-8 to -inf. Returns
  // whether any token is left.
  bool mask_unwanted(llama_token_data_array& candidates) const;
  void track_text(llama_token token);

  int n_vocab_ = 0;
  float temperature_ = 1.0f;
  SamplerPtr pre_;      // logit_bias and penalties: they change logits, so they run on the whole vocabulary
  SamplerPtr chain_;    // top_p, temperature and the seeded draw (or greedy), on the cut candidates
  SamplerPtr grammar_;  // null for free text
  const ByteTokens* bytes_ = nullptr;
  std::vector<llama_token_data> candidates_;
  int whitespace_run_ = 0;
  int utf8_state_ = 0;  // TokenText::utf8_after's state after the text so far
};

// The log-probability of token under the model's distribution at batch position i, with the
// top_n most likely alternatives.
TokenLogprob token_logprob(const llama_vocab* vocab, llama_context* ctx, int i, llama_token token, int top_n);

}  // namespace openbatch::engine
