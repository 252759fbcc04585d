// A complete single-worker dataplane in one process, without lcores: the in-process assembly
// (dataplane/in_process.h) with three net_ring ports (the test enqueues frames on a port's RX
// ring and dequeues what the worker sent from its TX ring), flow table, the neighbour view, a
// Worker and a VirtualClock, and a control plane with a seeded model and its snapshot publisher.
// Tests call Poll() to run one worker iteration. With HarnessOptions::controller it also holds
// the control thread's Controller, wired as Dataplane::Start wires it; PollController() runs one
// of its rounds.
//
// The topology every test shares (client 10.0.0.2 in both consumer networks):
//   consumer0 (port 0): network "a", untagged; PE "pe-a" 10.0.0.100 (Approved)
//   consumer1 (port 1): network "b", VLAN 20;  PE "pe-b" 10.0.0.100 (Approved)
//   both networks also hold a Pending PE at 10.0.0.101 ("pe-a-pending", "pe-b-pending")
//   provider0 (port 2): 192.168.10.0/24, address 192.168.10.1
//   service "svc": rule 80 -> 8080, backends 192.168.10.11-13, NAT IPs 192.168.10.200/.201
#pragma once

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "control/model/model.h"
#include "control/model/uuid.h"
#include "control/plane/control_plane.h"
#include "control/snapshot/snapshot.h"
#include "dataplane/control_thread/controller.h"
#include "dataplane/offline/in_process.h"
#include "dataplane/packet/drop_reason.h"
#include "dataplane/worker/view.h"
#include "dataplane/worker/worker.h"
#include "lb/maglev.h"
#include "nat/flow_table.h"
#include "nat/inet.h"
#include "nat/port_alloc.h"
#include "tests/dataplane/framework/packet_builder.h"

namespace privlink::dataplane::testing {

// Port indices (DataplaneShared::ports).
inline constexpr uint16_t kConsumer0 = 0;
inline constexpr uint16_t kConsumer1 = 1;
inline constexpr uint16_t kProvider = 2;
inline constexpr uint16_t kPortCount = 3;
// The flow table's RCU thread id left for a FlowReader (registered, offline).
inline constexpr uint32_t kFlowReaderRcuId = 1;

inline constexpr MacAddress kConsumer0Mac = {0x02, 0x00, 0x00, 0x00, 0xc0, 0x00};
inline constexpr MacAddress kConsumer1Mac = {0x02, 0x00, 0x00, 0x00, 0xc1, 0x00};
inline constexpr MacAddress kProviderMac = {0x02, 0x00, 0x00, 0x00, 0xb0, 0x00};
inline constexpr std::array<MacAddress, kPortCount> kPortMacs = {kConsumer0Mac, kConsumer1Mac,
                                                                 kProviderMac};

inline constexpr uint16_t kNetworkBVlan = 20;
inline constexpr Ipv4Be kClientIp = Ipv4(10, 0, 0, 2);
inline constexpr Ipv4Be kPeIp = Ipv4(10, 0, 0, 100);
inline constexpr Ipv4Be kPendingPeIp = Ipv4(10, 0, 0, 101);
inline constexpr uint16_t kFrontendPort = 80;
inline constexpr uint16_t kBackendPort = 8080;
// UDP rules: kFrontendPort -> kBackendPort (beside TCP's on the same port) and DNS.
inline constexpr uint16_t kDnsPort = 53;
inline constexpr uint16_t kDnsBackendPort = 5353;
inline constexpr uint32_t kVxlanVni = 100;
inline constexpr Ipv4Be kVxlanLocalIp = Ipv4(172, 16, 0, 1);
inline constexpr Ipv4Be kProviderAddress = Ipv4(192, 168, 10, 1);
inline constexpr std::array<Ipv4Be, 3> kBackends = {Ipv4(192, 168, 10, 11), Ipv4(192, 168, 10, 12),
                                                    Ipv4(192, 168, 10, 13)};
// Not in the seed: AddBackend() adds it (its MAC is in the neighbour view from the start).
inline constexpr Ipv4Be kExtraBackend = Ipv4(192, 168, 10, 14);
inline constexpr std::array<Ipv4Be, 2> kNatIps = {Ipv4(192, 168, 10, 200), Ipv4(192, 168, 10, 201)};
inline constexpr uint16_t kFirstNatPort = nat::kDefaultFirstNatPort;

inline constexpr char kService[] = "svc";
inline constexpr char kEndpointA[] = "pe-a";
inline constexpr char kEndpointB[] = "pe-b";

// 02:00:00:00:be:<last octet of the backend's address>.
inline MacAddress BackendMac(Ipv4Be backend) {
  return {0x02, 0x00, 0x00, 0x00, 0xbe, static_cast<uint8_t>(Be32ToHost(backend))};
}

struct HarnessOptions {
  // false: the neighbour view knows no backend MAC, so translated packets go to the control ring.
  bool backend_macs = true;
  // true: also a Controller for the provider port (192.168.10.0/24, no gateway), reading the
  // to_control ring and sending through the worker's from_control ring. It publishes its own
  // neighbour view at once, replacing the one `backend_macs` describes: no MAC is known.
  bool controller = false;
  // With the Controller: it probes backends and reports to the harness's control plane.
  bool health_probes = false;
  // Sizes, small in the exhaustion tests (tests/dataplane/resilience_test.cc).
  uint32_t flow_capacity = 4096;
  unsigned pool_size = 511;     // no per-lcore cache, so the in-use count is exact
  unsigned tx_ring_size = 512;  // each port's TX ring (holds one less)
  uint16_t nat_first_port = nat::kDefaultFirstNatPort;
  uint16_t nat_last_port = nat::kDefaultLastNatPort;
  uint32_t nat_quarantine_ms = nat::kDefaultPortQuarantineMs;
  uint32_t maglev_table_size = lb::kDefaultMaglevTableSize;
  bool verify_all_tcp_checksums = false;  // dataplane.verifyTcpChecksum: all
  uint16_t consumer0_mss_clamp = 0;       // consumer0's mssClamp (PortInfo::mss_clamp)
  // Also network "v": VXLAN VNI kVxlanVni on consumer0 (local IP kVxlanLocalIp), with endpoint
  // "pe-v" (Approved) at kPeIp and "pe-v-pending" at kPendingPeIp.
  bool vxlan_network = false;
};

struct ControlFrame {
  uint16_t port = 0;  // mbuf->port: the port index the worker tagged it with
  std::vector<uint8_t> bytes;
};

class WorkerHarness {
 public:
  // Throws std::runtime_error when a DPDK object cannot be made.
  explicit WorkerHarness(const HarnessOptions& options = {});
  ~WorkerHarness();
  WorkerHarness(const WorkerHarness&) = delete;
  WorkerHarness& operator=(const WorkerHarness&) = delete;

