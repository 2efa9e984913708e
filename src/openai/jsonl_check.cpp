#include "openai/jsonl_check.h"

#include <nlohmann/json.hpp>

namespace openbatch::openai {

void JsonlObjectCheck::feed(std::string_view data) {
  while (!data.empty()) {
    const size_t end = data.find('\n');
    if (!bad_) line_.append(data.substr(0, end));  // once a line is bad, the rest need not be kept
    if (end == std::string_view::npos) return;
    check_line();
    data.remove_prefix(end + 1);
  }
}

std::optional<size_t> JsonlObjectCheck::first_bad_line() {
  if (!line_.empty()) check_line();
  return bad_;
}

void JsonlObjectCheck::check_line() {
  ++line_number_;
  if (!bad_) {
    const size_t first = line_.find_first_not_of(" \t\r");
    if (first != std::string::npos && (line_[first] != '{' || !nlohmann::json::accept(line_)))
      bad_ = line_number_;
  }
  line_.clear();
}

}  // namespace openbatch::openai
