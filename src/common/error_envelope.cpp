#include "common/error_envelope.h"

#include <cstdio>

namespace openbatch {

nlohmann::ordered_json error_envelope(const Status& status) {
  auto null_if_empty = [](const std::string& s) -> nlohmann::ordered_json {
    return s.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s);
  };
  const bool internal = status.is_internal();
  if (internal) std::fprintf(stderr, "openbatch: internal error: %s\n", status.message().c_str());
  return {{"error",
           {{"message", internal ? kInternalErrorMessage : status.message()},
            {"type", status.type()},
            {"param", null_if_empty(status.param())},
            {"code", null_if_empty(status.code())}}}};
}

}  // namespace openbatch
