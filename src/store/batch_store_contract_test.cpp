// The store contract (store/store_contract_fixture_for_test.h) of batches and their lifecycle.
#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "store/store_contract_fixture_for_test.h"

namespace openbatch::store {
namespace {

TEST_P(StoreContractTest, BatchesRoundTripAndListNewestFirst) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store_->insert_batch(batch("batch_" + std::to_string(i))));
  ASSERT_TRUE(store_->insert_batch(batch("batch_bob", "file-in", "bob")));
  auto b = store_->get_batch("alice", "batch_1");
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ(b->status, BatchStatus::kValidating);
  EXPECT_EQ(b->metadata, nlohmann::ordered_json({{"k", "v"}}));
  EXPECT_EQ(b->expires_at, 2000 + 86400);
  EXPECT_FALSE(b->in_progress_at.has_value());
  EXPECT_TRUE(store_->get_batch("bob", "batch_1").status().is_not_found());
  EXPECT_TRUE(store_->get_batch_any_owner("batch_bob").is_ok());

  ListQuery q;
  q.limit = 2;
  auto page = store_->list_batches("alice", q);
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[0].id, "batch_2");
  EXPECT_TRUE(page->has_more);
  q.after = page->items.back().id;
  page = store_->list_batches("alice", q);
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].id, "batch_0");
  EXPECT_FALSE(page->has_more);
}

TEST_P(StoreContractTest, ValidationStartsOrFailsABatchOnce) {
  started_batch("batch_1", 3);
  auto b = store_->get_batch("alice", "batch_1");
  EXPECT_EQ(b->status, BatchStatus::kInProgress);
  EXPECT_EQ(b->in_progress_at, 2001);
  EXPECT_EQ(b->model, "tiny");
  EXPECT_EQ(b->request_counts.total, 3);
  EXPECT_TRUE(store_->start_batch("batch_1", "tiny", {}, 1, {}).is_conflict());

  ASSERT_TRUE(store_->insert_batch(batch("batch_2")));
  ASSERT_TRUE(store_->fail_batch(
      "batch_2", {{"invalid_json_line", "bad", "", 4}, {"file_too_large", "big", "x", {}}}, 7));
  b = store_->get_batch("alice", "batch_2");
  EXPECT_EQ(b->status, BatchStatus::kFailed);
  EXPECT_EQ(b->failed_at, 7);
  ASSERT_EQ(b->errors.size(), 2u);
  EXPECT_EQ(b->errors[0].code, "invalid_json_line");
  EXPECT_EQ(b->errors[0].line, 4);
  EXPECT_EQ(b->errors[0].param, "");
  EXPECT_EQ(b->errors[1].param, "x");
  EXPECT_FALSE(b->errors[1].line.has_value());
}

TEST_P(StoreContractTest, AnOwnersUnfinishedBatchesStayWithinItsEnqueuedTokenLimit) {
  auto start = [&](const std::string& id, const std::string& owner, int64_t tokens) {
    EXPECT_TRUE(store_->insert_batch(batch(id, "file-in", owner)));
    return store_->start_batch(id, "tiny", {{1, "c1", 0, 9}}, 2001, {tokens, 100});
  };
  ASSERT_TRUE(start("batch_1", "alice", 60));
  Status refused = start("batch_2", "alice", 50);
  EXPECT_TRUE(refused.is_rate_limited());
  EXPECT_EQ(refused.code(), "token_limit_exceeded");
  auto b = store_->get_batch("alice", "batch_2");
  EXPECT_EQ(b->status, BatchStatus::kValidating);  // nothing changed: the caller fails it
  EXPECT_EQ(b->request_counts.total, 0);
  EXPECT_TRUE(store_->pending_requests("batch_2")->empty());
  ASSERT_TRUE(start("batch_3", "bob", 50));             // another owner's limit
  ASSERT_TRUE(start("batch_4", "alice", 40));           // 60 + 40: exactly the limit
  ASSERT_TRUE(store_->insert_batch(batch("batch_5")));  // validating, counted once it starts
  ASSERT_TRUE(store_->transition("batch_4", {BatchStatus::kInProgress}, BatchStatus::kFinalizing, 2002));
  EXPECT_TRUE(start("batch_6", "alice", 1).is_rate_limited());  // finalizing still holds its tokens

  // An ended batch holds none; a failed one never held any.
  ASSERT_TRUE(store_->finish_batch("batch_1", {BatchStatus::kInProgress}, BatchStatus::kCompleted,
                                   std::nullopt, std::nullopt, 2003));
  ASSERT_TRUE(store_->fail_batch("batch_2", {{"token_limit_exceeded", "m", "", {}}}, 2003));
  EXPECT_TRUE(store_->start_batch("batch_5", "tiny", {{1, "c1", 0, 9}}, 2004, {60, 100}));  // 40 + 60
  EXPECT_TRUE(start("batch_7", "alice", 1).is_rate_limited());
  // Without a limit a batch starts whatever the others hold, and then holds its own tokens.
  ASSERT_TRUE(start("batch_8", "bob", 10));
  ASSERT_TRUE(store_->insert_batch(batch("batch_9", "file-in", "bob")));
  ASSERT_TRUE(store_->start_batch("batch_9", "tiny", {{1, "c1", 0, 9}}, 2005, {500, 0}));
  EXPECT_TRUE(start("batch_10", "bob", 1).is_rate_limited());
}

