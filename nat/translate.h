// The fast path's whole job on a flow hit, for either direction: rewrite the header from the
// flow's binding with the precomputed checksum delta, count the packet, stamp the time, and move
// the TCP state when the flags can change it. One function serves both directions: the rewrite
// is always "the other direction's key, swapped".
#pragma once

#include <cstdint>

#include "nat/flow_entry.h"
#include "nat/rewrite.h"

namespace privlink::nat {

struct PacketView;  // forward use only in the dataplane; the engine sees raw headers

template <ChecksumMode kMode = ChecksumMode::kSoftware>
inline void TranslateOnFlow(FlowEntry& flow, FlowDirection dir, void* ipv4_header, void* tcp_header,
                            uint8_t tcp_flags, uint32_t frame_bytes, TimeMs32 now) {
  const FlowBinding& b = flow.binding;
  const FlowKey& to = b.rewrite_source(dir);
  RewriteIpv4Tcp<kMode>(ipv4_header, tcp_header, to.dst_ip, to.dst_port, to.src_ip, to.src_port,
                        b.delta[static_cast<int>(dir)]);
  flow.counter(dir).Add(frame_bytes);
  flow.last_seen_ms.store(now, std::memory_order_relaxed);
  if (TcpFlagsMayChangeState(flow.state(), tcp_flags)) flow.AdvanceTcpState(dir, tcp_flags);
}

}  // namespace privlink::nat
