#include "store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "common/owned_folder.h"
#include "store/record_rows.h"

namespace openbatch::store {
namespace {

// Each entry moves the schema from version i to i+1. Append only; never edit a shipped entry.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE files (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  owner TEXT NOT NULL,
  filename TEXT NOT NULL,
  purpose TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER
);
CREATE INDEX files_by_owner ON files(owner, seq);
CREATE TABLE batches (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  owner TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  model TEXT NOT NULL,
  input_file_id TEXT NOT NULL,
  completion_window TEXT NOT NULL,
  status TEXT NOT NULL,
  output_file_id TEXT,
  error_file_id TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  in_progress_at INTEGER, finalizing_at INTEGER, completed_at INTEGER, failed_at INTEGER,
  expired_at INTEGER, cancelling_at INTEGER, cancelled_at INTEGER,
  errors TEXT,
  metadata TEXT,
  output_expires_after INTEGER,
  total INTEGER NOT NULL DEFAULT 0,
  completed INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  input_tokens INTEGER NOT NULL DEFAULT 0,
  output_tokens INTEGER NOT NULL DEFAULT 0,
  cached_tokens INTEGER NOT NULL DEFAULT 0,
  reasoning_tokens INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX batches_by_owner ON batches(owner, seq);
CREATE INDEX batches_by_status ON batches(status);
CREATE INDEX batches_by_input ON batches(input_file_id);
CREATE TABLE batch_requests (
  batch_id TEXT NOT NULL,
  line INTEGER NOT NULL,
  custom_id TEXT NOT NULL,
  offset INTEGER NOT NULL,
  length INTEGER NOT NULL,
  outcome INTEGER NOT NULL DEFAULT 0,
  result TEXT,
  PRIMARY KEY (batch_id, line)
) WITHOUT ROWID;
)sql",
    R"sql(
CREATE TABLE batch_progress (
  batch_id TEXT NOT NULL,
  at_ms INTEGER NOT NULL,
  completed INTEGER NOT NULL,
  failed INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  cached_tokens INTEGER NOT NULL,
  PRIMARY KEY (batch_id, at_ms)
) WITHOUT ROWID;
)sql",
    R"sql(
ALTER TABLE batch_requests ADD COLUMN lease_node TEXT;
ALTER TABLE batch_requests ADD COLUMN lease_until INTEGER;
ALTER TABLE batch_requests ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;
CREATE INDEX batch_requests_unfinished ON batch_requests(batch_id, line) WHERE outcome=0;
CREATE INDEX batch_requests_leased ON batch_requests(lease_node) WHERE outcome=0;
ALTER TABLE batches ADD COLUMN job_node TEXT;
ALTER TABLE batches ADD COLUMN job_until INTEGER;
)sql",
    R"sql(
ALTER TABLE batch_requests ADD COLUMN finished INTEGER;
CREATE INDEX batch_requests_finished ON batch_requests(batch_id, finished) WHERE outcome<>0;
)sql",
    // Enqueued-token quotas (serve --max-enqueued-tokens): the prompt tokens a batch holds until it ends.
    R"sql(
ALTER TABLE batches ADD COLUMN enqueued_tokens INTEGER NOT NULL DEFAULT 0;
)sql",
    // The webhooks' outbox (EventRecord).
    R"sql(
CREATE TABLE webhook_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  batch_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  state INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  lease_node TEXT,
  lease_token INTEGER NOT NULL DEFAULT 0,
  last_error TEXT
);
CREATE INDEX webhook_events_due ON webhook_events(next_attempt_at) WHERE state=0;
CREATE INDEX webhook_events_by_batch ON webhook_events(batch_id);
)sql",
    // Secrets of the installation (keep_secret).
    R"sql(
