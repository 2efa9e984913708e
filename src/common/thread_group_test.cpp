#include "common/thread_group.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>

namespace openbatch {
namespace {

using namespace std::chrono_literals;

TEST(ThreadGroupTest, JoinAllWaitsForTheRunningThreadsAndRefusesMore) {
  ThreadGroup group;
  std::atomic<bool> release{false};
  std::atomic<int> finished{0};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(group.start([&] {
      while (!release.load()) std::this_thread::sleep_for(1ms);
      ++finished;
    }));
  }
  std::thread releaser([&] {
    std::this_thread::sleep_for(20ms);
    release = true;
  });
  group.join_all();  // returns only once all three have finished
  EXPECT_EQ(finished.load(), 3);
  releaser.join();
  EXPECT_FALSE(group.start([] { FAIL() << "ran after join_all"; }));
}

TEST(ThreadGroupTest, ManyShortThreadsEachRunAndJoinAllThenReturnsAtOnce) {
  ThreadGroup group;
  for (int i = 0; i < 100; ++i) {
    auto ran = std::make_shared<std::promise<void>>();
    auto done = ran->get_future();
    ASSERT_TRUE(group.start([ran] { ran->set_value(); }));
    ASSERT_EQ(done.wait_for(5s), std::future_status::ready);
  }
  group.join_all();
}

}  // namespace
}  // namespace openbatch
