// Power cuts under the SQLite store (store/power_cut_vfs_for_test.h): a scripted life of two batches is
// cut at every write, truncate and sync it makes, in turn; after each cut the unsynced writes are
// dropped and the database opened again. What the store had acknowledged must all be there, and
// nothing else but the one call the cut interrupted: the state is exactly the state after the
// acknowledged calls, or after one more.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "common/temp_dir.h"
#include "store/power_cut_vfs_for_test.h"
#include "store/records_for_test.h"
#include "store/sqlite_store.h"

namespace openbatch::store {
namespace {

using testing::PowerCutVfs;

using Step = std::function<Status(Store&)>;

RequestResult stored_result(const std::string& batch, int64_t line) {
  RequestResult r = test_result(batch, line, line % 4 == 0 ? Outcome::kError : Outcome::kOutput, 3);
  r.result_line = "{\"custom_id\":\"c" + std::to_string(line) + "\"," + std::string(300, ' ') + "}";
  return r;
}

Status record(Store& s, const std::string& batch, int64_t first, int64_t last) {
  std::vector<RequestResult> results;
  for (int64_t line = first; line <= last; ++line) results.push_back(stored_result(batch, line));
  return s.record_results(results);
}

std::vector<RequestRecord> requests(int n) {
  std::vector<RequestRecord> out;
  for (int i = 1; i <= n; ++i) out.push_back({i, "c" + std::to_string(i), (i - 1) * 100, 99});
  return out;
}

// Uploads, a batch run to its end and finalized, a file deleted, a second batch half run.
std::vector<Step> script() {
  return {
      [](Store& s) { return s.insert_file(test_file("file-in")); },
      [](Store& s) { return s.insert_batch(test_batch("batch_1")); },
      [](Store& s) { return s.start_batch("batch_1", "tiny", requests(12), 2001, {}); },
      [](Store& s) { return record(s, "batch_1", 1, 3); },
      [](Store& s) { return record(s, "batch_1", 4, 6); },
      [](Store& s) { return record(s, "batch_1", 7, 9); },
      [](Store& s) { return record(s, "batch_1", 10, 12); },
      [](Store& s) {
        return s.transition("batch_1", {BatchStatus::kInProgress}, BatchStatus::kFinalizing, 3000);
      },
      [](Store& s) {
        return s.finish_batch("batch_1", {BatchStatus::kFinalizing}, BatchStatus::kCompleted,
                              test_file("file-out", "alice", "batch_output"), std::nullopt, 3001);
      },
      [](Store& s) { return s.insert_file(test_file("file-2")); },
      [](Store& s) { return s.delete_file("alice", "file-2"); },
      [](Store& s) { return s.insert_batch(test_batch("batch_2")); },
      [](Store& s) { return s.start_batch("batch_2", "tiny", requests(5), 3002, {}); },
      [](Store& s) { return record(s, "batch_2", 1, 2); },
      [](Store& s) {
        return s.change_owners({{"alice", "kh-alice"}});
      },
  };
}

// What the store holds, as text: files, batches, their counts and stored results.
std::string snapshot(Store& s) {
  std::string out;
  for (const std::string owner : {"alice", "kh-alice"}) {
    ListQuery q;
    q.limit = 100;
    auto files = s.list_files(owner, q);
    if (!files) return "error: " + files.status().message();
    for (const FileRecord& f : files->items)
      out += owner + " file " + f.id + " " + std::to_string(f.bytes) + "\n";
  }
  for (const std::string id : {"batch_1", "batch_2"}) {
    auto b = s.get_batch_any_owner(id);
    if (!b) {
      out += id + " absent\n";
      continue;
    }
    auto results = s.stored_results(id, 0, 1000, kResultPageBytes);
    if (!results) return "error: " + results.status().message();
    out += id + " " + b->owner + " " + to_string(b->status) + " total " +
           std::to_string(b->request_counts.total) + " completed " +
           std::to_string(b->request_counts.completed) + " failed " +
           std::to_string(b->request_counts.failed) + " input_tokens " +
           std::to_string(b->usage.input_tokens) + " output " + b->output_file_id + " rows " +
           std::to_string(results->size()) + "\n";
  }
  return out;
}

std::string integrity(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return "cannot open";
  sqlite3_stmt* stmt = nullptr;
  std::string out = "no answer";
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

Result<std::unique_ptr<Store>> open_on_vfs(const std::string& path) {
  SqliteOptions o;
  o.vfs = "powercut";
  return open_sqlite_store(path, std::move(o));
}

// The seam itself: a commit SQLite did not sync (synchronous=OFF) is lost at a cut, one it synced (FULL,
// as the store runs) is not. Without the first, the test below could not fail.
TEST(SqlitePowerCutTest, TheVfsLosesWhatWasNotSyncedAndKeepsWhatWas) {
  PowerCutVfs& vfs = PowerCutVfs::instance();
  for (const std::string sync : {"OFF", "FULL"}) {
    TempDir dir;
    const std::string path = dir.path() + "/t.sqlite3";
    vfs.arm(0);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "powercut"),
              SQLITE_OK);
    const std::string setup = "PRAGMA journal_mode=WAL; PRAGMA synchronous=" + sync +
                              "; CREATE TABLE t(x); INSERT INTO t VALUES ('acknowledged')";
    ASSERT_EQ(sqlite3_exec(db, setup.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    vfs.arm(1);  // the next write finds the power gone
    EXPECT_NE(sqlite3_exec(db, "INSERT INTO t VALUES ('cut')", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
    vfs.restore();
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    const bool readable = sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &stmt, nullptr) == SQLITE_OK &&
                          sqlite3_step(stmt) == SQLITE_ROW;
    const int64_t rows = readable ? sqlite3_column_int64(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    if (sync == "OFF") {
      EXPECT_EQ(rows, -1) << "the unsynced table survived the cut";
    } else {
      EXPECT_EQ(rows, 1);
    }
  }
}

// Opening the store while the disk fails (reading the schema to prepare a statement) is an error, not an
// abort: the campaign across the service (batch/batch_service_power_cut_test.cpp) found the store
// aborting there, as it does for a statement of its own that does not compile.
TEST(SqlitePowerCutTest, AStoreOpenedWhileTheDiskFailsAnswersAnError) {
  PowerCutVfs& vfs = PowerCutVfs::instance();
  int64_t failed_opens = 0;
  for (int64_t first = 1; first <= 40; ++first) {
    TempDir dir;
    const std::string path = dir.path() + "/openbatch.sqlite3";
    // A life cut at its first-th operation, then reboots cut at their 1st, 2nd, ... operation: opening
    // over what a cut left is where the store aborted.
    vfs.arm(first);
    {
      auto store = open_on_vfs(path);
      for (const Step& step : script()) {
        if (!store || !step(**store)) break;
      }
    }
    vfs.restore();
    for (int64_t second = 1; second <= 8; ++second) {
      vfs.arm(second);
      {
        auto store = open_on_vfs(path);
        failed_opens += !store.is_ok();
        if (store) {
          for (const Step& step : script()) {
            if (!step(**store)) break;
          }
        }
      }
      vfs.restore();
    }
    auto reopened = open_on_vfs(path);
    ASSERT_TRUE(reopened.is_ok()) << reopened.status().message();
    reopened->reset();
    EXPECT_EQ(integrity(path), "ok") << first;
  }
  EXPECT_GT(failed_opens, 0);
}

TEST(SqlitePowerCutTest, EveryAcknowledgedCallSurvivesACutAtAnyWriteOrSync) {
  PowerCutVfs& vfs = PowerCutVfs::instance();
  const std::vector<Step> steps = script();

  // Without a cut: the state after each step, and how many writes, truncates and syncs they make.
  std::vector<std::string> after;
  int64_t total_ops = 0;
  {
    TempDir dir;
    vfs.arm(0);
    auto store = open_on_vfs(dir.path() + "/openbatch.sqlite3");
    ASSERT_TRUE(store.is_ok()) << store.status().message();
    after.push_back(snapshot(**store));
    for (const Step& step : steps) {
      ASSERT_TRUE(step(**store));
      after.push_back(snapshot(**store));
    }
    total_ops = vfs.ops();
    store->reset();
    vfs.restore();
  }
  ASSERT_GT(total_ops, 50);

  int64_t cuts = 0;
  for (int64_t cut_at = 1; cut_at <= total_ops; ++cut_at) {
    TempDir dir;
    const std::string path = dir.path() + "/openbatch.sqlite3";
    vfs.arm(cut_at);
    size_t acked = 0;
    {
      auto store = open_on_vfs(path);
      if (store) {
        for (const Step& step : steps) {
          if (!step(**store)) break;
          ++acked;
        }
      }
    }  // closed with the power gone: nothing more reaches the disk
    ASSERT_TRUE(vfs.cut()) << "the cut at " << cut_at << " never came";
    vfs.restore();
    ++cuts;

    auto reopened = open_on_vfs(path);
    ASSERT_TRUE(reopened.is_ok()) << "cut at " << cut_at << ": " << reopened.status().message();
    const std::string now = snapshot(**reopened);
    const bool as_acked = now == after[acked];
    const bool one_more = acked + 1 < after.size() && now == after[acked + 1];
    EXPECT_TRUE(as_acked || one_more)
        << "cut at op " << cut_at << " of " << total_ops << ", after " << acked << " acknowledged calls:\n"
        << now << "expected:\n"
        << after[acked];
    reopened->reset();
    EXPECT_EQ(integrity(path), "ok") << "cut at " << cut_at;
    if (HasFailure()) break;
  }
  EXPECT_EQ(cuts, total_ops);
  std::printf("power cuts: %lld, at every write, truncate and sync of %zu calls\n",
              static_cast<long long>(cuts), steps.size());
}

}  // namespace
}  // namespace openbatch::store
