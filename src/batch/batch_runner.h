// The lifecycle of batches after their creation: validation, running their requests on the engine,
// storing results, expiry, cancellation and finalization. Internal to batch/; BatchService drives it.
//
// Two threads:
//  - the scheduler keeps up to max_in_flight requests on the engine, taking them round-robin from the
//    running batches (one request per batch per turn), claims them from the store under leases that it
//    renews, and stores finished results in group commits fenced by those leases;
//  - the job thread validates new batches, writes the output files of finished ones, and deletes
//    expired files when idle; each job is leased from the store, so one node does it.
// Everything the scheduler learns (a finished request, a cancel, a batch ready to run) reaches it as an
// event, so engine callbacks only queue an event and return. Work that other nodes sharing the store
// created or left, and cancels asked of them, the scheduler finds by asking the store every
// poll_interval.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "blobs/blobs.h"
#include "common/clock.h"
#include "common/failure_log.h"
#include "engine/engine.h"
#include "openai/limits.h"
#include "store/store.h"

namespace openbatch::batch {

struct RunnerOptions {
  int max_in_flight = 16;  // requests on the engine at once, all batches together
  std::chrono::milliseconds flush_interval{50};
  size_t flush_max_results = 64;
  openai::Limits limits;
  std::string node_id = "node";  // this runner's name in the store's leases
  std::chrono::milliseconds lease_duration{30000};
  std::chrono::milliseconds poll_interval{500};
  // How long a validation or finalization the store could not take waits before it is tried again; the
  // wait doubles while it keeps failing, to 12 times this.
  std::chrono::milliseconds retry_interval{5000};
};

class BatchRunner {
 public:
  // REQUIRES: store, blobs, engine and clock outlive the runner.
  BatchRunner(store::Store& store, blobs::BlobStore& blobs, engine::Engine& engine, const Clock& clock,
              RunnerOptions options);
  ~BatchRunner();  // stop()
  BatchRunner(const BatchRunner&) = delete;
  BatchRunner& operator=(const BatchRunner&) = delete;

  // Picks up every batch the store holds that has not ended, then runs until stop().
  void start();
  // Cancels the requests on the engine, stores the results that finished, and returns once both threads
  // have ended. Batches stay in their stored status for the next start(). Idempotent.
  void stop();

  // A batch was created (validating). Thread-safe; ignored when not running (start() will find it).
  void submit(const std::string& batch_id);
  // A batch was moved to cancelling in the store. Thread-safe; ignored when not running.
  void cancel(const std::string& batch_id);

 private:
  struct Event;
  struct EventQueue;
  struct ActiveBatch;
  struct Job {
    enum Kind { kValidate, kFinalize } kind;
    std::string batch_id;
    store::BatchStatus final_status = store::BatchStatus::kCompleted;
  };
  class Scheduler;

  // Queues job unless the same job is queued already.
  void push_job(Job job);
  void job_loop();
  // Validates a batch and starts it or fails it. An error only when the store could not be read or
  // written: the batch is as it was, and the job is tried again.
  Status validate(const std::string& batch_id);
  // Finalizes a batch unless another node holds its job lease; a cancelled or expired one once no node
  // holds a live lease on its requests.
  Status finalize(const Job& job);
  int64_t lease_until_ms() const;
  // Deletes files whose expires_at has passed (run by the job thread when idle).
  void remove_expired_files();

  store::Store& store_;
  blobs::BlobStore& blobs_;
  FailureLog failures_;  // retried work that fails: logged once per change, not per try
  engine::Engine& engine_;
  const Clock& clock_;
  const RunnerOptions options_;

  // Shared with engine callbacks, which may outlive the runner.
  std::shared_ptr<EventQueue> events_;
  std::unique_ptr<Scheduler> scheduler_;

  std::mutex jobs_mu_;
  std::condition_variable jobs_cv_;
  std::deque<Job> jobs_;
  std::set<std::pair<int, std::string>> queued_jobs_;  // (kind, batch id) of jobs_
  bool jobs_stop_ = false;

  std::mutex run_mu_;  // start/stop
  bool running_ = false;
  std::thread scheduler_thread_;
  std::thread job_thread_;
};

}  // namespace openbatch::batch
