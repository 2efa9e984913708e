// Embeddings: an OpenAI /v1/embeddings body turned into engine work, and the vectors into OpenAI's
// `list` of `embedding` objects. Shared by the synchronous endpoint and the batch runner.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/status.h"
#include "engine/engine.h"
#include "openai/chat_completion.h"

namespace openbatch::openai {

struct EmbeddingsApiRequest {
  std::string model;              // as the client named it
  bool base64 = false;            // encoding_format: "base64" (little-endian float32), else "float"
  std::optional<int> dimensions;  // shorten each vector to this many (then scaled to unit length)
  engine::EmbeddingRequest embedding;
};

// Validates a /v1/embeddings body as OpenAI does: `input` a string, an array of strings, an array of
// token ids or an array of such arrays (at most 2048 inputs, none empty); `encoding_format`;
// `dimensions` >= 1. Errors are 400 invalid_request_error naming the param (404 for an unknown model).
Result<EmbeddingsApiRequest> parse_embeddings_request(const nlohmann::json& body,
                                                      const engine::ModelInfo& model);

// The response body: {"object": "list", "data": [{"object": "embedding", "index", "embedding"}], "model",
// "usage": {"prompt_tokens", "total_tokens"}}. A 400 when dimensions exceeds the model's.
Result<nlohmann::ordered_json> build_embeddings_response(const EmbeddingsApiRequest& request,
                                                         const engine::Embeddings& embeddings);

// Runs request on engine; done gets the response body or the Status that explains the failure, on an
// engine thread. Thread-safe.
void run_embeddings(engine::Engine& engine, EmbeddingsApiRequest request, ChatCompletionDone done);

}  // namespace openbatch::openai
