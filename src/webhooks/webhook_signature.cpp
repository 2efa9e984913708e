#include "webhooks/webhook_signature.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>

namespace openbatch::webhooks {
namespace {

constexpr std::string_view kPrefix = "whsec_";
constexpr size_t kMinKeyBytes = 16;

std::string base64_encode(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  const int written =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<size_t>(written));
  return out;
}

}  // namespace

Result<std::string> decode_webhook_secret(std::string_view secret) {
  const auto bad = [](const std::string& why) {
    return Status::invalid_request("Invalid webhook secret: " + why +
                                   " (expected whsec_ and the base64 of at least 16 random bytes, e.g. "
                                   "whsec_$(openssl rand -base64 32)).");
  };
  if (secret.substr(0, kPrefix.size()) != kPrefix) return bad("it does not start with whsec_");
  const std::string_view text = secret.substr(kPrefix.size());
  if (text.empty() || text.size() % 4 != 0) return bad("its base64 part is not base64");
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/' && c != '=')
      return bad("its base64 part is not base64");
  }
  std::string key(text.size() / 4 * 3, '\0');
  const int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(key.data()),
                      reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return bad("its base64 part is not base64");
  // EVP_DecodeBlock counts the bytes that the padding stands for; they are not the key's.
  size_t length = static_cast<size_t>(n);
  for (size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) --length;
  key.resize(length);
  if (key.size() < kMinKeyBytes) return bad("it holds fewer than 16 bytes");
  return key;
}

std::string sign_webhook(std::string_view key, std::string_view webhook_id, int64_t timestamp,
                         std::string_view body) {
  std::string message;
  message.reserve(webhook_id.size() + 24 + body.size());
  message.append(webhook_id).append(".").append(std::to_string(timestamp)).append(".").append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &mac_length);
  return "v1," + base64_encode(mac, mac_length);
}

}  // namespace openbatch::webhooks
