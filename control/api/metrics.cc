#include "control/api/metrics.h"

#include <sstream>

#include <prometheus/text_serializer.h>

#include "absl/container/flat_hash_map.h"
#include "control/model/str_cat.h"

namespace privlink::control {
namespace {

// Every probed backend the health board knows (a backend appears after its first probe).
void AddHealthMetrics(prometheus::Registry& registry, const ControlPlane& control,
                      const Model& model) {
  const auto entries = control.health().All();
  if (entries.empty()) return;
  absl::flat_hash_map<ServiceId, std::string> names;
  for (const auto& [name, service] : model.services) names[service.id] = name;
  auto& up = GaugeFamily(registry, "privlink_backend_up",
                         "1 while the backend's health probe says it is up, 0 while down.");
  auto& probes = CounterFamily(registry, "privlink_backend_probes_total",
                               "Health probes of a backend by result (pass, fail).");
  for (const auto& [id, status] : entries) {
    auto name = names.find(id);
    if (name == names.end()) continue;  // deleted since the board last heard of it
    const prometheus::Labels labels{{"service", name->second},
                                    {"backend", FormatIpv4(status.backend)}};
    AddGauge(up, labels, status.up ? 1 : 0);
    prometheus::Labels pass = labels;
    pass["result"] = "pass";
    AddCounter(probes, pass, status.probes_passed);
    prometheus::Labels fail = labels;
    fail["result"] = "fail";
    AddCounter(probes, fail, status.probes_failed);
  }
}

void AddControlMetrics(prometheus::Registry& registry, const ControlPlane& control) {
  const std::shared_ptr<const Model> model = control.model();
  auto& resources = GaugeFamily(registry, "privlink_resources", "Configured resources by kind.");
  AddGauge(resources, {{"kind", "network"}}, static_cast<double>(model->networks.size()));
  AddGauge(resources, {{"kind", "private_link_service"}},
           static_cast<double>(model->services.size()));
  AddGauge(resources, {{"kind", "private_endpoint"}}, static_cast<double>(model->endpoints.size()));

  auto& connections =
      GaugeFamily(registry, "privlink_connections", "Private endpoint connections by status.");
  for (const ConnectionStatus status :
       {ConnectionStatus::kPending, ConnectionStatus::kApproved, ConnectionStatus::kRejected,
        ConnectionStatus::kDisconnected}) {
    size_t n = 0;
    for (const auto& [name, service] : model->services) {
      for (const auto& [pe, connection] : service.connections) n += connection.status == status;
    }
    AddGauge(connections, {{"status", AsciiLower(ConnectionStatusName(status))}},
             static_cast<double>(n));
  }

  const ControlCounters counters = control.counters();
  auto& changes = CounterFamily(registry, "privlink_config_changes_total",
                                "Configuration changes (API requests, applies) by result.");
  AddCounter(changes, {{"result", "accepted"}}, counters.changes_accepted);
  AddCounter(changes, {{"result", "rejected"}}, counters.changes_rejected);
  AddGauge(GaugeFamily(registry, "privlink_snapshot_generation",
                       "Generation of the last snapshot published to the dataplane."),
           {}, static_cast<double>(counters.snapshot_generation));
  AddHealthMetrics(registry, control, *model);
}

}  // namespace

prometheus::Family<prometheus::Counter>& CounterFamily(prometheus::Registry& registry,
                                                       std::string_view name,
                                                       std::string_view help) {
  return prometheus::BuildCounter()
      .Name(std::string(name))
      .Help(std::string(help))
      .Register(registry);
}

prometheus::Family<prometheus::Gauge>& GaugeFamily(prometheus::Registry& registry,
                                                   std::string_view name, std::string_view help) {
  return prometheus::BuildGauge()
      .Name(std::string(name))
      .Help(std::string(help))
      .Register(registry);
}

void AddCounter(prometheus::Family<prometheus::Counter>& family, const prometheus::Labels& labels,
                uint64_t value) {
  family.Add(labels).Increment(static_cast<double>(value));
}

void AddGauge(prometheus::Family<prometheus::Gauge>& family, const prometheus::Labels& labels,
              double value) {
  family.Add(labels).Set(value);
}

std::string RenderMetrics(const ControlPlane& control, const StatsSource* dataplane,
                          const RequestLatency* api_latency) {
  prometheus::Registry registry;
  AddControlMetrics(registry, control);
  if (api_latency != nullptr) api_latency->Collect(registry);
  if (dataplane != nullptr) dataplane->CollectMetrics(registry);
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry.Collect());
  return out.str();
}

}  // namespace privlink::control
