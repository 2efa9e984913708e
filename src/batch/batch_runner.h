// The lifecycle of batches after their creation: validation, running their requests on the engine,
// storing results, expiry, cancellation and finalization. Internal to batch/; BatchService drives it.
//
// Two threads:
//  - the request scheduler (batch/request_scheduler.h) keeps requests on the engine, up to each
//    model's budget, round-robin between the running batches of the models this node serves (the
//    fleet's other nodes run the rest: batch/fleet_models.h), under leases it renews, and stores their
//    results in group commits; it stops the batches cancelled or past their completion window;
//  - the job thread (batch/job_thread.h) validates new batches, writes the output files of finished
//    ones, and deletes expired files when idle; each job is leased from the store, so one node does it.
// Everything the scheduler learns (a finished request, a cancel, a batch ready to run) reaches it as an
// event in its inbox (batch/scheduler_inbox.h), so engine callbacks only queue an event and return.
// Work that other nodes sharing the store created or left, and cancels asked of them, the scheduler
// finds by asking the store every poll_interval. Every wait of both threads is on the clock.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "batch/runner_options.h"
#include "blobs/blobs.h"
#include "common/clock.h"
#include "common/failure_log.h"
#include "engine/engine.h"
#include "store/store.h"

namespace openbatch::batch {

class JobThread;
class RequestScheduler;
class SchedulerInbox;

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
  // Where other nodes reach this one (RunnerOptions::node_url), for the next start(); ignored while
  // running.
  void set_node_url(std::string url);

  // A batch was created (validating). Thread-safe; ignored when not running (start() will find it).
  void submit(const std::string& batch_id);
  // A batch was moved to cancelling in the store. Thread-safe; ignored when not running.
  void cancel(const std::string& batch_id);

 private:
  store::Store& store_;
  blobs::BlobStore& blobs_;
  FailureLog failures_;  // retried work that fails: logged once per change, not per try
  engine::Engine& engine_;
  const Clock& clock_;
  RunnerOptions options_;  // changed only while not running (set_node_url)

  std::mutex run_mu_;  // start/stop, and the members below
  bool running_ = false;
  // Made anew by each start(). The inbox is shared with engine callbacks, which may outlive the runner.
  std::shared_ptr<SchedulerInbox> inbox_;
  std::unique_ptr<JobThread> jobs_;
  std::unique_ptr<RequestScheduler> scheduler_;
  std::thread scheduler_thread_;
};

}  // namespace openbatch::batch
