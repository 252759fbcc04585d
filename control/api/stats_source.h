// What GET /v1/stats and GET /metrics report beyond the control plane's own counts. The dataplane
// implements it and privlinkd's main wires it in; without a dataplane the API reports control
// counts only.
#pragma once

#include <nlohmann/json.hpp>

namespace prometheus {
class Registry;
}

namespace privlink::control {

class StatsSource {
 public:
  virtual ~StatsSource() = default;
  // Both are called on an API thread: they must read the dataplane's counters without stopping
  // workers.
  // A JSON object, placed under "dataplane" in the response.
  virtual nlohmann::json Stats() const = 0;
  // Adds the dataplane's metric families (control/metrics.h builds them), filled with the values
  // read now, to a registry made for one scrape.
  virtual void CollectMetrics(prometheus::Registry& registry) const = 0;
};

}  // namespace privlink::control
