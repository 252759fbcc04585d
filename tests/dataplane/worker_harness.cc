#include "tests/dataplane/worker_harness.h"

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mempool.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>

#include "control/workflow.h"
#include "dataplane/worker_loop.h"

namespace privlink::dataplane::testing {
namespace {

using control::Model;
using control::WorkflowContext;

constexpr unsigned kRxRingSize = 64;
constexpr unsigned kToControlRingSize = 256;
constexpr unsigned kFromControlRingSize = 256;
// Snapshot reader ids: the worker's, then the Controller's (as Dataplane::Start numbers them).
constexpr unsigned kWorkerReader = 0;
constexpr unsigned kControllerReader = 1;
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

control::ResourceDocument SeedDocument() {
  control::ResourceDocument doc;
  doc.networks = {MakeNetwork("a", "consumer0", 0), MakeNetwork("b", "consumer1", kNetworkBVlan)};
  control::ServiceRequest svc;
  svc.service.name = kService;
  svc.service.subscription = "sub-provider";
  svc.service.load_balancing_rules = {{kFrontendPort, kBackendPort}};
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
  return doc;
}

absl::Status StatusOf(const absl::StatusOr<control::ChangeKind>& r) {
  return r.status();
}

}  // namespace

WorkerHarness::WorkerHarness(const HarnessOptions& options) {
  // DPDK object names are process-wide: every harness gets its own.
  static std::atomic<int> instances{0};
  const int id = instances.fetch_add(1);
  const auto name = [id](const std::string& what, int i = 0) {
    return "wh" + std::to_string(id) + what + std::to_string(i);
  };

  uuids_ = std::make_unique<control::RandomUuidGenerator>(42);
  control::ControlPlaneOptions cp_options;
  cp_options.consumer_ports = {"consumer0", "consumer1"};
  cp_options.max_readers = options.controller ? 2 : 1;
  cp_options.maglev_table_size = options.maglev_table_size;
  auto plane = control::ControlPlane::Create(cp_options, nullptr, SeedDocument(), uuids_.get());
  Require(plane.ok(), "control plane: " + std::string(plane.status().message()));
  control_ = std::move(*plane);

  pool_ = rte_pktmbuf_pool_create(name("pool").c_str(), options.pool_size, 0, 0,
                                  RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  Require(pool_ != nullptr, "mbuf pool");
  shared_.pool = pool_;

  const std::array<const char*, kPortCount> port_names = {"consumer0", "consumer1", "provider0"};
  for (uint16_t i = 0; i < kPortCount; ++i) OpenRingPort(name("p", i), i, options.tx_ring_size);
  for (uint16_t i = 0; i < kPortCount; ++i) {
    PortInfo info;
    info.name = port_names[i];
    info.role = i == kProvider ? PortRole::kProvider : PortRole::kConsumer;
    info.ethdev = ports_[i].ethdev;
    info.mac = kPortMacs[i];
    info.position = i == kProvider ? 0 : i;
    info.address = i == kProvider ? kProviderAddress : 0;
    info.promiscuous = true;
    shared_.ports.push_back(info);
  }
  shared_.consumer_ports = {kConsumer0, kConsumer1};

  // Thread 0 is the worker, kFlowReaderRcuId a flow listing's reader (FlowReader).
  const size_t qsbr_size = rte_rcu_qsbr_get_memsize(kFlowReaderRcuId + 1);
  flow_rcu_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc(nullptr, qsbr_size, RTE_CACHE_LINE_SIZE));
  Require(flow_rcu_ != nullptr && rte_rcu_qsbr_init(flow_rcu_, kFlowReaderRcuId + 1) == 0,
          "flow RCU");
  rte_rcu_qsbr_thread_register(flow_rcu_, kFlowReaderRcuId);
  auto flows = nat::FlowTable::Create(
      {.capacity = options.flow_capacity, .worker_count = 1, .rcu = flow_rcu_});
  Require(flows.ok(), "flow table");
  flows_ = std::move(*flows);
  shared_.flows = flows_.get();
  shared_.flow_rcu = flow_rcu_;

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
  view_ = std::make_unique<RcuCell<DataplaneView>>(1, std::move(view));
  shared_.view = view_.get();

  shared_.to_control =
      rte_ring_create(name("ctl").c_str(), kToControlRingSize, SOCKET_ID_ANY, RING_F_SC_DEQ);
  Require(shared_.to_control != nullptr, "control ring");
  shared_.clock = &clock_;

  auto ports = nat::NatPortAllocator::Create({.first_port = options.nat_first_port,
                                              .last_port = options.nat_last_port,
                                              .worker_count = 1,
                                              .worker_index = 0,
                                              .quarantine_ms = options.nat_quarantine_ms});
  Require(ports.ok(), "NAT port allocator");
  worker_ = std::make_unique<Worker>(0, &shared_, std::move(*ports));
  // The worker's thread is this one: register it with every RCU domain, as WorkerMain does.
  auto reader = control_->publisher().RegisterReader(kWorkerReader);
  Require(reader.ok(), "snapshot reader");
  worker_->snapshot = *reader;
  rte_rcu_qsbr_thread_register(flow_rcu_, 0);
  rte_rcu_qsbr_thread_online(flow_rcu_, 0);
  view_->RegisterReader(0);
  readers_registered_ = true;

  if (options.controller) {
    from_control_ = rte_ring_create(name("fctl").c_str(), kFromControlRingSize, SOCKET_ID_ANY,
                                    RING_F_SP_ENQ | RING_F_SC_DEQ);
    Require(from_control_ != nullptr, "from-control ring");
    worker_->from_control = from_control_;
    auto controller_reader = control_->publisher().RegisterReader(kControllerReader);
    Require(controller_reader.ok(), "controller snapshot reader");
    controller_reader_ = *controller_reader;
    ProviderPortSetup provider;
    provider.port = kProvider;
    provider.subnet = *subnet;
    auto controller =
        Controller::Create(&shared_, view_.get(), controller_reader_, from_control_, {provider});
    Require(controller.ok(), "controller: " + std::string(controller.status().message()));
    controller_ = std::move(*controller);
  } else {
    PublishOwnView();
  }
}

// Without a Controller the harness stands in for it: the view's backends resolved in advance,
// again after each change of the model, as the control thread does.
void WorkerHarness::PublishOwnView() {
  auto view = std::make_unique<DataplaneView>();
  view->providers = view_->latest()->providers;
  view->backend_hops = ResolveBackendHops(*view, *control_->publisher().latest(), shared_.ports);
  view_->Publish(std::move(view));
}

void WorkerHarness::OpenRingPort(const std::string& name, uint16_t index, unsigned tx_ring_size) {
  RingPort& p = ports_[index];
  p.rx = rte_ring_create((name + "r").c_str(), kRxRingSize, SOCKET_ID_ANY,
                         RING_F_SP_ENQ | RING_F_SC_DEQ);
  p.tx = rte_ring_create((name + "t").c_str(), tx_ring_size, SOCKET_ID_ANY,
                         RING_F_SP_ENQ | RING_F_SC_DEQ);
  Require(p.rx != nullptr && p.tx != nullptr, "port rings");
  const int id = rte_eth_from_rings(name.c_str(), &p.rx, 1, &p.tx, 1, SOCKET_ID_ANY);
  Require(id >= 0, "rte_eth_from_rings");
  p.ethdev = static_cast<uint16_t>(id);
  p.open = true;
  // As DPDK's own ring PMD test does: the fast-path ops are installed by rte_eth_dev_start.
  rte_eth_conf conf{};
  Require(rte_eth_dev_configure(p.ethdev, 1, 1, &conf) == 0, "configure " + name);
  Require(rte_eth_rx_queue_setup(p.ethdev, 0, kRxRingSize, SOCKET_ID_ANY, nullptr, pool_) == 0,
          "rx queue " + name);
  Require(rte_eth_tx_queue_setup(p.ethdev, 0, tx_ring_size, SOCKET_ID_ANY, nullptr) == 0,
          "tx queue " + name);
  Require(rte_eth_dev_start(p.ethdev) == 0, "start " + name);
}

WorkerHarness::~WorkerHarness() {
  if (controller_) controller_->Drain();
  if (worker_) DrainWorker(*worker_);
  for (RingPort& p : ports_) {
    void* m;
    for (rte_ring* r : {p.rx, p.tx}) {
      while (r != nullptr && rte_ring_dequeue(r, &m) == 0) {
        rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
      }
    }
  }
  TakeToControl();
  if (readers_registered_) {
    view_->UnregisterReader(0);
    rte_rcu_qsbr_thread_offline(flow_rcu_, 0);
    rte_rcu_qsbr_thread_unregister(flow_rcu_, 0);
    control_->publisher().UnregisterReader(worker_->snapshot);
    if (controller_) control_->publisher().UnregisterReader(controller_reader_);
  }
  controller_.reset();
  worker_.reset();
  view_.reset();
  flows_.reset();
  rte_free(flow_rcu_);
  for (RingPort& p : ports_) {
    if (p.open) {
      rte_eth_dev_stop(p.ethdev);
      rte_eth_dev_close(p.ethdev);
    }
    rte_ring_free(p.rx);
    rte_ring_free(p.tx);
  }
  rte_ring_free(shared_.to_control);
  rte_ring_free(from_control_);
  rte_mempool_free(pool_);
  control_.reset();
}

void WorkerHarness::Inject(uint16_t port, const std::vector<uint8_t>& frame) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  Require(m != nullptr, "mbuf for an injected frame");
  char* data = rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size()));
  Require(data != nullptr, "room for an injected frame");
  std::memcpy(data, frame.data(), frame.size());
  Require(rte_ring_enqueue(ports_[port].rx, m) == 0, "RX ring full");
}

