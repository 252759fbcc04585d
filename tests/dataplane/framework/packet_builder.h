// Test frames built field by field: Ethernet (+ VLAN tags), IPv4 (options, flags, fragment
// fields), TCP (flags, options, payload), UDP, ICMP, ARP and an IPv6 stub.
//
// Checksums come from the independent RFC 1071 reference (tests/nat/reference_checksum.h), never
// from the code under test, and are correct by default. Any field can be corrupted: the override
// fields of each *Fields struct are written as given (checksums are then computed over the result,
// so a test of one fault does not trip a second), and a built Frame can be truncated, padded or
// patched byte by byte afterwards.
//
//   Frame syn = BuildTcpFrame({.eth = {.vlans = {{.id = 100}}},
//                              .tcp = {.flags = nat::kTcpSyn,
//                                      .options = TcpOptions().Mss(1460).WindowScale(7).Build()}});
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "dataplane/packet/packet_view.h"
#include "dataplane/packet/wire_format.h"
#include "nat/checksum.h"
#include "nat/flow_key.h"
#include "nat/inet.h"
#include "nat/tcp_state.h"
#include "tests/nat/reference_checksum.h"

namespace privlink::dataplane::testing {

inline constexpr MacAddress kClientMac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
inline constexpr MacAddress kPortMac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};

struct VlanTag {
  uint16_t id = 0;
  uint8_t priority = 0;            // PCP, 0..7
  uint16_t tpid = kEtherTypeVlan;  // kEtherTypeQinQ for an 802.1ad S-tag
};

struct EthernetFields {
  MacAddress dst = kPortMac;
  MacAddress src = kClientMac;
  std::vector<VlanTag> vlans;         // outermost first
  std::optional<uint16_t> ethertype;  // default: the payload's
};

struct Ipv4Fields {
  Ipv4Be src = Ipv4(10, 0, 0, 2);
  Ipv4Be dst = Ipv4(10, 0, 0, 100);
  uint8_t tos = 0;
  uint16_t id = 0x1234;
  bool dont_fragment = true;
  bool more_fragments = false;
  uint16_t fragment_offset = 0;  // in 8-byte units
  uint8_t ttl = 64;
  std::vector<uint8_t> options;  // padded with zeros (end of options) to a multiple of 4 bytes
  // Overrides for malformed headers, written as given.
  std::optional<uint8_t> protocol;       // default: the payload's
  std::optional<uint8_t> version;        // default 4
  std::optional<uint8_t> ihl;            // default: (20 + options) / 4
  std::optional<uint16_t> total_length;  // default: header + payload
  std::optional<uint16_t> checksum;      // default: correct
};

struct TcpFields {
  PortBe src_port = HostToBe16(40000);
  PortBe dst_port = HostToBe16(80);
  uint32_t seq = 1000;  // host order
  uint32_t ack = 0;     // host order
  uint8_t flags = nat::kTcpSyn;
  uint16_t window = 64240;
  uint16_t urgent = 0;
  std::vector<uint8_t> options;  // e.g. TcpOptions().Mss(1460).Build(); padded like IPv4's
  std::vector<uint8_t> payload;
  std::optional<uint8_t> data_offset;  // default: (20 + options) / 4
  std::optional<uint16_t> checksum;    // default: correct
};

struct UdpFields {
  PortBe src_port = HostToBe16(5353);
  PortBe dst_port = HostToBe16(53);
  std::vector<uint8_t> payload;
  std::optional<uint16_t> length;    // default: 8 + payload
  std::optional<uint16_t> checksum;  // default: correct (0 is "none")
};

struct IcmpFields {
  uint8_t type = 8;  // echo request
  uint8_t code = 0;
  uint16_t id = 1;
  uint16_t sequence = 1;
  std::vector<uint8_t> payload;
};

struct ArpMessage {
  uint16_t op = kArpOpRequest;
  MacAddress sender_mac = kClientMac;
  Ipv4Be sender_ip = Ipv4(10, 0, 0, 2);
  MacAddress target_mac{};  // zero in a request
  Ipv4Be target_ip = Ipv4(10, 0, 0, 100);
  // Overrides for malformed messages.
  uint16_t hardware_type = kArpHardwareEthernet;
  uint16_t protocol_type = kEtherTypeIpv4;
  uint8_t hardware_len = 6;
  uint8_t protocol_len = 4;
};

