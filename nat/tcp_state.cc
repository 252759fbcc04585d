#include "nat/tcp_state.h"

#include "absl/strings/str_format.h"

namespace privlink::nat {

absl::Status ValidateTcpTimeouts(const TcpTimeouts& timeouts) {
  const struct {
    const char* name;
    uint32_t value_ms;
  } fields[] = {
      {"embryonic_ms", timeouts.embryonic_ms},
      {"established_ms", timeouts.established_ms},
      {"transitory_ms", timeouts.transitory_ms},
      {"reset_ms", timeouts.reset_ms},
  };
  for (const auto& field : fields) {
    if (field.value_ms < 1 || field.value_ms > kMaxTimeoutMs) {
      return absl::InvalidArgumentError(
          absl::StrFormat("tcp timeout %s must be in [1, %u] ms, got %u", field.name, kMaxTimeoutMs,
                          field.value_ms));
    }
  }
  return absl::OkStatus();
}

const char* TcpStateName(TcpState state) {
  switch (state) {
    case TcpState::kSynSent:
      return "SYN_SENT";
    case TcpState::kSynReceived:
      return "SYN_RECEIVED";
    case TcpState::kEstablished:
      return "ESTABLISHED";
    case TcpState::kFinFromClient:
      return "FIN_FROM_CLIENT";
    case TcpState::kFinFromServer:
      return "FIN_FROM_SERVER";
    case TcpState::kClosing:
      return "CLOSING";
    case TcpState::kReset:
      return "RESET";
    case TcpState::kCount:
      break;
  }
  return "INVALID";
}

}  // namespace privlink::nat
