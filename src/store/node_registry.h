// The models each node of a fleet serves (store/store.h): every node records its names with a
// heartbeat, so that any node can tell which models the fleet serves, has served, and serves now.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/records.h"

namespace openbatch::store {

class NodeRegistry {
 public:
  virtual ~NodeRegistry() = default;

  // Records that node serves exactly `names` (model ids and aliases) at now_ms, in one transaction:
  // each name's heartbeat becomes now_ms; a name node recorded before and no longer serves is removed
  // for it, unless no other node has a row of that name (the fleet then remembers it was served, with
  // its last heartbeat). Rows of any node older than prune_before_ms are removed where a newer row of
  // the same name exists: what the table holds stays the live nodes' names and one row a name ever
  // served.
  // url: where other nodes reach node's API ("http://host:port"; "" when they cannot), kept on its rows.
  virtual Status record_node_models(const std::string& node, const std::vector<std::string>& names,
                                    const std::string& url, int64_t now_ms, int64_t prune_before_ms) = 0;
  // Every name a node has recorded, each once, with the latest heartbeat of the nodes that recorded it;
  // ordered by name.
  virtual Result<std::vector<ServedModel>> served_models() = 0;
  // The URLs of the nodes that recorded name with a heartbeat at or after since_ms, each once, the
  // latest heartbeat first; nodes that recorded no URL are left out.
  virtual Result<std::vector<std::string>> node_urls(const std::string& name, int64_t since_ms) = 0;
};

}  // namespace openbatch::store
