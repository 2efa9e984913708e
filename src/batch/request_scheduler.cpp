#include "batch/request_scheduler.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <set>
#include <utility>

#include "batch/fleet_models.h"
#include "batch/result_lines.h"
#include "batch/runner_log.h"
#include "openai/chat_completion.h"
#include "openai/endpoints.h"

namespace openbatch::batch {

using store::BatchStatus;

namespace {

// Engine results that say nothing about the request itself: it was stopped (by us) or the engine could
// not take it (shutting down, an upstream busy after its retries). Such a request runs again rather than
// landing in the error file.
bool is_retryable(const Status& s) { return s.is_cancelled() || s.is_unavailable(); }

// How long the requests of a batch wait after the engine or the blob store turned one away for a moment.
constexpr std::chrono::seconds kRetryAfterUnavailable{1};
// The wall clock is looked at this often, for batches past their completion window.
constexpr std::chrono::milliseconds kExpiryCheckInterval{250};
// A stop waits this long at most for the engine to report the requests it cancels.
constexpr std::chrono::seconds kShutdownWait{3};

// Progress samples (Store::sample_progress) are taken when a batch starts running, after stored results
// at most every max(kMinSampleSpacingMs, the time it has run / kSampleSpacingDivisor), and when it
// ends: fine-grained for a batch of seconds, about 1,700 samples for one that runs 24 hours.
constexpr int64_t kMinSampleSpacingMs = 250;
constexpr int64_t kSampleSpacingDivisor = 200;

}  // namespace

RequestScheduler::RequestScheduler(const RunnerContext& ctx, std::shared_ptr<SchedulerInbox> inbox,
                                   JobThread& jobs)
    : ctx_(ctx),
      inbox_(std::move(inbox)),
      jobs_(jobs),
      flush_backoff_(
          std::max<std::chrono::milliseconds>(ctx.options.flush_interval, std::chrono::milliseconds(10)),
          kMaxStoreRetryWait) {
  served_ = ctx_.engine.models();
}

void RequestScheduler::run() {
  for (;;) {
    SchedulerInbox::Taken taken = inbox_->take_until(ctx_.clock, next_wakeup());
    for (SchedulerEvent& e : taken.events) handle(e);
    if (taken.closed) {
      shutdown();
      return;
    }
    const auto now = ctx_.clock.steady_now();
    if (now >= next_renew_) {
      renew();
      next_renew_ = now + ctx_.options.lease_duration / 3;
    }
    if (now >= next_poll_) {
      poll();
      next_poll_ = now + ctx_.options.poll_interval;
    }
    check_expiry();
    dispatch();
    flush(false);
    sample_due();
    end_finished_batches();
  }
}

Clock::TimePoint RequestScheduler::next_wakeup() const {
  auto t = ctx_.clock.steady_now() + kExpiryCheckInterval;
  t = std::min({t, next_poll_, next_renew_});
  if (!buffer_.empty())
    t = std::min(t, std::max(first_buffered_ + ctx_.options.flush_interval, flush_retry_after_));
  return t;
}

void RequestScheduler::handle(SchedulerEvent& e) {
  switch (e.kind) {
    case SchedulerEvent::kActivate:
      activate(e.batch_id);
      break;
    case SchedulerEvent::kCancel: {
      auto it = batches_.find(e.batch_id);
      if (it != batches_.end()) {
        cancel(it->second);
      } else {
        activate(e.batch_id);  // resumed but not yet active, or cancelled while validating
      }
      break;
    }
    case SchedulerEvent::kDone:
      on_done(e);
      break;
  }
}

void RequestScheduler::cancel(ActiveBatch& b) {
  if (b.mode != Mode::kRunning) return;
  b.mode = Mode::kCancelling;
  b.stop_requests();
}

void RequestScheduler::activate(const std::string& id) {
  if (batches_.count(id)) return;
  auto rec = ctx_.store.get_batch_any_owner(id);
  if (!rec) return log_batch_error(id, "activate", rec.status());
  activate(*rec);
}

void RequestScheduler::activate(const store::BatchRecord& rec) {
  if (batches_.count(rec.id)) return;
  if (rec.status == BatchStatus::kFinalizing) {
    jobs_.push({BatchJob::kFinalize, rec.id, BatchStatus::kCompleted});
    return;
  }
  if (rec.status != BatchStatus::kInProgress && rec.status != BatchStatus::kCancelling) return;
  ActiveBatch b;
  b.id = rec.id;
  b.endpoint = rec.endpoint;
  b.model = rec.model;
  b.input_file_id = rec.input_file_id;
  b.expires_at = rec.expires_at;
  if (rec.status == BatchStatus::kCancelling) {
    b.mode = Mode::kCancelling;
  } else if (ctx_.clock.now_seconds() >= rec.expires_at) {
    b.mode = Mode::kExpiring;
  }
  b.started_ms = ctx_.clock.now_millis();
  auto [it, inserted] = batches_.emplace(rec.id, std::move(b));
  if (it->second.mode == Mode::kRunning) sample(it->second);
}

void RequestScheduler::poll() {
  served_ = ctx_.engine.models();  // a router's models load and unload
  auto unfinished = ctx_.store.batches_with_status({BatchStatus::kValidating, BatchStatus::kInProgress,
                                                    BatchStatus::kCancelling, BatchStatus::kFinalizing});
  if (!unfinished) return ctx_.failures.failed(work_name("-", "poll the store"), unfinished.status());
  ctx_.failures.succeeded(work_name("-", "poll the store"));
  std::set<std::string> live;
  for (const store::BatchRecord& rec : *unfinished) {
    live.insert(rec.id);
    if (rec.status == BatchStatus::kValidating) {
      jobs_.push({BatchJob::kValidate, rec.id});
      continue;
    }
    auto it = batches_.find(rec.id);
    if (it == batches_.end()) {
      activate(rec);
    } else if (rec.status == BatchStatus::kCancelling) {
      cancel(it->second);
    }
  }
  for (auto it = batches_.begin(); it != batches_.end();) {
    if (live.count(it->first)) {
      ++it;
      continue;
    }
    // Ended elsewhere (finalized by another node): whatever is still running here is not needed.
    it->second.stop_requests();
    it = batches_.erase(it);
  }
}

void RequestScheduler::renew() {
  if (Status s = ctx_.store.renew_leases(ctx_.options.node_id, lease_until_ms(ctx_.clock, ctx_.options));
      !s) {
    return ctx_.failures.failed(work_name("-", "renew leases"), s);
  }
  ctx_.failures.succeeded(work_name("-", "renew leases"));
  // The heartbeat of this node's models, so that the fleet knows what it serves.
  if (Status s = record_served_models(ctx_.store, ctx_.engine, ctx_.options.node_id, ctx_.options.node_url,
                                      ctx_.clock.now_millis(), ctx_.options.lease_duration);
      !s) {
    return ctx_.failures.failed(work_name("-", "record served models"), s);
  }
  ctx_.failures.succeeded(work_name("-", "record served models"));
}

void RequestScheduler::sample(ActiveBatch& b) {
  const int64_t now = ctx_.clock.now_millis();
  if (Status s = ctx_.store.sample_progress(b.id, now); !s) {
    return ctx_.failures.failed(work_name(b.id, "progress sample"), s);
  }
  ctx_.failures.succeeded(work_name(b.id, "progress sample"));
  b.sampled_ms = now;
  b.unsampled = false;
}

void RequestScheduler::sample_due() {
  const int64_t now = ctx_.clock.now_millis();
  for (auto& [id, b] : batches_) {
    const int64_t spacing = std::max(kMinSampleSpacingMs, (now - b.started_ms) / kSampleSpacingDivisor);
    if (b.unsampled && now - b.sampled_ms >= spacing) sample(b);
  }
}

void RequestScheduler::on_done(SchedulerEvent& e) {
  --in_flight_;
  if (auto m = model_in_flight_.find(e.model); m != model_in_flight_.end() && --m->second <= 0)
    model_in_flight_.erase(m);
  auto bit = batches_.find(e.batch_id);
  if (bit == batches_.end()) return;
  ActiveBatch& b = bit->second;
  auto fit = b.in_flight.find(e.line);
  if (fit == b.in_flight.end()) return;
  ActiveBatch::InFlight f = std::move(fit->second);
  b.in_flight.erase(fit);

  const Result<nlohmann::ordered_json>& result = *e.result;
  if (result.is_ok()) {
    add_result(b, f.request, store::Outcome::kOutput, output_line(f.request.custom_id, f.request_id, *result),
               usage_of(*result));
    return;
  }
  // A request stopped by a cancel, an expiry or a shutdown is settled by the finalizer or runs again.
  if (b.mode != Mode::kRunning || stopping_) return;
  if (is_retryable(result.status())) {
    b.pending.push_back(f.request);  // still under this node's lease
    b.retry_after = ctx_.clock.steady_now() + kRetryAfterUnavailable;
    return;
  }
  add_result(b, f.request, store::Outcome::kError,
             failed_line(f.request.custom_id, f.request_id, result.status()), {});
}

void RequestScheduler::add_result(ActiveBatch& b, const store::RequestRecord& req, store::Outcome outcome,
                                  std::string line, store::Usage usage) {
  if (buffer_.empty()) first_buffered_ = ctx_.clock.steady_now();
  buffer_.push_back({b.id, req.line, outcome, std::move(line), usage, req.lease_token});
  ++b.unflushed;
}

void RequestScheduler::check_expiry() {
  const int64_t now = ctx_.clock.now_seconds();
  for (auto& [id, b] : batches_) {
    if (b.mode == Mode::kRunning && now >= b.expires_at) {
      b.mode = Mode::kExpiring;
      b.stop_requests();
    }
  }
}

ActiveBatch* RequestScheduler::next_runnable(TimePoint now) {
  if (batches_.empty()) return nullptr;
  auto start = batches_.upper_bound(last_served_);
  auto it = start;
  for (size_t i = 0; i < batches_.size(); ++i, ++it) {
    if (it == batches_.end()) it = batches_.begin();
    ActiveBatch& b = it->second;
    if (b.mode == Mode::kRunning && b.retry_after <= now && (!b.pending.empty() || b.claim_after <= now) &&
        has_room(b)) {
      last_served_ = it->first;
      return &b;
    }
  }
  return nullptr;
}

std::optional<engine::ModelInfo> RequestScheduler::served_model(const ActiveBatch& b) const {
  // A batch of before models (none named in its record) runs on the engine's first model.
  if (b.model.empty()) return served_.empty() ? std::nullopt : std::optional(served_.front());
  return model_named(served_, b.model);
}

bool RequestScheduler::has_room(const ActiveBatch& b) const {
  const auto model = served_model(b);
  if (!model) return false;  // another node serves it: this one claims none of its requests
  const auto used = model_in_flight_.find(model->id);
  return used == model_in_flight_.end() || used->second < in_flight_budget(*model);
}

bool RequestScheduler::claim(ActiveBatch& b) {
  const int64_t now_ms = ctx_.clock.now_millis();
  // Enough for the engine's free places and some more, so that a claim is not a transaction a request.
  const auto model = served_model(b);
  const int64_t n = std::max<int64_t>(16, model ? in_flight_budget(*model) : 0);
  auto claimed = ctx_.store.claim_requests(b.id, ctx_.options.node_id, n, now_ms,
                                           lease_until_ms(ctx_.clock, ctx_.options));
  if (!claimed) {
    ctx_.failures.failed(work_name(b.id, "claim requests"), claimed.status());
    b.claim_after = ctx_.clock.steady_now() +
                    std::max<std::chrono::milliseconds>(ctx_.options.poll_interval, b.claim_backoff.failed());
    return false;
  }
  ctx_.failures.succeeded(work_name(b.id, "claim requests"));
  b.claim_backoff.succeeded();
  if (claimed->empty()) {
    b.claim_after = ctx_.clock.steady_now() + ctx_.options.poll_interval;
    b.drained = true;
    return false;
  }
  b.drained = false;
  for (store::RequestRecord& r : *claimed) b.pending.push_back(std::move(r));
  return true;
}

void RequestScheduler::dispatch() {
  const auto now = ctx_.clock.steady_now();
  while (ctx_.options.max_in_flight <= 0 || in_flight_ < ctx_.options.max_in_flight) {
    ActiveBatch* b = next_runnable(now);
    if (b == nullptr) return;
    if (b->pending.empty() && !claim(*b)) continue;
    store::RequestRecord req = std::move(b->pending.front());
    b->pending.pop_front();
    dispatch_one(*b, std::move(req));
  }
}

void RequestScheduler::dispatch_one(ActiveBatch& b, store::RequestRecord req) {
  const std::string request_id = openai::new_id("req_");
  auto fail = [&](const Status& s) {
    add_result(b, req, store::Outcome::kError, failed_line(req.custom_id, request_id, s), {});
  };
  if (!b.input && !b.input_failed) {
    auto input = ctx_.blobs.open(b.input_file_id);
    if (input) {
      b.input = std::move(input).value();
    } else if (input.status().is_unavailable()) {
      // The store of the bytes is away for a moment: the request runs later, still leased here.
      b.pending.push_back(std::move(req));
      b.retry_after = ctx_.clock.steady_now() + kRetryAfterUnavailable;
      return;
    } else {
      log_batch_error(b.id, "open input file", input.status());  // each request then fails on its own
      b.input_failed = true;
    }
  }
  if (!b.input) return fail(Status::internal("The batch's input file could not be read."));
  std::string bytes(static_cast<size_t>(req.length), '\0');
  auto n = b.input->read_at(req.offset, bytes.data(), bytes.size());
  if (!n && n.status().is_unavailable()) {
    // The store of the bytes is away for a moment: the request runs later, still leased here.
    b.pending.push_back(std::move(req));
    b.retry_after = ctx_.clock.steady_now() + kRetryAfterUnavailable;
    return;
  }
  if (!n || *n != bytes.size()) return fail(Status::internal("The batch's input file could not be read."));
  nlohmann::json line = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  const nlohmann::ordered_json ordered = nlohmann::ordered_json::parse(bytes, nullptr, false);
  if (!line.is_object() || !line.contains("body")) {
    return fail(Status::internal("The batch's input line could not be read."));
  }
  const int64_t line_no = req.line;
  const auto model = served_model(b);
  if (!model) {  // no longer served here (a router's model taken away): another node runs it
    b.pending.push_back(std::move(req));
    return;
  }
  ActiveBatch::InFlight& f = b.in_flight[line_no];
  f.request = req;
  f.request_id = request_id;
  f.model = model->id;
  ++in_flight_;
  ++model_in_flight_[model->id];
  // The callback only queues an event: it runs on the engine's thread, maybe before this returns.
  // Views of the engine stay for the scheduler's life: one a model it served.
  auto& view = views_[model->id];
  if (!view) view = std::make_unique<OneModelEngine>(ctx_.engine, model->id);
  auto handles = openai::run_endpoint_request(
      *view, b.endpoint, line["body"], engine::Priority::kBatch,
      [inbox = inbox_, id = b.id, line_no, model = model->id](Result<nlohmann::ordered_json> result) {
        inbox->push({SchedulerEvent::kDone, id, line_no, std::move(result), model});
      },
      ordered.is_object() && ordered.contains("body") ? &ordered["body"] : nullptr);
  if (!handles) {
    b.in_flight.erase(line_no);
    --in_flight_;
    if (--model_in_flight_[model->id] <= 0) model_in_flight_.erase(model->id);
    if (is_retryable(handles.status())) {
      b.pending.push_back(std::move(req));
      b.retry_after = ctx_.clock.steady_now() + kRetryAfterUnavailable;
      return;
    }
    return fail(handles.status());
  }
  f.handles = std::move(handles).value();
}

void RequestScheduler::flush(bool force) {
  if (buffer_.empty()) return;
  const auto now = ctx_.clock.steady_now();
  if (!force && (now < flush_retry_after_ || (buffer_.size() < ctx_.options.flush_max_results &&
                                              now - first_buffered_ < ctx_.options.flush_interval))) {
    return;
  }
  if (Status s = ctx_.store.record_results(buffer_); !s) {
    ctx_.failures.failed(work_name("-", "store results"), s);
    flush_retry_after_ = now + flush_backoff_.failed();
    return;
  }
  ctx_.failures.succeeded(work_name("-", "store results"));
  flush_backoff_.succeeded();
  for (const auto& r : buffer_) {
    auto it = batches_.find(r.batch_id);
    if (it == batches_.end()) continue;
    --it->second.unflushed;
    it->second.unsampled = true;
  }
  buffer_.clear();
}

void RequestScheduler::end_finished_batches() {
  const auto now = ctx_.clock.steady_now();
  for (auto it = batches_.begin(); it != batches_.end();) {
    ActiveBatch& b = it->second;
    const bool idle = b.pending.empty() && b.in_flight.empty() && b.unflushed == 0;
    if (!idle || (b.mode == Mode::kRunning && !b.drained) || b.check_after > now) {
      ++it;
      continue;
    }
    b.check_after = now + ctx_.options.poll_interval;
    if (b.mode != Mode::kRunning && !b.released) {
      if (Status s = ctx_.store.release_batch(b.id, ctx_.options.node_id); !s) {
        ctx_.failures.failed(work_name(b.id, "release leases"), s);
        ++it;
        continue;
      }
      ctx_.failures.succeeded(work_name(b.id, "release leases"));
      b.released = true;
    }
    auto tally = ctx_.store.request_tally(b.id, ctx_.clock.now_millis());
    if (!tally) {
      ctx_.failures.failed(work_name(b.id, "count requests"), tally.status());
      ++it;
      continue;
    }
    ctx_.failures.succeeded(work_name(b.id, "count requests"));
    BatchStatus to = BatchStatus::kCompleted;
    if (b.mode == Mode::kCancelling) to = BatchStatus::kCancelled;
    if (b.mode == Mode::kExpiring) to = BatchStatus::kExpired;
    if (to == BatchStatus::kCompleted ? tally->unfinished > 0 : tally->leased > 0) {
      ++it;  // other nodes are running requests of it (or hold leases that will lapse)
      continue;
    }
    if (to == BatchStatus::kCompleted) {
      Status s = ctx_.store.transition(b.id, {BatchStatus::kInProgress}, BatchStatus::kFinalizing,
                                       ctx_.clock.now_seconds());
      if (!s && s.is_conflict()) {
        // A cancel won the race, or another node moved it on: the next poll says which.
        b.drained = false;
        b.claim_after = now + ctx_.options.poll_interval;
        ++it;
        continue;
      }
      if (!s) {
        ctx_.failures.failed(work_name(b.id, "finalizing"), s);
        ++it;
        continue;
      }
      ctx_.failures.succeeded(work_name(b.id, "finalizing"));
    }
    sample(b);  // the counts it ends with
    jobs_.push({BatchJob::kFinalize, b.id, to});
    it = batches_.erase(it);
  }
}

void RequestScheduler::shutdown() {
  stopping_ = true;
  for (auto& [id, b] : batches_) b.stop_requests();
  // Bounded so that a stop stays quick (a drain has 10 s in all): a request that reports later runs
  // again on the next start, since nothing of it was stored.
  const auto deadline = ctx_.clock.steady_now() + kShutdownWait;
  while (in_flight_ > 0 && ctx_.clock.steady_now() < deadline) {
    for (SchedulerEvent& e : inbox_->drain_until(
             ctx_.clock, std::min(deadline, ctx_.clock.steady_now() + std::chrono::milliseconds(100)))) {
      if (e.kind == SchedulerEvent::kDone) on_done(e);
    }
  }
  flush(true);
  batches_.clear();
  if (Status s = ctx_.store.release_leases(ctx_.options.node_id); !s)
    log_batch_error("-", "release leases", s);
}

}  // namespace openbatch::batch
