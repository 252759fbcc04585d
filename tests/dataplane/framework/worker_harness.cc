#include "tests/dataplane/framework/worker_harness.h"

#include <rte_mempool.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "control/model/workflow.h"
#include "dataplane/worker/worker_loop.h"

namespace privlink::dataplane::testing {
namespace {

using control::Model;
using control::WorkflowContext;

constexpr unsigned kRxRingSize = 64;
constexpr unsigned kToControlRingSize = 256;
constexpr unsigned kFromControlRingSize = 256;
constexpr nat::TimeMs kClockStartMs = 1'000'000;
constexpr char kConsumerSubscription[] = "sub-consumer";  // auto-approved by svc
constexpr char kOtherSubscription[] = "sub-other";        // visible, so its connection is Pending

void Require(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("worker harness: " + what);
}

control::Network MakeNetwork(std::string name, std::string port, uint16_t vlan) {
  control::Network n;
  n.name = std::move(name);
  n.port = std::move(port);
  n.vlan = vlan;
  return n;
}

control::PrivateEndpoint MakeEndpoint(std::string name, std::string subscription,
                                      std::string network, Ipv4Be ip, std::string service) {
  control::PrivateEndpoint e;
  e.name = std::move(name);
  e.subscription = std::move(subscription);
  e.network = std::move(network);
  e.ip = ip;
  e.private_link_service = std::move(service);
  return e;
}

control::ResourceDocument SeedDocument(const HarnessOptions& options) {
  control::ResourceDocument doc;
  doc.networks = {MakeNetwork("a", "consumer0", 0), MakeNetwork("b", "consumer1", kNetworkBVlan)};
  if (options.vxlan_network) {
    control::Network v = MakeNetwork("v", "consumer0", 0);
    v.vxlan = control::VxlanNetwork{.vni = kVxlanVni, .local_ip = kVxlanLocalIp};
    doc.networks.push_back(std::move(v));
  }
  control::ServiceRequest svc;
  svc.service.name = kService;
  svc.service.subscription = "sub-provider";
  svc.service.load_balancing_rules = {{kFrontendPort, kBackendPort},
                                      {kFrontendPort, kBackendPort, control::RuleProtocol::kUdp},
                                      {kDnsPort, kDnsBackendPort, control::RuleProtocol::kUdp}};
  for (const Ipv4Be b : kBackends) svc.service.backends.push_back({b, 1, {}});
  svc.service.nat_ips = {kNatIps.begin(), kNatIps.end()};
  svc.service.visibility = {"*"};
  svc.service.auto_approval = {kConsumerSubscription};
  doc.services = {svc};
  doc.endpoints = {
      MakeEndpoint(kEndpointA, kConsumerSubscription, "a", kPeIp, kService),
      MakeEndpoint(kEndpointB, kConsumerSubscription, "b", kPeIp, kService),
      MakeEndpoint("pe-a-pending", kOtherSubscription, "a", kPendingPeIp, kService),
      MakeEndpoint("pe-b-pending", kOtherSubscription, "b", kPendingPeIp, kService),
  };
  if (options.vxlan_network) {
    doc.endpoints.push_back(MakeEndpoint("pe-v", kConsumerSubscription, "v", kPeIp, kService));
    doc.endpoints.push_back(
        MakeEndpoint("pe-v-pending", kOtherSubscription, "v", kPendingPeIp, kService));
  }
  return doc;
}

absl::Status StatusOf(const absl::StatusOr<control::ChangeKind>& r) {
  return r.status();
}

}  // namespace

WorkerHarness::WorkerHarness(const HarnessOptions& options) {
  uuids_ = std::make_unique<control::RandomUuidGenerator>(42);
  control::ControlPlaneOptions cp_options;
  cp_options.consumer_ports = {"consumer0", "consumer1"};
  cp_options.max_readers = options.controller ? 2 : 1;
  cp_options.maglev_table_size = options.maglev_table_size;
  auto plane =
      control::ControlPlane::Create(cp_options, nullptr, SeedDocument(options), uuids_.get());
  Require(plane.ok(), "control plane: " + std::string(plane.status().message()));
  control_ = std::move(*plane);

  InProcessOptions in;
  const std::array<const char*, kPortCount> port_names = {"consumer0", "consumer1", "provider0"};
  for (uint16_t i = 0; i < kPortCount; ++i) {
    in.ports.push_back({.name = port_names[i],
                        .role = i == kProvider ? PortRole::kProvider : PortRole::kConsumer,
                        .mac = kPortMacs[i],
                        .address = i == kProvider ? kProviderAddress : 0,
                        // The tests inject frames with a NIC's checksum verdicts (Inject).
                        .checksum_verdicts = true,
                        .mss_clamp = i == kConsumer0 ? options.consumer0_mss_clamp : uint16_t{0}});
  }
  in.workers = 1;
  in.flow_capacity = options.flow_capacity;
  in.flow_readers = 1;  // RCU thread id kFlowReaderRcuId
  in.pool_size = options.pool_size;
  in.pool_cache = 0;  // MbufsInUse is exact
  in.rx_ring_size = kRxRingSize;
  in.tx_ring_size = options.tx_ring_size;
  in.to_control_ring_size = kToControlRingSize;
  in.from_control_ring_size = kFromControlRingSize;
  in.nat_first_port = options.nat_first_port;
  in.nat_last_port = options.nat_last_port;
  in.nat_quarantine_ms = options.nat_quarantine_ms;
  in.verify_all_tcp_checksums = options.verify_all_tcp_checksums;
  in.clock_start_ms = kClockStartMs;

  NeighborSnapshot::MacMap macs;
  if (options.backend_macs) {
    for (const Ipv4Be b : kBackends) macs[b] = BackendMac(b);
    macs[kExtraBackend] = BackendMac(kExtraBackend);
  }
  auto subnet = Ipv4Subnet::Make(Ipv4(192, 168, 10, 0), 24);
  Require(subnet.ok(), "subnet");
  auto view = std::make_unique<DataplaneView>();
  ProviderRoute route;
  route.port = kProvider;
  route.subnet = *subnet;
  route.neighbors = std::make_shared<const NeighborSnapshot>(*subnet, std::nullopt, macs);
  view->providers.push_back(route);
  in.initial_view = std::move(view);
  if (options.controller) {
    ProviderPortSetup provider;
    provider.port = kProvider;
    provider.subnet = *subnet;
    in.controller = std::vector<ProviderPortSetup>{provider};
    if (options.health_probes) in.health_reports = control_.get();
  }
  auto dataplane = InProcessDataplane::Create(std::move(in), control_->publisher());
  Require(dataplane.ok(), "dataplane: " + std::string(dataplane.status().message()));
  dataplane_ = std::move(*dataplane);
  Require(kFlowReaderRcuId == dataplane_->worker_count(), "flow reader RCU id");
  if (!options.controller) PublishOwnView();
}

// Without a Controller the harness stands in for it: the view's backends resolved in advance,
// again after each change of the model, as the control thread does.
void WorkerHarness::PublishOwnView() {
  ViewPublisher& cell = dataplane_->view();
  auto view = std::make_unique<DataplaneView>();
  view->providers = cell.latest()->providers;
  view->backend_hops =
      ResolveBackendHops(*view, *control_->publisher().latest(), dataplane_->ports());
  cell.Publish(std::move(view));
}

WorkerHarness::~WorkerHarness() {
  dataplane_.reset();  // unregisters its readers from the control plane's publisher
  control_.reset();
}

void WorkerHarness::Inject(uint16_t port, const std::vector<uint8_t>& frame, uint64_t ol_flags) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool());
  m->ol_flags = ol_flags;
  Require(m != nullptr, "mbuf for an injected frame");
  char* data = rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size()));
  Require(data != nullptr, "room for an injected frame");
  std::memcpy(data, frame.data(), frame.size());
  Require(rte_ring_enqueue(dataplane_->rx_ring(port, 0), m) == 0, "RX ring full");
}