CREATE TABLE secrets (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

// PRAGMA auto_vacuum's answer for INCREMENTAL.
constexpr int64_t kAutoVacuumIncremental = 2;

// Statuses in which a batch still reads its input file.
constexpr const char* kActiveStatuses = "('validating','in_progress','finalizing','cancelling')";

// Decides, before a statement runs, whether it fails as on a full disk (SqliteOptions::fail_statement,
// wrapped so that the store knows the error was made up).
using FaultCheck = std::function<bool(const char* sql)>;

// A prepared statement in use: binds parameters in order, steps, reads columns, and resets itself on
// destruction so the cached statement can be used again.
class Query {
 public:
  Query(sqlite3_stmt* stmt, const FaultCheck& fault) : stmt_(stmt), fault_(fault) {}
  ~Query() {
    if (stmt_ == nullptr) return;
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind(int64_t v) {
    if (stmt_) sqlite3_bind_int64(stmt_, ++index_, v);
    return *this;
  }
  Query& bind(const std::string& v) {
    if (stmt_) sqlite3_bind_text(stmt_, ++index_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Query& bind(const char* v) { return bind(std::string(v)); }
  Query& bind(std::nullptr_t) {
    if (stmt_) sqlite3_bind_null(stmt_, ++index_);
    return *this;
  }
  Query& bind(const std::optional<int64_t>& v) { return v ? bind(*v) : bind(nullptr); }
  // "" binds NULL.
  Query& bind_or_null(const std::string& v) { return v.empty() ? bind(nullptr) : bind(v); }

  // SQLITE_ROW, SQLITE_DONE or an error code; SQLITE_IOERR for a statement the disk kept from being
  // prepared (sqlite3_errmsg says why).
  int step() {
    if (stmt_ == nullptr) return SQLITE_IOERR;
    if (fault_ && fault_(sqlite3_sql(stmt_))) return SQLITE_FULL;
    return sqlite3_step(stmt_);
  }

  int64_t i64(int col) const { return sqlite3_column_int64(stmt_, col); }
  int64_t bytes(int col) const { return sqlite3_column_bytes(stmt_, col); }
  std::optional<int64_t> opt_i64(int col) const {
    if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
    return i64(col);
  }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }

 private:
  sqlite3_stmt* stmt_;
  const FaultCheck& fault_;
  int index_ = 0;
};

class SqliteStore final : public Store {
 public:
  SqliteStore(sqlite3* db, SqliteOptions options) : db_(db), batch_events_(options.batch_events) {
    if (options.fail_statement) {
      fault_ = [this, fail = std::move(options.fail_statement)](const char* sql) {
        injected_ = fail(sql);
        return injected_;
      };
    }
  }
  ~SqliteStore() override {
    for (auto& [sql, stmt] : stmts_) sqlite3_finalize(stmt);
    sqlite3_close(db_);
  }

  Status init() {
    // secure_delete: deleted rows (the results of a finalized batch) are overwritten, not left in free
    // pages. Incremental auto-vacuum gives free pages back to the file system (reclaim_space); a
    // database made before it was set is rewritten once (VACUUM) to take it.
    if (Status s = exec("PRAGMA busy_timeout=5000"); !s) return s;
    if (Status s = exec("PRAGMA secure_delete=ON"); !s) return s;
    if (pragma_value("auto_vacuum") != kAutoVacuumIncremental) {
      if (Status s = exec("PRAGMA auto_vacuum=INCREMENTAL"); !s) return s;
      if (pragma_value("page_count") > 0) {
        if (Status s = exec("VACUUM"); !s) return s;
      }
    }
    for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL"}) {
      if (Status s = exec(pragma); !s) return s;
    }
    int version = 0;
    {
      Query q(statement("PRAGMA user_version"));
      if (q.step() == SQLITE_ROW) version = static_cast<int>(q.i64(0));
    }
    if (version > kSchemaVersion) {
      return Status::internal("the database has schema version " + std::to_string(version) +
                              ", newer than this openbatch knows (" + std::to_string(kSchemaVersion) + ")");
    }
    for (int v = version; v < kSchemaVersion; ++v) {
      Status migrated = in_transaction([&]() -> Status {
        if (Status s = exec(kMigrations[v]); !s) return s;
        return exec("PRAGMA user_version=" + std::to_string(v + 1));
      });
      if (!migrated) return migrated;
    }
    return Status::ok();
  }

  // ---- files

  Status insert_file(const FileRecord& f) override {
    std::lock_guard lock(mu_);
    return insert_file_locked(f);
  }

  Result<FileRecord> get_file(const std::string& owner, const std::string& id) override {
    std::lock_guard lock(mu_);
    Query q(statement(std::string("SELECT ") + kFileColumns + " FROM files WHERE id=? AND owner=?"));
    q.bind(id).bind(owner);
    int rc = q.step();
    if (rc == SQLITE_ROW) return read_file_row(q);
    if (rc == SQLITE_DONE) return file_not_found(id);
    return error("get_file");
  }

  Result<Page<FileRecord>> list_files(const std::string& owner, const ListQuery& query) override {
    std::lock_guard lock(mu_);
    std::optional<int64_t> after;
    if (!query.after.empty()) {
      after = seq_of("files", owner, query.after);
      if (!after) return Page<FileRecord>{};
    }
    const std::string sql = std::string("SELECT ") + kFileColumns +
                            " FROM files WHERE owner=?1 AND (?2='' OR purpose=?2) AND (?3 IS NULL OR seq " +
                            (query.ascending ? ">" : "<") + " ?3) ORDER BY seq " +
                            (query.ascending ? "ASC" : "DESC") + " LIMIT ?4";
    Query q(statement(sql));
    q.bind(owner).bind(query.purpose).bind(after).bind(query.limit + 1);
    Page<FileRecord> page;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) page.items.push_back(read_file_row(q));
    if (rc != SQLITE_DONE) return error("list_files");
    trim_page(page, query.limit);
    return page;
  }

  Status delete_file(const std::string& owner, const std::string& id) override {
    std::lock_guard lock(mu_);
    return in_transaction([&]() -> Status {
      {
        Query q(statement("SELECT 1 FROM files WHERE id=? AND owner=?"));
        q.bind(id).bind(owner);
        int rc = q.step();
        if (rc == SQLITE_DONE) return file_not_found(id);
        if (rc != SQLITE_ROW) return error("delete_file");
      }
      {
        Query q(statement(std::string("SELECT id, status FROM batches WHERE input_file_id=? AND status IN ") +
                          kActiveStatuses + " LIMIT 1"));
        q.bind(id);
        if (q.step() == SQLITE_ROW) {
          return Status::conflict("File '" + id + "' is the input of batch '" + q.text(0) +
                                  "', which is still '" + q.text(1) +
                                  "'. Delete it once the batch has ended, or cancel the batch.");
        }
      }
      {
        Query q(statement("DELETE FROM files WHERE id=?"));
        q.bind(id);
        if (q.step() != SQLITE_DONE) return error("delete_file");
      }
      return Status::ok();
    });
  }

  Result<std::vector<FileRecord>> expired_files(int64_t now, int64_t limit) override {
    std::lock_guard lock(mu_);
    Query q(statement(std::string("SELECT ") + kFileColumns +
                      " FROM files f WHERE expires_at IS NOT NULL AND expires_at <= ? AND NOT EXISTS "
                      "(SELECT 1 FROM batches b WHERE b.input_file_id = f.id AND b.status IN " +
                      kActiveStatuses + ") ORDER BY seq LIMIT ?"));
    q.bind(now).bind(limit);
    std::vector<FileRecord> out;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) out.push_back(read_file_row(q));
    if (rc != SQLITE_DONE) return error("expired_files");
    return out;
  }

  Result<std::vector<std::string>> all_file_ids() override {
    std::lock_guard lock(mu_);
    Query q(statement("SELECT id FROM files"));
    std::vector<std::string> out;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) out.push_back(q.text(0));
    if (rc != SQLITE_DONE) return error("all_file_ids");
    return out;
  }

  Result<int64_t> stored_bytes(const std::string& owner) override {
    std::lock_guard lock(mu_);
    Query q(statement("SELECT COALESCE(SUM(bytes), 0) FROM files WHERE owner=?"));
    q.bind(owner);
    if (q.step() != SQLITE_ROW) return error("stored_bytes");
    return q.i64(0);
  }

  // ---- owners

  Status change_owners(const std::vector<std::pair<std::string, std::string>>& from_to) override {
    std::lock_guard lock(mu_);
    return in_transaction([&]() -> Status {
      for (const auto& [from, to] : from_to) {
        for (const char* sql :
             {"UPDATE files SET owner=? WHERE owner=?", "UPDATE batches SET owner=? WHERE owner=?"}) {
          Query q(statement(sql));
          q.bind(to).bind(from);
          if (q.step() != SQLITE_DONE) return error("change_owners");
        }
      }
      return Status::ok();
    });
  }

  Result<std::string> keep_secret(const std::string& name, const std::string& candidate) override {
    std::lock_guard lock(mu_);
    {
      Query q(statement("INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING"));
      q.bind(name).bind(candidate);
      if (q.step() != SQLITE_DONE) return error("keep_secret");
    }
    Query q(statement("SELECT value FROM secrets WHERE name=?"));
    q.bind(name);
    if (q.step() != SQLITE_ROW) return error("keep_secret");
    return q.text(0);
  }

  // ---- batches

  Status insert_batch(const BatchRecord& b) override {
    std::lock_guard lock(mu_);
    Query q(statement(
        "INSERT INTO batches (id, owner, endpoint, model, input_file_id, completion_window, status, "
        "created_at, expires_at, errors, metadata, output_expires_after, total) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"));
    q.bind(b.id).bind(b.owner).bind(b.endpoint).bind(b.model).bind(b.input_file_id).bind(b.completion_window);
    q.bind(to_string(b.status)).bind(b.created_at).bind(b.expires_at).bind_or_null(errors_to_text(b.errors));
    q.bind_or_null(b.metadata.is_null() ? std::string() : b.metadata.dump());
    q.bind(b.output_expires_after_seconds).bind(b.request_counts.total);
    if (q.step() != SQLITE_DONE) return error("insert_batch");
    return Status::ok();
  }

  Result<BatchRecord> get_batch(const std::string& owner, const std::string& id) override {
    std::lock_guard lock(mu_);
    Query q(statement(std::string("SELECT ") + kBatchColumns + " FROM batches WHERE id=? AND owner=?"));
    q.bind(id).bind(owner);
    int rc = q.step();
    if (rc == SQLITE_ROW) return read_batch_row(q);
    if (rc == SQLITE_DONE) return batch_not_found(id);
    return error("get_batch");
  }

  Result<BatchRecord> get_batch_any_owner(const std::string& id) override {
    std::lock_guard lock(mu_);
    return get_batch_locked(id);
  }

  Result<Page<BatchRecord>> list_batches(const std::string& owner, const ListQuery& query) override {
    std::lock_guard lock(mu_);
    std::optional<int64_t> after;
    if (!query.after.empty()) {
      after = seq_of("batches", owner, query.after);
      if (!after) return Page<BatchRecord>{};
    }
    Query q(
        statement(std::string("SELECT ") + kBatchColumns +
                  " FROM batches WHERE owner=?1 AND (?2 IS NULL OR seq < ?2) ORDER BY seq DESC LIMIT ?3"));
    q.bind(owner).bind(after).bind(query.limit + 1);
    Page<BatchRecord> page;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) page.items.push_back(read_batch_row(q));
    if (rc != SQLITE_DONE) return error("list_batches");
    trim_page(page, query.limit);
    return page;
  }

  Result<std::vector<BatchRecord>> batches_with_status(const std::vector<BatchStatus>& statuses) override {
    std::lock_guard lock(mu_);
    std::vector<BatchRecord> out;
    // One status at a time keeps the statement cacheable; the lists are short.
    for (BatchStatus s : statuses) {
      Query q(
          statement(std::string("SELECT ") + kBatchColumns + " FROM batches WHERE status=? ORDER BY seq"));
      q.bind(to_string(s));
      int rc;
      while ((rc = q.step()) == SQLITE_ROW) out.push_back(read_batch_row(q));
      if (rc != SQLITE_DONE) return error("batches_with_status");
    }
    return out;
  }

  Status start_batch(const std::string& id, const std::string& model,
                     const std::vector<RequestRecord>& requests, int64_t now,
                     const TokenQuota& quota) override {
    std::lock_guard lock(mu_);
    return in_transaction([&]() -> Status {
      if (Status s = expect_status(id, {BatchStatus::kValidating}, BatchStatus::kInProgress); !s) return s;
      // BEGIN IMMEDIATE holds the database's write lock: no other process starts a batch meanwhile.
      if (quota.max_enqueued_tokens > 0) {
        Query q(
            statement(std::string("SELECT COALESCE(SUM(enqueued_tokens), 0) FROM batches WHERE owner=(SELECT "
                                  "owner FROM batches WHERE id=?) AND id<>? AND status IN ") +
                      kEnqueuedStatusesSql));
        q.bind(id).bind(id);
        if (q.step() != SQLITE_ROW) return error("start_batch");
        if (q.i64(0) + quota.prompt_tokens > quota.max_enqueued_tokens) {
          return enqueued_token_limit_exceeded(quota.max_enqueued_tokens);
        }
      }
      sqlite3_stmt* insert = prepare(
          "INSERT INTO batch_requests (batch_id, line, custom_id, offset, length) VALUES (?,?,?,?,?)");
      for (const auto& r : requests) {
        Query q(insert, fault_);
        q.bind(id).bind(r.line).bind(r.custom_id).bind(r.offset).bind(r.length);
        if (q.step() != SQLITE_DONE) return error("start_batch");
      }
      Query q(
          statement("UPDATE batches SET status='in_progress', in_progress_at=?, model=?, total=?, "
                    "enqueued_tokens=? WHERE "
                    "id=?"));
      q.bind(now).bind(model).bind(static_cast<int64_t>(requests.size())).bind(quota.prompt_tokens).bind(id);
      if (q.step() != SQLITE_DONE) return error("start_batch");
      return Status::ok();
    });
  }

  Status fail_batch(const std::string& id, const std::vector<BatchError>& errors, int64_t now) override {
    std::lock_guard lock(mu_);
    return in_transaction([&]() -> Status {
      if (Status s = expect_status(id, {BatchStatus::kValidating}, BatchStatus::kFailed); !s) return s;
      Query q(statement("UPDATE batches SET status='failed', failed_at=?, errors=? WHERE id=?"));
      q.bind(now).bind_or_null(errors_to_text(errors)).bind(id);
      if (q.step() != SQLITE_DONE) return error("fail_batch");
      return queue_event(id, BatchStatus::kFailed, now);
    });
  }

  Status transition(const std::string& id, const std::vector<BatchStatus>& from, BatchStatus to,
                    int64_t now) override {
    std::lock_guard lock(mu_);
    return in_transaction([&]() -> Status {
      if (Status s = expect_status(id, from, to); !s) return s;
      if (Status s = set_status(id, to, now); !s) return s;
      return Status::ok();
    });
  }

  Result<std::vector<RequestRecord>> pending_requests(const std::string& batch_id) override {
    std::lock_guard lock(mu_);
    Query q(
        statement("SELECT line, custom_id, offset, length FROM batch_requests WHERE batch_id=? AND outcome=0 "
                  "ORDER BY line"));
    q.bind(batch_id);
    std::vector<RequestRecord> out;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) out.push_back({q.i64(0), q.text(1), q.i64(2), q.i64(3)});
    if (rc != SQLITE_DONE) return error("pending_requests");
    return out;
  }

  Status record_results(const std::vector<RequestResult>& results) override {
    if (results.empty()) return Status::ok();
    std::lock_guard lock(mu_);
    return in_transaction([&]() -> Status {
      struct Delta {
        RequestCounts counts;
        Usage usage;
      };
      std::map<std::string, Delta> deltas;
      // Each stored result's place in its batch's order of results: one more than the batch's count.
      std::map<std::string, int64_t> finished;
      for (const auto& r : results) {
        if (finished.count(r.batch_id)) continue;
        Query q(statement("SELECT completed+failed FROM batches WHERE id=?"));
        q.bind(r.batch_id);
        const int rc = q.step();
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) return error("record_results");
        finished[r.batch_id] = rc == SQLITE_ROW ? q.i64(0) : 0;
      }
      sqlite3_stmt* update = prepare(
          "UPDATE batch_requests SET outcome=?1, result=?2, lease_node=NULL, lease_until=NULL, finished=?6 "
          "WHERE batch_id=?3 AND line=?4 AND outcome=0 AND (?5=0 OR lease_token=?5)");
      for (const auto& r : results) {
        Query q(update, fault_);
        q.bind(static_cast<int64_t>(r.outcome)).bind(r.result_line).bind(r.batch_id).bind(r.line);
        q.bind(r.lease_token).bind(finished[r.batch_id] + 1);
        if (q.step() != SQLITE_DONE) return error("record_results");
        if (sqlite3_changes(db_) != 1) continue;  // already has a result, or the batch is gone
        ++finished[r.batch_id];
        Delta& d = deltas[r.batch_id];
        (r.outcome == Outcome::kOutput ? d.counts.completed : d.counts.failed)++;
        d.usage.input_tokens += r.usage.input_tokens;
        d.usage.output_tokens += r.usage.output_tokens;
        d.usage.cached_tokens += r.usage.cached_tokens;
        d.usage.reasoning_tokens += r.usage.reasoning_tokens;
      }
      sqlite3_stmt* bump = prepare(
          "UPDATE batches SET completed=completed+?, failed=failed+?, input_tokens=input_tokens+?, "
          "output_tokens=output_tokens+?, cached_tokens=cached_tokens+?, reasoning_tokens=reasoning_tokens+? "
          "WHERE id=?");
      for (const auto& [batch_id, d] : deltas) {
        Query q(bump, fault_);
        q.bind(d.counts.completed)
            .bind(d.counts.failed)
            .bind(d.usage.input_tokens)
            .bind(d.usage.output_tokens);
        q.bind(d.usage.cached_tokens).bind(d.usage.reasoning_tokens).bind(batch_id);
        if (q.step() != SQLITE_DONE) return error("record_results");
      }
      return Status::ok();
    });
  }

  Result<std::vector<RequestRecord>> claim_requests(const std::string& batch_id, const std::string& node,
                                                    int64_t limit, int64_t now_ms,
                                                    int64_t lease_until_ms) override {
    std::lock_guard lock(mu_);
    std::vector<RequestRecord> out;
    Status s = in_transaction([&]() -> Status {
      {
        Query q(statement("SELECT status FROM batches WHERE id=?"));
        q.bind(batch_id);
        const int rc = q.step();
        if (rc == SQLITE_DONE) return batch_not_found(batch_id);
        if (rc != SQLITE_ROW) return error("claim_requests");
        if (q.text(0) != to_string(BatchStatus::kInProgress)) return Status::ok();
      }
      Query q(statement(
          "UPDATE batch_requests SET lease_node=?1, lease_until=?2, lease_token=lease_token+1 WHERE "
          "batch_id=?3 "
          "AND line IN (SELECT line FROM batch_requests WHERE batch_id=?3 AND outcome=0 AND (lease_until IS "
          "NULL OR lease_until<=?4) ORDER BY line LIMIT ?5) RETURNING line, custom_id, offset, length, "
          "lease_token"));
      q.bind(node).bind(lease_until_ms).bind(batch_id).bind(now_ms).bind(limit);
      int rc;
      while ((rc = q.step()) == SQLITE_ROW) {
        out.push_back({q.i64(0), q.text(1), q.i64(2), q.i64(3), q.i64(4)});
      }
      if (rc != SQLITE_DONE) return error("claim_requests");
      return Status::ok();
    });
    if (!s) return s;
    std::sort(out.begin(), out.end(),
              [](const RequestRecord& a, const RequestRecord& b) { return a.line < b.line; });
    return out;
  }

  Status renew_leases(const std::string& node, int64_t lease_until_ms) override {
    std::lock_guard lock(mu_);
    return in_transaction([&]() -> Status {
      {
        Query q(statement("UPDATE batch_requests SET lease_until=? WHERE lease_node=? AND outcome=0"));
        q.bind(lease_until_ms).bind(node);
        if (q.step() != SQLITE_DONE) return error("renew_leases");
      }
      Query q(statement("UPDATE batches SET job_until=? WHERE job_node=?"));
      q.bind(lease_until_ms).bind(node);
      if (q.step() != SQLITE_DONE) return error("renew_leases");
      return Status::ok();
    });
  }

  Status release_batch(const std::string& batch_id, const std::string& node) override {
    std::lock_guard lock(mu_);
    return in_transaction([&]() -> Status {
      {
        Query q(statement(
            "UPDATE batch_requests SET lease_node=NULL, lease_until=NULL WHERE batch_id=? AND lease_node=?"));
        q.bind(batch_id).bind(node);
        if (q.step() != SQLITE_DONE) return error("release_batch");
      }
      Query q(statement("UPDATE batches SET job_node=NULL, job_until=NULL WHERE id=? AND job_node=?"));
      q.bind(batch_id).bind(node);
      if (q.step() != SQLITE_DONE) return error("release_batch");
      return Status::ok();
    });
  }

  Status release_leases(const std::string& node) override {
    std::lock_guard lock(mu_);
    return in_transaction([&]() -> Status {
      {
        Query q(statement(
            "UPDATE batch_requests SET lease_node=NULL, lease_until=NULL WHERE lease_node IS NOT NULL AND "
            "(?1='' OR lease_node=?1)"));
        q.bind(node);
        if (q.step() != SQLITE_DONE) return error("release_leases");
      }
      {
        Query q(statement(
            "UPDATE batches SET job_node=NULL, job_until=NULL WHERE job_node IS NOT NULL AND (?1='' "
            "OR job_node=?1)"));
        q.bind(node);
        if (q.step() != SQLITE_DONE) return error("release_leases");
      }
      // A claimed event is due again at once (its claim's end is its next attempt).
      Query q(statement(
          "UPDATE webhook_events SET lease_node=NULL, next_attempt_at=0 WHERE state=0 AND lease_node IS NOT "
          "NULL AND (?1='' OR lease_node=?1)"));
      q.bind(node);
      if (q.step() != SQLITE_DONE) return error("release_leases");
      return Status::ok();
    });
  }

  Result<RequestTally> request_tally(const std::string& batch_id, int64_t now_ms) override {
    std::lock_guard lock(mu_);
    Query q(statement(
        "SELECT count(*), coalesce(sum(lease_until IS NOT NULL AND lease_until>?), 0) FROM batch_requests "
        "WHERE batch_id=? AND outcome=0"));
    q.bind(now_ms).bind(batch_id);
    if (q.step() != SQLITE_ROW) return error("request_tally");
    return RequestTally{q.i64(0), q.i64(1)};
  }

  Result<bool> lease_batch(const std::string& batch_id, const std::string& node, int64_t now_ms,
                           int64_t lease_until_ms) override {
    std::lock_guard lock(mu_);
    Query q(statement(
        "UPDATE batches SET job_node=?1, job_until=?2 WHERE id=?3 AND (job_node IS NULL OR job_node=?1 OR "
        "job_until<=?4)"));
    q.bind(node).bind(lease_until_ms).bind(batch_id).bind(now_ms);
    if (q.step() != SQLITE_DONE) return error("lease_batch");
    if (sqlite3_changes(db_) == 1) return true;
    Query exists(statement("SELECT 1 FROM batches WHERE id=?"));
    exists.bind(batch_id);
    const int rc = exists.step();
    if (rc == SQLITE_DONE) return batch_not_found(batch_id);
    if (rc != SQLITE_ROW) return error("lease_batch");
    return false;
  }

  Result<std::vector<StoredResult>> stored_results(const std::string& batch_id, int64_t after_line,
                                                   int64_t limit, int64_t max_bytes) override {
    std::lock_guard lock(mu_);
    Query q(
        statement("SELECT line, outcome, result, finished FROM batch_requests WHERE batch_id=? AND line>? "
                  "AND outcome<>0 "
                  "ORDER BY line LIMIT ?"));
    q.bind(batch_id).bind(after_line).bind(limit);
    return read_results(q, "stored_results", max_bytes);
  }

  Result<std::vector<StoredResult>> finished_results(const std::string& batch_id, int64_t after,
                                                     int64_t limit, int64_t max_bytes) override {
    std::lock_guard lock(mu_);
    Query q(statement(
        "SELECT line, outcome, result, finished FROM batch_requests WHERE batch_id=? AND outcome<>0 AND "
        "finished>? ORDER BY finished LIMIT ?"));
    q.bind(batch_id).bind(after).bind(limit);
    return read_results(q, "finished_results", max_bytes);
  }

  // The rows of a query selecting line, outcome, result and finished, while their results stay within
  // max_bytes together (the first row always). Rows are stepped one at a time: the ones past the
  // budget are never read.
  Result<std::vector<StoredResult>> read_results(Query& q, const char* what, int64_t max_bytes) {
    std::vector<StoredResult> out;
    int64_t bytes = 0;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      bytes += q.bytes(2);
      if (!out.empty() && bytes > max_bytes) return out;
      out.push_back({q.i64(0), static_cast<Outcome>(q.i64(1)), q.text(2), q.i64(3)});
    }
    if (rc != SQLITE_DONE) return error(what);
    return out;
  }

  Status sample_progress(const std::string& batch_id, int64_t at_ms) override {
    std::lock_guard lock(mu_);
    Query q(statement(
        "INSERT OR REPLACE INTO batch_progress (batch_id, at_ms, completed, failed, input_tokens, "
        "output_tokens, cached_tokens) SELECT id, ?, completed, failed, input_tokens, output_tokens, "
        "cached_tokens FROM batches WHERE id=?"));
    q.bind(at_ms).bind(batch_id);
    if (q.step() != SQLITE_DONE) return error("sample_progress");
    if (sqlite3_changes(db_) == 0) return batch_not_found(batch_id);
    return Status::ok();
  }

  Result<std::vector<ProgressSample>> progress_samples(const std::string& batch_id,
                                                       int64_t after_ms) override {
    std::lock_guard lock(mu_);
    Query q(
        statement("SELECT at_ms, completed, failed, input_tokens, output_tokens, cached_tokens FROM "
                  "batch_progress WHERE batch_id=? AND at_ms>? ORDER BY at_ms"));
    q.bind(batch_id).bind(after_ms);
    std::vector<ProgressSample> out;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      ProgressSample p;
      p.at_ms = q.i64(0);
      p.completed = q.i64(1);
      p.failed = q.i64(2);
      p.usage.input_tokens = q.i64(3);
      p.usage.output_tokens = q.i64(4);
      p.usage.cached_tokens = q.i64(5);
      out.push_back(p);
    }
    if (rc != SQLITE_DONE) return error("progress_samples");
    return out;
  }

  Status finish_batch(const std::string& id, const std::vector<BatchStatus>& from, BatchStatus to,
                      const std::optional<FileRecord>& output_file,
                      const std::optional<FileRecord>& error_file, int64_t now) override {
    std::lock_guard lock(mu_);
    const Status finished = in_transaction([&]() -> Status {
      if (Status s = expect_status(id, from, to); !s) return s;
      for (const auto* f : {&output_file, &error_file}) {
        if (!f->has_value()) continue;
        if (Status s = insert_file_locked(**f); !s) return s;
      }
      {
        Query q(statement("UPDATE batches SET output_file_id=?, error_file_id=? WHERE id=?"));
        q.bind_or_null(output_file ? output_file->id : "")
            .bind_or_null(error_file ? error_file->id : "")
            .bind(id);
        if (q.step() != SQLITE_DONE) return error("finish_batch");
      }
      if (Status s = set_status(id, to, now); !s) return s;
      {
        Query q(statement("DELETE FROM batch_requests WHERE batch_id=?"));
        q.bind(id);
        if (q.step() != SQLITE_DONE) return error("finish_batch");
      }
      return Status::ok();
    });
    if (finished) reclaim_space();
    return finished;
  }

  // ---- webhook events

  Result<std::vector<EventRecord>> claim_events(const std::string& node, int64_t limit, int64_t now_ms,
                                                int64_t lease_until_ms) override {
    std::lock_guard lock(mu_);
    Query q(statement(std::string("UPDATE webhook_events SET lease_node=?1, next_attempt_at=?2, "
                                  "lease_token=lease_token+1 WHERE seq IN (SELECT seq FROM webhook_events "
                                  "WHERE state=0 AND next_attempt_at<=?3 ORDER BY seq LIMIT ?4) RETURNING ") +
                      kEventColumns + ", seq"));
    q.bind(node).bind(lease_until_ms).bind(now_ms).bind(limit);
    std::vector<std::pair<int64_t, EventRecord>> claimed;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) claimed.emplace_back(q.i64(9), read_event_row(q));
    if (rc != SQLITE_DONE) return error("claim_events");
    std::sort(claimed.begin(), claimed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<EventRecord> out;
    for (auto& c : claimed) out.push_back(std::move(c.second));
    return out;
  }

  Result<bool> record_event_attempt(const EventAttempt& a) override {
    std::lock_guard lock(mu_);
    Query q(statement(
        "UPDATE webhook_events SET state=?1, attempts=attempts+1, next_attempt_at=?2, last_error=?3, "
        "lease_node=NULL WHERE id=?4 AND lease_token=?5 AND state=0 AND lease_node IS NOT NULL"));
    q.bind(static_cast<int64_t>(a.state)).bind(a.next_attempt_ms).bind_or_null(a.error).bind(a.event_id);
    q.bind(a.lease_token);
    if (q.step() != SQLITE_DONE) return error("record_event_attempt");
    return sqlite3_changes(db_) == 1;
  }

  Result<std::vector<EventRecord>> batch_events(const std::string& batch_id) override {
    std::lock_guard lock(mu_);
    Query q(statement(std::string("SELECT ") + kEventColumns +
                      " FROM webhook_events WHERE batch_id=? ORDER BY seq"));
    q.bind(batch_id);
    std::vector<EventRecord> out;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) out.push_back(read_event_row(q));
    if (rc != SQLITE_DONE) return error("batch_events");
    return out;
  }

 private:
  // Runs body in one transaction: BEGIN IMMEDIATE first, and if that fails nothing else runs (not
  // one statement in autocommit); COMMIT when body returns OK, ROLLBACK when it fails or COMMIT does.
  // REQUIRES: mu_ held; body runs no transaction statements of its own.
  template <typename Body>
  Status in_transaction(Body&& body) {
    if (Status s = exec("BEGIN IMMEDIATE"); !s) return s;
    Status s = body();
    if (s) s = exec("COMMIT");
    // After some errors (a full disk) SQLite has rolled back already; then ROLLBACK only says so.
    if (!s && !sqlite3_get_autocommit(db_)) exec("ROLLBACK");
    return s;
  }

  Status exec(const std::string& sql) {
    if (fault_ && sql != "ROLLBACK" && fault_(sql.c_str())) return error(sql.c_str());
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      return Status::internal("sqlite: " + msg);
    }
    return Status::ok();
  }

  // The cached statement for sql, ready to bind and step. REQUIRES: mu_ held.
  Query statement(const std::string& sql) { return Query(prepare(sql), fault_); }

  // The cached prepared statement for sql, or null when the disk keeps it from being prepared (preparing
  // reads the schema: an I/O error, a power cut, a busy or corrupt file); then Query::step fails and
  // sqlite3_errmsg says why. REQUIRES: mu_ held.
  sqlite3_stmt* prepare(const std::string& sql) {
    auto it = stmts_.find(sql);
    if (it != stmts_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    if (const int rc = sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
        rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      if ((rc & 0xff) != SQLITE_ERROR) return nullptr;
      // A statement of ours that does not compile is a programming error; fail loudly and early.
      std::fprintf(stderr, "openbatch: sqlite cannot prepare %s: %s\n", sql.c_str(), sqlite3_errmsg(db_));
      std::abort();
    }
    stmts_.emplace(sql, stmt);
    return stmt;
  }

  Status error(const char* what) {
    const char* why = injected_ ? sqlite3_errstr(SQLITE_FULL) : sqlite3_errmsg(db_);
    injected_ = false;
    return Status::internal(std::string("sqlite ") + what + ": " + why);
  }

  static Status file_not_found(const std::string& id) {
    return Status::not_found("No such File object: " + id, "id");
  }
  static Status batch_not_found(const std::string& id) {
    return Status::not_found("No batch found with id '" + id + "'.", "id");
  }

  template <typename T>
  static void trim_page(Page<T>& page, int64_t limit) {
    if (static_cast<int64_t>(page.items.size()) > limit) {
      page.items.resize(static_cast<size_t>(limit));
      page.has_more = true;
    }
  }

  std::optional<int64_t> seq_of(const char* table, const std::string& owner, const std::string& id) {
    Query q(statement(std::string("SELECT seq FROM ") + table + " WHERE id=? AND owner=?"));
    q.bind(id).bind(owner);
    if (q.step() == SQLITE_ROW) return q.i64(0);
    return std::nullopt;
  }

  Status insert_file_locked(const FileRecord& f) {
    Query q(
        statement("INSERT INTO files (id, owner, filename, purpose, bytes, created_at, expires_at) VALUES "
                  "(?,?,?,?,?,?,?)"));
    q.bind(f.id)
        .bind(f.owner)
        .bind(f.filename)
        .bind(f.purpose)
        .bind(f.bytes)
        .bind(f.created_at)
        .bind(f.expires_at);
    if (q.step() != SQLITE_DONE) return error("insert_file");
    return Status::ok();
  }

  Result<BatchRecord> get_batch_locked(const std::string& id) {
    Query q(statement(std::string("SELECT ") + kBatchColumns + " FROM batches WHERE id=?"));
    q.bind(id);
    int rc = q.step();
    if (rc == SQLITE_ROW) return read_batch_row(q);
    if (rc == SQLITE_DONE) return batch_not_found(id);
    return error("get_batch");
  }

  // The integer a PRAGMA answers (-1 when it answers nothing). REQUIRES: mu_ held, or init.
  int64_t pragma_value(const char* name) {
    Query q(statement(std::string("PRAGMA ") + name));
    return q.step() == SQLITE_ROW ? q.i64(0) : -1;
  }

  // Gives the free pages that deleted rows left back to the file system, and empties the WAL, whose old
  // frames still hold the rows' text. Best effort: the rows are gone (secure_delete overwrote them)
  // whether or not this succeeds, and the next call does what this one could not.
  // REQUIRES: mu_ held, no transaction open.
  void reclaim_space() {
    if (fault_) return;  // a test's failing statements are the store's transactions, not this
    exec("PRAGMA incremental_vacuum");
    exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }

  // OK when batch id is in one of the statuses `from`; otherwise the conflict a move to `to` meets.
  Status expect_status(const std::string& id, const std::vector<BatchStatus>& from, BatchStatus to) {
    Query q(statement("SELECT status FROM batches WHERE id=?"));
    q.bind(id);
    int rc = q.step();
    if (rc == SQLITE_DONE) return batch_not_found(id);
    if (rc != SQLITE_ROW) return error("read status");
    const std::string current = q.text(0);
    for (BatchStatus s : from) {
      if (current == to_string(s)) return Status::ok();
    }
    if (to == BatchStatus::kCancelling || to == BatchStatus::kCancelled) {
      return Status::conflict("Cannot cancel a batch with status '" + current + "'.");
    }
    return Status::conflict("Cannot move a batch with status '" + current + "' to '" + to_string(to) + "'.");
  }

  Status set_status(const std::string& id, BatchStatus to, int64_t now) {
    const char* column = timestamp_column(to);
    std::string sql = "UPDATE batches SET status=?";
    if (column) sql += std::string(", ") + column + "=?";
    sql += " WHERE id=?";
    Query q(statement(sql));
    q.bind(to_string(to));
    if (column) q.bind(now);
    q.bind(id);
    if (q.step() != SQLITE_DONE) return error("set status");
    return queue_event(id, to, now);
  }

  // Queues the event of batch id ending with status `to` (nothing for a status that does not end it,
  // or without batch_events). REQUIRES: mu_ held, in the transaction that ends the batch.
  Status queue_event(const std::string& id, BatchStatus to, int64_t now) {
    if (!batch_events_ || !is_terminal(to)) return Status::ok();
    Query q(statement(
        "INSERT INTO webhook_events (id, type, batch_id, created_at, next_attempt_at) VALUES (?,?,?,?,?)"));
    q.bind(new_event_id()).bind(std::string("batch.") + to_string(to)).bind(id).bind(now).bind(now * 1000);
    if (q.step() != SQLITE_DONE) return error("queue event");
    return Status::ok();
  }

  sqlite3* db_;
  const bool batch_events_;  // SqliteOptions::batch_events
  FaultCheck fault_;         // empty unless a test asked for faults
  bool injected_ = false;    // the last statement failed by fault_, not by SQLite
  std::mutex mu_;            // one connection, used by one thread at a time
  std::unordered_map<std::string, sqlite3_stmt*> stmts_;
};

// Makes the database at path (creating it empty when absent) and the WAL, shared-memory and journal
// files beside it 0600, whatever the umask: SQLite creates those with the database file's mode, so a
// private database keeps them private too.
Status make_database_private(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::internal("cannot open " + path + ": " + std::strerror(errno));
  Status s = make_private(fd, path);
  ::close(fd);
  if (!s) return s;
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    const std::string beside = path + suffix;
    fd = ::open(beside.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) continue;  // absent
    s = make_private(fd, beside);
    ::close(fd);
    if (!s) return s;
  }
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path, SqliteOptions options) {
  if (Status s = make_database_private(path); !s) return s;
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      options.vfs.empty() ? nullptr : options.vfs.c_str());
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Status::internal("cannot open " + path + ": " + msg);
  }
  auto store = std::make_unique<SqliteStore>(db, std::move(options));
  if (Status s = store->init(); !s) return s;
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace openbatch::store
