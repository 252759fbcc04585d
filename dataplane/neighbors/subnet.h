// Ipv4Subnet: an IPv4 network and prefix length ("192.168.10.0/24"), for a provider port's
// on-link subnet (next-hop choice, which ARP senders may be learned).
//
// control/dataplane_config.h keeps the config's prefix as a plain {address, length} pair;
// dataplane/ may not depend on it, so the dataplane converts it with Ipv4Subnet::Make, which
// enforces what the dataplane relies on: a prefix of 0..32 and no host bits set.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nat/inet.h"

namespace privlink::dataplane {

inline constexpr uint8_t kIpv4MaxPrefixLen = 32;

struct Ipv4Subnet {
  Ipv4Be network = 0;
  uint8_t prefix_len = 0;

  // The netmask in network byte order. Defined for any prefix_len (a hand-built value above 32
  // reads as 32), so a bad aggregate can never shift out of range.
  constexpr Ipv4Be Mask() const {
    if (prefix_len == 0) return 0;
    if (prefix_len >= kIpv4MaxPrefixLen) return ~Ipv4Be{0};
    return HostToBe32(~uint32_t{0} << (kIpv4MaxPrefixLen - prefix_len));
  }
  constexpr bool Contains(Ipv4Be ip) const { return (ip & Mask()) == (network & Mask()); }

  std::string ToString() const { return FormatIpv4(network) + "/" + std::to_string(prefix_len); }

  // Rejects a prefix over 32 and host bits (naming the network they probably meant): a subnet
  // written as "192.168.10.7/24" is more likely a typo than a wish for 192.168.10.0/24.
  static absl::StatusOr<Ipv4Subnet> Make(Ipv4Be network, int prefix_len) {
    if (prefix_len < 0 || prefix_len > kIpv4MaxPrefixLen) {
      return absl::InvalidArgumentError("subnet prefix length " + std::to_string(prefix_len) +
                                        " is outside 0..32");
    }
    const Ipv4Subnet subnet{network, static_cast<uint8_t>(prefix_len)};
    if ((network & ~subnet.Mask()) != 0) {
      const Ipv4Subnet meant{network & subnet.Mask(), subnet.prefix_len};
      return absl::InvalidArgumentError(
          "subnet " + FormatIpv4(network) + "/" + std::to_string(prefix_len) +
          " has host bits set (did you mean " + meant.ToString() + "?)");
    }
    return subnet;
  }

  // "a.b.c.d/len": a strict dotted quad (ParseIpv4), then 1 or 2 decimal digits without a
  // leading zero, 0..32.
  static absl::StatusOr<Ipv4Subnet> Parse(std::string_view text) {
    const auto invalid = [text](std::string_view why) {
      return absl::InvalidArgumentError("invalid subnet '" + std::string(text) +
                                        "': " + std::string(why));
    };
    const size_t slash = text.find('/');
    if (slash == std::string_view::npos) return invalid("want a.b.c.d/len");
    absl::StatusOr<Ipv4Be> network = ParseIpv4(text.substr(0, slash));
    if (!network.ok()) return invalid("bad address");
    const std::string_view digits = text.substr(slash + 1);
    const bool well_formed = !digits.empty() && digits.size() <= 2 &&
                             digits.find_first_not_of("0123456789") == std::string_view::npos &&
                             !(digits.size() == 2 && digits[0] == '0');
    if (!well_formed) return invalid("prefix length must be a number 0..32");
    int prefix_len = 0;  // at most two digits: no overflow
    for (const char c : digits) prefix_len = prefix_len * 10 + (c - '0');
    if (prefix_len > kIpv4MaxPrefixLen) return invalid("prefix length must be a number 0..32");
    return Make(*network, prefix_len);  // its one remaining error names the subnet
  }

  bool operator==(const Ipv4Subnet&) const = default;
};

}  // namespace privlink::dataplane
