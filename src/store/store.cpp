#include "store/store.h"

#include <array>
#include <string>
#include <utility>

#include "common/random.h"

namespace openbatch::store {

namespace {
constexpr std::array<std::pair<BatchStatus, const char*>, 8> kNames = {{
    {BatchStatus::kValidating, "validating"},
    {BatchStatus::kFailed, "failed"},
    {BatchStatus::kInProgress, "in_progress"},
    {BatchStatus::kFinalizing, "finalizing"},
    {BatchStatus::kCompleted, "completed"},
    {BatchStatus::kExpired, "expired"},
    {BatchStatus::kCancelling, "cancelling"},
    {BatchStatus::kCancelled, "cancelled"},
}};
}  // namespace

const char* to_string(BatchStatus status) {
  for (const auto& [s, name] : kNames) {
    if (s == status) return name;
  }
  return "unknown";
}

std::optional<BatchStatus> batch_status_from_string(std::string_view name) {
  for (const auto& [s, n] : kNames) {
    if (name == n) return s;
  }
  return std::nullopt;
}

Status enqueued_token_limit_exceeded(int64_t max_enqueued_tokens) {
  return Status(StatusCode::kRateLimited, "", "token_limit_exceeded", "",
                "The batch would pass the limit of " + std::to_string(max_enqueued_tokens) +
                    " enqueued tokens of its owner's unfinished batches.");
}

bool is_terminal(BatchStatus status) {
  return status == BatchStatus::kCompleted || status == BatchStatus::kFailed ||
         status == BatchStatus::kExpired || status == BatchStatus::kCancelled;
}

std::string new_event_id() {
  unsigned char bytes[16];
  random_bytes(bytes, sizeof bytes);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "evt_";
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

}  // namespace openbatch::store
