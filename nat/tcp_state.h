// TCP connection tracking for one NAT flow, both directions, and the timeout each state gets.
// A UDP flow has one state of its own, kUdp, which no datagram changes: it lives while datagrams
// keep coming and ends after the service's UDP idle timeout (the embryonic one until the backend
// has answered: FlowTimeoutMs in flow_entry.h).
//
// The state machine is a pure function of (state, direction, TCP flags) so that tests, replay and
// the fast path agree exactly. Only SYN, ACK, FIN and RST matter; PSH, URG, ECE and CWR are
// ignored. The fast path asks TcpFlagsMayChangeState() first, so plain data segments never write
// the state. Sequence numbers are not tracked: a NAT only needs to know how long to keep a flow.
//
// The rules (client = kIn2Out, server = kOut2In), first match wins:
//  1. RST in either direction, from any state -> kReset.
//  2. SYN together with FIN is invalid (as in Linux conntrack) and changes nothing.
//  3. A client SYN without ACK -> kSynSent from kSynSent (retransmission), kReset or kClosing
//     (port reuse after the old connection ended); elsewhere it is a stray and changes nothing.
//     A client SYN+ACK changes nothing.
//  4. A server SYN (SYN+ACK, or a bare SYN in a simultaneous open) in kSynSent -> kSynReceived;
//     elsewhere (a retransmitted SYN-ACK) it changes nothing.
//  5. A client ACK in kSynReceived completes the handshake -> kEstablished; any FIN it carries is
//     then applied by rule 6. Nothing from the server establishes the flow, so a handshake that
//     never completes keeps the embryonic timeout.
//  6. FIN in kEstablished -> kFinFromClient / kFinFromServer by its sender; the other side's FIN
//     in those states -> kClosing. A FIN before the handshake completes (kSynSent, kSynReceived
//     without the client's ACK) changes nothing, so junk segments cannot buy a half-open flow the
//     longer transitory timeout.
//  7. Anything else changes nothing.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace privlink::nat {

// kIn2Out: consumer (client) -> provider (backend). kOut2In: the return direction.
enum class FlowDirection : uint8_t { kIn2Out = 0, kOut2In = 1 };

constexpr FlowDirection Opposite(FlowDirection d) {
  return d == FlowDirection::kIn2Out ? FlowDirection::kOut2In : FlowDirection::kIn2Out;
}

enum class FlowState : uint8_t {
  kSynSent = 0,    // client SYN seen                       -> embryonic timeout
  kSynReceived,    // backend SYN-ACK seen, no final ACK yet  -> embryonic timeout
  kEstablished,    // handshake completed                    -> established (idle) timeout
  kFinFromClient,  // client closed its side                 -> transitory timeout
  kFinFromServer,  // backend closed its side                -> transitory timeout
  kClosing,        // both sides sent FIN                    -> transitory timeout
  kReset,          // RST seen in either direction           -> reset timeout
  kUdp,            // a UDP flow (no TCP state)               -> UDP idle timeout (embryonic
                   //                                           until answered)
  kCount,
};

// TCP header flag bits (byte 13 of the header).
inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;

// Per-service timeouts. Defaults follow Azure (4 minute idle timeout) and RFC 5382 (established
// must be allowed to reach 124 minutes); a short embryonic timeout keeps SYN floods from holding
// the table. UDP: 5 minutes, RFC 4787 REQ-5's recommendation (and at least its 2 minutes).
struct FlowTimeouts {
  uint32_t embryonic_ms = 30'000;
  uint32_t established_ms = 240'000;
  uint32_t transitory_ms = 240'000;
  uint32_t reset_ms = 10'000;
  uint32_t udp_ms = 300'000;
  bool operator==(const FlowTimeouts&) const = default;
};
inline constexpr uint32_t kMaxTimeoutMs =
    24u * 3600u * 1000u;  // one day: far past RFC 5382's 124 min

// OK when every timeout is in [1 ms, kMaxTimeoutMs]; the error names the field.
absl::Status ValidateFlowTimeouts(const FlowTimeouts& timeouts);

