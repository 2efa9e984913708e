// The batch runner's scheduler (batch/batch_runner.h): keeps requests on the engine, up to each model's
// budget (in_flight_budget) and max_in_flight in all, taking them round-robin from the running batches
// of the models this node serves (one request per batch per turn; a batch whose model this node does
// not serve is another node's to run, though cancels, expiry and finalization of it still happen
// here), claims them from
// the store under leases that it renews, stores finished results in group commits fenced by those
// leases, stops the requests of batches cancelled or past their completion window, and hands batches
// with nothing left to run to the job thread to finalize.
//
// Everything it learns from other threads (a finished request, a cancel, a batch ready to run) reaches
// it through its inbox; work that other nodes sharing the store created or left, and cancels asked of
// them, it finds by asking the store every poll_interval. It waits on the clock: for its inbox, its next
// poll, renewal or flush, and a quarter of a second at most, when it looks at the wall clock for
// batches past their completion window. Internal to batch/.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "batch/active_batch.h"
#include "batch/job_thread.h"
#include "batch/one_model_engine.h"
#include "batch/runner_options.h"
#include "batch/scheduler_inbox.h"
#include "common/backoff.h"
#include "common/clock.h"

namespace openbatch::batch {

class RequestScheduler {
 public:
  // REQUIRES: jobs outlives this, and runs (or starts) to take the finalizations it is given.
  RequestScheduler(const RunnerContext& ctx, std::shared_ptr<SchedulerInbox> inbox, JobThread& jobs);
  RequestScheduler(const RequestScheduler&) = delete;
  RequestScheduler& operator=(const RequestScheduler&) = delete;

  // Runs until the inbox is closed; then stops every request, waits (3 s at most, on the clock) for the
  // engine to report them, stores what finished and gives every lease back, so that other nodes (or
  // the next start) take the rest at once. Batches stay in their stored status. Call on one thread.
  void run();

 private:
  using Mode = ActiveBatch::Mode;
  using TimePoint = Clock::TimePoint;

  TimePoint next_wakeup() const;
  void handle(SchedulerEvent& e);
  void cancel(ActiveBatch& b);
  void activate(const std::string& id);
  void activate(const store::BatchRecord& rec);
  // What the store holds now: batches created or left by other nodes, cancels asked of them, and
  // batches that ended elsewhere.
  void poll();
  void renew();
  void sample(ActiveBatch& b);
  void sample_due();
  void on_done(SchedulerEvent& e);
  void add_result(ActiveBatch& b, const store::RequestRecord& req, store::Outcome outcome, std::string line,
                  store::Usage usage);
  // Stops the requests of running batches whose completion window has passed.
  void check_expiry();
  // The next batch after the last one served that has a request to run or to claim (round-robin), or
  // null.
  ActiveBatch* next_runnable(TimePoint now);
  // The model of the engine b's requests run on; nullopt when this node does not serve b's model.
  std::optional<engine::ModelInfo> served_model(const ActiveBatch& b) const;
  // Whether b's model is served here and has room in its in-flight budget.
  bool has_room(const ActiveBatch& b) const;
  // Takes requests of b from the store under this node's lease. False when there were none to take.
  bool claim(ActiveBatch& b);
  void dispatch();
  void dispatch_one(ActiveBatch& b, store::RequestRecord req);
  // Stores the buffered results when there are enough of them or the oldest has waited long enough.
  void flush(bool force);
  // A batch with nothing left here ends once the store says so: a running one when every request has
  // a result (then this node moves it to finalizing, or a cancel won), a stopped one (cancel, expiry)
  // when no node holds a live lease on its requests any more.
  void end_finished_batches();
  void shutdown();

  const RunnerContext ctx_;
  const std::shared_ptr<SchedulerInbox> inbox_;
  JobThread& jobs_;

  std::map<std::string, ActiveBatch> batches_;
  std::string last_served_;
  int in_flight_ = 0;
  std::vector<engine::ModelInfo> served_;       // the engine's models, as of the last poll
  std::map<std::string, int> model_in_flight_;  // requests on the engine by served model id
  // The engine as each served model (by id) that requests ran on, for the scheduler's life.
  std::map<std::string, std::unique_ptr<OneModelEngine>> views_;
  bool stopping_ = false;
  std::vector<store::RequestResult> buffer_;
  TimePoint first_buffered_{};
  // After a failed flush (a full disk): the next is tried no sooner than flush_retry_after_.
  Backoff flush_backoff_;
  TimePoint flush_retry_after_{};
  TimePoint next_poll_{};
  TimePoint next_renew_{};
};

}  // namespace openbatch::batch
