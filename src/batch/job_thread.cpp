#include "batch/job_thread.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <vector>

#include "batch/batch_finalizer.h"
#include "batch/batch_prompt_tokens.h"
#include "batch/fleet_models.h"
#include "batch/input_validator.h"
#include "batch/runner_log.h"
#include "common/backoff.h"

namespace openbatch::batch {

using store::BatchStatus;

namespace {

// A validation or finalization that failed waits retry_interval, then twice that... up to this many
// times it (a minute by default).
constexpr int kMaxJobRetryFactor = 12;
// Expired files are looked for when no job came for this long.
constexpr std::chrono::seconds kIdleBeforeFileExpiry{60};

// OpenAI's entry of errors.data for a batch past the enqueued-token limit, without its organization.
store::BatchError enqueued_token_limit_error(const std::string& model, int64_t limit) {
  // In thousands, as OpenAI writes it: "90,000".
  const std::string plain = std::to_string(limit);
  std::string digits;
  for (size_t i = 0; i < plain.size(); ++i) {
    if (i > 0 && (plain.size() - i) % 3 == 0) digits += ',';
    digits += plain[i];
  }
  return {"token_limit_exceeded",
          "Enqueued token limit reached for " + model + ". Limit: " + digits +
              " enqueued tokens. Please try again once some in_progress batches have been completed.",
          "", std::nullopt};
}

}  // namespace

JobThread::JobThread(const RunnerContext& ctx, std::function<void(const std::string& batch_id)> activate)
    : ctx_(ctx), activate_(std::move(activate)) {}

JobThread::~JobThread() { stop(); }

void JobThread::start() {
  thread_ = std::thread([this] { run(); });
}

void JobThread::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void JobThread::push(BatchJob job) {
  {
    std::lock_guard lock(mu_);
    if (!queued_.insert({job.kind, job.batch_id}).second) return;
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void JobThread::run() {
  Backoff backoff(ctx_.options.retry_interval, ctx_.options.retry_interval * kMaxJobRetryFactor);
  for (;;) {
    BatchJob job;
    {
      std::unique_lock lock(mu_);
      if (!ctx_.clock.wait_for(lock, cv_, kIdleBeforeFileExpiry, [&] { return stop_ || !jobs_.empty(); })) {
        lock.unlock();
        remove_expired_files();
        continue;
      }
      if (stop_) return;  // what is left is picked up again by the next start
      job = std::move(jobs_.front());
      jobs_.pop_front();
      queued_.erase({job.kind, job.batch_id});
    }
    // Failures back off (doubling from retry_interval) and are logged when they start, change and end.
    Status s = job.kind == BatchJob::kValidate ? validate(job.batch_id) : finalize(job);
    const std::string name =
        work_name(job.batch_id, job.kind == BatchJob::kValidate ? "validate" : "finalize");
    if (!s) {
      ctx_.failures.failed(name, s);
      std::unique_lock lock(mu_);
      if (ctx_.clock.wait_for(lock, cv_, backoff.failed(), [&] { return stop_; })) return;
      if (queued_.insert({job.kind, job.batch_id}).second) jobs_.push_back(std::move(job));
    } else {
      ctx_.failures.succeeded(name);
      backoff.succeeded();
    }
  }
}

void JobThread::remove_expired_files() {
  auto files = ctx_.store.expired_files(ctx_.clock.now_seconds(), 100);
  if (!files) return log_batch_error("-", "expired files", files.status());
  for (const auto& f : *files) {
    if (ctx_.store.delete_file(f.owner, f.id)) ctx_.blobs.remove(f.id);
  }
}

Status JobThread::finalize(const BatchJob& job) {
  auto leased = ctx_.store.lease_batch(job.batch_id, ctx_.options.node_id, ctx_.clock.now_millis(),
                                       lease_until_ms(ctx_.clock, ctx_.options));
  if (!leased) return leased.status().is_not_found() ? Status::ok() : leased.status();
  if (!*leased) return Status::ok();  // another node finalizes it; if it dies, a poll brings it back
  if (job.final_status != BatchStatus::kCompleted) {
    auto tally = ctx_.store.request_tally(job.batch_id, ctx_.clock.now_millis());
    if (!tally) return tally.status();
    if (tally->leased > 0) {
      // Another node still runs requests of it: they stop at its next poll, or their leases lapse.
      return Status::unavailable("requests of the batch are still leased by other nodes");
    }
  }
  return finalize_batch(ctx_.store, ctx_.blobs, ctx_.clock, job.batch_id, job.final_status);
}

Status JobThread::validate(const std::string& batch_id) {
  auto rec = ctx_.store.get_batch_any_owner(batch_id);
  if (!rec) return rec.status().is_not_found() ? Status::ok() : rec.status();
  if (rec->status == BatchStatus::kValidating) {
    auto leased = ctx_.store.lease_batch(batch_id, ctx_.options.node_id, ctx_.clock.now_millis(),
                                         lease_until_ms(ctx_.clock, ctx_.options));
    if (!leased) return leased.status();
    if (!*leased) return Status::ok();  // another node validates it
  }
  auto activate = [&] {
    activate_(batch_id);
    return Status::ok();
  };
  if (rec->status == BatchStatus::kCancelling) return activate();
  if (rec->status != BatchStatus::kValidating) return Status::ok();

  auto fail = [&](std::vector<store::BatchError> errors) {
    Status s = ctx_.store.fail_batch(batch_id, errors, ctx_.clock.now_seconds());
    if (!s && s.is_conflict()) return activate();  // cancelled meanwhile
    return s;
  };
  auto file_error = [&](std::string message) {
    return fail({{"invalid_request", std::move(message), "file_id", std::nullopt}});
  };

  auto file = ctx_.store.get_file(rec->owner, rec->input_file_id);
  if (!file && !file.status().is_not_found()) return file.status();
  // OpenAI's wording, with the API key where it names the organization.
  if (!file) {
    return file_error("Cannot find file " + rec->input_file_id +
                      ", or this API key does not have access to it.");
  }
  if (file->purpose != "batch") {
    return file_error("The input file '" + file->id + "' has purpose '" + file->purpose +
                      "'; a batch's input file must be uploaded with purpose 'batch'.");
  }
  auto input = ctx_.blobs.open(file->id);
  if (!input && input.status().is_unavailable()) return input.status();  // tried again later
  if (!input) return file_error("The input file '" + file->id + "' could not be read.");

  ValidationLimits limits;
  limits.endpoint = rec->endpoint;
  // The models this node serves, and those any node of the fleet serves or has served.
  limits.models = served_names(ctx_.engine);
  auto fleet = ctx_.store.served_models();
  if (!fleet) return fleet.status();  // tried again later
  for (const store::ServedModel& m : *fleet) {
    if (std::find(limits.models.begin(), limits.models.end(), m.name) == limits.models.end())
      limits.models.push_back(m.name);
  }
  limits.max_requests = ctx_.options.limits.max_batch_requests;
  limits.max_bytes = ctx_.options.limits.max_batch_input_bytes;
  ValidatedInput v = validate_input(**input, limits);
  bool started = false;
  Status s;
  if (!v.errors.empty()) {
    s = fail(std::move(v.errors));
  } else {
    store::TokenQuota quota;
    quota.max_enqueued_tokens = ctx_.options.limits.max_enqueued_tokens;
    if (quota.max_enqueued_tokens > 0) {
      auto tokens = count_batch_prompt_tokens(ctx_.engine, v.model, rec->endpoint, **input, v.requests);
      if (!tokens) return tokens.status();  // tried again later
      quota.prompt_tokens = *tokens;
    }
    s = ctx_.store.start_batch(batch_id, v.model, v.requests, ctx_.clock.now_seconds(), quota);
    started = s.is_ok() || s.is_conflict();
    if (s.is_rate_limited()) s = fail({enqueued_token_limit_error(v.model, quota.max_enqueued_tokens)});
  }
  if (s || s.is_conflict()) {
    // Done: the next job of the batch (its finalization) may go to any node at once.
    if (Status r = ctx_.store.release_batch(batch_id, ctx_.options.node_id); !r)
      log_batch_error(batch_id, "release", r);
    return started ? activate() : s;
  }
  return s;
}

}  // namespace openbatch::batch
