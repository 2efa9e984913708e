// The OpenAI error envelope of a Status. Used by the HTTP edge (api/) and by batch error files, which
// carry the same body the synchronous endpoint would have answered.
#pragma once

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace openbatch {

// What OpenAI says for its own 500s; clients get it in place of the server's internal detail.
inline constexpr const char* kInternalErrorMessage =
    "The server had an error while processing your request. Sorry about that!";

// {"error": {"message", "type", "param", "code"}}; empty param/code become null. A 500's message is
// the server's own business (a file path, a database error): the envelope says kInternalErrorMessage
// instead, and the detail goes to the server's log (stderr), once for each envelope made.
nlohmann::ordered_json error_envelope(const Status& status);

}  // namespace openbatch