void WorkerHarness::InjectCopies(uint16_t port, const std::vector<uint8_t>& frame, unsigned count) {
  rte_mbuf* pkts[kRxRingSize];
  while (count > 0) {
    const unsigned n = std::min(count, kRxRingSize - 1);
    Require(rte_pktmbuf_alloc_bulk(pool(), pkts, n) == 0, "mbufs for injected frames");
    for (unsigned i = 0; i < n; ++i) {
      char* data = rte_pktmbuf_append(pkts[i], static_cast<uint16_t>(frame.size()));
      Require(data != nullptr, "room for an injected frame");
      std::memcpy(data, frame.data(), frame.size());
    }
    if (rte_ring_enqueue_bulk(dataplane_->rx_ring(port, 0), reinterpret_cast<void**>(pkts), n,
                              nullptr) != n) {
      rte_pktmbuf_free_bulk(pkts, n);
      Require(false, "RX ring full");
    }
    count -= n;
  }
}

unsigned WorkerHarness::DiscardSent(uint16_t port) {
  rte_mbuf* pkts[64];
  unsigned total = 0;
  unsigned n;
  while ((n = rte_ring_dequeue_burst(dataplane_->tx_ring(port, 0), reinterpret_cast<void**>(pkts),
                                     64, nullptr)) > 0) {
    rte_pktmbuf_free_bulk(pkts, n);
    total += n;
  }
  return total;
}

