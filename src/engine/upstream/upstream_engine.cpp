#include "engine/upstream/upstream_engine.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "common/clock.h"
#include "common/json_depth.h"
#include "common/thread_group.h"
#include "engine/upstream/chat_body.h"
#include "engine/upstream/chat_stream.h"
#include "engine/upstream/completions_body.h"
#include "engine/upstream/replica_pool.h"
#include "engine/upstream/server_props.h"
#include "engine/upstream/upstream_http.h"

namespace openbatch::engine::upstream {

namespace {

using nlohmann::json;

constexpr std::chrono::seconds kProbeTimeout{5};

// Server answers that say the server, not the request, is at fault right now.
bool is_transient(long http_status) {
  return http_status == 408 || http_status == 429 || http_status == 500 || http_status == 502 ||
         http_status == 503 || http_status == 504;
}

// What an attempt's reply tells the pool about its server.
AttemptEnd attempt_end(const HttpReply& reply) {
  if (reply.aborted) return AttemptEnd::kAborted;
  if (reply.status == 0) {
    if (reply.timed_out) return AttemptEnd::kTimedOut;
    return reply.connect_failed ? AttemptEnd::kUnreachable : AttemptEnd::kFailed;
  }
  if (reply.status >= 200 && reply.status < 300) return AttemptEnd::kAnswered;
  if (reply.status == 429 || reply.status == 503) return AttemptEnd::kOverloaded;
  if (reply.status == 408 || reply.status == 504) return AttemptEnd::kTimedOut;
  if (reply.status == 500) return AttemptEnd::kServerError;
  return reply.status > 500 ? AttemptEnd::kFailed : AttemptEnd::kRefused;
}

class Handle final : public GenerationHandle {
 public:
  Handle(std::weak_ptr<ReplicaPool> pool, std::shared_ptr<Job> job)
      : pool_(std::move(pool)), job_(std::move(job)) {}
  // Answers a waiting job at once; one already sent stops at its next progress check.
  void cancel() override {
    job_->cancelled = true;
    if (auto pool = pool_.lock(); pool && pool->cancel(*job_)) job_->finish(request_cancelled());
  }

