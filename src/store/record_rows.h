// What the SQL stores (sqlite_store.cpp, postgres_store.cpp) share of how records sit in rows: the
// columns each record is selected by, the timestamp column of each status, the `errors` column's
// JSON, and the readers of a row into a record. A Row is anything with text(col), i64(col) and
// opt_i64(col) for the current row ("" and 0 for NULL; nullopt for NULL).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "store/store.h"

namespace openbatch::store {

// Column lists, in the order the readers below read them.
extern const char* const kFileColumns;
extern const char* const kEventColumns;
extern const char* const kBatchColumns;

// The column that records when a batch reached `s` ("failed_at", ...); null for validating.
const char* timestamp_column(BatchStatus s);

// A batch's `errors` as stored (a JSON array; "" for none), and back (what does not parse reads as none).
std::string errors_to_text(const std::vector<BatchError>& errors);
std::vector<BatchError> errors_from_text(const std::string& text);

template <typename Row>
FileRecord read_file_row(const Row& r) {
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

template <typename Row>
EventRecord read_event_row(const Row& r) {
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

template <typename Row>
BatchRecord read_batch_row(const Row& r) {
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

}  // namespace openbatch::store
