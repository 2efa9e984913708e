#include "openai/endpoints.h"

#include "openai/embeddings.h"

namespace openbatch::openai {

bool is_batch_endpoint(std::string_view endpoint) {
  return endpoint == kChatCompletionsEndpoint || endpoint == kEmbeddingsEndpoint;
}

std::string batch_endpoints_phrase() {
  return std::string("'") + kChatCompletionsEndpoint + "' and '" + kEmbeddingsEndpoint + "'";
}

Result<std::vector<std::shared_ptr<engine::GenerationHandle>>> run_endpoint_request(
    engine::Engine& engine, std::string_view endpoint, const nlohmann::json& body, engine::Priority priority,
    ChatCompletionDone done, const nlohmann::ordered_json* ordered) {
  if (endpoint == kEmbeddingsEndpoint) {
    auto parsed = parse_embeddings_request(body, engine.model_info());
    if (!parsed) return parsed.status();
    parsed->embedding.priority = priority;
    run_embeddings(engine, std::move(parsed).value(), std::move(done));
    return std::vector<std::shared_ptr<engine::GenerationHandle>>{};
  }
  auto parsed = parse_chat_completion_request(body, engine.model_info(), ordered);
  if (!parsed) return parsed.status();
  parsed->generation.priority = priority;
  return run_chat_completion(engine, std::move(parsed).value(), std::move(done));
}

}  // namespace openbatch::openai