namespace tcp_state_internal {

inline constexpr size_t kStates = static_cast<size_t>(FlowState::kCount);
// SYN, FIN, RST and ACK packed into 4 bits: the only flags the rules read.
inline constexpr size_t kFlagClasses = 16;
constexpr size_t FlagClass(uint8_t tcp_flags) {
  return (tcp_flags & (kTcpFin | kTcpSyn | kTcpRst)) | ((tcp_flags & kTcpAck) >> 1);
}
constexpr uint8_t FlagsOfClass(size_t flag_class) {
  return static_cast<uint8_t>((flag_class & 0x7) | ((flag_class & 0x8) << 1));
}

// The rules from the top of this file, written for people; the lookups below use a table built
// from this function at compile time.
constexpr FlowState Transition(FlowState state, FlowDirection direction, uint8_t tcp_flags) {
  const bool syn = tcp_flags & kTcpSyn;
  const bool ack = tcp_flags & kTcpAck;
  const bool fin = tcp_flags & kTcpFin;
  const bool from_client = direction == FlowDirection::kIn2Out;
  if (state == FlowState::kUdp) return state;  // not a TCP flow: no segment moves it
  if (tcp_flags & kTcpRst) return FlowState::kReset;
  if (syn && fin) return state;
  if (syn && from_client) {
    const bool opens =
        state == FlowState::kSynSent || state == FlowState::kReset || state == FlowState::kClosing;
    return !ack && opens ? FlowState::kSynSent : state;
  }
  if (syn) return state == FlowState::kSynSent ? FlowState::kSynReceived : state;
  if (from_client && ack && state == FlowState::kSynReceived) state = FlowState::kEstablished;
  if (!fin) return state;
  switch (state) {
    case FlowState::kEstablished:
      return from_client ? FlowState::kFinFromClient : FlowState::kFinFromServer;
    case FlowState::kFinFromClient:
      return from_client ? state : FlowState::kClosing;
    case FlowState::kFinFromServer:
      return from_client ? FlowState::kClosing : state;
    default:
      return state;
  }
}

using TransitionTable = std::array<std::array<std::array<FlowState, kFlagClasses>, 2>, kStates>;
inline constexpr TransitionTable kTransitions = [] {
  TransitionTable table{};
  for (size_t s = 0; s < kStates; ++s) {
    for (size_t d = 0; d < 2; ++d) {
      for (size_t c = 0; c < kFlagClasses; ++c) {
        table[s][d][c] =
            Transition(static_cast<FlowState>(s), static_cast<FlowDirection>(d), FlagsOfClass(c));
      }
    }
  }
  return table;
}();

// Bit c of entry s: a segment of flag class c, in either direction, moves state s elsewhere.
inline constexpr std::array<uint16_t, kStates> kMayChange = [] {
  std::array<uint16_t, kStates> masks{};
  for (size_t s = 0; s < kStates; ++s) {
    for (size_t c = 0; c < kFlagClasses; ++c) {
      const auto state = static_cast<FlowState>(s);
      if (kTransitions[s][0][c] != state || kTransitions[s][1][c] != state) {
        masks[s] = static_cast<uint16_t>(masks[s] | (1u << c));
      }
    }
  }
  return masks;
}();

}  // namespace tcp_state_internal

// The next state after a segment with `tcp_flags` travelling in `direction`. A value outside the
// enum (never produced here) is treated as a reset flow.
constexpr FlowState NextTcpState(FlowState state, FlowDirection direction, uint8_t tcp_flags) {
  namespace internal = tcp_state_internal;
  const auto s = static_cast<size_t>(state);
  if (s >= internal::kStates) return FlowState::kReset;
  return internal::kTransitions[s][static_cast<size_t>(direction) & 1]
                               [internal::FlagClass(tcp_flags)];
}

// Whether NextTcpState can return something other than `state` for these flags, in either
// direction (exact: false only when both directions keep `state`). Lets the fast path skip the
// state machine, and any write to the shared entry, for plain data segments.
constexpr bool TcpFlagsMayChangeState(FlowState state, uint8_t tcp_flags) {
  namespace internal = tcp_state_internal;
  const auto s = static_cast<size_t>(state);
  if (s >= internal::kStates) return true;
  return (internal::kMayChange[s] >> internal::FlagClass(tcp_flags)) & 1u;
}

// Whether a RST may end its flow (RFC 5961 section 3, applied as Linux conntrack applies it).
// A middlebox sees what each end acknowledged, not its window, so it holds a RST to the one
// number an RFC 5961 end acts on: its next expected sequence number.
enum class RstVerdict : uint8_t {
  kEnds,         // exactly what the receiver expects next: the connection ends (kReset)
  kChallenge,    // ahead of it, perhaps in the window: forwarded but ending nothing; an RFC 5961
                 // receiver answers with a challenge ACK and the exact RST that follows ends it
  kOutOfWindow,  // behind it: no receiver accepts it; dropped (tcp_rst_out_of_window)
};

// A RST travelling in `dir`, with the flow's view of both ends (host order).
struct RstCheck {
  FlowState state = FlowState::kSynSent;
  FlowDirection dir = FlowDirection::kIn2Out;
  uint32_t receiver_next = 0;  // what the RST's receiver acknowledged last (or will first)
  uint32_t sender_next = 0;    // the same for its sender
  uint32_t seq = 0;
  uint32_t ack = 0;
  bool has_ack = false;
};

constexpr RstVerdict JudgeRst(const RstCheck& rst) {
  if (rst.state == FlowState::kSynSent && rst.dir == FlowDirection::kOut2In) {
    // The client is in SYN-SENT and has acknowledged nothing: a RST is acceptable only if it
    // acknowledges the client's SYN (RFC 9293 3.10.7.3), which the backend will acknowledge
    // first: its own next expected number.
    return rst.has_ack && rst.ack == rst.sender_next ? RstVerdict::kEnds : RstVerdict::kOutOfWindow;
  }
  const auto ahead = static_cast<int32_t>(rst.seq - rst.receiver_next);
  if (ahead == 0) return RstVerdict::kEnds;
  return ahead > 0 ? RstVerdict::kChallenge : RstVerdict::kOutOfWindow;
}

constexpr uint32_t FlowStateTimeoutMs(FlowState state, const FlowTimeouts& timeouts) {
  switch (state) {
    case FlowState::kSynSent:
    case FlowState::kSynReceived:
      return timeouts.embryonic_ms;
    case FlowState::kEstablished:
      return timeouts.established_ms;
    case FlowState::kFinFromClient:
    case FlowState::kFinFromServer:
    case FlowState::kClosing:
      return timeouts.transitory_ms;
    case FlowState::kUdp:
      return timeouts.udp_ms;
    default:
      return timeouts.reset_ms;
  }
}

// "SYN_SENT", "ESTABLISHED", ... (bounded set; used as metric label values).
const char* FlowStateName(FlowState state);

}  // namespace privlink::nat
