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
#include "control/snapshot/snapshot.h"
#include "dataplane/worker/audit_record.h"
#include "dataplane/worker/counters.h"
#include "nat/flow_entry.h"

namespace privlink::dataplane {

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
