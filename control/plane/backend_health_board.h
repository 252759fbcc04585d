// What the control plane knows of its backends' health: the last probe result of every probed
// backend, for the API (backendHealth), privlinkctl and /metrics. Written by the dataplane's
// control thread (one report per probe), read by API threads; a mutex of its own, so reading it
// never waits for a configuration change.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "control/snapshot/backend_health.h"
#include "control/snapshot/snapshot.h"

namespace privlink::control {

struct BackendHealthStatus {
  Ipv4Be backend = 0;
  bool up = true;
  std::string last_result;     // ProbeReport::result
  int64_t last_probe_ms = 0;   // Unix time
  int64_t since_ms = 0;        // Unix time of the last change between up and down (0: never)
  uint64_t probes_passed = 0;  // since the daemon started
  uint64_t probes_failed = 0;
};

class BackendHealthBoard {
 public:
  // Records `report` at Unix time `now_ms`; returns whether the backend went up or down. A report
  // made from a snapshot older than the last Prune is dropped (it may name what that snapshot no
  // longer probes); the prober's next report, from the newer snapshot, carries the same health.
  bool Record(const ProbeReport& report, int64_t now_ms);
  // The probed backends of a service, by address.
  std::vector<BackendHealthStatus> Service(ServiceId service) const;
  // Every entry, by (service, backend).
  std::vector<std::pair<ServiceId, BackendHealthStatus>> All() const;
  // Forgets what `snapshot` no longer probes: services gone or without a probe, backends removed.
  void Prune(const Snapshot& snapshot);

 private:
  mutable std::mutex mutex_;
  absl::btree_map<std::pair<ServiceId, Ipv4Be>, BackendHealthStatus> entries_;
  uint64_t pruned_generation_ = 0;
};

// Whether `snapshot` probes `backend` of service `id`.
bool IsProbedBackend(const Snapshot& snapshot, ServiceId id, Ipv4Be backend);

}  // namespace privlink::control
