#include "tools/trace/tracegen.h"

#include <algorithm>
#include <random>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "dataplane/offline/replay.h"
#include "dataplane/packet/arp.h"
#include "dataplane/packet/parse.h"
#include "nat/tcp_state.h"
#include "tools/trace/conversation.h"

namespace privlink::trace {
namespace {

using dataplane::MacAddress;
using dataplane::ReplayPipeline;

constexpr uint16_t kFirstClientPort = 32768;  // Linux's ephemeral range starts here

MacAddress ClientMac(uint32_t i) {
  return {0x02,
          0xc1,
          0x00,
          static_cast<uint8_t>(i >> 16),
          static_cast<uint8_t>(i >> 8),
          static_cast<uint8_t>(i)};
}
MacAddress BackendMac(uint32_t i) {
  return {0x02,
          0xbe,
          0x00,
          static_cast<uint8_t>(i >> 16),
          static_cast<uint8_t>(i >> 8),
          static_cast<uint8_t>(i)};
}

struct Target {
  control::EndpointId endpoint = control::kNoEndpoint;
  control::PeKey key;
  const control::SnapshotService* service = nullptr;
  uint16_t consumer_port = 0;  // port indices in the pipeline
  uint16_t provider_port = 0;
  uint16_t vlan = 0;
};

absl::StatusOr<Target> FindTarget(const ReplayPipeline& pipeline, const std::string& name) {
  const control::Snapshot& snap = pipeline.snapshot();
  Target t;
  snap.pe_lookup.ForEach([&](const control::PeKey& key, const control::PeTarget& pe) {
    const std::string* n = snap.endpoint_names.Find(pe.endpoint);
    if (!name.empty() && (n == nullptr || *n != name)) return;
    // Deterministic whatever the map's order: the lowest endpoint id, then frontend port.
    const bool better = t.endpoint == control::kNoEndpoint || pe.endpoint < t.endpoint ||
                        (pe.endpoint == t.endpoint &&
                         Be16ToHost(key.frontend_port) < Be16ToHost(t.key.frontend_port));
    if (!better) return;
    t.endpoint = pe.endpoint;
    t.key = key;
    t.service = snap.Service(pe.service);
  });
  if (t.endpoint == control::kNoEndpoint) {
    return absl::NotFoundError(name.empty() ? "the config has no private endpoint with a rule"
                                            : "no private endpoint '" + name + "' with a rule");
  }
  if (t.service == nullptr || t.service->backends.empty()) {
    return absl::FailedPreconditionError("the endpoint's service has no backends");
  }
  const control::NetworkAttachment at = snap.Attachment(t.key.network);
  bool consumer = false, provider = false;
  for (uint16_t i = 0; i < pipeline.ports().size(); ++i) {
    const dataplane::PortInfo& p = pipeline.ports()[i];
    if (p.role == dataplane::PortRole::kConsumer && p.position == at.consumer_port) {
      t.consumer_port = i;
      consumer = true;
    }
    if (p.role == dataplane::PortRole::kProvider && !provider) {
      t.provider_port = i;
      provider = true;
    }
  }
  if (!consumer || !provider) {
    return absl::FailedPreconditionError(
        "the config needs the endpoint's consumer port and a "
        "provider port");
  }
  t.vlan = at.vlan;
  return t;
}

// One connection: its plan and, once privlink translated its SYN, the backend side's tuple.
struct Connection {
  uint32_t client = 0;
  WireTuple client_side;
  std::vector<Segment> segments;
  bool translated = false;
  bool refused = false;
  WireTuple backend_side;
};

struct Event {
  nat::TimeMs at_ms;
  uint32_t connection;
  uint32_t segment;
};

}  // namespace

absl::StatusOr<TracegenResult> GenerateTrace(const control::DaemonConfig& config,
                                             const TracegenOptions& o,
                                             const TraceSink& consumer_out,
                                             const TraceSink& provider_out) {
  auto pipeline = ReplayPipeline::Create(config);
  if (!pipeline.ok()) return pipeline.status();
  ReplayPipeline& p = **pipeline;
  auto target = FindTarget(p, o.endpoint);
  if (!target.ok()) return target.status();
  const Target& t = *target;
  const MacAddress consumer_mac = p.ports()[t.consumer_port].mac;
  const MacAddress provider_mac = p.ports()[t.provider_port].mac;

  // Plans, in start order.
  std::mt19937 rng(o.seed);
  std::vector<Connection> conns;
  const uint32_t base = o.first_client_ip != 0 ? Be32ToHost(o.first_client_ip)
                                               : (Be32ToHost(t.key.ip) & 0xffffff00u) | 2u;
  const uint32_t total = o.clients * o.connections_per_client;
  for (uint32_t j = 0; j < total; ++j) {
    Connection c;
    c.client = j % o.clients;
    const uint32_t round = j / o.clients;
    c.client_side = {.src_mac = ClientMac(c.client),
                     .dst_mac = consumer_mac,
                     .vlan = t.vlan,
                     .src_ip = HostToBe32(base + c.client),
                     .dst_ip = t.key.ip,
                     .src_port = HostToBe16(static_cast<uint16_t>(kFirstClientPort + round)),
                     .dst_port = t.key.frontend_port};
    const bool rst = o.close == CloseMode::kRst || (o.close == CloseMode::kMixed && j % 4 == 3);
    c.segments = PlanConversation({.start_ms = 1 + nat::TimeMs{j} * o.interval_ms,
                                   .step_ms = o.step_ms,
                                   .request_bytes = o.request_bytes,
                                   .response_bytes = o.response_bytes,
                                   .mss = o.mss,
                                   .close_with_rst = rst,
                                   .client_isn = static_cast<uint32_t>(rng()),
                                   .backend_isn = static_cast<uint32_t>(rng())});
    conns.push_back(std::move(c));
  }
  std::vector<Event> events;
  for (uint32_t j = 0; j < conns.size(); ++j) {
    for (uint32_t s = 0; s < conns[j].segments.size(); ++s) {
      events.push_back({conns[j].segments[s].at_ms, j, s});
    }
  }
  std::stable_sort(events.begin(), events.end(),
                   [](const Event& a, const Event& b) { return a.at_ms < b.at_ms; });

  // A translated SYN on the provider port tells which connection got which NAT tuple: the
  // client's initial sequence number travels unchanged.
  absl::flat_hash_map<uint32_t, uint32_t> by_isn;
  for (uint32_t j = 0; j < conns.size(); ++j) by_isn[conns[j].segments[0].seq] = j;
  p.OnSent([&](uint16_t port, std::span<const uint8_t> frame, uint64_t) {
    if (port != t.provider_port) return;
    const auto parsed = dataplane::ParsePacket(frame.data(), static_cast<uint32_t>(frame.size()));
    if (parsed.verdict != dataplane::ParseVerdict::kTcp || parsed.tcp_flags != nat::kTcpSyn) {
      return;
    }
    uint32_t seq;
    std::memcpy(&seq, frame.data() + parsed.l4_offset + dataplane::kTcpSeqOffset, 4);
    auto it = by_isn.find(Be32ToHost(seq));
    if (it == by_isn.end()) return;
    Connection& c = conns[it->second];
    c.translated = true;
    const size_t backend =
        std::find_if(t.service->backends.begin(), t.service->backends.end(),
                     [&](const auto& b) { return b.ip == parsed.key.tuple.dst_ip; }) -
        t.service->backends.begin();
    const nat::Tuple reply = parsed.key.tuple.Reversed();  // the backend answers the SYN
    c.backend_side = {.src_mac = BackendMac(static_cast<uint32_t>(backend) + 1),
                      .dst_mac = provider_mac,
                      .src_ip = reply.src_ip,
                      .dst_ip = reply.dst_ip,
                      .src_port = reply.src_port,
                      .dst_port = reply.dst_port};
  });

  TracegenResult result;
  result.connections = conns.size();
  result.endpoint = p.snapshot().endpoint_names.at(t.endpoint);
  result.consumer_port = p.ports()[t.consumer_port].name;
  result.provider_port = p.ports()[t.provider_port].name;
  auto emit = [&](bool provider_side, std::span<const uint8_t> frame, nat::TimeMs at_ms) {
    const uint64_t time = o.start_time_us + at_ms * 1000;
    (provider_side ? provider_out : consumer_out)(frame, time);
    ++(provider_side ? result.provider_frames : result.consumer_frames);
    return p.Feed(provider_side ? t.provider_port : t.consumer_port, frame, time);
  };

  // Backends announce themselves first (each asks for the first NAT IP, as a backend does
  // before its first reply), so privlink learns their MACs from the trace itself.
  for (uint32_t b = 0; b < t.service->backends.size(); ++b) {
    std::vector<uint8_t> arp(dataplane::kArpFrameLen);
    const size_t len = dataplane::BuildArpRequest(BackendMac(b + 1), t.service->backends[b].ip,
                                                  t.service->new_flow_nat_ips.front(), 0, arp);
    arp.resize(len);
    if (absl::Status s = emit(true, arp, 0); !s.ok()) return s;
  }

  for (const Event& e : events) {
    Connection& c = conns[e.connection];
    const Segment& seg = c.segments[e.segment];
    if (c.refused) continue;
    if (seg.from == Side::kClient) {
      if (absl::Status s = emit(false, BuildSegmentFrame(seg, c.client_side), seg.at_ms); !s.ok()) {
        return s;
      }
      if (e.segment == 0) p.Flush();  // the translated SYN names the backend side's tuple
      continue;
    }
    if (!c.translated) {
      // Not forwarded (endpoint not approved, no backend, ...): the client gives up.
      c.refused = true;
      ++result.connections_refused;
      continue;
    }
    if (absl::Status s = emit(true, BuildSegmentFrame(seg, c.backend_side), seg.at_ms); !s.ok()) {
      return s;
    }
  }
  p.Flush();
  return result;
}

}  // namespace privlink::trace
