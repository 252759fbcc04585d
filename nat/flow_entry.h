// One NAT flow: both directions' keys, the precomputed rewrite, and its live state.
//
// 96 bytes. The binding (the first 48) is written once, before the entry is published in the
// table, and only read afterwards; the fields after it change per packet. A translated header is
// the tuple of the *other* direction's key, reversed (TranslatedTuple):
//   in2out (consumer -> provider): src := rev.dst (NAT ip:port), dst := rev.src (backend ip:port)
//   out2in (provider -> consumer): src := fwd.dst (PE ip:frontend port), dst := fwd.src (client)
#pragma once

#include <atomic>
#include <cstdint>

#include "nat/checksum.h"
#include "nat/clock.h"
#include "nat/flow_key.h"
#include "nat/tcp_state.h"

namespace privlink::nat {

using FlowId = uint32_t;
inline constexpr FlowId kInvalidFlowId = 0xffffffffu;

// Per-direction counters. Each direction of a flow is written by one worker only (RSS keeps a
// 5-tuple on one queue), so the counters use relaxed load + store: no locked instruction on the
// fast path, and readers on other threads (stats, flow listings) still see untorn values.
struct DirectionCounters {
  std::atomic<uint64_t> packets{0};
  std::atomic<uint64_t> bytes{0};

  void Add(uint32_t frame_bytes) {
    packets.store(packets.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    bytes.store(bytes.load(std::memory_order_relaxed) + frame_bytes, std::memory_order_relaxed);
  }
};

// What a flow is bound to: written once, before the entry is published, then only read.
struct FlowBinding {
  FlowKey fwd;                 // consumer side: client -> PE, on the consumer network
  FlowKey rev;                 // provider side: backend -> NAT ip:port
  RewriteDelta delta;          // checksum delta of the in2out rewrite (computed at creation)
  uint8_t client_mac[6] = {};  // where out2in frames go (learned from the flow's first packet)
  uint16_t service_id = 0;     // control plane ids: stats and timeouts are looked up by them
  uint16_t endpoint_id = 0;    // (endpoint ids are below 2^16: control/model/ids.h)
  // The length of the PROXY protocol header privlink writes at the start of the stream towards
  // the backend (0: none): every client sequence number is this much higher at the backend.
  uint8_t stream_shift = 0;
  // 1: the flow's client is behind a tunnel (a VXLAN network) and client_mac holds the index of
  // its hop in the dataplane's table of tunnel hops (the client's MAC and its VTEP), not a MAC.
  uint8_t tunnelled = 0;

  const FlowKey& key(FlowDirection d) const { return d == FlowDirection::kIn2Out ? fwd : rev; }
  // The tuple a packet travelling in `d` leaves with: the other direction's, reversed.
  Tuple TranslatedTuple(FlowDirection d) const {
    return (d == FlowDirection::kIn2Out ? rev : fwd).tuple.Reversed();
  }
  // The checksum delta from key(d).tuple to TranslatedTuple(d). Out2in is the in2out substitution
  // run backwards, so its delta is the one's-complement negative of in2out's.
  RewriteDelta Delta(FlowDirection d) const {
    return d == FlowDirection::kIn2Out ? delta : delta.Negated();
  }
};
static_assert(sizeof(FlowBinding) == 48);

// A flow's status word, from the low bits: the TCP state (3 bits), live (1: set by the owner at
// insert, cleared at removal), the NAT IP's position in its service's list (4: lists only grow,
// so per-NAT-IP gauges can go down when the flow ends even if the service is gone by then),
// PROXY header pending (1: set at insert for a flow with a stream shift, cleared when the
// backend has acknowledged the header), and the creation time as 23-bit ticks of 256 ms (they
// wrap after 24.8 days, at a resolution fine for ages and audit durations). One word, so that the
// workers' CAS on the state, the clearing of the pending bit and the owner's removal are all
// read-modify-writes of it and none loses another.
inline constexpr uint32_t kFlowStateMask = 0x7;
inline constexpr uint32_t kFlowLive = 0x8;
inline constexpr unsigned kFlowNatIpIndexShift = 4;
inline constexpr uint32_t kFlowNatIpIndexMask = 0xf;  // up to 16 NAT IPs per service
inline constexpr uint32_t kFlowProxyPending = 0x100;
inline constexpr unsigned kFlowTickShift = 8;     // milliseconds -> 256 ms ticks
inline constexpr unsigned kFlowCreatedShift = 9;  // the word's top 23 bits
inline constexpr uint32_t kFlowTickMask = 0x7fffff;
static_assert(static_cast<uint32_t>(FlowState::kCount) <= kFlowStateMask + 1);

struct alignas(32) FlowEntry {
  FlowBinding binding;

  // ---- mutable ----
  std::atomic<uint32_t> status{0};        // see kFlowStateMask and the constants after it
  std::atomic<TimeMs32> last_seen_ms{0};  // both directions store "now"; any interleaving is fine
  // Per direction, the next sequence number its sender expects to receive, host order: the
  // last ACK it sent, seeded from the other side's SYN so that a RST can be held to it
  // (RFC 5961) before anything was acknowledged. Each is written by the worker that receives
  // that direction and read by the other with relaxed loads.
  std::atomic<uint32_t> rcv_next[2] = {};
  DirectionCounters counters[2];  // indexed by FlowDirection

