#include "api/api_keys.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fstream>

namespace openbatch::api {

namespace {

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

std::array<unsigned char, 32> digest(std::string_view s) {
  std::array<unsigned char, 32> out{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out.data());
  return out;
}

}  // namespace

Result<std::vector<std::string>> read_api_key_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::invalid_request("cannot read the API key file " + path);
  std::vector<std::string> keys;
  std::string line;
  while (std::getline(in, line)) {
    const std::string_view key = trim(line);
    if (key.empty() || key.front() == '#') continue;
    keys.emplace_back(key);
  }
  if (in.bad()) return Status::invalid_request("cannot read the API key file " + path);
  if (keys.empty()) return Status::invalid_request("the API key file " + path + " holds no key");
  return keys;
}

std::vector<std::string> split_api_key_list(std::string_view list) {
  std::vector<std::string> keys;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view key = trim(list.substr(0, comma));
    if (!key.empty()) keys.emplace_back(key);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return keys;
}

ApiKeyMatcher::ApiKeyMatcher(const std::vector<std::string>& keys) {
  digests_.reserve(keys.size());
  for (const std::string& key : keys) digests_.push_back(digest(key));
}

bool ApiKeyMatcher::matches(std::string_view token) const {
  const auto presented = digest(token);
  int matched = 0;
  for (const auto& d : digests_) matched |= CRYPTO_memcmp(d.data(), presented.data(), d.size()) == 0;
  return matched != 0;
}

}  // namespace openbatch::api