TEST_P(StoreContractTest, BatchesStartedAtOnceByManyNodesNeverPassTheLimitTogether) {
  constexpr int kNodes = 6;
  for (int n = 0; n < kNodes; ++n) ASSERT_TRUE(store_->insert_batch(batch("batch_" + std::to_string(n))));
  // Each node's store, opened one after the other (the contract is about starting at once).
  std::vector<std::unique_ptr<Store>> stores;
  for (int n = 0; n < kNodes; ++n) {
    stores.push_back(open_again());
    ASSERT_TRUE(stores.back());
  }
  std::vector<std::thread> nodes;
  std::vector<Status> got(kNodes);
  for (int n = 0; n < kNodes; ++n) {
    nodes.emplace_back([&, n] {
      Store* s = stores[n].get();
      for (int attempt = 0; attempt < 100; ++attempt) {  // SQLite may be busy for a moment
        got[n] = s->start_batch("batch_" + std::to_string(n), "tiny", {{1, "c1", 0, 9}}, 2001, {60, 100});
        if (!got[n].is_unavailable() && !got[n].is_internal()) break;
      }
    });
  }
  for (auto& t : nodes) t.join();
  int started = 0;
  for (const Status& st : got) {
    if (st) {
      ++started;
    } else {
      EXPECT_EQ(st.code(), "token_limit_exceeded") << st.message();
    }
  }
  EXPECT_EQ(started, 1);
}

TEST_P(StoreContractTest, CancelConflictsUseOpenAIsMessage) {
  started_batch("batch_1", 1);
  ASSERT_TRUE(store_->transition("batch_1", {BatchStatus::kInProgress}, BatchStatus::kFinalizing, 5));
  ASSERT_TRUE(store_->finish_batch("batch_1", {BatchStatus::kFinalizing}, BatchStatus::kCompleted,
                                   std::nullopt, std::nullopt, 6));
  Status s = store_->transition("batch_1", {BatchStatus::kValidating, BatchStatus::kInProgress},
                                BatchStatus::kCancelling, 7);
  EXPECT_TRUE(s.is_conflict());
  EXPECT_EQ(s.message(), "Cannot cancel a batch with status 'completed'.");
  auto b = store_->get_batch("alice", "batch_1");
  EXPECT_EQ(b->finalizing_at, 5);
  EXPECT_EQ(b->completed_at, 6);
  EXPECT_FALSE(b->cancelling_at.has_value());
  EXPECT_TRUE(
      store_->transition("batch_x", {BatchStatus::kInProgress}, BatchStatus::kCancelling, 7).is_not_found());
}

