#include "dataplane/worker/audit_record.h"

namespace privlink::dataplane {

using nat::FlowDirection;

FlowEndReason EndReasonOf(const nat::FlowEntry& e, const control::Snapshot& snap) {
  if (!snap.Endpoint(e.binding.endpoint_id).carries_traffic) return FlowEndReason::kTeardown;
  switch (e.state()) {
    case nat::FlowState::kReset:
      return FlowEndReason::kRst;
    case nat::FlowState::kFinFromClient:
    case nat::FlowState::kFinFromServer:
    case nat::FlowState::kClosing:
      return FlowEndReason::kFin;
    default:
      return FlowEndReason::kIdleTimeout;
  }
}

AuditRecord MakeAuditRecord(const nat::FlowEntry& e, AuditEvent event, FlowEndReason reason,
                            nat::TimeMs32 now) {
  AuditRecord r;
  r.fwd = e.binding.fwd;
  r.rev = e.binding.rev;
  r.endpoint_id = e.binding.endpoint_id;
  r.service_id = e.binding.service_id;
  r.event = event;
  r.reason = reason;
  if (event == AuditEvent::kEnd) {
    r.duration_ms = e.AgeMs(now);
    for (const FlowDirection d : {FlowDirection::kIn2Out, FlowDirection::kOut2In}) {
      r.bytes[static_cast<size_t>(d)] = e.counter(d).bytes.load(std::memory_order_relaxed);
      r.packets[static_cast<size_t>(d)] = e.counter(d).packets.load(std::memory_order_relaxed);
    }
  }
  return r;
}

}  // namespace privlink::dataplane
