#include "dataplane/worker/forward.h"

#include "dataplane/neighbors/neighbor_table.h"

#include <rte_prefetch.h>

#include <cstddef>
#include <cstring>
#include <new>
#include <optional>
#include <type_traits>

#include "dataplane/packet/icmp.h"
#include "dataplane/packet/packet_view.h"
#include "dataplane/packet/parse.h"
#include "dataplane/packet/proxy_v2.h"
#include "dataplane/packet/tcp_mss.h"
#include "dataplane/packet/tcp_reset.h"
#include "dataplane/packet/vxlan.h"
#include "dataplane/worker/emit.h"
#include "dataplane/worker/proxy_stream.h"
#include "dataplane/worker/tx.h"
#include "nat/checksum.h"
#include "nat/flow_setup.h"
#include "nat/translate.h"

namespace privlink::dataplane {
namespace {

constexpr PortBe kVxlanPortBe = HostToBe16(kVxlanPort);

using control::EndpointEntry;
using control::NetworkId;
using control::Snapshot;
using control::SnapshotService;
using nat::FlowBinding;
using nat::FlowDirection;
using nat::FlowEntry;
using nat::FlowId;
using nat::FlowRef;

// A burst's scratch array (parsed packets, keys, lookup results) left uninitialised: the default
// member initialisers of its element type would otherwise be stored for all kRxBurst elements on
// every burst, and each element used is written first anyway. The elements are of
// implicit-lifetime type, so the byte array's storage holds them (C++20 implicit object creation)
// and std::launder gives the pointer to them.
template <typename T>
class BurstScratch {
  static_assert(std::is_aggregate_v<T> && std::is_trivially_copyable_v<T> &&
                std::is_trivially_destructible_v<T>);

 public:
  T* data() { return std::launder(reinterpret_cast<T*>(bytes_)); }
  T& operator[](size_t i) { return data()[i]; }

