// What GET /v1/stats reports beyond the control plane's own counts. The dataplane implements it
// later and privlinkd's main wires it in; without a dataplane the API reports control counts only.
#pragma once

#include <nlohmann/json.hpp>

namespace privlink::control {

class StatsSource {
 public:
  virtual ~StatsSource() = default;
  // A JSON object, placed under "dataplane" in the response. Called on an API thread: it must
  // read the dataplane's counters without stopping workers.
  virtual nlohmann::json Stats() const = 0;
};

}  // namespace privlink::control
