#include "common/json_depth.h"

#include <string>

namespace openbatch {

int json_nesting_depth(std::string_view text, int limit) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character, a quote included
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > deepest) {
          deepest = depth;
          if (deepest > limit) return deepest;
        }
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return deepest;
}

Status check_json_depth(std::string_view text, std::string_view what) {
  if (json_nesting_depth(text, kMaxJsonDepth) <= kMaxJsonDepth) return Status::ok();
  return Status::invalid_request(std::string(what) + " nests arrays and objects more than " +
                                     std::to_string(kMaxJsonDepth) +
                                     " levels deep, the most this server reads.",
                                 "", "json_too_deep");
}

}  // namespace openbatch
