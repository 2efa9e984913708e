// SqliteStore when a statement fails (SqliteOptions::fail_statement, as a full disk fails it): every
// operation either happens wholly or leaves the store as it was, whichever of its statements fails,
// and a failed BEGIN runs nothing at all.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "common/temp_dir.h"
#include "store/sqlite_store.h"

namespace openbatch::store {
namespace {

// Fails the n-th statement (1-based) whose SQL starts with prefix, counting from arm(); records every
// statement asked about meanwhile.
struct Fault {
  std::string prefix;
  int nth = 0;
  int seen = 0;
  bool armed = false;
  std::vector<std::string> statements;

  void arm(std::string p, int n = 1) {
    prefix = std::move(p);
    nth = n;
    seen = 0;
    armed = true;
    statements.clear();
  }
  void disarm() { armed = false; }
  bool operator()(std::string_view sql) {
    if (!armed) return false;
    statements.emplace_back(sql);
    if (sql.rfind(prefix, 0) == 0 && ++seen == nth) return true;
    return false;
  }
};

class SqliteStoreFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SqliteOptions o;
    o.fail_statement = [this](std::string_view sql) { return fault_(sql); };
    auto s = open_sqlite_store(dir_.path() + "/openbatch.sqlite3", std::move(o));
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    store_ = std::move(s).value();
    FileRecord f;
    f.id = "file-in";
    f.owner = "alice";
    f.filename = "in.jsonl";
    f.purpose = "batch";
    f.bytes = 10;
    f.created_at = 1000;
    ASSERT_TRUE(store_->insert_file(f));
  }

  BatchRecord batch(const std::string& id) {
    BatchRecord b;
    b.id = id;
    b.owner = "alice";
    b.endpoint = "/v1/chat/completions";
    b.input_file_id = "file-in";
    b.completion_window = "24h";
    b.created_at = 2000;
    b.expires_at = 2000 + 86400;
    return b;
  }
  static std::vector<RequestRecord> requests(int n) {
    std::vector<RequestRecord> out;
    for (int i = 1; i <= n; ++i) out.push_back({i, "c" + std::to_string(i), (i - 1) * 100, 99});
    return out;
  }
  static RequestResult result(const std::string& batch_id, int64_t line) {
    RequestResult r;
    r.batch_id = batch_id;
    r.line = line;
    r.outcome = Outcome::kOutput;
    r.result_line = "{\"line\":" + std::to_string(line) + "}";
    r.usage.input_tokens = 5;
    return r;
  }
  // The batch as stored, with no fault armed.
  BatchRecord stored(const std::string& id) {
    fault_.disarm();
    auto b = store_->get_batch_any_owner(id);
    EXPECT_TRUE(b.is_ok()) << b.status().message();
    return b.is_ok() ? *b : BatchRecord{};
  }
  size_t pending(const std::string& id) {
    fault_.disarm();
    auto p = store_->pending_requests(id);
    EXPECT_TRUE(p.is_ok());
    return p.is_ok() ? p->size() : 0;
  }
  static void expect_disk_full(const Status& s) {
    ASSERT_FALSE(s.is_ok());
    EXPECT_TRUE(s.is_internal()) << s.message();
    EXPECT_NE(s.message().find("full"), std::string::npos) << s.message();
  }

  TempDir dir_;
  Fault fault_;
  std::unique_ptr<Store> store_;
};

TEST_F(SqliteStoreFaultTest, AFailedBeginRunsNothingInAutocommit) {
  ASSERT_TRUE(store_->insert_batch(batch("batch_a")));
  fault_.arm("BEGIN");
  expect_disk_full(store_->start_batch("batch_a", "tiny", requests(3), 2001, {}));
  // BEGIN was the only statement: none ran outside a transaction.
  EXPECT_EQ(fault_.statements, std::vector<std::string>{"BEGIN IMMEDIATE"});
  EXPECT_EQ(stored("batch_a").status, BatchStatus::kValidating);
  EXPECT_EQ(stored("batch_a").request_counts.total, 0);
  EXPECT_EQ(pending("batch_a"), 0u);

  // The same for every operation that writes.
  const std::vector<std::function<Status()>> writes = {
      [&] {
        return store_->fail_batch("batch_a", {{"invalid_json_line", "x", "", 1}}, 2001);
      },
      [&] {
        return store_->transition("batch_a", {BatchStatus::kValidating}, BatchStatus::kCancelling, 2001);
      },
      [&] { return store_->delete_file("alice", "file-in"); },
      [&] {
        return store_->finish_batch("batch_a", {BatchStatus::kValidating}, BatchStatus::kFailed, std::nullopt,
                                    std::nullopt, 2001);
      },
  };
  for (const auto& write : writes) {
    fault_.arm("BEGIN");
    expect_disk_full(write());
    EXPECT_EQ(fault_.statements, std::vector<std::string>{"BEGIN IMMEDIATE"});
  }
  EXPECT_EQ(stored("batch_a").status, BatchStatus::kValidating);
  EXPECT_TRUE(store_->get_file("alice", "file-in").is_ok());
}

