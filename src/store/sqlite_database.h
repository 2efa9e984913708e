// The SQL store's Database (store/sql_database.h) on sqlite3: one connection to one database file,
// used by one caller at a time; transactions are BEGIN IMMEDIATE, so that they exclude each other and
// any other process on the file. Internal to store/.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "store/sql_database.h"
#include "store/sqlite_store.h"

namespace openbatch::store {

// Opens (creating when absent, 0600 with its WAL and journal files) the database at path, sets its
// PRAGMAs (WAL, synchronous=FULL, secure_delete, incremental auto-vacuum) and brings its schema up to
// date. Fails when the file was written by a newer openbatch (an unknown schema version).
Result<std::unique_ptr<sql::Database>> open_sqlite_database(const std::string& path,
                                                            const SqliteOptions& options);

}  // namespace openbatch::store
