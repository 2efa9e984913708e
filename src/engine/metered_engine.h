// An Engine wrapper that counts what passes through it, for GET /metrics: per model, generations by
// priority and outcome, those in flight, tokens, embeddings, and latency histograms (queue wait, time
// to first token, generation seconds, embedding seconds); and the totals over all models.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"

namespace openbatch::engine {

// Upper bounds of the latency histograms' buckets, in seconds: from a cached prompt's first token
// (milliseconds) to a long generation or a batch request's wait in its queue (minutes); longer ones
// fall in the +Inf bucket only.
inline constexpr std::array<double, 16> kLatencyBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                           2.5,   5,    10,    25,   50,  100,  250, 600};

// A latency histogram as Prometheus shows it.
struct LatencyHistogram {
  std::array<int64_t, kLatencyBuckets.size()> buckets{};  // observations <= kLatencyBuckets[i] (cumulative)
  int64_t count = 0;                                      // all observations (the +Inf bucket)
  double sum = 0;                                         // their seconds
};

// Counts since the wrapper was made. Plain numbers; read with MeteredEngine::metrics().
struct EngineCounts {
  struct PerPriority {
    int64_t ok = 0;         // generations that finished
    int64_t failed = 0;     // ended with an error other than a cancellation
    int64_t cancelled = 0;  // ended by GenerationHandle::cancel (or a stopped batch)
    int64_t in_flight = 0;  // submitted, not yet done
    double seconds = 0;     // from submit to done, summed over ended generations (any outcome)
  };
  std::array<PerPriority, 2> by_priority;  // indexed by Priority
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;  // of prompt_tokens, reused rather than computed
  int64_t completion_tokens = 0;
  int64_t forced_tokens = 0;     // of completion_tokens, forced by a grammar (no sampling)
  int64_t embedding_inputs = 0;  // inputs embedded
  int64_t embedding_tokens = 0;  // their tokens
};

// The latency of one model's generations of one priority, from submit (MeteredEngine::submit).
struct LatencyHistograms {
  LatencyHistogram queue_wait;   // to on_started: generations that left their queue
  LatencyHistogram first_token;  // to the first on_delta of a streamed call; else (a finished generation
                                 // that streamed nothing) to Generation::first_token_at, or to done when
                                 // the engine left it unset (an upstream answer that was not streamed)
  LatencyHistogram generation;   // to done: generations that finished (ok)
  LatencyHistogram embedding;    // from embed() to its answer: embedding calls that finished (ok)
};

struct ModelMetrics {
  std::string model;  // ModelInfo::id
  EngineCounts counts;
  std::array<LatencyHistograms, 2> latency;  // indexed by Priority
};

struct EngineMetrics : EngineCounts {  // the counts: over all models
  // The inner engine's models() in order (each, even before its first request), then any other model
  // that was counted.
  std::vector<ModelMetrics> models;
};

// Counts each request on its model: the request's `model` resolved with find_model over the inner
// engine's models(); an empty or unknown name counts on the first model (the one a one-model engine
// serves whatever the name). Thread-safe. REQUIRES: inner outlives the wrapper.
class MeteredEngine final : public Engine {
 public:
  explicit MeteredEngine(Engine& inner) : inner_(inner) {}

  const ModelInfo& model_info() const override { return inner_.model_info(); }
  std::vector<ModelInfo> models() const override { return inner_.models(); }
  std::vector<ReplicaMetrics> replicas() const override { return inner_.replicas(); }
  std::shared_ptr<GenerationHandle> submit(GenerationRequest request, GenerationCallbacks callbacks) override;
  Result<int> count_prompt_tokens(const GenerationRequest& request) override {
    return inner_.count_prompt_tokens(request);
  }
  void embed(EmbeddingRequest request, EmbeddingsDone done) override;
  void shutdown() override { inner_.shutdown(); }

  EngineMetrics metrics() const;

 private:
  struct Histogram {
    std::array<std::atomic<int64_t>, kLatencyBuckets.size() + 1> counts{};  // not cumulative; last: +Inf
    std::atomic<int64_t> microseconds{0};
    void observe(std::chrono::steady_clock::duration elapsed);
    LatencyHistogram read() const;
  };
  struct Counters {
    struct PerPriority {
      std::atomic<int64_t> ok{0}, failed{0}, cancelled{0}, in_flight{0};
      std::atomic<int64_t> microseconds{0};
      Histogram queue_wait, first_token, generation, embedding;
    };
    std::array<PerPriority, 2> by_priority;
    std::atomic<int64_t> prompt_tokens{0}, cached_tokens{0}, completion_tokens{0}, forced_tokens{0};
    std::atomic<int64_t> embedding_inputs{0}, embedding_tokens{0};
  };

  // The counters of the model named name (see the class comment).
  std::shared_ptr<Counters> counters_for(std::string_view name);
  // REQUIRES: mu_ held.
  std::shared_ptr<Counters>& counters_of_id(const std::string& id) const;

  Engine& inner_;
  mutable std::mutex mu_;
  // Shared with the callbacks: a generation may end after the wrapper is gone. Both maps hold only
  // names the inner engine serves (ids; ids and aliases), so clients cannot grow them.
  mutable std::map<std::string, std::shared_ptr<Counters>, std::less<>> by_id_;
  std::map<std::string, std::shared_ptr<Counters>, std::less<>> by_name_;
};

}  // namespace openbatch::engine
