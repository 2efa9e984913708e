// libFuzzer target: a /v1/responses body through the request parser (with and without the ordered copy
// of the body that keeps metadata's order). Errors must be the client's (400 or 404), never anything else.
#include "openai/responses_request.h"
#include "request_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto body = openbatch::fuzz::request_body(data, size);
  if (!body) return 0;
  const auto ordered = nlohmann::ordered_json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  const auto model = openbatch::fuzz::served_model((size % 2) == 0);
  openbatch::fuzz::expect_client_error(
      openbatch::openai::parse_responses_request(*body, model, (size % 3) == 0 ? &ordered : nullptr));
  return 0;
}
