// The packet parser: Ethernet (+ at most one 802.1Q tag), then IPv4 + TCP, IPv4 + UDP or ARP,
// fully validated, on any bytes (never reads past the view's length, never allocates or throws).
//
// Two paths, one specification:
//  - parse_internal::ParseTcpFast (inline, the hot path) recognises a valid TCP frame with one
//    branch over all the IPv4 and TCP header checks, computed together from loads that any frame
//    of at least 54 bytes allows;
//  - parse_internal::ParsePacketInOrder (parse.cc, cold) makes every check in turn and names the
//    first that fails.
// ParsePacket tries the first and hands every frame it declines to the second, so drop reasons
// always come from the in-order checks; tests hold the fast path to accepting exactly the frames
// the in-order parser accepts as TCP, with the same fields; a second fast path, tried only when
// the first declines (so TCP's costs nothing more), does the same for UDP.
// The order of the checks, and so the reason a frame with several faults is counted under, is
// the order of the parser reasons in drop_reasons.def.
//
// Bytes past the IPv4 total length (Ethernet padding) are ignored: a TCP segment's length comes
// from the IPv4 total length. A UDP datagram's own length may be shorter than the IPv4 payload
// (the rest is padding, as Linux reads it) but not longer. A VLAN id of 0 (a priority tag) reads
// as untagged. Fragments are dropped (ipv4_fragment): privlink does not reassemble, and a
// fragment after the first carries no ports to find its flow by.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "dataplane/packet/drop_reason.h"
#include "dataplane/packet/packet_view.h"
#include "dataplane/packet/wire_format.h"
#include "nat/checksum.h"
#include "nat/flow_key.h"

namespace privlink::dataplane {

enum class ParseVerdict : uint8_t {
  kDrop,  // see ParsedPacket::drop_reason
  kTcp,   // an IPv4 TCP segment, not a fragment, headers and lengths valid
  kUdp,   // an IPv4 UDP datagram, not a fragment, header and lengths valid
  kArp,   // an Ethernet/IPv4 ARP request or reply
};

// Compile-time choices, so the hot loop carries no runtime flag:
// ParsePacket<ParseOptions{.verify_tcp_checksum = true}>(...), or ParsePacket<kVerifyTcpChecksums>.
// The IPv4 header checksum is always verified (RFC 1812 5.2.2: a router must, and must not offer a
// way to turn it off), by the NIC where it reports a verdict (PacketView::nic), else here.
struct ParseOptions {
  // Verify every TCP segment's checksum (dataplane.verifyTcpChecksum: all). Off by default: the
  // worker verifies only the segments that create a flow or change its state, before they do;
  // other segments carry any error through the NAT rewrite unchanged (RFC 1624).
  bool verify_tcp_checksum = false;
};
inline constexpr ParseOptions kVerifyTcpChecksums{.verify_tcp_checksum = true};

// ParsedPacket::checksums bits (kTcp, kUdp: the L4 checksum is TCP's or UDP's).
inline constexpr uint8_t kL4ChecksumVerified = 0x1;  // right, as the NIC or the parser found
inline constexpr uint8_t kIpv4ChecksumToFill = 0x2;  // NIC kNone: header intact, field not
inline constexpr uint8_t kL4ChecksumToFill = 0x4;    // NIC kNone: the field holds a partial sum

struct ArpFields {
  uint16_t op = 0;  // host order: kArpOpRequest or kArpOpReply
  MacAddress sender_mac{};
  MacAddress target_mac{};
  Ipv4Be sender_ip = 0;
  Ipv4Be target_ip = 0;

  bool operator==(const ArpFields&) const = default;
};

// Offsets are from the start of the frame; addresses and ports in network byte order, lengths in
// host order. Fields a parse did not reach keep their defaults.
struct ParsedPacket {
  ParseVerdict verdict = ParseVerdict::kDrop;
  DropReason drop_reason = DropReason::kCount;  // set when verdict == kDrop, else kCount
  uint16_t vlan_id = 0;                         // 0: untagged
  uint16_t l3_offset = 0;                       // IPv4 or ARP header: 14, or 18 behind a tag
  uint16_t l4_offset = 0;                       // TCP or UDP header (kTcp, kUdp)
  uint16_t ip_total_len = 0;                    // IPv4 total length (kTcp, kUdp)
  uint8_t tcp_header_len = 0;                   // 20..60, options included (kTcp); 8 (kUdp)
  uint8_t tcp_flags = 0;                        // byte 13: FIN, SYN, RST, ... (kTcp); 0 (kUdp)
  uint8_t checksums = 0;                        // kL4ChecksumVerified, ... (kTcp, kUdp)
  // kTcp, kUdp: the packet's tuple and protocol; `network` is left 0 for the caller to fill from
  // (port, VLAN).
  nat::FlowKey key;
  MacAddress dst_mac{};  // copied whenever the frame holds an Ethernet header
  MacAddress src_mac{};
  ArpFields arp;  // kArp

