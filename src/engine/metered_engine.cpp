#include "engine/metered_engine.h"

#include <chrono>

namespace openbatch::engine {

std::shared_ptr<GenerationHandle> MeteredEngine::submit(GenerationRequest request,
                                                        GenerationCallbacks callbacks) {
  const size_t priority = static_cast<size_t>(request.priority);
  counters_->by_priority[priority].in_flight.fetch_add(1);
  const auto start = std::chrono::steady_clock::now();
  auto on_done = std::move(callbacks.on_done);
  callbacks.on_done = [counters = counters_, priority, start,
                       on_done = std::move(on_done)](Result<Generation> result) {
    Counters::PerPriority& c = counters->by_priority[priority];
    c.microseconds.fetch_add(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start)
            .count());
    if (result) {
      c.ok.fetch_add(1);
      counters->prompt_tokens.fetch_add(result->prompt_tokens);
      counters->cached_tokens.fetch_add(result->cached_tokens);
      counters->completion_tokens.fetch_add(result->completion_tokens);
      counters->forced_tokens.fetch_add(result->forced_tokens);
    } else if (result.status().is_cancelled()) {
      c.cancelled.fetch_add(1);
    } else {
      c.failed.fetch_add(1);
    }
    c.in_flight.fetch_sub(1);
    on_done(std::move(result));
  };
  return inner_.submit(std::move(request), std::move(callbacks));
}

void MeteredEngine::embed(EmbeddingRequest request, EmbeddingsDone done) {
  inner_.embed(std::move(request), [counters = counters_, done = std::move(done)](Result<Embeddings> result) {
    if (result) {
      counters->embedding_inputs.fetch_add(static_cast<int64_t>(result->vectors.size()));
      counters->embedding_tokens.fetch_add(result->prompt_tokens);
    }
    done(std::move(result));
  });
}

EngineMetrics MeteredEngine::metrics() const {
  EngineMetrics m;
  for (size_t p = 0; p < m.by_priority.size(); ++p) {
    const Counters::PerPriority& c = counters_->by_priority[p];
    m.by_priority[p] = {c.ok.load(), c.failed.load(), c.cancelled.load(), c.in_flight.load(),
                        static_cast<double>(c.microseconds.load()) / 1e6};
  }
  m.prompt_tokens = counters_->prompt_tokens.load();
  m.cached_tokens = counters_->cached_tokens.load();
  m.completion_tokens = counters_->completion_tokens.load();
  m.forced_tokens = counters_->forced_tokens.load();
  m.embedding_inputs = counters_->embedding_inputs.load();
  m.embedding_tokens = counters_->embedding_tokens.load();
  return m;
}

}  // namespace openbatch::engine
