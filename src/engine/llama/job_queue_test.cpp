#include "engine/llama/job_queue.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>

namespace openbatch::engine {
namespace {

std::shared_ptr<GenerationJob> job(Priority priority) {
  auto j = std::make_shared<GenerationJob>();
  j->request.priority = priority;
  return j;
}

TEST(JobQueueTest, InteractiveJobsComeFirstAndAJobIsTakenOnce) {
  JobQueue queue(1, 2);
  auto batch = job(Priority::kBatch);
  auto interactive = job(Priority::kInteractive);
  ASSERT_TRUE(queue.push(batch));
  ASSERT_TRUE(queue.push(interactive));
  int which = -1;
  EXPECT_EQ(queue.front(&which), interactive);
  EXPECT_EQ(which, static_cast<int>(Priority::kInteractive));
  EXPECT_FALSE(queue.pop(which, batch));  // not at the front of that queue
  EXPECT_TRUE(queue.pop(which, interactive));
  EXPECT_FALSE(queue.pop(which, interactive));  // another context took it first
  EXPECT_EQ(queue.front(&which), batch);
  EXPECT_TRUE(queue.pop(which, batch));
  EXPECT_EQ(queue.front(&which), nullptr);
}

TEST(JobQueueTest, TheFirstContextWithRoomTakesTheWork) {
  JobQueue queue(3, 2);
  EXPECT_FALSE(queue.earlier_context_has_room(0));
  EXPECT_TRUE(queue.earlier_context_has_room(1));
  EXPECT_FALSE(queue.another_context_busy(0));
  queue.set_idle(0, 0);
  EXPECT_FALSE(queue.earlier_context_has_room(1));
  EXPECT_TRUE(queue.earlier_context_has_room(2));  // context 1 is idle
  EXPECT_TRUE(queue.another_context_busy(1));
  EXPECT_FALSE(queue.another_context_busy(0));  // only itself is busy
  queue.set_idle(1, 1);
  EXPECT_TRUE(queue.earlier_context_has_room(2));
}

TEST(JobQueueTest, AQueuedJobWakesTheContextItIsFor) {
  JobQueue queue(2, 1);
  auto second = std::async(std::launch::async, [&] { return queue.wait_for_work(1, [] { return false; }); });
  auto first = std::async(std::launch::async, [&] { return queue.wait_for_work(0, [] { return false; }); });
  ASSERT_TRUE(queue.push(job(Priority::kBatch)));
  EXPECT_TRUE(first.get());
  // Context 0 has room: the job is not for context 1 until context 0 is full.
  EXPECT_EQ(second.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  queue.set_idle(0, 0);
  EXPECT_TRUE(second.get());
}

TEST(JobQueueTest, StopWakesTheContextsAndRefusesJobs) {
  JobQueue queue(1, 1);
  auto waiting = std::async(std::launch::async, [&] { return queue.wait_for_work(0, [] { return false; }); });
  ASSERT_TRUE(queue.push(job(Priority::kBatch)));
  EXPECT_TRUE(waiting.get());
  EXPECT_FALSE(queue.stop());
  EXPECT_TRUE(queue.stop());  // already stopped
  EXPECT_FALSE(queue.wait_for_work(0, [] { return true; }));
  EXPECT_FALSE(queue.push(job(Priority::kInteractive)));
  EXPECT_EQ(queue.take_all().size(), 1u);  // the one queued before the stop
  EXPECT_TRUE(queue.take_all().empty());
}

}  // namespace
}  // namespace openbatch::engine
