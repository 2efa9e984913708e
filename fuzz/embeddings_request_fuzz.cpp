// libFuzzer target: a /v1/embeddings body through the request parser. Errors must be the client's
// (400 or 404), never anything else.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "openai/embeddings.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto body = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) return 0;
  openbatch::engine::ModelInfo model;
  model.id = "embedder";
  model.aliases = {"text-embedding-3-small"};
  const auto r = openbatch::openai::parse_embeddings_request(body, model);
  if (!r.is_ok() && !r.status().is_invalid_argument() && !r.status().is_not_found()) std::abort();
  return 0;
}
