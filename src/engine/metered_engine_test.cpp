#include "engine/metered_engine.h"

#include <gtest/gtest.h>

namespace openbatch::engine {
namespace {

// An engine of two models ("alpha", alias "a"; "beta") that keeps what it is given: the test plays
// the engine's part by calling the callbacks.
class TwoModelEngine final : public Engine {
 public:
  TwoModelEngine() {
    alpha_.id = "alpha";
    alpha_.aliases = {"a"};
    beta_.id = "beta";
    beta_.state = ModelState::kUnloaded;
  }
  const ModelInfo& model_info() const override { return alpha_; }
  std::vector<ModelInfo> models() const override { return {alpha_, beta_}; }
  std::shared_ptr<GenerationHandle> submit(GenerationRequest request,
                                           GenerationCallbacks callbacks) override {
    submitted.emplace_back(std::move(request), std::move(callbacks));
    return nullptr;
  }
  Result<int> count_prompt_tokens(const GenerationRequest&) override { return 1; }
  void embed(EmbeddingRequest request, EmbeddingsDone done) override {
    Embeddings e;
    e.vectors.resize(request.inputs.size());
    e.prompt_tokens = 5 * static_cast<int>(request.inputs.size());
    done(std::move(e));
  }
  void shutdown() override {}

  std::vector<std::pair<GenerationRequest, GenerationCallbacks>> submitted;

