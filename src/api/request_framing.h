// What a request's headers say about its body, checked before a byte of the body is read: how long
// it is (Content-Length, chunked, or none), whether the route can take that much, and whether it
// comes in a form openbatch reads at all. Request smuggling and decompression bombs stop here.
// Internal to api/.
#pragma once

#include <httplib.h>

#include <cstddef>
#include <cstdint>

#include "common/status.h"

namespace openbatch::api {

struct BodyFraming {
  enum class Kind { kNone, kLength, kChunked };
  Kind kind = Kind::kNone;
  uint64_t length = 0;  // kLength: the Content-Length
};

// The body framing of a request whose headers are `headers`, or why the request is refused:
// - 400 for a Content-Length that is not one plain decimal number (no sign, exponent, list or second
//   header), for a Transfer-Encoding other than exactly "chunked", and for both headers at once;
// - 415 for a Content-Encoding other than "identity" (request bodies are never inflated);
// - 413 for a Content-Length past max_bytes.
// A request without either header has no body (RFC 9112 6.3), whatever its method.
Result<BodyFraming> check_body_framing(const httplib::Headers& headers, uint64_t max_bytes);

}  // namespace openbatch::api
