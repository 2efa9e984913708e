#include "engine/metered_engine.h"

#include <algorithm>

namespace openbatch::engine {

namespace {

using Clock = std::chrono::steady_clock;

int64_t to_microseconds(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

// What the callbacks of one generation share.
struct Timing {
  Clock::time_point submitted = Clock::now();
  std::atomic<bool> first_token_seen{false};
};

void add(EngineCounts& to, const EngineCounts& from) {
  for (size_t p = 0; p < to.by_priority.size(); ++p) {
    EngineCounts::PerPriority& t = to.by_priority[p];
    const EngineCounts::PerPriority& f = from.by_priority[p];
    t.ok += f.ok;
    t.failed += f.failed;
    t.cancelled += f.cancelled;
    t.in_flight += f.in_flight;
    t.seconds += f.seconds;
  }
  to.prompt_tokens += from.prompt_tokens;
  to.cached_tokens += from.cached_tokens;
  to.completion_tokens += from.completion_tokens;
  to.forced_tokens += from.forced_tokens;
  to.embedding_inputs += from.embedding_inputs;
  to.embedding_tokens += from.embedding_tokens;
}

}  // namespace

void MeteredEngine::Histogram::observe(Clock::duration elapsed) {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(kLatencyBuckets.begin(), kLatencyBuckets.end(), seconds) - kLatencyBuckets.begin());
  counts[bucket].fetch_add(1);
  microseconds.fetch_add(to_microseconds(elapsed));
}

LatencyHistogram MeteredEngine::Histogram::read() const {
  LatencyHistogram h;
  for (size_t b = 0; b < counts.size(); ++b) {
    h.count += counts[b].load();
    if (b < h.buckets.size()) h.buckets[b] = h.count;
  }
  h.sum = static_cast<double>(microseconds.load()) / 1e6;
  return h;
}

std::shared_ptr<MeteredEngine::Counters>& MeteredEngine::counters_of_id(const std::string& id) const {
  std::shared_ptr<Counters>& c = by_id_[id];
  if (!c) c = std::make_shared<Counters>();
  return c;
}

std::shared_ptr<MeteredEngine::Counters> MeteredEngine::counters_for(std::string_view name) {
  {
    std::lock_guard lock(mu_);
    if (auto it = by_name_.find(name); it != by_name_.end()) return it->second;
  }
  std::optional<ModelInfo> model = find_model(inner_, name);
  const bool named = model.has_value();
  if (!named) {
    std::vector<ModelInfo> all = inner_.models();
    model = all.empty() ? inner_.model_info() : all.front();
  }
  std::lock_guard lock(mu_);
  std::shared_ptr<Counters> c = counters_of_id(model->id);
  // Only a name the engine serves is remembered: any other is looked up again (it names no model, so
  // it is rare where names matter, and a one-model engine's models() is one copy).
  if (named) by_name_.emplace(std::string(name), c);
  return c;
}

std::shared_ptr<GenerationHandle> MeteredEngine::submit(GenerationRequest request,
                                                        GenerationCallbacks callbacks) {
  const size_t priority = static_cast<size_t>(request.priority);
  std::shared_ptr<Counters> counters = counters_for(request.model);
  counters->by_priority[priority].in_flight.fetch_add(1);
  auto timing = std::make_shared<Timing>();
  callbacks.on_started = [counters, priority, timing, on_started = std::move(callbacks.on_started)] {
    counters->by_priority[priority].queue_wait.observe(Clock::now() - timing->submitted);
    if (on_started) on_started();
  };
  // Only a caller that streams gets a wrapped on_delta: giving one to the others would make the
  // engines stream (and parse) answers nobody reads.
  if (callbacks.on_delta) {
    callbacks.on_delta = [counters, priority, timing,
                          on_delta = std::move(callbacks.on_delta)](GenerationDelta delta) {
      if (!timing->first_token_seen.load(std::memory_order_relaxed) &&
          !timing->first_token_seen.exchange(true)) {
        counters->by_priority[priority].first_token.observe(Clock::now() - timing->submitted);
      }
      on_delta(std::move(delta));
    };
  }
  callbacks.on_done = [counters, priority, timing,
                       on_done = std::move(callbacks.on_done)](Result<Generation> result) {
    Counters::PerPriority& c = counters->by_priority[priority];
    const Clock::time_point now = Clock::now();
    c.microseconds.fetch_add(to_microseconds(now - timing->submitted));
    if (result) {
      c.ok.fetch_add(1);
      c.generation.observe(now - timing->submitted);
      if (!timing->first_token_seen.exchange(true)) {
        const Clock::time_point first =
            result->first_token_at == Clock::time_point{} ? now : result->first_token_at;
        c.first_token.observe(std::max(first, timing->submitted) - timing->submitted);
      }
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
  std::shared_ptr<Counters> counters = counters_for(request.model);
  const size_t priority = static_cast<size_t>(request.priority);
  const Clock::time_point submitted = Clock::now();
  inner_.embed(std::move(request),
               [counters, priority, submitted, done = std::move(done)](Result<Embeddings> result) {
                 if (result) {
                   counters->by_priority[priority].embedding.observe(Clock::now() - submitted);
                   counters->embedding_inputs.fetch_add(static_cast<int64_t>(result->vectors.size()));
                   counters->embedding_tokens.fetch_add(result->prompt_tokens);
                 }
                 done(std::move(result));
               });
}

EngineMetrics MeteredEngine::metrics() const {
  std::vector<std::pair<std::string, std::shared_ptr<Counters>>> order;
  {
    const std::vector<ModelInfo> served = inner_.models();
    std::lock_guard lock(mu_);
    for (const ModelInfo& model : served) order.emplace_back(model.id, counters_of_id(model.id));
    for (const auto& [id, c] : by_id_) {
      if (std::ranges::none_of(order, [&](const auto& o) { return o.first == id; }))
        order.emplace_back(id, c);
    }
  }
  EngineMetrics m;
  for (const auto& [id, counters] : order) {
    ModelMetrics mm;
    mm.model = id;
    for (size_t p = 0; p < mm.counts.by_priority.size(); ++p) {
      const Counters::PerPriority& c = counters->by_priority[p];
      mm.counts.by_priority[p] = {c.ok.load(), c.failed.load(), c.cancelled.load(), c.in_flight.load(),
                                  static_cast<double>(c.microseconds.load()) / 1e6};
      mm.latency[p] = {c.queue_wait.read(), c.first_token.read(), c.generation.read(), c.embedding.read()};
    }
    mm.counts.prompt_tokens = counters->prompt_tokens.load();
    mm.counts.cached_tokens = counters->cached_tokens.load();
    mm.counts.completion_tokens = counters->completion_tokens.load();
    mm.counts.forced_tokens = counters->forced_tokens.load();
    mm.counts.embedding_inputs = counters->embedding_inputs.load();
    mm.counts.embedding_tokens = counters->embedding_tokens.load();
    add(m, mm.counts);
    m.models.push_back(std::move(mm));
  }
  return m;
}

}  // namespace openbatch::engine