TEST_F(SqliteStoreFaultTest, StartingABatchHappensWhollyOrNotAtAll) {
  ASSERT_TRUE(store_->insert_batch(batch("batch_a")));
  // Each statement of start_batch in turn: the status check, the 2nd and the 5th insert, the update,
  // the commit.
  const std::vector<std::pair<std::string, int>> faults = {{"SELECT status", 1},
                                                           {"INSERT INTO batch_requests", 2},
                                                           {"INSERT INTO batch_requests", 5},
                                                           {"UPDATE batches", 1},
                                                           {"COMMIT", 1}};
  for (const auto& [prefix, nth] : faults) {
    fault_.arm(prefix, nth);
    expect_disk_full(store_->start_batch("batch_a", "tiny", requests(5), 2001, {}));
    EXPECT_GE(fault_.seen, nth) << prefix;
    const BatchRecord b = stored("batch_a");
    EXPECT_EQ(b.status, BatchStatus::kValidating) << prefix << " " << nth;
    EXPECT_EQ(b.request_counts.total, 0) << prefix;
    EXPECT_EQ(pending("batch_a"), 0u) << "rows left behind by a failed " << prefix << " " << nth;
  }
  // Once the disk has room, it starts, whole.
  fault_.disarm();
  ASSERT_TRUE(store_->start_batch("batch_a", "tiny", requests(5), 2001, {}));
  EXPECT_EQ(stored("batch_a").status, BatchStatus::kInProgress);
  EXPECT_EQ(stored("batch_a").request_counts.total, 5);
  EXPECT_EQ(pending("batch_a"), 5u);
}

TEST_F(SqliteStoreFaultTest, ResultsAreStoredWithTheirCountsOrNotAtAll) {
  ASSERT_TRUE(store_->insert_batch(batch("batch_a")));
  ASSERT_TRUE(store_->start_batch("batch_a", "tiny", requests(4), 2001, {}));
  const std::vector<RequestResult> results = {result("batch_a", 1), result("batch_a", 2),
                                              result("batch_a", 3)};
  for (const auto& [prefix, nth] : std::vector<std::pair<std::string, int>>{
           {"UPDATE batch_requests", 3}, {"UPDATE batches", 1}, {"COMMIT", 1}}) {
    fault_.arm(prefix, nth);
    expect_disk_full(store_->record_results(results));
    EXPECT_EQ(pending("batch_a"), 4u) << "a result kept without its count: " << prefix;
    EXPECT_EQ(stored("batch_a").request_counts.completed, 0) << prefix;
    EXPECT_EQ(stored("batch_a").usage.input_tokens, 0) << prefix;
  }
  fault_.disarm();
  ASSERT_TRUE(store_->record_results(results));
  EXPECT_EQ(pending("batch_a"), 1u);
  EXPECT_EQ(stored("batch_a").request_counts.completed, 3);
  EXPECT_EQ(stored("batch_a").usage.input_tokens, 15);
}

TEST_F(SqliteStoreFaultTest, FinishingABatchHappensWhollyOrNotAtAll) {
  ASSERT_TRUE(store_->insert_batch(batch("batch_a")));
  ASSERT_TRUE(store_->start_batch("batch_a", "tiny", requests(2), 2001, {}));
  FileRecord out;
  out.id = "file-out";
  out.owner = "alice";
  out.filename = "batch_a_output.jsonl";
  out.purpose = "batch_output";
  out.created_at = 3000;
  FileRecord err = out;
  err.id = "file-err";
  for (const auto& [prefix, nth] :
       std::vector<std::pair<std::string, int>>{{"INSERT INTO files", 2},
                                                {"UPDATE batches SET output_file_id", 1},
                                                {"UPDATE batches SET status", 1},
                                                {"DELETE FROM batch_requests", 1},
                                                {"COMMIT", 1}}) {
    fault_.arm(prefix, nth);
    expect_disk_full(
        store_->finish_batch("batch_a", {BatchStatus::kInProgress}, BatchStatus::kCompleted, out, err, 3000));
    EXPECT_GE(fault_.seen, nth) << prefix;
    const BatchRecord b = stored("batch_a");
    EXPECT_EQ(b.status, BatchStatus::kInProgress) << prefix;
    EXPECT_EQ(b.output_file_id, "") << prefix;
    EXPECT_FALSE(b.completed_at) << prefix;
    EXPECT_EQ(pending("batch_a"), 2u) << prefix;
    EXPECT_FALSE(store_->get_file("alice", "file-out").is_ok()) << "a file record left by " << prefix;
    EXPECT_FALSE(store_->get_file("alice", "file-err").is_ok()) << prefix;
  }
  fault_.disarm();
  ASSERT_TRUE(
      store_->finish_batch("batch_a", {BatchStatus::kInProgress}, BatchStatus::kCompleted, out, err, 3000));
  EXPECT_EQ(stored("batch_a").status, BatchStatus::kCompleted);
  EXPECT_TRUE(store_->get_file("alice", "file-out").is_ok());
}

}  // namespace
}  // namespace openbatch::store
