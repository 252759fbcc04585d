#include "control/api/backend_health_json.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <vector>

#include "control/config/json_codec.h"

namespace privlink::control {
namespace {

using nlohmann::json;

// "2026-12-07T13:45:00.123Z"
std::string FormatUnixMs(int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[40];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return text;
}

}  // namespace

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
      entry["lastProbeTime"] = FormatUnixMs(it->last_probe_ms);
      if (it->since_ms != 0) entry["since"] = FormatUnixMs(it->since_ms);
      entry["probesPassed"] = it->probes_passed;
      entry["probesFailed"] = it->probes_failed;
    }
    health.push_back(std::move(entry));
  }
  out["backendHealth"] = std::move(health);
  return out;
}

}  // namespace privlink::control
