#include "common/error_envelope.h"

namespace openbatch {

nlohmann::json error_envelope(const Status& status) {
  auto null_if_empty = [](const std::string& s) -> nlohmann::json {
    return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
  };
  return {{"error",
           {{"message", status.message()},
            {"type", status.type()},
            {"param", null_if_empty(status.param())},
            {"code", null_if_empty(status.code())}}}};
}

}  // namespace openbatch
