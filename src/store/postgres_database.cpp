#include "store/postgres_database.h"

#include <utility>
#include <vector>

#include "postgres/connection.h"
#include "store/migrations.h"

namespace openbatch::store {
namespace {

// The quota lock is an advisory lock whose first key is "ob" + "qt" in ASCII (0x6f627174 = 1868722548),
// out of the way of other users of the database, and whose second is a hash of the owner.
// One owner's batches take their turn there, whichever node starts them: the lock holds until the
// transaction ends, and a sum taken after it (READ COMMITTED: a statement sees what was committed
// before it began) counts every batch started before. The node_models lock's first key is "ob" + "nm"
// (0x6f626e6d = 1868721773): one node at a time records its models.
constexpr sql::Dialect kPostgresDialect = {
    /*for_update=*/" FOR UPDATE",
    /*skip_locked=*/" FOR UPDATE SKIP LOCKED",
    /*lock_owner_quota=*/"SELECT pg_advisory_xact_lock(1868722548, hashtext(owner)) FROM batches WHERE id=$1",
    /*lock_node_models=*/"SELECT pg_advisory_xact_lock(1868721773, 0)",
    /*offset_column=*/"byte_offset",
    /*rows_per_insert=*/1000,  // a round trip per 1,000 requests, not per request
    /*budget_in_sql=*/true,
};

class ResultRow final : public sql::Row {
 public:
  ResultRow(const postgres::Rows& rows, int row) : rows_(rows), row_(row) {}
  std::string text(int col) const override { return rows_.text(row_, col); }
  int64_t i64(int col) const override { return rows_.i64(row_, col); }
  std::optional<int64_t> opt_i64(int col) const override { return rows_.opt_i64(row_, col); }
  int64_t bytes(int col) const override { return static_cast<int64_t>(rows_.text(row_, col).size()); }

 private:
  const postgres::Rows& rows_;
  int row_;
};

class PooledConnection final : public sql::Connection {
 public:
  explicit PooledConnection(postgres::Connection& c) : c_(c) {}
  Result<int64_t> exec(const std::string& sql, const std::vector<sql::Value>& params,
                       const sql::RowFn& on_row) override {
    std::vector<postgres::Param> values;
    values.reserve(params.size());
    for (const sql::Value& v : params) {
      if (v.is_null()) {
        values.emplace_back(nullptr);
      } else if (v.is_int()) {
        values.emplace_back(v.as_int());
      } else {
        values.emplace_back(v.as_text());
      }
    }
    auto rows = c_.exec(sql, values);
    if (!rows) return rows.status();
    for (int i = 0; on_row && i < rows->size(); ++i) {
      if (!on_row(ResultRow(*rows, i))) break;
    }
    return rows->affected();
  }

 private:
  postgres::Connection& c_;
};

class PostgresDatabase final : public sql::Database {
 public:
  explicit PostgresDatabase(std::shared_ptr<postgres::Database> db) : db_(std::move(db)) {}

  const sql::Dialect& dialect() const override { return kPostgresDialect; }
  bool exclusive() const override { return false; }
  Status run(const std::function<Status(sql::Connection&)>& fn) override {
    return db_->run([&](postgres::Connection& c) {
      PooledConnection pooled(c);
      return fn(pooled);
    });
  }
  Status transaction(const std::function<Status(sql::Connection&)>& fn) override {
    return db_->transaction([&](postgres::Connection& c) {
      PooledConnection pooled(c);
      return fn(pooled);
    });
  }
  void reclaim_space() override {}  // autovacuum's work

 private:
  std::shared_ptr<postgres::Database> db_;
};

}  // namespace

Result<std::unique_ptr<sql::Database>> open_postgres_database(const std::string& url) {
  auto db = postgres::Database::open(url);
  if (!db) return db.status();
  const std::vector<std::string> migrations = schema_migrations(SqlEngine::kPostgres);
  std::vector<const char*> steps;
  for (const std::string& m : migrations) steps.push_back(m.c_str());
  if (Status s = postgres::migrate(**db, "store", steps); !s) return s;
  return std::unique_ptr<sql::Database>(std::make_unique<PostgresDatabase>(std::move(db).value()));
}

}  // namespace openbatch::store
