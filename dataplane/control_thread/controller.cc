#include "dataplane/control_thread/controller.h"

#include <rte_mbuf.h>

#include <span>
#include <variant>

#include "dataplane/packet/arp.h"
#include "dataplane/packet/packet_view.h"
#include "dataplane/packet/tcp_reset.h"
#include "dataplane/packet/vxlan.h"
#include "dataplane/worker/tx.h"

namespace privlink::dataplane {
namespace {

// Frames taken from the workers' ring per round; the ring itself bounds what waits.
constexpr unsigned kControlBurst = 64;
// Neighbour timers run this often: finer than their 1-second retry interval.
constexpr nat::TimeMs kNeighborTickMs = 100;
// Probe timers run this often: a probe starts and times out within this of its time, far below
// the one-second granularity of probe intervals and timeouts.
constexpr nat::TimeMs kProbeTickMs = 20;

std::span<uint8_t> Room(rte_mbuf* m) {
  return {rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_tailroom(m)};
}

}  // namespace

absl::StatusOr<std::unique_ptr<Controller>> Controller::Create(
    const DataplaneShared* shared, ViewPublisher* view, control::SnapshotReader reader,
    rte_ring* to_worker, const std::vector<ProviderPortSetup>& providers) {
  std::unique_ptr<Controller> c(new Controller(shared, view, reader, to_worker));
  for (const ProviderPortSetup& setup : providers) {
    NeighborTableConfig config;
    config.subnet = setup.subnet;
    config.gateway = setup.gateway;
    auto table = NeighborTable::Create(config);
    if (!table.ok()) return table.status();
    for (const StaticNeighbor& n : setup.static_neighbors) {
      auto added = table->AddStatic(n.ip, n.mac);
      if (!added.ok()) {
        return absl::InvalidArgumentError("port '" + shared->ports[setup.port].name +
                                          "': static neighbour " + FormatIpv4(n.ip) + ": " +
                                          std::string(added.status().message()));
      }
    }
    c->providers_.push_back(Provider{setup.port, std::move(*table)});
  }
  c->PublishView(nullptr);
  return c;
}

uint32_t Controller::Poll() {
  const nat::TimeMs now = shared_->clock->NowMs();
  const control::Snapshot& snap = *reader_.Current();
  if (snap.generation != seen_generation_) OnSnapshot(snap, now);

  rte_mbuf* frames[kControlBurst];
  const unsigned n = rte_ring_sc_dequeue_burst(
      shared_->to_control, reinterpret_cast<void**>(frames), kControlBurst, nullptr);
  for (unsigned i = 0; i < n; ++i) HandleFrame(frames[i], snap, now);

  if (now >= next_tick_ms_) {
    Tick(now);
    next_tick_ms_ = now + kNeighborTickMs;
  }
  if (prober_) RunProber(snap, now);
  PublishView(&snap);
  view_->Reclaim();
  reader_.Quiescent();
  return n;
}

void Controller::HandleFrame(rte_mbuf* m, const control::Snapshot& snap, nat::TimeMs now) {
  const uint16_t port = m->port;
  const ParsedPacket p = ParsePacket(PacketView(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len));
  if (shared_->ports[port].role == PortRole::kConsumer) {
    if (p.verdict == ParseVerdict::kArp) HandleConsumerArp(port, m, p, snap);
    if (p.verdict == ParseVerdict::kUdp) HandleTunnelledArp(port, m, p, snap);
    rte_pktmbuf_free(m);
    return;
  }
  Provider* provider = ProviderOf(port);
  if (p.verdict == ParseVerdict::kTcp && IsProbeAnswer(p, snap)) {
    HandleProbeAnswer(m, p, now);
    rte_pktmbuf_free(m);
    return;
  }
  if (p.verdict == ParseVerdict::kTcp || p.verdict == ParseVerdict::kUdp) {
    return HoldForNeighbor(*provider, m, now);
  }
  if (p.verdict == ParseVerdict::kArp) HandleProviderArp(*provider, m, p, snap, now);
  rte_pktmbuf_free(m);
}

// A client asks for its private endpoint's MAC: the consumer port answers for every PE IP of
// the network its (port, VLAN) names.
void Controller::HandleConsumerArp(uint16_t port, const rte_mbuf* m, const ParsedPacket& p,
                                   const control::Snapshot& snap) {
  if (p.arp.op != kArpOpRequest)
    return;  // replies teach nothing here: clients' MACs come with
             // their SYNs
  const uint16_t position = shared_->ports[port].position;
  // The port's VXLAN local IPs (the tunnels' outer address) are answered untagged.
  if (p.vlan_id == 0 && snap.IsVxlanLocalIp(position, p.arp.target_ip)) {
    SendArpReply(port, p);
    return;
  }
  const control::NetworkId* networks = snap.NetworksOfConsumerPort(position);
  const control::NetworkId network = networks != nullptr ? networks[p.vlan_id] : 0;
  if (network == control::kNoNetwork ||
      !snap.endpoints_by_ip.contains({network, p.arp.target_ip})) {
    NoteDrop(counters_, m, DropReason::kArpTargetNotOurs);
    return;
  }
  SendArpReply(port, p);
}

// A client behind a VXLAN tunnel asks for its private endpoint's MAC (a worker handed on a
// tunnelled ARP frame): answered inside the tunnel, to the VTEP that sent the request, for every
// PE IP of the network the VNI names.
void Controller::HandleTunnelledArp(uint16_t port, const rte_mbuf* m, const ParsedPacket& outer,
                                    const control::Snapshot& snap) {
  if (outer.key.tuple.dst_port != HostToBe16(kVxlanPort)) return;
  auto opened = ParseVxlan(PacketView(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len), outer);
  const VxlanFrame* tunnel = std::get_if<VxlanFrame>(&opened);
  if (tunnel == nullptr || tunnel->inner.verdict != ParseVerdict::kArp) return;
  const ArpFields& arp = tunnel->inner.arp;
  if (arp.op != kArpOpRequest) return;
  const control::NetworkId network = snap.VxlanNetwork(shared_->ports[port].position, tunnel->vni);
  if (network == control::kNoNetwork || !snap.endpoints_by_ip.contains({network, arp.target_ip})) {
    NoteDrop(counters_, m, DropReason::kArpTargetNotOurs);
    return;
  }
  const control::NetworkAttachment at = snap.Attachment(network);
  rte_mbuf* reply = rte_pktmbuf_alloc(shared_->pool);
  if (reply == nullptr) return counters_.Drop(DropReason::kMbufPoolExhausted);
  const MacAddress& our_mac = shared_->ports[port].mac;
  const std::span<uint8_t> room = Room(reply);
  const size_t inner_len = BuildArpReply(arp, kUntagged, our_mac, room.subspan(kVxlanOverhead));
  WriteVxlanEncap(room.data(),
                  {.vtep_mac = tunnel->vtep_mac,
                   .port_mac = our_mac,
                   .local_ip = at.local_ip,
                   .vtep_ip = tunnel->vtep_ip,
                   .vni = tunnel->vni,
                   .source_port = kVxlanSourcePortBase},
                  static_cast<uint16_t>(inner_len));
  SetFrameLength(reply, static_cast<uint16_t>(kVxlanOverhead + inner_len));
  Send(port, reply);
}

void Controller::HandleProviderArp(Provider& provider, const rte_mbuf* m, const ParsedPacket& p,
                                   const control::Snapshot& snap, nat::TimeMs now) {
  // Our own announcements looped back teach nothing.
  if (!IsOurProviderAddress(p.arp.sender_ip, snap)) {
    SendReady(provider.port, provider.neighbors.OnArp(p.arp, now));
  }
  if (p.arp.op != kArpOpRequest || p.arp.sender_ip == p.arp.target_ip) return;
  if (IsOurProviderAddress(p.arp.target_ip, snap)) {
    SendArpReply(provider.port, p);
  } else {
    NoteDrop(counters_, m, DropReason::kArpTargetNotOurs);
  }
}

// A translated frame for a backend whose next hop has no MAC yet (its L2 source is set, its
// destination is zero): hold it and ask, or drop it when that is hopeless.
void Controller::HoldForNeighbor(Provider& provider, rte_mbuf* m, nat::TimeMs now) {
  const ParsedPacket p = ParsePacket(PacketView(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len));
  auto hop = provider.neighbors.NextHop(p.key.tuple.dst_ip);
  if (!hop.ok()) return DropPacket(counters_, m, DropReason::kNoProviderRoute);
  const ResolveResult r = provider.neighbors.Resolve(*hop, now);
  switch (r.status) {
    case ResolveStatus::kKnown:
      std::memcpy(rte_pktmbuf_mtod(m, uint8_t*) + kEthDstOffset, r.mac.data(), 6);
      return Send(provider.port, m);
    case ResolveStatus::kSendRequest:
      SendArpRequest(provider.port, *hop);
      [[fallthrough]];
    case ResolveStatus::kPending:
      if (provider.neighbors.Hold(*hop, reinterpret_cast<PacketHandle>(m)) != HoldStatus::kHeld) {
        DropPacket(counters_, m, DropReason::kNeighbourQueueFull);
      }
      return;
    case ResolveStatus::kUnreachable:
    case ResolveStatus::kNoRoom:
      return DropPacket(counters_, m, DropReason::kNeighbourUnresolved);
  }
}

void Controller::SendReady(uint16_t port, const LearnResult& learned) {
  for (const PacketHandle h : learned.ready) {
    rte_mbuf* m = reinterpret_cast<rte_mbuf*>(h);
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*) + kEthDstOffset, learned.mac.data(), 6);
    Send(port, m);
  }
}

