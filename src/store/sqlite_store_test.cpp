#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "common/http_status.h"
#include "common/temp_dir.h"
#include "store/records_for_test.h"

namespace openbatch::store {
namespace {

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { reopen(); }

  void reopen() {
    store_.reset();
    auto s = open_sqlite_store(path());
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    store_ = std::move(s).value();
  }
  std::string path() const { return dir_.path() + "/openbatch.sqlite3"; }

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
  std::unique_ptr<Store> store_;
};

TEST_F(SqliteStoreTest, MigratesADatabaseOfTheFirstSchema) {
  // A database written by the first schema (before progress samples) opens, keeps its batches and
  // takes samples.
  ASSERT_TRUE(store_->insert_file(file("file-in")));
  started_batch("batch_1", 2);
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path().c_str(), &db), SQLITE_OK);
  // What the later migrations added goes: progress samples (2), leases (3), finish order (4),
  // enqueued tokens (5), the webhooks' outbox (6).
  ASSERT_EQ(
      sqlite3_exec(db,
                   "DROP INDEX batch_requests_finished; ALTER TABLE batch_requests DROP COLUMN finished; "
                   "DROP TABLE batch_progress; DROP INDEX batch_requests_unfinished; DROP INDEX "
                   "batch_requests_leased; ALTER TABLE batch_requests DROP COLUMN lease_node; ALTER TABLE "
                   "batch_requests DROP COLUMN lease_until; ALTER TABLE batch_requests DROP COLUMN "
                   "lease_token; ALTER TABLE batches DROP COLUMN job_node; ALTER TABLE batches DROP COLUMN "
                   "job_until; ALTER TABLE batches DROP COLUMN enqueued_tokens; DROP TABLE webhook_events; "
                   "PRAGMA user_version=1",
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  reopen();
  EXPECT_EQ(store_->get_batch("alice", "batch_1")->request_counts.total, 2);
  ASSERT_TRUE(store_->sample_progress("batch_1", 5));
  EXPECT_EQ(store_->progress_samples("batch_1", 0)->size(), 1u);
  EXPECT_EQ(store_->claim_requests("batch_1", "node-a", 5, 1, 2)->size(), 2u);
  ASSERT_TRUE(store_->record_results({{"batch_1", 2, Outcome::kOutput, "{}", {}, 0}}));
  EXPECT_EQ(store_->finished_results("batch_1", 0, 5, kResultPageBytes)->size(), 1u);
  EXPECT_TRUE(store_->claim_events("node-a", 5, 1, 2)->empty());
}

TEST_F(SqliteStoreTest, UsesWalAndRefusesANewerSchema) {
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path().c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto s = open_sqlite_store(path());
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.status().message().find("99"), std::string::npos);
}

}  // namespace
}  // namespace openbatch::store
