// The SQL store's Database (store/sql_database.h) on PostgreSQL (postgres/connection.h): a pool of
// connections that many openbatch nodes share a database through; rows are locked where a statement
// reads what it then changes (SELECT ... FOR UPDATE, SKIP LOCKED for claims). Internal to store/.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "store/sql_database.h"

namespace openbatch::store {

// Connects to the database at url (a libpq connection URI) and brings the store's schema up to date,
// the nodes taking turns. Unavailable when it cannot be reached.
Result<std::unique_ptr<sql::Database>> open_postgres_database(const std::string& url);

}  // namespace openbatch::store
