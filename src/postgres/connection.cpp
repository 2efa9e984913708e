#include "postgres/connection.h"

#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <utility>

namespace openbatch::postgres {
namespace {

// The database is not there for a moment: a connection error, a server shutting down or starting.
bool is_unreachable(const std::string& sqlstate) {
  return sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03";
}

// PostgreSQL aborted the transaction and asks for it to be run again.
bool is_retryable(const std::string& sqlstate) { return sqlstate == "40001" || sqlstate == "40P01"; }

std::string trimmed(const char* message) {
  std::string m = message ? message : "";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

}  // namespace

Rows::Rows(pg_result* result) : result_(result) {}
Rows::~Rows() {
  if (result_) PQclear(result_);
}
Rows::Rows(Rows&& other) noexcept : result_(std::exchange(other.result_, nullptr)) {}
int Rows::size() const { return PQntuples(result_); }
int64_t Rows::affected() const {
  const char* n = PQcmdTuples(result_);
  return n && *n ? std::strtoll(n, nullptr, 10) : 0;
}
bool Rows::is_null(int row, int col) const { return PQgetisnull(result_, row, col) != 0; }
std::string Rows::text(int row, int col) const {
  if (is_null(row, col)) return "";
  return std::string(PQgetvalue(result_, row, col), static_cast<size_t>(PQgetlength(result_, row, col)));
}
int64_t Rows::i64(int row, int col) const {
  if (is_null(row, col)) return 0;
  return std::strtoll(PQgetvalue(result_, row, col), nullptr, 10);
}
std::optional<int64_t> Rows::opt_i64(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return i64(row, col);
}

Connection::~Connection() { PQfinish(conn_); }

bool Connection::broken() const { return PQstatus(conn_) != CONNECTION_OK; }

Result<Rows> Connection::exec(const std::string& sql, const std::vector<Param>& params, bool binary_results) {
  std::vector<const char*> values(params.size());
  std::vector<int> lengths(params.size()), formats(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    values[i] = params[i].value ? params[i].value->data() : nullptr;
    lengths[i] = params[i].value ? static_cast<int>(params[i].value->size()) : 0;
    formats[i] = params[i].binary ? 1 : 0;
  }
  // Without parameters, PQexec: it also runs several statements at once (migrations).
  PGresult* r = params.empty() && !binary_results
                    ? PQexec(conn_, sql.c_str())
                    : PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                                   values.data(), lengths.data(), formats.data(), binary_results ? 1 : 0);
  Rows rows(r);
  const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    sqlstate_.clear();
    return rows;
  }
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  sqlstate_ = state ? state : "";
  const std::string message = trimmed(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
  if (broken() || is_unreachable(sqlstate_) || (sqlstate_.empty() && !r)) {
    if (sqlstate_.empty()) sqlstate_ = "08000";
    return Status::unavailable("postgresql: " + message);
  }
  return Status::internal("postgresql: " + message + " (" + sqlstate_ + ")");
}

struct Database::Pool {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::unique_ptr<Connection>> idle;
  size_t open = 0;  // connections handed out or idle
  size_t max = 8;
};

Database::Database(std::string url, size_t max_connections)
    : url_(std::move(url)), pool_(std::make_unique<Pool>()) {
  pool_->max = std::max<size_t>(1, max_connections);
}

Database::~Database() = default;

Result<std::shared_ptr<Database>> Database::open(const std::string& url, size_t max_connections) {
  std::shared_ptr<Database> db(new Database(url, max_connections));
  auto c = db->acquire();
  if (!c) return c.status();
  db->release(std::move(c).value());
  return db;
}

Result<std::unique_ptr<Connection>> Database::acquire(bool fresh) {
  {
    std::unique_lock lock(pool_->mu);
    if (fresh) {
      // Idle connections were opened before the server went away: none of them is good any more.
      pool_->open -= pool_->idle.size();
      pool_->idle.clear();
    }
    pool_->cv.wait(lock, [&] { return !pool_->idle.empty() || pool_->open < pool_->max; });
    if (!pool_->idle.empty()) {
      auto c = std::move(pool_->idle.back());
      pool_->idle.pop_back();
      c->reused_ = true;
      return c;
    }
    ++pool_->open;
  }
  PGconn* conn = PQconnectdb(url_.c_str());
  if (!conn || PQstatus(conn) != CONNECTION_OK) {
    const std::string message = trimmed(conn ? PQerrorMessage(conn) : "out of memory");
    if (conn) PQfinish(conn);
    {
      std::lock_guard lock(pool_->mu);
      --pool_->open;
    }
    pool_->cv.notify_one();
    return Status::unavailable("postgresql: cannot connect: " + message);
  }
  auto c = std::unique_ptr<Connection>(new Connection(conn));
  // Our statements say what they mean; keep libpq's notices off stderr.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return c;
}

void Database::release(std::unique_ptr<Connection> c) {
  {
    std::lock_guard lock(pool_->mu);
    if (c->broken()) {
      --pool_->open;  // dropped: the next acquire connects again
    } else {
      pool_->idle.push_back(std::move(c));
    }
  }
  pool_->cv.notify_one();
}

Status Database::run(const std::function<Status(Connection&)>& fn) {
  for (bool fresh = false;; fresh = true) {
    auto c = acquire(fresh);
    if (!c) return c.status();
    Status s = fn(**c);
    // A connection kept from before a server restart fails on its first use: once more on a new one.
    const bool again = !s && (*c)->broken() && (*c)->reused_ && !fresh;
    release(std::move(c).value());
    if (!again) return s;
  }
}

Status Database::transaction(const std::function<Status(Connection&)>& fn) {
  constexpr int kAttempts = 5;
  bool fresh = false;
  for (int attempt = 1;; ++attempt) {
    auto c = acquire(fresh);
    if (!c) return c.status();
    Connection& conn = **c;
    Status s;
    std::string state;
    if (auto begin = conn.exec("BEGIN"); !begin) {
      s = begin.status();
    } else {
      s = fn(conn);
      if (s) {
        if (auto commit = conn.exec("COMMIT"); !commit) s = commit.status();
      }
      state = conn.last_sqlstate();
      if (!s && !conn.broken()) conn.exec("ROLLBACK");
    }
    // A connection kept from before a server restart fails on its first use: once more on a new one.
    const bool stale = !s && conn.broken() && conn.reused_ && !fresh;
    const bool again = (stale || (!s && is_retryable(state))) && attempt < kAttempts;
    release(std::move(c).value());
    if (!again) return s;
    if (stale) {
      fresh = true;
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5 * attempt));
  }
}

