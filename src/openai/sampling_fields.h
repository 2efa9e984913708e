// The sampling and length fields that Chat Completions, Completions and Responses bodies share
// (temperature, top_p, the answer's length, stream, and for the first two n, seed, penalties, stop,
// logit_bias and ignore_eos), read in one place with OpenAI's messages, params and codes.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/status.h"
#include "engine/engine.h"

namespace openbatch::openai {

// Which of the shared fields an endpoint's body takes. Each endpoint refuses the fields it does not
// know before reading these, so a field outside the set never reaches the reader.
struct SamplingFieldSet {
  // The field that bounds the answer's length, and its least value: max_tokens (1) for Chat Completions
  // and Completions, max_output_tokens (16) for Responses.
  const char* max_tokens = "max_tokens";
  int64_t min_max_tokens = 1;
  // presence_penalty, frequency_penalty, n, seed, ignore_eos, stop and logit_bias (Chat Completions
  // and Completions; not Responses).
  bool penalties_n_seed_stop = true;
};

// What the reader found beyond what it put into the generation request.
struct SamplingFields {
  std::optional<int64_t> max_tokens;  // the body's set.max_tokens field, when given
  int n = 1;
  bool stream = false;
};

// Reads, in this order, temperature (0..2), top_p (0..1), and with set.penalties_n_seed_stop
// presence_penalty and frequency_penalty (-2..2); set.max_tokens (>= set.min_max_tokens); with
// set.penalties_n_seed_stop n (1..128) and seed (any 64-bit integer, used modulo 2^32); stream; with
// set.penalties_n_seed_stop ignore_eos (an extension llama-server and vLLM accept too), stop (a string
// or at most 4) and logit_bias (token id -> -100..100). Puts what it read into gen (sampling, stop,
// ignore_eos, and max_tokens when the body gives it); leaves gen's defaults where the body is silent.
// Errors: the first bad field's 400 invalid_request_error, naming it in param.
Result<SamplingFields> read_sampling_fields(const nlohmann::json& body, const SamplingFieldSet& set,
                                            engine::GenerationRequest& gen);

// The body's stream_options object, or null when it is absent or null. A 400 when it is given without
// `stream: true` (stream says whether the body asked for one) or is not an object.
Result<const nlohmann::json*> stream_options_of(const nlohmann::json& body, bool stream);

// stream_options.include_usage of a Chat Completions or Completions body (false when not given); the
// errors of stream_options_of, or a 400 when include_usage is not a boolean.
Result<bool> read_include_usage(const nlohmann::json& body, bool stream);

}  // namespace openbatch::openai
