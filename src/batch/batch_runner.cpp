#include "batch/batch_runner.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "batch/batch_finalizer.h"
#include "batch/batch_prompt_tokens.h"
#include "batch/input_validator.h"
#include "batch/result_lines.h"
#include "common/backoff.h"
#include "openai/chat_completion.h"
#include "openai/endpoints.h"

namespace openbatch::batch {

using store::BatchStatus;
using SteadyClock = std::chrono::steady_clock;

namespace {

void log_error(const std::string& batch_id, const std::string& what, const Status& s) {
  std::fprintf(stderr, "openbatch: batch %s: %s: %s\n", batch_id.c_str(), what.c_str(), s.message().c_str());
}

// The name of a piece of retried work in the FailureLog: "batch ID: WHAT" ("-" for work of no batch).
std::string work_name(const std::string& batch_id, const std::string& what) {
  return "batch " + batch_id + ": " + what;
}

// How long a store write that failed (a full disk) waits before the next try: doubling from the first
// wait to kMaxStoreRetryWait while it keeps failing.
constexpr std::chrono::milliseconds kMaxStoreRetryWait{5000};
// A validation or finalization that failed waits retry_interval, then twice that... up to this many
// times it (a minute by default).
constexpr int kMaxJobRetryFactor = 12;

// Engine results that say nothing about the request itself: it was stopped (by us) or the engine could
// not take it (shutting down, an upstream busy after its retries). Such a request runs again rather than
// landing in the error file.
bool is_retryable(const Status& s) { return s.is_cancelled() || s.is_unavailable(); }

// Progress samples (Store::sample_progress) are taken when a batch starts running, after stored results
// at most every max(kMinSampleSpacingMs, the time it has run / kSampleSpacingDivisor), and when it
// ends: fine-grained for a batch of seconds, about 1,700 samples for one that runs 24 hours.
constexpr int64_t kMinSampleSpacingMs = 250;
constexpr int64_t kSampleSpacingDivisor = 200;

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

struct BatchRunner::Event {
  enum Kind { kActivate, kCancel, kDone } kind = kActivate;
  std::string batch_id;
  int64_t line = 0;
  std::optional<Result<nlohmann::ordered_json>> result;  // kDone
};

struct BatchRunner::EventQueue {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Event> events;
  bool stop = false;

  void push(Event e) {
    {
      std::lock_guard lock(mu);
      events.push_back(std::move(e));
    }
    cv.notify_one();
  }
};

struct BatchRunner::ActiveBatch {
  enum class Mode { kRunning, kCancelling, kExpiring };
  struct InFlight {
    store::RequestRecord request;
    std::string request_id;
    std::vector<std::shared_ptr<engine::GenerationHandle>> handles;
  };

  std::string id;
  std::string endpoint;  // what every request of the batch calls
  std::string input_file_id;
  int64_t expires_at = 0;
  Mode mode = Mode::kRunning;
  std::unique_ptr<blobs::BlobReader> input;
  bool input_failed = false;                        // the input file cannot be read (not for a moment)
  std::deque<store::RequestRecord> pending;         // claimed, not yet handed to the engine
  std::unordered_map<int64_t, InFlight> in_flight;  // by line
  size_t unflushed = 0;                             // results waiting in the group-commit buffer
  SteadyClock::time_point retry_after{};            // after the engine turned requests away
  SteadyClock::time_point claim_after{};            // after a claim found nothing to take
  bool drained = false;                             // the last claim found nothing (and none since)
  SteadyClock::time_point check_after{};            // when to ask the store whether the batch is done
  bool released = false;                            // stopped: its leases were given back
  int64_t started_ms = 0;                           // when this run of the batch began (clock)
  int64_t sampled_ms = 0;                           // the last progress sample
  bool unsampled = false;                           // results stored since the last sample
  // The waits after claims that failed (a full disk), growing while they keep failing.
  Backoff claim_backoff{std::chrono::milliseconds(100), kMaxStoreRetryWait};

  void stop_requests() {
    pending.clear();
    for (auto& [line, f] : in_flight) {
      for (auto& h : f.handles) h->cancel();
    }
  }
};

// Owns the state of the running batches; touched by the scheduler thread only.
class BatchRunner::Scheduler {
 public:
  explicit Scheduler(BatchRunner& runner) : r_(runner) {}

