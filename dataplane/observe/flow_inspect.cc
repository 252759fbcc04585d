#include "dataplane/observe/flow_inspect.h"

#include <string>

#include "nat/inet.h"

namespace privlink::dataplane {
namespace {

using nat::FlowDirection;
using nlohmann::json;

FlowRecord CopyFlow(const nat::FlowTable& table, nat::FlowId id, nat::TimeMs32 now) {
  const nat::FlowEntry& e = table.entry(id);
  FlowRecord r;
  const nat::FlowBinding& b = e.binding;
  r.id = id;
  r.fwd = b.fwd;
  r.rev = b.rev;
  r.endpoint_id = b.endpoint_id;
  r.service_id = b.service_id;
  r.owner_worker = static_cast<uint8_t>(table.OwnerOf(id));
  r.state = e.state();
  r.age_ms = e.AgeMs(now);
  r.idle_ms = nat::ElapsedMs(now, e.last_seen_ms.load(std::memory_order_relaxed));
  for (const FlowDirection d : {FlowDirection::kIn2Out, FlowDirection::kOut2In}) {
    const auto i = static_cast<size_t>(d);
    r.packets[i] = e.counter(d).packets.load(std::memory_order_relaxed);
    r.bytes[i] = e.counter(d).bytes.load(std::memory_order_relaxed);
  }
  return r;
}

std::string Endpoint(Ipv4Be ip, PortBe port) {
  return FormatIpv4(ip) + ":" + std::to_string(Be16ToHost(port));
}

double Seconds(uint32_t ms) {
  return ms / 1000.0;
}

}  // namespace

template <typename Fn>
void FlowReader::Scan(const FlowFilter& filter, nat::TimeMs32 now, Fn&& fn) const {
  std::vector<FlowRecord> batch;
  for (uint32_t bucket = 0; bucket < table_.bucket_count();) {
    batch.clear();
    // Online for one batch only (see the header): copies are made while no id can be reused.
    if (rcu_ != nullptr) rte_rcu_qsbr_thread_online(rcu_, rcu_thread_id_);
    bucket = table_.ScanForwardKeys(bucket, kFlowScanBatchBuckets, [&](nat::FlowId id) {
      FlowRecord r = CopyFlow(table_, id, now);
      if (filter.Matches(r)) batch.push_back(r);
    });
    if (rcu_ != nullptr) rte_rcu_qsbr_thread_offline(rcu_, rcu_thread_id_);
    for (const FlowRecord& r : batch) {
      if (!fn(r)) return;
    }
  }
}

FlowList FlowReader::List(const FlowFilter& filter, size_t limit, nat::TimeMs32 now) const {
  FlowList out;
  Scan(filter, now, [&](const FlowRecord& r) {
    if (out.flows.size() == limit) {
      out.truncated = true;
      return false;
    }
    out.flows.push_back(r);
    return true;
  });
  return out;
}

FlowCounts FlowReader::Count(const FlowFilter& filter) const {
  FlowCounts counts{};
  Scan(filter, 0, [&](const FlowRecord& r) {
    ++counts[static_cast<size_t>(r.state)];
    return true;
  });
  return counts;
}

json FlowRecordJson(const FlowRecord& r, const control::Snapshot& snap) {
  const std::string* endpoint = snap.endpoint_names.Find(r.endpoint_id);
  const control::SnapshotService* service = snap.Service(r.service_id);
  auto network = snap.networks.find(r.fwd.network);
  constexpr auto kOut = static_cast<size_t>(FlowDirection::kIn2Out);
  constexpr auto kIn = static_cast<size_t>(FlowDirection::kOut2In);
  return json{{"id", r.id},
              {"endpoint", endpoint != nullptr ? json(*endpoint) : json()},
              {"service", service != nullptr ? json(service->name) : json()},
              {"network", network != snap.networks.end() ? json(network->second.name) : json()},
              {"protocol", r.fwd.proto == nat::kIpProtoUdp ? "udp" : "tcp"},
              {"client", Endpoint(r.fwd.tuple.src_ip, r.fwd.tuple.src_port)},
              {"endpointAddress", Endpoint(r.fwd.tuple.dst_ip, r.fwd.tuple.dst_port)},
              {"nat", Endpoint(r.rev.tuple.dst_ip, r.rev.tuple.dst_port)},
              {"backend", Endpoint(r.rev.tuple.src_ip, r.rev.tuple.src_port)},
              {"state", nat::FlowStateName(r.state)},
              {"ageSeconds", Seconds(r.age_ms)},
              {"idleSeconds", Seconds(r.idle_ms)},
              {"bytesOut", r.bytes[kOut]},
              {"bytesIn", r.bytes[kIn]},
              {"packetsOut", r.packets[kOut]},
              {"packetsIn", r.packets[kIn]},
              {"worker", r.owner_worker}};
}

json FlowCountsJson(const FlowCounts& counts) {
  json by_state = json::object();
  uint64_t total = 0;
  for (size_t s = 0; s < counts.size(); ++s) {
    by_state[nat::FlowStateName(static_cast<nat::FlowState>(s))] = counts[s];
    total += counts[s];
  }
  return json{{"total", total}, {"byState", std::move(by_state)}};
}

}  // namespace privlink::dataplane
