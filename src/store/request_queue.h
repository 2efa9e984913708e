// The requests of running batches (store/store.h), shared among nodes through leases: claimed, renewed,
// released, and their results stored fenced by the lease, then read back in line order or in the
// order they were stored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "store/records.h"

namespace openbatch::store {

class RequestQueue {
 public:
  virtual ~RequestQueue() = default;

  // Requests of a batch that have no result yet, in line order.
  virtual Result<std::vector<RequestRecord>> pending_requests(const std::string& batch_id) = 0;
  // Stores results in one transaction. A request that already has a result keeps it, and one whose lease
  // is no longer the result's lease_token (another node took it) is not written: the new result is
  // ignored. Each stored result adds one to request_counts.completed (kOutput) or .failed (kError) and its
  // usage to the batch's usage, in the same transaction.
  virtual Status record_results(const std::vector<RequestResult>& results) = 0;

  // Claims for node up to limit requests of the batch, in line order, that have no result and no lease
  // that holds at now_ms (none, or one that lapsed): each gets a new lease_token and a lease until
  // lease_until_ms. Nothing while the batch is not in_progress. Many nodes may claim at once; each
  // request goes to one of them.
  virtual Result<std::vector<RequestRecord>> claim_requests(const std::string& batch_id,
                                                            const std::string& node, int64_t limit,
                                                            int64_t now_ms, int64_t lease_until_ms) = 0;
  // Extends every lease node holds (requests and batch jobs) to lease_until_ms.
  virtual Status renew_leases(const std::string& node, int64_t lease_until_ms) = 0;
  // Ends node's leases of the batch (its requests' and its job's), so that another node may take them at
  // once.
  virtual Status release_batch(const std::string& batch_id, const std::string& node) = 0;
  // Ends every lease node holds (its claims on events too: they are due at once); node "" ends every
  // lease of every node (for a store that one process holds alone, when it starts: the leases of an
  // earlier process that died are nobody's).
  virtual Status release_leases(const std::string& node) = 0;
  virtual Result<RequestTally> request_tally(const std::string& batch_id, int64_t now_ms) = 0;
  // Takes the batch's job lease (its validation or finalization) for node until lease_until_ms, unless
  // another node holds it at now_ms. True when node holds it now. NotFound for an unknown batch.
  virtual Result<bool> lease_batch(const std::string& batch_id, const std::string& node, int64_t now_ms,
                                   int64_t lease_until_ms) = 0;
  // Stored results of a batch with line > after_line, in line order, at most limit of them and no more
  // result text than max_bytes together (the first result always, however large).
  virtual Result<std::vector<StoredResult>> stored_results(const std::string& batch_id, int64_t after_line,
                                                           int64_t limit, int64_t max_bytes) = 0;
  // Stored results of a batch with finished > after, in the order they were stored, at most limit of
  // them (GET /v1/batches/{id}/output while the batch runs). A result's `finished` is given when it is
  // stored, one more than the batch's last, under the batch's lock: a result is never seen before one
  // stored earlier, so `after` is a cursor that misses nothing. Empty once the batch is finalized (its
  // results are then its output and error files). max_bytes bounds the result text as above.
  virtual Result<std::vector<StoredResult>> finished_results(const std::string& batch_id, int64_t after,
                                                             int64_t limit, int64_t max_bytes) = 0;
};

}  // namespace openbatch::store
