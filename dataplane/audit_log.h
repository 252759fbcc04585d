// The connection audit log (privlinkd --audit-log FILE, off by default): one line per flow
// created and per flow ended, with its endpoint, both tuples, backend, bytes and end reason.
//
// Workers never block on it: each pushes fixed-size records into its own single-producer ring
// (a flow is created on the slow path and ended by the expiry sweep, never per forwarded
// packet); a full ring loses the record and counts it. The control thread drains the rings,
// names endpoints and services from its snapshot and writes the lines.
#pragma once

#include <rte_ring.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "control/snapshot.h"
#include "dataplane/counters.h"
#include "nat/flow_entry.h"

namespace privlink::dataplane {

// Records one worker may have waiting: at the control thread's 200 us pace this absorbs a burst
// of ~40 million new connections per second; 4096 x 80 bytes = 320 KiB per worker.
inline constexpr unsigned kAuditRingSize = 4096;
// Records the control thread writes per ring per round.
inline constexpr unsigned kAuditDrainBurst = 512;

enum class AuditEvent : uint8_t { kStart, kEnd };
enum class FlowEndReason : uint8_t { kNone, kFin, kRst, kIdleTimeout, kTeardown };

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
// a FIN, or else the idle timeout.
FlowEndReason EndReasonOf(const nat::FlowEntry& e, const control::Snapshot& snap);
AuditRecord MakeAuditRecord(const nat::FlowEntry& e, AuditEvent event, FlowEndReason reason,
                            nat::TimeMs32 now);
const char* FlowEndReasonName(FlowEndReason reason);

class AuditLog {
 public:
  // Opens `path` for appending and makes one ring per worker (named after `name`).
  static absl::StatusOr<std::unique_ptr<AuditLog>> Create(const std::string& path,
                                                          const std::string& name, uint32_t workers,
                                                          int socket);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  rte_ring* ring(uint32_t worker) const { return rings_[worker]; }
  // Writes what the rings hold (control thread); returns records written.
  uint32_t Drain(const control::Snapshot& snap);
  uint64_t written() const { return written_.Read(); }

 private:
  AuditLog() = default;
  FILE* file_ = nullptr;
  std::vector<rte_ring*> rings_;
  Counter written_;  // control thread writes, the stats reader reads
};

// The line a record becomes (no trailing newline): logfmt key=value pairs.
std::string FormatAuditRecord(const AuditRecord& r, const control::Snapshot& snap,
                              uint64_t wall_time_ms);

}  // namespace privlink::dataplane
