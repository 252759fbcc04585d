// What a worker writes to the connection audit log (dataplane/observe/audit_log.h): one
// fixed-size record per flow created and per flow ended, pushed into the worker's own
// single-producer ring. The writer that drains the rings lives in observe/.
#pragma once

#include <cstdint>

#include "control/snapshot/snapshot.h"
#include "nat/clock.h"
#include "nat/flow_entry.h"

namespace privlink::dataplane {

// Records one worker may have waiting: at the control thread's 200 us pace this absorbs a burst
// of ~40 million new connections per second; 4096 x 80 bytes = 320 KiB per worker.
inline constexpr unsigned kAuditRingSize = 4096;
// Records the control thread writes per ring per round.
inline constexpr unsigned kAuditDrainBurst = 512;

enum class AuditEvent : uint8_t { kStart, kEnd };
enum class FlowEndReason : uint8_t {
  kNone,
  kFin,
  kRst,
  kIdleTimeout,
  kTeardown,
  kIdleReset,
  kBackendDown,
};

struct AuditRecord {
  nat::FlowKey fwd;        // client -> private endpoint
  nat::FlowKey rev;        // backend -> NAT ip:port
  uint64_t bytes[2] = {};  // indexed by nat::FlowDirection
  uint64_t packets[2] = {};
  uint32_t endpoint_id = 0;
  uint32_t duration_ms = 0;  // kEnd only (256 ms resolution, see FlowEntry::AgeMs)
  uint16_t service_id = 0;
  AuditEvent event = AuditEvent::kStart;
  FlowEndReason reason = FlowEndReason::kNone;
  uint32_t pad = 0;
};
static_assert(sizeof(AuditRecord) % 4 == 0, "rte_ring elements are multiples of 4 bytes");

// Why a flow that expires now ended: its endpoint stopped carrying traffic (teardown), a reset,
// a FIN, or else the idle timeout (kIdleReset: the sweep reset it, see ResetIdleFlow).
FlowEndReason EndReasonOf(const nat::FlowEntry& e, const control::Snapshot& snap);
AuditRecord MakeAuditRecord(const nat::FlowEntry& e, AuditEvent event, FlowEndReason reason,
                            nat::TimeMs32 now);
}  // namespace privlink::dataplane
