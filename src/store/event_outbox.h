// The webhooks' outbox (store/store.h): the events queued by the calls that end a batch when
// StoreOptions::batch_events is on (fail_batch, finish_batch and a transition to an ending status, in
// their own transaction), delivered by whichever node claims them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "store/records.h"

namespace openbatch::store {

class EventOutbox {
 public:
  virtual ~EventOutbox() = default;

  // Claims for node up to limit pending events due at now_ms, oldest first: each gets a new
  // lease_token and is not due again before lease_until_ms (should the node die delivering it). Many
  // nodes may claim at once; each event goes to one of them.
  virtual Result<std::vector<EventRecord>> claim_events(const std::string& node, int64_t limit,
                                                        int64_t now_ms, int64_t lease_until_ms) = 0;
  // Ends one attempt: adds one to attempts and records the outcome (a pending event is due again at
  // next_attempt_ms). False, and nothing written, when the event is no longer under attempt.lease_token
  // (its claim lapsed and another node took it), its claim has ended (the attempt was recorded already,
  // or release_leases ended it) or it is no longer pending.
  virtual Result<bool> record_event_attempt(const EventAttempt& attempt) = 0;
  // The events of a batch, oldest first (any state).
  virtual Result<std::vector<EventRecord>> batch_events(const std::string& batch_id) = 0;
};

}  // namespace openbatch::store
