// The dataplane as privlinkd runs it: mbuf pool, ports, flow table, workers on their lcores and
// the control thread's part (Controller), wired together; and the statistics it reports through
// control::StatsSource.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"
#include "control/api/dataplane_inspector.h"
#include "control/api/stats_source.h"
#include "control/config/dataplane_config.h"
#include "control/snapshot/snapshot_publisher.h"
#include "dataplane/assembly/parts.h"
#include "dataplane/control_thread/controller.h"
#include "dataplane/observe/audit_log.h"
#include "dataplane/observe/capture.h"
#include "dataplane/observe/drop_warnings.h"
#include "dataplane/observe/flow_inspect.h"
#include "dataplane/observe/stats_sample.h"
#include "dataplane/worker/worker.h"
#include "nat/tsc_clock.h"

namespace privlink::dataplane {

struct DataplaneOptions {
  // An idle worker sleeps this long after an empty poll (0 = busy poll, the production choice;
  // small machines running tests next to the daemon use a few tens of microseconds).
  uint32_t idle_sleep_us = 0;
  // The connection audit log's file ("" = no audit log).
  std::string audit_log_path;
  // Where the health prober reports (the control plane); nullptr: backends are not probed.
  control::HealthReports* health_reports = nullptr;
};

class Dataplane final : public control::StatsSource,
                        public control::DataplaneInspector,
                        public control::NatIpFlowCounts {
 public:
  // The EAL must be initialised with at least config.workers worker lcores. Snapshot reader ids
  // 0 .. workers + 1 of `publisher` are taken (see control::kDataplaneExtraReaders).
  static absl::StatusOr<std::unique_ptr<Dataplane>> Start(const control::DataplaneConfig& config,
                                                          control::SnapshotPublisher& publisher,
                                                          const DataplaneOptions& options);
  ~Dataplane() override;

  // The control thread's round (call it every millisecond or so); returns frames handled.
  uint32_t Poll();
  // Ends a capture request's wait now (before stopping the API, which waits for requests).
  void CancelCapture() {
    if (capture_) capture_->Cancel();
  }
  // Stops workers, drains queues, closes ports and frees everything. Idempotent.
  void Stop();

  // Every counter, read now without stopping anyone (stats.cc); safe from any thread.
  DataplaneSample Sample() const;
  // Drops by reason alone: cheap enough for the control thread's periodic warnings.
  std::array<uint64_t, kDropReasonCount> DropTotals() const;
  nlohmann::json Stats() const override;                               // stats.cc
  void CollectMetrics(prometheus::Registry& registry) const override;  // metrics.cc
  // Flow listings and captures (flow_inspect.h, capture.h), for the API threads.
  absl::StatusOr<nlohmann::json> Flows(const control::FlowQuery& query) const override;
  absl::StatusOr<nlohmann::json> FlowCount(const control::FlowQuery& query) const override;
  absl::StatusOr<control::CaptureResult> Capture(const control::CaptureRequest& request) override;
  // The live flows through one NAT IP of a service (stats.cc), asked before it is removed.
  absl::StatusOr<uint64_t> FlowsOnNatIp(control::ServiceId service, size_t slot) const override;
  size_t port_count() const { return parts_ ? parts_->shared().ports.size() : 0; }
  uint32_t worker_count() const { return parts_ ? parts_->worker_count() : 0; }
  // "rss-port-choice" or "shared", with the reason where the ports could not take what the
  // default would have given them.
  std::string steering() const;

 private:
  Dataplane() = default;
  static int WorkerMain(void* arg);
  std::vector<const CounterSet*> CounterSets() const;
  // The filter of a flow query, resolved against the current snapshot.
  absl::StatusOr<FlowFilter> ResolveFlowQuery(const control::FlowQuery& query,
                                              const control::Snapshot& snap) const;
  static void CaptureControllerDrop(void* context, const rte_mbuf* m, DropReason reason);

  nat::TscClock clock_;
  std::unique_ptr<DataplaneParts> parts_;
  std::vector<unsigned> worker_lcores_;
  // Drop totals are compared this often (a few dozen counter reads per worker); lines are
  // rate-limited per reason by DropWarnings itself.
  static constexpr nat::TimeMs kDropCheckIntervalMs = 100;
  // How long FlowsOnNatIp waits for every snapshot reader to reach the latest snapshot: workers
  // get there within a burst, so only a stuck thread (or the control thread blocked on the
  // change that asks) makes it give up.
  static constexpr std::chrono::milliseconds kReadersCatchUp{200};
  std::unique_ptr<DropWarnings> drop_warnings_;
  nat::TimeMs next_drop_check_ms_ = 0;
  std::unique_ptr<PacketCapture> capture_;
  CaptureFilter controller_capture_;  // the control thread's copy, loaded per Poll
  DropTap controller_capture_tap_;
  std::unique_ptr<AuditLog> audit_;
  std::atomic<bool> stop_{false};
  bool launched_ = false;
  bool stopped_ = false;

  mutable std::mutex stats_mutex_;  // also serialises flow readers (one RCU reader id)
  control::SnapshotPublisher* publisher_ = nullptr;
  mutable std::optional<control::SnapshotReader> stats_reader_;
};

}  // namespace privlink::dataplane