  void run() {
    EventQueue& q = *r_.events_;
    for (;;) {
      std::deque<Event> events;
      bool stop;
      {
        std::unique_lock lock(q.mu);
        q.cv.wait_until(lock, next_wakeup(), [&] { return q.stop || !q.events.empty(); });
        events.swap(q.events);
        stop = q.stop;
      }
      for (Event& e : events) handle(e);
      if (stop) {
        shutdown();
        return;
      }
      const auto now = SteadyClock::now();
      if (now >= next_renew_) {
        renew();
        next_renew_ = now + r_.options_.lease_duration / 3;
      }
      if (now >= next_poll_) {
        poll();
        next_poll_ = now + r_.options_.poll_interval;
      }
      check_expiry();
      dispatch();
      flush(false);
      sample_due();
      end_finished_batches();
    }
  }

 private:
  using Mode = ActiveBatch::Mode;

  SteadyClock::time_point next_wakeup() const {
    auto t = SteadyClock::now() + std::chrono::milliseconds(250);  // the wall clock is looked at this often
    t = std::min({t, next_poll_, next_renew_});
    if (!buffer_.empty())
      t = std::min(t, std::max(first_buffered_ + r_.options_.flush_interval, flush_retry_after_));
    return t;
  }

  void handle(Event& e) {
    switch (e.kind) {
      case Event::kActivate:
        activate(e.batch_id);
        break;
      case Event::kCancel: {
        auto it = batches_.find(e.batch_id);
        if (it != batches_.end()) {
          cancel(it->second);
        } else {
          activate(e.batch_id);  // resumed but not yet active, or cancelled while validating
        }
        break;
      }
      case Event::kDone:
        on_done(e);
        break;
    }
  }

  void cancel(ActiveBatch& b) {
    if (b.mode != Mode::kRunning) return;
    b.mode = Mode::kCancelling;
    b.stop_requests();
  }

  void activate(const std::string& id) {
    if (batches_.count(id)) return;
    auto rec = r_.store_.get_batch_any_owner(id);
    if (!rec) return log_error(id, "activate", rec.status());
    activate(*rec);
  }

  void activate(const store::BatchRecord& rec) {
    if (batches_.count(rec.id)) return;
    if (rec.status == BatchStatus::kFinalizing) {
      r_.push_job({Job::kFinalize, rec.id, BatchStatus::kCompleted});
      return;
    }
    if (rec.status != BatchStatus::kInProgress && rec.status != BatchStatus::kCancelling) return;
    ActiveBatch b;
    b.id = rec.id;
    b.endpoint = rec.endpoint;
    b.input_file_id = rec.input_file_id;
    b.expires_at = rec.expires_at;
    if (rec.status == BatchStatus::kCancelling) {
      b.mode = Mode::kCancelling;
    } else if (r_.clock_.now_seconds() >= rec.expires_at) {
      b.mode = Mode::kExpiring;
    }
    b.started_ms = r_.clock_.now_millis();
    auto [it, inserted] = batches_.emplace(rec.id, std::move(b));
    if (it->second.mode == Mode::kRunning) sample(it->second);
  }

