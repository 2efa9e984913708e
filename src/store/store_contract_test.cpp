#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include "common/http_status.h"
#include "common/temp_dir.h"
#include "postgres/connection.h"
#include "store/postgres_server_for_test.h"
#include "store/records_for_test.h"
#include "store/store.h"

namespace openbatch::store {
namespace {

// One PostgreSQL server for the tests of this process, started at first use.
std::string& postgres_start_error() {
  static std::string error;
  return error;
}
testing::PostgresServer* postgres_server() {
  static std::unique_ptr<testing::PostgresServer> server = [] {
    auto s = testing::PostgresServer::start();
    if (!s) {
      postgres_start_error() = s.status().message();
      return std::unique_ptr<testing::PostgresServer>();
    }
    return std::move(s).value();
  }();
  return server.get();
}

// The behaviour every Store must have, run against each of them: SQLite, and PostgreSQL on a server
// the test starts itself (store/postgres_server_for_test.h).
class StoreContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres") {
      ASSERT_TRUE(postgres_server()) << postgres_start_error();
      auto url = postgres_server()->create_database();
      ASSERT_TRUE(url.is_ok()) << url.status().message();
      url_ = *url;
    } else {
      url_ = dir_.path() + "/openbatch.sqlite3";
    }
    reopen();
  }

  // A new Store object on the same database (a restarted process, another node).
  std::unique_ptr<Store> open_again(const StoreOptions& options = {}) {
    auto s = open_store(url_, options);
    EXPECT_TRUE(s.is_ok()) << s.status().message();
    return s ? std::move(s).value() : nullptr;
  }
  void reopen() {
    store_.reset();
    store_ = open_again();
    ASSERT_TRUE(store_);
  }

  FileRecord file(const std::string& id, const std::string& owner = "alice",
                  const std::string& purpose = "batch") {
    return test_file(id, owner, purpose);
  }
  BatchRecord batch(const std::string& id, const std::string& input = "file-in",
                    const std::string& owner = "alice") {
    return test_batch(id, input, owner);
  }
  // A batch with n requests, in progress.
  void started_batch(const std::string& id, int n) { start_test_batch(*store_, id, n); }
  RequestResult result(const std::string& batch_id, int64_t line, Outcome outcome, int input_tokens = 0) {
    return test_result(batch_id, line, outcome, input_tokens);
  }

  TempDir dir_;
  std::string url_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreContractTest, FilesRoundTripAndBelongToTheirOwner) {
  FileRecord f = file("file-a");
  f.expires_at = 5000;
  ASSERT_TRUE(store_->insert_file(f));
  auto got = store_->get_file("alice", "file-a");
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(got->filename, "file-a.jsonl");
  EXPECT_EQ(got->purpose, "batch");
  EXPECT_EQ(got->bytes, 10);
  EXPECT_EQ(got->expires_at, 5000);
  EXPECT_EQ(http_status_of(store_->get_file("bob", "file-a").status()), 404);
  EXPECT_EQ(http_status_of(store_->get_file("alice", "file-x").status()), 404);
  EXPECT_EQ(http_status_of(store_->delete_file("bob", "file-a")), 404);
  EXPECT_TRUE(store_->delete_file("alice", "file-a"));
  EXPECT_EQ(http_status_of(store_->get_file("alice", "file-a").status()), 404);
}

TEST_P(StoreContractTest, ListsFilesByPageOrderAndPurpose) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store_->insert_file(file("file-" + std::to_string(i))));
  ASSERT_TRUE(store_->insert_file(file("file-out", "alice", "batch_output")));
  ASSERT_TRUE(store_->insert_file(file("file-bob", "bob")));

  ListQuery q;
  q.limit = 2;
  auto page = store_->list_files("alice", q);
  ASSERT_TRUE(page.is_ok());
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[0].id, "file-out");  // newest first
  EXPECT_EQ(page->items[1].id, "file-4");
  EXPECT_TRUE(page->has_more);

  q.after = "file-4";
  page = store_->list_files("alice", q);
  EXPECT_EQ(page->items[0].id, "file-3");
  EXPECT_EQ(page->items[1].id, "file-2");
  EXPECT_TRUE(page->has_more);

  q.after = "file-1";
  page = store_->list_files("alice", q);
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].id, "file-0");
  EXPECT_FALSE(page->has_more);

  ListQuery asc;
  asc.ascending = true;
  asc.purpose = "batch";
  asc.limit = 100;
  page = store_->list_files("alice", asc);
  ASSERT_EQ(page->items.size(), 5u);
  EXPECT_EQ(page->items.front().id, "file-0");
  EXPECT_EQ(page->items.back().id, "file-4");
  EXPECT_FALSE(page->has_more);

  ListQuery others;
  others.after = "file-bob";  // another owner's id is no cursor
  EXPECT_TRUE(store_->list_files("alice", others)->items.empty());
}

