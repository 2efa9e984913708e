#include "batch/batch_runner.h"

#include <optional>
#include <utility>

#include "batch/fleet_models.h"
#include "batch/job_thread.h"
#include "batch/request_scheduler.h"
#include "batch/runner_log.h"
#include "batch/scheduler_inbox.h"

namespace openbatch::batch {

using store::BatchStatus;

BatchRunner::BatchRunner(store::Store& store, blobs::BlobStore& blobs, engine::Engine& engine,
                         const Clock& clock, RunnerOptions options)
    : store_(store), blobs_(blobs), engine_(engine), clock_(clock), options_(std::move(options)) {}

BatchRunner::~BatchRunner() { stop(); }

void BatchRunner::set_node_url(std::string url) {
  std::lock_guard lock(run_mu_);
  if (!running_) options_.node_url = std::move(url);
}

void BatchRunner::start() {
  std::lock_guard lock(run_mu_);
  if (running_) return;
  inbox_ = std::make_shared<SchedulerInbox>();
  const RunnerContext ctx{store_, blobs_, engine_, clock_, options_, failures_};
  jobs_ = std::make_unique<JobThread>(ctx, [inbox = inbox_](const std::string& batch_id) {
    inbox->push({SchedulerEvent::kActivate, batch_id, 0, std::nullopt, {}});
  });
  scheduler_ = std::make_unique<RequestScheduler>(ctx, inbox_, *jobs_);

  // What this node serves, for the fleet (then with every renewal of its leases).
  if (Status s = record_served_models(store_, engine_, options_.node_id, options_.node_url,
                                      clock_.now_millis(), options_.lease_duration);
      !s) {
    failures_.failed(work_name("-", "record served models"), s);
  }
  // Resume what a previous run left unfinished.
  if (auto v = store_.batches_with_status({BatchStatus::kValidating}); v) {
    for (const auto& b : *v) jobs_->push({BatchJob::kValidate, b.id});
  }
  if (auto v = store_.batches_with_status(
          {BatchStatus::kInProgress, BatchStatus::kCancelling, BatchStatus::kFinalizing});
      v) {
    for (const auto& b : *v) inbox_->push({SchedulerEvent::kActivate, b.id, 0, std::nullopt, {}});
  }

  scheduler_thread_ = std::thread([this] { scheduler_->run(); });
  jobs_->start();
  running_ = true;
}

void BatchRunner::stop() {
  std::lock_guard lock(run_mu_);
  if (!running_) return;
  running_ = false;
  inbox_->close();
  jobs_->stop();
  scheduler_thread_.join();
  scheduler_.reset();
  jobs_.reset();
}

void BatchRunner::submit(const std::string& batch_id) {
  std::lock_guard lock(run_mu_);
  if (running_) jobs_->push({BatchJob::kValidate, batch_id});
}

void BatchRunner::cancel(const std::string& batch_id) {
  std::lock_guard lock(run_mu_);
  if (running_) inbox_->push({SchedulerEvent::kCancel, batch_id, 0, std::nullopt, {}});
}

}  // namespace openbatch::batch
