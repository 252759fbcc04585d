#include "tools/trace/conversation.h"

#include <cstring>

#include "nat/checksum.h"
#include "nat/tcp_state.h"

namespace privlink::trace {
namespace {

using nat::kTcpAck;
using nat::kTcpFin;
using nat::kTcpPsh;
using nat::kTcpRst;
using nat::kTcpSyn;

constexpr uint16_t kWindow = 64240;      // Linux's initial window with a 1460-byte MSS
constexpr uint8_t kWindowScale = 7;      // Linux's default for a 6 MB receive buffer
constexpr uint32_t kSynOptionsLen = 20;  // MSS 4 + SACK-permitted 2 + timestamps 10 + NOP + WS 3

void Put16(std::vector<uint8_t>& b, uint16_t host) {
  b.push_back(static_cast<uint8_t>(host >> 8));
  b.push_back(static_cast<uint8_t>(host));
}
void Put32(std::vector<uint8_t>& b, uint32_t host) {
  Put16(b, static_cast<uint16_t>(host >> 16));
  Put16(b, static_cast<uint16_t>(host));
}
void PutRaw(std::vector<uint8_t>& b, const void* p, size_t n) {
  const auto* bytes = static_cast<const uint8_t*>(p);
  b.insert(b.end(), bytes, bytes + n);
}

// Sends `total` bytes from `from` in MSS-sized segments, PSH on the last; the receiver ACKs every
// second segment and the last one.
void Transfer(std::vector<Segment>& out, nat::TimeMs& t, uint32_t step, Side from, uint32_t& seq,
              uint32_t& peer_seq, uint32_t total, uint16_t mss) {
  const Side to = from == Side::kClient ? Side::kBackend : Side::kClient;
  uint32_t sent = 0;
  int unacked = 0;
  while (sent < total) {
    const uint32_t len = total - sent < mss ? total - sent : mss;
    const bool last = sent + len == total;
    out.push_back({t += step, from, static_cast<uint8_t>(kTcpAck | (last ? kTcpPsh : 0)), seq,
                   peer_seq, len, sent});
    seq += len;
    sent += len;
    if (++unacked == 2 || last) {
      out.push_back({t += step, to, kTcpAck, peer_seq, seq, 0, 0});
      unacked = 0;
    }
  }
}

}  // namespace

std::vector<Segment> PlanConversation(const ConversationPlan& p) {
  std::vector<Segment> out;
  nat::TimeMs t = p.start_ms;
  uint32_t c = p.client_isn;
  uint32_t s = p.backend_isn;
  out.push_back({t, Side::kClient, kTcpSyn, c, 0, 0, 0});
  ++c;
  out.push_back({t += p.step_ms, Side::kBackend, kTcpSyn | kTcpAck, s, c, 0, 0});
  ++s;
  out.push_back({t += p.step_ms, Side::kClient, kTcpAck, c, s, 0, 0});
  Transfer(out, t, p.step_ms, Side::kClient, c, s, p.request_bytes, p.mss);
  Transfer(out, t, p.step_ms, Side::kBackend, s, c, p.response_bytes, p.mss);
  if (p.close_with_rst) {
    out.push_back({t += p.step_ms, Side::kClient, kTcpRst | kTcpAck, c, s, 0, 0});
    return out;
  }
  out.push_back({t += p.step_ms, Side::kClient, kTcpFin | kTcpAck, c, s, 0, 0});
  ++c;
  out.push_back({t += p.step_ms, Side::kBackend, kTcpFin | kTcpAck, s, c, 0, 0});
  ++s;
  out.push_back({t += p.step_ms, Side::kClient, kTcpAck, c, s, 0, 0});
  return out;
}

namespace {

// Ethernet (+802.1Q) and an IPv4 header (DF, TTL 64, checksum left 0) for `l4_len` bytes of
// `protocol`: the frame so far, its L3 offset in it.
std::vector<uint8_t> StartIpv4Frame(const WireTuple& w, uint8_t protocol, uint32_t l4_len,
                                    uint16_t id) {
  std::vector<uint8_t> f;
  PutRaw(f, w.dst_mac.data(), 6);
  PutRaw(f, w.src_mac.data(), 6);
  if (w.vlan != 0) {
    Put16(f, dataplane::kEtherTypeVlan);
    Put16(f, w.vlan & dataplane::kVlanIdMask);
  }
  Put16(f, dataplane::kEtherTypeIpv4);
  f.push_back(0x45);
  f.push_back(0);
  Put16(f, static_cast<uint16_t>(20 + l4_len));
  Put16(f, id);
  Put16(f, dataplane::kIpv4DontFragment);
  f.push_back(64);
  f.push_back(protocol);
  Put16(f, 0);
  PutRaw(f, &w.src_ip, 4);
  PutRaw(f, &w.dst_ip, 4);
  return f;
}

void FillIpv4Checksum(std::vector<uint8_t>& f, size_t l3) {
  const uint16_t ip_sum = static_cast<uint16_t>(
      ~nat::ChecksumFold(nat::ChecksumPartial(f.data() + l3, nat::kIpv4MinHeaderLen)));
  std::memcpy(f.data() + l3 + nat::kIpv4ChecksumOffset, &ip_sum, 2);
}

}  // namespace

std::vector<uint8_t> BuildDatagramFrame(const WireTuple& w, std::span<const uint8_t> payload) {
  const auto udp_len = static_cast<uint32_t>(nat::kUdpHeaderLen + payload.size());
  std::vector<uint8_t> f = StartIpv4Frame(w, nat::kIpProtoUdp, udp_len, 0);
  const size_t l3 = f.size() - nat::kIpv4MinHeaderLen;
  const size_t l4 = f.size();
  PutRaw(f, &w.src_port, 2);
  PutRaw(f, &w.dst_port, 2);
  Put16(f, static_cast<uint16_t>(udp_len));
  Put16(f, 0);
  PutRaw(f, payload.data(), payload.size());
  FillIpv4Checksum(f, l3);
  const uint16_t udp_sum = nat::UdpChecksum(w.src_ip, w.dst_ip, f.data() + l4, udp_len);
  std::memcpy(f.data() + l4 + nat::kUdpChecksumOffset, &udp_sum, 2);
  if (f.size() < dataplane::kEthMinFrameLen) f.resize(dataplane::kEthMinFrameLen, 0);
  return f;
}

std::vector<uint8_t> BuildSegmentFrame(const Segment& seg, const WireTuple& w) {
  const bool syn = (seg.flags & kTcpSyn) != 0;
  const uint32_t tcp_len = 20 + (syn ? kSynOptionsLen : 0) + seg.payload_len;
  // An IP id that varies per segment.
  std::vector<uint8_t> f =
      StartIpv4Frame(w, nat::kIpProtoTcp, tcp_len, static_cast<uint16_t>(seg.seq));
  const size_t l3 = f.size() - nat::kIpv4MinHeaderLen;
  // TCP
  const size_t l4 = f.size();
  PutRaw(f, &w.src_port, 2);
  PutRaw(f, &w.dst_port, 2);
  Put32(f, seg.seq);
  Put32(f, (seg.flags & kTcpAck) ? seg.ack : 0);
  f.push_back(static_cast<uint8_t>(((20 + (syn ? kSynOptionsLen : 0)) / 4) << 4));
  f.push_back(seg.flags);
  Put16(f, kWindow);
  Put16(f, 0);
  Put16(f, 0);
  if (syn) {
    const uint8_t options[kSynOptionsLen] = {2, 4,  0x05, 0xb4,  // MSS 1460
                                             4, 2,               // SACK permitted
                                             8, 10, 0,    0,           0,
                                             1, 0,  0,    0,           0,  // timestamps
                                             1, 3,  3,    kWindowScale};   // NOP, window scale
    PutRaw(f, options, sizeof options);
  }
  for (uint32_t i = 0; i < seg.payload_len; ++i) f.push_back(StreamByte(seg.stream_offset + i));

  FillIpv4Checksum(f, l3);
  const uint32_t pseudo =
      nat::TcpPseudoHeaderChecksum(w.src_ip, w.dst_ip, static_cast<uint16_t>(tcp_len));
  const uint16_t tcp_sum = static_cast<uint16_t>(
      ~nat::ChecksumFold(nat::ChecksumPartial(f.data() + l4, tcp_len, pseudo)));
  std::memcpy(f.data() + l4 + nat::kTcpChecksumOffset, &tcp_sum, 2);
  if (f.size() < dataplane::kEthMinFrameLen) f.resize(dataplane::kEthMinFrameLen, 0);
  return f;
}

}  // namespace privlink::trace