  // Queues a frame on `port`'s RX ring (one mbuf, one segment), with the mbuf's offload flags as
  // a NIC would set them (RTE_MBUF_F_RX_IP_CKSUM_GOOD, ...; 0: no checksum verdict).
  void Inject(uint16_t port, const std::vector<uint8_t>& frame, uint64_t ol_flags = 0);
  void Inject(uint16_t port, const Frame& frame, uint64_t ol_flags = 0) {
    Inject(port, frame.bytes, ol_flags);
  }
  // `count` copies of `frame` on `port`'s RX ring (bulk: for the load tests' millions of packets).
  void InjectCopies(uint16_t port, const std::vector<uint8_t>& frame, unsigned count);
  // Frees what the worker sent on `port` without copying it out; returns how many frames.
  unsigned DiscardSent(uint16_t port);
  // One worker iteration (PollOnce); returns the packets it received.
  uint32_t Poll();
  // What the worker sent on `port` since the last call, oldest first; the mbufs are freed.
  std::vector<std::vector<uint8_t>> TakeSent(uint16_t port);
  // What the worker handed to the control thread; the mbufs are freed.
  std::vector<ControlFrame> TakeToControl();
  unsigned ToControlCount() const;

  // ---- the Controller (HarnessOptions::controller) ----
  // Queues a frame for the control thread as a worker does (SendToControl): mbuf->port = `port`.
  void ToControl(uint16_t port, const std::vector<uint8_t>& frame);
  void ToControl(uint16_t port, const Frame& frame) { ToControl(port, frame.bytes); }
  // One Controller round (Controller::Poll).
  uint32_t PollController();
  // What the Controller queued for the worker to send, oldest first; the mbufs are freed.
  std::vector<ControlFrame> TakeFromControl();
  Controller& controller() { return *dataplane_->controller(); }
  uint64_t ControllerDropCount(DropReason reason) const;
  // The neighbour view workers read now (the Controller's latest publication).
  const DataplaneView& view() const { return *dataplane_->view().latest(); }

  uint64_t DropCount(DropReason reason) const;
  uint64_t TotalDrops() const;
  // Mbufs of the pool not in the pool: frames queued on rings, or leaked.
  unsigned MbufsInUse() const;

  // ---- the model: each change publishes a new snapshot at once ----
  absl::Status Change(
      const std::function<absl::Status(control::Model&, const control::WorkflowContext&)>& mutate);
  absl::Status ApproveConnection(std::string_view endpoint);
  absl::Status RejectConnection(std::string_view endpoint);
  absl::Status DeleteConnection(std::string_view endpoint);
  absl::Status SetTeardown(control::TeardownPolicy policy);
  // Network "c" (consumer0, VLAN 30), service "svc2" (NAT IP 192.168.10.210, backend
  // 192.168.10.21, 443 -> 8443) and its Approved endpoint "pe-c" in network c.
  absl::Status AddUnrelatedResources();
  // Appends a backend to svc's list (Maglev moves some keys to it).
  absl::Status AddBackend(Ipv4Be backend);
  absl::Status RemoveBackend(Ipv4Be backend);

  const control::Snapshot& snapshot() const { return *control_->publisher().latest(); }
  control::ControlPlane& control() { return *control_; }
  rte_mempool* pool() const { return dataplane_->pool(); }
  Worker& worker() { return dataplane_->worker(0); }
  nat::VirtualClock& clock() { return dataplane_->clock(); }
  nat::FlowTable& flows() { return dataplane_->flows(); }
  DataplaneShared& shared() { return dataplane_->shared(); }

 private:
  void PublishOwnView();

  std::unique_ptr<control::UuidGenerator> uuids_;
  std::unique_ptr<control::ControlPlane> control_;  // its publisher outlives the dataplane
  std::unique_ptr<InProcessDataplane> dataplane_;
};

}  // namespace privlink::dataplane::testing