uint32_t WorkerHarness::Poll() {
  return PollOnce(dataplane_->worker(0));
}

std::vector<std::vector<uint8_t>> WorkerHarness::TakeSent(uint16_t port) {
  std::vector<std::vector<uint8_t>> out;
  void* obj;
  while (rte_ring_dequeue(dataplane_->tx_ring(port, 0), &obj) == 0) {
    auto* m = static_cast<rte_mbuf*>(obj);
    Require(m->nb_segs == 1 && m->pkt_len == m->data_len, "sent mbuf with inconsistent lengths");
    const auto* data = rte_pktmbuf_mtod(m, const uint8_t*);
    out.emplace_back(data, data + m->data_len);
    rte_pktmbuf_free(m);
  }
  return out;
}

std::vector<ControlFrame> WorkerHarness::TakeToControl() {
  std::vector<ControlFrame> out;
  void* obj;
  while (dataplane_->to_control() != nullptr &&
         rte_ring_dequeue(dataplane_->to_control(), &obj) == 0) {
    auto* m = static_cast<rte_mbuf*>(obj);
    const auto* data = rte_pktmbuf_mtod(m, const uint8_t*);
    out.push_back({m->port, std::vector<uint8_t>(data, data + m->data_len)});
    rte_pktmbuf_free(m);
  }
  return out;
}

unsigned WorkerHarness::ToControlCount() const {
  return rte_ring_count(dataplane_->to_control());
}

void WorkerHarness::ToControl(uint16_t port, const std::vector<uint8_t>& frame) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool());
  Require(m != nullptr, "mbuf for a frame to the control thread");
  char* data = rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size()));
  Require(data != nullptr, "room for a frame to the control thread");
  std::memcpy(data, frame.data(), frame.size());
  m->port = port;
  Require(rte_ring_enqueue(dataplane_->to_control(), m) == 0, "control ring full");
}

uint32_t WorkerHarness::PollController() {
  return controller().Poll();
}

