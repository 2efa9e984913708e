// The batches of the store (store/store.h) and their lifecycle: created validating, started with their
// requests or failed, moved between statuses, and finished with their output and error files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "store/records.h"

namespace openbatch::store {

class BatchStore {
 public:
  virtual ~BatchStore() = default;

  virtual Status insert_batch(const BatchRecord& rec) = 0;
  virtual Result<BatchRecord> get_batch(const std::string& owner, const std::string& id) = 0;
  // The same, whoever owns it (the runner's view).
  virtual Result<BatchRecord> get_batch_any_owner(const std::string& id) = 0;
  virtual Result<Page<BatchRecord>> list_batches(const std::string& owner, const ListQuery& query) = 0;
  // Batches in any of statuses, oldest first, any owner.
  virtual Result<std::vector<BatchRecord>> batches_with_status(const std::vector<BatchStatus>& statuses) = 0;

  // validating -> in_progress: inserts one row per request, sets model, request_counts.total,
  // in_progress_at and the batch's enqueued tokens (quota.prompt_tokens). Conflict (409) when the batch
  // is no longer validating (it was cancelled).
  // With quota.max_enqueued_tokens > 0 the batch starts only if its prompt tokens and the enqueued tokens
  // of its owner's other unfinished batches (validating, in_progress, finalizing) are together at most
  // the limit; otherwise nothing changes and the answer is rate-limited (429, code
  // token_limit_exceeded). The sum is taken under a lock on the owner, so that batches of one owner
  // started at once, by any number of nodes, never pass the limit together.
  virtual Status start_batch(const std::string& id, const std::string& model,
                             const std::vector<RequestRecord>& requests, int64_t now,
                             const TokenQuota& quota) = 0;
  // validating -> failed with errors. Conflict when the batch is no longer validating.
  virtual Status fail_batch(const std::string& id, const std::vector<BatchError>& errors, int64_t now) = 0;
  // Sets status to `to` (and the timestamp that goes with it: in_progress_at, finalizing_at,
  // cancelling_at, cancelled_at...) when the current status is one of `from`. Conflict otherwise,
  // with OpenAI's message for a cancel ("Cannot cancel a batch with status 'completed'.").
  virtual Status transition(const std::string& id, const std::vector<BatchStatus>& from, BatchStatus to,
                            int64_t now) = 0;

  // Ends a batch in one transaction: inserts the output and error file records (either may be absent),
  // sets output_file_id/error_file_id, status `to` with its timestamp, and forgets the request rows.
  // Conflict when the status is not one of `from` (the batch was finalized already).
  virtual Status finish_batch(const std::string& id, const std::vector<BatchStatus>& from, BatchStatus to,
                              const std::optional<FileRecord>& output_file,
                              const std::optional<FileRecord>& error_file, int64_t now) = 0;
};

}  // namespace openbatch::store
