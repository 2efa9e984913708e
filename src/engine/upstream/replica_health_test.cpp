#include "engine/upstream/replica_health.h"

#include <gtest/gtest.h>

#include "common/fake_clock_for_test.h"

namespace openbatch::engine::upstream {
namespace {

using namespace std::chrono_literals;

TEST(ReplicaHealthTest, AnUnreachableServerIsOutAtOnceAndProbedWithGrowingWaits) {
  testing::FakeClock clock;
  ReplicaHealth h({.failures_to_remove = 3, .first_probe = 500ms, .max_probe = 2s});
  EXPECT_TRUE(h.healthy());
  h.on_failure(clock.steady_now(), /*unreachable=*/true);
  EXPECT_FALSE(h.healthy());
  EXPECT_EQ(h.probe_at(), clock.steady_now() + 500ms);
  clock.advance(500ms);
  h.on_probe(clock.steady_now(), false);
  EXPECT_EQ(h.probe_at(), clock.steady_now() + 1s);
  clock.advance(1s);
  h.on_probe(clock.steady_now(), false);
  EXPECT_EQ(h.probe_at(), clock.steady_now() + 2s);
  clock.advance(2s);
  h.on_probe(clock.steady_now(), false);
  EXPECT_EQ(h.probe_at(), clock.steady_now() + 2s);  // no longer than max_probe
  h.on_probe(clock.steady_now(), true);
  EXPECT_TRUE(h.healthy());
  h.on_failure(clock.steady_now(), true);
  EXPECT_EQ(h.probe_at(), clock.steady_now() + 500ms);  // back to the first wait after it answered
}

TEST(ReplicaHealthTest, RepeatedFailuresTakeItOutAndAnAnswerBetweenThemResets) {
  testing::FakeClock clock;
  ReplicaHealth h({.failures_to_remove = 3});
  h.on_failure(clock.steady_now(), false);
  h.on_failure(clock.steady_now(), false);
  h.on_answer();
  h.on_failure(clock.steady_now(), false);
  h.on_failure(clock.steady_now(), false);
  EXPECT_TRUE(h.healthy());
  h.on_failure(clock.steady_now(), false);
  EXPECT_FALSE(h.healthy());
}

TEST(ReplicaHealthTest, AFailureWhileOutPushesTheProbeBack) {
  testing::FakeClock clock;
  ReplicaHealth h({.first_probe = 100ms, .max_probe = 10s});
  h.on_failure(clock.steady_now(), true);
  clock.advance(100ms);
  h.on_failure(clock.steady_now(), false);  // a request sent while every server was out
  EXPECT_FALSE(h.healthy());
  EXPECT_EQ(h.probe_at(), clock.steady_now() + 200ms);
}

}  // namespace
}  // namespace openbatch::engine::upstream
