// Leaving the worker: per-port TX queues flushed with rte_eth_tx_burst, frame finishing (L2
// header, minimum length) and the hand-off to the control thread.
#pragma once

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstring>

#include "dataplane/worker.h"

namespace privlink::dataplane {

inline constexpr MacAddress kZeroMac{};

inline uint8_t* FrameOf(rte_mbuf* m) {
  return rte_pktmbuf_mtod(m, uint8_t*);
}

// Counts a frame as dropped and shows it to the drop tap when one is set (replay), for a frame
// that is then freed or turned into something else (a reset).
inline void NoteDrop(CounterSet& counters, const rte_mbuf* m, DropReason reason) {
  counters.Drop(reason);
  if (counters.drop_tap != nullptr) [[unlikely]] {
    counters.drop_tap->see(counters.drop_tap->context, m, reason);
  }
}

inline void DropPacket(CounterSet& counters, rte_mbuf* m, DropReason reason) {
  NoteDrop(counters, m, reason);
  rte_pktmbuf_free(m);
}

// Sends what the port's queue holds; frames the device refuses are dropped and counted.
inline void FlushPort(Worker& w, uint16_t port) {
  TxQueue& q = w.tx[port];
  if (q.count == 0) return;
  // Copied before the device owns them: a frame it then refuses shows as tx and as a drop.
  if (w.capture.Matches(port, CaptureDirection::kTx)) [[unlikely]] {
    w.shared->capture->Copy(w.capture, q.pkts, q.count);
  }
  const uint16_t sent = rte_eth_tx_burst(w.shared->ports[port].ethdev, w.index, q.pkts, q.count);
  PortCounters& pc = w.counters.ports[port];
  for (uint16_t i = 0; i < sent; ++i) pc.tx.Add(q.pkts[i]->pkt_len);
  for (uint16_t i = sent; i < q.count; ++i)
    DropPacket(w.counters, q.pkts[i], DropReason::kTxRingFull);
  q.count = 0;
}

inline void FlushAll(Worker& w) {
  for (uint16_t p = 0; p < w.shared->ports.size(); ++p) FlushPort(w, p);
}

inline void Send(Worker& w, uint16_t port, rte_mbuf* m) {
  TxQueue& q = w.tx[port];
  if (q.count == kTxQueueCapacity) FlushPort(w, port);
  q.pkts[q.count++] = m;
}

// Hands a frame to the control thread (ARP to answer or learn from; a packet to hold until its
// next hop answers ARP). mbuf->port carries our port index.
inline void SendToControl(Worker& w, uint16_t port, rte_mbuf* m) {
  m->port = port;
  if (rte_ring_mp_enqueue(w.shared->to_control, m) != 0) {
    DropPacket(w.counters, m, DropReason::kControlQueueFull);
  }
}

// Rewrites the Ethernet header in front of the L3 header at `l3_offset`: destination, source
// and an 802.1Q tag when `vlan` is non-zero, adding or removing the tag's 4 bytes as needed.
// False when the mbuf has no headroom for a tag (the caller drops the frame).
inline bool WriteL2(rte_mbuf* m, uint16_t l3_offset, const MacAddress& dst, const MacAddress& src,
                    uint16_t vlan) {
  const uint16_t want = vlan != 0 ? kEthHeaderLen + kVlanTagLen : kEthHeaderLen;
  if (want > l3_offset) {
    if (rte_pktmbuf_prepend(m, want - l3_offset) == nullptr) return false;
  } else if (want < l3_offset) {
    rte_pktmbuf_adj(m, l3_offset - want);
  }
  uint8_t* f = FrameOf(m);
  std::memcpy(f + kEthDstOffset, dst.data(), 6);
  std::memcpy(f + kEthSrcOffset, src.data(), 6);
  if (vlan != 0) {
    const uint16_t tpid = HostToBe16(kEtherTypeVlan);
    const uint16_t tci = HostToBe16(vlan & kVlanIdMask);
    std::memcpy(f + kEthTypeOffset, &tpid, 2);
    std::memcpy(f + kVlanTciOffset, &tci, 2);
  }
  const uint16_t ipv4 = HostToBe16(kEtherTypeIpv4);
  std::memcpy(f + want - 2, &ipv4, 2);
  return true;
}

// Sets a frame's length without padding: for a frame whose L2 header is still to change.
inline void SetUnpaddedLength(rte_mbuf* m, uint16_t len) {
  m->data_len = len;
  m->pkt_len = len;
}

// Sets a frame privlink wrote to `len` bytes, zero-padded to Ethernet's 60-byte minimum.
inline void SetFrameLength(rte_mbuf* m, uint16_t len) {
  const uint16_t padded = len < kEthMinFrameLen ? static_cast<uint16_t>(kEthMinFrameLen) : len;
  if (padded > len) std::memset(FrameOf(m) + len, 0, padded - len);
  m->data_len = padded;
  m->pkt_len = padded;
}

}  // namespace privlink::dataplane

namespace privlink::dataplane {

// After the final L2 header: a reset that lost its VLAN tag may be under Ethernet's minimum.
inline void PadToMinimum(rte_mbuf* m) {
  if (m->pkt_len < kEthMinFrameLen) [[unlikely]] {
    SetFrameLength(m, static_cast<uint16_t>(m->pkt_len));
  }
}

}  // namespace privlink::dataplane
