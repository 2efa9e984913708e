// The endpoints openbatch answers and a batch may target, one row each: the path, what a batch line's
// body must carry, what the endpoint takes, and its functions (parse a body, then run it whole, run it
// as a stream, or count its prompt tokens). The HTTP routes, the batch input's validation, the batch
// runner (openai/endpoints.h), `openbatch prepare` and `submit`, and the dashboard's list of endpoints
// (checked against this table by a test) all read it: a new endpoint is one row and its functions.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "openai/chat_completion.h"
#include "openai/stream_event.h"

namespace openbatch::openai {

using GenerationHandles = std::vector<std::shared_ptr<engine::GenerationHandle>>;

// A body parsed for its endpoint, ready to run. Call one of its functions, once.
struct EndpointCall {
  bool stream = false;  // the body asked for a stream (`stream: true`)
  // Runs the request whole at priority; done gets the response body or the Status explaining the
  // failure, on an engine thread, maybe before this returns. Returns handles that cancel the work (none
  // for embeddings, which are short).
  std::function<GenerationHandles(engine::Engine& engine, engine::Priority priority, ChatCompletionDone done)>
      run;
  // Runs the request as a stream (stream_chat_completion, ...); null for an endpoint that does not stream.
  std::function<GenerationHandles(engine::Engine& engine, StreamSink sink)> run_streamed;
  // The prompt tokens the request would use on engine, without running it (Engine::count_prompt_tokens).
  std::function<Result<int64_t>(engine::Engine& engine)> count_prompt_tokens;
};

// A request of one prompt, as `openbatch prepare` and the dashboard make one from a row of a table.
struct PromptRequest {
  std::string model;
  std::string system;     // the system prompt; empty: none
  std::string user;       // the user's text
  std::string image_url;  // sent with the user's text; empty: none
  std::optional<double> temperature;
  std::optional<int> max_tokens;
  nlohmann::json response_format;  // Chat Completions' response_format object; null: none
};

struct Endpoint {
  const char* path;      // "/v1/chat/completions"
  const char* api_name;  // "Chat Completions", as OpenAI's messages name the API
  // The body field a batch line must carry ("messages", "prompt", "input"), checked by the batch input's
  // validation before any body is parsed; with required_array it must be an array, else not null.
  const char* required_field;
  bool required_array;
  bool generates;              // answers with generated text: takes a system prompt, temperature, max tokens
  bool takes_images;           // a prompt may carry images
  bool takes_response_format;  // the answer's format may be asked for (JSON, a JSON schema)
  // Whether parse wants the body in the client's key order too (its schemas' key order matters).
  bool keeps_key_order;
  // Checks body against OpenAI's rules and model: 400 invalid_request_error naming the param (404
  // model_not_found). ordered: body with its keys in the client's order, or null.
  Result<EndpointCall> (*parse)(const nlohmann::json& body, const engine::ModelInfo& model,
                                const nlohmann::ordered_json* ordered);
  // The body of request in this endpoint's fields (response_format and image_url only where the endpoint
  // takes them; system, temperature and max_tokens only where it generates).
  // REQUIRES: request asks only for what the endpoint takes.
  nlohmann::json (*prompt_body)(const PromptRequest& request);
};

// Parses body as endpoint's request for the model of engine that its `model` names (parsed with that
// model's ModelInfo: its images, its context): 404 model_not_found for a model engine does not serve,
// else as endpoint.parse.
Result<EndpointCall> parse_endpoint_call(const Endpoint& endpoint, const engine::Engine& engine,
                                         const nlohmann::json& body, const nlohmann::ordered_json* ordered);

// Every endpoint, in the order OpenAI's messages name them (/v1/chat/completions first: the default).
std::span<const Endpoint> endpoints();
// The endpoint at path, or null.
const Endpoint* find_endpoint(std::string_view path);

}  // namespace openbatch::openai
