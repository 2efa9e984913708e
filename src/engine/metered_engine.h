// An Engine wrapper that counts what passes through it, for GET /metrics: generations by priority and
// outcome, those in flight, tokens, and the seconds generations took.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include "engine/engine.h"

namespace openbatch::engine {

// Counts since the wrapper was made. Plain numbers; read with MeteredEngine::metrics().
struct EngineMetrics {
  struct PerPriority {
    int64_t ok = 0;         // generations that finished
    int64_t failed = 0;     // ended with an error other than a cancellation
    int64_t cancelled = 0;  // ended by GenerationHandle::cancel (or a stopped batch)
    int64_t in_flight = 0;  // submitted, not yet done
    double seconds = 0;     // from submit to done, summed over finished generations
  };
  std::array<PerPriority, 2> by_priority;  // indexed by Priority
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;  // of prompt_tokens, reused rather than computed
  int64_t completion_tokens = 0;
  int64_t forced_tokens = 0;  // of completion_tokens, forced by a grammar (no sampling)
  int64_t embedding_inputs = 0;  // inputs embedded
  int64_t embedding_tokens = 0;  // their tokens
};

// Thread-safe. REQUIRES: inner outlives the wrapper.
class MeteredEngine final : public Engine {
 public:
  explicit MeteredEngine(Engine& inner) : inner_(inner), counters_(std::make_shared<Counters>()) {}

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
  struct Counters {
    struct PerPriority {
      std::atomic<int64_t> ok{0}, failed{0}, cancelled{0}, in_flight{0};
      std::atomic<int64_t> microseconds{0};
    };
    std::array<PerPriority, 2> by_priority;
    std::atomic<int64_t> prompt_tokens{0}, cached_tokens{0}, completion_tokens{0}, forced_tokens{0};
    std::atomic<int64_t> embedding_inputs{0}, embedding_tokens{0};
  };
  Engine& inner_;
  // Shared with the callbacks: a generation may end after the wrapper is gone.
  std::shared_ptr<Counters> counters_;
};

}  // namespace openbatch::engine
