// libFuzzer target: a /v1/responses body through the request parser (with and without the ordered copy
// of the body that keeps metadata's order). Errors must be the client's (400 or 404), never anything else.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "openai/responses_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto body = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) return 0;
  const auto ordered = nlohmann::ordered_json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  openbatch::engine::ModelInfo model;
  model.id = "m";
  model.aliases = {"gpt-4o-mini"};
  model.context_per_sequence = 4096;
  model.has_vision = (size % 2) == 0;
  const auto r =
      openbatch::openai::parse_responses_request(body, model, (size % 3) == 0 ? &ordered : nullptr);
  if (!r.is_ok() && !r.status().is_invalid_argument() && !r.status().is_not_found()) std::abort();
  return 0;
}
