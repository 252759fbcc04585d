// Offline replay: the daemon's dataplane in one process and one thread, fed from traces instead
// of NICs. ReplayPipeline builds the control plane from the config's resources and the
// dataplane Dataplane::Start builds (dataplane/in_process.h: net_ring ports, flow table,
// workers, Controller), and drives the same code privlinkd runs: PollOnce for each worker in
// turn, Controller::Poll for the control thread's part (ARP, held packets). With several workers
// each frame goes to the queue a NIC's RSS would pick (dataplane/rss.h), so the two directions
// of a connection often meet different workers, as in the daemon. Only time differs: a
// VirtualClock set from the frames' timestamps, so a run is deterministic and timeouts replay
// as they would have happened.
//
//   auto pipeline = ReplayPipeline::Create(config);      // the EAL must be initialised
//   (*pipeline)->OnSent([](uint16_t port, std::span<const uint8_t> frame, uint64_t us) {...});
//   (*pipeline)->Feed(*(*pipeline)->PortIndex("consumer0"), frame, time_us);  // time order
//   (*pipeline)->Flush();
//   ReplaySummary s = (*pipeline)->Summary();
#pragma once

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "control/config/daemon_config.h"
#include "control/plane/control_plane.h"
#include "dataplane/offline/in_process.h"
#include "dataplane/packet/drop_reason.h"
#include "dataplane/worker/worker.h"
#include "nat/flow_table.h"

namespace privlink::dataplane {

// Microseconds since the Unix epoch, as pcap records carry them.
using ReplayTimeUs = uint64_t;

// pcap's largest snap length: a capture of GSO-merged segments (tcpdump on a veth) holds frames
// past 64 KiB. Frames over one mbuf's data room are chained, and dropped as multi_segment.
inline constexpr size_t kMaxReplayFrame = 262144;

// A port without "mac" in the config answers to 02:00:00:00:00:NN, NN = its position in
// dataplane.ports counting from 1 (net_ring devices have no MAC of their own).
MacAddress DefaultReplayMac(uint16_t port_index);

struct ReplayPortSummary {
  std::string name;
  PortRole role = PortRole::kConsumer;
  uint64_t frames_in = 0;   // fed
  uint64_t frames_out = 0;  // sent by the worker
};

// One worker's share (its queue on every port).
struct ReplayWorkerSummary {
  uint64_t packets_polled = 0;
  uint64_t busy_cycles = 0;
  uint64_t flows_created = 0;
  uint64_t translated_to_providers = 0;
  uint64_t translated_to_consumers = 0;
  uint64_t foreign_packets = 0;  // CounterSet::foreign_packets
  uint64_t foreign_icmp_errors = 0;
};

struct ReplaySummary {
  std::vector<ReplayPortSummary> ports;      // config order
  std::vector<ReplayWorkerSummary> workers;  // by index; the totals below are their sums
  uint64_t flows_created = 0;
  uint64_t flows_expired = 0;
  uint64_t flows_live = 0;               // in the table at the end
  uint64_t translated_to_providers = 0;  // packets translated on a flow, consumer -> provider
  uint64_t translated_to_consumers = 0;  // and back
  // Packets of a flow that reached a worker other than its creator (ICMP errors apart).
  uint64_t foreign_packets = 0;
  uint64_t foreign_icmp_errors = 0;
  std::array<uint64_t, kDropReasonCount> drops{};  // worker and control thread together
  uint64_t drops_total = 0;
  uint64_t held_at_end = 0;  // frames still waiting for a neighbour's ARP reply
  uint64_t reordered = 0;    // frames fed with a time before the previous one (replayed at it)
  // Workers' cost: TSC cycles spent in PollOnce calls that received packets, and those packets.
  uint64_t busy_cycles = 0;
  uint64_t busy_polls = 0;
  uint64_t packets_polled = 0;
  double cycles_per_packet() const {
    return packets_polled == 0 ? 0.0 : static_cast<double>(busy_cycles) / packets_polled;
  }
  ReplayTimeUs first_time_us = 0;  // the clock's start and end (virtual time)
  ReplayTimeUs last_time_us = 0;
};

struct ReplayOptions {
  uint32_t workers = 1;  // each with its RX and TX queue on every port, polled in turn
  // The NAT port range (the daemon's is the default); tests narrow it to run out of ports.
  uint16_t nat_first_port = nat::kDefaultFirstNatPort;
  uint16_t nat_last_port = nat::kDefaultLastNatPort;
};

class ReplayPipeline {
 public:
  // A frame the worker sent on `port` (an index into the config's ports), at virtual time `time`.
  using SentSink =
      std::function<void(uint16_t port, std::span<const uint8_t> frame, ReplayTimeUs time)>;
  // A frame the dataplane dropped (worker or control thread), as it was when dropped.
  using DropSink =
      std::function<void(DropReason reason, std::span<const uint8_t> frame, ReplayTimeUs time)>;

