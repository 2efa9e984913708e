#include "net/ip_address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace openbatch::net {

namespace {

AddressRange classify_v4(const uint8_t* a) {
  if (a[0] == 0) return AddressRange::kUnspecified;  // "this network": Linux connects 0.0.0.0 to itself
  if (a[0] == 127) return AddressRange::kLoopback;
  if (a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168)) {
    return AddressRange::kPrivate;
  }
  if (a[0] == 100 && (a[1] & 0xc0) == 64) return AddressRange::kSharedAddress;
  if (a[0] == 169 && a[1] == 254) return AddressRange::kLinkLocal;
  if (a[0] >= 224 && a[0] <= 239) return AddressRange::kMulticast;
  if (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255) return AddressRange::kBroadcast;
  if (a[0] >= 240) return AddressRange::kReserved;
  if (a[0] == 192 && a[1] == 0 && (a[2] == 0 || a[2] == 2)) return AddressRange::kReserved;
  if (a[0] == 198 && (a[1] & 0xfe) == 18) return AddressRange::kReserved;  // benchmarking 198.18/15
  if ((a[0] == 198 && a[1] == 51 && a[2] == 100) || (a[0] == 203 && a[1] == 0 && a[2] == 113)) {
    return AddressRange::kReserved;  // documentation
  }
  return AddressRange::kPublic;
}

bool all_zero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

}  // namespace

std::optional<IpAddress> parse_ip_address(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  if (text.empty() || text.find('\0') != std::string_view::npos) return std::nullopt;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* found = nullptr;
  if (::getaddrinfo(std::string(text).c_str(), nullptr, &hints, &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  auto address = ip_address_of(found->ai_addr, found->ai_addrlen);
  ::freeaddrinfo(found);
  return address;
}

std::optional<IpAddress> ip_address_of(const sockaddr* addr, socklen_t len) {
  if (addr == nullptr) return std::nullopt;
  IpAddress out;
  if (addr->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    std::memcpy(out.bytes.data(), &in->sin_addr, 4);
    return out;
  }
  if (addr->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    out.v6 = true;
    std::memcpy(out.bytes.data(), &in6->sin6_addr, 16);
    return out;
  }
  return std::nullopt;
}

std::string to_string(const IpAddress& address) {
  char buf[INET6_ADDRSTRLEN] = {0};
  ::inet_ntop(address.v6 ? AF_INET6 : AF_INET, address.bytes.data(), buf, sizeof buf);
  return buf;
}

AddressRange classify(const IpAddress& address) {
  const uint8_t* a = address.bytes.data();
  if (!address.v6) return classify_v4(a);
  if (all_zero(a, 15)) return a[15] == 1 ? AddressRange::kLoopback : AddressRange::kUnspecified;
  // Forms that carry an IPv4 address reach (or are translated to) that address.
  const bool mapped = all_zero(a, 10) && a[10] == 0xff && a[11] == 0xff;  // ::ffff:0:0/96
  const bool translated =
      all_zero(a, 8) && a[8] == 0xff && a[9] == 0xff && all_zero(a + 10, 2);  // ::ffff:0:0:0/96
  const bool compatible = all_zero(a, 12);                                    // ::/96
  const bool nat64 = a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && all_zero(a + 4, 8);
  if (mapped || translated || compatible || nat64) return classify_v4(a + 12);
  if (a[0] == 0x20 && a[1] == 0x02) return classify_v4(a + 2);  // 6to4: 2002:AABB:CCDD::/48
  if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && a[4] == 0x00 && a[5] == 0x01) {
    return AddressRange::kPrivate;  // 64:ff9b:1::/48, local-use NAT64
  }
  if ((a[0] & 0xfe) == 0xfc) return AddressRange::kPrivate;                    // fc00::/7
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return AddressRange::kLinkLocal;  // fe80::/10
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) return AddressRange::kReserved;   // fec0::/10, site-local
  if (a[0] == 0xff) return AddressRange::kMulticast;
  if (a[0] == 0x01 && a[1] == 0x00 && all_zero(a + 2, 6)) return AddressRange::kReserved;  // 100::/64
  if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) return AddressRange::kReserved;
  return AddressRange::kPublic;
}

const char* describe(AddressRange range) {
  switch (range) {
    case AddressRange::kPublic:
      return "public";
    case AddressRange::kUnspecified:
      return "unspecified";
    case AddressRange::kLoopback:
      return "loopback";
    case AddressRange::kPrivate:
      return "private";
    case AddressRange::kSharedAddress:
      return "shared (carrier-grade NAT)";
    case AddressRange::kLinkLocal:
      return "link-local";
    case AddressRange::kMulticast:
      return "multicast";
    case AddressRange::kBroadcast:
      return "broadcast";
    case AddressRange::kReserved:
      return "reserved";
  }
  return "reserved";
}

}  // namespace openbatch::net
