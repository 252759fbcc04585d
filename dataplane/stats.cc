// Dataplane::Stats: sums every worker's counters and the control thread's, read without stopping
// anyone (relaxed loads of single-writer counters), and names them from the current snapshot.
#include <string>

#include "dataplane/dataplane.h"
#include "nat/inet.h"

namespace privlink::dataplane {
namespace {

using nat::FlowDirection;
using nlohmann::json;

struct Totals {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  void Add(const TrafficCounters& t) {
    packets += t.packets.Read();
    bytes += t.bytes.Read();
  }
};

}  // namespace

json Dataplane::Stats() const {
  std::vector<const CounterSet*> sets;
  for (const auto& w : workers_) sets.push_back(&w->counters);
  if (controller_) sets.push_back(&controller_->counters());

  json out = json::object();
  out["workers"] = workers_.size();

  json ports = json::array();
  for (uint16_t i = 0; i < shared_.ports.size(); ++i) {
    Totals rx, tx;
    for (const CounterSet* s : sets) {
      rx.Add(s->ports[i].rx);
      tx.Add(s->ports[i].tx);
    }
    const PortInfo& p = shared_.ports[i];
    ports.push_back({{"name", p.name},
                     {"role", p.role == PortRole::kConsumer ? "consumer" : "provider"},
                     {"mac", control::FormatMac(p.mac)},
                     {"rxPackets", rx.packets},
                     {"rxBytes", rx.bytes},
                     {"txPackets", tx.packets},
                     {"txBytes", tx.bytes}});
  }
  out["ports"] = std::move(ports);

  json drops = json::object();
  uint64_t dropped = 0;
  for (size_t r = 0; r < kDropReasonCount; ++r) {
    uint64_t n = 0;
    for (const CounterSet* s : sets) n += s->drops[r].Read();
    drops[std::string(DropReasonName(static_cast<DropReason>(r)))] = n;
    dropped += n;
  }
  out["drops"] = std::move(drops);
  out["dropsTotal"] = dropped;

  uint64_t created = 0, expired = 0;
  json by_state = json::object();
  for (size_t st = 0; st < kTcpStateCount; ++st) {
    uint64_t n = 0;
    for (const CounterSet* s : sets) n += s->flows_by_state[st].Read();
    by_state[nat::TcpStateName(static_cast<nat::TcpState>(st))] = n;
  }
  for (const CounterSet* s : sets) {
    created += s->flows_created.Read();
    expired += s->flows_expired.Read();
  }
  out["flows"] = {{"total", flows_ ? flows_->Size() : 0},
                  {"capacity", flows_ ? flows_->capacity() : 0},
                  {"created", created},
                  {"expired", expired},
                  {"byState", std::move(by_state)}};

  if (audit_) {
    uint64_t lost = 0;
    for (const auto& w : workers_) lost += w->audit_lost.Read();
    out["auditLog"] = {{"written", audit_->written()}, {"lost", lost}};
  }

  // Names and the lists of endpoints and services come from the snapshot; the stats reader is
  // online only while it holds the pointer.
  std::lock_guard<std::mutex> lock(stats_mutex_);
  if (!readers_registered_) return out;
  stats_reader_.Online();
  const control::Snapshot& snap = *stats_reader_.Current();
  json endpoints = json::array();
  for (control::EndpointId id = 0; id < snap.endpoints.size(); ++id) {
    auto name = snap.endpoint_names.find(id);
    if (name == snap.endpoint_names.end()) continue;
    Totals out_of_consumer, into_consumer;
    for (const CounterSet* s : sets) {
      out_of_consumer.Add(s->endpoints[id][FlowDirection::kIn2Out]);
      into_consumer.Add(s->endpoints[id][FlowDirection::kOut2In]);
    }
    const control::SnapshotService* service = snap.Service(snap.endpoints[id].service);
    endpoints.push_back({{"id", id},
                         {"name", name->second},
                         {"service", service != nullptr ? json(service->name) : json(nullptr)},
                         {"carriesTraffic", snap.endpoints[id].carries_traffic},
                         {"packetsOut", out_of_consumer.packets},
                         {"bytesOut", out_of_consumer.bytes},
                         {"packetsIn", into_consumer.packets},
                         {"bytesIn", into_consumer.bytes}});
  }
  json services = json::array();
  json nat_ports = json::array();
  for (const auto& service : snap.services) {
    if (service == nullptr) continue;
    Totals from_consumers, to_consumers;
    for (const CounterSet* s : sets) {
      from_consumers.Add(s->services[service->id][FlowDirection::kIn2Out]);
      to_consumers.Add(s->services[service->id][FlowDirection::kOut2In]);
    }
    json service_nat = json::array();
    for (size_t k = 0; k < service->nat_ips.size(); ++k) {
      uint64_t in_use = 0;
      for (const CounterSet* s : sets) in_use += s->nat_ports[service->id].in_use[k].Read();
      json entry = {{"ip", FormatIpv4(service->nat_ips[k])}, {"inUse", in_use}};
      service_nat.push_back(entry);
      entry["service"] = service->name;
      nat_ports.push_back(std::move(entry));
    }
    services.push_back({{"id", service->id},
                        {"name", service->name},
                        {"packetsIn", from_consumers.packets},
                        {"bytesIn", from_consumers.bytes},
                        {"packetsOut", to_consumers.packets},
                        {"bytesOut", to_consumers.bytes},
                        {"natPorts", std::move(service_nat)}});
  }
  stats_reader_.Offline();
  out["endpoints"] = std::move(endpoints);
  out["services"] = std::move(services);
  out["natPorts"] = std::move(nat_ports);
  return out;
}

}  // namespace privlink::dataplane
