#include "control/api/metrics.h"

#include <cctype>
#include <sstream>

#include <prometheus/text_serializer.h>

namespace privlink::control {
namespace {

// "Pending" -> "pending": label values in the lower case Prometheus users expect.
std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
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
    AddGauge(connections, {{"status", Lower(ConnectionStatusName(status))}},
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
