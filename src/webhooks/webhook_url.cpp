#include "webhooks/webhook_url.h"

#include <curl/curl.h>
#include <netdb.h>
#include <sys/socket.h>

#include <memory>

#include "net/ip_address.h"

namespace openbatch::webhooks {
namespace {

// The part of url, or "" when it has none.
std::string url_part(CURLU* u, CURLUPart part) {
  char* value = nullptr;
  if (curl_url_get(u, part, &value, 0) != CURLUE_OK || value == nullptr) return "";
  std::string out(value);
  curl_free(value);
  return out;
}

Status refused(const std::string& url, net::AddressRange range, const std::string& address) {
  return Status::invalid_request("--webhook-url " + url + ": its host's address " + address + " is " +
                                 net::describe(range) +
                                 "; webhooks go to public addresses only, unless --webhook-allow-private "
                                 "is given");
}

}  // namespace

Status check_webhook_url(const std::string& url, const net::DestinationPolicy& policy) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), curl_url_cleanup);
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return Status::invalid_request("--webhook-url " + url +
                                   ": not a URL (expected http:// or https://HOST/PATH)");
  }
  const std::string scheme = url_part(u.get(), CURLUPART_SCHEME);
  if (scheme != "http" && scheme != "https") {
    return Status::invalid_request("--webhook-url " + url + ": only http:// and https:// URLs are supported");
  }
  std::string host = url_part(u.get(), CURLUPART_HOST);
  if (host.empty()) return Status::invalid_request("--webhook-url " + url + ": the URL has no host");
  if (policy.allow_private) return Status::ok();
  if (auto address = net::parse_ip_address(host)) {
    if (!policy.allows(host, *address))
      return refused(url, net::classify(*address), net::to_string(*address));
    return Status::ok();
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return Status::ok();
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, freeaddrinfo);
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    auto address = net::ip_address_of(a->ai_addr, a->ai_addrlen);
    if (!address) continue;
    if (!policy.allows(host, *address))
      return refused(url, net::classify(*address), net::to_string(*address));
  }
  return Status::ok();
}

}  // namespace openbatch::webhooks
