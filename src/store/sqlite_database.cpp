#include "store/sqlite_database.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "common/owned_folder.h"
#include "store/migrations.h"

namespace openbatch::store {
namespace {

// PRAGMA auto_vacuum's answer for INCREMENTAL.
constexpr int64_t kAutoVacuumIncremental = 2;

constexpr sql::Dialect kSqliteDialect = {
    /*for_update=*/"",
    /*skip_locked=*/"",
    /*lock_owner_quota=*/nullptr,  // BEGIN IMMEDIATE holds the database's write lock
    /*lock_node_models=*/nullptr,
    /*offset_column=*/"offset",
    /*rows_per_insert=*/1,
    /*budget_in_sql=*/false,
};

// sql with PostgreSQL's placeholders ($1) as SQLite's numbered ones (?1).
std::string with_sqlite_placeholders(std::string sql) {
  for (size_t i = 0; i + 1 < sql.size(); ++i) {
    if (sql[i] == '$' && std::isdigit(static_cast<unsigned char>(sql[i + 1]))) sql[i] = '?';
  }
  return sql;
}

// The current row of a stepped statement.
class StatementRow final : public sql::Row {
 public:
  explicit StatementRow(sqlite3_stmt* stmt) : stmt_(stmt) {}
  std::string text(int col) const override {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }
  int64_t i64(int col) const override { return sqlite3_column_int64(stmt_, col); }
  std::optional<int64_t> opt_i64(int col) const override {
    if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
    return i64(col);
  }
  int64_t bytes(int col) const override { return sqlite3_column_bytes(stmt_, col); }

 private:
  sqlite3_stmt* stmt_;
};

class SqliteDatabase final : public sql::Database, private sql::Connection {
 public:
  SqliteDatabase(sqlite3* db, const SqliteOptions& options) : db_(db) {
    if (options.fail_statement) {
      fault_ = [this, fail = options.fail_statement](const char* sql) {
        injected_ = fail(sql);
        return injected_;
      };
    }
  }
  ~SqliteDatabase() override {
    for (auto& [sql, stmt] : stmts_) sqlite3_finalize(stmt);
    sqlite3_close(db_);
  }

  const sql::Dialect& dialect() const override { return kSqliteDialect; }
  bool exclusive() const override { return true; }

  Status run(const std::function<Status(sql::Connection&)>& fn) override {
    std::lock_guard lock(mu_);
    return fn(*this);
  }

  Status transaction(const std::function<Status(sql::Connection&)>& fn) override {
    std::lock_guard lock(mu_);
    return in_transaction([&] { return fn(*this); });
  }

  // Gives the free pages that deleted rows left back to the file system, and empties the WAL, whose
  // old frames still hold the rows' text. Best effort: the rows are gone (secure_delete overwrote
  // them) whether or not this succeeds, and the next call does what this one could not.
  void reclaim_space() override {
    if (fault_) return;  // a test's failing statements are the store's transactions, not this
    std::lock_guard lock(mu_);
    exec_script("PRAGMA incremental_vacuum");
    exec_script("PRAGMA wal_checkpoint(TRUNCATE)");
  }

  Status init() {
    // secure_delete: deleted rows (the results of a finalized batch) are overwritten, not left in free
    // pages. Incremental auto-vacuum gives free pages back to the file system (reclaim_space); a
    // database made before it was set is rewritten once (VACUUM) to take it.
    if (Status s = exec_script("PRAGMA busy_timeout=5000"); !s) return s;
    if (Status s = exec_script("PRAGMA secure_delete=ON"); !s) return s;
    if (pragma_value("auto_vacuum") != kAutoVacuumIncremental) {
      if (Status s = exec_script("PRAGMA auto_vacuum=INCREMENTAL"); !s) return s;
      if (pragma_value("page_count") > 0) {
        if (Status s = exec_script("VACUUM"); !s) return s;
      }
    }
    for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL"}) {
      if (Status s = exec_script(pragma); !s) return s;
    }
    const std::vector<std::string> migrations = schema_migrations(SqlEngine::kSqlite);
    const int64_t known = static_cast<int64_t>(migrations.size());
    const int64_t version = std::max<int64_t>(0, pragma_value("user_version"));
    if (version > known) {
      return Status::internal("the database has schema version " + std::to_string(version) +
                              ", newer than this openbatch knows (" + std::to_string(known) + ")");
    }
    for (int64_t v = version; v < known; ++v) {
      Status migrated = in_transaction([&]() -> Status {
        if (Status s = exec_script(migrations[static_cast<size_t>(v)]); !s) return s;
        return exec_script("PRAGMA user_version=" + std::to_string(v + 1));
      });
      if (!migrated) return migrated;
    }
    return Status::ok();
  }

