#include "batch/result_lines.h"

#include "common/error_envelope.h"
#include "common/http_status.h"
#include "openai/chat_completion.h"

namespace openbatch::batch {
namespace {

std::string dump(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

int64_t int_at(const nlohmann::ordered_json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

}  // namespace

std::string output_line(const std::string& custom_id, const std::string& request_id,
                        const nlohmann::ordered_json& body) {
  return dump({{"id", openai::new_id("batch_req_")},
               {"custom_id", custom_id},
               {"response", {{"status_code", 200}, {"request_id", request_id}, {"body", body}}},
               {"error", nullptr}});
}

std::string failed_line(const std::string& custom_id, const std::string& request_id, const Status& status) {
  const int code = status.is_ok() ? 500 : http_status_of(status);
  return dump(
      {{"id", openai::new_id("batch_req_")},
       {"custom_id", custom_id},
       {"response", {{"status_code", code}, {"request_id", request_id}, {"body", error_envelope(status)}}},
       {"error", nullptr}});
}

std::string unexecuted_line(const std::string& custom_id, const std::string& code,
                            const std::string& message) {
  return dump({{"id", openai::new_id("batch_req_")},
               {"custom_id", custom_id},
               {"response", nullptr},
               {"error", {{"code", code}, {"message", message}}}});
}

store::Usage usage_of(const nlohmann::ordered_json& body) {
  store::Usage u;
  auto it = body.find("usage");
  if (it == body.end() || !it->is_object()) return u;
  const nlohmann::ordered_json& usage = *it;
  if (usage.contains("input_tokens")) {  // a Responses API `response`
    u.input_tokens = int_at(usage, "input_tokens");
    u.output_tokens = int_at(usage, "output_tokens");
    if (auto d = usage.find("input_tokens_details"); d != usage.end() && d->is_object()) {
      u.cached_tokens = int_at(*d, "cached_tokens");
    }
    if (auto d = usage.find("output_tokens_details"); d != usage.end() && d->is_object()) {
      u.reasoning_tokens = int_at(*d, "reasoning_tokens");
    }
    return u;
  }
  u.input_tokens = int_at(usage, "prompt_tokens");
  u.output_tokens = int_at(usage, "completion_tokens");
  if (auto d = usage.find("prompt_tokens_details"); d != usage.end() && d->is_object()) {
    u.cached_tokens = int_at(*d, "cached_tokens");
  }
  if (auto d = usage.find("completion_tokens_details"); d != usage.end() && d->is_object()) {
    u.reasoning_tokens = int_at(*d, "reasoning_tokens");
  }
  return u;
}

}  // namespace openbatch::batch