 private:
  alignas(T) std::byte bytes_[kRxBurst * sizeof(T)];
};

// A TCP frame as the burst loop hands it on: the port it arrived on, its mbuf, and what the
// parser found in it. Passed by value: a reference to it, taken for the cold paths, would make
// the burst loop store it to memory for every frame instead of keeping its fields in registers.
struct Received {
  uint16_t port;
  rte_mbuf* m;
  const ParsedPacket& p;
};

// ---- arriving: what the NIC says of a frame's checksums ----

NicVerdict VerdictOf(uint64_t ol_flags, uint64_t bad, uint64_t good) {
  const bool b = (ol_flags & bad) != 0;
  const bool g = (ol_flags & good) != 0;
  if (b) return g ? NicVerdict::kNone : NicVerdict::kBad;
  return g ? NicVerdict::kGood : NicVerdict::kUnknown;
}

// RTE_MBUF_F_RX_{IP,L4}_CKSUM_*: both bits clear (UNKNOWN) on ports without checksum offload
// (net_af_packet, net_ring, net_pcap), so the common case is one test.
[[gnu::always_inline]] inline NicChecksums NicChecksumsOf(const rte_mbuf* m) {
  constexpr uint64_t kMasks = RTE_MBUF_F_RX_IP_CKSUM_MASK | RTE_MBUF_F_RX_L4_CKSUM_MASK;
  if ((m->ol_flags & kMasks) == 0) [[likely]] {
    return {};
  }
  return {.ipv4 = VerdictOf(m->ol_flags, RTE_MBUF_F_RX_IP_CKSUM_BAD, RTE_MBUF_F_RX_IP_CKSUM_GOOD),
          .l4 = VerdictOf(m->ol_flags, RTE_MBUF_F_RX_L4_CKSUM_BAD, RTE_MBUF_F_RX_L4_CKSUM_GOOD)};
}

// A frame whose NIC verified a checksum without it being in the field (NicVerdict::kNone) leaves
// with the field filled in, after the rewrite: the incremental update of a partial sum is not a
// checksum.
void FillChecksums(uint8_t* frame, const ParsedPacket& p) {
  uint8_t* ip = frame + p.l3_offset;
  uint8_t* tcp = frame + p.l4_offset;
  if ((p.checksums & kIpv4ChecksumToFill) != 0) {
    const uint16_t sum = nat::Ipv4HeaderChecksum(ip);
    std::memcpy(ip + nat::kIpv4ChecksumOffset, &sum, sizeof sum);
  }
  if ((p.checksums & kL4ChecksumToFill) != 0) {
    Ipv4Be src;
    Ipv4Be dst;
    std::memcpy(&src, ip + nat::kIpv4SrcOffset, sizeof src);
    std::memcpy(&dst, ip + nat::kIpv4DstOffset, sizeof dst);
    if (p.verdict == ParseVerdict::kUdp) {
      const uint16_t udp_len =
          PacketView(tcp, nat::kUdpHeaderLen).LoadHost16(nat::kUdpLengthOffset);
      const uint16_t sum = nat::UdpChecksum(src, dst, tcp, udp_len);
      std::memcpy(tcp + nat::kUdpChecksumOffset, &sum, sizeof sum);
    } else {
      const uint16_t sum = nat::TcpChecksum(src, dst, tcp, p.tcp_segment_len());
      std::memcpy(tcp + nat::kTcpChecksumOffset, &sum, sizeof sum);
    }
  }
}

// ---- resets ----

// Turns `frame` (the received frame itself, or a fresh mbuf holding a copy of its L2 header) into
// `reset`, sent back out of the port `in` arrived on to its sender, on the same VLAN.
void SendResetBack(Worker& w, Received in, rte_mbuf* frame, const ResetSegment& reset) {
  uint8_t* f = FrameOf(frame);
  std::memcpy(f + kEthDstOffset, in.p.src_mac.data(), 6);
  std::memcpy(f + kEthSrcOffset, w.shared->ports[in.port].mac.data(), 6);
  WriteTcpReset(f + in.p.l3_offset, reset);
  SetFrameLength(frame, static_cast<uint16_t>(in.p.l3_offset + kResetL3Len));
  Send(w, in.port, frame);
}

// A packet of a flow whose endpoint no longer carries traffic under the reset policy. Resets
// need live sequence numbers, so they ride on packets: every packet is answered with a reset to
// its sender, whose ACK number gives the exact sequence its receiver expects (RFC 5961 accepts
// only that); the first one also sends a reset on to the other end, with the packet's own
// sequence number (exact when the packet was in order; when it is merely in the window the end
// answers with a challenge ACK, which the first rule then resets). The flow then expires on the
// reset timeout.
void TearDown(Worker& w, const BurstContext& ctx, Received in, FlowRef ref) {
  rte_mbuf* const m = in.m;
  const ParsedPacket& p = in.p;
  NoteDrop(w.counters, m, DropReason::kConnectionTornDown);
  if ((p.tcp_flags & nat::kTcpRst) != 0) {
    rte_pktmbuf_free(m);
    return;
  }
  FlowEntry& flow = w.shared->flows->entry(ref.id);
  const FlowBinding& b = flow.binding;
  const uint8_t* f = FrameOf(m);
  const ResetSegment to_sender = ResetToSender(f, p);
  // A client behind a tunnel gets its reset through the tunnel, like any frame of its flow.
  const auto reset_sender = [&](rte_mbuf* frame) {
    if (b.tunnelled == 0 || ref.dir == FlowDirection::kOut2In) {
      return SendResetBack(w, in, frame, to_sender);
    }
    WriteTcpReset(FrameOf(frame) + p.l3_offset, to_sender);
    EmitTunnelled(w, ctx, {frame, p.l3_offset, kResetL3Len}, b);
  };
  if (flow.state() == nat::FlowState::kReset) return reset_sender(m);
  flow.AdvanceTcpState(ref.dir, nat::kTcpRst);
  ResetSegment to_receiver = ResetToReceiver(f, p, b.TranslatedTuple(ref.dir));
  if (ref.dir == FlowDirection::kIn2Out)
    to_receiver.seq = SeqAtBackend(b, to_receiver.seq, p.tcp_flags);

  if (rte_mbuf* back = rte_pktmbuf_alloc(w.shared->pool); back != nullptr) {
    // The sender's reset keeps the frame's L2 header (and VLAN tag): copy it over.
    std::memcpy(rte_pktmbuf_mtod(back, uint8_t*), f, p.l3_offset);
    back->data_len = p.l3_offset;
    reset_sender(back);
  } else {
    w.counters.Drop(DropReason::kMbufPoolExhausted);
  }
  // Framed (length and padding) by Emit once the other side's L2 header, tagged or not, is known.
  WriteTcpReset(FrameOf(m) + p.l3_offset, to_receiver);
  // A segment without payload, SYN or FIN is a pure ACK (sequence exact) or a keepalive or
  // zero-window probe (sequence one below the receiver's next, out of window, silently
  // dropped): a second reset one higher covers the probe. Sent after the first, so when the
  // first was exact the second meets a closed connection and is ignored.
  const bool zero_length =
      p.tcp_payload_len() == 0 && (p.tcp_flags & (nat::kTcpSyn | nat::kTcpFin)) == 0;
  if (zero_length) {
    if (rte_mbuf* probe = rte_pktmbuf_alloc(w.shared->pool); probe != nullptr) {
      std::memcpy(FrameOf(probe), FrameOf(m), p.l3_offset + kResetL3Len);
      ResetSegment next = to_receiver;
      ++next.seq;
      WriteTcpReset(FrameOf(probe) + p.l3_offset, next);
      Emit(w, ctx, {m, p.l3_offset, kResetL3Len}, b, ref.dir);
      return Emit(w, ctx, {probe, p.l3_offset, kResetL3Len}, b, ref.dir);
    }
    w.counters.Drop(DropReason::kMbufPoolExhausted);
  }
  Emit(w, ctx, {m, p.l3_offset, kResetL3Len}, b, ref.dir);
}

void ResetIdleFlowTowards(Worker& w, const BurstContext& ctx, const FlowEntry& flow,
                          FlowDirection dir) {
  rte_mbuf* m = rte_pktmbuf_alloc(w.shared->pool);
  if (m == nullptr) return w.counters.Drop(DropReason::kMbufPoolExhausted);
  const FlowBinding& b = flow.binding;
  // The segment the flow would carry in `dir`: its receiver expects what it last acknowledged.
  const ResetSegment reset{.tuple = b.TranslatedTuple(dir),
                           .seq = flow.RcvNext(nat::Opposite(dir)),
                           .flags = nat::kTcpRst};
  WriteTcpReset(FrameOf(m) + kEthHeaderLen, reset);
  Emit(w, ctx, {m, kEthHeaderLen, kResetL3Len}, b, dir);
}

// ---- the fast path ----

// A packet of flow `flow` in kDir, translated (the state moved or left as kState says), counted
// and sent on; ForwardTranslated picks the specialisation.
// kShifted: the flow's stream carries a PROXY header (proxy_stream.h): its sequence numbers shift
// after the translation. The same code, specialised, so a flow without one pays nothing for it.
template <FlowDirection kDir, nat::StateUpdate kState, bool kShifted>
[[gnu::always_inline]] inline void TranslateAndSend(Worker& w, const BurstContext& ctx, Received in,
                                                    FlowEntry& flow) {
  const FlowBinding& b = flow.binding;
  const ParsedPacket& p = in.p;
  uint8_t* f = FrameOf(in.m);
  const uint32_t frame_bytes = in.m->pkt_len;
  uint32_t acked_before = 0;
  if constexpr (kShifted) acked_before = flow.RcvNext(FlowDirection::kOut2In);
  nat::TranslateOnFlow<nat::ChecksumMode::kSoftware, kState>(
      flow, kDir,
      {.headers = {f + p.l3_offset, f + p.l4_offset},
       .tcp_flags = p.tcp_flags,
       .frame_bytes = frame_bytes},
      ctx.now32);
  if constexpr (kShifted) ShiftStream(w, ctx, flow, kDir, p, f + p.l4_offset, acked_before);
  if ((p.checksums & (kIpv4ChecksumToFill | kL4ChecksumToFill)) != 0) [[unlikely]] {
    FillChecksums(f, p);
  }
  w.counters.endpoints[b.endpoint_id][kDir].Add(frame_bytes);
  w.counters.services[b.service_id][kDir].Add(frame_bytes);
  Emit<kDir>(w, ctx, {in.m, p.l3_offset, p.ip_total_len}, b);
}

template <FlowDirection kDir, nat::StateUpdate kState>
[[gnu::noinline]] void ForwardShifted(Worker& w, const BurstContext& ctx, Received in,
                                      FlowEntry& flow) {
  TranslateAndSend<kDir, kState, true>(w, ctx, in, flow);
}

// A packet of flow `flow` in kDir, translated (the state moved or left as kState says), counted
// and sent on.
template <FlowDirection kDir, nat::StateUpdate kState>
[[gnu::always_inline]] inline void ForwardTranslated(Worker& w, const BurstContext& ctx,
                                                     Received in, FlowEntry& flow) {
  if (flow.binding.stream_shift != 0) [[unlikely]] {
    return ForwardShifted<kDir, kState>(w, ctx, in, flow);
  }
  TranslateAndSend<kDir, kState, false>(w, ctx, in, flow);
}

// The MSS clamp a SYN of flow `b` travelling in `dir` gets: the lower of its arrival port's and its
// departure port's (0: neither has one). The departure port is the one Emit will pick.
uint16_t MssClampFor(const Worker& w, const BurstContext& ctx, uint16_t arrival,
                     const FlowBinding& b, FlowDirection dir) {
  uint16_t departure = kMaxPorts;
  if (dir == FlowDirection::kIn2Out) {
    const Ipv4Be backend = b.rev.tuple.src_ip;
    if (const BackendHop* hop = ctx.view->backend_hops.Find(backend)) {
      departure = hop->port;
    } else if (const ProviderRoute* route = ctx.view->RouteTo(backend)) {
      departure = route->port;
    }
  } else {
    const control::NetworkAttachment at = ctx.snapshot->Attachment(b.fwd.network);
    if (at.consumer_port < w.shared->consumer_ports.size()) {
      departure = w.shared->consumer_ports[at.consumer_port];
    }
  }
  uint16_t clamp = w.shared->ports[arrival].mss_clamp;
  if (departure < w.shared->ports.size()) {
    const uint16_t other = w.shared->ports[departure].mss_clamp;
    if (other != 0 && (clamp == 0 || other < clamp)) clamp = other;
  }
  // A tunnelled client's segments carry the tunnel's 50 bytes on the consumer side too.
  if (clamp != 0 && b.tunnelled != 0) clamp = static_cast<uint16_t>(clamp - kVxlanOverhead);
  return clamp;
}

// A segment that can change its flow's TCP state (SYN, FIN, RST, the ACK that completes the
// handshake): a corrupt one must not, so its checksum is verified first, and a RST is held to
// what its receiver expects (RFC 5961). A handful per connection, so out of line.
template <FlowDirection kDir>
[[gnu::noinline]] void ForwardStateChange(Worker& w, const BurstContext& ctx, Received in,
                                          FlowEntry& flow) {
  const ParsedPacket& p = in.p;
  const PacketView frame(FrameOf(in.m), in.m->data_len);
  if (!TcpChecksumIntact(frame, p)) {
    return DropPacket(w.counters, in.m, DropReason::kTcpBadChecksum);
  }
  const uint32_t seq = frame.LoadHost32(p.l4_offset + kTcpSeqOffset);
  if ((p.tcp_flags & nat::kTcpRst) != 0) {
    const bool has_ack = (p.tcp_flags & nat::kTcpAck) != 0;
    // Judged where it lands: at the backend, a client's number is where the stream shift puts it.
    const uint32_t landing =
        kDir == FlowDirection::kIn2Out ? SeqAtBackend(flow.binding, seq, p.tcp_flags) : seq;
    switch (flow.JudgeRst(kDir, landing, frame.LoadHost32(p.l4_offset + kTcpAckOffset), has_ack)) {
      case nat::RstVerdict::kOutOfWindow:
        return DropPacket(w.counters, in.m, DropReason::kTcpRstOutOfWindow);
      case nat::RstVerdict::kChallenge:
        return ForwardTranslated<kDir, nat::StateUpdate::kKeep>(w, ctx, in, flow);
      case nat::RstVerdict::kEnds:
        break;
    }
  } else if ((p.tcp_flags & nat::kTcpSyn) != 0) {
    const nat::FlowState state = flow.state();
    if (nat::NextTcpState(state, kDir, p.tcp_flags) != state) {
      // A SYN that opens (a client reusing the port) or answers (the backend's SYN-ACK): the
      // other side acknowledges its sequence number + 1 first.
      flow.ExpectAck(nat::Opposite(kDir), seq + 1);
    }
    if (const uint16_t clamp = MssClampFor(w, ctx, in.port, flow.binding, kDir); clamp != 0) {
      ClampMss(FrameOf(in.m) + p.l4_offset, p.tcp_header_len, clamp);
    }
    // The client's segments, the header's length later at the backend, still fit its MSS.
    if (kDir == FlowDirection::kOut2In && flow.binding.stream_shift != 0) {
      LowerMss(FrameOf(in.m) + p.l4_offset, p.tcp_header_len, flow.binding.stream_shift);
    }
  } else if (kDir == FlowDirection::kIn2Out && flow.binding.stream_shift != 0 &&
             flow.state() == nat::FlowState::kSynReceived &&
             PastHandshake(nat::NextTcpState(flow.state(), kDir, p.tcp_flags))) {
    // The client's ACK completes the handshake (a FIN with it included): the header goes first,
    // with the client's window (it completes the backend's handshake and sets its view of that
    // window).
    SendProxyHeader(w, ctx, flow, ProxySend::kFirst,
                    frame.LoadHost16(p.l4_offset + kTcpWindowOffset));
  }
  ForwardTranslated<kDir, nat::StateUpdate::kAdvance>(w, ctx, in, flow);
}

// A datagram of a UDP flow: translated, counted and sent on. No state, no sequence numbers, no
// PROXY header (a service's PROXY protocol applies to its TCP streams): a flow whose endpoint no
// longer carries traffic under the reset policy just drops it (there is nothing to reset) and
// idles out.
template <FlowDirection kDir>
[[gnu::noinline]] void ForwardDatagram(Worker& w, const BurstContext& ctx, Received in,
                                       FlowEntry& flow, EndpointEntry endpoint) {
  const ParsedPacket& p = in.p;
  if (!endpoint.carries_traffic && endpoint.teardown == control::TeardownPolicy::kReset) {
    return DropPacket(w.counters, in.m, DropReason::kConnectionTornDown);
  }
  uint8_t* f = FrameOf(in.m);
  const uint32_t frame_bytes = in.m->pkt_len;
  nat::TranslateUdpOnFlow(
      flow, kDir, {.headers = {f + p.l3_offset, f + p.l4_offset}, .frame_bytes = frame_bytes},
      ctx.now32);
  if ((p.checksums & (kIpv4ChecksumToFill | kL4ChecksumToFill)) != 0) [[unlikely]] {
    FillChecksums(f, p);
  }
  const FlowBinding& b = flow.binding;
  w.counters.endpoints[b.endpoint_id][kDir].Add(frame_bytes);
  w.counters.services[b.service_id][kDir].Add(frame_bytes);
  Emit<kDir>(w, ctx, {in.m, p.l3_offset, p.ip_total_len}, b);
}

// A packet of a flow, in the direction its port's role gives (see ProcessBurst). Inlined into
// each burst loop: the call's prologue and epilogue cost as much as the counters.
template <FlowDirection kDir>
[[gnu::always_inline]] inline void ForwardOnFlow(Worker& w, const BurstContext& ctx, Received in,
                                                 FlowId id) {
  FlowEntry& flow = w.shared->flows->entry(id);
  if (!w.OwnsFlow(id)) [[unlikely]] {
    w.counters.foreign_packets.Add(1);
  }
  // One 4-byte load per packet: a rejected or deleted connection stops here at once.
  const EndpointEntry endpoint = ctx.snapshot->Endpoint(flow.binding.endpoint_id);
  if (in.p.verdict == ParseVerdict::kUdp) [[unlikely]] {
    return ForwardDatagram<kDir>(w, ctx, in, flow, endpoint);
  }
  if (!endpoint.carries_traffic && endpoint.teardown == control::TeardownPolicy::kReset)
      [[unlikely]] {
    return TearDown(w, ctx, in, FlowRef{id, kDir});
  }
  // Every SYN takes the state-change path, also a retransmitted one that changes nothing: its
  // MSS option is clamped there (a client keeps the MSS of whichever SYN-ACK it takes).
  if (nat::TcpFlagsMayChangeState(flow.state(), in.p.tcp_flags) ||
      (in.p.tcp_flags & nat::kTcpSyn) != 0) [[unlikely]] {
    return ForwardStateChange<kDir>(w, ctx, in, flow);
  }
  ForwardTranslated<kDir, nat::StateUpdate::kKeep>(w, ctx, in, flow);
}

// ---- ICMP errors about a flow ----

// An ICMP error (destination unreachable, time exceeded) about a packet privlink sent on this
// side: the flow it belongs to is found by the quoted packet's tuple, and the error goes to the
// flow's other end as if that end's own packet had met it. From the provider side (about a packet
// to a backend) it goes to the client, from the PE; from a consumer network (about a packet to a
// client) to the backend, from the NAT IP.
void ForwardIcmpError(Worker& w, const BurstContext& ctx, Received in, NetworkId network) {
  rte_mbuf* const m = in.m;
  const ParsedPacket& p = in.p;
  if (!SameMac(p.dst_mac, w.shared->ports[in.port].mac)) {
    return DropPacket(w.counters, m, DropReason::kEthDstNotOurs);
  }
  uint8_t* frame = FrameOf(m);
  const auto parsed = ParseIcmpError(PacketView(frame, m->data_len), p);
  if (const DropReason* reason = std::get_if<DropReason>(&parsed)) {
    return DropPacket(w.counters, m, *reason);
  }
  const IcmpError& error = std::get<IcmpError>(parsed);
  const bool from_consumer = network != nat::kProviderNetwork;
  // The quoted packet went out in the opposite direction of what arrives here; the flow's key of
  // this side is the quoted tuple reversed (what the peer sent us).
  nat::FlowKey key;
  key.network = network;
  key.tuple = error.quoted.Reversed();
  key.proto = error.quoted_proto;
  const nat::FlowRef ref = w.shared->flows->Lookup(key);
  const FlowDirection arrived = from_consumer ? FlowDirection::kIn2Out : FlowDirection::kOut2In;
  if (!ref.found() || ref.dir != arrived) return DropPacket(w.counters, m, DropReason::kIcmpNoFlow);
  if (!w.OwnsFlow(ref.id)) w.counters.foreign_icmp_errors.Add(1);
  const FlowEntry& flow = w.shared->flows->entry(ref.id);
  const FlowBinding& b = flow.binding;
  const Ipv4Be outer_dst =
      PacketView(frame, m->data_len).Load<Ipv4Be>(p.l3_offset + nat::kIpv4DstOffset);
  if (outer_dst != error.quoted.src_ip) {
    return DropPacket(w.counters, m, DropReason::kIcmpQuoteInvalid);
  }
  if (!w.icmp_rate.Take(b.service_id, ctx.now)) {
    return DropPacket(w.counters, m, DropReason::kIcmpRateLimited);
  }
  // On the other side, the quoted packet is that side's own, as it sent it: the flow's key there
  // reversed; the error comes from the address that packet was sent to.
  const nat::Tuple other = b.TranslatedTuple(arrived).Reversed();
  // A quote of a packet to a backend carries the stream's shifted number: the client's own is
  // lower.
  const uint32_t seq_delta = arrived == FlowDirection::kOut2In ? 0u - b.stream_shift : 0u;
  RewriteIcmpError(frame, p.l3_offset, error,
                   {.outer_src = other.dst_ip,
                    .outer_dst = other.src_ip,
                    .quoted = other,
                    .quoted_seq_delta = seq_delta});
  w.counters.icmp_errors_translated[static_cast<int>(arrived)].Add(1);
  // The datagram ends where the ICMP message does (ParseIcmpError read the total length).
  const auto len = static_cast<uint16_t>(error.icmp_offset + error.icmp_len - p.l3_offset);
  Emit(w, ctx, {m, p.l3_offset, len}, b, arrived);
}

// ---- the slow path ----

// A consumer packet that matched no flow: only a SYN (or any UDP datagram) to an Approved
// endpoint with a backend creates one. `hash` is the hash of the packet's key its lookup used: the
// Maglev pick, the NAT IP spread and the insert reuse it rather than hash the key again.
// `tunnel`: the VTEP the packet came from, when its network is a VXLAN one (else nullptr).
void CreateFlowOrDrop(Worker& w, const BurstContext& ctx, Received in, nat::FlowHash hash,
                      const TunnelSource* tunnel) {
  rte_mbuf* const m = in.m;
  const ParsedPacket& p = in.p;
  const bool udp = p.verdict == ParseVerdict::kUdp;
  constexpr uint8_t kHandshakeFlags = nat::kTcpSyn | nat::kTcpAck | nat::kTcpRst | nat::kTcpFin;
  if (!udp && (p.tcp_flags & kHandshakeFlags) != nat::kTcpSyn) {
    return DropPacket(w.counters, m, DropReason::kNoFlowNotSyn);
  }
  // A corrupt SYN or datagram gets no flow, no NAT port and no reset.
  const PacketView frame(FrameOf(m), m->data_len);
  if (udp ? !UdpChecksumIntact(frame, p) : !TcpChecksumIntact(frame, p)) {
    return DropPacket(w.counters, m,
                      udp ? DropReason::kUdpBadChecksum : DropReason::kTcpBadChecksum);
  }
  const Snapshot& snap = *ctx.snapshot;
  const control::PeTarget* target = snap.FindPe(control::PeKey::Of(p.key));
  if (target == nullptr) return DropPacket(w.counters, m, DropReason::kNoEndpoint);
  if (!target->approved) {
    // A SYN is refused at once rather than left to time out: the client learns it cannot connect.
    if (udp) return DropPacket(w.counters, m, DropReason::kEndpointNotApproved);
    NoteDrop(w.counters, m, DropReason::kEndpointNotApproved);
    const ResetSegment reset = ResetToSender(FrameOf(m), p);
    if (tunnel == nullptr) return SendResetBack(w, in, m, reset);
    WriteTcpReset(FrameOf(m) + p.l3_offset, reset);
    return SendTunnelledBack(w, ctx, {m, p.l3_offset, kResetL3Len},
                             {.port = in.port,
                              .network = p.key.network,
                              .client_mac = p.src_mac,
                              .source = *tunnel,
                              .hash = hash});
  }
  const SnapshotService* service = snap.Service(target->service);
  if (service == nullptr || !service->HasBackends()) {
    return DropPacket(w.counters, m,
                      service != nullptr && service->all_unhealthy ? DropReason::kNoHealthyBackend
                                                                   : DropReason::kNoBackend);
  }
  const uint16_t backend = service->maglev.Pick(hash.value);
  // A client behind a tunnel: its flow keeps the index of its (client MAC, VTEP) hop.
  uint8_t hop_index[6] = {};
  std::optional<uint32_t> hop;
  if (tunnel != nullptr) [[unlikely]] {
    hop = w.vteps->Acquire(
        {.client_mac = p.src_mac, .vtep_mac = tunnel->vtep_mac, .vtep_ip = tunnel->vtep_ip});
    if (!hop) return DropPacket(w.counters, m, DropReason::kVxlanHopsFull);
    SetVtepIndex(hop_index, *hop);
  }
  const nat::NewFlow request{.client_to_endpoint = {p.key, hash},
                             .backend_ip = service->backends[backend].ip,
                             .backend_port = target->backend_port,
                             .nat_ips = service->new_flow_nat_ips,
                             .nat_ip_slots = service->nat_ips,
                             .service_id = service->id,
                             .endpoint_id = target->endpoint,
                             .client_mac = hop ? hop_index : p.src_mac.data(),
                             .syn_seq = udp ? 0 : frame.LoadHost32(p.l4_offset + kTcpSeqOffset),
                             .stream_shift = service->proxy_protocol && !udp
                                                 ? static_cast<uint8_t>(kProxyV2LinkIdHeaderLen)
                                                 : uint8_t{0},
                             .tunnelled = hop.has_value()};
  const nat::SetupOutcome<FlowId> created =
      nat::CreateFlow(*w.shared->flows, w.ports, w.index, request, ctx.now);
  if (!created.ok()) {
    if (hop) w.vteps->Release(*hop);
    if (created.failure == nat::SetupFailure::kFlowKeyExists) {
      // Another worker created it since the lookup (a retransmitted SYN on another queue).
      const FlowRef again = w.shared->flows->LookupHashed(p.key, hash);
      if (again.found()) return ForwardOnFlow<FlowDirection::kIn2Out>(w, ctx, in, again.id);
    }
    if (created.failure == nat::SetupFailure::kNatPortsExhausted) {
      w.counters.nat_ports[service->id].alloc_failures.Add(1);
    }
    // Counted under the failure's namesake: one list names both (nat/setup_failures.def).
    return DropPacket(w.counters, m, DropReasonOf(created.failure));
  }
  const FlowEntry& entry = w.shared->flows->entry(*created);
  w.counters.nat_ports[entry.binding.service_id].in_use[entry.nat_ip_index()].Add(1);
  w.counters.flows_created.Add(1);
  w.counters.endpoint_connections[entry.binding.endpoint_id].Add(1);
  PushAudit(w, entry, AuditEvent::kStart, FlowEndReason::kNone, ctx.now32);
  ForwardOnFlow<FlowDirection::kIn2Out>(w, ctx, in, *created);
}

// A provider packet that matched no flow: never forwarded (a provider cannot open a connection
// into a consumer network); the reason says whether it at least aimed at a NAT IP.
void DropProviderMiss(Worker& w, const BurstContext& ctx, rte_mbuf* m, const ParsedPacket& p) {
  DropPacket(w.counters, m,
             ctx.snapshot->IsNatIp(p.key.tuple.dst_ip) ? DropReason::kNatIpNoFlow
                                                       : DropReason::kProviderDstNotNatIp);
}

void PassProbeAnswer(Worker& w, const BurstContext& ctx, uint16_t port, rte_mbuf* m,
                     const ParsedPacket& p) {
  if (!ctx.snapshot->IsNatIp(p.key.tuple.dst_ip)) {
    return DropPacket(w.counters, m, DropReason::kProviderDstNotNatIp);
  }
  w.counters.probe_answers.Add(1);
  SendToControl(w, port, m);
}

// kNicVerdicts: the port reports checksum verdicts (PortInfo::checksum_verdicts); on other
// ports the parser is built for "unknown" and the flags are never read.
template <PortRole kRole, ParseOptions kParse, bool kNicVerdicts>
void ProcessBurst(Worker& w, const BurstContext& ctx, uint16_t port, rte_mbuf** pkts,
                  uint16_t count) {
  // A port's role fixes the direction of every flow hit on it: consumer-side keys carry a
  // consumer network id (1 .. kNetworkIdLimit - 1) and match only a flow's forward key; provider
  // keys carry kProviderNetwork and match only reverse keys.
  constexpr FlowDirection kDir =
      kRole == PortRole::kConsumer ? FlowDirection::kIn2Out : FlowDirection::kOut2In;
  const PortInfo& info = w.shared->ports[port];
  const NetworkId* networks = nullptr;
  if constexpr (kRole == PortRole::kConsumer) {
    networks = ctx.snapshot->NetworksOfConsumerPort(info.position);
  }
  BurstScratch<ParsedPacket> parsed;
  BurstScratch<nat::FlowKey> keys;
  BurstScratch<TunnelSource> sources;  // of the frames that came in a tunnel
  uint64_t tunnelled = 0;              // bit i: frames[i] came in a tunnel
  rte_mbuf* frames[kRxBurst];          // TCP and UDP frames, for the lookup
  uint16_t n = 0;
  uint64_t rx_bytes = 0;
  for (uint16_t i = 0; i < count; ++i) {
    if (i + 1 < count) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void*));
    rte_mbuf* m = pkts[i];
    rx_bytes += m->pkt_len;
    if (m->nb_segs != 1) [[unlikely]] {
      DropPacket(w.counters, m, DropReason::kMultiSegment);
      continue;
    }
    ParsedPacket& p = parsed[n];
    const NicChecksums nic = kNicVerdicts ? NicChecksumsOf(m) : NicChecksums{};
    ParsePacketInto<kParse>(PacketView(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len, nic), p);
    if (p.verdict != ParseVerdict::kTcp && p.verdict != ParseVerdict::kUdp) [[unlikely]] {
      if (p.verdict == ParseVerdict::kArp) {
        SendToControl(w, port, m);
      } else if (p.drop_reason == DropReason::kIcmp) {
        NetworkId network = nat::kProviderNetwork;
        if constexpr (kRole == PortRole::kConsumer) {
          network = networks != nullptr ? networks[p.vlan_id] : control::kNoNetwork;
        }
        if (network == control::kNoNetwork) {
          DropPacket(w.counters, m, DropReason::kUnknownNetwork);
        } else {
          ForwardIcmpError(w, ctx, Received{port, m, p}, network);
        }
      } else {
        DropPacket(w.counters, m, p.drop_reason);
      }
      continue;
    }
    if (!SameMac(p.dst_mac, info.mac)) [[unlikely]] {
      DropPacket(w.counters, m, DropReason::kEthDstNotOurs);
      continue;
    }
    if constexpr (kRole == PortRole::kConsumer) {
      // Tunnels arrive untagged (as the local IP's ARP is answered): a frame of a VLAN network
      // is never taken for one.
      if (p.verdict == ParseVerdict::kUdp && p.vlan_id == 0 &&
          p.key.tuple.dst_port == kVxlanPortBe &&
          ctx.snapshot->IsVxlanLocalIp(info.position, p.key.tuple.dst_ip)) [[unlikely]] {
        // A VXLAN tunnel: its VNI names the network, and the inner frame takes the packet's
        // place (tunnel.h).
        switch (OpenTunnel(w, ctx, port, m, p, sources[n])) {
          case TunnelVerdict::kFlow:
            tunnelled |= uint64_t{1} << n;
            break;
          case TunnelVerdict::kIcmpError:
            ForwardIcmpError(w, ctx, Received{port, m, p}, p.key.network);
            continue;
          case TunnelVerdict::kHandled:
            continue;
        }
      } else {
        // The (port, VLAN) pair names the consumer network: part of every consumer-side key, so
        // identical addresses in two networks are two different flows.
        const NetworkId network = networks != nullptr ? networks[p.vlan_id] : control::kNoNetwork;
        if (network == control::kNoNetwork) [[unlikely]] {
          DropPacket(w.counters, m, DropReason::kUnknownNetwork);
          continue;
        }
        p.key.network = network;
      }
    } else {
      p.key.network = nat::kProviderNetwork;
      // A health probe's answer (no flow ever has a probe port): to the control thread, before
      // the lookup.
      if (nat::IsProbePort(p.key.tuple.dst_port) && w.shared->health_probes &&
          p.verdict == ParseVerdict::kTcp) [[unlikely]] {
        PassProbeAnswer(w, ctx, port, m, p);
        continue;
      }
    }
    keys[n] = p.key;
    frames[n] = m;
    ++n;
  }
  // Counted once per burst (received, dropped or not): one load and store instead of one a frame.
  TrafficCounters& rx = w.counters.ports[port].rx;
  rx.packets.Add(count);
  rx.bytes.Add(rx_bytes);
  if (n == 0) return;