void WorkerHarness::InjectCopies(uint16_t port, const std::vector<uint8_t>& frame, unsigned count) {
  rte_mbuf* pkts[kRxRingSize];
  while (count > 0) {
    const unsigned n = std::min(count, kRxRingSize - 1);
    Require(rte_pktmbuf_alloc_bulk(pool_, pkts, n) == 0, "mbufs for injected frames");
    for (unsigned i = 0; i < n; ++i) {
      char* data = rte_pktmbuf_append(pkts[i], static_cast<uint16_t>(frame.size()));
      Require(data != nullptr, "room for an injected frame");
      std::memcpy(data, frame.data(), frame.size());
    }
    if (rte_ring_enqueue_bulk(ports_[port].rx, reinterpret_cast<void**>(pkts), n, nullptr) != n) {
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
  while ((n = rte_ring_dequeue_burst(ports_[port].tx, reinterpret_cast<void**>(pkts), 64,
                                     nullptr)) > 0) {
    rte_pktmbuf_free_bulk(pkts, n);
    total += n;
  }
  return total;
}

uint32_t WorkerHarness::Poll() {
  return PollOnce(*worker_);
}

std::vector<std::vector<uint8_t>> WorkerHarness::TakeSent(uint16_t port) {
  std::vector<std::vector<uint8_t>> out;
  void* obj;
  while (rte_ring_dequeue(ports_[port].tx, &obj) == 0) {
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
  while (shared_.to_control != nullptr && rte_ring_dequeue(shared_.to_control, &obj) == 0) {
    auto* m = static_cast<rte_mbuf*>(obj);
    const auto* data = rte_pktmbuf_mtod(m, const uint8_t*);
    out.push_back({m->port, std::vector<uint8_t>(data, data + m->data_len)});
    rte_pktmbuf_free(m);
  }
  return out;
}

unsigned WorkerHarness::ToControlCount() const {
  return rte_ring_count(shared_.to_control);
}

void WorkerHarness::ToControl(uint16_t port, const std::vector<uint8_t>& frame) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  Require(m != nullptr, "mbuf for a frame to the control thread");
  char* data = rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size()));
  Require(data != nullptr, "room for a frame to the control thread");
  std::memcpy(data, frame.data(), frame.size());
  m->port = port;
  Require(rte_ring_enqueue(shared_.to_control, m) == 0, "control ring full");
}

