#include "openai/endpoints.h"

#include "openai/completions.h"
#include "openai/embeddings.h"
#include "openai/responses_body.h"
#include "openai/responses_request.h"

namespace openbatch::openai {

namespace {

// In the order OpenAI's message names them.
const char* const kBatchEndpoints[] = {kChatCompletionsEndpoint, kCompletionsEndpoint, kEmbeddingsEndpoint,
                                       kResponsesEndpoint};

}  // namespace

bool is_batch_endpoint(std::string_view endpoint) {
  for (const char* e : kBatchEndpoints) {
    if (endpoint == e) return true;
  }
  return false;
}

std::string batch_endpoints_phrase() {
  std::string out;
  const size_t n = std::size(kBatchEndpoints);
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += i + 1 == n ? ", and " : ", ";
    out += std::string("'") + kBatchEndpoints[i] + "'";
  }
  return out;
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
  if (endpoint == kResponsesEndpoint) {
    auto parsed = parse_responses_request(body, engine.model_info(), ordered);
    if (!parsed) return parsed.status();
    parsed->generation.priority = priority;
    return run_response(engine, std::move(parsed).value(), std::move(done));
  }
  if (endpoint == kCompletionsEndpoint) {
    auto parsed = parse_completion_request(body, engine.model_info());
    if (!parsed) return parsed.status();
    parsed->generation.priority = priority;
    return run_completion(engine, std::move(parsed).value(), std::move(done));
  }
  auto parsed = parse_chat_completion_request(body, engine.model_info(), ordered);
  if (!parsed) return parsed.status();
  parsed->generation.priority = priority;
  return run_chat_completion(engine, std::move(parsed).value(), std::move(done));
}

Result<int64_t> count_endpoint_prompt_tokens(engine::Engine& engine, std::string_view endpoint,
                                             const nlohmann::json& body) {
  auto count = [&engine](const engine::GenerationRequest& request) -> Result<int64_t> {
    auto n = engine.count_prompt_tokens(request);
    if (!n) return n.status();
    return static_cast<int64_t>(*n);
  };
  // A prompt the model reads as it is: an embedding input, a completions prompt.
  auto count_raw = [&count](engine::RawPrompt prompt) -> Result<int64_t> {
    if (!prompt.tokens.empty()) return static_cast<int64_t>(prompt.tokens.size());
    engine::GenerationRequest request;
    request.raw_prompt = std::move(prompt);
    return count(request);
  };
  int64_t total = 0;
  if (endpoint == kEmbeddingsEndpoint) {
    auto parsed = parse_embeddings_request(body, engine.model_info());
    if (!parsed) return parsed.status();
    for (auto& input : parsed->embedding.inputs) {
      auto n = count_raw({std::move(input.text), std::move(input.tokens), false});
      if (!n) return n.status();
      total += *n;
    }
    return total;
  }
  if (endpoint == kCompletionsEndpoint) {
    auto parsed = parse_completion_request(body, engine.model_info());
    if (!parsed) return parsed.status();
    for (auto& prompt : parsed->prompts) {
      auto n = count_raw(std::move(prompt));
      if (!n) return n.status();
      total += *n;
    }
    return total;
  }
  if (endpoint == kResponsesEndpoint) {
    auto parsed = parse_responses_request(body, engine.model_info());
    if (!parsed) return parsed.status();
    return count(parsed->generation);
  }
  auto parsed = parse_chat_completion_request(body, engine.model_info());
  if (!parsed) return parsed.status();
  return count(parsed->generation);
}

}  // namespace openbatch::openai
