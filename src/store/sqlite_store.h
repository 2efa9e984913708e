// The Store on SQLite: one database file in WAL mode (synchronous=FULL, secure_delete, incremental
// auto-vacuum, 0600), prepared statements, one transaction per operation (BEGIN IMMEDIATE), a schema
// version in PRAGMA user_version migrated forward on open. The SQL store (store/sql_store.h) on
// store/sqlite_database.h; exclusive() is true.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "store/store.h"

namespace openbatch::store {

struct SqliteOptions : StoreOptions {
  // For tests: asked before each statement runs (BEGIN IMMEDIATE, COMMIT and every other statement,
  // ROLLBACK excepted) with its SQL; true makes that statement fail as on a full disk (SQLITE_FULL),
  // without running it. Called with the store's lock held; must not call the store.
  std::function<bool(std::string_view sql)> fail_statement;
  // For tests: the name of a registered SQLite VFS to open the database through ("": the default one),
  // such as one that drops unsynced writes at a simulated power cut.
  std::string vfs;
};

// Opens (creating when absent) the database at path, e.g. DATA_DIR/openbatch.sqlite3, and brings its
// schema up to date. Fails when the file was written by a newer openbatch (an unknown schema version).
Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path, SqliteOptions options = {});

}  // namespace openbatch::store
