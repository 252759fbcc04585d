#include "control/api/backend_health_json.h"

#include <algorithm>
#include <vector>

#include "control/config/json_codec.h"
#include "control/model/utc_time.h"

namespace privlink::control {

using nlohmann::json;

// A service with its read-only backendHealth: each backend's health by its probe (absent without
// a probe). A backend not probed yet counts as up.
json EncodeServiceWithHealth(const ControlPlane& control, const PrivateLinkService& s) {
  json out = EncodeService(s);
  if (!s.probe) return out;
  const std::vector<BackendHealthStatus> known = control.health().Service(s.id);
  json health = json::array();
  for (const Backend& b : s.backends) {
    auto it = std::find_if(known.begin(), known.end(),
                           [&](const BackendHealthStatus& h) { return h.backend == b.ip; });
    json entry = {{"ip", FormatIpv4(b.ip)}};
    if (it == known.end()) {
      entry["health"] = "Up";
      entry["lastResult"] = nullptr;
    } else {
      entry["health"] = it->up ? "Up" : "Down";
      entry["lastResult"] = it->last_result;
      entry["lastProbeTime"] = FormatUtcMs(it->last_probe_ms);
      if (it->since_ms != 0) entry["since"] = FormatUtcMs(it->since_ms);
      entry["probesPassed"] = it->probes_passed;
      entry["probesFailed"] = it->probes_failed;
    }
    health.push_back(std::move(entry));
  }
  out["backendHealth"] = std::move(health);
  return out;
}

}  // namespace privlink::control
