#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include "common/http_status.h"
#include "common/temp_dir.h"
#include "store/records_for_test.h"

namespace openbatch::store {
namespace {

class SqliteStoreTest : public ::testing::Test, public StoreWithRecords {
 protected:
  void SetUp() override { reopen(); }
  void TearDown() override { store_.reset(); }  // before dir_ goes

  void reopen() {
    store_.reset();
    auto s = open_sqlite_store(path());
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    store_ = std::move(s).value();
  }
  std::string path() const { return dir_.path() + "/openbatch.sqlite3"; }

  TempDir dir_;
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
  // enqueued tokens (5), the webhooks' outbox (6), secrets (7), the nodes' models (8) and addresses (9).
  ASSERT_EQ(
      sqlite3_exec(db,
                   "DROP INDEX batch_requests_finished; ALTER TABLE batch_requests DROP COLUMN finished; "
                   "DROP TABLE batch_progress; DROP INDEX batch_requests_unfinished; DROP INDEX "
                   "batch_requests_leased; ALTER TABLE batch_requests DROP COLUMN lease_node; ALTER TABLE "
                   "batch_requests DROP COLUMN lease_until; ALTER TABLE batch_requests DROP COLUMN "
                   "lease_token; ALTER TABLE batches DROP COLUMN job_node; ALTER TABLE batches DROP COLUMN "
                   "job_until; ALTER TABLE batches DROP COLUMN enqueued_tokens; DROP TABLE webhook_events; "
                   "DROP TABLE secrets; DROP TABLE node_models; "
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
  EXPECT_EQ(*store_->keep_secret("owner_ids", "s"), "s");
  ASSERT_TRUE(store_->record_node_models("node-a", {"m"}, "http://127.0.0.1:1", 7, 0));
  EXPECT_EQ(store_->served_models()->size(), 1u);
  EXPECT_EQ(store_->node_urls("m", 0)->size(), 1u);
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

int64_t pragma(sqlite3* db, const char* name) {
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, (std::string("PRAGMA ") + name).c_str(), -1, &stmt, nullptr), SQLITE_OK);
  const int64_t v = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
  sqlite3_finalize(stmt);
  return v;
}

// The bytes of the database and its WAL as they are on disk now.
std::string disk_bytes(const std::string& path) {
  std::string all;
  for (const std::string& p : {path, path + "-wal"}) {
    std::ifstream in(p, std::ios::binary);
    all.append(std::istreambuf_iterator<char>(in), {});
  }
  return all;
}

TEST_F(SqliteStoreTest, AFinalizedBatchsResultsLeaveNoTraceOnDiskAndTheirSpaceIsGivenBack) {
  ASSERT_TRUE(store_->insert_file(file("file-in")));
  constexpr int kLines = 200;
  started_batch("batch_1", kLines);
  std::vector<RequestResult> results;
  for (int line = 1; line <= kLines; ++line) {
    RequestResult r = result("batch_1", line, Outcome::kOutput);
    r.result_line = "{\"secret\":\"RESULT-TEXT-" + std::to_string(line) + "-" + std::string(400, 'z') + "\"}";
    results.push_back(r);
  }
  ASSERT_TRUE(store_->record_results(results));
  ASSERT_NE(disk_bytes(path()).find("RESULT-TEXT-"), std::string::npos) << "the test looks where rows go";
  const auto grown = std::filesystem::file_size(path()) + std::filesystem::file_size(path() + "-wal");
  ASSERT_TRUE(store_->transition("batch_1", {BatchStatus::kInProgress}, BatchStatus::kFinalizing, 3000));
  ASSERT_TRUE(store_->finish_batch("batch_1", {BatchStatus::kFinalizing}, BatchStatus::kCompleted,
                                   file("file-out", "alice", "batch_output"), std::nullopt, 3001));
  // Gone from the pages and from the WAL while the store is open, and the file shrank.
  EXPECT_EQ(disk_bytes(path()).find("RESULT-TEXT-"), std::string::npos);
  EXPECT_LT(std::filesystem::file_size(path()) + std::filesystem::file_size(path() + "-wal"), grown / 2);
  EXPECT_TRUE(store_->stored_results("batch_1", 0, 10, kResultPageBytes)->empty());
  store_.reset();
  EXPECT_EQ(disk_bytes(path()).find("RESULT-TEXT-"), std::string::npos);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path().c_str(), &db), SQLITE_OK);
  EXPECT_EQ(pragma(db, "auto_vacuum"), 2);  // incremental
  EXPECT_EQ(pragma(db, "freelist_count"), 0);
  sqlite3_close(db);
}

TEST_F(SqliteStoreTest, ADatabaseMadeWithoutAutoVacuumIsRewrittenOnceAndKeepsItsRecords) {
  ASSERT_TRUE(store_->insert_file(file("file-in")));
  started_batch("batch_1", 3);
  store_.reset();
  // As an older openbatch left it: no auto-vacuum.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA auto_vacuum=NONE; VACUUM", nullptr, nullptr, nullptr), SQLITE_OK);
  ASSERT_EQ(pragma(db, "auto_vacuum"), 0);
  sqlite3_close(db);
  reopen();
  EXPECT_TRUE(store_->get_file("alice", "file-in").is_ok());
  EXPECT_EQ(store_->get_batch("alice", "batch_1")->request_counts.total, 3);
  store_.reset();
  ASSERT_EQ(sqlite3_open(path().c_str(), &db), SQLITE_OK);
  EXPECT_EQ(pragma(db, "auto_vacuum"), 2);
  sqlite3_close(db);
}

}  // namespace
}  // namespace openbatch::store
