// Whether one upstream server is in rotation. It is taken out when it cannot be reached (at once) or
// after consecutive failures (5xx but 500, which may be the request's own fault, and timeouts), then
// probed (GET /models) after a wait that doubles while it stays away, and put back when it answers.
// Times are passed in, so a test steps them. Not thread-safe: the engine calls it under its lock.
#pragma once

#include <chrono>

#include "common/backoff.h"
#include "common/clock.h"

namespace openbatch::engine::upstream {

struct HealthOptions {
  int failures_to_remove = 3;                   // consecutive failures that take a server out
  std::chrono::milliseconds first_probe{500};   // wait before the first probe of a server taken out
  std::chrono::milliseconds max_probe{30'000};  // the longest wait between probes
};

class ReplicaHealth {
 public:
  using TimePoint = Clock::TimePoint;

  explicit ReplicaHealth(HealthOptions options = {})
      : options_(options), backoff_(options.first_probe, options.max_probe) {}

  bool healthy() const { return healthy_; }
  // When the next probe of a server that is out is due (meaningless while healthy).
  TimePoint probe_at() const { return probe_at_; }

  // The server answered: a 2xx, or a 4xx about the request. Puts it back when it was out.
  void on_answer();
  // A call failed for the server's sake at now; unreachable: no connection at all (out at once).
  void on_failure(TimePoint now, bool unreachable);
  // A probe at now: answered (a 2xx to GET /models) puts it back, else the next waits twice as long.
  void on_probe(TimePoint now, bool answered);

 private:
  void take_out(TimePoint now);

  HealthOptions options_;
  Backoff backoff_;
  bool healthy_ = true;
  int failures_ = 0;  // consecutive
  TimePoint probe_at_{};
};

}  // namespace openbatch::engine::upstream
