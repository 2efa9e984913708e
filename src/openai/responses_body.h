// The `response` object of the Responses API and its output items, built from a finished generation:
// what POST /v1/responses answers, what a batch's output lines hold, and what the stream's
// response.completed event carries.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "openai/responses_request.h"

namespace openbatch::openai {

// The ids of a response's output items, in the order of the output: given ones are kept, empty ones
// get new ids ("rs_...", "msg_...", "fc_..."; a call without a call_id gets "call_...").
struct ResponseItemIds {
  std::string reasoning;
  std::string message;
  std::vector<std::string> calls;     // item ids of the function calls, by call
  std::vector<std::string> call_ids;  // their call_ids
};

// The output items of g: a `reasoning` item when it thought (its text as reasoning_text content), a
// `message` with one output_text part unless it only called functions, then one `function_call` per
// call. Items are "incomplete" when the generation stopped at max_output_tokens.
nlohmann::ordered_json response_output(const engine::Generation& g, ResponseItemIds& ids);

// One item in the shape of its kind; status "in_progress", "completed" or "incomplete".
nlohmann::ordered_json reasoning_item(const std::string& id, const std::string& text, bool with_part);
nlohmann::ordered_json message_item(const std::string& id, const std::string& status,
                                    const std::string* text);
nlohmann::ordered_json function_call_item(const std::string& id, const std::string& status,
                                          const std::string& call_id, const std::string& name,
                                          const std::string& arguments);
nlohmann::ordered_json output_text_part(const std::string& text);
nlohmann::ordered_json reasoning_text_part(const std::string& text);

// usage: input_tokens (with input_tokens_details.cached_tokens), output_tokens (with
// output_tokens_details.reasoning_tokens), total_tokens.
nlohmann::ordered_json response_usage(const engine::Generation& g);

// The `response` object: request's echoed fields, status ("in_progress", "completed",
// "incomplete", "failed"), output and usage (null while in progress), incomplete_details
// ({"reason": "max_output_tokens"} when incomplete) and error (null, or {code, message} when failed).
nlohmann::ordered_json response_object(const ResponsesRequest& request, const std::string& id,
                                       int64_t created_at, const std::string& status,
                                       nlohmann::ordered_json output, nlohmann::ordered_json usage,
                                       nlohmann::ordered_json error = nullptr);

// The whole `response` for a finished generation: "completed", or "incomplete" when it stopped at
// max_output_tokens.
nlohmann::ordered_json build_response(const ResponsesRequest& request, const std::string& id,
                                      int64_t created_at, const engine::Generation& g);

// Runs a parsed request on engine and calls done once with the `response` body or the Status that
// explains the failure (on the engine's thread; it must not block). Returns handles that cancel the
// work. Thread-safe.
std::vector<std::shared_ptr<engine::GenerationHandle>> run_response(
    engine::Engine& engine, ResponsesRequest request,
    std::function<void(Result<nlohmann::ordered_json>)> done);

}  // namespace openbatch::openai
