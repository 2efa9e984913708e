// Per-request sampler chains (logit bias, penalties, grammar, top-p, temperature, seeded draw) and
// log-probabilities of generated tokens.
#pragma once

#include <memory>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "llama.h"

namespace openbatch::engine {

struct SamplerDeleter {
  void operator()(llama_sampler* s) const { llama_sampler_free(s); }
};
using SamplerPtr = std::unique_ptr<llama_sampler, SamplerDeleter>;

// Checks a request's sampling options (token ids in logit_bias, its response_format) and returns the
// GBNF grammar that enforces its response_format ("" for free text).
Result<std::string> prepare_sampling(const llama_vocab* vocab, const GenerationRequest& request);

// Builds the sampler chain of a request. Penalties count generated tokens only, as OpenAI's do.
// REQUIRES: grammar came from prepare_sampling(vocab, request).
SamplerPtr make_sampler(const llama_vocab* vocab, const GenerationRequest& request,
                        const std::string& grammar);

// The log-probability of token under the model's distribution at batch position i, with the
// top_n most likely alternatives.
TokenLogprob token_logprob(const llama_vocab* vocab, llama_context* ctx, int i, llama_token token, int top_n);

}  // namespace openbatch::engine
