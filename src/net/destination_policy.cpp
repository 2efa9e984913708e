#include "net/destination_policy.h"

#include <algorithm>
#include <cctype>

namespace openbatch::net {

namespace {

// Lower case, no brackets around an IPv6 address, no trailing dot.
std::string normalize_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  std::string out(host);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace

bool DestinationPolicy::allows(std::string_view url_host, const IpAddress& address) const {
  if (allow_private || classify(address) == AddressRange::kPublic) return true;
  const std::string host = normalize_host(url_host);
  return std::any_of(allowed_hosts.begin(), allowed_hosts.end(), [&](const std::string& allowed) {
    if (auto ip = parse_ip_address(allowed)) return *ip == address;
    return !host.empty() && normalize_host(allowed) == host;
  });
}

}  // namespace openbatch::net
