// TCP connection tracking for one NAT flow, both directions, and the timeout each state gets.
//
// The state machine is a pure function of (state, direction, TCP flags) so that tests, replay and
// the fast path agree exactly. The fast path calls it only for packets carrying SYN, FIN or RST,
// or an ACK while the handshake is incomplete; plain data segments never write the state.
#pragma once

#include <cstdint>

#include "absl/status/status.h"

namespace privlink::nat {

// kIn2Out: consumer (client) -> provider (backend). kOut2In: the return direction.
enum class FlowDirection : uint8_t { kIn2Out = 0, kOut2In = 1 };

enum class TcpState : uint8_t {
  kSynSent = 0,      // client SYN seen                       -> embryonic timeout
  kSynReceived,      // backend SYN-ACK seen, no final ACK yet  -> embryonic timeout
  kEstablished,      // handshake completed                    -> established (idle) timeout
  kFinFromClient,    // client closed its side                 -> transitory timeout
  kFinFromServer,    // backend closed its side                -> transitory timeout
  kClosing,          // both sides sent FIN                    -> transitory timeout
  kReset,            // RST seen in either direction           -> reset timeout
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
// the table.
struct TcpTimeouts {
  uint32_t embryonic_ms = 30'000;
  uint32_t established_ms = 240'000;
  uint32_t transitory_ms = 240'000;
  uint32_t reset_ms = 10'000;
};
inline constexpr uint32_t kMaxTimeoutMs = 24u * 3600u * 1000u;  // one day: far past RFC 5382's 124 min

// OK when every timeout is in [1 ms, kMaxTimeoutMs]; the error names the field.
absl::Status ValidateTcpTimeouts(const TcpTimeouts& timeouts);

// The next state after a segment with `tcp_flags` travelling in `direction`.
TcpState NextTcpState(TcpState state, FlowDirection direction, uint8_t tcp_flags);

// Whether NextTcpState can return something other than `state` for these flags; lets the fast
// path skip the state machine (and any write to the shared entry) for plain data segments.
bool TcpFlagsMayChangeState(TcpState state, uint8_t tcp_flags);

uint32_t TcpStateTimeoutMs(TcpState state, const TcpTimeouts& timeouts);

// "SYN_SENT", "ESTABLISHED", ... (bounded set; used as metric label values).
const char* TcpStateName(TcpState state);

}  // namespace privlink::nat