 private:
  std::weak_ptr<ReplicaPool> pool_;
  std::shared_ptr<Job> job_;
};

std::string trim_slashes(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

class UpstreamEngine final : public Engine {
 public:
  // slots: each upstream's slots as its /props said (0: unknown), for found limits.
  UpstreamEngine(UpstreamOptions options, ModelInfo info, const std::vector<int>& slots)
      : options_(std::move(options)), info_(std::move(info)) {
    PoolOptions p;
    p.model_id = info_.id;
    p.urls = options_.base_urls;
    p.routing = options_.routing;
    p.concurrency.fixed = options_.parallel;
    p.concurrency.max = options_.max_parallel;
    p.health.first_probe = options_.first_backoff;
    p.health.max_probe = options_.max_backoff;
    p.worker_idle = options_.worker_idle;
    // Called with the pool's lock held (no worker starts once the pool has stopped).
    pool_ = std::make_shared<ReplicaPool>(
        std::move(p), [this](size_t replica) { workers_.start([this, replica] { work(replica); }); });
    for (size_t r = 0; r < slots.size(); ++r) pool_->set_slots(r, slots[r]);
    info_.parallel = pool_->capacity();
    timer_ = std::thread([this] { pool_->run_timers(); });
    prober_ = std::thread([this] { probe(); });
  }
  ~UpstreamEngine() override { shutdown(); }

  const ModelInfo& model_info() const override { return info_; }
  std::vector<ReplicaMetrics> replicas() const override { return pool_->metrics(); }

  std::shared_ptr<GenerationHandle> submit(GenerationRequest request,
                                           GenerationCallbacks callbacks) override {
    if (request.raw_prompt) return submit_completion(std::move(request), std::move(callbacks));
    auto job = std::make_shared<Job>();
    job->priority = request.priority;
    job->key = prefix_key(request);
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
    return std::make_shared<Handle>(pool_, job);
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
    if (stopped_.exchange(true)) return;
    for (auto& job : pool_->stop()) job->finish(shutting_down());
    timer_.join();
    prober_.join();
    workers_.join_all();
  }

 private:
  // A raw prompt goes to the upstream's /completions, asked whole: a caller that streams gets the
  // text in one piece when it is there.
  std::shared_ptr<GenerationHandle> submit_completion(GenerationRequest request,
                                                      GenerationCallbacks callbacks) {
    auto job = std::make_shared<Job>();
    job->priority = request.priority;
    job->key = prefix_key(request);
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
    return std::make_shared<Handle>(pool_, job);
  }

  // Queues job, or answers it at once when the engine has stopped.
  void enqueue(const std::shared_ptr<Job>& job) {
    if (!pool_->enqueue(job)) job->finish(shutting_down());
  }

  // Returns when the pool has nothing for it (idle long enough, or stopping).
  void work(size_t replica) {
    UpstreamConnection connection;
    uint64_t last_key = 0;
    while (auto job = pool_->take(replica, last_key)) {
      last_key = job->key;
      run(job, connection, replica);
    }
  }

  // Asks each server taken out for its models until it answers; then, for a found limit, for its
  // slots (it may have come back with another --parallel).
  void probe() {
    UpstreamConnection connection;
    const std::function<bool()> stopping = [this] { return pool_->stopping(); };
    while (auto replica = pool_->next_probe()) {
      const std::string& url = pool_->url(*replica);
      HttpReply reply = connection.call(url + "/models", "", options_.api_key, kProbeTimeout, stopping);
      const bool answered = reply.status >= 200 && reply.status < 300;
      if (answered && options_.parallel == 0) {
        pool_->set_slots(
            *replica, fetch_total_slots(connection, url, options_.api_key, options_.max_parallel, stopping));
      }
      pool_->probe_done(*replica, answered);
    }
  }

  // Sends one attempt of job to replica; answers it, or puts it back to wait for its next attempt.
  void run(const std::shared_ptr<Job>& shared_job, UpstreamConnection& connection, size_t replica) {
    Job& job = *shared_job;
    const std::string& base = options_.base_urls[replica];
    if (++job.attempts == 1 && job.on_started) job.on_started();
    const std::function<bool()> abort = [this, &job] { return job.cancelled.load() || stopped_.load(); };
    std::optional<ChatStreamReader> stream;
    std::function<void(std::string_view)> on_chunk;
    if (job.stream_delta) {
      stream.emplace(job.stream_delta);
      on_chunk = [&stream](std::string_view bytes) { stream->feed(bytes); };
    }
    HttpReply reply =
        connection.call(base + job.path, job.body, options_.api_key, options_.timeout, abort, on_chunk);
    const AttemptEnd end = attempt_end(reply);
    Result<json> outcome = Status::ok();
    bool transient = false;
    if (reply.aborted) {
      outcome = job.cancelled ? request_cancelled() : shutting_down();
    } else if (reply.status == 0) {
      transient = true;
      outcome = Status::unavailable(base + ": " + reply.transport_error);
    } else if (reply.status < 200 || reply.status >= 300) {
      transient = is_transient(reply.status);
      outcome = upstream_error(reply.status, reply.body, base);
    } else if (stream) {
      outcome = stream->completion();
    } else if (json_nesting_depth(reply.body) > kMaxJsonDepth) {
      outcome = Status::bad_gateway(base + " answered JSON nested too deeply to read.");
    } else {
      outcome = json::parse(reply.body, nullptr, false);
    }
    const json* usage = nullptr;
    if (outcome && outcome->is_object()) {
      auto it = outcome->find("usage");
      if (it != outcome->end()) usage = &*it;
    }
    pool_->attempt_done(replica, job, end, reply.status, usage);
    if (stream && stream->delivered()) transient = false;  // text went out: trying again would repeat it
    if (transient) job.failed_on = replica;
    if (transient && job.attempts < options_.max_attempts &&
        pool_->retry_later(shared_job, backoff(job, reply)))
      return;
    if (job.cancelled && !outcome) outcome = request_cancelled();
    if (transient && !outcome.status().is_internal()) {
      // Busy or away after every attempt: unavailable, which a batch runs again later.
      outcome = outcome.status().with_status_code(StatusCode::kUnavailable);
    }
    job.finish(std::move(outcome));
  }

  // The wait before job's next attempt: Retry-After, else twice the last wait, at most max_backoff.
  std::chrono::milliseconds backoff(const Job& job, const HttpReply& reply) const {
    std::chrono::milliseconds wait = options_.first_backoff * (1 << std::min(job.attempts - 1, 16));
    if (reply.retry_after) wait = *reply.retry_after;
    return std::min(wait, options_.max_backoff);
  }

  UpstreamOptions options_;
  ModelInfo info_;
  std::atomic<bool> stopped_{false};
  std::shared_ptr<ReplicaPool> pool_;  // shared with the handles, which may outlive the engine
  ThreadGroup workers_;                // one per request a replica may have in flight, or waiting for one
  std::thread timer_;
  std::thread prober_;
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
  if (options.parallel < 0) return Status::invalid_request("upstream parallel must be 0 (found) or more");
  if (options.max_parallel < 1 || options.max_parallel > kMaxUpstreamParallel ||
      options.parallel > kMaxUpstreamParallel) {
    return Status::invalid_request("upstream parallel: at most " + std::to_string(kMaxUpstreamParallel));
  }
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
  // A found limit stays within each server's slots, where it says (llama-server); asked all at once.
  std::vector<int> slots(options.base_urls.size(), 0);
  if (options.parallel == 0) {
    std::vector<std::thread> askers;
    for (size_t r = 0; r < slots.size(); ++r) {
      askers.emplace_back([&options, &slots, r] {
        UpstreamConnection connection;
        slots[r] = fetch_total_slots(connection, options.base_urls[r], options.api_key, options.max_parallel,
                                     [] { return false; });
      });
    }
    for (auto& asker : askers) asker.join();
  }
  ModelInfo info;
  info.id = options.model_ids.empty() ? options.model : options.model_ids[0];
  for (size_t i = 1; i < options.model_ids.size(); ++i) info.aliases.push_back(options.model_ids[i]);
  info.created = SystemClock::instance().now_seconds();
  info.has_vision = true;  // the upstream model decides, and answers a 400 if it takes no images
  return std::unique_ptr<Engine>(new UpstreamEngine(std::move(options), std::move(info), slots));
}

}  // namespace openbatch::engine::upstream
