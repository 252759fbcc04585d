#include "dataplane/packet/proxy_v2.h"

#include <cstring>

namespace privlink::dataplane {
namespace {

void WriteFixed(uint8_t* out, uint8_t command, uint8_t family, uint16_t length) {
  std::memcpy(out, kProxyV2Signature, sizeof kProxyV2Signature);
  out[12] = command;
  out[13] = family;
  out[14] = static_cast<uint8_t>(length >> 8);
  out[15] = static_cast<uint8_t>(length);
}

}  // namespace

void WriteProxyV2(std::span<uint8_t, kProxyV2LinkIdHeaderLen> out, const nat::Tuple& client,
                  uint32_t link_id) {
  uint8_t* p = out.data();
  WriteFixed(p, kProxyV2CommandProxy, kProxyV2Inet4Stream,
             kProxyV2Inet4AddressesLen + kAzureLinkIdTlvLen);
  p += kProxyV2FixedLen;
  // Addresses and ports in network order, as they are on the wire.
  std::memcpy(p, &client.src_ip, 4);
  std::memcpy(p + 4, &client.dst_ip, 4);
  std::memcpy(p + 8, &client.src_port, 2);
  std::memcpy(p + 10, &client.dst_port, 2);
  p += kProxyV2Inet4AddressesLen;
  const uint16_t value_len = kAzureLinkIdTlvLen - 3;
  p[0] = kAzureTlvType;
  p[1] = static_cast<uint8_t>(value_len >> 8);
  p[2] = static_cast<uint8_t>(value_len);
  p[3] = kAzureTlvSubtypeLinkId;
  for (int i = 0; i < 4; ++i) p[4 + i] = static_cast<uint8_t>(link_id >> (8 * i));
}

void WriteProxyV2Local(std::span<uint8_t, kProxyV2LocalHeaderLen> out) {
  WriteFixed(out.data(), kProxyV2CommandLocal, kProxyV2Unspec, 0);
}

}  // namespace privlink::dataplane
