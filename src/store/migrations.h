// The schema of the SQL store, as one list of migrations for both dialects. Internal to store/.
#pragma once

#include <string>
#include <vector>

namespace openbatch::store {

enum class SqlEngine { kSqlite, kPostgres };

// The statements that bring engine's schema from version i to i+1, for each i: SQLite counts its
// versions in PRAGMA user_version, PostgreSQL in openbatch_schema (component "store"). PostgreSQL came
// at SQLite's version 3, so its version 1 is SQLite's first three; from there the two go step for
// step.
std::vector<std::string> schema_migrations(SqlEngine engine);

}  // namespace openbatch::store
