#include "store/postgres_store.h"
#include "store/sqlite_store.h"
#include "store/store.h"

namespace openbatch::store {

bool is_postgres_url(const std::string& url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}

Result<std::unique_ptr<Store>> open_store(const std::string& url, const StoreOptions& options) {
  if (is_postgres_url(url)) return open_postgres_store(url, options);
  SqliteOptions sqlite;
  sqlite.batch_events = options.batch_events;
  return open_sqlite_store(url, std::move(sqlite));
}

}  // namespace openbatch::store
