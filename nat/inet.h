// IPv4 address and port helpers shared by every part.
//
// Addresses and ports travel through privlink in network byte order, exactly as they sit in a
// packet, so the fast path builds keys and rewrites headers with plain loads and stores and never
// swaps bytes. Only formatting, parsing and arithmetic on ports convert to host order.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace privlink {

using Ipv4Be = uint32_t;  // an IPv4 address in network byte order
using PortBe = uint16_t;  // a TCP port in network byte order

constexpr uint16_t ByteSwap16(uint16_t v) {
  return static_cast<uint16_t>((v << 8) | (v >> 8));
}
constexpr uint32_t ByteSwap32(uint32_t v) {
  return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}
// privlink targets little-endian x86-64 and arm64 (as DPDK's own fast paths mostly do).
constexpr Ipv4Be HostToBe32(uint32_t host) {
  return ByteSwap32(host);
}
constexpr uint32_t Be32ToHost(Ipv4Be be) {
  return ByteSwap32(be);
}
constexpr PortBe HostToBe16(uint16_t host) {
  return ByteSwap16(host);
}
constexpr uint16_t Be16ToHost(PortBe be) {
  return ByteSwap16(be);
}

// 10.0.0.1 -> network-order value; handy in tests and tables.
constexpr Ipv4Be Ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return HostToBe32((uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d);
}

// Strict dotted-quad parser: four decimal octets 0-255, no leading zeros beyond "0", no spaces.
absl::StatusOr<Ipv4Be> ParseIpv4(std::string_view text);
std::string FormatIpv4(Ipv4Be ip);
// "10.0.0.2:40000"
std::string FormatEndpoint(Ipv4Be ip, PortBe port);

}  // namespace privlink