struct Ipv6Fields {
  std::array<uint8_t, 16> src = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  std::array<uint8_t, 16> dst = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100};
  uint8_t next_header = nat::kIpProtoTcp;
  uint8_t hop_limit = 64;
  std::vector<uint8_t> payload = std::vector<uint8_t>(20, 0);
};

// Frame specs: outermost header first, so designated initializers read like the frame.
struct TcpFrameSpec {
  EthernetFields eth;
  Ipv4Fields ip;
  TcpFields tcp;
};
struct UdpFrameSpec {
  EthernetFields eth;
  Ipv4Fields ip;
  UdpFields udp;
};
struct IcmpFrameSpec {
  EthernetFields eth;
  Ipv4Fields ip;
  IcmpFields icmp;
};
// Any IPv4 protocol with raw L4 bytes (ip.protocol defaults to 253, reserved for experiments).
struct RawIpv4FrameSpec {
  EthernetFields eth;
  Ipv4Fields ip;
  std::vector<uint8_t> l4;
};
struct ArpFrameSpec {
  EthernetFields eth{.dst = kBroadcastMac};
  ArpMessage arp;
};
struct Ipv6FrameSpec {
  EthernetFields eth;
  Ipv6Fields ip;
};

// A built frame and where its headers start.
class Frame {
 public:
  std::vector<uint8_t> bytes;
  size_t l3_offset = 0;  // IPv4, ARP or IPv6 header
  size_t l4_offset = 0;  // TCP, UDP or ICMP header; 0 when there is none
  uint16_t l3_type = 0;  // ethertype of the L3 header

  uint32_t size() const { return static_cast<uint32_t>(bytes.size()); }
  PacketView view() const { return PacketView(bytes.data(), size()); }

  // Keeps the first `len` bytes (a no-op for a shorter frame).
  Frame& Truncate(size_t len) {
    bytes.resize(std::min(len, bytes.size()));
    return *this;
  }
  // Appends bytes that no header accounts for, as Ethernet padding does.
  Frame& Pad(size_t count, uint8_t value = 0) {
    bytes.insert(bytes.end(), count, value);
    return *this;
  }
  Frame& PadToMinimum() {
    return Pad(bytes.size() < kEthMinFrameLen ? kEthMinFrameLen - bytes.size() : 0);
  }
  // Patches a field at an offset from the frame's start; checksums are left as they are.
  Frame& Set8(size_t offset, uint8_t value) {
    bytes.at(offset) = value;
    return *this;
  }
  Frame& Set16(size_t offset, uint16_t host_value) {
    bytes.at(offset) = static_cast<uint8_t>(host_value >> 8);
    bytes.at(offset + 1) = static_cast<uint8_t>(host_value);
    return *this;
  }
  uint16_t Get16(size_t offset) const {
    return static_cast<uint16_t>((bytes.at(offset) << 8) | bytes.at(offset + 1));
  }

  // Recomputes the TCP, UDP or ICMP checksum (over the L4 bytes as built, up to the IPv4 total
  // length, cut at the frame's end), then the IPv4 header checksum over IHL * 4 bytes as a
  // receiver reads them (clamped to 20 bytes and the frame), so an odd IHL trips no second fault.
  Frame& FixChecksums() {
    if (l3_type != kEtherTypeIpv4 || l3_offset + nat::kIpv4MinHeaderLen > bytes.size()) {
      return *this;
    }
    const std::optional<size_t> field = L4ChecksumOffset();
    if (field && l4_offset != 0 && l4_offset + *field + 2 <= L4End()) {
      bytes[l4_offset + *field] = bytes[l4_offset + *field + 1] = 0;
      auto checksum = static_cast<uint16_t>(~nat::testing::ReferenceFold(L4Sum()));
      if (checksum == 0 && Protocol() == kIpProtoUdp) checksum = 0xffff;  // 0: "none" (RFC 768)
      Set16(l4_offset + *field, checksum);
    }
    uint8_t* ip = bytes.data() + l3_offset;
    ip[nat::kIpv4ChecksumOffset] = ip[nat::kIpv4ChecksumOffset + 1] = 0;
    Set16(l3_offset + nat::kIpv4ChecksumOffset,
          static_cast<uint16_t>(
              ~nat::testing::ReferenceFold(nat::testing::ReferenceSum(ip, Ipv4HeaderLen()))));
    return *this;
  }