  // What the store holds now: batches created or left by other nodes, cancels asked of them, and
  // batches that ended elsewhere.
  void poll() {
    auto unfinished = r_.store_.batches_with_status({BatchStatus::kValidating, BatchStatus::kInProgress,
                                                     BatchStatus::kCancelling, BatchStatus::kFinalizing});
    if (!unfinished) return r_.failures_.failed(work_name("-", "poll the store"), unfinished.status());
    r_.failures_.succeeded(work_name("-", "poll the store"));
    std::set<std::string> live;
    for (const store::BatchRecord& rec : *unfinished) {
      live.insert(rec.id);
      if (rec.status == BatchStatus::kValidating) {
        r_.push_job({Job::kValidate, rec.id});
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

  void renew() {
    if (Status s = r_.store_.renew_leases(r_.options_.node_id, r_.lease_until_ms()); !s) {
      return r_.failures_.failed(work_name("-", "renew leases"), s);
    }
    r_.failures_.succeeded(work_name("-", "renew leases"));
  }

  void sample(ActiveBatch& b) {
    const int64_t now = r_.clock_.now_millis();
    if (Status s = r_.store_.sample_progress(b.id, now); !s) {
      return r_.failures_.failed(work_name(b.id, "progress sample"), s);
    }
    r_.failures_.succeeded(work_name(b.id, "progress sample"));
    b.sampled_ms = now;
    b.unsampled = false;
  }

  void sample_due() {
    const int64_t now = r_.clock_.now_millis();
    for (auto& [id, b] : batches_) {
      const int64_t spacing = std::max(kMinSampleSpacingMs, (now - b.started_ms) / kSampleSpacingDivisor);
      if (b.unsampled && now - b.sampled_ms >= spacing) sample(b);
    }
  }

  void on_done(Event& e) {
    --in_flight_;
    auto bit = batches_.find(e.batch_id);
    if (bit == batches_.end()) return;
    ActiveBatch& b = bit->second;
    auto fit = b.in_flight.find(e.line);
    if (fit == b.in_flight.end()) return;
    ActiveBatch::InFlight f = std::move(fit->second);
    b.in_flight.erase(fit);

    const Result<nlohmann::ordered_json>& result = *e.result;
    if (result.is_ok()) {
      add_result(b, f.request, store::Outcome::kOutput,
                 output_line(f.request.custom_id, f.request_id, *result), usage_of(*result));
      return;
    }
    // A request stopped by a cancel, an expiry or a shutdown is settled by the finalizer or runs again.
    if (b.mode != Mode::kRunning || stopping_) return;
    if (is_retryable(result.status())) {
      b.pending.push_back(f.request);  // still under this node's lease
      b.retry_after = SteadyClock::now() + std::chrono::seconds(1);
      return;
    }
    add_result(b, f.request, store::Outcome::kError,
               failed_line(f.request.custom_id, f.request_id, result.status()), {});
  }

  void add_result(ActiveBatch& b, const store::RequestRecord& req, store::Outcome outcome, std::string line,
                  store::Usage usage) {
    if (buffer_.empty()) first_buffered_ = SteadyClock::now();
    buffer_.push_back({b.id, req.line, outcome, std::move(line), usage, req.lease_token});
    ++b.unflushed;
  }

  void check_expiry() {
    const int64_t now = r_.clock_.now_seconds();
    for (auto& [id, b] : batches_) {
      if (b.mode == Mode::kRunning && now >= b.expires_at) {
        b.mode = Mode::kExpiring;
        b.stop_requests();
      }
    }
  }

  // The next batch after the last one served that has a request to run or to claim (round-robin), or
  // null.
  ActiveBatch* next_runnable(SteadyClock::time_point now) {
    if (batches_.empty()) return nullptr;
    auto start = batches_.upper_bound(last_served_);
    auto it = start;
    for (size_t i = 0; i < batches_.size(); ++i, ++it) {
      if (it == batches_.end()) it = batches_.begin();
      ActiveBatch& b = it->second;
      if (b.mode == Mode::kRunning && b.retry_after <= now && (!b.pending.empty() || b.claim_after <= now)) {
        last_served_ = it->first;
        return &b;
      }
    }
    return nullptr;
  }

  // Takes requests of b from the store under this node's lease. False when there were none to take.
  bool claim(ActiveBatch& b) {
    const int64_t now_ms = r_.clock_.now_millis();
    // Enough for the engine's free places and some more, so that a claim is not a transaction a request.
    const int64_t n = std::max<int64_t>(16, r_.options_.max_in_flight);
    auto claimed = r_.store_.claim_requests(b.id, r_.options_.node_id, n, now_ms, r_.lease_until_ms());
    if (!claimed) {
      r_.failures_.failed(work_name(b.id, "claim requests"), claimed.status());
      b.claim_after = SteadyClock::now() + std::max<std::chrono::milliseconds>(r_.options_.poll_interval,
                                                                               b.claim_backoff.failed());
      return false;
    }
    r_.failures_.succeeded(work_name(b.id, "claim requests"));
    b.claim_backoff.succeeded();
    if (claimed->empty()) {
      b.claim_after = SteadyClock::now() + r_.options_.poll_interval;
      b.drained = true;
      return false;
    }
    b.drained = false;
    for (store::RequestRecord& r : *claimed) b.pending.push_back(std::move(r));
    return true;
  }

  void dispatch() {
    const auto now = SteadyClock::now();
    while (in_flight_ < r_.options_.max_in_flight) {
      ActiveBatch* b = next_runnable(now);
      if (b == nullptr) return;
      if (b->pending.empty() && !claim(*b)) continue;
      store::RequestRecord req = std::move(b->pending.front());
      b->pending.pop_front();
      dispatch_one(*b, std::move(req));
    }
  }

  void dispatch_one(ActiveBatch& b, store::RequestRecord req) {
    const std::string request_id = openai::new_id("req_");
    auto fail = [&](const Status& s) {
      add_result(b, req, store::Outcome::kError, failed_line(req.custom_id, request_id, s), {});
    };
    if (!b.input && !b.input_failed) {
      auto input = r_.blobs_.open(b.input_file_id);
      if (input) {
        b.input = std::move(input).value();
      } else if (input.status().is_unavailable()) {
        // The store of the bytes is away for a moment: the request runs later, still leased here.
        b.pending.push_back(std::move(req));
        b.retry_after = SteadyClock::now() + std::chrono::seconds(1);
        return;
      } else {
        log_error(b.id, "open input file", input.status());  // each request then fails on its own
        b.input_failed = true;
      }
    }
    if (!b.input) return fail(Status::internal("The batch's input file could not be read."));
    std::string bytes(static_cast<size_t>(req.length), '\0');
    auto n = b.input->read_at(req.offset, bytes.data(), bytes.size());
    if (!n && n.status().is_unavailable()) {
      // The store of the bytes is away for a moment: the request runs later, still leased here.
      b.pending.push_back(std::move(req));
      b.retry_after = SteadyClock::now() + std::chrono::seconds(1);
      return;
    }
    if (!n || *n != bytes.size()) return fail(Status::internal("The batch's input file could not be read."));
    nlohmann::json line = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
    const nlohmann::ordered_json ordered = nlohmann::ordered_json::parse(bytes, nullptr, false);
    if (!line.is_object() || !line.contains("body")) {
      return fail(Status::internal("The batch's input line could not be read."));
    }
    const int64_t line_no = req.line;
    ActiveBatch::InFlight& f = b.in_flight[line_no];
    f.request = req;
    f.request_id = request_id;
    ++in_flight_;
    // The callback only queues an event: it runs on the engine's thread, maybe before this returns.
    auto handles = openai::run_endpoint_request(
        r_.engine_, b.endpoint, line["body"], engine::Priority::kBatch,
        [events = r_.events_, id = b.id, line_no](Result<nlohmann::ordered_json> result) {
          events->push({Event::kDone, id, line_no, std::move(result)});
        },
        ordered.is_object() && ordered.contains("body") ? &ordered["body"] : nullptr);
    if (!handles) {
      b.in_flight.erase(line_no);
      --in_flight_;
      if (is_retryable(handles.status())) {
        b.pending.push_back(std::move(req));
        b.retry_after = SteadyClock::now() + std::chrono::seconds(1);
        return;
      }
      return fail(handles.status());
    }
    f.handles = std::move(handles).value();
  }

  // Stores the buffered results when there are enough of them or the oldest has waited long enough.
  void flush(bool force) {
    if (buffer_.empty()) return;
    const auto now = SteadyClock::now();
    if (!force && (now < flush_retry_after_ || (buffer_.size() < r_.options_.flush_max_results &&
                                                now - first_buffered_ < r_.options_.flush_interval))) {
      return;
    }
    if (Status s = r_.store_.record_results(buffer_); !s) {
      r_.failures_.failed(work_name("-", "store results"), s);
      flush_retry_after_ = now + flush_backoff_.failed();
      return;
    }
    r_.failures_.succeeded(work_name("-", "store results"));
    flush_backoff_.succeeded();
    for (const auto& r : buffer_) {
      auto it = batches_.find(r.batch_id);
      if (it == batches_.end()) continue;
      --it->second.unflushed;
      it->second.unsampled = true;
    }
    buffer_.clear();
  }

  // A batch with nothing left here ends once the store says so: a running one when every request has
  // a result (then this node moves it to finalizing, or a cancel won), a stopped one (cancel, expiry)
  // when no node holds a live lease on its requests any more.
  void end_finished_batches() {
    const auto now = SteadyClock::now();
    for (auto it = batches_.begin(); it != batches_.end();) {
      ActiveBatch& b = it->second;
      const bool idle = b.pending.empty() && b.in_flight.empty() && b.unflushed == 0;
      if (!idle || (b.mode == Mode::kRunning && !b.drained) || b.check_after > now) {
        ++it;
        continue;
      }
      b.check_after = now + r_.options_.poll_interval;
      if (b.mode != Mode::kRunning && !b.released) {
        if (Status s = r_.store_.release_batch(b.id, r_.options_.node_id); !s) {
          r_.failures_.failed(work_name(b.id, "release leases"), s);
          ++it;
          continue;
        }
        r_.failures_.succeeded(work_name(b.id, "release leases"));
        b.released = true;
      }
      auto tally = r_.store_.request_tally(b.id, r_.clock_.now_millis());
      if (!tally) {
        r_.failures_.failed(work_name(b.id, "count requests"), tally.status());
        ++it;
        continue;
      }
      r_.failures_.succeeded(work_name(b.id, "count requests"));
      BatchStatus to = BatchStatus::kCompleted;
      if (b.mode == Mode::kCancelling) to = BatchStatus::kCancelled;
      if (b.mode == Mode::kExpiring) to = BatchStatus::kExpired;
      if (to == BatchStatus::kCompleted ? tally->unfinished > 0 : tally->leased > 0) {
        ++it;  // other nodes are running requests of it (or hold leases that will lapse)
        continue;
      }
      if (to == BatchStatus::kCompleted) {
        Status s = r_.store_.transition(b.id, {BatchStatus::kInProgress}, BatchStatus::kFinalizing,
                                        r_.clock_.now_seconds());
        if (!s && s.is_conflict()) {
          // A cancel won the race, or another node moved it on: the next poll says which.
          b.drained = false;
          b.claim_after = now + r_.options_.poll_interval;
          ++it;
          continue;
        }
        if (!s) {
          r_.failures_.failed(work_name(b.id, "finalizing"), s);
          ++it;
          continue;
        }
        r_.failures_.succeeded(work_name(b.id, "finalizing"));
      }
      sample(b);  // the counts it ends with
      r_.push_job({Job::kFinalize, b.id, to});
      it = batches_.erase(it);
    }
  }

  // Stops every request, waits (bounded) for the engine to report them, stores what finished and gives
  // the leases back, so that other nodes (or the next start) take the rest at once.
  void shutdown() {
    stopping_ = true;
    for (auto& [id, b] : batches_) b.stop_requests();
    EventQueue& q = *r_.events_;
    // Bounded so that a stop stays quick (a drain has 10 s in all): a request that reports later runs
    // again on the next start, since nothing of it was stored.
    const auto deadline = SteadyClock::now() + std::chrono::seconds(3);
    while (in_flight_ > 0 && SteadyClock::now() < deadline) {
      std::deque<Event> events;
      {
        std::unique_lock lock(q.mu);
        q.cv.wait_until(lock, std::min(deadline, SteadyClock::now() + std::chrono::milliseconds(100)),
                        [&] { return !q.events.empty(); });
        events.swap(q.events);
      }
      for (Event& e : events) {
        if (e.kind == Event::kDone) on_done(e);
      }
    }
    flush(true);
    batches_.clear();
    if (Status s = r_.store_.release_leases(r_.options_.node_id); !s) log_error("-", "release leases", s);
  }

  BatchRunner& r_;
  std::map<std::string, ActiveBatch> batches_;
  std::string last_served_;
  int in_flight_ = 0;
  bool stopping_ = false;
  std::vector<store::RequestResult> buffer_;
  SteadyClock::time_point first_buffered_{};
  // After a failed flush (a full disk): the next is tried no sooner than this.
  Backoff flush_backoff_{
      std::max<std::chrono::milliseconds>(r_.options_.flush_interval, std::chrono::milliseconds(10)),
      kMaxStoreRetryWait};
  SteadyClock::time_point flush_retry_after_{};
  SteadyClock::time_point next_poll_{};
  SteadyClock::time_point next_renew_{};
};

BatchRunner::BatchRunner(store::Store& store, blobs::BlobStore& blobs, engine::Engine& engine,
                         const Clock& clock, RunnerOptions options)
    : store_(store), blobs_(blobs), engine_(engine), clock_(clock), options_(std::move(options)) {}

BatchRunner::~BatchRunner() { stop(); }

void BatchRunner::start() {
  std::lock_guard lock(run_mu_);
  if (running_) return;
  events_ = std::make_shared<EventQueue>();
  {
    std::lock_guard jobs_lock(jobs_mu_);
    jobs_.clear();
    queued_jobs_.clear();
    jobs_stop_ = false;
  }
  scheduler_ = std::make_unique<Scheduler>(*this);

  // Resume what a previous run left unfinished.
  if (auto v = store_.batches_with_status({BatchStatus::kValidating}); v) {
    for (const auto& b : *v) push_job({Job::kValidate, b.id});
  }
  if (auto v = store_.batches_with_status(
          {BatchStatus::kInProgress, BatchStatus::kCancelling, BatchStatus::kFinalizing});
      v) {
    for (const auto& b : *v) events_->push({Event::kActivate, b.id, 0, std::nullopt});
  }

  scheduler_thread_ = std::thread([this] { scheduler_->run(); });
  job_thread_ = std::thread([this] { job_loop(); });
  running_ = true;
}

void BatchRunner::stop() {
  std::lock_guard lock(run_mu_);
  if (!running_) return;
  running_ = false;
  {
    std::lock_guard events_lock(events_->mu);
    events_->stop = true;
  }
  events_->cv.notify_all();
  {
    std::lock_guard jobs_lock(jobs_mu_);
    jobs_stop_ = true;
  }
  jobs_cv_.notify_all();
  scheduler_thread_.join();
  job_thread_.join();
  scheduler_.reset();
}

void BatchRunner::submit(const std::string& batch_id) {
  std::lock_guard lock(run_mu_);
  if (running_) push_job({Job::kValidate, batch_id});
}

void BatchRunner::cancel(const std::string& batch_id) {
  std::lock_guard lock(run_mu_);
  if (running_) events_->push({Event::kCancel, batch_id, 0, std::nullopt});
}

void BatchRunner::push_job(Job job) {
  {
    std::lock_guard lock(jobs_mu_);
    if (!queued_jobs_.insert({job.kind, job.batch_id}).second) return;
    jobs_.push_back(std::move(job));
  }
  jobs_cv_.notify_one();
}

int64_t BatchRunner::lease_until_ms() const {
  return clock_.now_millis() + static_cast<int64_t>(options_.lease_duration.count());
}

void BatchRunner::job_loop() {
  Backoff job_backoff(options_.retry_interval, options_.retry_interval * kMaxJobRetryFactor);
  for (;;) {
    Job job;
    {
      std::unique_lock lock(jobs_mu_);
      if (!jobs_cv_.wait_for(lock, std::chrono::seconds(60), [&] { return jobs_stop_ || !jobs_.empty(); })) {
        lock.unlock();
        remove_expired_files();
        continue;
      }
      if (jobs_stop_) return;  // what is left is picked up again by the next start()
      job = std::move(jobs_.front());
      jobs_.pop_front();
      queued_jobs_.erase({job.kind, job.batch_id});
    }
    // A job that the store could not take (a full disk, a locked database) is tried again later; the
    // batch stays as it was meanwhile, as the store's atomic operations guarantee.
    // Failures back off (doubling from retry_interval) and are logged when they start, change and end.
    Status s = job.kind == Job::kValidate ? validate(job.batch_id) : finalize(job);
    const std::string name = work_name(job.batch_id, job.kind == Job::kValidate ? "validate" : "finalize");
    if (!s) {
      failures_.failed(name, s);
      std::unique_lock lock(jobs_mu_);
      if (jobs_cv_.wait_for(lock, job_backoff.failed(), [&] { return jobs_stop_; })) return;
      if (queued_jobs_.insert({job.kind, job.batch_id}).second) jobs_.push_back(std::move(job));
    } else {
      failures_.succeeded(name);
      job_backoff.succeeded();
    }
  }
}

void BatchRunner::remove_expired_files() {
  auto files = store_.expired_files(clock_.now_seconds(), 100);
  if (!files) return log_error("-", "expired files", files.status());
  for (const auto& f : *files) {
    if (store_.delete_file(f.owner, f.id)) blobs_.remove(f.id);
  }
}

Status BatchRunner::finalize(const Job& job) {
  auto leased = store_.lease_batch(job.batch_id, options_.node_id, clock_.now_millis(), lease_until_ms());
  if (!leased) return leased.status().is_not_found() ? Status::ok() : leased.status();
  if (!*leased) return Status::ok();  // another node finalizes it; if it dies, a poll brings it back
  if (job.final_status != BatchStatus::kCompleted) {
    auto tally = store_.request_tally(job.batch_id, clock_.now_millis());
    if (!tally) return tally.status();
    if (tally->leased > 0) {
      // Another node still runs requests of it: they stop at its next poll, or their leases lapse.
      return Status::unavailable("requests of the batch are still leased by other nodes");
    }
  }
  return finalize_batch(store_, blobs_, clock_, job.batch_id, job.final_status);
}

Status BatchRunner::validate(const std::string& batch_id) {
  auto rec = store_.get_batch_any_owner(batch_id);
  if (!rec) return rec.status().is_not_found() ? Status::ok() : rec.status();
  if (rec->status == BatchStatus::kValidating) {
    auto leased = store_.lease_batch(batch_id, options_.node_id, clock_.now_millis(), lease_until_ms());
    if (!leased) return leased.status();
    if (!*leased) return Status::ok();  // another node validates it
  }
  auto activate = [&] {
    events_->push({Event::kActivate, batch_id, 0, std::nullopt});
    return Status::ok();
  };
  if (rec->status == BatchStatus::kCancelling) return activate();
  if (rec->status != BatchStatus::kValidating) return Status::ok();

  auto fail = [&](std::vector<store::BatchError> errors) {
    Status s = store_.fail_batch(batch_id, errors, clock_.now_seconds());
    if (!s && s.is_conflict()) return activate();  // cancelled meanwhile
    return s;
  };
  auto file_error = [&](std::string message) {
    return fail({{"invalid_request", std::move(message), "file_id", std::nullopt}});
  };

  auto file = store_.get_file(rec->owner, rec->input_file_id);
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
  auto input = blobs_.open(file->id);
  if (!input && input.status().is_unavailable()) return input.status();  // tried again later
  if (!input) return file_error("The input file '" + file->id + "' could not be read.");

  ValidationLimits limits;
  limits.endpoint = rec->endpoint;
  const engine::ModelInfo& model = engine_.model_info();
  limits.models.push_back(model.id);
  limits.models.insert(limits.models.end(), model.aliases.begin(), model.aliases.end());
  limits.max_requests = options_.limits.max_batch_requests;
  limits.max_bytes = options_.limits.max_batch_input_bytes;
  ValidatedInput v = validate_input(**input, limits);
  bool started = false;
  Status s;
  if (!v.errors.empty()) {
    s = fail(std::move(v.errors));
  } else {
    store::TokenQuota quota;
    quota.max_enqueued_tokens = options_.limits.max_enqueued_tokens;
    if (quota.max_enqueued_tokens > 0) {
      auto tokens = count_batch_prompt_tokens(engine_, rec->endpoint, **input, v.requests);
      if (!tokens) return tokens.status();  // tried again later
      quota.prompt_tokens = *tokens;
    }
    s = store_.start_batch(batch_id, v.model, v.requests, clock_.now_seconds(), quota);
    started = s.is_ok() || s.is_conflict();
    if (s.is_rate_limited()) s = fail({enqueued_token_limit_error(v.model, quota.max_enqueued_tokens)});
  }
  if (s || s.is_conflict()) {
    // Done: the next job of the batch (its finalization) may go to any node at once.
    if (Status r = store_.release_batch(batch_id, options_.node_id); !r) log_error(batch_id, "release", r);
    return started ? activate() : s;
  }
  return s;
}

}  // namespace openbatch::batch
