// The packet path of one burst from one port: parse, bulk flow lookup, then per packet either
// the fast path (a flow hit: translate with the flow's precomputed rewrite and send) or the slow
// path (a consumer SYN creates a flow; anything else is dropped under a named reason).
//
// Specialised at compile time by the port's role, the TCP checksum mode and whether the port
// reports checksum verdicts, so the loops carry no such test per packet. Frames leave through the
// worker's per-port TX queues (tx.h); ARP and packets whose next hop has no MAC yet go to the
// control thread's ring.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

#include "dataplane/worker/worker.h"

namespace privlink::dataplane {

// The burst loop for the port's role, the TCP checksum mode
// (DataplaneShared::verify_all_tcp_checksums) and PortInfo::checksum_verdicts: one lookup per
// burst picks the loop.
void ProcessBurstOf(Worker& worker, const BurstContext& ctx, uint16_t port, rte_mbuf** pkts,
                    uint16_t count);

// An established flow of a service with enableTcpReset that reached its idle timeout: a RST to
// each end, built from the flow alone, at the sequence number that end expects next (the last
// ACK it sent: FlowEntry::RcvNext), which is the only one RFC 5961 lets it accept. Called by the
// expiry sweep before it frees the flow.
void ResetIdleFlow(Worker& worker, const BurstContext& ctx, const nat::FlowEntry& flow);

}  // namespace privlink::dataplane