// A new model: announce new NAT IPs and start resolving every backend's next hop, so the first
// SYN to a backend rarely waits for ARP.
void Controller::OnSnapshot(const control::Snapshot& snap, nat::TimeMs now) {
  seen_generation_ = snap.generation;
  // The set follows the model: a NAT IP removed and later added again is announced again (a
  // switch may have learned another owner for it in between).
  // Announced in the model's order (a hash set's order differs between runs; replay's output
  // must not).
  absl::flat_hash_set<Ipv4Be> current;
  for (const Ipv4Be nat_ip : snap.nat_ips) {
    if (!current.insert(nat_ip).second || announced_.contains(nat_ip)) continue;
    for (const Provider& p : providers_) SendAnnouncement(p.port, nat_ip);
  }
  announced_ = std::move(current);
  const DataplaneView& view = *view_->latest();
  for (const auto& service : snap.services) {
    if (service == nullptr) continue;
    for (const control::SnapshotBackend& b : service->backends) {
      const ProviderRoute* route = view.RouteTo(b.ip);
      Provider* provider = route != nullptr ? ProviderOf(route->port) : nullptr;
      if (provider == nullptr) continue;
      if (auto hop = provider->neighbors.NextHop(b.ip); hop.ok()) Resolve(*provider, *hop, now);
    }
  }
}

