#include "engine/upstream/upstream_engine.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "common/json_depth.h"
#include "engine/upstream/chat_body.h"
#include "engine/upstream/chat_stream.h"
#include "engine/upstream/completions_body.h"
#include "engine/upstream/upstream_http.h"

namespace openbatch::engine::upstream {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Job {
  uint64_t order = 0;  // submission order: queues and retries keep it
  Priority priority = Priority::kInteractive;
  const char* path = "/chat/completions";  // under the upstream's base URL
  std::string body;                        // serialised
  // Called once with the 2xx answer's JSON (not yet checked) or the Status that ended the job.
  std::function<void(Result<json>)> finish;
  ChatStreamReader::OnDelta stream_delta;  // set: the answer is streamed, its text goes here as it comes
  std::function<void()> on_started;        // GenerationCallbacks::on_started: called on the first send
  int attempts = 0;
  size_t failed_on = SIZE_MAX;  // the upstream its last attempt failed on (another takes the next one)
  std::atomic<bool> cancelled{false};
  enum class State { kQueued, kDelayed, kRunning, kDone } state = State::kQueued;  // guarded by Core::mu
  std::multimap<Clock::time_point, std::shared_ptr<Job>>::iterator delayed_at;     // when kDelayed
};

// Server answers that say the server, not the request, is at fault right now.
bool is_transient(long http_status) {
  return http_status == 408 || http_status == 429 || http_status == 500 || http_status == 502 ||
         http_status == 503 || http_status == 504;
}

// Whether an upstream takes work now. One that failed (busy, away) pauses its workers, for longer
// each time it fails again, so that a dead server does not take in the retries meant for live ones.
struct UpstreamHealth {
  Clock::time_point resume_at{};
  std::chrono::milliseconds pause{0};
};

// The queues, shared with the handles (which may outlive the engine).
struct Core {
  std::mutex mu;
  std::condition_variable cv;
  std::map<uint64_t, std::shared_ptr<Job>> queued[2];  // by priority, then submission order
  std::multimap<Clock::time_point, std::shared_ptr<Job>> delayed;
  std::vector<UpstreamHealth> health;  // by upstream
  uint64_t next_order = 0;
  std::atomic<bool> stopping{false};  // written under mu; read without it by running calls

  // REQUIRES: mu held. The next job for upstream's workers, moving due retries back into the queues
  // first. A job that just failed on this upstream is left to the others, when there are others.
  std::shared_ptr<Job> take_ready(Clock::time_point now, size_t upstream) {
    while (!delayed.empty() && delayed.begin()->first <= now) {
      auto job = delayed.begin()->second;
      delayed.erase(delayed.begin());
      job->state = Job::State::kQueued;
      queued[static_cast<int>(job->priority)].emplace(job->order, job);
    }
    const bool others = health.size() > 1;
    for (auto& queue : queued) {
      for (auto it = queue.begin(); it != queue.end(); ++it) {
        if (others && it->second->failed_on == upstream) continue;
        auto job = it->second;
        queue.erase(it);
        job->state = Job::State::kRunning;
        return job;
      }
    }
    return nullptr;
  }

  // Answers a waiting job at once; one already sent stops at its next progress check.
  void cancel(const std::shared_ptr<Job>& job) {
    job->cancelled = true;
    {
      std::lock_guard lock(mu);
      if (job->state == Job::State::kQueued) {
        queued[static_cast<int>(job->priority)].erase(job->order);
      } else if (job->state == Job::State::kDelayed) {
        delayed.erase(job->delayed_at);
      } else {
        return;
      }
      job->state = Job::State::kDone;
    }
    job->finish(request_cancelled());
  }
};

class Handle final : public GenerationHandle {
 public:
  Handle(std::weak_ptr<Core> core, std::shared_ptr<Job> job) : core_(std::move(core)), job_(std::move(job)) {}
  void cancel() override {
    if (auto core = core_.lock()) core->cancel(job_);
  }

