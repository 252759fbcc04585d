// TakeSample: sums every worker's counters and the control thread's, read without stopping
// anyone (relaxed loads of single-writer counters), and names them from a snapshot. StatsJson
// renders a sample as the JSON of GET /v1/stats.
#include "dataplane/observe/stats_sample.h"

#include <string>

#include "absl/algorithm/container.h"
#include "control/config/dataplane_config.h"
#include "nat/inet.h"

namespace privlink::dataplane {
namespace {

using nat::FlowDirection;
using nlohmann::json;

json TrafficJson(std::string_view packets_key, std::string_view bytes_key, const TrafficTotals& t) {
  return {{packets_key, t.packets}, {bytes_key, t.bytes}};
}

}  // namespace

DataplaneSample TakeSample(const SampleInputs& in) {
  const std::span<const CounterSet* const> sets = in.counter_sets;
  DataplaneSample out;

  for (uint16_t i = 0; i < in.ports.size(); ++i) {
    const PortInfo& p = in.ports[i];
    PortSample port{.name = p.name, .role = p.role, .mac = p.mac};
    for (const CounterSet* s : sets) {
      port.rx.Add(s->ports[i].rx);
      port.tx.Add(s->ports[i].tx);
    }
    out.ports.push_back(std::move(port));
  }

  for (const CounterSet* s : sets) {
    for (size_t r = 0; r < kDropReasonCount; ++r) out.drops[r] += s->drops[r].Read();
  }
  for (const uint64_t n : out.drops) out.drops_total += n;

  for (const CounterSet* s : sets) {
    for (size_t st = 0; st < kFlowStateCount; ++st) {
      out.flows_by_state[st] += s->flows_by_state[st].Read();
    }
    out.flows_created += s->flows_created.Read();
    out.flows_expired += s->flows_expired.Read();
    out.flows_idle_reset += s->flows_idle_reset.Read();
    out.flows_backend_down_reset += s->flows_backend_down_reset.Read();
    out.probe_answers += s->probe_answers.Read();
    out.probe_segments_sent += s->probe_segments_sent.Read();
    out.proxy_headers_sent += s->proxy_headers_sent.Read();
    out.proxy_headers_resent += s->proxy_headers_resent.Read();
    out.icmp_to_backend += s->icmp_errors_translated[0].Read();
    out.icmp_to_client += s->icmp_errors_translated[1].Read();
  }
  out.flows_total = in.flows ? in.flows->Size() : 0;
  out.flows_capacity = in.flows ? in.flows->capacity() : 0;

  uint64_t nat_port_range = 0;  // every worker's share of each NAT IP's ports
  for (const Worker* w : in.workers) {
    out.workers.push_back({.loop_cycles = w->counters.loop_cycles.Read(),
                           .busy_cycles = w->counters.busy_cycles.Read(),
                           .foreign_packets = w->counters.foreign_packets.Read(),
                           .foreign_icmp_errors = w->counters.foreign_icmp_errors.Read()});
    nat_port_range += w->ports.nominal_capacity();
    out.rss_port_choice = w->shared->rss_port_choice;
  }

  if (in.audit != nullptr) {
    out.audit_log = true;
    out.audit_written = in.audit->written();
    for (const Worker* w : in.workers) out.audit_lost += w->audit_lost.Read();
  }

  // Names and the lists of endpoints and services come from the snapshot.
  if (in.snapshot == nullptr) return out;
  out.named = true;
  const control::Snapshot& snap = *in.snapshot;
  for (control::EndpointId id = 0; id < snap.endpoints.size(); ++id) {
    const std::string* name = snap.endpoint_names.Find(id);
    if (name == nullptr) continue;
    EndpointSample e{
        .id = id, .name = *name, .carries_traffic = snap.endpoints[id].carries_traffic};
    if (const control::SnapshotService* service = snap.Service(snap.endpoints[id].service)) {
      e.service = service->name;
    }
    for (const CounterSet* s : sets) {
      e.out.Add(s->endpoints[id][FlowDirection::kIn2Out]);
      e.in.Add(s->endpoints[id][FlowDirection::kOut2In]);
      e.connections += s->endpoint_connections[id].Read();
    }
    out.endpoints.push_back(std::move(e));
  }
  for (const auto& service : snap.services) {
    if (service == nullptr) continue;
    ServiceSample svc{.id = service->id, .name = service->name};
    for (const CounterSet* s : sets) {
      svc.in.Add(s->services[service->id][FlowDirection::kIn2Out]);
      svc.out.Add(s->services[service->id][FlowDirection::kOut2In]);
      svc.nat_port_alloc_failures += s->nat_ports[service->id].alloc_failures.Read();
    }
    for (size_t k = 0; k < service->nat_ips.size(); ++k) {
      if (service->nat_ips[k] == 0) continue;  // the place of a removed NAT IP
      NatIpSample nat{
          .ip = service->nat_ips[k],
          .draining = !absl::c_linear_search(service->new_flow_nat_ips, service->nat_ips[k]),
          .capacity = nat_port_range * service->backends.size()};
      for (const CounterSet* s : sets) nat.in_use += s->nat_ports[service->id].in_use[k].Read();
      svc.nat_ips.push_back(nat);
    }
    out.services.push_back(std::move(svc));
  }
  return out;
}

json StatsJson(const DataplaneSample& sample) {
  json out = json::object();
  out["workers"] = sample.workers.size();

  json ports = json::array();
  for (const PortSample& p : sample.ports) {
    json port = {{"name", p.name},
                 {"role", p.role == PortRole::kConsumer ? "consumer" : "provider"},
                 {"mac", control::FormatMac(p.mac)}};
    port.update(TrafficJson("rxPackets", "rxBytes", p.rx));
    port.update(TrafficJson("txPackets", "txBytes", p.tx));
    ports.push_back(std::move(port));
  }
  out["ports"] = std::move(ports);

  json drops = json::object();
  for (size_t r = 0; r < kDropReasonCount; ++r) {
    drops[std::string(DropReasonName(static_cast<DropReason>(r)))] = sample.drops[r];
  }
  out["drops"] = std::move(drops);
  out["dropsTotal"] = sample.drops_total;
  if (sample.audit_log) {
    out["auditLog"] = {{"written", sample.audit_written}, {"lost", sample.audit_lost}};
  }

  json by_state = json::object();
  for (size_t st = 0; st < kFlowStateCount; ++st) {
    by_state[nat::FlowStateName(static_cast<nat::FlowState>(st))] = sample.flows_by_state[st];
  }
  out["flows"] = {
      {"total", sample.flows_total},          {"capacity", sample.flows_capacity},
      {"created", sample.flows_created},      {"expired", sample.flows_expired},
      {"idleReset", sample.flows_idle_reset}, {"backendDownReset", sample.flows_backend_down_reset},
      {"byState", std::move(by_state)}};
  out["healthProbes"] = {{"segmentsSent", sample.probe_segments_sent},
                         {"answersReceived", sample.probe_answers}};
  out["proxyHeaders"] = {{"sent", sample.proxy_headers_sent},
                         {"resent", sample.proxy_headers_resent}};
  out["icmpErrorsTranslated"] = {{"toBackend", sample.icmp_to_backend},
                                 {"toClient", sample.icmp_to_client}};
  out["flowSteering"] = sample.rss_port_choice ? "rss-port-choice" : "shared";
  uint64_t foreign = 0, foreign_icmp = 0;
  for (const WorkerSample& w : sample.workers) {
    foreign += w.foreign_packets;
    foreign_icmp += w.foreign_icmp_errors;
  }
  out["foreignPackets"] = {{"flows", foreign}, {"icmpErrors", foreign_icmp}};
  if (!sample.named) return out;

  json endpoints = json::array();
  for (const EndpointSample& e : sample.endpoints) {
    json endpoint = {{"id", e.id},
                     {"name", e.name},
                     {"service", e.service ? json(*e.service) : json(nullptr)},
                     {"carriesTraffic", e.carries_traffic}};
    endpoint.update(TrafficJson("packetsOut", "bytesOut", e.out));
    endpoint.update(TrafficJson("packetsIn", "bytesIn", e.in));
    endpoint["connections"] = e.connections;
    endpoints.push_back(std::move(endpoint));
  }
  json services = json::array();
  json nat_ports = json::array();
  for (const ServiceSample& s : sample.services) {
    json service_nat = json::array();
    for (const NatIpSample& nat : s.nat_ips) {
      json entry = {{"ip", FormatIpv4(nat.ip)},
                    {"state", nat.draining ? "draining" : "active"},
                    {"inUse", nat.in_use},
                    {"capacity", nat.capacity}};
      service_nat.push_back(entry);
      entry["service"] = s.name;
      nat_ports.push_back(std::move(entry));
    }
    json service = {{"id", s.id}, {"name", s.name}};
    service.update(TrafficJson("packetsIn", "bytesIn", s.in));
    service.update(TrafficJson("packetsOut", "bytesOut", s.out));
    service["natPorts"] = std::move(service_nat);
    service["natPortAllocFailures"] = s.nat_port_alloc_failures;
    services.push_back(std::move(service));
  }
  out["endpoints"] = std::move(endpoints);
  out["services"] = std::move(services);
  out["natPorts"] = std::move(nat_ports);
  return out;
}

}  // namespace privlink::dataplane
