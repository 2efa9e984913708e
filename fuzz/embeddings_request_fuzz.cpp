// libFuzzer target: a /v1/embeddings body through the request parser. Errors must be the client's
// (400 or 404), never anything else.
#include "openai/embeddings.h"
#include "request_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto body = openbatch::fuzz::request_body(data, size);
  if (!body) return 0;
  auto model = openbatch::fuzz::served_model(false);
  model.id = "embedder";
  model.aliases = {"text-embedding-3-small"};
  openbatch::fuzz::expect_client_error(openbatch::openai::parse_embeddings_request(*body, model));
  return 0;
}
