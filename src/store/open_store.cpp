// The openers of the Store: one SqlStore, on the database a URL names.
#include "store/postgres_database.h"
#include "store/postgres_store.h"
#include "store/sql_store.h"
#include "store/sqlite_database.h"
#include "store/sqlite_store.h"
#include "store/store.h"

namespace openbatch::store {

bool is_postgres_url(const std::string& url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path, SqliteOptions options) {
  auto db = open_sqlite_database(path, options);
  if (!db) return db.status();
  return std::unique_ptr<Store>(std::make_unique<SqlStore>(std::move(db).value(), options));
}

Result<std::unique_ptr<Store>> open_postgres_store(const std::string& url, const StoreOptions& options) {
  auto db = open_postgres_database(url);
  if (!db) return db.status();
  return std::unique_ptr<Store>(std::make_unique<SqlStore>(std::move(db).value(), options));
}

Result<std::unique_ptr<Store>> open_store(const std::string& url, const StoreOptions& options) {
  if (is_postgres_url(url)) return open_postgres_store(url, options);
  SqliteOptions sqlite;
  sqlite.batch_events = options.batch_events;
  return open_sqlite_store(url, std::move(sqlite));
}

}  // namespace openbatch::store
