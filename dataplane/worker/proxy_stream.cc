#include "dataplane/worker/proxy_stream.h"

#include <array>

#include "dataplane/packet/packet_view.h"
#include "dataplane/packet/proxy_v2.h"
#include "dataplane/packet/tcp_reset.h"
#include "dataplane/packet/tcp_shift.h"
#include "dataplane/worker/emit.h"

namespace privlink::dataplane {

void SendProxyHeader(Worker& w, const BurstContext& ctx, const nat::FlowEntry& flow, ProxySend kind,
                     uint16_t window) {
  rte_mbuf* m = rte_pktmbuf_alloc(w.shared->pool);
  if (m == nullptr) return w.counters.Drop(DropReason::kMbufPoolExhausted);
  const nat::FlowBinding& b = flow.binding;
  const uint32_t* link_id = ctx.snapshot->link_ids.Find(b.endpoint_id);
  std::array<uint8_t, kProxyV2LinkIdHeaderLen> header;
  WriteProxyV2(header, b.fwd.tuple, link_id != nullptr ? *link_id : 0);
  const uint16_t len =
      WriteTcpSegment(FrameOf(m) + kEthHeaderLen,
                      TcpSegment{.tuple = b.TranslatedTuple(nat::FlowDirection::kIn2Out),
                                 .seq = flow.RcvNext(nat::FlowDirection::kOut2In),
                                 .ack = flow.RcvNext(nat::FlowDirection::kIn2Out),
                                 .flags = nat::kTcpAck | nat::kTcpPsh,
                                 .window = window,
                                 .payload = header});
  (kind == ProxySend::kFirst ? w.counters.proxy_headers_sent : w.counters.proxy_headers_resent)
      .Add(1);
  Emit<nat::FlowDirection::kIn2Out>(w, ctx, {m, kEthHeaderLen, len}, b);
}

void ShiftStream(Worker& w, const BurstContext& ctx, nat::FlowEntry& flow, nat::FlowDirection dir,
                 const ParsedPacket& p, uint8_t* tcp, uint32_t acked_before) {
  const uint32_t shift = flow.binding.stream_shift;
  if (dir == nat::FlowDirection::kIn2Out) {
    // SeqAtBackend's rule, applied in place (a SYN is left byte for byte as it came).
    if ((p.tcp_flags & nat::kTcpSyn) == 0) AddToSeq(tcp, shift);
    return;
  }
  if ((p.tcp_flags & nat::kTcpAck) == 0) return;
  const uint32_t ack = PacketView(tcp, p.tcp_header_len).LoadHost32(kTcpAckOffset);
  if (!flow.proxy_pending()) {
    SetAck(tcp, ack - shift);
  } else if (static_cast<int32_t>(ack - acked_before) >= static_cast<int32_t>(shift)) {
    flow.ClearProxyPending();
    SetAck(tcp, ack - shift);
  } else {
    // Not all of the header acknowledged: at the client, the stream starts where it did.
    if (ack != acked_before) SetAck(tcp, acked_before);
    constexpr uint8_t kNotPure = nat::kTcpSyn | nat::kTcpFin | nat::kTcpRst;
    if (p.tcp_payload_len() == 0 && (p.tcp_flags & kNotPure) == 0 && PastHandshake(flow.state())) {
      SendProxyHeader(w, ctx, flow, ProxySend::kResend, kProxyResendWindow);
    }
  }
  if (p.tcp_header_len > kTcpMinHeaderLen) AddToSackBlocks(tcp, p.tcp_header_len, 0u - shift);
}

}  // namespace privlink::dataplane
