// The OpenAI error envelope of a Status. Used by the HTTP edge (api/) and by batch error files, which
// carry the same body the synchronous endpoint would have answered.
#pragma once

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace openbatch {

// {"error": {"message", "type", "param", "code"}}; empty param/code become null.
nlohmann::json error_envelope(const Status& status);

}  // namespace openbatch
