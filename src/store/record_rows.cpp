#include "store/record_rows.h"

namespace openbatch::store {

const char* const kFileColumns = "id, owner, filename, purpose, bytes, created_at, expires_at";
const char* const kEventColumns =
    "id, type, batch_id, created_at, state, attempts, next_attempt_at, lease_token, last_error";
const char* const kBatchColumns =
    "id, owner, endpoint, model, input_file_id, completion_window, status, output_file_id, error_file_id, "
    "created_at, expires_at, in_progress_at, finalizing_at, completed_at, failed_at, expired_at, "
    "cancelling_at, cancelled_at, errors, metadata, output_expires_after, total, completed, failed, "
    "input_tokens, output_tokens, cached_tokens, reasoning_tokens";

const char* timestamp_column(BatchStatus s) {
  switch (s) {
    case BatchStatus::kValidating:
      return nullptr;
    case BatchStatus::kFailed:
      return "failed_at";
    case BatchStatus::kInProgress:
      return "in_progress_at";
    case BatchStatus::kFinalizing:
      return "finalizing_at";
    case BatchStatus::kCompleted:
      return "completed_at";
    case BatchStatus::kExpired:
      return "expired_at";
    case BatchStatus::kCancelling:
      return "cancelling_at";
    case BatchStatus::kCancelled:
      return "cancelled_at";
  }
  return nullptr;
}

std::string errors_to_text(const std::vector<BatchError>& errors) {
  if (errors.empty()) return "";
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& e : errors) {
    arr.push_back({{"code", e.code},
                   {"message", e.message},
                   {"param", e.param},
                   {"line", e.line ? nlohmann::json(*e.line) : nlohmann::json(nullptr)}});
  }
  return arr.dump();
}

std::vector<BatchError> errors_from_text(const std::string& text) {
  std::vector<BatchError> out;
  if (text.empty()) return out;
  auto arr = nlohmann::json::parse(text, nullptr, false);
  if (!arr.is_array()) return out;
  for (const auto& e : arr) {
    BatchError be;
    be.code = e.value("code", "");
    be.message = e.value("message", "");
    be.param = e.value("param", "");
    if (e.contains("line") && e["line"].is_number_integer()) be.line = e["line"].get<int64_t>();
    out.push_back(std::move(be));
  }
  return out;
}

}  // namespace openbatch::store
