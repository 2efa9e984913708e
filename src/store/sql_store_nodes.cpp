// SqlStore: the models each node of the fleet serves (NodeRegistry).
#include <utility>

#include "store/sql_store.h"

namespace openbatch::store {

Status SqlStore::record_node_models(const std::string& node, const std::vector<std::string>& names,
                                    const std::string& url, int64_t now_ms, int64_t prune_before_ms) {
  return db_->transaction([&](sql::Connection& c) -> Status {
    // One node at a time: the deletes below read other nodes' rows that a concurrent transaction
    // could be deleting.
    if (d_.lock_node_models != nullptr) {
      auto locked = c.exec(d_.lock_node_models);
      if (!locked) return locked.status();
    }
    for (const std::string& name : names) {
      auto r = c.exec(
          "INSERT INTO node_models (node_id, model, heartbeat_at, url) VALUES ($1, $2, $3, $4) ON CONFLICT "
          "(node_id, model) DO UPDATE SET heartbeat_at=excluded.heartbeat_at, url=excluded.url",
          {node, name, now_ms, url});
      if (!r) return r.status();
    }
    // The names this node no longer serves: gone for it where another row remembers the name. Each is
    // checked on its own (the list of names is short: a node's models and aliases).
    std::vector<std::string> dropped;
    auto rows = c.exec("SELECT model FROM node_models WHERE node_id=$1", {node}, [&](const sql::Row& row) {
      std::string name = row.text(0);
      bool served = false;
      for (const std::string& n : names) served = served || n == name;
      if (!served) dropped.push_back(std::move(name));
      return true;
    });
    if (!rows) return rows.status();
    for (const std::string& name : dropped) {
      auto d = c.exec(
          "DELETE FROM node_models WHERE node_id=$1 AND model=$2 AND EXISTS (SELECT 1 FROM node_models o "
          "WHERE o.model=$2 AND o.node_id<>$1)",
          {node, name});
      if (!d) return d.status();
    }
    auto pruned = c.exec(
        "DELETE FROM node_models WHERE heartbeat_at<$1 AND EXISTS (SELECT 1 FROM node_models o WHERE "
        "o.model=node_models.model AND o.heartbeat_at>node_models.heartbeat_at)",
        {prune_before_ms});
    return pruned ? Status::ok() : pruned.status();
  });
}

Result<std::vector<ServedModel>> SqlStore::served_models() {
  return select<ServedModel>("SELECT model, MAX(heartbeat_at) FROM node_models GROUP BY model ORDER BY model",
                             {}, [](const sql::Row& row) {
                               return ServedModel{row.text(0), row.i64(1)};
                             });
}

Result<std::vector<std::string>> SqlStore::node_urls(const std::string& name, int64_t since_ms) {
  return select<std::string>(
      "SELECT url FROM node_models WHERE model=$1 AND heartbeat_at>=$2 AND url<>'' GROUP BY url ORDER BY "
      "MAX(heartbeat_at) DESC, url",
      {name, since_ms}, [](const sql::Row& row) { return row.text(0); });
}

}  // namespace openbatch::store
