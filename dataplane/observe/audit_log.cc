#include "dataplane/observe/audit_log.h"

#include <rte_errno.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "control/model/utc_time.h"
#include "nat/inet.h"

namespace privlink::dataplane {
namespace {

using nat::FlowDirection;

std::string Tuple(Ipv4Be ip, PortBe port) {
  return absl::StrCat(FormatIpv4(ip), ":", Be16ToHost(port));
}

// A name as a logfmt value: bare, or "-" when unknown (names are DNS-like, no spaces).
std::string NameOr(const std::string* name) {
  return name != nullptr && !name->empty() ? *name : "-";
}

}  // namespace

const char* FlowEndReasonName(FlowEndReason reason) {
  switch (reason) {
    case FlowEndReason::kFin:
      return "fin";
    case FlowEndReason::kRst:
      return "rst";
    case FlowEndReason::kIdleTimeout:
      return "idle_timeout";
    case FlowEndReason::kIdleReset:
      return "idle_reset";
    case FlowEndReason::kTeardown:
      return "teardown";
    case FlowEndReason::kBackendDown:
      return "backend_down";
    default:
      return "-";
  }
}

std::string FormatAuditRecord(const AuditRecord& r, const control::Snapshot& snap,
                              uint64_t wall_time_ms) {
  const std::string* endpoint = snap.endpoint_names.Find(r.endpoint_id);
  const control::SnapshotService* service = snap.Service(r.service_id);
  auto network = snap.networks.find(r.fwd.network);
  std::string line = absl::StrCat(
      "time=", control::FormatUtcMs(static_cast<int64_t>(wall_time_ms)),
      " event=", r.event == AuditEvent::kStart ? "start" : "end", " endpoint=", NameOr(endpoint),
      " service=", NameOr(service != nullptr ? &service->name : nullptr),
      " network=", NameOr(network != snap.networks.end() ? &network->second.name : nullptr),
      " protocol=", r.fwd.proto == nat::kIpProtoUdp ? "udp" : "tcp",
      " client=", Tuple(r.fwd.tuple.src_ip, r.fwd.tuple.src_port),
      " endpoint_address=", Tuple(r.fwd.tuple.dst_ip, r.fwd.tuple.dst_port),
      " nat=", Tuple(r.rev.tuple.dst_ip, r.rev.tuple.dst_port),
      " backend=", Tuple(r.rev.tuple.src_ip, r.rev.tuple.src_port));
  if (r.event == AuditEvent::kEnd) {
    constexpr auto kOut = static_cast<size_t>(FlowDirection::kIn2Out);
    constexpr auto kIn = static_cast<size_t>(FlowDirection::kOut2In);
    absl::StrAppend(&line, " bytes_out=", r.bytes[kOut], " bytes_in=", r.bytes[kIn],
                    " packets_out=", r.packets[kOut], " packets_in=", r.packets[kIn],
                    absl::StrFormat(" duration_s=%.3f", r.duration_ms / 1000.0),
                    " reason=", FlowEndReasonName(r.reason));
  }
  return line;
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Create(const std::string& path,
                                                           const std::string& name,
                                                           uint32_t workers, int socket) {
  std::unique_ptr<AuditLog> log(new AuditLog());
  log->file_ = std::fopen(path.c_str(), "a");
  if (log->file_ == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("audit log ", path, ": ", std::strerror(errno)));
  }
  for (uint32_t w = 0; w < workers; ++w) {
    rte_ring* ring = rte_ring_create_elem(absl::StrCat(name, "_", w).c_str(), sizeof(AuditRecord),
                                          kAuditRingSize, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (ring == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot create the audit log's rings: ", rte_strerror(rte_errno)));
    }
    log->rings_.push_back(ring);
  }
  return log;
}

AuditLog::~AuditLog() {
  for (rte_ring* r : rings_) rte_ring_free(r);
  if (file_ != nullptr) std::fclose(file_);
}

uint32_t AuditLog::Drain(const control::Snapshot& snap) {
  AuditRecord records[kAuditDrainBurst];
  uint32_t total = 0;
  const auto now = static_cast<uint64_t>(control::UnixNowMs());
  for (rte_ring* ring : rings_) {
    const unsigned n = rte_ring_sc_dequeue_burst_elem(ring, records, sizeof(AuditRecord),
                                                      kAuditDrainBurst, nullptr);
    for (unsigned i = 0; i < n; ++i) {
      const std::string line = FormatAuditRecord(records[i], snap, now);
      std::fprintf(file_, "%s\n", line.c_str());
    }
    total += n;
  }
  if (total != 0) std::fflush(file_);
  written_.Add(total);
  return total;
}

}  // namespace privlink::dataplane
