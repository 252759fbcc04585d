// The packet path of one burst from one port: parse, bulk flow lookup, then per packet either
// the fast path (a flow hit: translate with the flow's precomputed rewrite and send) or the slow
// path (a consumer SYN creates a flow; anything else is dropped under a named reason).
//
// Specialised at compile time by the port's role and the checksum policy, so the loops carry no
// role or policy test per packet. Frames leave through the worker's per-port TX queues (tx.h); ARP and
// packets whose next hop has no MAC yet go to the control thread's ring.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

#include "dataplane/worker/worker.h"

namespace privlink::dataplane {

// ProcessBurst specialised for the port's role and the TCP checksum policy
// (DataplaneShared::verify_all_tcp_checksums): one test per burst picks the loop.
void ProcessBurstOf(Worker& worker, const BurstContext& ctx, uint16_t port, rte_mbuf** pkts,
                    uint16_t count);

}  // namespace privlink::dataplane
