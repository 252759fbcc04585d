// The dataplane as privlinkd runs it: mbuf pool, ports, flow table, workers on their lcores and
// the control thread's part (Controller), wired together; and the statistics it reports through
// control::StatsSource.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"
#include "control/dataplane_config.h"
#include "control/snapshot_publisher.h"
#include "control/stats_source.h"
#include "dataplane/controller.h"
#include "dataplane/drop_warnings.h"
#include "dataplane/stats_sample.h"
#include "dataplane/worker.h"
#include "nat/tsc_clock.h"

namespace privlink::dataplane {

struct DataplaneOptions {
  // An idle worker sleeps this long after an empty poll (0 = busy poll, the production choice;
  // small machines running tests next to the daemon use a few tens of microseconds).
  uint32_t idle_sleep_us = 0;
};

// The provider ports' addressing for the Controller (subnet with its host bits cleared, gateway,
// static neighbours), from the config; indices are positions in config.ports.
absl::StatusOr<std::vector<ProviderPortSetup>> ProviderSetups(
    const control::DataplaneConfig& config);

class Dataplane final : public control::StatsSource {
 public:
  // The EAL must be initialised with at least config.workers worker lcores. Snapshot reader ids
  // 0 .. workers + 1 of `publisher` are taken (see control::kDataplaneExtraReaders).
  static absl::StatusOr<std::unique_ptr<Dataplane>> Start(const control::DataplaneConfig& config,
                                                          control::SnapshotPublisher& publisher,
                                                          const DataplaneOptions& options);
  ~Dataplane() override;

  // The control thread's round (call it every millisecond or so); returns frames handled.
  uint32_t Poll();
  // Stops workers, drains queues, closes ports and frees everything. Idempotent.
  void Stop();

  // Every counter, read now without stopping anyone (stats.cc); safe from any thread.
  DataplaneSample Sample() const;
  // Drops by reason alone: cheap enough for the control thread's periodic warnings.
  std::array<uint64_t, kDropReasonCount> DropTotals() const;
  nlohmann::json Stats() const override;                               // stats.cc
  void CollectMetrics(prometheus::Registry& registry) const override;  // metrics.cc
  size_t port_count() const { return shared_.ports.size(); }
  uint32_t worker_count() const { return static_cast<uint32_t>(workers_.size()); }

 private:
  Dataplane() = default;
  static int WorkerMain(void* arg);
  std::vector<const CounterSet*> CounterSets() const;

  control::SnapshotPublisher* publisher_ = nullptr;
  nat::TscClock clock_;
  DataplaneShared shared_;
  std::unique_ptr<nat::FlowTable> flows_;
  std::unique_ptr<RcuCell<DataplaneView>> view_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<unsigned> worker_lcores_;
  std::unique_ptr<Controller> controller_;
  // Drop totals are compared this often (a few dozen counter reads per worker); lines are
  // rate-limited per reason by DropWarnings itself.
  static constexpr nat::TimeMs kDropCheckIntervalMs = 100;
  std::unique_ptr<DropWarnings> drop_warnings_;
  nat::TimeMs next_drop_check_ms_ = 0;
  control::SnapshotReader controller_reader_;
  rte_ring* from_control_ = nullptr;
  std::atomic<bool> stop_{false};
  bool readers_registered_ = false;
  bool launched_ = false;
  bool stopped_ = false;

  mutable std::mutex stats_mutex_;
  mutable control::SnapshotReader stats_reader_;
};

}  // namespace privlink::dataplane