  // The bulk lookup hashes each key, once: a consumer SYN that misses takes that hash on to the
  // Maglev pick and flow setup. (Not hashed in the parse loop: there the key's words would be read
  // right after the parser stored its fields one by one, a load the CPU cannot forward from
  // several smaller stores, and every packet waited for it: 5% more cycles at 1k flows,
  // measured.)
  BurstScratch<nat::FlowLookup> found;
  const uint64_t hits = w.shared->flows->LookupBulk({keys.data(), n}, found.data());
  for (uint16_t i = 0; i < n; ++i) {
    const Received in{port, frames[i], parsed[i]};
    if ((hits >> i) & 1) [[likely]] {
      ForwardOnFlow<kDir>(w, ctx, in, found[i].ref.id);
    } else if constexpr (kRole == PortRole::kConsumer) {
      CreateFlowOrDrop(w, ctx, in, found[i].hash, ((tunnelled >> i) & 1) ? &sources[i] : nullptr);
    } else {
      DropProviderMiss(w, ctx, frames[i], parsed[i]);
    }
  }
}

}  // namespace

void ResetIdleFlow(Worker& w, const BurstContext& ctx, const FlowEntry& flow) {
  ResetIdleFlowTowards(w, ctx, flow, FlowDirection::kIn2Out);
  ResetIdleFlowTowards(w, ctx, flow, FlowDirection::kOut2In);
}

