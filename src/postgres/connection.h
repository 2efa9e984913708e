// PostgreSQL through libpq: a pool of connections to one database, statements with parameters, and
// transactions that are tried again when PostgreSQL asks for it (a deadlock, a serialization
// failure). The face of postgres/, shared by store/ (metadata) and blobs/ (file bytes); nothing else
// includes libpq.
//
// Errors: a database that cannot be reached (down, restarting, a connection cut) is an unavailable
// Status, and the broken connection is dropped, so the next call connects again; any other failure
// of a statement is internal, with PostgreSQL's message.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

struct pg_conn;
struct pg_result;

namespace openbatch::postgres {

// One parameter of a statement: text (numbers are written in decimal), NULL, or bytes (bytea).
struct Param {
  std::optional<std::string> value;  // nullopt: NULL
  bool binary = false;

  Param(std::nullptr_t) {}                         // NOLINT(google-explicit-constructor)
  Param(const std::string& v) : value(v) {}        // NOLINT(google-explicit-constructor)
  Param(const char* v) : value(std::string(v)) {}  // NOLINT(google-explicit-constructor)
  Param(int64_t v) : value(std::to_string(v)) {}   // NOLINT(google-explicit-constructor)
  Param(int v) : value(std::to_string(v)) {}       // NOLINT(google-explicit-constructor)
  Param(const std::optional<int64_t>& v) {         // NOLINT(google-explicit-constructor)
    if (v) value = std::to_string(*v);
  }
  static Param bytes(std::string_view v) {
    Param p(nullptr);
    p.value = std::string(v);
    p.binary = true;
    return p;
  }
  static Param null_if_empty(const std::string& v) { return v.empty() ? Param(nullptr) : Param(v); }
};

// The rows a statement returned. Columns are read as text, or as bytes when the statement asked for
// binary results.
class Rows {
 public:
  explicit Rows(pg_result* result);
  ~Rows();
  Rows(Rows&& other) noexcept;
  Rows& operator=(Rows&&) = delete;
  Rows(const Rows&) = delete;

  int size() const;          // rows
  int64_t affected() const;  // rows an INSERT, UPDATE or DELETE changed
  bool is_null(int row, int col) const;
  std::string text(int row, int col) const;  // "" for NULL
  int64_t i64(int row, int col) const;       // 0 for NULL
  std::optional<int64_t> opt_i64(int row, int col) const;

 private:
  pg_result* result_;
};

// One connection. Not thread-safe: the pool hands it to one caller at a time.
class Connection {
 public:
  ~Connection();
  // Runs sql with params ($1, $2...). binary_results: columns come back as bytes (for bytea). Without
  // params, sql may hold several statements.
  Result<Rows> exec(const std::string& sql, const std::vector<Param>& params = {},
                    bool binary_results = false);
  bool broken() const;
  // The SQLSTATE of the last statement that failed ("" when none did).
  const std::string& last_sqlstate() const { return sqlstate_; }

 private:
  friend class Database;
  explicit Connection(pg_conn* conn) : conn_(conn) {}
  pg_conn* conn_;
  std::string sqlstate_;
  bool reused_ = false;  // handed out before (it may have outlived its server)
};

// Connections to one database, opened as needed up to a bound and kept for reuse. Thread-safe.
class Database {
 public:
  // url: a libpq connection URI (postgresql://user@host:port/db, postgresql:///db?host=/socket/dir)
  // or key=value string. Connects once to check it; fails (unavailable) when the database cannot be
  // reached.
  static Result<std::shared_ptr<Database>> open(const std::string& url, size_t max_connections = 8);
  ~Database();

  // Runs fn on a connection of the pool (statements in autocommit).
  Status run(const std::function<Status(Connection&)>& fn);
  // Runs fn in one transaction: BEGIN, fn, COMMIT; ROLLBACK when fn fails. A transaction PostgreSQL
  // aborts for a deadlock or a serialization failure runs again, a few times. fn may run more than
  // once, so it must only collect its results in state it resets at its start.
  Status transaction(const std::function<Status(Connection&)>& fn);

 private:
  struct Pool;
  explicit Database(std::string url, size_t max_connections);
  // fresh: drop the idle connections and open a new one.
  Result<std::unique_ptr<Connection>> acquire(bool fresh = false);
  void release(std::unique_ptr<Connection> c);

  const std::string url_;
  std::unique_ptr<Pool> pool_;
};

// Brings the schema of component ("store", "blobs") up to date: migrations[i] moves it from version i
// to i+1. Nodes starting together take turns (an advisory lock); fails when the database holds a
// newer version than this openbatch knows.
Status migrate(Database& db, const std::string& component, const std::vector<const char*>& migrations);

}  // namespace openbatch::postgres