void Controller::Resolve(Provider& provider, Ipv4Be next_hop, nat::TimeMs now) {
  if (provider.neighbors.Resolve(next_hop, now).status == ResolveStatus::kSendRequest) {
    SendArpRequest(provider.port, next_hop);
  }
}

void Controller::Tick(nat::TimeMs now) {
  for (Provider& p : providers_) {
    TickResult t = p.neighbors.Tick(now);
    for (const Ipv4Be ip : t.send_requests) SendArpRequest(p.port, ip);
    for (const PacketHandle h : t.dropped) {
      DropPacket(counters_, reinterpret_cast<rte_mbuf*>(h), DropReason::kNeighbourUnresolved);
    }
  }
}

void Controller::PublishView(const control::Snapshot* snap) {
  bool changed =
      view_->latest() == nullptr || view_->latest()->providers.size() != providers_.size();
  for (Provider& p : providers_) changed |= p.neighbors.version() != p.published_version;
  if (snap != nullptr) changed |= snap->generation != view_generation_;
  if (!changed) return;
  auto view = std::make_unique<DataplaneView>();
  for (Provider& p : providers_) {
    p.published_version = p.neighbors.version();
    std::shared_ptr<const NeighborSnapshot> neighbors = p.neighbors.Snapshot();
    ProviderRoute route;
    route.port = p.port;
    route.neighbors = neighbors;
    // The route's subnet and gateway are the neighbour table's: one source of truth.
    route.subnet = neighbors->subnet();
    route.gateway = neighbors->gateway();
    view->providers.push_back(std::move(route));
  }
  if (snap != nullptr) {
    view->backend_hops = ResolveBackendHops(*view, *snap, shared_->ports);
    view_generation_ = snap->generation;
  }
  view_->Publish(std::move(view));
}

bool Controller::SendArpRequest(uint16_t port, Ipv4Be target) {
  rte_mbuf* m = rte_pktmbuf_alloc(shared_->pool);
  if (m == nullptr) return counters_.Drop(DropReason::kMbufPoolExhausted), false;
  const PortInfo& info = shared_->ports[port];
  const size_t len = BuildArpRequest(info.mac, info.address, target, kUntagged, Room(m));
  SetFrameLength(m, static_cast<uint16_t>(len));
  Send(port, m);
  return true;
}

bool Controller::SendArpReply(uint16_t port, const ParsedPacket& request) {
  rte_mbuf* m = rte_pktmbuf_alloc(shared_->pool);
  if (m == nullptr) return counters_.Drop(DropReason::kMbufPoolExhausted), false;
  const size_t len = BuildArpReply(request.arp, request.vlan_id, shared_->ports[port].mac, Room(m));
  SetFrameLength(m, static_cast<uint16_t>(len));
  Send(port, m);
  return true;
}

bool Controller::SendAnnouncement(uint16_t port, Ipv4Be ip) {
  rte_mbuf* m = rte_pktmbuf_alloc(shared_->pool);
  if (m == nullptr) return counters_.Drop(DropReason::kMbufPoolExhausted), false;
  const size_t len = BuildGratuitousArp(shared_->ports[port].mac, ip, kUntagged, Room(m));
  SetFrameLength(m, static_cast<uint16_t>(len));
  Send(port, m);
  return true;
}