void ProcessBurstOf(Worker& w, const BurstContext& ctx, uint16_t port, rte_mbuf** pkts,
                    uint16_t count) {
  using Loop = void (*)(Worker&, const BurstContext&, uint16_t, rte_mbuf**, uint16_t);
  constexpr PortRole kC = PortRole::kConsumer;
  constexpr PortRole kP = PortRole::kProvider;
  constexpr ParseOptions kState{};
  constexpr ParseOptions kAll = kVerifyTcpChecksums;
  // [role][every TCP checksum verified][NIC verdicts]
  static constexpr Loop kLoops[2][2][2] = {
      {{ProcessBurst<kC, kState, false>, ProcessBurst<kC, kState, true>},
       {ProcessBurst<kC, kAll, false>, ProcessBurst<kC, kAll, true>}},
      {{ProcessBurst<kP, kState, false>, ProcessBurst<kP, kState, true>},
       {ProcessBurst<kP, kAll, false>, ProcessBurst<kP, kAll, true>}}};
  const PortInfo& info = w.shared->ports[port];
  kLoops[static_cast<size_t>(info.role)][w.shared->verify_all_tcp_checksums ? 1 : 0]
        [info.checksum_verdicts ? 1 : 0](w, ctx, port, pkts, count);
}

}  // namespace privlink::dataplane
