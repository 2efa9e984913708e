// The API keys a server accepts: where they come from (the command line, a key file, the
// environment) and how a request's key is checked against them without leaking, through the time
// the check takes, how much of a guess was right.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace openbatch::api {

// The keys of a key file: one a line, surrounding spaces and tabs trimmed; blank lines and lines
// starting with '#' skipped. An error naming the file when it cannot be read or holds no key.
Result<std::vector<std::string>> read_api_key_file(const std::string& path);

// The keys of a comma-separated list ($OPENBATCH_API_KEYS): spaces trimmed, empty items skipped.
std::vector<std::string> split_api_key_list(std::string_view list);

// Checks presented keys against the accepted ones in constant time: each accepted key is compared
// by SHA-256 digest with CRYPTO_memcmp, all of them every time, so neither a key's length nor its
// first differing byte shows in the time taken. Thread-safe once made.
class ApiKeyMatcher {
 public:
  explicit ApiKeyMatcher(const std::vector<std::string>& keys);

  // Whether token is one of the keys.
  bool matches(std::string_view token) const;
  bool empty() const { return digests_.empty(); }

 private:
  std::vector<std::array<unsigned char, 32>> digests_;
};

}  // namespace openbatch::api
