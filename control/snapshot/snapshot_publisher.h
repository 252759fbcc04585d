// Publishes snapshots to worker threads (control/snapshot/qsbr_publisher.h): one atomic pointer
// swap, and reclamation of the old snapshot only after every registered reader has passed a
// quiescent state. Readers never take a lock and are never waited on: the control side polls
// Reclaim.
#pragma once

#include <cstdint>
#include <memory>

#include "control/snapshot/qsbr_publisher.h"
#include "control/snapshot/snapshot.h"

namespace privlink::control {

class SnapshotPublisher : public QsbrPublisher<Snapshot> {
 public:
  // Up to `max_readers` workers, with RCU thread ids 0 .. max_readers - 1. Starts with an empty
  // snapshot (generation 0), so Current() is never null.
  explicit SnapshotPublisher(uint32_t max_readers)
      : QsbrPublisher<Snapshot>(max_readers, std::make_unique<Snapshot>()) {}
};

}  // namespace privlink::control
