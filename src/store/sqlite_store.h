// The Store on SQLite: one database file in WAL mode, prepared statements, one transaction per
// operation, a schema version in PRAGMA user_version migrated forward on open.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "store/store.h"

namespace openbatch::store {

// Opens (creating when absent) the database at path, e.g. DATA_DIR/openbatch.sqlite3, and brings its
// schema up to date. Fails when the file was written by a newer openbatch (an unknown schema version).
Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path);

}  // namespace openbatch::store
