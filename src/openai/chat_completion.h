// Chat Completions: turning an OpenAI request body into engine work, and engine results into OpenAI's
// `chat.completion` object. Shared by the synchronous endpoint and the batch runner, so that a batch's
// output bodies are exactly what /v1/chat/completions returns.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"

namespace openbatch::openai {

struct ChatCompletionRequest {
  std::string model;  // as the client named it
  int n = 1;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  engine::GenerationRequest generation;
};

// Validates a /v1/chat/completions body against OpenAI's rules and the served model. Errors are
// 400 invalid_request_error with the offending `param` (404 model_not_found for an unknown model).
// ordered, when given, is the same body parsed with its keys in the client's order: the schemas
// (tools' parameters, response_format's) are then kept in that order, which decides the prompt the
// template renders and the order a constrained answer writes its keys in (body's own keys are sorted).
Result<ChatCompletionRequest> parse_chat_completion_request(const nlohmann::json& body,
                                                            const engine::ModelInfo& model,
                                                            const nlohmann::ordered_json* ordered = nullptr);

// Builds the `chat.completion` object for finished generations (one per choice).
nlohmann::ordered_json build_chat_completion(const std::string& id, const std::string& model, int64_t created,
                                             const std::vector<engine::Generation>& choices,
                                             bool with_logprobs);

inline constexpr const char* kSystemFingerprint = "fp_openbatch";

// The `usage` object of a chat completion.
nlohmann::ordered_json usage_json(int prompt_tokens, int completion_tokens, int cached_tokens,
                                  int reasoning_tokens = 0);
// "stop", "length" or "tool_calls".
const char* finish_reason_name(engine::FinishReason reason);
// One `chat.completion.chunk` of a stream; usage is added when it is not discarded.
nlohmann::ordered_json build_chat_chunk(
    const std::string& id, const std::string& model, int64_t created, nlohmann::ordered_json choices,
    nlohmann::ordered_json usage = nlohmann::ordered_json(nlohmann::ordered_json::value_t::discarded));
// One element of a chunk's `choices`.
nlohmann::ordered_json chunk_choice(int index, nlohmann::ordered_json delta,
                                    const std::vector<engine::TokenLogprob>* logprobs,
                                    const std::optional<engine::FinishReason>& finish);

// Runs a parsed request (all its n choices) on engine and calls done once with the `chat.completion`
// body or the Status that explains the failure; on_delta, when set, sees each choice's text as it is
// generated (answer, thinking and tool-call pieces). Both run on the engine's thread and must not block.
// Returns handles that cancel the work. Thread-safe.
using ChatCompletionDone = std::function<void(Result<nlohmann::ordered_json>)>;
using ChoiceDeltaCallback = std::function<void(int choice, engine::GenerationDelta delta)>;
// Runs n generations of request (choice i > 0 with seed + i when a seed is set) and calls done once
// with all of them, in choice order, or with the first failure (the others are then cancelled).
// on_delta as for run_chat_completion. Returns handles that cancel the work. Thread-safe.
using GenerationsDone = std::function<void(Result<std::vector<engine::Generation>>)>;
std::vector<std::shared_ptr<engine::GenerationHandle>> run_generations(
    engine::Engine& engine, const engine::GenerationRequest& request, int n, GenerationsDone done,
    ChoiceDeltaCallback on_delta = nullptr);

std::vector<std::shared_ptr<engine::GenerationHandle>> run_chat_completion(
    engine::Engine& engine, ChatCompletionRequest request, ChatCompletionDone done,
    ChoiceDeltaCallback on_delta = nullptr);

// Whether any message's text says "json" in any case (OpenAI's condition for a json_object format).
bool mentions_json(const std::vector<engine::Message>& messages);

// A new unguessable id with the given prefix ("chatcmpl-", "file-", "batch_", "batch_req_").
std::string new_id(const std::string& prefix);

}  // namespace openbatch::openai
