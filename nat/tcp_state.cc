#include "nat/tcp_state.h"

#include "absl/strings/str_format.h"

namespace privlink::nat {

absl::Status ValidateFlowTimeouts(const FlowTimeouts& timeouts) {
  const struct {
    const char* name;
    uint32_t value_ms;
  } fields[] = {
      {"embryonic_ms", timeouts.embryonic_ms},
      {"established_ms", timeouts.established_ms},
      {"transitory_ms", timeouts.transitory_ms},
      {"reset_ms", timeouts.reset_ms},
      {"udp_ms", timeouts.udp_ms},
  };
  for (const auto& field : fields) {
    if (field.value_ms < 1 || field.value_ms > kMaxTimeoutMs) {
      return absl::InvalidArgumentError(
          absl::StrFormat("flow timeout %s must be in [1, %u] ms, got %u", field.name,
                          kMaxTimeoutMs, field.value_ms));
    }
  }
  return absl::OkStatus();
}

const char* FlowStateName(FlowState state) {
  switch (state) {
    case FlowState::kSynSent:
      return "SYN_SENT";
    case FlowState::kSynReceived:
      return "SYN_RECEIVED";
    case FlowState::kEstablished:
      return "ESTABLISHED";
    case FlowState::kFinFromClient:
      return "FIN_FROM_CLIENT";
    case FlowState::kFinFromServer:
      return "FIN_FROM_SERVER";
    case FlowState::kClosing:
      return "CLOSING";
    case FlowState::kReset:
      return "RESET";
    case FlowState::kUdp:
      return "UDP";
    case FlowState::kCount:
      break;
  }
  return "INVALID";
}

}  // namespace privlink::nat
