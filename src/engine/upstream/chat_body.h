// The OpenAI Chat Completions wire format as an upstream server reads and answers it: a generation
// request turned back into a request body, and the server's answer (or error) turned into a
// Generation (or Status).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"
#include "engine/engine.h"

namespace openbatch::engine::upstream {

// The /chat/completions body that asks `model` for request's generation (one choice, not streamed).
// Messages with images become content-part arrays with the images at their offsets; sampling fields
// are sent as set; ignore_eos (not OpenAI's) only when true.
nlohmann::json chat_body(const GenerationRequest& request, const std::string& model);

// The sampling fields of request as Chat Completions and Completions bodies name them: temperature,
// top_p, seed, penalties and logit_bias as set, max_tokens, stop, ignore_eos (not OpenAI's) when true.
void add_sampling_fields(const GenerationRequest& request, nlohmann::json& body);

// An upstream answer that is not what it should be: a 502 bad_upstream_response saying why.
Status bad_upstream_answer(const std::string& why);

// The first choice of an answer's `choices` (chat or text completion); a 502 when there is none.
Result<const nlohmann::json*> first_choice(const nlohmann::json& answer);

// An answer's `usage` into g: prompt and completion tokens, cached tokens (prompt_tokens_details) and
// reasoning tokens (completion_tokens_details); what is absent stays 0.
void read_usage(const nlohmann::json& answer, Generation& g);

// The first choice of a `chat.completion` answer as a Generation, with its usage (cached tokens from
// usage.prompt_tokens_details) and logprobs. A body that is not a chat completion is a 502.
Result<Generation> parse_chat_completion(const nlohmann::json& completion);

// The entries of a choice's `logprobs` object ({"content": [{token, logprob, top_logprobs}]}).
std::vector<TokenLogprob> parse_logprobs(const nlohmann::json& logprobs);

// The /embeddings body for request's inputs (texts, or token-id arrays), floats asked for.
nlohmann::json embeddings_body(const EmbeddingRequest& request, const std::string& model);

// The vectors of an embeddings answer, by `index`, scaled to unit length; a 502 unless there is one
// for each of the `inputs` asked for.
Result<Embeddings> parse_embeddings(const nlohmann::json& answer, size_t inputs);

// The Status for an upstream's non-2xx answer: its own error envelope when it sent one (type, code,
// param and message kept; a 5xx message prefixed with the upstream's URL), else the body's start.
Status upstream_error(long http_status, const std::string& body, const std::string& upstream);

}  // namespace openbatch::engine::upstream
