// Owners as a whole (store/store.h): moving everything of one owner to another, and the installation's
// secrets (the key of the owner ids).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "store/records.h"

namespace openbatch::store {

class OwnerStore {
 public:
  virtual ~OwnerStore() = default;

  // Gives every file and batch of owner `from` to owner `to`, for each pair, in one transaction (owner
  // ids computed a new way). A pair whose `from` owns nothing changes nothing.
  virtual Status change_owners(const std::vector<std::pair<std::string, std::string>>& from_to) = 0;
  // The secret stored under name; candidate is stored and returned when none is. Nodes asking at once
  // all get the same one.
  virtual Result<std::string> keep_secret(const std::string& name, const std::string& candidate) = 0;
};

}  // namespace openbatch::store
