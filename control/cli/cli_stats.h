// privlinkctl stats: GET /v1/stats as tables an operator reads at a glance.
#pragma once

#include <ostream>

#include <nlohmann/json.hpp>

namespace privlink::control {

// Control counts as key/value lines; then, when a dataplane reports, tables of ports, endpoints,
// services and NAT IPs, the flow counts, and the drop reasons with a non-zero count.
void PrintStats(const nlohmann::json& stats, std::ostream& out);

}  // namespace privlink::control