uint32_t WorkerHarness::PollController() {
  return controller_->Poll();
}

std::vector<ControlFrame> WorkerHarness::TakeFromControl() {
  std::vector<ControlFrame> out;
  void* obj;
  while (from_control_ != nullptr && rte_ring_dequeue(from_control_, &obj) == 0) {
    auto* m = static_cast<rte_mbuf*>(obj);
    Require(m->nb_segs == 1 && m->pkt_len == m->data_len, "mbuf with inconsistent lengths");
    const auto* data = rte_pktmbuf_mtod(m, const uint8_t*);
    out.push_back({m->port, std::vector<uint8_t>(data, data + m->data_len)});
    rte_pktmbuf_free(m);
  }
  return out;
}

uint64_t WorkerHarness::ControllerDropCount(DropReason reason) const {
  return controller_->counters().drops[static_cast<size_t>(reason)].Read();
}

uint64_t WorkerHarness::DropCount(DropReason reason) const {
  return worker_->counters.drops[static_cast<size_t>(reason)].Read();
}

uint64_t WorkerHarness::TotalDrops() const {
  uint64_t total = 0;
  for (const Counter& c : worker_->counters.drops) total += c.Read();
  return total;
}

unsigned WorkerHarness::MbufsInUse() const {
  return rte_mempool_in_use_count(pool_);
}

absl::Status WorkerHarness::Change(
    const std::function<absl::Status(Model&, const WorkflowContext&)>& mutate) {
  absl::Status changed = control_->Change(mutate);
  if (changed.ok() && !controller_) PublishOwnView();
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
    m.services.at(kService).connection_teardown = policy;
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
    m.services.at(kService).backends.push_back({backend, 1, {}});
    return absl::OkStatus();
  });
}

absl::Status WorkerHarness::RemoveBackend(Ipv4Be backend) {
  return Change([&](Model& m, const WorkflowContext&) {
    auto& backends = m.services.at(kService).backends;
    std::erase_if(backends, [&](const auto& b) { return b.ip == backend; });
    return absl::OkStatus();
  });
}

}  // namespace privlink::dataplane::testing