  // Receiver-side checks with the reference: the sum over the header, checksum included, is
  // 0xffff (over the same bytes FixChecksums covers).
  bool Ipv4ChecksumOk() const {
    if (l3_type != kEtherTypeIpv4 || bytes.size() < l3_offset + nat::kIpv4MinHeaderLen) {
      return false;
    }
    return nat::testing::ReferenceFold(
               nat::testing::ReferenceSum(bytes.data() + l3_offset, Ipv4HeaderLen())) == 0xffff;
  }
  bool L4ChecksumOk() const {
    if (l3_type != kEtherTypeIpv4 || l4_offset == 0 || !L4ChecksumOffset() ||
        l4_offset >= L4End()) {
      return false;
    }
    return nat::testing::ReferenceFold(L4Sum()) == 0xffff;
  }

 private:
  size_t Ipv4HeaderLen() const {
    const size_t ihl_len = size_t{bytes[l3_offset] & 0x0fu} * 4;
    return std::clamp(ihl_len, nat::kIpv4MinHeaderLen, bytes.size() - l3_offset);
  }
  uint8_t Protocol() const { return bytes.at(l3_offset + kIpv4ProtocolOffset); }
  std::optional<size_t> L4ChecksumOffset() const {
    switch (Protocol()) {
      case nat::kIpProtoTcp:
        return nat::kTcpChecksumOffset;
      case kIpProtoUdp:
        return 6;
      case kIpProtoIcmp:
        return 2;
      default:
        return std::nullopt;
    }
  }
  // Where the checksummed L4 bytes end: the IPv4 total length, or a UDP datagram's own length
  // where it is shorter (and valid).
  size_t L4End() const {
    const size_t total_len = Get16(l3_offset + nat::kIpv4TotalLengthOffset);
    size_t end = std::min(l3_offset + total_len, bytes.size());
    if (Protocol() == kIpProtoUdp && l4_offset != 0 && l4_offset + 8 <= bytes.size()) {
      const size_t udp_len = Get16(l4_offset + nat::kUdpLengthOffset);
      if (udp_len >= 8) end = std::min(end, l4_offset + udp_len);
    }
    return end;
  }
  // Sum over the L4 bytes, with the pseudo-header unless the protocol is ICMP.
  uint64_t L4Sum() const {
    const size_t len = L4End() - l4_offset;
    uint64_t sum = 0;
    if (Protocol() != kIpProtoIcmp) {
      sum = nat::testing::ReferenceSum(bytes.data() + l3_offset + nat::kIpv4SrcOffset, 8) +
            Protocol() + len;
    }
    return nat::testing::ReferenceSum(bytes.data() + l4_offset, len, sum);
  }
};

// TCP options in wire form; Build() pads them with end-of-options to a multiple of 4 bytes.
class TcpOptions {
 public:
  TcpOptions& Nop() { return Raw({1}); }
  TcpOptions& Mss(uint16_t mss) {
    return Raw({2, 4, static_cast<uint8_t>(mss >> 8), static_cast<uint8_t>(mss)});
  }
  TcpOptions& WindowScale(uint8_t shift) { return Raw({3, 3, shift}); }
  TcpOptions& SackPermitted() { return Raw({4, 2}); }
  TcpOptions& Sack(const std::vector<std::pair<uint32_t, uint32_t>>& blocks) {
    Raw({5, static_cast<uint8_t>(2 + 8 * blocks.size())});
    for (const auto& [left, right] : blocks) {
      Put32(left);
      Put32(right);
    }
    return *this;
  }
  TcpOptions& Timestamps(uint32_t value, uint32_t echo_reply) {
    Raw({8, 10});
    Put32(value);
    Put32(echo_reply);
    return *this;
  }
  TcpOptions& Raw(std::initializer_list<uint8_t> bytes) {
    bytes_.insert(bytes_.end(), bytes);
    return *this;
  }
  std::vector<uint8_t> Build() const {
    std::vector<uint8_t> out = bytes_;
    out.resize((out.size() + 3) / 4 * 4, 0);
    return out;
  }

 private:
  void Put32(uint32_t v) {
    Raw({static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
         static_cast<uint8_t>(v)});
  }
  std::vector<uint8_t> bytes_;
};

