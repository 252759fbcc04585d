#include "nat/inet.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace privlink {

absl::StatusOr<Ipv4Be> ParseIpv4(std::string_view text) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid IPv4 address '", absl::string_view(text.data(), text.size()), "'"));
  };
  uint32_t host = 0;
  int octets = 0;
  size_t i = 0;
  while (octets < 4) {
    if (i >= text.size() || text[i] < '0' || text[i] > '9') return bad();
    const size_t start = i;
    uint32_t value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      value = value * 10 + static_cast<uint32_t>(text[i] - '0');
      if (value > 255 || i - start >= 3) return bad();
      ++i;
    }
    if (i - start > 1 && text[start] == '0') return bad();  // "010" is octal to some parsers
    host = (host << 8) | value;
    ++octets;
    if (octets < 4) {
      if (i >= text.size() || text[i] != '.') return bad();
      ++i;
    }
  }
  if (i != text.size()) return bad();
  return HostToBe32(host);
}

std::string FormatIpv4(Ipv4Be ip) {
  const uint32_t h = Be32ToHost(ip);
  return absl::StrFormat("%u.%u.%u.%u", h >> 24, (h >> 16) & 0xff, (h >> 8) & 0xff, h & 0xff);
}

std::string FormatEndpoint(Ipv4Be ip, PortBe port) {
  return absl::StrCat(FormatIpv4(ip), ":", Be16ToHost(port));
}

}  // namespace privlink
