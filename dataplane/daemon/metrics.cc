// Dataplane::CollectMetrics: one DataplaneSample as Prometheus families (control/metrics.h).
#include <string>

#include "control/api/metrics.h"
#include "control/model/str_cat.h"
#include "dataplane/daemon/dataplane.h"
#include "nat/inet.h"

namespace privlink::dataplane {
namespace {

using control::AddCounter;
using control::AddGauge;
using control::CounterFamily;
using control::GaugeFamily;

void AddTraffic(prometheus::Family<prometheus::Counter>& packets,
                prometheus::Family<prometheus::Counter>& bytes, const prometheus::Labels& labels,
                const TrafficTotals& t) {
  AddCounter(packets, labels, t.packets);
  AddCounter(bytes, labels, t.bytes);
}

}  // namespace

void Dataplane::CollectMetrics(prometheus::Registry& registry) const {
  const DataplaneSample sample = Sample();

  auto& port_packets = CounterFamily(registry, "privlink_port_packets_total",
                                     "Frames received (rx) and sent (tx) on a port.");
  auto& port_bytes =
      CounterFamily(registry, "privlink_port_bytes_total",
                    "Ethernet frame bytes (FCS excluded) received and sent on a port.");
  for (const PortSample& p : sample.ports) {
    AddTraffic(port_packets, port_bytes, {{"port", p.name}, {"direction", "rx"}}, p.rx);
    AddTraffic(port_packets, port_bytes, {{"port", p.name}, {"direction", "tx"}}, p.tx);
  }

  auto& drops = CounterFamily(registry, "privlink_drops_total",
                              "Packets dropped, by reason (see docs/drop-reasons.md).");
  for (size_t r = 0; r < kDropReasonCount; ++r) {
    AddCounter(drops, {{"reason", std::string(DropReasonName(static_cast<DropReason>(r)))}},
               sample.drops[r]);
  }

  auto& flows =
      GaugeFamily(registry, "privlink_flows",
                  "Flows by TCP state (udp: UDP flows), as of each worker's last expiry sweep.");
  for (size_t st = 0; st < kFlowStateCount; ++st) {
    AddGauge(flows,
             {{"state", control::AsciiLower(nat::FlowStateName(static_cast<nat::FlowState>(st)))}},
             static_cast<double>(sample.flows_by_state[st]));
  }
  AddGauge(GaugeFamily(registry, "privlink_flow_table_capacity", "Flows the flow table can hold."),
           {}, static_cast<double>(sample.flows_capacity));
  AddCounter(CounterFamily(registry, "privlink_flows_created_total", "Flows created."), {},
             sample.flows_created);
  AddCounter(CounterFamily(registry, "privlink_flows_expired_total", "Flows expired and freed."),
             {}, sample.flows_expired);
  AddCounter(CounterFamily(registry, "privlink_flows_idle_reset_total",
                           "Established flows reset both ways at their idle timeout "
                           "(enableTcpReset)."),
             {}, sample.flows_idle_reset);
  AddCounter(CounterFamily(registry, "privlink_flows_backend_down_reset_total",
                           "Established flows reset both ways because their backend's probe "
                           "marked it down (probe.onDown reset)."),
             {}, sample.flows_backend_down_reset);
  auto& probe_segments = CounterFamily(registry, "privlink_probe_segments_total",
                                       "Health probe TCP segments, by direction.");
  AddCounter(probe_segments, {{"direction", "sent"}}, sample.probe_segments_sent);
  AddCounter(probe_segments, {{"direction", "received"}}, sample.probe_answers);
  auto& proxy = CounterFamily(registry, "privlink_proxy_headers_total",
                              "PROXY protocol v2 headers written into connections' streams "
                              "(enableProxyProtocol): first sends, and sends again of one the "
                              "backend did not acknowledge.");
  AddCounter(proxy, {{"kind", "sent"}}, sample.proxy_headers_sent);
  AddCounter(proxy, {{"kind", "resent"}}, sample.proxy_headers_resent);
  auto& icmp = CounterFamily(registry, "privlink_icmp_errors_translated_total",
                             "ICMP errors (destination unreachable, time exceeded) about a flow, "
                             "translated and sent to its other end.");
  AddCounter(icmp, {{"direction", "to_backend"}}, sample.icmp_to_backend);
  AddCounter(icmp, {{"direction", "to_client"}}, sample.icmp_to_client);

  auto& busy = CounterFamily(registry, "privlink_worker_busy_cycles_total",
                             "TSC cycles a worker spent in polls that received packets.");
  auto& cycles = CounterFamily(registry, "privlink_worker_cycles_total",
                               "TSC cycles of a worker's loop (busy ratio: busy / all).");
  auto& foreign =
      CounterFamily(registry, "privlink_worker_foreign_packets_total",
                    "Packets of a flow another worker created, by the worker that received them: "
                    "tcp should stay 0 under flowSteering rss-port-choice; icmp_error (hashed on "
                    "addresses only) may not.");
  for (size_t i = 0; i < sample.workers.size(); ++i) {
    const std::string index = std::to_string(i);
    const prometheus::Labels worker = {{"worker", index}};
    AddCounter(busy, worker, sample.workers[i].busy_cycles);
    AddCounter(cycles, worker, sample.workers[i].loop_cycles);
    AddCounter(foreign, {{"worker", index}, {"kind", "flow"}}, sample.workers[i].foreign_packets);
    AddCounter(foreign, {{"worker", index}, {"kind", "icmp_error"}},
               sample.workers[i].foreign_icmp_errors);
  }
  if (!sample.named) return;

  // Directions: endpoint "out" is what its consumers send, "in" what they receive; a service's
  // "in" is what reaches it from consumers, "out" what it sends back.
  auto& endpoint_packets = CounterFamily(registry, "privlink_endpoint_packets_total",
                                         "Frames through a private endpoint, by direction.");
  auto& endpoint_bytes = CounterFamily(
      registry, "privlink_endpoint_bytes_total",
      "Frame bytes through a private endpoint: out = from its consumers, in = to them.");
  auto& endpoint_connections = CounterFamily(registry, "privlink_endpoint_connections_total",
                                             "Connections (flows) created through an endpoint.");
  for (const EndpointSample& e : sample.endpoints) {
    AddTraffic(endpoint_packets, endpoint_bytes, {{"endpoint", e.name}, {"direction", "out"}},
               e.out);
    AddTraffic(endpoint_packets, endpoint_bytes, {{"endpoint", e.name}, {"direction", "in"}}, e.in);
    AddCounter(endpoint_connections, {{"endpoint", e.name}}, e.connections);
  }

  auto& service_packets = CounterFamily(registry, "privlink_service_packets_total",
                                        "Frames through a private link service, by direction.");
  auto& service_bytes = CounterFamily(
      registry, "privlink_service_bytes_total",
      "Frame bytes through a private link service: in = from consumers, out = to them.");
  auto& ports_used = GaugeFamily(
      registry, "privlink_nat_ports_used",
      "NAT ports in use on a service's NAT IP (all backends): one per flow through it.");
  auto& ports_usage = GaugeFamily(
      registry, "privlink_nat_ports_usage_ratio",
      "Ports in use over capacity of a service's NAT IP, 0..1 (Azure Monitor's PLSNatPortsUsage).");
  auto& nat_ip_state =
      GaugeFamily(registry, "privlink_nat_ip_state",
                  "1 for a service's NAT IP in the labelled state: active, or draining (no new "
                  "flow takes it; it can be removed once its flows end).");
  auto& ports_capacity =
      GaugeFamily(registry, "privlink_nat_ports_capacity",
                  "NAT ports a service's NAT IP offers: the port range once per backend.");
  auto& alloc_failures =
      CounterFamily(registry, "privlink_nat_port_alloc_failures_total",
                    "New connections dropped because no NAT IP of the service had a free port.");
  for (const ServiceSample& s : sample.services) {
    AddTraffic(service_packets, service_bytes, {{"service", s.name}, {"direction", "in"}}, s.in);
    AddTraffic(service_packets, service_bytes, {{"service", s.name}, {"direction", "out"}}, s.out);
    for (const NatIpSample& nat : s.nat_ips) {
      const prometheus::Labels labels = {{"service", s.name}, {"nat_ip", FormatIpv4(nat.ip)}};
      AddGauge(ports_used, labels, static_cast<double>(nat.in_use));
      AddGauge(ports_capacity, labels, static_cast<double>(nat.capacity));
      AddGauge(ports_usage, labels,
               nat.capacity == 0
                   ? 0.0
                   : static_cast<double>(nat.in_use) / static_cast<double>(nat.capacity));
      for (const char* state : {"active", "draining"}) {
        prometheus::Labels with_state = labels;
        with_state["state"] = state;
        AddGauge(nat_ip_state, with_state,
                 (std::string(state) == "draining") == nat.draining ? 1 : 0);
      }
    }
    AddCounter(alloc_failures, {{"service", s.name}}, s.nat_port_alloc_failures);
  }
}

}  // namespace privlink::dataplane
