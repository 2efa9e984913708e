// The errors every layer gives about a model by name: the router when it routes, the OpenAI layer when
// it reads a body's `model`, the API when a client asks for a model.
#pragma once

#include <string_view>

#include "common/status.h"

namespace openbatch::engine {

// 404 invalid_request_error model_not_found, as OpenAI words it: no model of that name is served.
Status model_not_found(std::string_view name);

}  // namespace openbatch::engine