// A Linux-like SYN's options: MSS, SACK permitted, timestamps, window scale (20 bytes).
inline std::vector<uint8_t> TypicalSynOptions() {
  return TcpOptions()
      .Mss(1460)
      .SackPermitted()
      .Timestamps(0x01020304, 0)
      .Nop()
      .WindowScale(7)
      .Build();
}

// `len` bytes of a recognisable pattern.
inline std::vector<uint8_t> PatternPayload(size_t len, uint8_t seed = 0) {
  std::vector<uint8_t> out(len);
  for (size_t i = 0; i < len; ++i) out[i] = static_cast<uint8_t>(seed + i * 7 + 3);
  return out;
}

namespace builder_internal {

inline void Put8(std::vector<uint8_t>& b, uint8_t v) {
  b.push_back(v);
}
inline void Put16(std::vector<uint8_t>& b, uint16_t host) {
  b.push_back(static_cast<uint8_t>(host >> 8));
  b.push_back(static_cast<uint8_t>(host));
}
inline void Put32(std::vector<uint8_t>& b, uint32_t host) {
  Put16(b, static_cast<uint16_t>(host >> 16));
  Put16(b, static_cast<uint16_t>(host));
}
// Bytes as they sit in memory: network-order values (Ipv4Be, PortBe) and arrays.
inline void PutRaw(std::vector<uint8_t>& b, const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  b.insert(b.end(), p, p + len);
}
inline std::vector<uint8_t> PaddedTo4(std::vector<uint8_t> v) {
  v.resize((v.size() + 3) / 4 * 4, 0);
  return v;
}

inline Frame StartFrame(const EthernetFields& eth, uint16_t payload_type) {
  Frame f;
  PutRaw(f.bytes, eth.dst.data(), eth.dst.size());
  PutRaw(f.bytes, eth.src.data(), eth.src.size());
  for (const VlanTag& tag : eth.vlans) {
    Put16(f.bytes, tag.tpid);
    Put16(f.bytes, static_cast<uint16_t>((tag.priority << 13) | (tag.id & kVlanIdMask)));
  }
  f.l3_type = eth.ethertype.value_or(payload_type);
  Put16(f.bytes, f.l3_type);
  f.l3_offset = f.bytes.size();
  return f;
}

inline Frame BuildIpv4(const EthernetFields& eth, const Ipv4Fields& ip, uint8_t protocol,
                       const std::vector<uint8_t>& l4) {
  Frame f = StartFrame(eth, kEtherTypeIpv4);
  const std::vector<uint8_t> options = PaddedTo4(ip.options);
  const size_t header_len = nat::kIpv4MinHeaderLen + options.size();
  auto& b = f.bytes;
  Put8(b, static_cast<uint8_t>((ip.version.value_or(kIpv4Version) << 4) |
                               (ip.ihl.value_or(static_cast<uint8_t>(header_len / 4)) & 0x0f)));
  Put8(b, ip.tos);
  Put16(b, ip.total_length.value_or(static_cast<uint16_t>(header_len + l4.size())));
  Put16(b, ip.id);
  Put16(b, static_cast<uint16_t>((ip.dont_fragment ? kIpv4DontFragment : 0) |
                                 (ip.more_fragments ? kIpv4MoreFragments : 0) |
                                 (ip.fragment_offset & kIpv4FragmentOffsetMask)));
  Put8(b, ip.ttl);
  Put8(b, ip.protocol.value_or(protocol));
  Put16(b, 0);  // checksum, below
  PutRaw(b, &ip.src, sizeof ip.src);
  PutRaw(b, &ip.dst, sizeof ip.dst);
  b.insert(b.end(), options.begin(), options.end());
  f.l4_offset = b.size();
  b.insert(b.end(), l4.begin(), l4.end());
  f.FixChecksums();
  if (ip.checksum) f.Set16(f.l3_offset + nat::kIpv4ChecksumOffset, *ip.checksum);
  return f;
}

}  // namespace builder_internal

