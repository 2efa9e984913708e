// Owner ids: what a file or batch records as the API key that made it. A keyed digest (HMAC-SHA256
// under a secret of the installation, 256 bits), so that whoever reads the database cannot test
// candidate keys against it without the secret, and two keys never share an owner.
//
//   auto secret = load_or_create_secret_file(data_dir + "/openbatch.secret");
//   OwnerIds ids(*secret);
//   ids.of("sk-...")   // "kh-" and 64 hex digits
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace openbatch::batch {

class OwnerIds {
 public:
  // REQUIRES: secret is not empty.
  explicit OwnerIds(std::string secret) : secret_(std::move(secret)) {}

  // "kh-" and the 64 hex digits of HMAC-SHA256(secret, api_key). Thread-safe.
  std::string of(std::string_view api_key) const;

  // The owner id that openbatch gave api_key before owner ids were keyed: "key-" and the 16 hex digits
  // of its FNV-1a-64 (with the older code's offset basis, 1469598103934665603). Only to find the
  // records to move to of(api_key).
  static std::string legacy_of(std::string_view api_key);

 private:
  std::string secret_;
};

// A new secret: 32 bytes from the OS's CSPRNG, as 64 hex digits.
std::string new_owner_secret();

// The secret kept in the file at path, made (0600, synced with its folder) when absent. Fails on a file
// that does not hold a secret (less than 32 hex digits), rather than making another one: records made
// under the lost secret would not be found again.
Result<std::string> load_or_create_secret_file(const std::string& path);

}  // namespace openbatch::batch