 private:
  std::weak_ptr<Core> core_;
  std::shared_ptr<Job> job_;
};

std::string trim_slashes(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

class UpstreamEngine final : public Engine {
 public:
  UpstreamEngine(UpstreamOptions options, ModelInfo info)
      : options_(std::move(options)), info_(std::move(info)) {
    core_->health.resize(options_.base_urls.size());
    for (size_t u = 0; u < options_.base_urls.size(); ++u) {
      for (int i = 0; i < options_.parallel; ++i) workers_.emplace_back([this, u] { work(u); });
    }
  }
  ~UpstreamEngine() override { shutdown(); }

  const ModelInfo& model_info() const override { return info_; }

  std::shared_ptr<GenerationHandle> submit(GenerationRequest request,
                                           GenerationCallbacks callbacks) override {
    if (request.raw_prompt) return submit_completion(std::move(request), std::move(callbacks));
    auto job = std::make_shared<Job>();
    job->priority = request.priority;
    json body = chat_body(request, options_.model);
    const bool stream = static_cast<bool>(callbacks.on_delta);
    if (stream) {
      // A caller that reads the text as it comes gets it as the upstream sends it.
      body["stream"] = true;
      body["stream_options"] = {{"include_usage", true}};
      job->stream_delta = callbacks.on_delta;
    }
    job->body = body.dump(-1, ' ', false, json::error_handler_t::replace);
    job->on_started = std::move(callbacks.on_started);
    job->finish = [callbacks = std::move(callbacks)](Result<json> answer) {
      Result<Generation> g = answer ? parse_chat_completion(*answer) : Result<Generation>(answer.status());
      callbacks.on_done(std::move(g));
    };
    enqueue(job);
    return std::make_shared<Handle>(core_, job);
  }

  void embed(EmbeddingRequest request, EmbeddingsDone done) override {
    auto job = std::make_shared<Job>();
    job->priority = request.priority;
    job->path = "/embeddings";
    job->body = embeddings_body(request, options_.model).dump(-1, ' ', false, json::error_handler_t::replace);
    const size_t inputs = request.inputs.size();
    job->finish = [done = std::move(done), inputs](Result<json> answer) {
      done(answer ? parse_embeddings(*answer, inputs) : Result<Embeddings>(answer.status()));
    };
    enqueue(job);
  }

  // An upstream server counts prompt tokens only when it runs the request: until then, an estimate.
  Result<int> count_prompt_tokens(const GenerationRequest& request) override {
    return estimate_prompt_tokens(request);
  }

  void shutdown() override {
    std::vector<std::shared_ptr<Job>> waiting;
    {
      std::lock_guard lock(core_->mu);
      if (core_->stopping && workers_.empty()) return;
      core_->stopping = true;
      for (auto& queue : core_->queued) {
        for (auto& [order, job] : queue) waiting.push_back(job);
        queue.clear();
      }
      for (auto& [when, job] : core_->delayed) waiting.push_back(job);
      core_->delayed.clear();
      for (auto& job : waiting) job->state = Job::State::kDone;
    }
    core_->cv.notify_all();
    for (auto& job : waiting) job->finish(shutting_down());
    for (auto& worker : workers_) worker.join();
    workers_.clear();
  }

 private:
  // A raw prompt goes to the upstream's /completions, asked whole: a caller that streams gets the
  // text in one piece when it is there.
  std::shared_ptr<GenerationHandle> submit_completion(GenerationRequest request,
                                                      GenerationCallbacks callbacks) {
    auto job = std::make_shared<Job>();
    job->priority = request.priority;
    job->path = "/completions";
    job->body =
        completions_body(request, options_.model).dump(-1, ' ', false, json::error_handler_t::replace);
    job->on_started = std::move(callbacks.on_started);
    job->finish = [callbacks = std::move(callbacks)](Result<json> answer) {
      Result<Generation> g = answer ? parse_text_completion(*answer) : Result<Generation>(answer.status());
      if (g && callbacks.on_delta && (!g->text.empty() || !g->logprobs.empty())) {
        callbacks.on_delta({g->text, {}, {}, g->logprobs});
      }
      callbacks.on_done(std::move(g));
    };
    enqueue(job);
    return std::make_shared<Handle>(core_, job);
  }

  // Queues job, or answers it at once when the engine has stopped.
  void enqueue(const std::shared_ptr<Job>& job) {
    {
      std::lock_guard lock(core_->mu);
      if (!core_->stopping) {
        job->order = core_->next_order++;
        core_->queued[static_cast<int>(job->priority)].emplace(job->order, job);
        core_->cv.notify_one();
        return;
      }
    }
    job->finish(shutting_down());
  }

  void work(size_t upstream) {
    UpstreamConnection connection;
    std::unique_lock lock(core_->mu);
    while (!core_->stopping) {
      const Clock::time_point resume_at = core_->health[upstream].resume_at;
      if (Clock::now() < resume_at) {
        core_->cv.wait_until(lock, resume_at);
        continue;
      }
      auto job = core_->take_ready(Clock::now(), upstream);
      if (!job) {
        if (core_->delayed.empty()) {
          core_->cv.wait(lock);
        } else {
          core_->cv.wait_until(lock, core_->delayed.begin()->first);
        }
        continue;
      }
      lock.unlock();
      run(job, connection, upstream);
      lock.lock();
    }
  }

  // Sends one attempt of job; answers it, or puts it back to wait for its next attempt.
  void run(const std::shared_ptr<Job>& shared_job, UpstreamConnection& connection, size_t upstream) {
    Job& job = *shared_job;
    const std::string url = options_.base_urls[upstream] + job.path;
    if (++job.attempts == 1 && job.on_started) job.on_started();
    const std::function<bool()> abort = [this, &job] {
      return job.cancelled.load() || core_->stopping.load();
    };
    std::optional<ChatStreamReader> stream;
    std::function<void(std::string_view)> on_chunk;
    if (job.stream_delta) {
      stream.emplace(job.stream_delta);
      on_chunk = [&stream](std::string_view bytes) { stream->feed(bytes); };
    }
    HttpReply reply = connection.call(url, job.body, options_.api_key, options_.timeout, abort, on_chunk);
    Result<json> outcome = Status::ok();
    bool transient = false;
    if (reply.aborted) {
      outcome = job.cancelled ? request_cancelled() : shutting_down();
    } else if (reply.status == 0) {
      transient = true;
      outcome = Status::unavailable(options_.base_urls[upstream] + ": " + reply.transport_error);
    } else if (reply.status < 200 || reply.status >= 300) {
      transient = is_transient(reply.status);
      outcome = upstream_error(reply.status, reply.body, options_.base_urls[upstream]);
    } else if (stream) {
      outcome = stream->completion();
    } else if (json_nesting_depth(reply.body) > kMaxJsonDepth) {
      outcome =
          Status::bad_gateway(options_.base_urls[upstream] + " answered JSON nested too deeply to read.");
    } else {
      outcome = json::parse(reply.body, nullptr, false);
    }
    if (stream && stream->delivered()) transient = false;  // text went out: trying again would repeat it
    note_health(upstream, transient && reply.status != 500, reply.retry_after);
    if (transient) job.failed_on = upstream;
    if (transient && job.attempts < options_.max_attempts && retry_later(shared_job, reply.retry_after))
      return;
    if (job.cancelled && !outcome) outcome = request_cancelled();
    if (transient && !outcome.status().is_internal()) {
      // Busy or away after every attempt: unavailable, which a batch runs again later.
      outcome = outcome.status().with_status_code(StatusCode::kUnavailable);
    }
    {
      std::lock_guard lock(core_->mu);
      job.state = Job::State::kDone;
    }
    job.finish(std::move(outcome));
  }

  // A failed call pauses the upstream (Retry-After, else twice its last pause); a good one resumes it.
  void note_health(size_t upstream, bool failed, std::optional<std::chrono::milliseconds> retry_after) {
    std::lock_guard lock(core_->mu);
    UpstreamHealth& h = core_->health[upstream];
    if (!failed) {
      h.pause = std::chrono::milliseconds(0);
      return;
    }
    const Clock::time_point now = Clock::now();
    if (now < h.resume_at) return;  // another call already paused it
    h.pause = h.pause.count() == 0 ? options_.first_backoff : std::min(2 * h.pause, options_.max_backoff);
    h.resume_at = now + std::min(retry_after.value_or(h.pause), options_.max_backoff);
  }

  // Queues job's next attempt after its back-off; false when it must be answered now instead.
  bool retry_later(const std::shared_ptr<Job>& job, std::optional<std::chrono::milliseconds> retry_after) {
    std::chrono::milliseconds wait = options_.first_backoff * (1 << std::min(job->attempts - 1, 16));
    if (retry_after) wait = *retry_after;
    wait = std::min(wait, options_.max_backoff);
    std::lock_guard lock(core_->mu);
    if (core_->stopping || job->cancelled) return false;
    job->state = Job::State::kDelayed;
    job->delayed_at = core_->delayed.emplace(Clock::now() + wait, job);
    core_->cv.notify_one();
    return true;
  }

  UpstreamOptions options_;
  ModelInfo info_;
  std::shared_ptr<Core> core_ = std::make_shared<Core>();
  std::vector<std::thread> workers_;
};

}  // namespace

Result<std::unique_ptr<Engine>> start_upstream_engine(UpstreamOptions options) {
  if (options.base_urls.empty()) return Status::invalid_request("no upstream server given");
  for (std::string& url : options.base_urls) {
    url = trim_slashes(url);
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
      return Status::invalid_request("upstream " + url + ": not an http:// or https:// URL");
    }
  }
  if (options.parallel < 1) return Status::invalid_request("upstream parallel must be at least 1");
  options.max_attempts = std::max(1, options.max_attempts);
  if (options.model.empty()) {
    // The model the server holds, as its /models lists it (llama-server and vLLM list one).
    const std::string url = options.base_urls[0] + "/models";
    HttpReply reply =
        UpstreamConnection().call(url, "", options.api_key, std::chrono::seconds(30), [] { return false; });
    if (reply.status == 0) return Status::unavailable("GET " + url + ": " + reply.transport_error);
    if (reply.status < 200 || reply.status >= 300) return upstream_error(reply.status, reply.body, url);
    json models = json::parse(reply.body, nullptr, false);
    if (!models.is_object() || !models["data"].is_array() || models["data"].empty() ||
        !models["data"][0]["id"].is_string()) {
      return Status::unavailable("GET " + url + ": no model listed (name one with --upstream-model)");
    }
    options.model = models["data"][0]["id"].get<std::string>();
  }
  ModelInfo info;
  info.id = options.model_ids.empty() ? options.model : options.model_ids[0];
  for (size_t i = 1; i < options.model_ids.size(); ++i) info.aliases.push_back(options.model_ids[i]);
  info.parallel = options.parallel * static_cast<int>(options.base_urls.size());
  info.created = SystemClock::instance().now_seconds();
  info.has_vision = true;  // the upstream model decides, and answers a 400 if it takes no images
  return std::unique_ptr<Engine>(new UpstreamEngine(std::move(options), std::move(info)));
}

}  // namespace openbatch::engine::upstream
