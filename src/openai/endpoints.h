// The endpoints a batch line may target, and running one line's body on an engine: the batch's face of
// the endpoint table (openai/endpoint_table.h). Used by the batch runner and by `openbatch run`, so both
// answer exactly as the synchronous endpoints do.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "openai/chat_completion.h"

namespace openbatch::openai {

inline constexpr const char* kChatCompletionsEndpoint = "/v1/chat/completions";
inline constexpr const char* kEmbeddingsEndpoint = "/v1/embeddings";
inline constexpr const char* kResponsesEndpoint = "/v1/responses";
inline constexpr const char* kCompletionsEndpoint = "/v1/completions";

// Whether a batch may target endpoint: a row of the endpoint table.
bool is_batch_endpoint(std::string_view endpoint);
// "'/v1/chat/completions', '/v1/completions', '/v1/embeddings', and '/v1/responses'", for error
// messages (OpenAI's other batch endpoints, /v1/moderations and the image and video ones, are not served).
std::string batch_endpoints_phrase();

// Parses body as endpoint's request and runs it on engine at priority; done gets the response body or
// the Status explaining the failure (on an engine thread, maybe before this returns). A body that
// does not parse is returned as a Status and done is not called. The handles cancel the work (none
// for embeddings, which are short). ordered: body in the client's key order (parse_chat_completion_request).
// REQUIRES: is_batch_endpoint(endpoint).
Result<std::vector<std::shared_ptr<engine::GenerationHandle>>> run_endpoint_request(
    engine::Engine& engine, std::string_view endpoint, const nlohmann::json& body, engine::Priority priority,
    ChatCompletionDone done, const nlohmann::ordered_json* ordered = nullptr);

// The prompt tokens body would use on engine (Engine::count_prompt_tokens), without running it: what a
// batch line holds of its owner's enqueued-token limit. A chat or responses body counts its rendered
// prompt once (whatever its n); a completions body each of its prompts; an embeddings body each input.
// A body that does not parse, or that the engine cannot count, is the Status that explains why.
// REQUIRES: is_batch_endpoint(endpoint).
Result<int64_t> count_endpoint_prompt_tokens(engine::Engine& engine, std::string_view endpoint,
                                             const nlohmann::json& body);

}  // namespace openbatch::openai
