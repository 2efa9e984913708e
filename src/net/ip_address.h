// IP addresses as the image fetcher meets them when it connects, and the ranges they belong to: the
// fetcher reaches public addresses only, unless the operator opens others (destination_policy.h).
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace openbatch::net {

// An IPv4 or an IPv6 address. An IPv4 address is kept as itself (its 4 bytes first), never mapped.
struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};

  bool operator==(const IpAddress&) const = default;
};

// Parses a numeric host as the system's resolver reads one (getaddrinfo with AI_NUMERICHOST): dotted
// quads and their older spellings (0x7f000001, 127.1, 0177.0.0.1), IPv6 with or without brackets
// ("[::1]"), IPv4-mapped IPv6 ("::ffff:127.0.0.1"). nullopt for a host name or anything else.
std::optional<IpAddress> parse_ip_address(std::string_view text);

// The address of an AF_INET or AF_INET6 socket address; nullopt for other families or a short len.
std::optional<IpAddress> ip_address_of(const sockaddr* addr, socklen_t len);

// "127.0.0.1", "::1".
std::string to_string(const IpAddress& address);

enum class AddressRange {
  kPublic,
  kUnspecified,    // 0.0.0.0/8, ::
  kLoopback,       // 127.0.0.0/8, ::1
  kPrivate,        // 10/8, 172.16/12, 192.168/16, fc00::/7, 64:ff9b:1::/48
  kSharedAddress,  // 100.64.0.0/10 (carrier-grade NAT)
  kLinkLocal,      // 169.254/16 (cloud metadata services live here), fe80::/10
  kMulticast,      // 224/4, ff00::/8
  kBroadcast,      // 255.255.255.255
  kReserved,       // documentation, benchmarking, 240/4, 192.0.0/24, fec0::/10, 100::/64, 2001:db8::/32
};

// The range address falls in. IPv6 forms that carry an IPv4 address are classed by that address:
// IPv4-mapped (::ffff:0:0/96), IPv4-compatible (::/96), NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
AddressRange classify(const IpAddress& address);

// "public", "loopback", "private", "shared (carrier-grade NAT)", "link-local", ...
const char* describe(AddressRange range);

}  // namespace openbatch::net