TEST_P(StoreContractTest, AFileInUseByARunningBatchCannotBeDeleted) {
  ASSERT_TRUE(store_->insert_file(file("file-in")));
  started_batch("batch_1", 2);
  Status s = store_->delete_file("alice", "file-in");
  EXPECT_EQ(http_status_of(s), 409);
  EXPECT_NE(s.message().find("batch_1"), std::string::npos);
  ASSERT_TRUE(store_->transition("batch_1", {BatchStatus::kInProgress}, BatchStatus::kCancelling, 3000));
  EXPECT_EQ(http_status_of(store_->delete_file("alice", "file-in")), 409);
  ASSERT_TRUE(store_->finish_batch("batch_1", {BatchStatus::kCancelling}, BatchStatus::kCancelled,
                                   std::nullopt, std::nullopt, 3001));
  EXPECT_TRUE(store_->delete_file("alice", "file-in"));
}

TEST_P(StoreContractTest, BatchesRoundTripAndListNewestFirst) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store_->insert_batch(batch("batch_" + std::to_string(i))));
  ASSERT_TRUE(store_->insert_batch(batch("batch_bob", "file-in", "bob")));
  auto b = store_->get_batch("alice", "batch_1");
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ(b->status, BatchStatus::kValidating);
  EXPECT_EQ(b->metadata, nlohmann::ordered_json({{"k", "v"}}));
  EXPECT_EQ(b->expires_at, 2000 + 86400);
  EXPECT_FALSE(b->in_progress_at.has_value());
  EXPECT_EQ(http_status_of(store_->get_batch("bob", "batch_1").status()), 404);
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
  EXPECT_EQ(http_status_of(store_->start_batch("batch_1", "tiny", {}, 1, {})), 409);

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
  EXPECT_EQ(http_status_of(refused), 429);
  EXPECT_EQ(refused.code(), "token_limit_exceeded");
  auto b = store_->get_batch("alice", "batch_2");
  EXPECT_EQ(b->status, BatchStatus::kValidating);  // nothing changed: the caller fails it
  EXPECT_EQ(b->request_counts.total, 0);
  EXPECT_TRUE(store_->pending_requests("batch_2")->empty());
  ASSERT_TRUE(start("batch_3", "bob", 50));             // another owner's limit
  ASSERT_TRUE(start("batch_4", "alice", 40));           // 60 + 40: exactly the limit
  ASSERT_TRUE(store_->insert_batch(batch("batch_5")));  // validating, counted once it starts
  ASSERT_TRUE(store_->transition("batch_4", {BatchStatus::kInProgress}, BatchStatus::kFinalizing, 2002));
  EXPECT_EQ(http_status_of(start("batch_6", "alice", 1)), 429);  // finalizing still holds its tokens

  // An ended batch holds none; a failed one never held any.
  ASSERT_TRUE(store_->finish_batch("batch_1", {BatchStatus::kInProgress}, BatchStatus::kCompleted,
                                   std::nullopt, std::nullopt, 2003));
  ASSERT_TRUE(store_->fail_batch("batch_2", {{"token_limit_exceeded", "m", "", {}}}, 2003));
  EXPECT_TRUE(store_->start_batch("batch_5", "tiny", {{1, "c1", 0, 9}}, 2004, {60, 100}));  // 40 + 60
  EXPECT_EQ(http_status_of(start("batch_7", "alice", 1)), 429);
  // Without a limit a batch starts whatever the others hold, and then holds its own tokens.
  ASSERT_TRUE(start("batch_8", "bob", 10));
  ASSERT_TRUE(store_->insert_batch(batch("batch_9", "file-in", "bob")));
  ASSERT_TRUE(store_->start_batch("batch_9", "tiny", {{1, "c1", 0, 9}}, 2005, {500, 0}));
  EXPECT_EQ(http_status_of(start("batch_10", "bob", 1)), 429);
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
  EXPECT_EQ(http_status_of(s), 409);
  EXPECT_EQ(s.message(), "Cannot cancel a batch with status 'completed'.");
  auto b = store_->get_batch("alice", "batch_1");
  EXPECT_EQ(b->finalizing_at, 5);
  EXPECT_EQ(b->completed_at, 6);
  EXPECT_FALSE(b->cancelling_at.has_value());
  EXPECT_EQ(
      http_status_of(store_->transition("batch_x", {BatchStatus::kInProgress}, BatchStatus::kCancelling, 7)),
      404);
}

