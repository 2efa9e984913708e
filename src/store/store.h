// The metadata store: files, batches and the requests of each batch. One interface made of roles (one
// header each: FileStore, OwnerStore, BatchStore, RequestQueue, ProgressStore, EventOutbox, NodeRegistry; the
// records in store/records.h), implemented once over SQL (store/sql_store.h) on SQLite (store/sqlite_store.h:
// one process) and PostgreSQL (store/postgres_store.h: many nodes on one database); nothing here names
// a particular database.
//
// Every method is thread-safe and atomic: it either happens wholly or not at all, and it is durable when
// it returns OK. Records belong to an owner (a digest of an API key, "" without keys); methods that take
// an owner treat another owner's record as absent. A database that cannot be reached (restarting, the
// network away) is an unavailable Status; the caller tries again later.
//
// Many nodes share the work of a batch through leases: a node claims requests that have no result for
// a while (claim_requests), renews its leases while it works (renew_leases), and stores results fenced by
// the lease (record_results): a request's result is written once, and a node whose lease lapsed and was
// taken by another cannot write it. Validation and finalization of a batch are leased the same way, one
// node at a time (lease_batch). Times of leases are Unix milliseconds of the nodes' clocks.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "store/batch_store.h"
#include "store/event_outbox.h"
#include "store/file_store.h"
#include "store/node_registry.h"
#include "store/owner_store.h"
#include "store/progress_store.h"
#include "store/records.h"
#include "store/request_queue.h"

namespace openbatch::store {

// Every role of the store, in one object: what callers hold.
class Store : public FileStore,
              public OwnerStore,
              public BatchStore,
              public RequestQueue,
              public ProgressStore,
              public EventOutbox,
              public NodeRegistry {
 public:
  ~Store() override = default;

  // True when this store is exclusive to one process: no other process uses its database while it is
  // open (SQLite: an embedded database that the process which opened it holds), so leases left in it when it
  // opens are of a process that died (release_leases("")) and nothing changes it behind this process's back.
  // False when many nodes share the database (PostgreSQL). The same answer for the store's life.
  virtual bool exclusive() const = 0;
};

// Opens the store a URL names: postgresql://... or postgres://... (libpq's connection URIs, unix sockets
// included: postgresql:///DB?host=/run/postgresql) on PostgreSQL, anything else as the path of a SQLite
// database file.
Result<std::unique_ptr<Store>> open_store(const std::string& url, const StoreOptions& options = {});
// True when url names a PostgreSQL database.
bool is_postgres_url(const std::string& url);

}  // namespace openbatch::store
