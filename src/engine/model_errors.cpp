#include "engine/model_errors.h"

#include <string>

namespace openbatch::engine {

Status model_not_found(std::string_view name) {
  return Status(StatusCode::kNotFound, "invalid_request_error", "model_not_found", "",
                "The model `" + std::string(name) + "` does not exist or you do not have access to it.");
}

}  // namespace openbatch::engine
