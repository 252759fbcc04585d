// The dataplane's part of the control thread: ARP (answers for PE and NAT IPs, the provider
// ports' neighbour tables, gratuitous announcements), packets waiting for a neighbour's MAC, the
// publication of what workers derive from neighbours (DataplaneView), and the backends' health
// probes (dataplane/probe/health_prober.h): it sends their segments and hands them the answers
// workers pass on.
//
// Runs on the main lcore between API work; talks to workers only through rings: frames arrive on
// shared->to_control (any worker), and leave through one worker's from_control ring, so the
// control thread never touches a device queue a worker owns.
#pragma once

#include <rte_ring.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "control/snapshot/backend_health.h"
#include "control/snapshot/snapshot.h"
#include "dataplane/neighbors/neighbor_table.h"
#include "dataplane/packet/parse.h"
#include "dataplane/probe/health_prober.h"
#include "dataplane/worker/counters.h"
#include "dataplane/worker/worker.h"

namespace privlink::dataplane {

struct StaticNeighbor {
  Ipv4Be ip = 0;
  MacAddress mac{};
};

// A provider port's addressing, from the config.
struct ProviderPortSetup {
  uint16_t port = 0;  // index into DataplaneShared::ports
  std::optional<Ipv4Subnet> subnet;
  std::optional<Ipv4Be> gateway;
  std::vector<StaticNeighbor> static_neighbors;
};

class Controller {
 public:
  // `reader` is the control thread's own snapshot handle; `to_worker` the ring of the worker
  // that sends for the control thread.
  static absl::StatusOr<std::unique_ptr<Controller>> Create(
      const DataplaneShared* shared, ViewPublisher* view, control::SnapshotReader reader,
      rte_ring* to_worker, const std::vector<ProviderPortSetup>& providers);

  // One round: frames from workers, neighbour timers, announcements, view publication. Returns
  // the frames handled (0 = nothing to do).
  uint32_t Poll();
  // Shutdown: frees held packets and what the ring still holds.
  void Drain();
  // Probes the backends of every service with a probe, reporting each result to `reports`
  // (which must outlive the controller). Off unless called: replay and tests probe nothing.
  void EnableHealthProbes(control::HealthReports* reports);
  const HealthProber* prober() const { return prober_.get(); }

  const CounterSet& counters() const { return counters_; }
  // Replay: frames the control thread drops are also shown to `tap` (nullptr: counted only).
  void set_drop_tap(const DropTap* tap) { counters_.drop_tap = tap; }

 private:
  struct Provider {
    uint16_t port = 0;
    NeighborTable neighbors;
    uint64_t published_version = ~uint64_t{0};
  };

  Controller(const DataplaneShared* shared, ViewPublisher* view, control::SnapshotReader reader,
             rte_ring* to_worker)
      : shared_(shared), view_(view), reader_(reader), to_worker_(to_worker) {}

  void HandleFrame(rte_mbuf* m, const control::Snapshot& snap, nat::TimeMs now);
  // `m` is the ARP frame itself (freed by the caller), shown to a drop tap when not answered.
  void HandleConsumerArp(uint16_t port, const rte_mbuf* m, const ParsedPacket& p,
                         const control::Snapshot& snap);
  void HandleProviderArp(Provider& provider, const rte_mbuf* m, const ParsedPacket& p,
                         const control::Snapshot& snap, nat::TimeMs now);
  void HoldForNeighbor(Provider& provider, rte_mbuf* m, nat::TimeMs now);
  void SendReady(uint16_t port, const LearnResult& learned);
  void OnSnapshot(const control::Snapshot& snap, nat::TimeMs now);
  void Resolve(Provider& provider, Ipv4Be next_hop, nat::TimeMs now);
  void Tick(nat::TimeMs now);
  // Publishes a new view when a neighbour table or the model (its backends) changed.
  void PublishView(const control::Snapshot* snap);

  // Frame builders into a fresh mbuf, sent through the worker's ring; false if none was free.
  bool SendArpRequest(uint16_t port, Ipv4Be target);
  bool SendArpReply(uint16_t port, const ParsedPacket& request);
  void HandleTunnelledArp(uint16_t port, const rte_mbuf* m, const ParsedPacket& outer,
                          const control::Snapshot& snap);
  bool SendAnnouncement(uint16_t port, Ipv4Be ip);
  void Send(uint16_t port, rte_mbuf* m);
  // Health probes: an answer a worker passed on, and one round of timers, sends and reports.
  bool IsProbeAnswer(const ParsedPacket& p, const control::Snapshot& snap) const;
  void HandleProbeAnswer(const rte_mbuf* m, const ParsedPacket& p, nat::TimeMs now);
  void RunProber(const control::Snapshot& snap, nat::TimeMs now);
  void SendProbeSegment(const ProbeSegment& segment, nat::TimeMs now);
  Provider* ProviderOf(uint16_t port);
  bool IsOurProviderAddress(Ipv4Be ip, const control::Snapshot& snap) const;

  const DataplaneShared* shared_;
  ViewPublisher* view_;
  control::SnapshotReader reader_;
  rte_ring* to_worker_;
  std::vector<Provider> providers_;
  uint64_t seen_generation_ = ~uint64_t{0};
  uint64_t view_generation_ = ~uint64_t{0};  // the snapshot the published view's hops came from
  absl::flat_hash_set<Ipv4Be> announced_;    // NAT IPs announced by gratuitous ARP
  nat::TimeMs next_tick_ms_ = 0;
  std::unique_ptr<HealthProber> prober_;
  control::HealthReports* health_reports_ = nullptr;
  nat::TimeMs next_probe_tick_ms_ = 0;
  CounterSet counters_;
};

}  // namespace privlink::dataplane
