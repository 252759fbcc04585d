#include "control/plane/backend_health_board.h"

#include <algorithm>

namespace privlink::control {

bool BackendHealthBoard::Record(const ProbeReport& report, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (report.generation < pruned_generation_) return false;
  BackendHealthStatus& s = entries_[{report.service, report.backend}];
  s.backend = report.backend;
  const bool changed = s.up != report.up;
  s.up = report.up;
  if (changed) s.since_ms = now_ms;
  s.last_result = report.result;
  s.last_probe_ms = now_ms;
  ++(report.passed ? s.probes_passed : s.probes_failed);
  return changed;
}

std::vector<BackendHealthStatus> BackendHealthBoard::Service(ServiceId service) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<BackendHealthStatus> out;
  for (auto it = entries_.lower_bound({service, 0});
       it != entries_.end() && it->first.first == service; ++it) {
    out.push_back(it->second);
  }
  return out;
}

std::vector<std::pair<ServiceId, BackendHealthStatus>> BackendHealthBoard::All() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::pair<ServiceId, BackendHealthStatus>> out;
  for (const auto& [key, status] : entries_) out.emplace_back(key.first, status);
  return out;
}

void BackendHealthBoard::Prune(const Snapshot& snapshot) {
  std::lock_guard<std::mutex> lock(mutex_);
  pruned_generation_ = snapshot.generation;
  absl::erase_if(entries_, [&](const auto& entry) {
    return !IsProbedBackend(snapshot, entry.first.first, entry.first.second);
  });
}

bool IsProbedBackend(const Snapshot& snapshot, ServiceId id, Ipv4Be backend) {
  const SnapshotService* service = snapshot.Service(id);
  if (service == nullptr || !service->probe) return false;
  return std::any_of(service->backends.begin(), service->backends.end(),
                     [&](const SnapshotBackend& b) { return b.ip == backend; });
}

}  // namespace privlink::control