void Controller::Send(uint16_t port, rte_mbuf* m) {
  m->port = port;
  if (rte_ring_sp_enqueue(to_worker_, m) != 0) DropPacket(counters_, m, DropReason::kTxRingFull);
}

void Controller::EnableHealthProbes(control::HealthReports* reports) {
  health_reports_ = reports;
  prober_ = std::make_unique<HealthProber>(rte_rdtsc());
}

// Workers pass on every provider segment to a probe port; a probe's answer also comes to one of
// the NAT IPs (a frame held for a neighbour goes to a backend).
bool Controller::IsProbeAnswer(const ParsedPacket& p, const control::Snapshot& snap) const {
  return nat::IsProbePort(p.key.tuple.dst_port) && snap.IsNatIp(p.key.tuple.dst_ip);
}

void Controller::HandleProbeAnswer(const rte_mbuf* m, const ParsedPacket& p, nat::TimeMs now) {
  if (!prober_) return NoteDrop(counters_, m, DropReason::kProbeStray);
  const PacketView frame(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len);
  if (!TcpChecksumIntact(frame, p)) return NoteDrop(counters_, m, DropReason::kTcpBadChecksum);
  const bool matched = prober_->OnArrival(
      ProbeArrival{.tuple = p.key.tuple,
                   .seq = frame.LoadHost32(p.l4_offset + kTcpSeqOffset),
                   .ack = frame.LoadHost32(p.l4_offset + kTcpAckOffset),
                   .flags = p.tcp_flags,
                   .payload = {rte_pktmbuf_mtod(m, const uint8_t*) + p.l4_offset + p.tcp_header_len,
                               p.tcp_payload_len()}},
      now);
  if (!matched) NoteDrop(counters_, m, DropReason::kProbeStray);
  RunProber(*reader_.Current(), now);
}

void Controller::RunProber(const control::Snapshot& snap, nat::TimeMs now) {
  prober_->Sync(snap, now);
  if (now >= next_probe_tick_ms_) {
    prober_->Tick(now);
    next_probe_tick_ms_ = now + kProbeTickMs;
  }
  for (const ProbeSegment& s : prober_->TakeSegments()) SendProbeSegment(s, now);
  for (const control::ProbeReport& r : prober_->TakeReports()) {
    if (health_reports_ != nullptr) health_reports_->Report(r);
  }
}

// From the NAT IP through the provider port that reaches the backend, like a translated frame:
// the view's resolved hop, or held here until ARP finds the next hop's MAC.
void Controller::SendProbeSegment(const ProbeSegment& s, nat::TimeMs now) {
  rte_mbuf* m = rte_pktmbuf_alloc(shared_->pool);
  if (m == nullptr) return counters_.Drop(DropReason::kMbufPoolExhausted);
  const uint16_t len = WriteTcpSegment(
      rte_pktmbuf_mtod(m, uint8_t*) + kEthHeaderLen,
      TcpSegment{
          .tuple = s.tuple,
          .seq = s.seq,
          .ack = s.ack,
          .flags = s.flags,
          .window = kProbeWindow,
          .payload = {reinterpret_cast<const uint8_t*>(s.payload.data()), s.payload.size()}});
  const Datagram d{m, kEthHeaderLen, len};
  const DataplaneView& view = *view_->latest();
  if (const BackendHop* hop = view.backend_hops.Find(s.tuple.dst_ip)) {
    FrameDatagram(d, hop->dst_mac, hop->src_mac, 0);
    counters_.probe_segments_sent.Add(1);
    return Send(hop->port, m);
  }
  const ProviderRoute* route = view.RouteTo(s.tuple.dst_ip);
  Provider* provider = route != nullptr ? ProviderOf(route->port) : nullptr;
  if (provider == nullptr) return DropPacket(counters_, m, DropReason::kNoProviderRoute);
  FrameDatagram(d, kZeroMac, shared_->ports[provider->port].mac, 0);
  counters_.probe_segments_sent.Add(1);
  HoldForNeighbor(*provider, m, now);
}

Controller::Provider* Controller::ProviderOf(uint16_t port) {
  for (Provider& p : providers_) {
    if (p.port == port) return &p;
  }
  return nullptr;
}

bool Controller::IsOurProviderAddress(Ipv4Be ip, const control::Snapshot& snap) const {
  for (const Provider& p : providers_) {
    if (shared_->ports[p.port].address == ip && ip != 0) return true;
  }
  return snap.IsNatIp(ip);
}

void Controller::Drain() {
  for (Provider& p : providers_) {
    for (const PacketHandle h : p.neighbors.TakeAllHeld()) {
      rte_pktmbuf_free(reinterpret_cast<rte_mbuf*>(h));
    }
  }
  void* m;
  while (rte_ring_sc_dequeue(shared_->to_control, &m) == 0) {
    rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
  }
}

}  // namespace privlink::dataplane
