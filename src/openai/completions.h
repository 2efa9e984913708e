// The (legacy) Completions API, POST /v1/completions: a prompt the model continues as it is, without a
// chat template. A body checked against OpenAI's rules and turned into engine work, and the
// `text_completion` objects (whole, and the chunks of a stream) built from the generations.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "openai/chat_completion.h"

namespace openbatch::openai {

struct CompletionRequest {
  std::string model;  // as the client named it
  int n = 1;          // choices per prompt
  bool stream = false;
  bool include_usage = false;              // stream_options.include_usage
  std::optional<int> logprobs;             // alternatives per token, when log-probabilities are asked for
  std::vector<engine::RawPrompt> prompts;  // one or more; the answer has n choices for each, in order
  engine::GenerationRequest generation;    // everything but the prompt
};

// Validates a /v1/completions body: `prompt` (a string, strings, token ids or arrays of them),
// `max_tokens` (default 16, as OpenAI's), `temperature`, `top_p`, `stop`, `n`, `seed`, `logprobs`
// (0..5), `echo`, penalties, `logit_bias`, `stream` and `stream_options`; `best_of` only equal to n,
// `suffix` only empty. Errors are 400 invalid_request_error naming the `param` (404 model_not_found).
Result<CompletionRequest> parse_completion_request(const nlohmann::json& body,
                                                   const engine::ModelInfo& model);

// The `logprobs` object of a completion choice: tokens, token_logprobs, top_logprobs (one
// {token: logprob} object per token) and text_offset (where each token starts in the choice's text,
// whose first `text_start` bytes are an echoed prompt).
nlohmann::ordered_json completion_logprobs_json(const std::vector<engine::TokenLogprob>& tokens,
                                                size_t text_start);

// The `text_completion` object for finished generations: choices[i] is generations[i] (prompt i / n).
// prompt_tokens counts each prompt once.
nlohmann::ordered_json build_text_completion(const std::string& id, const std::string& model, int64_t created,
                                             const std::vector<engine::Generation>& generations, int n,
                                             bool with_logprobs);

// One chunk of a stream: `choices` as given, usage added when not discarded.
nlohmann::ordered_json build_completion_chunk(
    const std::string& id, const std::string& model, int64_t created, nlohmann::ordered_json choices,
    nlohmann::ordered_json usage = nlohmann::ordered_json(nlohmann::ordered_json::value_t::discarded));

// Runs every prompt's n choices on engine and calls done once with the `text_completion` body or the
// first failure; on_delta, when set, sees each choice's text as it comes (choice = prompt * n + j).
// Both run on engine threads and must not block. Returns handles that cancel the work. Thread-safe.
std::vector<std::shared_ptr<engine::GenerationHandle>> run_completion(engine::Engine& engine,
                                                                      CompletionRequest request,
                                                                      ChatCompletionDone done,
                                                                      ChoiceDeltaCallback on_delta = nullptr);

}  // namespace openbatch::openai
