// One request on its way to an upstream: what to send, where its answer goes, and where it stands.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "engine/engine.h"
#include "engine/upstream/chat_stream.h"

namespace openbatch::engine::upstream {

struct Job {
  uint64_t order = 0;  // submission order: queues and retries keep it
  Priority priority = Priority::kInteractive;
  uint64_t key = 0;                        // prefix_key of the request (0: none)
  const char* path = "/chat/completions";  // under the upstream's base URL
  std::string body;                        // serialised
  // Called once with the 2xx answer's JSON (not yet checked) or the Status that ended the job.
  std::function<void(Result<nlohmann::json>)> finish;
  ChatStreamReader::OnDelta stream_delta;  // set: the answer is streamed, its text goes here as it comes
  std::function<void()> on_started;        // GenerationCallbacks::on_started: called on the first send
  int attempts = 0;
  std::optional<size_t> failed_on;  // the replica its last attempt failed on (another takes the next one)
  std::atomic<bool> cancelled{false};

  // Guarded by the pool's lock.
  enum class State { kQueued, kDelayed, kRunning, kDone } state = State::kQueued;
  size_t queued_on = 0;  // kQueued: the replica whose queue holds it
  int passed_over = 0;   // kQueued: times a later job of its queue went first (ReplicaPool::take)
  std::multimap<Clock::TimePoint, std::shared_ptr<Job>>::iterator delayed_at;  // kDelayed
  uint64_t sent_epoch = 0;     // kRunning: its replica's ConcurrencyController::epoch() when sent
  Clock::TimePoint sent_at{};  // kRunning: when sent
};

}  // namespace openbatch::engine::upstream