std::vector<ControlFrame> WorkerHarness::TakeFromControl() {
  std::vector<ControlFrame> out;
  void* obj;
  while (dataplane_->from_control() != nullptr &&
         rte_ring_dequeue(dataplane_->from_control(), &obj) == 0) {
    auto* m = static_cast<rte_mbuf*>(obj);
    Require(m->nb_segs == 1 && m->pkt_len == m->data_len, "mbuf with inconsistent lengths");
    const auto* data = rte_pktmbuf_mtod(m, const uint8_t*);
    out.push_back({m->port, std::vector<uint8_t>(data, data + m->data_len)});
    rte_pktmbuf_free(m);
  }
  return out;
}

uint64_t WorkerHarness::ControllerDropCount(DropReason reason) const {
  return dataplane_->controller()->counters().drops[static_cast<size_t>(reason)].Read();
}

uint64_t WorkerHarness::DropCount(DropReason reason) const {
  return dataplane_->worker(0).counters.drops[static_cast<size_t>(reason)].Read();
}

uint64_t WorkerHarness::TotalDrops() const {
  uint64_t total = 0;
  for (const Counter& c : dataplane_->worker(0).counters.drops) total += c.Read();
  return total;
}

unsigned WorkerHarness::MbufsInUse() const {
  return rte_mempool_in_use_count(pool());
}

absl::Status WorkerHarness::Change(
    const std::function<absl::Status(Model&, const WorkflowContext&)>& mutate) {
  absl::Status changed = control_->Change(mutate);
  if (changed.ok() && dataplane_->controller() == nullptr) PublishOwnView();
  return changed;
}

absl::Status WorkerHarness::ApproveConnection(std::string_view endpoint) {
  return Change([&](Model& m, const WorkflowContext&) {
    return StatusOf(control::ApproveConnection(m, kService, endpoint, ""));
  });
}

absl::Status WorkerHarness::RejectConnection(std::string_view endpoint) {
  return Change([&](Model& m, const WorkflowContext&) {
    return StatusOf(control::RejectConnection(m, kService, endpoint, ""));
  });
}

absl::Status WorkerHarness::DeleteConnection(std::string_view endpoint) {
  return Change([&](Model& m, const WorkflowContext&) {
    return control::DeleteConnection(m, kService, endpoint);
  });
}

absl::Status WorkerHarness::SetTeardown(control::TeardownPolicy policy) {
  return Change([&](Model& m, const WorkflowContext&) {
    m.services.MutableAt(kService).connection_teardown = policy;
    return absl::OkStatus();
  });
}

absl::Status WorkerHarness::AddUnrelatedResources() {
  return Change([&](Model& m, const WorkflowContext& context) {
    if (auto s = control::PutNetwork(m, MakeNetwork("c", "consumer0", 30), context, ""); !s.ok()) {
      return s.status();
    }
    control::ServiceRequest svc;
    svc.service.name = "svc2";
    svc.service.subscription = "sub-provider";
    svc.service.load_balancing_rules = {{443, 8443}};
    svc.service.backends = {{Ipv4(192, 168, 10, 21), 1, {}}};
    svc.service.nat_ips = {Ipv4(192, 168, 10, 210)};
    svc.service.visibility = {"*"};
    svc.service.auto_approval = {kConsumerSubscription};
    if (auto s = control::PutService(m, svc, context, ""); !s.ok()) return s.status();
    return StatusOf(control::PutEndpoint(
        m, MakeEndpoint("pe-c", kConsumerSubscription, "c", kPeIp, "svc2"), ""));
  });
}

absl::Status WorkerHarness::AddBackend(Ipv4Be backend) {
  return Change([&](Model& m, const WorkflowContext&) {
    m.services.MutableAt(kService).backends.push_back({backend, 1, {}});
    return absl::OkStatus();
  });
}

absl::Status WorkerHarness::RemoveBackend(Ipv4Be backend) {
  return Change([&](Model& m, const WorkflowContext&) {
    auto& backends = m.services.MutableAt(kService).backends;
    std::erase_if(backends, [&](const auto& b) { return b.ip == backend; });
    return absl::OkStatus();
  });
}

}  // namespace privlink::dataplane::testing
