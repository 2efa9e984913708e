// Which destinations image URLs may reach. The server fetches the URLs its clients send, so by default
// it connects to public addresses only: no loopback, private, link-local (cloud metadata) or other
// non-public address, whatever name leads there. The operator opens more with --image-allow-private
// or --image-allow-host.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "net/ip_address.h"

namespace openbatch::net {

struct DestinationPolicy {
  bool allow_private = false;  // every address may be reached
  // Host names as URLs spell them ("images.internal", case-insensitive) or IP addresses ("10.0.0.7",
  // "::1") that may be reached whatever their address.
  std::vector<std::string> allowed_hosts;

  // Whether a connection to address may be made for a URL whose host is url_host (as the URL spells
  // it: brackets around IPv6 allowed, a trailing dot ignored). Thread-safe.
  bool allows(std::string_view url_host, const IpAddress& address) const;
  // Whether any allowed host is given (the fetcher then needs the URL's host to decide).
  bool names_hosts() const { return !allowed_hosts.empty(); }
};

}  // namespace openbatch::net
