// The PROXY protocol v2 header of a service with enableProxyProtocol, and the stream shift it
// makes. privlink writes the header itself, at the start of the stream towards the backend, as
// soon as the client's ACK completes the handshake (a server that speaks first waits for it, so
// the client cannot be left to carry it), and sends it again until the backend acknowledges all
// of it. Every later client sequence number is FlowBinding::stream_shift higher at the backend,
// and every acknowledgement and SACK block of the backend that much lower at the client; the
// flow's RcvNext values stay as each end sent them.
#pragma once

#include <cstdint>

#include "dataplane/packet/parse.h"
#include "dataplane/worker/worker.h"
#include "nat/flow_entry.h"

namespace privlink::dataplane {

// A pending header goes out again when the flow was idle this long at the expiry sweep's visit,
// or at once when the backend sends a duplicate ACK below it (it lost the header).
inline constexpr nat::TimeMs kProxyResendIdleMs = 200;
// The window a resent header announces. Only a first header may set the backend's view of the
// client's window (it completes the handshake, and carries the client's own value); a resend
// cannot know the current one, and a stack updates its send window from an old segment only to
// grow it (Linux) or when nothing newer came (RFC 793): a modest value, never zero (a zero
// window would stall the backend).
inline constexpr uint16_t kProxyResendWindow = 1024;

enum class ProxySend : uint8_t { kFirst, kResend };

// The handshake is complete and the connection not reset: the states in which a header is owed.
constexpr bool PastHandshake(nat::FlowState s) {
  return s == nat::FlowState::kEstablished || s == nat::FlowState::kFinFromClient ||
         s == nat::FlowState::kFinFromServer || s == nat::FlowState::kClosing;
}

// Where a client's sequence number lands at the backend: `stream_shift` higher, except a SYN's
// (the stream's origin, before the header). 0 shift for flows without a header.
constexpr uint32_t SeqAtBackend(const nat::FlowBinding& b, uint32_t seq, uint8_t tcp_flags) {
  return (tcp_flags & nat::kTcpSyn) != 0 ? seq : seq + b.stream_shift;
}

// Sends `flow`'s header to the backend at the sequence number the backend expects (the start of
// the client's stream: the header is pending), acknowledging what the client acknowledged.
void SendProxyHeader(Worker& w, const BurstContext& ctx, const nat::FlowEntry& flow, ProxySend kind,
                     uint16_t window);

// The shift of a translated packet of `flow` travelling in `dir` (its TCP header at `tcp`):
// `acked_before` is the backend's last acknowledgement before this packet (FlowEntry::RcvNext of
// kOut2In, read before the translation noted the packet's own).
void ShiftStream(Worker& w, const BurstContext& ctx, nat::FlowEntry& flow, nat::FlowDirection dir,
                 const ParsedPacket& p, uint8_t* tcp, uint32_t acked_before);

}  // namespace privlink::dataplane
