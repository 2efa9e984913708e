#include "batch/batch_finalizer.h"

#include <memory>
#include <optional>
#include <vector>

#include "batch/result_lines.h"
#include "openai/chat_completion.h"

namespace openbatch::batch {
namespace {

using store::BatchStatus;

// One output or error file being written; created at its first line, so an empty one never exists.
class ResultFile {
 public:
  ResultFile(blobs::BlobStore& blobs, std::string suffix) : blobs_(blobs), suffix_(std::move(suffix)) {}
  ~ResultFile() {
    if (writer_ && !recorded_) blobs_.remove(id_);
  }

  Status append(const std::string& line) {
    if (!writer_) {
      id_ = openai::new_id("file-");
      auto w = blobs_.create(id_);
      if (!w) return w.status();
      writer_ = std::move(w).value();
    }
    if (Status s = writer_->append(line); !s) return s;
    return writer_->append("\n");
  }

  // Commits the bytes; returns the record to insert (nullopt when the file has no line).
  Result<std::optional<store::FileRecord>> commit(const store::BatchRecord& batch, int64_t now) {
    if (!writer_) return std::optional<store::FileRecord>();
    if (Status s = writer_->commit(); !s) return s;
    store::FileRecord f;
    f.id = id_;
    f.owner = batch.owner;
    f.filename = batch.id + suffix_;
    f.purpose = "batch_output";
    f.bytes = writer_->bytes_written();
    f.created_at = now;
    if (batch.output_expires_after_seconds) f.expires_at = now + *batch.output_expires_after_seconds;
    return std::optional<store::FileRecord>(std::move(f));
  }

  // The record is in the store: the blob is no longer ours to remove.
  void mark_recorded() { recorded_ = true; }

 private:
  blobs::BlobStore& blobs_;
  std::string suffix_;
  std::string id_;
  std::unique_ptr<blobs::BlobWriter> writer_;
  bool recorded_ = false;
};

Status record_unexecuted(store::Store& store, const std::string& batch_id, BatchStatus to) {
  auto pending = store.pending_requests(batch_id);
  if (!pending) return pending.status();
  if (pending->empty()) return Status::ok();
  const bool expired = to == BatchStatus::kExpired;
  const std::string code = expired ? "batch_expired" : "batch_cancelled";
  const std::string message = expired
                                  ? "This request could not be executed before the completion window expired."
                                  : "This request was not executed because the batch was cancelled.";
  std::vector<store::RequestResult> results;
  results.reserve(pending->size());
  for (const auto& r : *pending) {
    results.push_back(
        {batch_id, r.line, store::Outcome::kError, unexecuted_line(r.custom_id, code, message), {}});
  }
  return store.record_results(results);
}

}  // namespace

Status finalize_batch(store::Store& store, blobs::BlobStore& blobs, const Clock& clock,
                      const std::string& batch_id, BatchStatus to) {
  auto batch = store.get_batch_any_owner(batch_id);
  if (!batch) return batch.status();
  if (store::is_terminal(batch->status)) return Status::ok();

  std::vector<BatchStatus> from;
  switch (to) {
    case BatchStatus::kCompleted:
      from = {BatchStatus::kFinalizing};
      break;
    case BatchStatus::kCancelled:
      from = {BatchStatus::kCancelling};
      break;
    case BatchStatus::kExpired:
      from = {BatchStatus::kInProgress, BatchStatus::kCancelling};
      break;
    default:
      return Status::internal("a batch cannot be finalized as " + std::string(store::to_string(to)));
  }
  if (to != BatchStatus::kCompleted) {
    if (Status s = record_unexecuted(store, batch_id, to); !s) return s;
  }

  ResultFile output(blobs, "_output.jsonl");
  ResultFile errors(blobs, "_error.jsonl");
  constexpr int64_t kPage = 1000;
  int64_t after = 0;
  for (;;) {
    auto rows = store.stored_results(batch_id, after, kPage, store::kResultPageBytes);
    if (!rows) return rows.status();
    if (rows->empty()) break;
    for (const auto& row : *rows) {
      ResultFile& file = row.outcome == store::Outcome::kOutput ? output : errors;
      if (Status s = file.append(row.result_line); !s) return s;
    }
    after = rows->back().line;
  }

  const int64_t now = clock.now_seconds();
  auto output_rec = output.commit(*batch, now);
  if (!output_rec) return output_rec.status();
  auto error_rec = errors.commit(*batch, now);
  if (!error_rec) return error_rec.status();
  Status s = store.finish_batch(batch_id, from, to, *output_rec, *error_rec, now);
  if (s) {
    output.mark_recorded();
    errors.mark_recorded();
  }
  return s;
}

}  // namespace openbatch::batch
