// PROXY protocol version 2 headers (haproxy's proxy-protocol.txt, section 2.2): what privlink
// puts in front of a connection's stream for services with enableProxyProtocol, and in front of
// their HTTP health probes.
#pragma once

#include <cstdint>
#include <span>

#include "nat/flow_key.h"

namespace privlink::dataplane {

inline constexpr uint8_t kProxyV2Signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                  0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
inline constexpr uint8_t kProxyV2CommandLocal = 0x20;  // version 2, LOCAL
inline constexpr uint8_t kProxyV2CommandProxy = 0x21;  // version 2, PROXY
inline constexpr uint8_t kProxyV2Inet4Stream = 0x11;   // AF_INET, STREAM
inline constexpr uint8_t kProxyV2Unspec = 0x00;
// Azure's TLV: type 0xEE, then subtype 0x01 and the private endpoint's LinkID (32 bits, little
// endian).
inline constexpr uint8_t kAzureTlvType = 0xEE;
inline constexpr uint8_t kAzureTlvSubtypeLinkId = 0x01;

inline constexpr uint16_t kProxyV2FixedLen = 16;  // signature, command, family, length
inline constexpr uint16_t kProxyV2Inet4AddressesLen = 12;
inline constexpr uint16_t kAzureLinkIdTlvLen = 8;  // type, length (2), subtype, LinkID (4)
// The header of a proxied connection: 36 bytes, the stream shift of every such flow.
inline constexpr uint16_t kProxyV2LinkIdHeaderLen =
    kProxyV2FixedLen + kProxyV2Inet4AddressesLen + kAzureLinkIdTlvLen;
inline constexpr uint16_t kProxyV2LocalHeaderLen = kProxyV2FixedLen;

// Writes the PROXY header of a connection from `client` (the client's address and port towards
// the private endpoint's: the flow's consumer-side tuple) made through the endpoint `link_id`
// names: kProxyV2LinkIdHeaderLen bytes.
void WriteProxyV2(std::span<uint8_t, kProxyV2LinkIdHeaderLen> out, const nat::Tuple& client,
                  uint32_t link_id);
// The LOCAL header (no addresses) health probes send: kProxyV2LocalHeaderLen bytes.
void WriteProxyV2Local(std::span<uint8_t, kProxyV2LocalHeaderLen> out);

}  // namespace privlink::dataplane
