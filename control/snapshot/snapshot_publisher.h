// Publishes snapshots to worker threads: one atomic pointer swap, and reclamation of the old
// snapshot only after every registered reader has passed a quiescent state (DPDK's QSBR RCU).
// Readers never take a lock and are never waited on: the control side polls.
#pragma once

#include <rte_rcu_qsbr.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

#include "absl/status/statusor.h"
#include "control/snapshot/snapshot.h"

namespace privlink::control {

class SnapshotPublisher {
 public:
  // Up to `max_readers` workers, with RCU thread ids 0 .. max_readers - 1. Starts with an empty
  // snapshot (generation 0), so Current() is never null.
  explicit SnapshotPublisher(uint32_t max_readers);
  // Every reader must be offline or unregistered by now.
  ~SnapshotPublisher();
  SnapshotPublisher(const SnapshotPublisher&) = delete;
  SnapshotPublisher& operator=(const SnapshotPublisher&) = delete;

  // Called by the worker's own thread before its loop; the handle starts online.
  absl::StatusOr<SnapshotReader> RegisterReader(unsigned thread_id);
  void UnregisterReader(SnapshotReader& reader);

  // Control side. Installs `snapshot` and retires the previous one, then reclaims what it can.
  void Publish(std::unique_ptr<const Snapshot> snapshot);
  // Frees every retired snapshot all readers have passed a quiescent state since; returns how
  // many are still waiting. Never blocks on a reader: call again later (the daemon polls).
  size_t Reclaim();

  // The control side's view of the latest snapshot (it is the only writer).
  const Snapshot* latest() const { return current_.load(std::memory_order_relaxed); }
  uint32_t max_readers() const { return max_readers_; }

 private:
  struct Retired {
    uint64_t token;  // rte_rcu_qsbr_start() right after it was replaced
    std::unique_ptr<const Snapshot> snapshot;
  };

  size_t ReclaimLocked();

  const uint32_t max_readers_;
  rte_rcu_qsbr* qsbr_ = nullptr;
  std::atomic<const Snapshot*> current_{nullptr};
  std::mutex writer_mutex_;  // control-side callers only (API threads, the daemon's poll timer)
  std::deque<Retired> retired_;
};

}  // namespace privlink::control
