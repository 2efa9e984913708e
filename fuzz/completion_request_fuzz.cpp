// libFuzzer target: a /v1/completions body through the request parser. Errors must be the client's
// (400 or 404), never anything else; a parsed request has at least one prompt and n >= 1.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "openai/completions.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto body = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) return 0;
  openbatch::engine::ModelInfo model;
  model.id = "m";
  model.aliases = {"gpt-4o-mini"};
  model.context_per_sequence = 4096;
  const auto r = openbatch::openai::parse_completion_request(body, model);
  if (!r.is_ok()) {
    if (!r.status().is_invalid_argument() && !r.status().is_not_found()) std::abort();
    return 0;
  }
  if (r->prompts.empty() || r->n < 1) std::abort();
  return 0;
}
