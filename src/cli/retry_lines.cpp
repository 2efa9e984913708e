#include "cli/retry_lines.h"

#include <nlohmann/json.hpp>
#include <unordered_set>

namespace openbatch::cli {
namespace {

// Calls f(line, number) for each non-blank line of text; stops at the first non-ok Status.
template <typename F>
Status for_each_line(std::string_view text, F&& f) {
  size_t number = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    if (Status s = f(line, number); !s) return s;
  }
  return Status::ok();
}

}  // namespace

Result<RetryLines> lines_to_retry(std::string_view input, std::string_view output) {
  std::unordered_set<std::string> succeeded;
  // Output lines come from the server: one that does not parse is skipped (it has no usable answer).
  (void)for_each_line(output, [&](std::string_view line, size_t) {
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("custom_id") || !j["custom_id"].is_string()) return Status::ok();
    const auto response = j.find("response");
    const bool ok = response != j.end() && response->is_object() &&
                    response->value("status_code", 0) == 200 &&
                    (!j.contains("error") || j["error"].is_null());
    if (ok) succeeded.insert(j["custom_id"].get<std::string>());
    return Status::ok();
  });
  RetryLines out;
  Status s = for_each_line(input, [&](std::string_view line, size_t number) {
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("custom_id") || !j["custom_id"].is_string()) {
      return Status::invalid_request("line " + std::to_string(number) +
                                     " of the batch's input file is not a request with a custom_id");
    }
    if (succeeded.count(j["custom_id"].get<std::string>()) != 0) {
      ++out.succeeded;
      return Status::ok();
    }
    out.jsonl.append(line);
    out.jsonl.push_back('\n');
    ++out.lines;
    return Status::ok();
  });
  if (!s) return s;
  return out;
}

}  // namespace openbatch::cli