  // The IPv4 payload: a TCP segment, or a UDP datagram with any padding after it.
  uint16_t tcp_segment_len() const {
    return static_cast<uint16_t>(ip_total_len - (l4_offset - l3_offset));
  }
  uint16_t tcp_payload_offset() const { return static_cast<uint16_t>(l4_offset + tcp_header_len); }
  uint16_t tcp_payload_len() const {
    return static_cast<uint16_t>(tcp_segment_len() - tcp_header_len);
  }

  bool operator==(const ParsedPacket&) const = default;
};

namespace parse_internal {

// The shortest frame that can hold a TCP segment: Ethernet + IPv4 + TCP, no tag, no options.
inline constexpr size_t kMinTcpFrameLen = kEthHeaderLen + nat::kIpv4MinHeaderLen + kTcpMinHeaderLen;
inline constexpr uint16_t kFragmentBits = kIpv4MoreFragments | kIpv4FragmentOffsetMask;

// A header whose one's-complement sum (checksum field included) is 0xffff is intact. Summed in
// wide words with the carries added back (one's-complement sums may be taken in any word size,
// RFC 1071 2(C)), then folded by rotation (the carry of each half lands in the other, as in
// Linux's csum_fold): a header without options is three loads and a dozen instructions, inlined in
// the fast path.
inline bool Ipv4ChecksumOk(const uint8_t* ipv4_header, size_t header_len) {
  unsigned __int128 wide;
  if (header_len == nat::kIpv4MinHeaderLen) [[likely]] {
    uint64_t a;
    uint64_t b;
    uint32_t c;
    std::memcpy(&a, ipv4_header, sizeof a);
    std::memcpy(&b, ipv4_header + 8, sizeof b);
    std::memcpy(&c, ipv4_header + 16, sizeof c);
    wide = static_cast<unsigned __int128>(a) + b + c;
  } else {
    wide = 0;
    for (size_t i = 0; i < header_len; i += 4) {
      uint32_t word;
      std::memcpy(&word, ipv4_header + i, sizeof word);
      wide += word;
    }
  }
  // 128 -> 64 (the high part is at most 2, so one end-around carry suffices), then 64 -> 32 ->
  // 16 by adding each value to itself rotated by half its width: the top half holds the sum.
  uint64_t sum = static_cast<uint64_t>(wide);
  const auto high = static_cast<uint64_t>(wide >> 64);
  sum += high;
  sum += sum < high;
  sum += (sum >> 32) | (sum << 32);
  auto half = static_cast<uint32_t>(sum >> 32);
  half += (half >> 16) | (half << 16);
  return (half >> 16) == 0xffff;
}

// The IPv4 header checks out: by the NIC's verdict, else computed.
inline bool Ipv4HeaderIntact(NicVerdict nic, const uint8_t* ipv4_header, size_t header_len) {
  if (nic == NicVerdict::kUnknown) [[likely]] {
    return Ipv4ChecksumOk(ipv4_header, header_len);
  }
  return nic != NicVerdict::kBad;  // kGood, or kNone: the header is intact, its field is not
}

inline bool TcpChecksumOk(Ipv4Be src, Ipv4Be dst, const uint8_t* segment, size_t segment_len) {
  const uint32_t pseudo =
      nat::TcpPseudoHeaderChecksum(src, dst, static_cast<uint16_t>(segment_len));
  return nat::ChecksumFold(nat::ChecksumPartial(segment, segment_len, pseudo)) == 0xffff;
}

// A UDP datagram's checksum (its own length: udp_len, from its header) is right or absent (0).
inline bool UdpChecksumOk(Ipv4Be src, Ipv4Be dst, const uint8_t* datagram, size_t udp_len) {
  uint16_t field;
  std::memcpy(&field, datagram + nat::kUdpChecksumOffset, sizeof field);
  if (field == 0) return true;
  const uint32_t pseudo =
      nat::PseudoHeaderChecksum(src, dst, nat::kIpProtoUdp, static_cast<uint16_t>(udp_len));
  return nat::ChecksumFold(nat::ChecksumPartial(datagram, udp_len, pseudo)) == 0xffff;
}

// The checksums bits of a TCP frame whose headers passed, before any TCP checksum computation:
// a table, since every frame pays for it.
inline constexpr auto kChecksumBits = [] {
  std::array<uint8_t, 16> bits{};
  for (unsigned ip = 0; ip < 4; ++ip) {
    for (unsigned l4 = 0; l4 < 4; ++l4) {
      const auto ipv4 = static_cast<NicVerdict>(ip);
      const auto tcp = static_cast<NicVerdict>(l4);
      const bool l4_known_good = tcp == NicVerdict::kGood || tcp == NicVerdict::kNone;
      bits[ip * 4 + l4] =
          static_cast<uint8_t>((l4_known_good ? kL4ChecksumVerified : 0) |
                               (ipv4 == NicVerdict::kNone ? kIpv4ChecksumToFill : 0) |
                               (tcp == NicVerdict::kNone ? kL4ChecksumToFill : 0));
    }
  }
  return bits;
}();
inline uint8_t ChecksumBits(NicChecksums nic) {
  return kChecksumBits[static_cast<unsigned>(nic.ipv4) * 4 + static_cast<unsigned>(nic.l4)];
}

inline void CopyMacs(PacketView packet, ParsedPacket& out) {
  std::memcpy(out.dst_mac.data(), packet.At(kEthDstOffset), out.dst_mac.size());
  std::memcpy(out.src_mac.data(), packet.At(kEthSrcOffset), out.src_mac.size());
}

// The TCP (kProto nat::kIpProtoTcp) or UDP (kIpProtoUdp: 8-byte header, no flags) fields of a
// frame the parser has validated. The ports sit at the same offsets in both headers.
template <uint8_t kProto>
inline void FillL4(PacketView packet, size_t l3, size_t ip_header_len, size_t total_len,
                   size_t l4_header_len, ParsedPacket& out) {
  static_assert(kProto == nat::kIpProtoTcp || kProto == nat::kIpProtoUdp);
  const size_t l4 = l3 + ip_header_len;
  out.verdict = kProto == nat::kIpProtoTcp ? ParseVerdict::kTcp : ParseVerdict::kUdp;
  out.l4_offset = static_cast<uint16_t>(l4);
  out.ip_total_len = static_cast<uint16_t>(total_len);
  out.tcp_header_len = static_cast<uint8_t>(l4_header_len);
  out.tcp_flags = kProto == nat::kIpProtoTcp ? packet.U8(l4 + kTcpFlagsOffset) : uint8_t{0};
  out.key.tuple.src_ip = packet.Load<Ipv4Be>(l3 + nat::kIpv4SrcOffset);
  out.key.tuple.dst_ip = packet.Load<Ipv4Be>(l3 + nat::kIpv4DstOffset);
  out.key.tuple.src_port = packet.Load<PortBe>(l4 + nat::kTcpSrcPortOffset);
  out.key.tuple.dst_port = packet.Load<PortBe>(l4 + nat::kTcpDstPortOffset);
  out.key.network = 0;
  out.key.proto = kProto;
  out.key.zero = 0;
  out.drop_reason = DropReason::kCount;
}

// Every check in order; the first failure is the drop reason. Defined in parse.cc.
ParsedPacket ParsePacketInOrder(PacketView packet, bool verify_tcp_checksum);

// The fast path alone: fills `out` and returns true for exactly the frames the in-order parser
// accepts as kTcp; returns false, with `out` partly written, for every other frame. Always inlined:
// GCC's heuristics otherwise leave it (and ParsePacket) a call, which costs more than the checks.
template <ParseOptions kOptions>
[[gnu::always_inline]] inline bool ParseTcpFast(PacketView packet, ParsedPacket& out) {
  const size_t len = packet.size();
  if (len < kMinTcpFrameLen) [[unlikely]] {
    return false;
  }
  // Every load below is in bounds for any 54-byte frame, tagged or not, so all the header checks
  // are computed first and tested with one branch.
  CopyMacs(packet, out);
  const bool tagged = packet.LoadHost16(kEthTypeOffset) == kEtherTypeVlan;
  const size_t l3 = tagged ? kEthHeaderLen + kVlanTagLen : kEthHeaderLen;
  out.vlan_id =
      tagged ? static_cast<uint16_t>(packet.LoadHost16(kVlanTciOffset) & kVlanIdMask) : uint16_t{0};
  out.l3_offset = static_cast<uint16_t>(l3);
  const uint16_t ethertype = packet.LoadHost16(l3 - 2);  // the inner one behind a tag
  const uint8_t version_ihl = packet.U8(l3 + nat::kIpv4VersionIhlOffset);
  const size_t ip_header_len = size_t{version_ihl & 0x0fu} * 4;
  const size_t total_len = packet.LoadHost16(l3 + nat::kIpv4TotalLengthOffset);
  const bool ip_ok = (ethertype == kEtherTypeIpv4) & ((version_ihl >> 4) == kIpv4Version) &
                     (ip_header_len >= nat::kIpv4MinHeaderLen) &
                     ((packet.LoadHost16(l3 + kIpv4FragmentOffset) & kFragmentBits) == 0) &
                     (packet.U8(l3 + kIpv4ProtocolOffset) == nat::kIpProtoTcp) &
                     (total_len >= ip_header_len + kTcpMinHeaderLen) & (total_len <= len - l3);
  if (!ip_ok) [[unlikely]] {
    return false;
  }
  // total_len <= len - l3 and total_len >= IHL + 20: the TCP base header is in the frame.
  const size_t l4 = l3 + ip_header_len;
  const size_t tcp_header_len = (size_t{packet.U8(l4 + kTcpDataOffsetOffset)} >> 4) * 4;
  const size_t segment_len = total_len - ip_header_len;
  const NicChecksums nic = packet.nic();
  const bool ok = (tcp_header_len >= kTcpMinHeaderLen) & (tcp_header_len <= segment_len) &
                  (nic.l4 != NicVerdict::kBad);
  if (!ok || !Ipv4HeaderIntact(nic.ipv4, packet.At(l3), ip_header_len)) [[unlikely]] {
    return false;
  }
  uint8_t checksums = ChecksumBits(nic);
  if constexpr (kOptions.verify_tcp_checksum) {
    if ((checksums & kL4ChecksumVerified) == 0) {
      if (!TcpChecksumOk(packet.Load<Ipv4Be>(l3 + nat::kIpv4SrcOffset),
                         packet.Load<Ipv4Be>(l3 + nat::kIpv4DstOffset), packet.At(l4), segment_len))
          [[unlikely]] {
        return false;
      }
      checksums |= kL4ChecksumVerified;
    }
  }
  FillL4<nat::kIpProtoTcp>(packet, l3, ip_header_len, total_len, tcp_header_len, out);
  out.checksums = checksums;
  return true;
}

// The same for a valid UDP datagram (kUdp), tried after the TCP fast path declines a frame, so
// TCP's path is unchanged. The shortest frame holding one: Ethernet + IPv4 + UDP.
inline constexpr size_t kMinUdpFrameLen =
    kEthHeaderLen + nat::kIpv4MinHeaderLen + nat::kUdpHeaderLen;

template <ParseOptions kOptions>
[[gnu::always_inline]] inline bool ParseUdpFast(PacketView packet, ParsedPacket& out) {
  const size_t len = packet.size();
  if (len < kMinUdpFrameLen) [[unlikely]] {
    return false;
  }
  // Every load below is in bounds for any 42-byte frame, tagged (then l3 + 8 + ... checked
  // against the total length, which is checked against the frame) or not.
  const bool tagged = packet.LoadHost16(kEthTypeOffset) == kEtherTypeVlan;
  const size_t l3 = tagged ? kEthHeaderLen + kVlanTagLen : kEthHeaderLen;
  if (!packet.Contains(l3, nat::kIpv4MinHeaderLen)) return false;
  const uint16_t ethertype = packet.LoadHost16(l3 - 2);
  const uint8_t version_ihl = packet.U8(l3 + nat::kIpv4VersionIhlOffset);
  const size_t ip_header_len = size_t{version_ihl & 0x0fu} * 4;
  const size_t total_len = packet.LoadHost16(l3 + nat::kIpv4TotalLengthOffset);
  const bool ip_ok = (ethertype == kEtherTypeIpv4) & ((version_ihl >> 4) == kIpv4Version) &
                     (ip_header_len >= nat::kIpv4MinHeaderLen) &
                     ((packet.LoadHost16(l3 + kIpv4FragmentOffset) & kFragmentBits) == 0) &
                     (packet.U8(l3 + kIpv4ProtocolOffset) == kIpProtoUdp) &
                     (total_len >= ip_header_len + nat::kUdpHeaderLen) & (total_len <= len - l3);
  if (!ip_ok) return false;
  // total_len <= len - l3 and total_len >= IHL + 8: the UDP header is in the frame.
  const size_t l4 = l3 + ip_header_len;
  const size_t udp_len = packet.LoadHost16(l4 + nat::kUdpLengthOffset);
  const NicChecksums nic = packet.nic();
  const bool ok = (udp_len >= nat::kUdpHeaderLen) & (udp_len <= total_len - ip_header_len) &
                  (nic.l4 != NicVerdict::kBad);
  if (!ok || !Ipv4HeaderIntact(nic.ipv4, packet.At(l3), ip_header_len)) return false;
  uint8_t checksums = ChecksumBits(nic);
  if constexpr (kOptions.verify_tcp_checksum) {
    if ((checksums & kL4ChecksumVerified) == 0) {
      if (!UdpChecksumOk(packet.Load<Ipv4Be>(l3 + nat::kIpv4SrcOffset),
                         packet.Load<Ipv4Be>(l3 + nat::kIpv4DstOffset), packet.At(l4), udp_len)) {
        return false;
      }
      checksums |= kL4ChecksumVerified;
    }
  }
  CopyMacs(packet, out);
  out.vlan_id =
      tagged ? static_cast<uint16_t>(packet.LoadHost16(kVlanTciOffset) & kVlanIdMask) : uint16_t{0};
  out.l3_offset = static_cast<uint16_t>(l3);
  FillL4<nat::kIpProtoUdp>(packet, l3, ip_header_len, total_len, nat::kUdpHeaderLen, out);
  out.checksums = checksums;
  return true;
}

}  // namespace parse_internal

// ParsePacket for the burst loop, into `out`, which may hold anything beforehand (the burst's
// uninitialised scratch array), so no default values are stored first and no result is copied.
// A TCP frame gets every field but `arp` (nothing reads it for a TCP verdict); any other frame
// gets the in-order parser's whole result.
template <ParseOptions kOptions = ParseOptions{}>
[[gnu::always_inline]] inline void ParsePacketInto(PacketView packet, ParsedPacket& out) {
  if (!parse_internal::ParseTcpFast<kOptions>(packet, out)) [[unlikely]] {
    if (!parse_internal::ParseUdpFast<kOptions>(packet, out)) {
      out = parse_internal::ParsePacketInOrder(packet, kOptions.verify_tcp_checksum);
    }
  }
}

// Whether a parsed TCP frame's checksum is right: known (the NIC's verdict, or verified by the
// parser), else computed over the pseudo-header and segment (the slow path's check before a
// segment creates a flow or changes its state).
inline bool TcpChecksumIntact(PacketView frame, const ParsedPacket& p) {
  if ((p.checksums & kL4ChecksumVerified) != 0) return true;
  return parse_internal::TcpChecksumOk(p.key.tuple.src_ip, p.key.tuple.dst_ip,
                                       frame.At(p.l4_offset), p.tcp_segment_len());
}

// The same for a parsed UDP datagram (the slow path's check before it creates a flow). A datagram
// without a checksum (0) passes: RFC 768 lets a sender leave it out.
inline bool UdpChecksumIntact(PacketView frame, const ParsedPacket& p) {
  if ((p.checksums & kL4ChecksumVerified) != 0) return true;
  return parse_internal::UdpChecksumOk(p.key.tuple.src_ip, p.key.tuple.dst_ip,
                                       frame.At(p.l4_offset),
                                       frame.LoadHost16(p.l4_offset + nat::kUdpLengthOffset));
}

template <ParseOptions kOptions = ParseOptions{}>
[[gnu::always_inline]] inline ParsedPacket ParsePacket(PacketView packet) {
  ParsedPacket out;  // the one return value, so it is built in the caller's slot (NRVO)
  ParsePacketInto<kOptions>(packet, out);
  return out;
}

template <ParseOptions kOptions = ParseOptions{}>
inline ParsedPacket ParsePacket(const uint8_t* data, uint32_t len) {
  return ParsePacket<kOptions>(PacketView(data, len));
}

}  // namespace privlink::dataplane
