#include "dataplane/packet/tcp_reset.h"

#include <cstring>

#include "dataplane/packet/packet_view.h"
#include "dataplane/packet/wire_format.h"
#include "nat/checksum.h"
#include "nat/tcp_state.h"

namespace privlink::dataplane {
namespace {

// The TCP header of a segment the parser accepted (its 20 fixed bytes are in the frame).
PacketView TcpHeaderOf(const uint8_t* frame, const ParsedPacket& p) {
  return PacketView(frame + p.l4_offset, kTcpMinHeaderLen);
}

}  // namespace

uint16_t WriteTcpSegment(uint8_t* l3, const TcpSegment& s) {
  const auto len = static_cast<uint16_t>(kResetL3Len + s.payload.size());
  std::memset(l3, 0, kResetL3Len);
  l3[nat::kIpv4VersionIhlOffset] = 0x45;
  StoreBe16(l3 + nat::kIpv4TotalLengthOffset, len);
  StoreBe16(l3 + kIpv4FragmentOffset, kIpv4DontFragment);
  l3[kIpv4TtlOffset] = kResetTtl;
  l3[kIpv4ProtocolOffset] = nat::kIpProtoTcp;
  std::memcpy(l3 + nat::kIpv4SrcOffset, &s.tuple.src_ip, 4);
  std::memcpy(l3 + nat::kIpv4DstOffset, &s.tuple.dst_ip, 4);
  const uint16_t ip_sum =
      static_cast<uint16_t>(~nat::ChecksumFold(nat::ChecksumPartial(l3, nat::kIpv4MinHeaderLen)));
  std::memcpy(l3 + nat::kIpv4ChecksumOffset, &ip_sum, 2);

  uint8_t* tcp = l3 + nat::kIpv4MinHeaderLen;
  std::memcpy(tcp + nat::kTcpSrcPortOffset, &s.tuple.src_port, 2);
  std::memcpy(tcp + nat::kTcpDstPortOffset, &s.tuple.dst_port, 2);
  StoreBe32(tcp + kTcpSeqOffset, s.seq);
  StoreBe32(tcp + kTcpAckOffset, (s.flags & nat::kTcpAck) ? s.ack : 0);
  tcp[kTcpDataOffsetOffset] = (kTcpMinHeaderLen / 4) << 4;
  tcp[kTcpFlagsOffset] = s.flags;
  StoreBe16(tcp + kTcpWindowOffset, s.window);
  if (!s.payload.empty()) {
    std::memcpy(tcp + kTcpMinHeaderLen, s.payload.data(), s.payload.size());
  }
  const auto segment_len = static_cast<uint16_t>(kTcpMinHeaderLen + s.payload.size());
  const uint32_t pseudo = nat::TcpPseudoHeaderChecksum(s.tuple.src_ip, s.tuple.dst_ip, segment_len);
  const uint16_t tcp_sum =
      static_cast<uint16_t>(~nat::ChecksumFold(nat::ChecksumPartial(tcp, segment_len, pseudo)));
  std::memcpy(tcp + nat::kTcpChecksumOffset, &tcp_sum, 2);
  return len;
}

void WriteTcpReset(uint8_t* l3, const ResetSegment& s) {
  WriteTcpSegment(l3, {.tuple = s.tuple, .seq = s.seq, .ack = s.ack, .flags = s.flags});
}

ResetSegment ResetToSender(const uint8_t* frame, const ParsedPacket& p) {
  const PacketView tcp = TcpHeaderOf(frame, p);
  ResetSegment r;
  r.tuple = p.key.tuple.Reversed();
  if (p.tcp_flags & nat::kTcpAck) {
    r.seq = tcp.LoadHost32(kTcpAckOffset);
    r.flags = nat::kTcpRst;
  } else {
    const uint32_t len = p.tcp_payload_len() + ((p.tcp_flags & nat::kTcpSyn) ? 1 : 0) +
                         ((p.tcp_flags & nat::kTcpFin) ? 1 : 0);
    r.seq = 0;
    r.ack = tcp.LoadHost32(kTcpSeqOffset) + len;
    r.flags = nat::kTcpRst | nat::kTcpAck;
  }
  return r;
}

ResetSegment ResetToReceiver(const uint8_t* frame, const ParsedPacket& p, const nat::Tuple& tuple) {
  ResetSegment r;
  r.tuple = tuple;
  r.seq = TcpHeaderOf(frame, p).LoadHost32(kTcpSeqOffset);
  r.flags = nat::kTcpRst;
  return r;
}

}  // namespace privlink::dataplane
