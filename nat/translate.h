// The fast path's whole job on a flow hit, for either direction: rewrite the header from the
// flow's binding with the precomputed checksum delta, count the packet, stamp the time, and for
// TCP note the ACK and move the state when the flags can change it. One function serves both
// directions: the rewrite is always "the other direction's key, reversed"
// (FlowBinding::TranslatedTuple).
#pragma once

#include <cstdint>

#include "nat/flow_entry.h"
#include "nat/rewrite.h"

namespace privlink::nat {

// What the fast path needs of one TCP packet besides its flow: where its headers are, its TCP
// flags (they may move the flow's state) and its length on the wire (the byte counters).
struct TcpPacket {
  Ipv4L4Headers headers;
  uint8_t tcp_flags = 0;
  uint32_t frame_bytes = 0;
};

// kAdvance: a segment whose flags can change the state moves it. kKeep: the state is left alone
// (the dataplane's fast path, which hands every segment that could change it to a slow path that
// verifies it first).
enum class StateUpdate : uint8_t { kAdvance, kKeep };

template <ChecksumMode kMode = ChecksumMode::kSoftware, StateUpdate kState = StateUpdate::kAdvance>
inline void TranslateOnFlow(FlowEntry& flow, FlowDirection dir, const TcpPacket& packet,
                            TimeMs32 now) {
  const FlowBinding& b = flow.binding;
  if ((packet.tcp_flags & kTcpAck) != 0) {
    const auto* tcp = static_cast<const unsigned char*>(packet.headers.l4);
    flow.NoteAck(dir, Be32ToHost(rewrite_internal::LoadAt<uint32_t>(tcp, kTcpAckOffset)));
  }
  RewriteIpv4Tcp<kMode>(packet.headers, b.TranslatedTuple(dir), b.Delta(dir));
  flow.counter(dir).Add(packet.frame_bytes);
  flow.last_seen_ms.store(now, std::memory_order_relaxed);
  if constexpr (kState == StateUpdate::kAdvance) {
    if (TcpFlagsMayChangeState(flow.state(), packet.tcp_flags)) {
      flow.AdvanceTcpState(dir, packet.tcp_flags);
    }
  }
}

// A UDP flow's datagram: the same rewrite (RewriteIpv4Udp keeps a 0 checksum 0), count and time
// stamp; no state, no ACK.
struct UdpPacket {
  Ipv4L4Headers headers;
  uint32_t frame_bytes = 0;
};

inline void TranslateUdpOnFlow(FlowEntry& flow, FlowDirection dir, const UdpPacket& packet,
                               TimeMs32 now) {
  const FlowBinding& b = flow.binding;
  RewriteIpv4Udp(packet.headers, b.TranslatedTuple(dir), b.Delta(dir));
  flow.counter(dir).Add(packet.frame_bytes);
  flow.last_seen_ms.store(now, std::memory_order_relaxed);
}

}  // namespace privlink::nat
