// What the batch runner does as time passes, on a fake clock the tests step (clock.advance) instead of
// sleeping: progress samples, the completion window, the wait before a request the engine turned away
// runs again, and files deleted once they expire.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "batch/batch_runner_fixture_for_test.h"
#include "blobs/blobs.h"

namespace openbatch::batch {
namespace {

using namespace runner_test;  // NOLINT(google-build-using-namespace): the fixture's helpers

TEST_F(BatchRunnerTest, SamplesProgressWhenItStartsAsResultsAreStoredAndWhenItEnds) {
  FakeEngine engine(/*auto_complete=*/false);
  options_.max_in_flight = 4;
  open(engine);
  const int64_t t0 = clock_.now_seconds() * 1000;
  BatchRecord b = create(upload(input_file("t", 4)));
  ASSERT_TRUE(engine.wait_held(4));
  auto samples = [&] {
    auto p = service_->batch_progress("alice", b.id, 0);
    EXPECT_TRUE(p.is_ok());
    return p->samples;
  };
  auto last_completed = [&] {
    auto s = samples();
    return s.empty() ? int64_t{-1} : s.back().completed;
  };
  ASSERT_TRUE(eventually([&] { return last_completed() == 0; })) << "a sample when the batch starts";
  for (int64_t done = 1; done <= 2; ++done) {
    clock_.advance(std::chrono::seconds(1));
    engine.complete(1);
    ASSERT_TRUE(eventually([&] { return last_completed() == done; }));
  }
  clock_.advance(std::chrono::seconds(1));
  engine.complete(2);
  b = wait_status(b.id, BatchStatus::kCompleted);

  auto all = samples();
  ASSERT_EQ(all.size(), 4u);
  const int64_t want_completed[] = {0, 1, 2, 4};
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].at_ms, t0 + 1000 * static_cast<int64_t>(i)) << i;
    EXPECT_EQ(all[i].completed, want_completed[i]) << i;
    EXPECT_EQ(all[i].failed, 0);
    EXPECT_EQ(all[i].usage.output_tokens, 5 * want_completed[i]) << i;
    EXPECT_EQ(all[i].usage.input_tokens, 10 * want_completed[i]) << i;
  }
  auto newer = service_->batch_progress("alice", b.id, t0 + 1000);
  ASSERT_TRUE(newer.is_ok());
  EXPECT_EQ(newer->samples.size(), 2u);
  EXPECT_EQ(newer->batch.status, BatchStatus::kCompleted);
  EXPECT_EQ(newer->now_ms, t0 + 3000);
  EXPECT_TRUE(service_->batch_progress("bob", b.id, 0).status().is_not_found());
}

TEST_F(BatchRunnerTest, ExpiresWhenTheCompletionWindowPasses) {
  FakeEngine engine(false);
  options_.max_in_flight = 2;
  options_.completion_window_seconds = 100;
  open(engine);
  BatchRecord b = create(upload(input_file("t", 10)));
  EXPECT_EQ(b.expires_at, b.created_at + 100);
  ASSERT_TRUE(engine.wait_held(2));
  engine.complete(2);
  wait_completed_count(b.id, 2);
  ASSERT_TRUE(engine.wait_held(2));

  // Not a second early: the scheduler, woken by the step, finds the batch still within its window.
  advance_when_asleep(std::chrono::seconds(99));
  ASSERT_TRUE(clock_.wait_for_sleepers(kRunnerThreads));
  EXPECT_EQ(get(b.id).status, BatchStatus::kInProgress);
  EXPECT_EQ(engine.held(), 2u);
  advance_when_asleep(std::chrono::seconds(2));
  b = wait_status(b.id, BatchStatus::kExpired);
  EXPECT_TRUE(b.expired_at.has_value());
  EXPECT_EQ(engine.held(), 0u);
  EXPECT_EQ(b.request_counts.completed, 2);
  expect_each_line_once(b, "t", 10);
  auto errors = lines_of(b.error_file_id);
  ASSERT_EQ(errors.size(), 8u);
  for (const auto& l : errors) EXPECT_EQ(l["error"]["code"], "batch_expired");
}

TEST_F(BatchRunnerTest, RetriesRequestsTheEngineTurnsAway) {
  FakeEngine engine(true);
  engine.reject_first = 3;
  open(engine);
  const std::string id = create(upload(input_file("t", 5))).id;
  // The engine answers in order: it turns the first three away, then completes two. Once those two are
  // stored the scheduler has the three back, to run again a second later.
  wait_completed_count(id, 2);
  advance_when_asleep(std::chrono::milliseconds(999));
  ASSERT_TRUE(clock_.wait_for_sleepers(kRunnerThreads));
  EXPECT_EQ(engine.submissions().size(), 5u) << "run again before a second passed";
  advance_when_asleep(std::chrono::seconds(1));  // the scheduler looks at least every quarter second
  BatchRecord b = wait_status(id, BatchStatus::kCompleted);
  EXPECT_EQ(b.request_counts.completed, 5);
  EXPECT_EQ(b.request_counts.failed, 0);
  EXPECT_EQ(engine.submissions().size(), 8u);
}

// The job thread looks for expired files whenever a minute passes without a job.
TEST_F(BatchRunnerTest, DeletesAFileAtTheFirstLookAfterItExpires) {
  FakeEngine engine(true);
  open(engine);
  auto up = service_->begin_upload("alice", "notes.txt");
  ASSERT_TRUE(up.is_ok());
  ASSERT_TRUE((*up)->append("some bytes"));
  auto file = service_->get_file("alice", (*up)->finish("user_data", 3600)->id);
  ASSERT_TRUE(file.is_ok()) << file.status().message();
  EXPECT_EQ(file->expires_at, clock_.now_seconds() + 3600);

  advance_when_asleep(std::chrono::seconds(3599));
  ASSERT_TRUE(clock_.wait_for_sleepers(kRunnerThreads));
  EXPECT_TRUE(service_->get_file("alice", file->id).is_ok()) << "deleted before it expired";
  advance_when_asleep(std::chrono::seconds(60));
  ASSERT_TRUE(clock_.wait_for_sleepers(kRunnerThreads));
  EXPECT_TRUE(service_->get_file("alice", file->id).status().is_not_found());
  auto blobs = blobs::open_local_blob_store(dir_.path() + "/files");
  ASSERT_TRUE(blobs.is_ok());
  auto keys = (*blobs)->list();
  EXPECT_EQ(std::count(keys->begin(), keys->end(), file->id), 0) << "its bytes are gone too";
}

}  // namespace
}  // namespace openbatch::batch
