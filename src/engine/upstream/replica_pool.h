// The upstream engine's replicas and the requests waiting for them. Each replica has a queue
// (interactive calls ahead of batch work, then submission order), a concurrency limit
// (ConcurrencyController), a health (ReplicaHealth) and counts (ReplicaMetrics). A request is queued
// on the replica the ReplicaChooser picks when it arrives (or comes back for another attempt), and is
// finished for it when its attempt ends, it is cancelled or moved; a
// replica whose own queue is empty takes the oldest request of the longest other queue, so that no
// replica idles while work waits. With affinity, a worker that has just had an answer for a prefix key
// sends next the oldest waiting request of the same key, among the first kSameKeyWindow of its queue
// (the server has just freed a slot that holds that prefix), unless the request at the head has been
// passed over kMaxPassOvers times. A replica taken out hands its queue to the others; while every
// replica is out, requests wait on theirs and are sent when its probe is due (they fail and are tried
// again, as their attempts allow).
//
// The engine's threads call it: workers (take, attempt_done: one thread per request in flight,
// started through the spawn callback as work comes and a replica's limit allows, and ended when one
// waits PoolOptions::worker_idle with nothing to send), a timer (run_timers) and a prober (next_probe,
// probe_done). Thread-safe.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/upstream/concurrency_controller.h"
#include "engine/upstream/replica_chooser.h"
#include "engine/upstream/replica_health.h"
#include "engine/upstream/upstream_job.h"

namespace openbatch::engine::upstream {

inline constexpr int kSameKeyWindow = 64;
inline constexpr int kMaxPassOvers = 32;

struct PoolOptions {
  std::string model_id;           // for ReplicaMetrics::model
  std::vector<std::string> urls;  // one replica each
  Routing routing = Routing::kAffinity;
  ConcurrencyOptions concurrency;
  HealthOptions health;
  // A worker that waits this long with nothing it may send ends (its thread and its connection): a
  // burst that took the limit to hundreds does not leave hundreds of threads behind it.
  std::chrono::milliseconds worker_idle{60'000};
};

// How one attempt ended, for the limits and the health.
enum class AttemptEnd {
  kAnswered,     // 2xx
  kRefused,      // 4xx about the request (not 408 or 429): the server is fine
  kServerError,  // 500: the server's own failure, perhaps this request's; counted only
  kOverloaded,   // 429 or 503: cuts the limit
  kTimedOut,     // no answer in time, 408 or 504: cuts the limit and counts against the health
  kFailed,       // 502 and other 5xx, a connection that broke: counts against the health
  kUnreachable,  // no connection: out at once
  kAborted,      // cancelled or shutting down
};

class ReplicaPool {
 public:
  using TimePoint = Clock::TimePoint;

  // spawn(replica) starts a worker thread for replica (called with the pool's lock held: it must not
  // call back into the pool). REQUIRES: options.urls not empty.
  ReplicaPool(PoolOptions options, std::function<void(size_t)> spawn);

  size_t size() const { return urls_.size(); }
  const std::string& url(size_t replica) const { return urls_[replica]; }

  // Queues job (its order is set here). False when the pool has stopped (job untouched).
  bool enqueue(const std::shared_ptr<Job>& job);
  // Queues job's next attempt after wait. False when it must be answered now (stopping, cancelled).
  bool retry_later(const std::shared_ptr<Job>& job, std::chrono::milliseconds wait);
  // Takes a waiting job out (its state kDone): true when the caller must now answer it.
  bool cancel(Job& job);

  // A worker of replica: blocks until it may send a job, returns it (kRunning, counted in flight),
  // or null: the pool is stopping, or the worker waited worker_idle with nothing to send and is no
  // longer counted (the pool spawns another when work needs it). After null the worker ends. last_key:
  // the prefix key of the worker's last job (0: none).
  std::shared_ptr<Job> take(size_t replica, uint64_t last_key = 0);
  // The attempt of job (taken from replica) ended: how, the HTTP status (0: none came) and the 2xx
  // answer's `usage`, when it had one.
  void attempt_done(size_t replica, Job& job, AttemptEnd end, long http_status, const nlohmann::json* usage);

  // The timer: moves retries into the queues when due, until stopping.
  void run_timers();
  // The prober: blocks until a replica that is out is due for its probe; nullopt once stopping.
  std::optional<size_t> next_probe();
  void probe_done(size_t replica, bool answered);

  // Stops: every later call answers at once; returns the jobs that were waiting (their state kDone).
  std::vector<std::shared_ptr<Job>> stop();
  bool stopping() const;

  // The server of replica says it runs slots requests at once (0: it says nothing): its found limit
  // stays at or under it (ConcurrencyController::cap).
  void set_slots(size_t replica, int slots);

  std::vector<ReplicaMetrics> metrics() const;
  // The most requests the replicas may have in flight together, for ModelInfo::parallel: the fixed
  // limits, or the caps of found ones (their servers' slots where known).
  int capacity() const;

 private:
  struct Replica {
    explicit Replica(const PoolOptions& o) : limit(o.concurrency), health(o.health) {}
    ConcurrencyController limit;
    ReplicaHealth health;
    std::map<uint64_t, std::shared_ptr<Job>> queued[2];  // by priority, then order
    size_t queue_size = 0;
    int64_t in_flight = 0;
    int workers = 0;
    int idle = 0;  // workers waiting in take (or started, not yet there)
    bool probing = false;
    std::condition_variable cv;  // its workers wait here
    ReplicaMetrics counts;
  };

  // All REQUIRE mu_ held.
  bool any_healthy() const;
  bool may_send(size_t r, TimePoint now) const;
  void place(const std::shared_ptr<Job>& job);
  std::shared_ptr<Job> pop(size_t r, uint64_t last_key);
  int64_t stealable(size_t r) const;
  void staff();              // wakes or starts the workers that can send now
  void hand_over(size_t r);  // r was taken out: its queue goes to the others

  PoolOptions options_;
  std::vector<std::string> urls_;
  std::function<void(size_t)> spawn_;
  mutable std::mutex mu_;
  std::condition_variable timer_cv_;  // the timer and the prober wait here
  std::vector<std::unique_ptr<Replica>> replicas_;
  ReplicaChooser chooser_;
  std::multimap<TimePoint, std::shared_ptr<Job>> delayed_;
  uint64_t next_order_ = 0;
  bool stopping_ = false;
};

}  // namespace openbatch::engine::upstream