TEST_P(StoreContractTest, FinishingRecordsTheFilesAndTheStatusInOneStep) {
  ASSERT_TRUE(store_->insert_file(file("file-in")));
  started_batch("batch_1", 2);
  ASSERT_TRUE(store_->record_results(
      {result("batch_1", 1, Outcome::kOutput), result("batch_1", 2, Outcome::kError)}));
  ASSERT_TRUE(store_->transition("batch_1", {BatchStatus::kInProgress}, BatchStatus::kFinalizing, 10));
  FileRecord out = file("file-out", "alice", "batch_output");
  FileRecord err = file("file-err", "alice", "batch_output");
  ASSERT_TRUE(
      store_->finish_batch("batch_1", {BatchStatus::kFinalizing}, BatchStatus::kCompleted, out, err, 11));
  auto b = store_->get_batch("alice", "batch_1");
  EXPECT_EQ(b->status, BatchStatus::kCompleted);
  EXPECT_EQ(b->output_file_id, "file-out");
  EXPECT_EQ(b->error_file_id, "file-err");
  EXPECT_TRUE(store_->get_file("alice", "file-out").is_ok());
  EXPECT_TRUE(
      store_->stored_results("batch_1", 0, 10, kResultPageBytes)->empty());  // rows forgotten, counts kept
  EXPECT_EQ(b->request_counts.completed, 1);

  // A second finish (a repeated finalization) changes nothing.
  FileRecord again = file("file-again", "alice", "batch_output");
  EXPECT_TRUE(store_
                  ->finish_batch("batch_1", {BatchStatus::kFinalizing}, BatchStatus::kCompleted, again,
                                 std::nullopt, 12)
                  .is_conflict());
  EXPECT_TRUE(store_->get_file("alice", "file-again").status().is_not_found());
}

TEST_P(StoreContractTest, FindsUnfinishedBatchesAndExpiredFiles) {
  ASSERT_TRUE(store_->insert_file(file("file-in")));
  FileRecord old = file("file-old");
  old.expires_at = 100;
  ASSERT_TRUE(store_->insert_file(old));
  FileRecord used = file("file-used");
  used.expires_at = 100;
  ASSERT_TRUE(store_->insert_file(used));
  started_batch("batch_1", 1);
  ASSERT_TRUE(store_->insert_batch(batch("batch_2", "file-used")));

  auto active = store_->batches_with_status({BatchStatus::kValidating, BatchStatus::kInProgress});
  ASSERT_EQ(active->size(), 2u);
  auto expired = store_->expired_files(100, 10);
  ASSERT_EQ(expired->size(), 1u);  // file-used is the input of a validating batch
  EXPECT_EQ((*expired)[0].id, "file-old");
  EXPECT_TRUE(store_->expired_files(99, 10)->empty());
  EXPECT_EQ(store_->all_file_ids()->size(), 3u);
}

TEST_P(StoreContractTest, SurvivesReopening) {
  ASSERT_TRUE(store_->insert_file(file("file-in")));
  started_batch("batch_1", 2);
  ASSERT_TRUE(store_->record_results({result("batch_1", 2, Outcome::kOutput, 3)}));
  reopen();
  auto b = store_->get_batch("alice", "batch_1");
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ(b->status, BatchStatus::kInProgress);
  EXPECT_EQ(b->request_counts.completed, 1);
  EXPECT_EQ(store_->pending_requests("batch_1")->size(), 1u);
}

TEST_P(StoreContractTest, MetadataKeepsTheOrderItWasGivenIn) {
  BatchRecord b = batch("batch_1");
  b.metadata = nlohmann::ordered_json::object();
  b.metadata["zeta"] = "1";
  b.metadata["alpha"] = "2";
  b.metadata["mid"] = "3";
  ASSERT_TRUE(store_->insert_batch(b));
  EXPECT_EQ(store_->get_batch("alice", "batch_1")->metadata.dump(), R"({"zeta":"1","alpha":"2","mid":"3"})");
}

// A claim takes at most its limit, whatever plan the database picks. On PostgreSQL, once the statistics
// knew finished batches but not the new one, the planner put the claim's subquery inside a nested
// loop over the batch's rows and ran it again for each row, each time locking the next rows: a fleet
// node took 1,904 of 2,000 requests in one claim while the other nodes idled.

}  // namespace
}  // namespace openbatch::store
