// libFuzzer target: a /v1/chat/completions body through the request parser. Errors must be the
// client's (400 or 404), never anything else.
#include "openai/chat_completion.h"
#include "request_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto body = openbatch::fuzz::request_body(data, size);
  if (!body) return 0;
  const auto model = openbatch::fuzz::served_model((size % 2) == 0);
  openbatch::fuzz::expect_client_error(openbatch::openai::parse_chat_completion_request(*body, model));
  return 0;
}
