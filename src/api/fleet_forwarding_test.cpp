#include "api/fleet_forwarding.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>

namespace openbatch::api {
namespace {

using namespace std::chrono_literals;

// A relay that runs until it is cancelled, as a stream whose node keeps sending.
std::function<void()> until_cancelled(const std::shared_ptr<StreamRelay>& relay, std::promise<void>& began) {
  return [relay, &began] {
    began.set_value();
    while (!relay->cancelled.load()) std::this_thread::sleep_for(1ms);
  };
}

TEST(StreamRelaysTest, StopCancelsTheRunningRelaysJoinsThemAndRefusesMore) {
  StreamRelays relays;
  auto a = std::make_shared<StreamRelay>(), b = std::make_shared<StreamRelay>();
  std::promise<void> a_began, b_began;
  ASSERT_TRUE(relays.start(a, until_cancelled(a, a_began)));
  ASSERT_TRUE(relays.start(b, until_cancelled(b, b_began)));
  ASSERT_EQ(a_began.get_future().wait_for(5s), std::future_status::ready);
  ASSERT_EQ(b_began.get_future().wait_for(5s), std::future_status::ready);
  relays.stop();  // returns only once both threads have ended
  EXPECT_TRUE(a->cancelled.load());
  EXPECT_TRUE(b->cancelled.load());
  EXPECT_FALSE(relays.start(std::make_shared<StreamRelay>(), [] { FAIL() << "ran after stop"; }));
}

TEST(StreamRelaysTest, ManyShortRelaysEachRunAndStopThenReturnsAtOnce) {
  StreamRelays relays;
  for (int i = 0; i < 100; ++i) {
    std::promise<void> ran;
    auto done = ran.get_future();
    ASSERT_TRUE(relays.start(std::make_shared<StreamRelay>(), [&ran] { ran.set_value(); }));
    ASSERT_EQ(done.wait_for(5s), std::future_status::ready);
  }
  // Nothing to cancel or wait for: each thread ended, the last perhaps not yet joined.
  relays.stop();
}

}  // namespace
}  // namespace openbatch::api
