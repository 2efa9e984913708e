// The OpenAI (legacy) Completions wire format as an upstream server reads and answers it: a
// generation with a raw prompt turned into a /completions body, and the `text_completion` answer
// turned into a Generation.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"
#include "engine/engine.h"

namespace openbatch::engine::upstream {

// The /completions body that asks `model` for request's generation (one choice, not streamed): the
// prompt (text or token ids), echo, sampling fields as set, logprobs as the number of alternatives.
// REQUIRES: request.raw_prompt.
nlohmann::json completions_body(const GenerationRequest& request, const std::string& model);

// The first choice of a `text_completion` answer as a Generation, with its usage and logprobs (the
// Completions shape: tokens, token_logprobs, top_logprobs). A body that is not one is a 502.
Result<Generation> parse_text_completion(const nlohmann::json& completion);

}  // namespace openbatch::engine::upstream