 private:
  ModelInfo alpha_, beta_;
};

GenerationRequest request(std::string model, Priority priority = Priority::kInteractive) {
  GenerationRequest r;
  r.model = std::move(model);
  r.priority = priority;
  return r;
}

Generation answer(int prompt, int completion) {
  Generation g;
  g.prompt_tokens = prompt;
  g.completion_tokens = completion;
  g.cached_tokens = prompt / 2;
  return g;
}

const ModelMetrics& of(const EngineMetrics& m, const std::string& id) {
  for (const ModelMetrics& mm : m.models) {
    if (mm.model == id) return mm;
  }
  ADD_FAILURE() << "no metrics for " << id;
  return m.models.front();
}

constexpr size_t kInteractive = 0, kBatch = 1;

TEST(MeteredEngineTest, ListsEveryModelBeforeItsFirstRequest) {
  TwoModelEngine inner;
  MeteredEngine metered(inner);
  const EngineMetrics m = metered.metrics();
  ASSERT_EQ(m.models.size(), 2u);
  EXPECT_EQ(m.models[0].model, "alpha");
  EXPECT_EQ(m.models[1].model, "beta");
  EXPECT_EQ(m.models[1].counts.by_priority[kBatch].ok, 0);
}

TEST(MeteredEngineTest, CountsEachRequestOnTheModelItNames) {
  TwoModelEngine inner;
  MeteredEngine metered(inner);
  auto done = [](Result<Generation>) {};
  // alpha: by id, by alias, by no name and by a name no model has; beta: by id.
  for (const char* name : {"alpha", "a", "", "nope"}) metered.submit(request(name), {nullptr, done, nullptr});
  metered.submit(request("beta", Priority::kBatch), {nullptr, done, nullptr});
  metered.submit(request("beta", Priority::kBatch), {nullptr, done, nullptr});
  metered.submit(request("beta", Priority::kBatch), {nullptr, done, nullptr});
  ASSERT_EQ(inner.submitted.size(), 7u);

  EngineMetrics m = metered.metrics();
  EXPECT_EQ(of(m, "alpha").counts.by_priority[kInteractive].in_flight, 4);
  EXPECT_EQ(of(m, "beta").counts.by_priority[kBatch].in_flight, 3);
  EXPECT_EQ(of(m, "beta").counts.by_priority[kInteractive].in_flight, 0);
  EXPECT_EQ(m.by_priority[kInteractive].in_flight, 4);
  EXPECT_EQ(m.by_priority[kBatch].in_flight, 3);

  for (size_t i = 0; i < 4; ++i) inner.submitted[i].second.on_done(answer(10, 2));
  inner.submitted[4].second.on_done(answer(100, 20));
  inner.submitted[5].second.on_done(Status::unavailable("gone"));
  inner.submitted[6].second.on_done(request_cancelled());

  m = metered.metrics();
  const ModelMetrics& alpha = of(m, "alpha");
  const ModelMetrics& beta = of(m, "beta");
  EXPECT_EQ(alpha.counts.by_priority[kInteractive].ok, 4);
  EXPECT_EQ(alpha.counts.by_priority[kInteractive].in_flight, 0);
  EXPECT_EQ(alpha.counts.prompt_tokens, 40);
  EXPECT_EQ(alpha.counts.cached_tokens, 20);
  EXPECT_EQ(alpha.counts.completion_tokens, 8);
  EXPECT_EQ(beta.counts.by_priority[kBatch].ok, 1);
  EXPECT_EQ(beta.counts.by_priority[kBatch].failed, 1);
  EXPECT_EQ(beta.counts.by_priority[kBatch].cancelled, 1);
  EXPECT_EQ(beta.counts.by_priority[kBatch].in_flight, 0);
  EXPECT_EQ(beta.counts.prompt_tokens, 100);
  EXPECT_EQ(beta.counts.completion_tokens, 20);
  // The totals are the sums.
  EXPECT_EQ(m.by_priority[kInteractive].ok, 4);
  EXPECT_EQ(m.by_priority[kBatch].ok + m.by_priority[kBatch].failed + m.by_priority[kBatch].cancelled, 3);
  EXPECT_EQ(m.prompt_tokens, 140);
  EXPECT_EQ(m.completion_tokens, 28);
}

TEST(MeteredEngineTest, CountsEmbeddingsOnTheirModel) {
  TwoModelEngine inner;
  MeteredEngine metered(inner);
  EmbeddingRequest r;
  r.model = "beta";
  r.inputs.resize(3);
  metered.embed(r, [](Result<Embeddings>) {});
  r.model = "a";
  r.inputs.resize(1);
  metered.embed(r, [](Result<Embeddings>) {});
  const EngineMetrics m = metered.metrics();
  EXPECT_EQ(of(m, "beta").counts.embedding_inputs, 3);
  EXPECT_EQ(of(m, "beta").counts.embedding_tokens, 15);
  EXPECT_EQ(of(m, "alpha").counts.embedding_inputs, 1);
  EXPECT_EQ(m.embedding_inputs, 4);
  // Each call timed on its model and priority (the fake answers at once: the first bucket).
  const size_t interactive = static_cast<size_t>(Priority::kInteractive);
  const size_t batch = static_cast<size_t>(Priority::kBatch);
  EXPECT_EQ(of(m, "beta").latency[interactive].embedding.count, 1);
  EXPECT_EQ(of(m, "beta").latency[interactive].embedding.buckets[0], 1);
  EXPECT_EQ(of(m, "alpha").latency[interactive].embedding.count, 1);
  EXPECT_EQ(of(m, "beta").latency[batch].embedding.count, 0);
  EXPECT_EQ(of(m, "beta").latency[interactive].generation.count, 0);
}

TEST(MeteredEngineTest, HistogramsCountQueueWaitFirstTokenAndFinishedGenerations) {
  TwoModelEngine inner;
  MeteredEngine metered(inner);
  int deltas = 0, started = 0, ended = 0;
  GenerationCallbacks streamed{[&](GenerationDelta) { ++deltas; }, [&](Result<Generation>) { ++ended; },
                               [&] { ++started; }};
  metered.submit(request("beta"), streamed);
  metered.submit(request("beta"), {nullptr, [&](Result<Generation>) { ++ended; }, nullptr});
  metered.submit(request("beta"), {nullptr, [&](Result<Generation>) { ++ended; }, nullptr});
  metered.submit(request("beta"), {nullptr, [&](Result<Generation>) { ++ended; }, nullptr});
  ASSERT_EQ(inner.submitted.size(), 4u);
  // Only the call that streams hands the engine an on_delta: the others are not made to stream.
  EXPECT_TRUE(inner.submitted[0].second.on_delta);
  EXPECT_FALSE(inner.submitted[1].second.on_delta);
  for (auto& [r, callbacks] : inner.submitted) ASSERT_TRUE(callbacks.on_started);

  LatencyHistograms h = metered.metrics().models[1].latency[kInteractive];
  EXPECT_EQ(h.queue_wait.count, 0);

  // 0: streamed, two deltas (one first token). 1: its engine says when its first token came (long
  // before the submission: 0 s). 2: an answer that was not streamed and says nothing (at done).
  // 3: never started, failed.
  for (size_t i = 0; i < 3; ++i) inner.submitted[i].second.on_started();
  inner.submitted[0].second.on_delta({"x", {}, {}, {}});
  inner.submitted[0].second.on_delta({"y", {}, {}, {}});
  h = metered.metrics().models[1].latency[kInteractive];
  EXPECT_EQ(h.queue_wait.count, 3);
  EXPECT_EQ(h.first_token.count, 1);
  EXPECT_EQ(h.generation.count, 0);
  inner.submitted[0].second.on_done(answer(1, 2));
  Generation early = answer(1, 1);
  early.first_token_at = std::chrono::steady_clock::time_point{} + std::chrono::nanoseconds(1);
  inner.submitted[1].second.on_done(early);
  inner.submitted[2].second.on_done(answer(1, 1));
  inner.submitted[3].second.on_done(Status::unavailable("gone"));

  EXPECT_EQ(started, 1);
  EXPECT_EQ(deltas, 2);
  EXPECT_EQ(ended, 4);
  const EngineMetrics m = metered.metrics();
  h = m.models[1].latency[kInteractive];
  EXPECT_EQ(h.queue_wait.count, 3);
  EXPECT_EQ(h.first_token.count, 3);
  EXPECT_GE(h.first_token.buckets[0], 1);  // the one with an early first token: 0 s
  EXPECT_EQ(h.generation.count, 3);        // the failure is not a finished generation
  for (const LatencyHistogram* each : {&h.queue_wait, &h.first_token, &h.generation}) {
    EXPECT_GE(each->sum, 0);
    for (size_t b = 1; b < each->buckets.size(); ++b) EXPECT_LE(each->buckets[b - 1], each->buckets[b]);
    EXPECT_LE(each->buckets.back(), each->count);
  }
  // Nothing landed on alpha or on batch priority.
  EXPECT_EQ(m.models[0].latency[kInteractive].generation.count, 0);
  EXPECT_EQ(m.models[1].latency[kBatch].queue_wait.count, 0);
  EXPECT_EQ(m.models[1].counts.by_priority[kInteractive].failed, 1);
}

}  // namespace
}  // namespace openbatch::engine