  // The dataplane of `config` with options.workers workers (dataplane.workers and devices are
  // ignored; NAT ports are sliced among the workers as in the daemon). The EAL must be
  // initialised (InitReplayEal). Several pipelines may live in one process.
  static absl::StatusOr<std::unique_ptr<ReplayPipeline>> Create(const control::DaemonConfig& config,
                                                                const ReplayOptions& options = {});
  ~ReplayPipeline();
  ReplayPipeline(const ReplayPipeline&) = delete;
  ReplayPipeline& operator=(const ReplayPipeline&) = delete;

  std::optional<uint16_t> PortIndex(std::string_view name) const;
  const std::vector<PortInfo>& ports() const { return dataplane_->ports(); }

  void OnSent(SentSink sink) { sent_sink_ = std::move(sink); }
  // Setting a sink turns on the drop tap (worker and control thread); unset, drops are counted
  // only, as in the daemon.
  void OnDropped(DropSink sink);

  // Queues `frame` on `port`'s RX ring at `time` (the ring of the queue RSS picks). Workers run
  // first when time moves to a new
  // millisecond (then the clock moves, and expiry and neighbour timers catch up in steps of at
  // most 100 ms), when frames of another port wait (trace order is kept across ports), and after
  // a full burst. A time before the previous frame's is replayed at the previous one.
  // Errors: an unknown port, a frame over kMaxReplayFrame, or no mbuf left.
  absl::Status Feed(uint16_t port, std::span<const uint8_t> frame, ReplayTimeUs time);
  // Runs the workers and the control thread until no frame waits on any ring (held packets stay
  // held until their neighbour answers or time runs out for them).
  void Flush();

  ReplaySummary Summary() const;
  ReplayTimeUs now() const { return now_us_; }

  // The pieces, for tests and tools that look inside.
  uint32_t worker_count() const { return dataplane_->worker_count(); }
  const Worker& worker(uint32_t index = 0) const { return dataplane_->worker(index); }
  const control::Snapshot& snapshot() const { return *control_->publisher().latest(); }
  const nat::FlowTable& flows() const { return dataplane_->flows(); }
  // For privlink-bench, which fills the RX rings and empties the TX rings itself (no copy
  // through Feed, no sink) and calls PollOnce on each worker directly (worker q: queue q).
  Worker& mutable_worker(uint32_t index = 0) { return dataplane_->worker(index); }
  rte_ring* rx_ring(uint16_t port, uint32_t queue = 0) const {
    return dataplane_->rx_ring(port, queue);
  }
  rte_ring* tx_ring(uint16_t port, uint32_t queue = 0) const {
    return dataplane_->tx_ring(port, queue);
  }
  rte_mempool* pool() const { return dataplane_->pool(); }
  // privlink-bench keeps the clock on real time (so the worker's paced expiry sweep costs what it
  // costs in the daemon), changes the model while traffic runs, and runs the control thread's
  // round (ARP, the view with resolved backends) itself. The clock may be set while other
  // threads run workers (nat::VirtualClock); the rest of this class is for one thread.
  void SetClock(ReplayTimeUs time) {
    dataplane_->clock().Set(time / 1000);
    now_us_ = time;
  }
  control::ControlPlane& control_plane() { return *control_; }
  void PollControlThread();

 private:
  ReplayPipeline() = default;
  absl::Status Build(const control::DaemonConfig& config, const ReplayOptions& options);
  nat::VirtualClock& clock() { return dataplane_->clock(); }
  void Start(ReplayTimeUs time);
  void AdvanceTo(ReplayTimeUs time);
  void PollWorkers();
  void CollectSent();
  void Settle();
  void SweepExpiry();
  bool RingsEmpty() const;
  rte_mbuf* FrameToMbuf(std::span<const uint8_t> frame);
  static void SeeDrop(void* context, const rte_mbuf* frame, DropReason reason);

  ReplayTimeUs now_us_ = 0;
  bool started_ = false;
  std::unique_ptr<control::UuidGenerator> uuids_;
  std::unique_ptr<control::ControlPlane> control_;  // its publisher outlives the dataplane
  std::unique_ptr<InProcessDataplane> dataplane_;

  SentSink sent_sink_;
  DropSink drop_sink_;
  DropTap drop_tap_;
  std::optional<uint16_t> waiting_port_;  // the port whose frames wait on its RX rings
  std::vector<uint64_t> frames_in_;
  std::vector<uint64_t> frames_out_;
  std::vector<uint8_t> scratch_;
  ReplaySummary stats_;  // the cost and time fields; the rest is read from counters
};

// Initialises DPDK's EAL for replay: no hugepages, PCI devices, shared files or telemetry; a
// per-process file prefix; enough memory for a pipeline or two; DPDK's own logs only on error.
// `lcores` lcores on the first CPUs this process may run on (the main lcore on the first), for
// callers that run workers on lcores of their own (privlink-bench); fewer CPUs is an error.
absl::Status InitReplayEal(std::string_view program, unsigned lcores = 1);

}  // namespace privlink::dataplane