  DirectionCounters& counter(FlowDirection d) { return counters[static_cast<int>(d)]; }
  const DirectionCounters& counter(FlowDirection d) const { return counters[static_cast<int>(d)]; }

  FlowState state() const {
    return static_cast<FlowState>(status.load(std::memory_order_relaxed) & kFlowStateMask);
  }
  bool live() const { return (status.load(std::memory_order_relaxed) & kFlowLive) != 0; }
  uint8_t nat_ip_index() const {
    return static_cast<uint8_t>((status.load(std::memory_order_relaxed) >> kFlowNatIpIndexShift) &
                                kFlowNatIpIndexMask);
  }
  // The PROXY header went out and the backend has not acknowledged all of it yet.
  bool proxy_pending() const {
    return (status.load(std::memory_order_relaxed) & kFlowProxyPending) != 0;
  }
  void ClearProxyPending() { status.fetch_and(~kFlowProxyPending, std::memory_order_relaxed); }
  // Milliseconds since the flow was created (256 ms resolution, modulo 24.8 days).
  uint32_t AgeMs(TimeMs32 now) const {
    const uint32_t created = status.load(std::memory_order_relaxed) >> kFlowCreatedShift;
    return (((now >> kFlowTickShift) - created) & kFlowTickMask) << kFlowTickShift;
  }

  // The owner, before the entry is published: live, kSynSent (kUdp for a UDP flow), created
  // `now`, its PROXY header pending if it has a stream shift.
  void Publish(TimeMs32 now, uint8_t nat_ip_index) {
    const FlowState first =
        binding.fwd.proto == kIpProtoUdp ? FlowState::kUdp : FlowState::kSynSent;
    const uint32_t word = static_cast<uint32_t>(first) | kFlowLive |
                          (binding.stream_shift != 0 ? kFlowProxyPending : 0) |
                          (uint32_t{nat_ip_index} & kFlowNatIpIndexMask) << kFlowNatIpIndexShift |
                          ((now >> kFlowTickShift) & kFlowTickMask) << kFlowCreatedShift;
    status.store(word, std::memory_order_relaxed);
  }
  // The owner, when it frees the entry: false when it was not live (a flow is freed once).
  bool MarkRemoved() {
    return (status.fetch_and(~kFlowLive, std::memory_order_relaxed) & kFlowLive) != 0;
  }

  // Advances the TCP state for a segment. Only flag-carrying segments get here (the caller checks
  // TcpFlagsMayChangeState first), and the CAS keeps a FIN seen by one worker from being lost to
  // a concurrent FIN seen by another.
  void AdvanceTcpState(FlowDirection dir, uint8_t tcp_flags) {
    uint32_t cur = status.load(std::memory_order_relaxed);
    for (;;) {
      const auto state = static_cast<FlowState>(cur & kFlowStateMask);
      const FlowState next = NextTcpState(state, dir, tcp_flags);
      if (next == state) return;
      const uint32_t word = (cur & ~kFlowStateMask) | static_cast<uint32_t>(next);
      if (status.compare_exchange_weak(cur, word, std::memory_order_relaxed)) return;
    }
  }

  // A RST travelling in `dir`, held to what its receiver expects (nat/tcp_state.h).
  RstVerdict JudgeRst(FlowDirection dir, uint32_t seq, uint32_t ack, bool has_ack) const {
    return nat::JudgeRst({.state = state(),
                          .dir = dir,
                          .receiver_next = RcvNext(Opposite(dir)),
                          .sender_next = RcvNext(dir),
                          .seq = seq,
                          .ack = ack,
                          .has_ack = has_ack});
  }

  uint32_t RcvNext(FlowDirection d) const {
    return rcv_next[static_cast<int>(d)].load(std::memory_order_relaxed);
  }
  // What `d`'s sender will acknowledge first: the other side's SYN sequence number + 1.
  void ExpectAck(FlowDirection d, uint32_t next) {
    rcv_next[static_cast<int>(d)].store(next, std::memory_order_relaxed);
  }
  // An ACK number (host order) sent in direction `d`: the number its sender expects next, as it
  // last said. The last, not the highest: a stack answers a SYN for a connection it still holds
  // with a challenge ACK of that connection's number (RFC 5961 4.2), and the client's RST at that
  // number must reach it. One writer per direction: a plain store.
  void NoteAck(FlowDirection d, uint32_t ack) {
    rcv_next[static_cast<int>(d)].store(ack, std::memory_order_relaxed);
  }
};

static_assert(sizeof(FlowEntry) == 96, "flow entry must stay at 96 bytes (memory per flow target)");

// How long a flow may idle now: its state's timeout, except that a UDP flow nothing has answered
// yet gets the embryonic one (as conntrack treats unreplied UDP), so a sender spraying source
// ports cannot hold NAT ports and table entries for the whole UDP timeout.
inline uint32_t FlowTimeoutMs(const FlowEntry& e, const FlowTimeouts& timeouts) {
  const FlowState state = e.state();
  if (state == FlowState::kUdp &&
      e.counter(FlowDirection::kOut2In).packets.load(std::memory_order_relaxed) == 0) {
    return timeouts.embryonic_ms;
  }
  return FlowStateTimeoutMs(state, timeouts);
}

}  // namespace privlink::nat
