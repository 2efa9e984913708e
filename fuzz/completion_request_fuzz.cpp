// libFuzzer target: a /v1/completions body through the request parser. Errors must be the client's
// (400 or 404), never anything else; a parsed request has at least one prompt and n >= 1.
#include "openai/completions.h"
#include "request_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto body = openbatch::fuzz::request_body(data, size);
  if (!body) return 0;
  const auto r = openbatch::openai::parse_completion_request(*body, openbatch::fuzz::served_model(false));
  openbatch::fuzz::expect_client_error(r);
  if (r.is_ok() && (r->prompts.empty() || r->n < 1)) std::abort();
  return 0;
}
