#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/fake_clock_for_test.h"

namespace openbatch::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(FakeClockTest, ItsTimesMoveTogetherAndOnlyWhenAdvanced) {
  FakeClock clock(milliseconds(1'700'000'000'500));
  const Clock::TimePoint t0 = clock.steady_now();
  EXPECT_EQ(clock.now_millis(), 1'700'000'000'500);
  EXPECT_EQ(clock.now_seconds(), 1'700'000'000);
  clock.advance(milliseconds(1500));
  EXPECT_EQ(clock.now_millis(), 1'700'000'002'000);
  EXPECT_EQ(clock.now_seconds(), 1'700'000'002);
  EXPECT_EQ(clock.steady_now() - t0, milliseconds(1500));
}

TEST(FakeClockTest, AdvanceWakesTheWaitsWhoseDeadlineCameAndNoOther) {
  FakeClock clock;
  std::mutex mu;
  std::condition_variable cv;
  auto sleep_for = [&](seconds d, bool* result) {
    std::unique_lock lock(mu);
    *result = clock.wait_for(lock, cv, d, [] { return false; });
  };
  bool one = true, two = true;
  std::thread a(sleep_for, seconds(1), &one);
  std::thread b(sleep_for, seconds(2), &two);
  ASSERT_TRUE(clock.wait_for_sleepers(2));
  clock.advance(milliseconds(999));
  EXPECT_TRUE(clock.wait_for_sleepers(2, milliseconds(0))) << "woken before its deadline";
  clock.advance(milliseconds(1));
  a.join();
  EXPECT_FALSE(one) << "a wait that its deadline ended returns done(), false";
  EXPECT_TRUE(clock.wait_for_sleepers(1, milliseconds(0)));
  EXPECT_FALSE(clock.wait_for_sleepers(2, milliseconds(0)));
  clock.advance(seconds(1));
  b.join();
  EXPECT_FALSE(two);
  EXPECT_EQ(clock.sleeps_begun(), 2u);
}

TEST(FakeClockTest, ANotifyEndsAWaitWhoseConditionHoldsWithoutTimeMoving) {
  FakeClock clock;
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false, result = false;
  std::thread t([&] {
    std::unique_lock lock(mu);
    result = clock.wait_for(lock, cv, std::chrono::hours(1), [&] { return ready; });
  });
  ASSERT_TRUE(clock.wait_for_sleepers(1));
  {
    std::lock_guard lock(mu);
    ready = true;
  }
  cv.notify_all();
  t.join();
  EXPECT_TRUE(result);
  EXPECT_FALSE(clock.wait_for_sleepers(1, milliseconds(0))) << "the wait still counts as a sleeper";
}

TEST(FakeClockTest, AWaitWhoseDeadlineHasPassedDoesNotSleep) {
  FakeClock clock;
  std::mutex mu;
  std::condition_variable cv;
  std::unique_lock lock(mu);
  EXPECT_FALSE(clock.wait_until(lock, cv, clock.steady_now(), [] { return false; }));
  EXPECT_TRUE(clock.wait_until(lock, cv, clock.steady_now(), [] { return true; }));
  EXPECT_EQ(clock.sleeps_begun(), 0u);
}

}  // namespace
}  // namespace openbatch::testing
