// GET /metrics: Prometheus text exposition built with prometheus-cpp. Every scrape makes a fresh
// Registry and fills it with values read at that moment (the daemon's counters are its own
// single-writer counters, not prometheus-cpp objects, so nothing is updated on the packet path).
// Counters stay monotonic because the values they are read from only grow.
//
// Naming (https://prometheus.io/docs/practices/naming/): a privlink_ prefix, base units (bytes,
// cycles), counters end in _total, and label values come from bounded sets (configured resources,
// ports, drop reasons, TCP states, workers).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "control/api/request_latency.h"
#include "control/api/stats_source.h"
#include "control/plane/control_plane.h"

namespace privlink::control {

inline constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

prometheus::Family<prometheus::Counter>& CounterFamily(prometheus::Registry& registry,
                                                       std::string_view name,
                                                       std::string_view help);
prometheus::Family<prometheus::Gauge>& GaugeFamily(prometheus::Registry& registry,
                                                   std::string_view name, std::string_view help);

// A sample of a counter read elsewhere: its value as of now.
void AddCounter(prometheus::Family<prometheus::Counter>& family, const prometheus::Labels& labels,
                uint64_t value);
void AddGauge(prometheus::Family<prometheus::Gauge>& family, const prometheus::Labels& labels,
              double value);

// The control plane's metrics (resources, connections by status, changes, snapshot generation),
// then `dataplane`'s (may be null: control-only mode), in the text format.
std::string RenderMetrics(const ControlPlane& control, const StatsSource* dataplane,
                          const RequestLatency* api_latency = nullptr);

}  // namespace privlink::control
