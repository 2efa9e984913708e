#include "engine/upstream/replica_pool.h"

#include <gtest/gtest.h>

namespace openbatch::engine::upstream {
namespace {

std::shared_ptr<Job> job_keyed(uint64_t key, Priority priority = Priority::kBatch) {
  auto job = std::make_shared<Job>();
  job->key = key;
  job->priority = priority;
  job->finish = [](Result<nlohmann::json>) {};
  return job;
}

// A pool of two replicas whose workers are the test itself: take() is called only when a job is there.
struct TwoReplicas {
  explicit TwoReplicas(int parallel = 2) {
    PoolOptions o;
    o.model_id = "m";
    o.urls = {"http://a/v1", "http://b/v1"};
    o.concurrency.fixed = parallel;
    pool = std::make_unique<ReplicaPool>(o, [this](size_t replica) { ++spawned[replica]; });
  }
  std::unique_ptr<ReplicaPool> pool;
  int spawned[2] = {0, 0};
};

constexpr uint64_t kKey = 0x9e3779b97f4a7c15ull;

TEST(ReplicaPoolTest, JobsOfOneKeyGoToOneReplicaWhileItsLoadIsUnderTheBound) {
  TwoReplicas two;
  auto a = job_keyed(kKey), b = job_keyed(kKey), c = job_keyed(kKey), d = job_keyed(kKey);
  for (auto& j : {a, b, c, d}) ASSERT_TRUE(two.pool->enqueue(j));
  const size_t home = a->queued_on;
  EXPECT_EQ(b->queued_on, home);       // load 1, under ceil(1.5 x 2 / 2) = 2, the bound to stay
  EXPECT_EQ(c->queued_on, home);       // load 2, under ceil(1.5 x 3 / 2) = 3
  EXPECT_EQ(d->queued_on, 1 - home);   // load 3, not under ceil(1.5 x 4 / 2) = 3
  EXPECT_EQ(two.spawned[home], 2);     // workers for what it may send now
  EXPECT_EQ(two.pool->take(home), a);  // submission order
  EXPECT_EQ(two.pool->take(home), b);
  EXPECT_EQ(two.pool->take(1 - home), d);
  const auto m = two.pool->metrics();
  EXPECT_EQ(m[home].in_flight, 2);
  EXPECT_EQ(m[1 - home].in_flight, 1);
  EXPECT_EQ(m[home].concurrency_limit, 2);
  EXPECT_EQ(two.pool->capacity(), 4);
}

TEST(ReplicaPoolTest, AReplicaWithNothingQueuedTakesWorkThatWaitsOnAFullOne) {
  TwoReplicas two(1);
  auto a = job_keyed(kKey), b = job_keyed(kKey);
  ASSERT_TRUE(two.pool->enqueue(a));
  ASSERT_TRUE(two.pool->enqueue(b));
  const size_t home = a->queued_on;
  ASSERT_EQ(b->queued_on, home);
  EXPECT_EQ(two.pool->take(home), a);
  EXPECT_EQ(two.pool->take(1 - home), b);  // home is at its limit of 1
}

TEST(ReplicaPoolTest, AWorkerSendsTheSameKeyNextButPassesTheHeadOverOnlySoOften) {
  PoolOptions o;
  o.urls = {"http://a/v1"};
  o.concurrency.fixed = 1;
  ReplicaPool pool(o, [](size_t) {});
  constexpr uint64_t kOther = 7;
  auto head = job_keyed(kOther);
  ASSERT_TRUE(pool.enqueue(head));
  std::vector<std::shared_ptr<Job>> same;
  for (int i = 0; i < kMaxPassOvers + 1; ++i) {
    same.push_back(job_keyed(kKey));
    ASSERT_TRUE(pool.enqueue(same.back()));
  }
  for (int i = 0; i < kMaxPassOvers; ++i) {
    auto job = pool.take(0, kKey);
    ASSERT_EQ(job, same[i]);
    pool.attempt_done(0, *job, AttemptEnd::kAnswered, 200, nullptr);
  }
  EXPECT_EQ(pool.take(0, kKey), head);  // passed over often enough
}

TEST(ReplicaPoolTest, RoundRobinKeepsTheQueuesOrder) {
  PoolOptions o;
  o.urls = {"http://a/v1"};
  o.routing = Routing::kRoundRobin;
  ReplicaPool pool(o, [](size_t) {});
  auto first = job_keyed(7), second = job_keyed(kKey);
  ASSERT_TRUE(pool.enqueue(first));
  ASSERT_TRUE(pool.enqueue(second));
  EXPECT_EQ(pool.take(0, kKey), first);
}

TEST(ReplicaPoolTest, InteractiveCallsGoFirstOnTheirReplica) {
  TwoReplicas two(1);
  auto batch = job_keyed(kKey), chat = job_keyed(kKey, Priority::kInteractive);
  ASSERT_TRUE(two.pool->enqueue(batch));
  ASSERT_TRUE(two.pool->enqueue(chat));
  ASSERT_EQ(chat->queued_on, batch->queued_on);
  EXPECT_EQ(two.pool->take(batch->queued_on), chat);
}

TEST(ReplicaPoolTest, AnUnreachableReplicaIsTakenOutAndItsWorkGoesToTheOther) {
  TwoReplicas two;
  auto first = job_keyed(kKey), waiting = job_keyed(kKey), later = job_keyed(kKey);
  ASSERT_TRUE(two.pool->enqueue(first));
  const size_t home = first->queued_on;
  ASSERT_EQ(two.pool->take(home), first);
  ASSERT_TRUE(two.pool->enqueue(waiting));
  ASSERT_EQ(waiting->queued_on, home);
  two.pool->attempt_done(home, *first, AttemptEnd::kUnreachable, 0, nullptr);
  EXPECT_EQ(waiting->queued_on, 1 - home);  // handed over
  ASSERT_TRUE(two.pool->enqueue(later));
  EXPECT_EQ(later->queued_on, 1 - home);
  auto m = two.pool->metrics();
  EXPECT_FALSE(m[home].healthy);
  EXPECT_EQ(m[home].errors, 1);
  EXPECT_EQ(m[home].requests, 0);  // no answer came
  two.pool->probe_done(home, true);
  EXPECT_TRUE(two.pool->metrics()[home].healthy);
}

TEST(ReplicaPoolTest, CountsTheAnswersAndTheirTokens) {
  TwoReplicas two;
  auto job = job_keyed(kKey);
  ASSERT_TRUE(two.pool->enqueue(job));
  const size_t r = job->queued_on;
  ASSERT_EQ(two.pool->take(r), job);
  const auto usage = nlohmann::json::parse(
      R"({"prompt_tokens":30,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":24}})");
  two.pool->attempt_done(r, *job, AttemptEnd::kAnswered, 200, &usage);
  auto again = job_keyed(kKey);
  ASSERT_TRUE(two.pool->enqueue(again));
  ASSERT_EQ(two.pool->take(r), again);
  two.pool->attempt_done(r, *again, AttemptEnd::kOverloaded, 429, nullptr);
  const ReplicaMetrics m = two.pool->metrics()[r];
  EXPECT_EQ(m.model, "m");
  EXPECT_EQ(m.url, two.pool->url(r));
  EXPECT_TRUE(m.healthy);
  EXPECT_EQ(m.in_flight, 0);
  EXPECT_EQ(m.requests, 2);
  EXPECT_EQ(m.errors, 1);
  EXPECT_EQ(m.throttled, 1);
  EXPECT_EQ(m.prompt_tokens, 30);
  EXPECT_EQ(m.cached_tokens, 24);
  EXPECT_EQ(m.completion_tokens, 5);
}

TEST(ReplicaPoolTest, StopHandsBackWhatWaitsAndCancelTakesOneOut) {
  TwoReplicas two;
  auto kept = job_keyed(kKey), cancelled = job_keyed(kKey);
  ASSERT_TRUE(two.pool->enqueue(kept));
  ASSERT_TRUE(two.pool->enqueue(cancelled));
  EXPECT_TRUE(two.pool->cancel(*cancelled));
  EXPECT_FALSE(two.pool->cancel(*cancelled));  // already answered
  const auto waiting = two.pool->stop();
  ASSERT_EQ(waiting.size(), 1u);
  EXPECT_EQ(waiting[0], kept);
  EXPECT_FALSE(two.pool->enqueue(job_keyed(kKey)));
  EXPECT_EQ(two.pool->take(0), nullptr);
}

}  // namespace
}  // namespace openbatch::engine::upstream
