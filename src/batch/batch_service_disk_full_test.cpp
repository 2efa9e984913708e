// A store that keeps failing writes (a full disk): the batch waits with a growing back-off, the log
// says so once when it starts and once when it ends, and nothing is lost.
#include <gtest/gtest.h>

#include <chrono>

#include "batch/batch_service.h"
#include "batch/fake_engine_for_test.h"
#include "common/fake_clock_for_test.h"
#include "common/temp_dir.h"
#include "store/failing_store_for_test.h"

namespace openbatch::batch {
namespace {

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(BatchServiceDiskFullTest, RetriesBackOffAndAreLoggedOncePerChangeOfState) {
  TempDir dir;
  testing::FakeEngine engine(/*auto_complete=*/true);
  testing::FakeClock clock;
  store::testing::FailingStore* store = nullptr;
  BatchServiceOptions o;
  o.data_dir = dir.path();
  o.clock = &clock;
  o.flush_interval = std::chrono::milliseconds(5);
  o.retry_interval = std::chrono::milliseconds(20);
  o.wrap_store = [&store](std::unique_ptr<store::Store> inner) -> std::unique_ptr<store::Store> {
    auto failing = std::make_unique<store::testing::FailingStore>(std::move(inner));
    store = failing.get();
    return failing;
  };
  auto service = BatchService::open(o, engine);
  ASSERT_TRUE(service.is_ok()) << service.status().message();
  std::string input;
  for (int i = 0; i < 10; ++i) {
    input +=
        R"({"custom_id":"r)" + std::to_string(i) +
        R"(","method":"POST","url":"/v1/chat/completions","body":{"model":"tiny","messages":[{"role":"user","content":"hi"}]}})" +
        "\n";
  }
  auto up = (*service)->begin_upload("alice", "in.jsonl");
  ASSERT_TRUE((*up)->append(input));
  auto file = (*up)->finish("batch", std::nullopt);
  ASSERT_TRUE(file.is_ok()) << file.status().message();

  store->fail("record_results", 6);
  store->fail("finish_batch", 3);
  ::testing::internal::CaptureStderr();
  const int64_t began_ms = clock.now_millis();
  (*service)->start();
  auto b = (*service)->create_batch(
      "alice",
      {{"input_file_id", file->id}, {"endpoint", "/v1/chat/completions"}, {"completion_window", "24h"}});
  ASSERT_TRUE(b.is_ok());
  // Time moves 10 ms at a time, each step once both of the runner's threads (the scheduler and the job
  // thread) sleep on the clock: every wait between tries is a wait on it.
  for (int step = 0;
       step < 10'000 && (*service)->get_batch("alice", b->id)->status != store::BatchStatus::kCompleted;
       ++step) {
    ASSERT_TRUE(clock.wait_for_sleepers(2)) << ::testing::internal::GetCapturedStderr();
    clock.advance(std::chrono::milliseconds(10));
  }
  const auto took = std::chrono::milliseconds(clock.now_millis() - began_ms);
  (*service)->stop();
  const std::string log = ::testing::internal::GetCapturedStderr();

  auto done = (*service)->get_batch("alice", b->id);
  ASSERT_EQ(done->status, store::BatchStatus::kCompleted) << log;
  EXPECT_EQ(done->request_counts.completed, 10);
  EXPECT_EQ(store->failed("record_results"), 6);
  EXPECT_EQ(store->failed("finish_batch"), 3);
  // Six failed flushes wait 10, 20, 40, 80, 160 and 320 ms (without the back-off, 5 ms each); three
  // failed finalizations 20, 40 and 80 ms.
  EXPECT_GE(took, std::chrono::milliseconds(600 + 140));
  EXPECT_EQ(count(log, "store results: "), 2u) << log;
  EXPECT_EQ(count(log, "store results: works again after 6 failed tries"), 1u) << log;
  EXPECT_EQ(count(log, "finalize: "), 2u) << log;
  EXPECT_EQ(count(log, "finalize: works again after 3 failed tries"), 1u) << log;
}

}  // namespace
}  // namespace openbatch::batch