TEST_P(StoreContractTest, AResultIsStoredAndCountedOnlyOnce) {
  started_batch("batch_1", 4);
  ASSERT_TRUE(store_->record_results(
      {result("batch_1", 1, Outcome::kOutput, 10), result("batch_1", 2, Outcome::kError)}));
  // Line 1 again (a request that ran twice): ignored, counts unchanged.
  ASSERT_TRUE(store_->record_results(
      {result("batch_1", 1, Outcome::kError, 99), result("batch_1", 3, Outcome::kOutput, 5)}));
  auto b = store_->get_batch("alice", "batch_1");
  EXPECT_EQ(b->request_counts.completed, 2);
  EXPECT_EQ(b->request_counts.failed, 1);
  EXPECT_EQ(b->usage.input_tokens, 15);
  EXPECT_EQ(b->usage.output_tokens, 30);
  EXPECT_EQ(b->usage.cached_tokens, 3);

  auto pending = store_->pending_requests("batch_1");
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].line, 4);
  EXPECT_EQ((*pending)[0].custom_id, "c4");
  EXPECT_EQ((*pending)[0].offset, 300);
  EXPECT_EQ((*pending)[0].length, 99);

  auto rows = store_->stored_results("batch_1", 0, 2, kResultPageBytes);
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].line, 1);
  EXPECT_EQ((*rows)[0].outcome, Outcome::kOutput);
  EXPECT_EQ((*rows)[0].result_line, "{\"line\":1}");
  EXPECT_EQ((*rows)[1].outcome, Outcome::kError);
  rows = store_->stored_results("batch_1", 2, 2, kResultPageBytes);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].line, 3);
}

TEST_P(StoreContractTest, AReadOfResultsStopsAtItsByteBudget) {
  started_batch("batch_1", 3);
  ASSERT_TRUE(
      store_->record_results({result("batch_1", 1, Outcome::kOutput), result("batch_1", 2, Outcome::kError),
                              result("batch_1", 3, Outcome::kOutput)}));
  // Each result line is {"line":N}: 10 bytes.
  auto rows = store_->stored_results("batch_1", 0, 10, 25);
  ASSERT_TRUE(rows.is_ok()) << rows.status().message();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[1].line, 2);
  rows = store_->stored_results("batch_1", 0, 10, 1);  // the first comes however large it is
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].line, 1);
  rows = store_->stored_results("batch_1", 1, 10, 30);
  ASSERT_EQ(rows->size(), 2u);
  auto finished = store_->finished_results("batch_1", 0, 10, 20);
  ASSERT_TRUE(finished.is_ok()) << finished.status().message();
  ASSERT_EQ(finished->size(), 2u);
  finished = store_->finished_results("batch_1", 2, 10, 1);
  ASSERT_EQ(finished->size(), 1u);
  EXPECT_EQ((*finished)[0].line, 3);
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
  EXPECT_EQ(http_status_of(store_->finish_batch("batch_1", {BatchStatus::kFinalizing},
                                                BatchStatus::kCompleted, again, std::nullopt, 12)),
            409);
  EXPECT_EQ(http_status_of(store_->get_file("alice", "file-again").status()), 404);
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

