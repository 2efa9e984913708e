#include "net/ip_address.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include "net/destination_policy.h"

namespace openbatch::net {
namespace {

AddressRange range_of(const std::string& text) {
  auto address = parse_ip_address(text);
  EXPECT_TRUE(address.has_value()) << text;
  return address ? classify(*address) : AddressRange::kPublic;
}

struct Case {
  const char* address;
  AddressRange range;
};

TEST(IpAddressTest, ClassifiesEveryNonPublicRangeAndItsOtherSpellings) {
  const Case cases[] = {
      // Loopback, as the resolver reads its older spellings too.
      {"127.0.0.1", AddressRange::kLoopback},
      {"127.255.255.254", AddressRange::kLoopback},
      {"0x7f000001", AddressRange::kLoopback},
      {"2130706433", AddressRange::kLoopback},
      {"127.1", AddressRange::kLoopback},
      {"0177.0.0.1", AddressRange::kLoopback},
      {"::1", AddressRange::kLoopback},
      {"[::1]", AddressRange::kLoopback},
      {"::ffff:127.0.0.1", AddressRange::kLoopback},
      {"[::ffff:7f00:1]", AddressRange::kLoopback},
      {"::127.0.0.1", AddressRange::kLoopback},         // IPv4-compatible
      {"::ffff:0:127.0.0.1", AddressRange::kLoopback},  // IPv4-translated
      {"64:ff9b::127.0.0.1", AddressRange::kLoopback},  // NAT64
      {"2002:7f00:1::", AddressRange::kLoopback},       // 6to4
      // Unspecified: Linux connects 0.0.0.0 to the host itself.
      {"0.0.0.0", AddressRange::kUnspecified},
      {"0", AddressRange::kUnspecified},
      {"0.1.2.3", AddressRange::kUnspecified},
      {"::", AddressRange::kUnspecified},
      {"::ffff:0.0.0.0", AddressRange::kUnspecified},
      // Private networks (RFC 1918, unique local IPv6).
      {"10.0.0.1", AddressRange::kPrivate},
      {"10.255.255.255", AddressRange::kPrivate},
      {"172.16.0.1", AddressRange::kPrivate},
      {"172.31.255.255", AddressRange::kPrivate},
      {"192.168.0.1", AddressRange::kPrivate},
      {"192.168.255.255", AddressRange::kPrivate},
      {"::ffff:10.1.2.3", AddressRange::kPrivate},
      {"::ffff:192.168.1.1", AddressRange::kPrivate},
      {"fc00::1", AddressRange::kPrivate},
      {"fd12:3456:789a::1", AddressRange::kPrivate},
      {"64:ff9b:1::a00:1", AddressRange::kPrivate},
      // Carrier-grade NAT.
      {"100.64.0.1", AddressRange::kSharedAddress},
      {"100.127.255.255", AddressRange::kSharedAddress},
      // Link-local: the cloud metadata services.
      {"169.254.169.254", AddressRange::kLinkLocal},
      {"::ffff:169.254.169.254", AddressRange::kLinkLocal},
      {"fe80::1", AddressRange::kLinkLocal},
      {"febf::1", AddressRange::kLinkLocal},
      // Multicast and broadcast.
      {"224.0.0.1", AddressRange::kMulticast},
      {"239.255.255.255", AddressRange::kMulticast},
      {"ff02::1", AddressRange::kMulticast},
      {"255.255.255.255", AddressRange::kBroadcast},
      {"::ffff:255.255.255.255", AddressRange::kBroadcast},
      // Reserved and documentation ranges.
      {"240.0.0.1", AddressRange::kReserved},
      {"192.0.0.8", AddressRange::kReserved},
      {"192.0.2.1", AddressRange::kReserved},
      {"198.18.0.1", AddressRange::kReserved},
      {"198.19.255.255", AddressRange::kReserved},
      {"198.51.100.7", AddressRange::kReserved},
      {"203.0.113.9", AddressRange::kReserved},
      {"fec0::1", AddressRange::kReserved},
      {"100::1", AddressRange::kReserved},
      {"2001:db8::1", AddressRange::kReserved},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(range_of(c.address), c.range) << c.address << " is " << describe(range_of(c.address));
  }
}

TEST(IpAddressTest, PublicAddressesAndTheNeighboursOfEachRangeArePublic) {
  const char* public_addresses[] = {
      "8.8.8.8",
      "1.1.1.1",
      "93.184.216.34",
      "9.255.255.255",
      "11.0.0.0",
      "172.15.255.255",
      "172.32.0.0",
      "192.167.255.255",
      "192.169.0.0",
      "100.63.255.255",
      "100.128.0.0",
      "169.253.255.255",
      "169.255.0.0",
      "126.255.255.255",
      "128.0.0.0",
      "223.255.255.255",
      "198.17.255.255",
      "198.20.0.0",
      "192.0.1.1",
      "1.0.0.0",
      "2606:4700:4700::1111",
      "2001:4860:4860::8888",
      "::ffff:8.8.8.8",
      "64:ff9b::808:808",
      "2002:808:808::1",
      "fbff::1",
      "fe7f::1",
      "2001:db9::1",
  };
  for (const char* text : public_addresses) {
    EXPECT_EQ(range_of(text), AddressRange::kPublic) << text << " is " << describe(range_of(text));
  }
}

TEST(IpAddressTest, ParsesNumericHostsOnlyAndPrintsThem) {
  EXPECT_FALSE(parse_ip_address("localhost"));
  EXPECT_FALSE(parse_ip_address("example.com"));
  EXPECT_FALSE(parse_ip_address(""));
  EXPECT_FALSE(parse_ip_address("[]"));
  EXPECT_FALSE(parse_ip_address("1.2.3.4.5"));
  EXPECT_FALSE(parse_ip_address("::ffff:127.0.0.1:80"));
  EXPECT_EQ(to_string(*parse_ip_address("0x7f000001")), "127.0.0.1");
  EXPECT_EQ(to_string(*parse_ip_address("[::ffff:127.0.0.1]")), "::ffff:127.0.0.1");
  EXPECT_FALSE(parse_ip_address("127.0.0.1")->v6);
  EXPECT_TRUE(parse_ip_address("::1")->v6);
  // A mapped address is not the IPv4 address itself (they are classed alike, but compared apart).
  EXPECT_NE(*parse_ip_address("::ffff:127.0.0.1"), *parse_ip_address("127.0.0.1"));
}

TEST(IpAddressTest, SocketAddressesOfBothFamilies) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(0xa9fea9fe);  // 169.254.169.254
  auto v4 = ip_address_of(reinterpret_cast<const sockaddr*>(&in), sizeof in);
  ASSERT_TRUE(v4);
  EXPECT_EQ(to_string(*v4), "169.254.169.254");
  EXPECT_FALSE(ip_address_of(reinterpret_cast<const sockaddr*>(&in), sizeof in - 1));
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_addr.s6_addr[15] = 1;
  auto v6 = ip_address_of(reinterpret_cast<const sockaddr*>(&in6), sizeof in6);
  ASSERT_TRUE(v6);
  EXPECT_EQ(classify(*v6), AddressRange::kLoopback);
  sockaddr unix_addr{};
  unix_addr.sa_family = AF_UNIX;
  EXPECT_FALSE(ip_address_of(&unix_addr, sizeof unix_addr));
}

TEST(DestinationPolicyTest, PublicOnlyByDefault) {
  DestinationPolicy policy;
  EXPECT_TRUE(policy.allows("example.com", *parse_ip_address("93.184.216.34")));
  EXPECT_FALSE(policy.allows("localhost", *parse_ip_address("127.0.0.1")));
  EXPECT_FALSE(policy.allows("metadata.google.internal", *parse_ip_address("169.254.169.254")));
  EXPECT_FALSE(policy.allows("[::1]", *parse_ip_address("::1")));
}

TEST(DestinationPolicyTest, AllowPrivateOpensEveryAddress) {
  DestinationPolicy policy;
  policy.allow_private = true;
  EXPECT_TRUE(policy.allows("localhost", *parse_ip_address("127.0.0.1")));
  EXPECT_TRUE(policy.allows("", *parse_ip_address("169.254.169.254")));
}

TEST(DestinationPolicyTest, AllowedHostsByNameOrByAddress) {
  DestinationPolicy policy;
  policy.allowed_hosts = {"Images.Internal", "10.0.0.7", "[fd00::5]"};
  EXPECT_TRUE(policy.allows("images.internal", *parse_ip_address("10.1.1.1")));
  EXPECT_TRUE(policy.allows("IMAGES.internal.", *parse_ip_address("10.1.1.1")));
  EXPECT_FALSE(policy.allows("other.internal", *parse_ip_address("10.1.1.1")));
  EXPECT_FALSE(policy.allows("", *parse_ip_address("10.1.1.1")));
  // An allowed address is allowed whatever name leads to it; other addresses are not.
  EXPECT_TRUE(policy.allows("anything", *parse_ip_address("10.0.0.7")));
  EXPECT_TRUE(policy.allows("[fd00::5]", *parse_ip_address("fd00::5")));
  EXPECT_FALSE(policy.allows("10.0.0.8", *parse_ip_address("10.0.0.8")));
  // A name that looks like an allowed address but resolves elsewhere is not allowed.
  EXPECT_FALSE(policy.allows("10.0.0.7", *parse_ip_address("127.0.0.1")));
}

}  // namespace
}  // namespace openbatch::net
