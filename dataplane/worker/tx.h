// Leaving the worker: per-port TX queues flushed with rte_eth_tx_burst, frame finishing (L2
// header, minimum length) and the hand-off to the control thread.
#pragma once

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstring>

#include "dataplane/worker/worker.h"

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
  // Bytes summed before the device owns the frames (it may free them at once) and added once: a
  // counter's load and store per frame would cost more. Refused frames are still ours.
  uint64_t bytes = 0;
  for (uint16_t i = 0; i < q.count; ++i) bytes += q.pkts[i]->pkt_len;
  const uint16_t sent = rte_eth_tx_burst(w.shared->ports[port].ethdev, w.index, q.pkts, q.count);
  for (uint16_t i = sent; i < q.count; ++i) {
    bytes -= q.pkts[i]->pkt_len;
    DropPacket(w.counters, q.pkts[i], DropReason::kTxRingFull);
  }
  TrafficCounters& tx = w.counters.ports[port].tx;
  tx.packets.Add(sent);
  tx.bytes.Add(bytes);
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

// Zeroes bytes [end, kEthMinFrameLen) of a frame. A TCP datagram is at least 40 bytes, so behind
// any Ethernet header at most 6 bytes are missing: two overlapping fixed-size stores instead of
// a memset call (which GCC emits for a variable length, and which cost more than the rest of the
// frame's finishing on the 64-byte packets of the benchmarks). Shorter frames (ARP) take the
// memset.
inline void ZeroPadToMinimum(uint8_t* f, uint16_t end) {
  const unsigned pad = kEthMinFrameLen - end;
  if (pad > 6) [[unlikely]] {
    std::memset(f + end, 0, pad);
  } else if (pad >= 4) {
    std::memset(f + end, 0, 4);
    std::memset(f + kEthMinFrameLen - 4, 0, 4);
  } else if (pad >= 2) {
    std::memset(f + end, 0, 2);
    std::memset(f + kEthMinFrameLen - 2, 0, 2);
  } else {
    f[kEthMinFrameLen - 1] = 0;
  }
}

// Sets a frame privlink wrote to `len` bytes, zero-padded to Ethernet's 60-byte minimum.
inline void SetFrameLength(rte_mbuf* m, uint16_t len) {
  if (len < kEthMinFrameLen) {
    ZeroPadToMinimum(FrameOf(m), len);
    len = kEthMinFrameLen;
  }
  m->data_len = len;
  m->pkt_len = len;
}

// An IPv4 datagram in an mbuf on its way out: where it starts in the frame and how long it is.
// Bytes after it (Ethernet padding, a trailer a sender appended) are not part of it. Passed by
// value (two registers): a reference, taken by the cold routed path, would make the fast path
// store it to memory for every packet.
struct Datagram {
  rte_mbuf* m = nullptr;
  uint16_t l3_offset = 0;
  uint16_t len = 0;
};

// Puts an Ethernet header (destination, source, an 802.1Q tag when `vlan` is non-zero) in front
// of the datagram and ends the frame with it: bytes past it stay on their side, as a router would
// cut them, and a frame under Ethernet's minimum is zero-padded to it. Lengths are set here once,
// so the fast path never trims and pads separately. False when the mbuf has no headroom for a tag
// (the caller drops the frame).
inline bool FrameDatagram(Datagram d, const MacAddress& dst, const MacAddress& src, uint16_t vlan) {
  rte_mbuf* const m = d.m;
  const uint16_t l3_offset = d.l3_offset;
  const uint16_t want = vlan != 0 ? kEthHeaderLen + kVlanTagLen : kEthHeaderLen;
  if (want > l3_offset) {
    if (rte_pktmbuf_headroom(m) < want - l3_offset) [[unlikely]] {
      return false;
    }
    m->data_off -= want - l3_offset;
  } else {
    m->data_off += l3_offset - want;
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
  SetFrameLength(m, static_cast<uint16_t>(want + d.len));
  return true;
}

}  // namespace privlink::dataplane
