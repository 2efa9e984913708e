// How many requests one upstream server is given at once. Fixed (`--parallel N`), or found by AIMD as
// TCP finds a window (and as llm-d's Batch Gateway does for its model servers):
//   - slow start: the limit starts at `initial` and doubles after each window of good answers (a
//     window: as many answers as the limit), so a server that takes hundreds is there in a few rounds;
//   - additive increase: after the first overload or latency rise, +1 a good window;
//   - a window whose mean latency is over latency_tolerance x the best window's mean holds the limit
//     (the server queues instead of running more at once: more in flight would not add throughput);
//   - multiplicative decrease: an overload (429, 503, a timeout) cuts the limit to `decrease` x, once
//     for the calls sent before the cut (the other overloads of the same round are the same news);
//   - a server that says how many it runs at once (llama-server's slots, from its /props) caps the
//     found limit there: more would wait inside the server, where a freed slot takes whichever
//     request came first, whatever prefix it holds.
// Not thread-safe: the engine calls it under its lock.
#pragma once

#include <chrono>
#include <cstdint>

namespace openbatch::engine::upstream {

struct ConcurrencyOptions {
  int fixed = 0;                   // > 0: the limit is this, whatever the server answers
  int initial = 8;                 // found: the first limit (at most max)
  int max = 256;                   // found: the limit never goes above it
  double decrease = 0.7;           // found: the factor of a cut
  double latency_tolerance = 2.0;  // found: a window slower than this x the best one holds the limit
};

class ConcurrencyController {
 public:
  // REQUIRES: options.max >= 1.
  explicit ConcurrencyController(ConcurrencyOptions options);

  // The most requests in flight now (>= 1).
  int limit() const { return limit_; }
  // The server runs at most slots requests at once: a found limit stays at or under it (and is cut
  // to it when over). slots <= 0: no such cap (options.max only). A fixed limit ignores it.
  void cap(int slots);
  // The highest the limit may go: fixed, else options.max or the server's slots, the lower.
  int ceiling() const;
  bool fixed() const { return options_.fixed > 0; }
  // Counts cuts; a call remembers it when sent and hands it back with its overload.
  uint64_t epoch() const { return epoch_; }

  // A call answered well (2xx) after latency.
  void on_success(std::chrono::milliseconds latency);
  // A call sent at sent_epoch met an overload (429, 503, timeout): the first such of an epoch cuts.
  void on_overload(uint64_t sent_epoch);

 private:
  void start_window();

  ConcurrencyOptions options_;
  int slots_ = 0;  // 0: the server said nothing
  int limit_;
  bool slow_start_ = true;
  uint64_t epoch_ = 0;
  int window_answers_ = 0;
  double window_latency_ms_ = 0;  // the sum over the window
  double best_mean_ms_ = 0;       // 0: no window finished yet
};

}  // namespace openbatch::engine::upstream
