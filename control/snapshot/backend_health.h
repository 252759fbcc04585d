// Backend health between the health prober (dataplane/probe/) and the control plane: the prober
// reports each probe's result through HealthReports; the control plane keeps which backends are
// down (BackendDownSet) and compiles it into the snapshot, where a down backend has no Maglev
// slots. Health is runtime state: never persisted, every backend starts healthy.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "control/model/ids.h"
#include "nat/inet.h"

namespace privlink::control {

// One probe's outcome and the backend's health after it (the prober applies the thresholds).
struct ProbeReport {
  ServiceId service = kNoService;
  Ipv4Be backend = 0;
  bool passed = false;
  bool up = true;           // health after this result
  std::string result;       // "ok", "timeout", "refused", "http 503", ...: shown as lastResult
  uint64_t generation = 0;  // of the snapshot the prober took the backend from
};

class HealthReports {
 public:
  virtual ~HealthReports() = default;
  // Called by the dataplane's control thread, one call per probe.
  virtual void Report(const ProbeReport& report) = 0;
};

// (service, backend) pairs whose probe says down.
class BackendDownSet {
 public:
  bool IsDown(ServiceId service, Ipv4Be backend) const {
    return down_.contains(std::pair{service, backend});
  }
  // Whether the set changed.
  bool Set(ServiceId service, Ipv4Be backend, bool down) {
    return down ? down_.insert({service, backend}).second : down_.erase({service, backend}) != 0;
  }
  template <typename Keep>
  void EraseIf(Keep&& erase) {
    absl::erase_if(down_,
                   [&](const std::pair<ServiceId, Ipv4Be>& e) { return erase(e.first, e.second); });
  }
  bool empty() const { return down_.empty(); }

 private:
  absl::flat_hash_set<std::pair<ServiceId, Ipv4Be>> down_;
};

}  // namespace privlink::control
