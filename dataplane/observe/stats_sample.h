// One reading of every dataplane counter, summed over the workers and the control thread and
// named from the current snapshot: what GET /v1/stats, GET /metrics and DPDK telemetry report.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <span>

#include <nlohmann/json.hpp>

#include "control/model/ids.h"
#include "control/snapshot/snapshot.h"
#include "dataplane/observe/audit_log.h"
#include "dataplane/worker/counters.h"
#include "dataplane/worker/worker.h"

namespace privlink::dataplane {

struct TrafficTotals {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  void Add(const TrafficCounters& t) {
    packets += t.packets.Read();
    bytes += t.bytes.Read();
  }
};

struct PortSample {
  std::string name;
  PortRole role = PortRole::kConsumer;
  MacAddress mac{};
  TrafficTotals rx, tx;
};

struct EndpointSample {
  control::EndpointId id = 0;
  std::string name;
  std::optional<std::string> service;
  bool carries_traffic = false;
  TrafficTotals out;         // sent by the consumer (towards the service)
  TrafficTotals in;          // delivered to the consumer
  uint64_t connections = 0;  // flows created
};

struct NatIpSample {
  Ipv4Be ip = 0;
  bool draining = false;
  uint64_t in_use = 0;  // ports in use: one per flow through this NAT IP
  // Ports this NAT IP offers the service: the NAT port range (every worker's share) once per
  // backend, as each backend has a port space of its own.
  uint64_t capacity = 0;
};

struct ServiceSample {
  control::ServiceId id = 0;
  std::string name;
  TrafficTotals in;   // from consumers
  TrafficTotals out;  // to consumers
  std::vector<NatIpSample> nat_ips;
  uint64_t nat_port_alloc_failures = 0;
};

struct WorkerSample {
  uint64_t loop_cycles = 0;
  uint64_t busy_cycles = 0;
  uint64_t foreign_packets = 0;  // CounterSet::foreign_packets
  uint64_t foreign_icmp_errors = 0;
};

struct DataplaneSample {
  std::vector<PortSample> ports;
  std::array<uint64_t, kDropReasonCount> drops{};
  uint64_t drops_total = 0;
  uint64_t flows_total = 0;
  uint64_t flows_capacity = 0;
  uint64_t flows_created = 0;
  uint64_t flows_expired = 0;
  uint64_t flows_idle_reset = 0;
  uint64_t flows_backend_down_reset = 0;
  uint64_t probe_answers = 0;        // health probe segments workers passed to the control thread
  uint64_t probe_segments_sent = 0;  // by the health prober
  uint64_t proxy_headers_sent = 0;   // PROXY protocol headers, at handshakes
  uint64_t proxy_headers_resent = 0;
  uint64_t icmp_to_backend = 0;  // ICMP errors about flows, translated (counters.h)
  uint64_t icmp_to_client = 0;
  std::array<uint64_t, kFlowStateCount> flows_by_state{};
  std::vector<WorkerSample> workers;
  bool rss_port_choice = false;  // DataplaneShared::rss_port_choice
  // The connection audit log (privlinkd --audit-log): lines written, records lost to full rings.
  bool audit_log = false;
  uint64_t audit_written = 0;
  uint64_t audit_lost = 0;
  // Endpoints and services need the snapshot: false before the dataplane has its readers.
  bool named = false;
  std::vector<EndpointSample> endpoints;
  std::vector<ServiceSample> services;
};

// What a sample reads: the ports, every counter set (workers' and the control thread's), the
// workers (loop cycles, NAT port slices, lost audit records), the flow table, the audit log, and
// the snapshot that names endpoints and services (nullptr: unnamed totals only). The caller
// keeps the snapshot valid while TakeSample runs.
struct SampleInputs {
  std::span<const PortInfo> ports;
  std::span<const CounterSet* const> counter_sets;
  std::span<const Worker* const> workers;
  const nat::FlowTable* flows = nullptr;
  const AuditLog* audit = nullptr;
  const control::Snapshot* snapshot = nullptr;
};

DataplaneSample TakeSample(const SampleInputs& in);
// GET /v1/stats's "dataplane" object.
nlohmann::json StatsJson(const DataplaneSample& sample);

}  // namespace privlink::dataplane
