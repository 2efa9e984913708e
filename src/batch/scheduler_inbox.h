// What the request scheduler (batch/request_scheduler.h) learns from other threads reaches it as an
// event in its inbox: a batch ready to run (the job thread), a cancel (the API), a finished request (the
// engine's callbacks, which may outlive the runner and so hold the inbox by shared_ptr). Pushing only
// queues: no caller waits on the scheduler. Internal to batch/.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/status.h"

namespace openbatch::batch {

struct SchedulerEvent {
  enum Kind { kActivate, kCancel, kDone } kind = kActivate;
  std::string batch_id;
  int64_t line = 0;
  std::optional<Result<nlohmann::ordered_json>> result;  // kDone
  std::string model;  // kDone: the id of the served model it ran on (whose in-flight budget it held)
};

class SchedulerInbox {
 public:
  // Queues e and wakes the scheduler. Thread-safe.
  void push(SchedulerEvent e);
  // Asks the scheduler to stop: its take_until() returns closed. Thread-safe.
  void close();

  struct Taken {
    std::deque<SchedulerEvent> events;
    bool closed = false;
  };
  // Waits on clock until an event is queued, the inbox is closed, or deadline; then takes every queued
  // event. Thread-safe (one taker).
  Taken take_until(const Clock& clock, Clock::TimePoint deadline);
  // After close(): waits on clock until an event is queued or deadline, and takes every queued event.
  std::deque<SchedulerEvent> drain_until(const Clock& clock, Clock::TimePoint deadline);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<SchedulerEvent> events_;
  bool closed_ = false;
};

}  // namespace openbatch::batch
