// What the SQL store (store/sql_store.h) needs of a database: connections that run statements with
// parameters, transactions, and the few places where SQLite and PostgreSQL speak differently (the
// Dialect). Implemented on sqlite3 (store/sqlite_database.h) and on libpq (store/postgres_database.h);
// internal to store/.
//
// Statements are written once, with PostgreSQL's placeholders ($1, $2...; a number may repeat); the
// SQLite connection reads them as ?1, ?2.... Where the two differ in more than that, the statement
// takes its words from the Dialect.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace openbatch::store::sql {

// One parameter of a statement: NULL, an integer or text.
class Value {
 public:
  Value(std::nullptr_t) {}                                     // NOLINT(google-explicit-constructor)
  Value(int64_t v) : kind_(kInt), int_(v) {}                   // NOLINT(google-explicit-constructor)
  Value(int v) : kind_(kInt), int_(v) {}                       // NOLINT(google-explicit-constructor)
  Value(std::string v) : kind_(kText), text_(std::move(v)) {}  // NOLINT(google-explicit-constructor)
  Value(const char* v) : kind_(kText), text_(v) {}             // NOLINT(google-explicit-constructor)
  Value(const std::optional<int64_t>& v) {                     // NOLINT(google-explicit-constructor)
    if (v) *this = Value(*v);
  }
  // "" is NULL.
  static Value null_if_empty(std::string v) { return v.empty() ? Value(nullptr) : Value(std::move(v)); }

  bool is_null() const { return kind_ == kNull; }
  bool is_int() const { return kind_ == kInt; }
  int64_t as_int() const { return int_; }
  const std::string& as_text() const { return text_; }

 private:
  enum Kind { kNull, kInt, kText };
  Kind kind_ = kNull;
  int64_t int_ = 0;
  std::string text_;
};

// The current row of a statement's result. Valid only while the row callback that got it runs.
class Row {
 public:
  virtual ~Row() = default;
  virtual std::string text(int col) const = 0;  // "" for NULL
  virtual int64_t i64(int col) const = 0;       // 0 for NULL
  virtual std::optional<int64_t> opt_i64(int col) const = 0;
  virtual int64_t bytes(int col) const = 0;  // the length of the column's text
};

// Called for each row a statement returns, in order; false stops reading (the rows after it may then
// never be fetched from the database).
using RowFn = std::function<bool(const Row&)>;

// One connection, handed to one caller at a time (Database::run, Database::transaction).
class Connection {
 public:
  virtual ~Connection() = default;
  // Runs one statement with params bound to $1, $2...; calls on_row for the rows it returns. Answers
  // how many rows an INSERT, UPDATE or DELETE changed (0 for other statements). A database that cannot
  // be reached is unavailable; any other failure internal, with the database's message.
  virtual Result<int64_t> exec(const std::string& sql, const std::vector<Value>& params = {},
                               const RowFn& on_row = {}) = 0;
};

// Where the SQL of SQLite and of PostgreSQL differ, beyond placeholders.
struct Dialect {
  // Locks the rows a SELECT in a transaction reads until the transaction ends: " FOR UPDATE" on
  // PostgreSQL; "" on SQLite, whose transactions hold the whole database (BEGIN IMMEDIATE).
  const char* for_update;
  // Locks the rows a SELECT picks, skipping rows another transaction is locking: " FOR UPDATE SKIP
  // LOCKED", or "".
  const char* skip_locked;
  // A statement that serializes, until the transaction ends, the quota checks of the owner of batch
  // $1 (start_batch); nullptr where transactions already exclude each other.
  const char* lock_owner_quota;
  // A statement that serializes, until the transaction ends, the nodes' changes to node_models
  // (record_node_models), so that two nodes dropping a name at once cannot both see the other's row
  // and forget the name; nullptr where transactions already exclude each other.
  const char* lock_node_models;
  // The column of batch_requests that holds a request's byte offset ("offset" in SQLite's schema;
  // a reserved word in PostgreSQL, where it is "byte_offset").
  const char* offset_column;
  // Rows of batch_requests one INSERT carries at most (a round trip a row costs nothing in SQLite).
  size_t rows_per_insert;
  // The byte budget of a read of results is counted in the database, so that rows past it are never
  // fetched (PostgreSQL fetches a statement's rows whole); otherwise rows are stepped one at a time.
  bool budget_in_sql;
};

// A database: the connections to it, its Dialect and its transactions. Thread-safe.
class Database {
 public:
  virtual ~Database() = default;
  virtual const Dialect& dialect() const = 0;
  // True when one process holds the database alone (SQLite); false when many nodes share it.
  virtual bool exclusive() const = 0;
  // Runs fn on a connection, its statements in autocommit. A read of several statements sees
  // what the others committed between them, except where the database is exclusive.
  virtual Status run(const std::function<Status(Connection&)>& fn) = 0;
  // Runs fn in one transaction: committed when fn returns OK, rolled back otherwise. fn may run more
  // than once (a transaction PostgreSQL aborted to break a deadlock runs again), so it must reset
  // the state it fills at its start.
  virtual Status transaction(const std::function<Status(Connection&)>& fn) = 0;
  // Gives the space of deleted rows back to the file system, after a transaction that deleted many.
  // Best effort; nothing where the database does it itself.
  virtual void reclaim_space() = 0;
};

}  // namespace openbatch::store::sql
