// The Store on PostgreSQL, for many openbatch nodes on one database: every node answers every call
// from the same rows, and the requests of a batch are shared among the nodes through leases (claims
// with SELECT ... FOR UPDATE SKIP LOCKED, results fenced by the lease token). The schema is created
// and migrated on open (table openbatch_schema), the nodes taking turns. The SQL store
// (store/sql_store.h) on store/postgres_database.h; exclusive() is false.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "store/store.h"

namespace openbatch::store {

// Opens the database at url (a libpq connection URI: postgresql://user@host:5432/db, or
// postgresql:///db?host=/unix/socket/dir). Unavailable when it cannot be reached.
Result<std::unique_ptr<Store>> open_postgres_store(const std::string& url, const StoreOptions& options = {});

}  // namespace openbatch::store