Status migrate(Database& db, const std::string& component, const std::vector<const char*>& migrations) {
  return db.transaction([&](Connection& c) -> Status {
    // Any fixed number: every openbatch node takes the same lock while it migrates.
    if (auto r = c.exec("SELECT pg_advisory_xact_lock(7262001)"); !r) return r.status();
    if (auto r = c.exec("CREATE TABLE IF NOT EXISTS openbatch_schema (component TEXT PRIMARY KEY, version "
                        "INTEGER NOT NULL)");
        !r) {
      return r.status();
    }
    auto v = c.exec("SELECT version FROM openbatch_schema WHERE component=$1", {component});
    if (!v) return v.status();
    const int64_t version = v->size() == 0 ? 0 : v->i64(0, 0);
    if (version > static_cast<int64_t>(migrations.size())) {
      return Status::internal("the database's " + component + " schema has version " +
                              std::to_string(version) + ", newer than this openbatch knows (" +
                              std::to_string(migrations.size()) + ")");
    }
    for (size_t i = static_cast<size_t>(version); i < migrations.size(); ++i) {
      if (auto r = c.exec(migrations[i]); !r) return r.status();
    }
    auto w = c.exec(
        "INSERT INTO openbatch_schema (component, version) VALUES ($1, $2) ON CONFLICT (component) DO UPDATE "
        "SET version=EXCLUDED.version",
        {component, static_cast<int64_t>(migrations.size())});
    return w ? Status::ok() : w.status();
  });
}

}  // namespace openbatch::postgres
