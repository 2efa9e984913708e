// The Responses API (POST /v1/responses): a request body checked against OpenAI's rules and turned into
// engine work, and what the `response` object repeats of it. Responses are not stored: a request that
// builds on a stored one (previous_response_id, an item_reference, a conversation) is a 400 saying so.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"
#include "engine/engine.h"

namespace openbatch::openai {

struct ResponsesRequest {
  std::string model;  // as the client named it
  bool stream = false;
  // The request's fields as the `response` object repeats them (instructions, max_output_tokens,
  // metadata, parallel_tool_calls, reasoning, store, temperature, text, tool_choice, tools, top_p,
  // truncation, user, ...), each with OpenAI's default when the client left it out.
  nlohmann::ordered_json echo = nlohmann::ordered_json::object();
  engine::GenerationRequest generation;
};

// Validates a /v1/responses body against OpenAI's rules and the served model. Errors are 400
// invalid_request_error with the offending `param` (404 model_not_found for an unknown model); a
// field the server does not honour is refused, never ignored. `input` is a string (one user message)
// or items: messages (roles user, system, developer, assistant; content a string or input_text,
// input_image, output_text and refusal parts), function_call and function_call_output items (a tool
// round trip), reasoning items sent back (their text goes with the assistant turn that follows).
// `instructions` becomes the first system message. ordered: as parse_chat_completion_request's.
Result<ResponsesRequest> parse_responses_request(const nlohmann::json& body, const engine::ModelInfo& model,
                                                 const nlohmann::ordered_json* ordered = nullptr);

}  // namespace openbatch::openai
