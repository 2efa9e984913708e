#include "api/fleet_forwarding.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

namespace openbatch::api {
namespace {

using namespace std::chrono_literals;

// Relays whose calls run until told to stop, as streams whose nodes keep sending.
TEST(StreamRelaysTest, StopEndsTheRunningRelaysJoinsThemAndRefusesMore) {
  StreamRelays relays;
  auto ended = std::make_shared<std::atomic<int>>(0);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(relays.start([&relays, ended] {
      while (!relays.stopping()) std::this_thread::sleep_for(1ms);
      ++*ended;
    }));
  }
  EXPECT_FALSE(relays.stopping());
  relays.stop();  // returns only once both threads have ended
  EXPECT_EQ(ended->load(), 2);
  EXPECT_FALSE(relays.start([] { FAIL() << "ran after stop"; }));
}

}  // namespace
}  // namespace openbatch::api