TEST_P(StoreContractTest, ProgressSamplesSnapshotTheStoredCountsAndOutliveTheBatch) {
  ASSERT_TRUE(store_->insert_file(file("file-in")));
  started_batch("batch_1", 3);
  ASSERT_TRUE(store_->sample_progress("batch_1", 10'000));
  ASSERT_TRUE(store_->record_results({result("batch_1", 1, Outcome::kOutput, 4)}));
  ASSERT_TRUE(store_->sample_progress("batch_1", 10'500));
  ASSERT_TRUE(store_->record_results({result("batch_1", 2, Outcome::kError)}));
  ASSERT_TRUE(store_->sample_progress("batch_1", 11'000));
  ASSERT_TRUE(store_->record_results({result("batch_1", 3, Outcome::kOutput, 2)}));
  ASSERT_TRUE(store_->sample_progress("batch_1", 11'000)) << "a second sample at the same time replaces it";
  ASSERT_TRUE(store_->finish_batch("batch_1", {BatchStatus::kInProgress}, BatchStatus::kCompleted,
                                   std::nullopt, std::nullopt, 2002));
  reopen();

  auto all = store_->progress_samples("batch_1", 0);
  ASSERT_TRUE(all.is_ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].at_ms, 10'000);
  EXPECT_EQ((*all)[0].completed, 0);
  EXPECT_EQ((*all)[1].completed, 1);
  EXPECT_EQ((*all)[1].usage.input_tokens, 4);
  EXPECT_EQ((*all)[1].usage.output_tokens, 8);
  EXPECT_EQ((*all)[1].usage.cached_tokens, 1);
  EXPECT_EQ((*all)[2].at_ms, 11'000);
  EXPECT_EQ((*all)[2].completed, 2);
  EXPECT_EQ((*all)[2].failed, 1);
  EXPECT_EQ((*all)[2].usage.input_tokens, 6);

  auto later = store_->progress_samples("batch_1", 10'000);
  ASSERT_TRUE(later.is_ok());
  ASSERT_EQ(later->size(), 2u) << "only samples after after_ms";
  EXPECT_EQ(later->front().at_ms, 10'500);
  EXPECT_TRUE(store_->progress_samples("batch_2", 0)->empty());
  EXPECT_EQ(http_status_of(store_->sample_progress("batch_2", 1)), 404);
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
TEST_P(StoreContractTest, AClaimTakesAtMostItsLimitWhateverThePlan) {
  started_batch("batch_old", 2000);
  if (GetParam() == "postgres") {
    auto db = postgres::Database::open(url_, 1);
    ASSERT_TRUE(db.is_ok()) << db.status().message();
    Status s = (*db)->run([](postgres::Connection& c) -> Status {
      for (const char* sql : {"UPDATE batch_requests SET outcome=1", "ANALYZE"}) {
        auto r = c.exec(sql);
        if (!r) return r.status();
      }
      return Status::ok();
    });
    ASSERT_TRUE(s) << s.message();
  }
  started_batch("batch_1", 300);
  for (int i = 0; i < 3; ++i) {
    auto a = store_->claim_requests("batch_1", "node-a", 16, 1000, 31000);
    ASSERT_TRUE(a.is_ok()) << a.status().message();
    ASSERT_EQ(a->size(), 16u);
    EXPECT_EQ(a->front().line, 1 + 16 * i);
  }
  EXPECT_EQ(store_->request_tally("batch_1", 1000)->leased, 48);
}

TEST_P(StoreContractTest, NodesClaimDifferentRequestsUnderLeases) {
  started_batch("batch_1", 5);
  auto a = store_->claim_requests("batch_1", "node-a", 2, 1000, 31000);
  ASSERT_TRUE(a.is_ok()) << a.status().message();
  ASSERT_EQ(a->size(), 2u);
  EXPECT_EQ((*a)[0].line, 1);
  EXPECT_EQ((*a)[1].line, 2);
  EXPECT_EQ((*a)[0].custom_id, "c1");
  EXPECT_GT((*a)[0].lease_token, 0);
  std::unique_ptr<Store> other = open_again();
  auto b = other->claim_requests("batch_1", "node-b", 10, 1000, 31000);
  ASSERT_EQ(b->size(), 3u) << "what node-a holds is not claimed again";
  EXPECT_EQ((*b)[0].line, 3);
  EXPECT_TRUE(store_->claim_requests("batch_1", "node-c", 10, 1000, 31000)->empty());
  auto tally = store_->request_tally("batch_1", 1000);
  EXPECT_EQ(tally->unfinished, 5);
  EXPECT_EQ(tally->leased, 5);
  EXPECT_EQ(store_->request_tally("batch_1", 31000)->leased, 0) << "lapsed at the deadline";
}

TEST_P(StoreContractTest, ALapsedLeaseGoesToAnotherNodeAndFencesTheFirst) {
  started_batch("batch_1", 2);
  auto first = store_->claim_requests("batch_1", "node-a", 1, 1000, 2000);
  ASSERT_EQ(first->size(), 1u);
  EXPECT_TRUE(store_->claim_requests("batch_1", "node-b", 1, 1500, 2500)->at(0).line == 2);
  // node-a stops renewing; at 2000 its lease has lapsed and node-b takes line 1.
  auto second = store_->claim_requests("batch_1", "node-b", 5, 2000, 9000);
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].line, 1);
  EXPECT_NE((*second)[0].lease_token, (*first)[0].lease_token);
  // The late result of node-a is dropped; node-b's is stored and counted, once.
  RequestResult late = result("batch_1", 1, Outcome::kOutput, 7);
  late.lease_token = (*first)[0].lease_token;
  ASSERT_TRUE(store_->record_results({late}));
  EXPECT_EQ(store_->get_batch("alice", "batch_1")->request_counts.completed, 0);
  RequestResult current = result("batch_1", 1, Outcome::kOutput, 3);
  current.lease_token = (*second)[0].lease_token;
  ASSERT_TRUE(store_->record_results({current, current}));
  auto b = store_->get_batch("alice", "batch_1");
  EXPECT_EQ(b->request_counts.completed, 1);
  EXPECT_EQ(b->usage.input_tokens, 3);
  EXPECT_EQ(store_->request_tally("batch_1", 2000)->unfinished, 1);
}

TEST_P(StoreContractTest, RenewedLeasesHoldAndReleasedOnesAreFreeAtOnce) {
  started_batch("batch_1", 3);
  ASSERT_EQ(store_->claim_requests("batch_1", "node-a", 3, 1000, 2000)->size(), 3u);
  ASSERT_TRUE(store_->lease_batch("batch_1", "node-a", 1000, 2000).value());
  ASSERT_TRUE(store_->renew_leases("node-a", 60000));
  EXPECT_TRUE(store_->claim_requests("batch_1", "node-b", 3, 5000, 9000)->empty()) << "renewed until 60000";
  EXPECT_FALSE(store_->lease_batch("batch_1", "node-b", 5000, 9000).value());
  ASSERT_TRUE(store_->release_batch("batch_1", "node-a"));
  EXPECT_EQ(store_->request_tally("batch_1", 5000)->leased, 0);
  EXPECT_TRUE(store_->lease_batch("batch_1", "node-b", 5000, 9000).value());
  EXPECT_EQ(store_->claim_requests("batch_1", "node-b", 3, 5000, 9000)->size(), 3u);
  ASSERT_TRUE(store_->release_leases("node-b"));
  EXPECT_EQ(store_->claim_requests("batch_1", "node-c", 3, 5000, 9000)->size(), 3u);
  ASSERT_TRUE(store_->release_leases(""));
  EXPECT_EQ(store_->request_tally("batch_1", 5000)->leased, 0);
  EXPECT_EQ(http_status_of(store_->lease_batch("batch_nope", "node-a", 1, 2).status()), 404);
}

TEST_P(StoreContractTest, NothingIsClaimedUnlessTheBatchIsInProgress) {
  started_batch("batch_1", 2);
  ASSERT_TRUE(store_->transition("batch_1", {BatchStatus::kInProgress}, BatchStatus::kCancelling, 5));
  EXPECT_TRUE(store_->claim_requests("batch_1", "node-a", 5, 1000, 2000)->empty());
  // The finalizer's lines for requests that never ran carry no lease: they are stored.
  RequestResult unexecuted = result("batch_1", 1, Outcome::kError);
  ASSERT_TRUE(store_->record_results({unexecuted}));
  EXPECT_EQ(store_->get_batch("alice", "batch_1")->request_counts.failed, 1);
}

TEST_P(StoreContractTest, ManyNodesClaimingAtOnceGetEachRequestOnce) {
  constexpr int kRequests = 400;
  started_batch("batch_1", kRequests);
  std::vector<std::thread> nodes;
  std::vector<std::vector<int64_t>> got(4);
  for (int n = 0; n < 4; ++n) {
    nodes.emplace_back([&, n] {
      std::unique_ptr<Store> s = open_again();
      for (;;) {
        auto c = s->claim_requests("batch_1", "node-" + std::to_string(n), 7, 1000, 60000);
        if (!c.is_ok()) continue;  // SQLite may be busy for a moment
        if (c->empty()) return;
        for (const auto& r : *c) got[n].push_back(r.line);
      }
    });
  }
  for (auto& t : nodes) t.join();
  std::multiset<int64_t> all;
  for (const auto& g : got) all.insert(g.begin(), g.end());
  ASSERT_EQ(all.size(), static_cast<size_t>(kRequests));
  for (int i = 1; i <= kRequests; ++i) EXPECT_EQ(all.count(i), 1u) << i;
}

TEST_P(StoreContractTest, FinishedResultsComeInTheOrderTheyWereStored) {
  started_batch("batch_1", 5);
  ASSERT_TRUE(store_->record_results(
      {result("batch_1", 4, Outcome::kOutput), result("batch_1", 2, Outcome::kError)}));
  ASSERT_TRUE(store_->record_results({result("batch_1", 4, Outcome::kError)}));  // a second result: ignored
  ASSERT_TRUE(store_->record_results({result("batch_1", 1, Outcome::kOutput)}));
  auto rows = store_->finished_results("batch_1", 0, 10, kResultPageBytes);
  ASSERT_TRUE(rows.is_ok()) << rows.status().message();
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].line, 4);
  EXPECT_EQ((*rows)[0].finished, 1);
  EXPECT_EQ((*rows)[0].outcome, Outcome::kOutput);
  EXPECT_EQ((*rows)[1].line, 2);
  EXPECT_EQ((*rows)[1].finished, 2);
  EXPECT_EQ((*rows)[2].line, 1);
  EXPECT_EQ((*rows)[2].finished, 3);
  // The cursor: what came after the last one seen, a page at a time.
  rows = store_->finished_results("batch_1", 1, 1, kResultPageBytes);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].line, 2);
  EXPECT_TRUE(store_->finished_results("batch_1", 3, 10, kResultPageBytes)->empty());
  ASSERT_TRUE(store_->record_results({result("batch_1", 5, Outcome::kOutput)}));
  rows = store_->finished_results("batch_1", 3, 10, kResultPageBytes);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].line, 5);
  EXPECT_EQ((*rows)[0].finished, 4);
}

// Nodes storing results of one batch at once: the places are 1..n, each once, and a reader following
// the cursor meanwhile never skips one (it would if a later place committed before an earlier one).
TEST_P(StoreContractTest, ResultsStoredByManyNodesAtOnceGetEachPlaceOnce) {
  constexpr int kRequests = 120;
  started_batch("batch_1", kRequests);
  std::vector<std::thread> nodes;
  for (int n = 0; n < 3; ++n) {
    nodes.emplace_back([&, n] {
      std::unique_ptr<Store> s = open_again();
      for (int line = 1 + n; line <= kRequests; line += 3) {
        while (!s->record_results({result("batch_1", line, Outcome::kOutput)})) {
        }  // SQLite may be busy for a moment
      }
    });
  }
  std::set<int64_t> seen_lines;
  int64_t cursor = 0;
  std::unique_ptr<Store> reader = open_again();
  while (static_cast<int>(seen_lines.size()) < kRequests) {
    auto rows = reader->finished_results("batch_1", cursor, 7, kResultPageBytes);
    if (!rows.is_ok()) continue;
    for (const auto& r : *rows) {
      EXPECT_EQ(r.finished, cursor + 1);
      cursor = r.finished;
      EXPECT_TRUE(seen_lines.insert(r.line).second) << r.line;
    }
  }
  for (auto& t : nodes) t.join();
  EXPECT_EQ(cursor, kRequests);
}

// ---- webhook events (the outbox)

StoreOptions with_events() {
  StoreOptions o;
  o.batch_events = true;
  return o;
}

TEST_P(StoreContractTest, EveryWayABatchEndsQueuesItsEventWithTheEnd) {
  std::unique_ptr<Store> s = open_again(with_events());
  ASSERT_TRUE(s);
  store_ = std::move(s);
  ASSERT_TRUE(store_->insert_batch(batch("batch_f")));
  ASSERT_TRUE(store_->fail_batch("batch_f", {{"invalid_json_line", "bad", "", 1}}, 2500));
  started_batch("batch_c", 1);
  ASSERT_TRUE(store_->transition("batch_c", {BatchStatus::kInProgress}, BatchStatus::kFinalizing, 2600));
  ASSERT_TRUE(store_->finish_batch("batch_c", {BatchStatus::kFinalizing}, BatchStatus::kCompleted,
                                   std::nullopt, std::nullopt, 2601));
  started_batch("batch_x", 1);
  ASSERT_TRUE(store_->finish_batch("batch_x", {BatchStatus::kInProgress}, BatchStatus::kExpired, std::nullopt,
                                   std::nullopt, 2700));
  started_batch("batch_k", 1);
  ASSERT_TRUE(store_->transition("batch_k", {BatchStatus::kInProgress}, BatchStatus::kCancelling, 2800));
  EXPECT_TRUE(store_->batch_events("batch_k")->empty()) << "cancelling is not an end";
  ASSERT_TRUE(store_->finish_batch("batch_k", {BatchStatus::kCancelling}, BatchStatus::kCancelled,
                                   std::nullopt, std::nullopt, 2801));
  // A second end is refused (409), and queues nothing.
  EXPECT_EQ(http_status_of(store_->finish_batch("batch_k", {BatchStatus::kCancelling},
                                                BatchStatus::kCancelled, std::nullopt, std::nullopt, 2900)),
            409);
  const std::vector<std::tuple<std::string, std::string, int64_t>> want = {
      {"batch_f", "batch.failed", 2500},
      {"batch_c", "batch.completed", 2601},
      {"batch_x", "batch.expired", 2700},
      {"batch_k", "batch.cancelled", 2801}};
  std::set<std::string> ids;
  for (const auto& [batch_id, type, at] : want) {
    auto events = store_->batch_events(batch_id);
    ASSERT_TRUE(events.is_ok()) << events.status().message();
    ASSERT_EQ(events->size(), 1u) << batch_id;
    const EventRecord& e = events->front();
    EXPECT_EQ(e.id.rfind("evt_", 0), 0u) << e.id;
    EXPECT_EQ(e.type, type);
    EXPECT_EQ(e.batch_id, batch_id);
    EXPECT_EQ(e.created_at, at);
    EXPECT_EQ(e.state, EventState::kPending);
    EXPECT_EQ(e.attempts, 0);
    EXPECT_EQ(e.next_attempt_ms, at * 1000);
    ids.insert(e.id);
  }
  EXPECT_EQ(ids.size(), 4u);
  // Oldest first, to whoever claims them; a store without batch_events reads them too (another node).
  auto claimed = open_again()->claim_events("node-a", 10, 3000 * 1000, 3000 * 1000 + 60000);
  ASSERT_TRUE(claimed.is_ok()) << claimed.status().message();
  ASSERT_EQ(claimed->size(), 4u);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ((*claimed)[i].batch_id, std::get<0>(want[i]));
}

TEST_P(StoreContractTest, WithoutBatchEventsNoEventIsQueued) {
  ASSERT_TRUE(store_->insert_batch(batch("batch_f")));
  ASSERT_TRUE(store_->fail_batch("batch_f", {{"invalid_json_line", "bad", "", 1}}, 2500));
  EXPECT_TRUE(store_->batch_events("batch_f")->empty());
  EXPECT_TRUE(store_->claim_events("node-a", 10, 9'000'000, 9'060'000)->empty());
}

TEST_P(StoreContractTest, AnEventIsDeliveredByOneNodeAtATimeAndFencedByItsClaim) {
  store_ = open_again(with_events());
  ASSERT_TRUE(store_->insert_batch(batch("batch_f")));
  ASSERT_TRUE(store_->fail_batch("batch_f", {}, 2500));
  const int64_t now = 2500 * 1000;
  std::unique_ptr<Store> b = open_again();
  EXPECT_TRUE(store_->claim_events("node-a", 10, now - 1, now + 1000)->empty()) << "not due yet";
  auto a_claim = store_->claim_events("node-a", 10, now, now + 1000);
  ASSERT_EQ(a_claim->size(), 1u);
  EXPECT_TRUE(b->claim_events("node-b", 10, now + 999, now + 2000)->empty()) << "node-a holds it";
  auto b_claim = b->claim_events("node-b", 10, now + 1000, now + 2000);  // node-a's claim lapsed
  ASSERT_EQ(b_claim->size(), 1u);
  EXPECT_NE(b_claim->front().lease_token, a_claim->front().lease_token);

  EventAttempt late{a_claim->front().id, a_claim->front().lease_token, EventState::kDelivered, now + 1500,
                    ""};
  EXPECT_FALSE(*store_->record_event_attempt(late)) << "node-a's claim was taken";
  EventAttempt retry{b_claim->front().id, b_claim->front().lease_token, EventState::kPending, now + 5000,
                     "the receiver answered HTTP 500"};
  EXPECT_TRUE(*b->record_event_attempt(retry));
  EXPECT_FALSE(*b->record_event_attempt(retry)) << "one attempt, one record";
  auto e = store_->batch_events("batch_f")->front();
  EXPECT_EQ(e.state, EventState::kPending);
  EXPECT_EQ(e.attempts, 1);
  EXPECT_EQ(e.next_attempt_ms, now + 5000);
  EXPECT_EQ(e.last_error, "the receiver answered HTTP 500");

  EXPECT_TRUE(store_->claim_events("node-a", 10, now + 4999, now + 9000)->empty());
  auto again = store_->claim_events("node-a", 10, now + 5000, now + 9000);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->front().attempts, 1);
  EXPECT_TRUE(*store_->record_event_attempt(
      {again->front().id, again->front().lease_token, EventState::kDelivered, now + 5100, ""}));
  e = b->batch_events("batch_f")->front();
  EXPECT_EQ(e.state, EventState::kDelivered);
  EXPECT_EQ(e.attempts, 2);
  EXPECT_TRUE(store_->claim_events("node-a", 10, now + 999'999'999, now + 999'999'999)->empty());
}

TEST_P(StoreContractTest, AFailedEventIsNeverClaimedAgainAndReleasedClaimsAreDueAtOnce) {
  store_ = open_again(with_events());
  ASSERT_TRUE(store_->insert_batch(batch("batch_1")));
  ASSERT_TRUE(store_->fail_batch("batch_1", {}, 2500));
  ASSERT_TRUE(store_->insert_batch(batch("batch_2")));
  ASSERT_TRUE(store_->fail_batch("batch_2", {}, 2500));
  const int64_t now = 2500 * 1000;
  auto claimed = store_->claim_events("node-a", 10, now, now + 60000);
  ASSERT_EQ(claimed->size(), 2u);
  EXPECT_TRUE(*store_->record_event_attempt(
      {claimed->at(0).id, claimed->at(0).lease_token, EventState::kFailed, now, "gave up"}));
  // A process that died holding a claim: a store used by one process alone ends its claims at start.
  ASSERT_TRUE(open_again()->release_leases("node-a"));
  auto after = store_->claim_events("node-b", 10, now + 1, now + 60000);
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ(after->front().batch_id, "batch_2");
  EXPECT_EQ(store_->batch_events("batch_1")->front().state, EventState::kFailed);
}

TEST_P(StoreContractTest, NodesClaimingAtOnceGetEachEventOnce) {
  store_ = open_again(with_events());
  constexpr int kEvents = 40;
  for (int i = 0; i < kEvents; ++i) {
    const std::string id = "batch_" + std::to_string(i);
    ASSERT_TRUE(store_->insert_batch(batch(id)));
    ASSERT_TRUE(store_->fail_batch(id, {}, 2500));
  }
  std::mutex mu;
  std::multiset<std::string> delivered;
  std::vector<std::thread> nodes;
  for (int n = 0; n < 3; ++n) {
    nodes.emplace_back([&, n] {
      std::unique_ptr<Store> s = open_again();
      const std::string node = "node-" + std::to_string(n);
      for (int round = 0; round < 1000; ++round) {
        auto claimed = s->claim_events(node, 3, 3'000'000, 9'000'000);
        if (!claimed.is_ok()) continue;  // SQLite may be busy for a moment
        if (claimed->empty()) break;
        for (const auto& e : *claimed) {
          while (!s->record_event_attempt({e.id, e.lease_token, EventState::kDelivered, 3'000'000, ""})) {
          }
          std::lock_guard lock(mu);
          delivered.insert(e.id);
        }
      }
    });
  }
  for (auto& t : nodes) t.join();
  EXPECT_EQ(delivered.size(), static_cast<size_t>(kEvents));
  EXPECT_EQ(std::set<std::string>(delivered.begin(), delivered.end()).size(), static_cast<size_t>(kEvents));
}

TEST_P(StoreContractTest, OwnersChangeWithEverythingTheyOwnInOneStep) {
  ASSERT_TRUE(store_->insert_file(file("file-in", "old-a")));
  ASSERT_TRUE(store_->insert_file(file("file-out", "old-a", "batch_output")));
  ASSERT_TRUE(store_->insert_file(file("file-b", "old-b")));
  ASSERT_TRUE(store_->insert_file(file("file-c", "carol")));
  ASSERT_TRUE(store_->insert_batch(batch("batch_a", "file-in", "old-a")));
  ASSERT_TRUE(store_->change_owners({{"old-a", "new-a"}, {"old-b", "new-b"}, {"nobody", "new-n"}}));
  EXPECT_EQ(store_->list_files("new-a", {})->items.size(), 2u);
  EXPECT_TRUE(store_->get_batch("new-a", "batch_a").is_ok());
  EXPECT_TRUE(store_->get_batch("old-a", "batch_a").status().is_not_found());
  EXPECT_TRUE(store_->get_file("old-a", "file-in").status().is_not_found());
  EXPECT_TRUE(store_->get_file("new-b", "file-b").is_ok());
  EXPECT_TRUE(store_->get_file("carol", "file-c").is_ok());
  EXPECT_TRUE(store_->list_files("new-n", {})->items.empty());
  // Again (the next start): nothing of old-a is left to move.
  ASSERT_TRUE(store_->change_owners({{"old-a", "new-a"}}));
  EXPECT_EQ(store_->list_files("new-a", {})->items.size(), 2u);
}

TEST_P(StoreContractTest, StoredBytesCountEveryFileOfTheOwner) {
  EXPECT_EQ(*store_->stored_bytes("alice"), 0);
  FileRecord big = file("file-big");
  big.bytes = 5'000'000'000;  // past 32 bits
  ASSERT_TRUE(store_->insert_file(big));
  ASSERT_TRUE(store_->insert_file(file("file-out", "alice", "batch_output")));
  ASSERT_TRUE(store_->insert_file(file("file-bob", "bob")));
  EXPECT_EQ(*store_->stored_bytes("alice"), 5'000'000'010);
  ASSERT_TRUE(store_->delete_file("alice", "file-big"));
  EXPECT_EQ(*store_->stored_bytes("alice"), 10);
}

TEST_P(StoreContractTest, ASecretIsKeptOnceForEveryNode) {
  EXPECT_EQ(*store_->keep_secret("owner_ids", "first"), "first");
  auto other = open_again();
  EXPECT_EQ(*other->keep_secret("owner_ids", "second"), "first");
  EXPECT_EQ(*other->keep_secret("another", "third"), "third");
  // Many nodes asking at once for a secret none has yet all get the same one.
  std::vector<std::unique_ptr<Store>> nodes;
  for (int i = 0; i < 4; ++i) nodes.push_back(open_again());
  std::vector<std::string> got(nodes.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < nodes.size(); ++i) {
    threads.emplace_back([&, i] {
      auto s = nodes[i]->keep_secret("raced", "candidate-" + std::to_string(i));
      got[i] = s ? *s : "error: " + s.status().message();
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& g : got) EXPECT_EQ(g, got[0]);
  EXPECT_EQ(got[0].rfind("candidate-", 0), 0u) << got[0];
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreContractTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace openbatch::store
