// A worker lcore's loop: receive a burst on each port, run the packet path, send what the control
// thread handed over, flush the TX queues, then a bounded slice of housekeeping (flow expiry,
// NAT port quarantine, id reclamation) and one quiescent report on each RCU domain.
#pragma once

#include <atomic>

#include "dataplane/worker/worker.h"

namespace privlink::dataplane {

// One iteration; returns the packets received (0 = idle). Tests and replay call it directly.
uint32_t PollOnce(Worker& worker);

// Expiry now, exactly: visits every flow of the worker's shard at the clock's current time
// (PollOnce spreads the same sweep over kExpiryPassMs). Replay calls it when its clock moves.
void SweepWholeShard(Worker& worker);

// Until `stop` is set. Sleeps worker.idle_sleep_us after an empty poll when that is non-zero.
void RunWorker(Worker& worker, const std::atomic<bool>& stop);

// Frees what the TX queues and the control ring still hold (shutdown).
void DrainWorker(Worker& worker);

}  // namespace privlink::dataplane
