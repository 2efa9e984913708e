#include "openai/endpoints.h"

#include "openai/endpoint_table.h"

namespace openbatch::openai {

bool is_batch_endpoint(std::string_view endpoint) { return find_endpoint(endpoint) != nullptr; }

std::string batch_endpoints_phrase() {
  std::string out;
  const std::span<const Endpoint> all = endpoints();
  for (size_t i = 0; i < all.size(); ++i) {
    if (i > 0) out += i + 1 == all.size() ? ", and " : ", ";
    out += std::string("'") + all[i].path + "'";
  }
  return out;
}

Result<std::vector<std::shared_ptr<engine::GenerationHandle>>> run_endpoint_request(
    engine::Engine& engine, std::string_view endpoint, const nlohmann::json& body, engine::Priority priority,
    ChatCompletionDone done, const nlohmann::ordered_json* ordered) {
  const Endpoint* e = find_endpoint(endpoint);
  if (e == nullptr) return Status::internal("No endpoint " + std::string(endpoint) + ".");
  auto call = parse_endpoint_call(*e, engine, body, ordered);
  if (!call) return call.status();
  return call->run(engine, priority, std::move(done));
}

Result<int64_t> count_endpoint_prompt_tokens(engine::Engine& engine, std::string_view endpoint,
                                             const nlohmann::json& body) {
  const Endpoint* e = find_endpoint(endpoint);
  if (e == nullptr) return Status::internal("No endpoint " + std::string(endpoint) + ".");
  auto call = parse_endpoint_call(*e, engine, body, nullptr);
  if (!call) return call.status();
  return call->count_prompt_tokens(engine);
}

}  // namespace openbatch::openai
