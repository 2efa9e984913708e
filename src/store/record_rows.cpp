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

const char* const kEnqueuedStatusesSql = "('validating','in_progress','finalizing')";

FileRecord read_file_row(const sql::Row& r) {
  FileRecord f;
  f.id = r.text(0);
  f.owner = r.text(1);
  f.filename = r.text(2);
  f.purpose = r.text(3);
  f.bytes = r.i64(4);
  f.created_at = r.i64(5);
  f.expires_at = r.opt_i64(6);
  return f;
}

EventRecord read_event_row(const sql::Row& r) {
  EventRecord e;
  e.id = r.text(0);
  e.type = r.text(1);
  e.batch_id = r.text(2);
  e.created_at = r.i64(3);
  e.state = static_cast<EventState>(r.i64(4));
  e.attempts = r.i64(5);
  e.next_attempt_ms = r.i64(6);
  e.lease_token = r.i64(7);
  e.last_error = r.text(8);
  return e;
}

BatchRecord read_batch_row(const sql::Row& r) {
  BatchRecord b;
  int c = 0;
  b.id = r.text(c++);
  b.owner = r.text(c++);
  b.endpoint = r.text(c++);
  b.model = r.text(c++);
  b.input_file_id = r.text(c++);
  b.completion_window = r.text(c++);
  b.status = batch_status_from_string(r.text(c++)).value_or(BatchStatus::kFailed);
  b.output_file_id = r.text(c++);
  b.error_file_id = r.text(c++);
  b.created_at = r.i64(c++);
  b.expires_at = r.i64(c++);
  b.in_progress_at = r.opt_i64(c++);
  b.finalizing_at = r.opt_i64(c++);
  b.completed_at = r.opt_i64(c++);
  b.failed_at = r.opt_i64(c++);
  b.expired_at = r.opt_i64(c++);
  b.cancelling_at = r.opt_i64(c++);
  b.cancelled_at = r.opt_i64(c++);
  b.errors = errors_from_text(r.text(c++));
  const std::string metadata = r.text(c++);
  b.metadata = metadata.empty() ? nlohmann::ordered_json(nullptr)
                                : nlohmann::ordered_json::parse(metadata, nullptr, false);
  if (b.metadata.is_discarded()) b.metadata = nullptr;
  b.output_expires_after_seconds = r.opt_i64(c++);
  b.request_counts.total = r.i64(c++);
  b.request_counts.completed = r.i64(c++);
  b.request_counts.failed = r.i64(c++);
  b.usage.input_tokens = r.i64(c++);
  b.usage.output_tokens = r.i64(c++);
  b.usage.cached_tokens = r.i64(c++);
  b.usage.reasoning_tokens = r.i64(c++);
  return b;
}

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
