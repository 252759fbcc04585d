// The API's view of a service: its resource fields and, when it has a probe, the read-only
// backendHealth the control plane's health board holds.
#pragma once

#include <nlohmann/json.hpp>

#include "control/model/model.h"
#include "control/plane/control_plane.h"

namespace privlink::control {

// EncodeService(s) plus "backendHealth": [{ip, health "Up"|"Down", lastResult, lastProbeTime,
// since, probesPassed, probesFailed}] in the order of s.backends (a backend not probed yet: Up,
// lastResult null).
nlohmann::json EncodeServiceWithHealth(const ControlPlane& control, const PrivateLinkService& s);

}  // namespace privlink::control