inline Frame BuildTcpFrame(const TcpFrameSpec& spec = {}) {
  using namespace builder_internal;
  const TcpFields& tcp = spec.tcp;
  const std::vector<uint8_t> options = PaddedTo4(tcp.options);
  const size_t header_len = kTcpMinHeaderLen + options.size();
  std::vector<uint8_t> l4;
  PutRaw(l4, &tcp.src_port, sizeof tcp.src_port);
  PutRaw(l4, &tcp.dst_port, sizeof tcp.dst_port);
  Put32(l4, tcp.seq);
  Put32(l4, tcp.ack);
  Put8(l4,
       static_cast<uint8_t>(tcp.data_offset.value_or(static_cast<uint8_t>(header_len / 4)) << 4));
  Put8(l4, tcp.flags);
  Put16(l4, tcp.window);
  Put16(l4, 0);  // checksum, computed over the whole frame
  Put16(l4, tcp.urgent);
  l4.insert(l4.end(), options.begin(), options.end());
  l4.insert(l4.end(), tcp.payload.begin(), tcp.payload.end());
  Frame f = BuildIpv4(spec.eth, spec.ip, nat::kIpProtoTcp, l4);
  if (tcp.checksum) f.Set16(f.l4_offset + nat::kTcpChecksumOffset, *tcp.checksum);
  return f;
}

inline Frame BuildUdpFrame(const UdpFrameSpec& spec = {}) {
  using namespace builder_internal;
  std::vector<uint8_t> l4;
  PutRaw(l4, &spec.udp.src_port, sizeof spec.udp.src_port);
  PutRaw(l4, &spec.udp.dst_port, sizeof spec.udp.dst_port);
  Put16(l4, static_cast<uint16_t>(8 + spec.udp.payload.size()));
  Put16(l4, 0);
  l4.insert(l4.end(), spec.udp.payload.begin(), spec.udp.payload.end());
  Frame f = BuildIpv4(spec.eth, spec.ip, kIpProtoUdp, l4);
  if (spec.udp.length) {
    f.Set16(f.l4_offset + nat::kUdpLengthOffset, *spec.udp.length);
    if (!spec.udp.checksum) f.FixChecksums();
  }
  if (spec.udp.checksum) f.Set16(f.l4_offset + nat::kUdpChecksumOffset, *spec.udp.checksum);
  return f;
}

inline Frame BuildIcmpFrame(const IcmpFrameSpec& spec = {}) {
  using namespace builder_internal;
  std::vector<uint8_t> l4;
  Put8(l4, spec.icmp.type);
  Put8(l4, spec.icmp.code);
  Put16(l4, 0);
  Put16(l4, spec.icmp.id);
  Put16(l4, spec.icmp.sequence);
  l4.insert(l4.end(), spec.icmp.payload.begin(), spec.icmp.payload.end());
  return BuildIpv4(spec.eth, spec.ip, kIpProtoIcmp, l4);
}

inline Frame BuildRawIpv4Frame(const RawIpv4FrameSpec& spec) {
  constexpr uint8_t kExperimentalProtocol = 253;  // RFC 3692
  return builder_internal::BuildIpv4(spec.eth, spec.ip, kExperimentalProtocol, spec.l4);
}

inline Frame BuildArpFrame(const ArpFrameSpec& spec = {}) {
  using namespace builder_internal;
  const ArpMessage& arp = spec.arp;
  Frame f = StartFrame(spec.eth, kEtherTypeArp);
  auto& b = f.bytes;
  Put16(b, arp.hardware_type);
  Put16(b, arp.protocol_type);
  Put8(b, arp.hardware_len);
  Put8(b, arp.protocol_len);
  Put16(b, arp.op);
  PutRaw(b, arp.sender_mac.data(), arp.sender_mac.size());
  PutRaw(b, &arp.sender_ip, sizeof arp.sender_ip);
  PutRaw(b, arp.target_mac.data(), arp.target_mac.size());
  PutRaw(b, &arp.target_ip, sizeof arp.target_ip);
  return f;
}

inline Frame BuildIpv6Frame(const Ipv6FrameSpec& spec = {}) {
  using namespace builder_internal;
  const Ipv6Fields& ip = spec.ip;
  Frame f = StartFrame(spec.eth, kEtherTypeIpv6);
  auto& b = f.bytes;
  Put32(b, 6u << 28);  // version 6, traffic class 0, flow label 0
  Put16(b, static_cast<uint16_t>(ip.payload.size()));
  Put8(b, ip.next_header);
  Put8(b, ip.hop_limit);
  PutRaw(b, ip.src.data(), ip.src.size());
  PutRaw(b, ip.dst.data(), ip.dst.size());
  f.l4_offset = b.size();
  b.insert(b.end(), ip.payload.begin(), ip.payload.end());
  return f;
}

}  // namespace privlink::dataplane::testing