 private:
  Result<int64_t> exec(const std::string& sql, const std::vector<sql::Value>& params,
                       const sql::RowFn& on_row) override {
    sqlite3_stmt* stmt = prepare(sql);
    if (stmt == nullptr) return error();
    // Resets the cached statement for its next use, however this ends.
    struct Reset {
      sqlite3_stmt* stmt;
      ~Reset() {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
      }
    } reset{stmt};
    for (size_t i = 0; i < params.size(); ++i) {
      const int at = static_cast<int>(i) + 1;
      const sql::Value& v = params[i];
      if (v.is_null()) {
        sqlite3_bind_null(stmt, at);
      } else if (v.is_int()) {
        sqlite3_bind_int64(stmt, at, v.as_int());
      } else {
        sqlite3_bind_text(stmt, at, v.as_text().data(), static_cast<int>(v.as_text().size()),
                          SQLITE_TRANSIENT);
      }
    }
    if (fault_ && fault_(sqlite3_sql(stmt))) return error();
    const StatementRow row(stmt);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      if (on_row && !on_row(row)) return int64_t{0};
    }
    if (rc != SQLITE_DONE) return error();
    return sqlite3_stmt_readonly(stmt) ? int64_t{0} : int64_t{sqlite3_changes(db_)};
  }

  // Runs body in one transaction: BEGIN IMMEDIATE first, and if that fails nothing else runs (not
  // one statement in autocommit); COMMIT when body returns OK, ROLLBACK when it fails or COMMIT does.
  // REQUIRES: mu_ held; body runs no transaction statements of its own.
  template <typename Body>
  Status in_transaction(Body&& body) {
    if (Status s = exec_script("BEGIN IMMEDIATE"); !s) return s;
    Status s = body();
    if (s) s = exec_script("COMMIT");
    // After some errors (a full disk) SQLite has rolled back already; then ROLLBACK only says so.
    if (!s && !sqlite3_get_autocommit(db_)) exec_script("ROLLBACK");
    return s;
  }

  // Runs sql, which may hold several statements, without parameters or rows.
  Status exec_script(const std::string& sql) {
    if (fault_ && sql != "ROLLBACK" && fault_(sql.c_str())) return error();
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      return Status::internal("sqlite: " + msg);
    }
    return Status::ok();
  }

  // The cached prepared statement for sql, or null when the disk keeps it from being prepared
  // (preparing reads the schema: an I/O error, a power cut, a busy or corrupt file); then
  // sqlite3_errmsg says why. REQUIRES: mu_ held.
  sqlite3_stmt* prepare(const std::string& sql) {
    auto it = stmts_.find(sql);
    if (it != stmts_.end()) return it->second;
    const std::string text = with_sqlite_placeholders(sql);
    sqlite3_stmt* stmt = nullptr;
    if (const int rc = sqlite3_prepare_v3(db_, text.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
        rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      if ((rc & 0xff) != SQLITE_ERROR) return nullptr;
      // A statement of ours that does not compile is a programming error; fail loudly and early.
      std::fprintf(stderr, "openbatch: sqlite cannot prepare %s: %s\n", text.c_str(), sqlite3_errmsg(db_));
      std::abort();
    }
    stmts_.emplace(sql, stmt);
    return stmt;
  }

  // The integer a PRAGMA answers (-1 when it answers nothing). REQUIRES: mu_ held, or init.
  int64_t pragma_value(const char* name) {
    int64_t value = -1;
    auto r = exec(std::string("PRAGMA ") + name, {}, [&](const sql::Row& row) {
      value = row.i64(0);
      return false;
    });
    return r ? value : -1;
  }

  // The error of the statement that just failed: SQLite's message, or a full disk's where a test made
  // the failure up.
  Status error() {
    const char* why = injected_ ? sqlite3_errstr(SQLITE_FULL) : sqlite3_errmsg(db_);
    injected_ = false;
    return Status::internal(std::string("sqlite: ") + why);
  }

  sqlite3* db_;
  std::function<bool(const char* sql)> fault_;  // empty unless a test asked for faults
  bool injected_ = false;                       // the last statement failed by fault_, not by SQLite
  std::mutex mu_;                               // one connection, used by one caller at a time
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

Result<std::unique_ptr<sql::Database>> open_sqlite_database(const std::string& path,
                                                            const SqliteOptions& options) {
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
  auto database = std::make_unique<SqliteDatabase>(db, options);
  if (Status s = database->init(); !s) return s;
  return std::unique_ptr<sql::Database>(std::move(database));
}

}  // namespace openbatch::store
