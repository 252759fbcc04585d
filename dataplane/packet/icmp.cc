#include "dataplane/packet/icmp.h"

#include <cstring>

#include "dataplane/packet/tcp_shift.h"
#include "nat/checksum.h"

namespace privlink::dataplane {
namespace {

void Store(uint8_t* at, const void* value, size_t len) {
  std::memcpy(at, value, len);
}

}  // namespace

std::variant<IcmpError, DropReason> ParseIcmpError(PacketView frame, const ParsedPacket& p) {
  const size_t l3 = p.l3_offset;
  const size_t ihl = size_t{frame.U8(l3 + nat::kIpv4VersionIhlOffset) & 0x0fu} * 4;
  const size_t total = frame.LoadHost16(l3 + nat::kIpv4TotalLengthOffset);
  const size_t icmp = l3 + ihl;
  if (total < ihl + kIcmpHeaderLen || !frame.Contains(l3, total)) {
    return DropReason::kIcmpTruncated;
  }
  IcmpError e;
  e.type = frame.U8(icmp);
  e.code = frame.U8(icmp + 1);
  if (e.type != kIcmpDestinationUnreachable && e.type != kIcmpTimeExceeded) {
    return DropReason::kIcmp;
  }
  const size_t icmp_len = total - ihl;
  if (icmp_len < kIcmpHeaderLen + nat::kIpv4MinHeaderLen + kIcmpQuotedL4Min) {
    return DropReason::kIcmpTruncated;
  }
  // The message is rewritten and its checksum computed anew: a corrupt one must not come out
  // with a good checksum.
  if (nat::ChecksumFinish(nat::ChecksumPartial(frame.At(icmp), icmp_len)) != 0) {
    return DropReason::kIcmpBadChecksum;
  }
  const size_t quote = icmp + kIcmpHeaderLen;
  const uint8_t version_ihl = frame.U8(quote + nat::kIpv4VersionIhlOffset);
  const size_t quote_ihl = size_t{version_ihl & 0x0fu} * 4;
  const size_t quote_end = l3 + total;
  const bool quote_ok =
      (version_ihl >> 4) == kIpv4Version && quote_ihl >= nat::kIpv4MinHeaderLen &&
      quote + quote_ihl + kIcmpQuotedL4Min <= quote_end &&
      (frame.U8(quote + kIpv4ProtocolOffset) == nat::kIpProtoTcp ||
       frame.U8(quote + kIpv4ProtocolOffset) == nat::kIpProtoUdp) &&
      (frame.LoadHost16(quote + kIpv4FragmentOffset) & kIpv4FragmentOffsetMask) == 0;
  if (!quote_ok) return DropReason::kIcmpQuoteInvalid;
  e.icmp_offset = static_cast<uint16_t>(icmp);
  e.icmp_len = static_cast<uint16_t>(icmp_len);
  e.quote_offset = static_cast<uint16_t>(quote);
  e.quote_l4_offset = static_cast<uint16_t>(quote + quote_ihl);
  e.quote_l4_len = static_cast<uint16_t>(quote_end - e.quote_l4_offset);
  e.quoted_proto = frame.U8(quote + kIpv4ProtocolOffset);
  e.quoted.src_ip = frame.Load<Ipv4Be>(quote + nat::kIpv4SrcOffset);
  e.quoted.dst_ip = frame.Load<Ipv4Be>(quote + nat::kIpv4DstOffset);
  e.quoted.src_port = frame.Load<PortBe>(e.quote_l4_offset + nat::kTcpSrcPortOffset);
  e.quoted.dst_port = frame.Load<PortBe>(e.quote_l4_offset + nat::kTcpDstPortOffset);
  return e;
}

void RewriteIcmpError(uint8_t* frame, uint16_t l3_offset, const IcmpError& error,
                      const IcmpRewrite& rewrite) {
  uint8_t* outer = frame + l3_offset;
  Store(outer + nat::kIpv4SrcOffset, &rewrite.outer_src, 4);
  Store(outer + nat::kIpv4DstOffset, &rewrite.outer_dst, 4);
  const uint16_t outer_sum = nat::Ipv4HeaderChecksum(outer);
  Store(outer + nat::kIpv4ChecksumOffset, &outer_sum, 2);

  uint8_t* quote = frame + error.quote_offset;
  uint8_t* l4 = frame + error.quote_l4_offset;
  Store(quote + nat::kIpv4SrcOffset, &rewrite.quoted.src_ip, 4);
  Store(quote + nat::kIpv4DstOffset, &rewrite.quoted.dst_ip, 4);
  Store(l4 + nat::kTcpSrcPortOffset, &rewrite.quoted.src_port, 2);
  Store(l4 + nat::kTcpDstPortOffset, &rewrite.quoted.dst_port, 2);
  const uint16_t quote_sum = nat::Ipv4HeaderChecksum(quote);
  Store(quote + nat::kIpv4ChecksumOffset, &quote_sum, 2);
  if (error.quoted_proto == nat::kIpProtoUdp) {
    // Within the 8 bytes every quote holds: the datagram's checksum, 0 (none) staying 0.
    uint16_t udp_sum;
    std::memcpy(&udp_sum, l4 + nat::kUdpChecksumOffset, 2);
    udp_sum = nat::ApplyUdpChecksumDelta(udp_sum,
                                         nat::ComputeRewriteDelta(error.quoted, rewrite.quoted).l4);
    Store(l4 + nat::kUdpChecksumOffset, &udp_sum, 2);
  } else if (rewrite.quoted_seq_delta != 0) {
    // Within the 8 bytes every quote holds; its checksum, when quoted, follows incrementally.
    if (error.quote_l4_len >= nat::kTcpChecksumOffset + 2) {
      AddToSeq(l4, rewrite.quoted_seq_delta);
    } else {
      const PacketView quoted(l4, kIcmpQuotedL4Min);
      StoreBe32(l4 + nat::kTcpSeqOffset,
                quoted.LoadHost32(nat::kTcpSeqOffset) + rewrite.quoted_seq_delta);
    }
  }
  if (error.quoted_proto == nat::kIpProtoTcp && error.quote_l4_len >= nat::kTcpChecksumOffset + 2) {
    uint16_t tcp_sum;
    std::memcpy(&tcp_sum, l4 + nat::kTcpChecksumOffset, 2);
    tcp_sum =
        nat::ApplyChecksumDelta(tcp_sum, nat::ComputeRewriteDelta(error.quoted, rewrite.quoted).l4);
    Store(l4 + nat::kTcpChecksumOffset, &tcp_sum, 2);
  }

  uint8_t* icmp = frame + error.icmp_offset;
  icmp[kIcmpChecksumOffset] = 0;
  icmp[kIcmpChecksumOffset + 1] = 0;
  const uint16_t icmp_sum = nat::ChecksumFinish(nat::ChecksumPartial(icmp, error.icmp_len));
  Store(icmp + kIcmpChecksumOffset, &icmp_sum, 2);
}

}  // namespace privlink::dataplane
