// What the request scheduler (batch/request_scheduler.h) holds of a batch it runs: the requests it
// claimed and has not yet handed to the engine, those on the engine, and when to try what next. Touched
// by the scheduler's thread only. Internal to batch/.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "blobs/blobs.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "engine/engine.h"
#include "store/store.h"

namespace openbatch::batch {

// How long a store write that failed (a full disk) waits before the next try at most: the wait doubles
// from its first to this while it keeps failing.
constexpr std::chrono::milliseconds kMaxStoreRetryWait{5000};

struct ActiveBatch {
  enum class Mode { kRunning, kCancelling, kExpiring };
  struct InFlight {
    store::RequestRecord request;
    std::string request_id;
    std::vector<std::shared_ptr<engine::GenerationHandle>> handles;
    std::string model;  // the id of the served model it runs on
  };
  using TimePoint = Clock::TimePoint;

  std::string id;
  std::string endpoint;  // what every request of the batch calls
  std::string model;     // as its lines name it (an id or an alias); "" for a batch of before models
  std::string input_file_id;
  int64_t expires_at = 0;
  Mode mode = Mode::kRunning;
  std::unique_ptr<blobs::BlobReader> input;
  bool input_failed = false;                        // the input file cannot be read (not for a moment)
  std::deque<store::RequestRecord> pending;         // claimed, not yet handed to the engine
  std::unordered_map<int64_t, InFlight> in_flight;  // by line
  size_t unflushed = 0;                             // results waiting in the group-commit buffer
  TimePoint retry_after{};                          // after the engine turned requests away
  TimePoint claim_after{};                          // after a claim found nothing to take
  bool drained = false;                             // the last claim found nothing (and none since)
  TimePoint check_after{};                          // when to ask the store whether the batch is done
  bool released = false;                            // stopped: its leases were given back
  int64_t started_ms = 0;                           // when this run of the batch began (clock)
  int64_t sampled_ms = 0;                           // the last progress sample
  bool unsampled = false;                           // results stored since the last sample
  // The waits after claims that failed (a full disk), growing while they keep failing.
  Backoff claim_backoff{std::chrono::milliseconds(100), kMaxStoreRetryWait};

  // Drops the requests not yet on the engine and cancels those on it (each reports as cancelled).
  void stop_requests() {
    pending.clear();
    for (auto& [line, f] : in_flight) {
      for (auto& h : f.handles) h->cancel();
    }
  }
};

}  // namespace openbatch::batch
