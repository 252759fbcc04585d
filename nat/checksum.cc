#include "nat/checksum.h"

#include <cstring>

namespace privlink::nat {
namespace {

// One's-complement add on 64 bits: the carry out wraps around (RFC 1071 §2(C)), which keeps the
// sum congruent, modulo 0xffff, to the sum of its 16-bit words.
inline uint64_t AddWithCarry(uint64_t sum, uint64_t word) {
  sum += word;
  return sum + (sum < word);
}

template <typename Word>
inline Word Load(const unsigned char* p) {
  Word w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

}  // namespace

uint32_t ChecksumPartial(const void* data, size_t len, uint32_t initial) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t sum = initial;
  // Eight bytes per add: the same one's-complement sum as 16-bit words, with a quarter of the adds.
  for (; len >= 8; p += 8, len -= 8) sum = AddWithCarry(sum, Load<uint64_t>(p));
  if (len >= 4) {
    sum = AddWithCarry(sum, Load<uint32_t>(p));
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    sum = AddWithCarry(sum, Load<uint16_t>(p));
    p += 2;
    len -= 2;
  }
  if (len == 1) {
    const unsigned char padded[2] = {*p, 0};
    sum = AddWithCarry(sum, Load<uint16_t>(padded));
  }
  // 64 -> 32 bits, wrapping carries around; two rounds absorb the last carry.
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  return static_cast<uint32_t>(sum);
}

uint16_t ChecksumFinish(uint32_t partial) {
  return static_cast<uint16_t>(~ChecksumFold(partial));
}

uint16_t Ipv4HeaderChecksum(const void* ipv4_header) {
  const auto* h = static_cast<const unsigned char*>(ipv4_header);
  size_t header_len = size_t{h[0] & 0x0fu} * 4;
  if (header_len < kIpv4MinHeaderLen) header_len = kIpv4MinHeaderLen;
  uint32_t sum = ChecksumPartial(h, kIpv4ChecksumOffset);
  sum = ChecksumPartial(h + kIpv4ChecksumOffset + 2, header_len - kIpv4ChecksumOffset - 2, sum);
  return ChecksumFinish(sum);
}

namespace {

// The checksum of a transport header + payload under its pseudo-header, the field at
// `checksum_offset` read as zero.
uint16_t TransportChecksum(Ipv4Be src, Ipv4Be dst, uint8_t protocol, const void* l4, size_t len,
                           size_t checksum_offset) {
  const auto* seg = static_cast<const unsigned char*>(l4);
  uint32_t sum = PseudoHeaderChecksum(src, dst, protocol, static_cast<uint16_t>(len));
  if (len < checksum_offset + 2) return ChecksumFinish(ChecksumPartial(seg, len, sum));
  sum = ChecksumPartial(seg, checksum_offset, sum);
  sum = ChecksumPartial(seg + checksum_offset + 2, len - checksum_offset - 2, sum);
  return ChecksumFinish(sum);
}

}  // namespace

uint16_t TcpChecksum(Ipv4Be src, Ipv4Be dst, const void* tcp_segment, size_t tcp_len) {
  return TransportChecksum(src, dst, kIpProtoTcp, tcp_segment, tcp_len, kTcpChecksumOffset);
}

uint16_t UdpChecksum(Ipv4Be src, Ipv4Be dst, const void* udp_datagram, size_t udp_len) {
  const uint16_t sum =
      TransportChecksum(src, dst, kIpProtoUdp, udp_datagram, udp_len, kUdpChecksumOffset);
  return sum == 0 ? uint16_t{0xffff} : sum;
}

RewriteDelta ComputeRewriteDelta(const Tuple& from, const Tuple& to) {
  // RFC 1624 eqn. 3 accumulates ~m + m' for every changed 16-bit word m -> m'.
  const auto change = [](uint32_t old_word, uint32_t new_word) {
    return (~old_word & 0xffffu) + new_word;
  };
  const uint32_t addresses = change(from.src_ip & 0xffff, to.src_ip & 0xffff) +
                             change(from.src_ip >> 16, to.src_ip >> 16) +
                             change(from.dst_ip & 0xffff, to.dst_ip & 0xffff) +
                             change(from.dst_ip >> 16, to.dst_ip >> 16);
  const uint32_t ports = change(from.src_port, to.src_port) + change(from.dst_port, to.dst_port);
  // 0xffff and 0x0000 both mean "no change"; 0x0000 keeps a received 0xffff checksum as it was.
  const auto canonical = [](uint16_t delta) { return delta == 0xffff ? uint16_t{0} : delta; };
  return RewriteDelta{.ip = canonical(ChecksumFold(addresses)),
                      .l4 = canonical(ChecksumFold(addresses + ports))};
}

}  // namespace privlink::nat
