#include "openai/jsonl_check.h"

#include <nlohmann/json.hpp>

#include "common/json_depth.h"

namespace openbatch::openai {

void JsonlObjectCheck::feed(std::string_view data) {
  while (!data.empty()) {
    const size_t end = data.find('\n');
    const std::string_view piece = data.substr(0, end);
    // Once a line is bad the rest need not be kept; a line past the limit is not kept either.
    if (!bad_ && !line_too_long_) {
      if (line_.size() + piece.size() > max_line_bytes_) {
        line_too_long_ = true;
        line_.clear();
        line_.shrink_to_fit();
      } else {
        line_.append(piece);
      }
    }
    if (end == std::string_view::npos) return;
    check_line();
    data.remove_prefix(end + 1);
  }
}

std::optional<size_t> JsonlObjectCheck::first_bad_line() {
  if (!line_.empty() || line_too_long_) check_line();
  return bad_;
}

void JsonlObjectCheck::mark_bad(std::string problem) {
  if (bad_) return;
  bad_ = line_number_;
  problem_ = std::move(problem);
}

void JsonlObjectCheck::check_line() {
  ++line_number_;
  if (line_too_long_) {
    mark_bad("is longer than " + std::to_string(max_line_bytes_) + " bytes, the most one request may take");
  } else if (!bad_) {
    const size_t first = line_.find_first_not_of(" \t\r");
    if (first != std::string::npos) {
      if (json_nesting_depth(line_) > kMaxJsonDepth) {
        mark_bad("nests arrays and objects more than " + std::to_string(kMaxJsonDepth) + " levels deep");
      } else if (line_[first] != '{' || !nlohmann::json::accept(line_)) {
        mark_bad("is not a JSON object (a batch input file holds one request a line, each a JSON object)");
      }
    }
  }
  line_.clear();
  line_too_long_ = false;
}

}  // namespace openbatch::openai
