#include "engine/upstream/concurrency_controller.h"

#include <gtest/gtest.h>

namespace openbatch::engine::upstream {
namespace {

using namespace std::chrono_literals;

// Answers one window (limit() answers) taking latency each.
void answer_window(ConcurrencyController& c, std::chrono::milliseconds latency) {
  for (int i = c.limit(); i > 0; --i) c.on_success(latency);
}

TEST(ConcurrencyControllerTest, DoublesFromTheStartUntilTheCapWhileAnswersStayFast) {
  ConcurrencyController c({.initial = 8, .max = 200});
  EXPECT_EQ(c.limit(), 8);
  for (int i = 0; i < 7; ++i) c.on_success(100ms);
  EXPECT_EQ(c.limit(), 8);  // a window is as many answers as the limit
  c.on_success(100ms);
  EXPECT_EQ(c.limit(), 16);
  for (int expected : {32, 64, 128, 200, 200}) {
    answer_window(c, 100ms);
    EXPECT_EQ(c.limit(), expected);
  }
}

TEST(ConcurrencyControllerTest, CutsOnceARoundOnOverloadThenAddsOneAWindow) {
  ConcurrencyController c({.initial = 8, .max = 256});
  answer_window(c, 50ms);
  answer_window(c, 50ms);
  ASSERT_EQ(c.limit(), 32);
  const uint64_t sent = c.epoch();
  c.on_overload(sent);
  EXPECT_EQ(c.limit(), 22);  // 32 x 0.7
  c.on_overload(sent);       // sent before the cut: the same news
  c.on_overload(sent);
  EXPECT_EQ(c.limit(), 22);
  answer_window(c, 50ms);
  EXPECT_EQ(c.limit(), 23);  // no more doubling after an overload
  answer_window(c, 50ms);
  EXPECT_EQ(c.limit(), 24);
  c.on_overload(c.epoch());
  EXPECT_EQ(c.limit(), 16);
}

TEST(ConcurrencyControllerTest, SettlesBelowAServerThatThrottlesAboveItsCapacity) {
  // A server that answers 429 to whatever goes over 24 in flight.
  ConcurrencyController c({.initial = 8, .max = 256});
  int low = 1000, high = 0;
  for (int round = 0; round < 200; ++round) {
    if (c.limit() > 24) {
      c.on_overload(c.epoch());
    } else {
      answer_window(c, 40ms);
    }
    if (round >= 20) {
      low = std::min(low, c.limit());
      high = std::max(high, c.limit());
    }
  }
  EXPECT_GE(low, 16);
  EXPECT_LE(high, 25);  // the one round that goes over is the one that finds the edge again
}

TEST(ConcurrencyControllerTest, HoldsWhenLatencyRises) {
  ConcurrencyController c({.initial = 4, .max = 256});
  answer_window(c, 100ms);
  ASSERT_EQ(c.limit(), 8);
  answer_window(c, 250ms);  // the server queues: hold, and leave slow start
  EXPECT_EQ(c.limit(), 8);
  answer_window(c, 150ms);  // back within the tolerance: one more
  EXPECT_EQ(c.limit(), 9);
}

TEST(ConcurrencyControllerTest, AFixedLimitNeverMoves) {
  ConcurrencyController c({.fixed = 16});
  EXPECT_TRUE(c.fixed());
  answer_window(c, 1ms);
  c.on_overload(c.epoch());
  EXPECT_EQ(c.limit(), 16);
}

TEST(ConcurrencyControllerTest, TheServersSlotsCapTheFoundLimit) {
  ConcurrencyController c({.initial = 8, .max = 256});
  c.cap(6);  // under the limit: cut to it
  EXPECT_EQ(c.limit(), 6);
  EXPECT_EQ(c.ceiling(), 6);
  answer_window(c, 10ms);
  answer_window(c, 10ms);
  EXPECT_EQ(c.limit(), 6);  // slow start stops there
  c.on_overload(c.epoch());
  EXPECT_EQ(c.limit(), 4);  // AIMD still runs under it: 6 x 0.7
  answer_window(c, 10ms);
  EXPECT_EQ(c.limit(), 5);
  c.cap(0);  // the server says nothing now: up to max again
  EXPECT_EQ(c.ceiling(), 256);
  answer_window(c, 10ms);
  EXPECT_EQ(c.limit(), 6);
  c.cap(1000);  // above max: max holds
  EXPECT_EQ(c.ceiling(), 256);
}

TEST(ConcurrencyControllerTest, AFixedLimitIgnoresTheServersSlots) {
  ConcurrencyController c({.fixed = 16});
  c.cap(8);
  EXPECT_EQ(c.limit(), 16);
  EXPECT_EQ(c.ceiling(), 16);
}

TEST(ConcurrencyControllerTest, NeverBelowOne) {
  ConcurrencyController c({.initial = 2, .max = 4});
  for (int i = 0; i < 10; ++i) c.on_overload(c.epoch());
  EXPECT_EQ(c.limit(), 1);
  answer_window(c, 10ms);
  EXPECT_EQ(c.limit(), 2);
}

}  // namespace
}  // namespace openbatch::engine::upstream
