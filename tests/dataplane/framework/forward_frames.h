// Frames and checks shared by the packet-path tests (forward_test.cc, forward_table_test.cc,
// controller_test.cc):
// what clients and backends send, what each must become on the other side, and byte-level
// comparison with readable differences.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "control/snapshot/snapshot.h"
#include "nat/flow_key.h"
#include "tests/dataplane/framework/packet_builder.h"
#include "tests/dataplane/framework/worker_harness.h"

namespace privlink::dataplane::testing {

using control::NetworkId;
using nat::kTcpAck;
using nat::kTcpFin;
using nat::kTcpPsh;
using nat::kTcpRst;
using nat::kTcpSyn;
using nat::NatTuple;
using Bytes = std::vector<uint8_t>;

// A consumer network as the wire sees it: its port and VLAN.
struct Net {
  const char* port_name;
  uint16_t port;
  uint16_t vlan;
  MacAddress mac;
};
inline const Net kNetA{"consumer0", kConsumer0, 0, kConsumer0Mac};
inline const Net kNetB{"consumer1", kConsumer1, kNetworkBVlan, kConsumer1Mac};

inline constexpr uint16_t kClientPort = 40000;

// ---- frames ----

inline EthernetFields EthTo(const Net& net, MacAddress dst, MacAddress src, uint8_t priority = 0) {
  EthernetFields eth{.dst = dst, .src = src};
  if (net.vlan != 0) eth.vlans = {{.id = net.vlan, .priority = priority}};
  return eth;
}

inline TcpFields Tcp(uint8_t flags, uint32_t seq, uint32_t ack, size_t payload = 0,
                     uint16_t client_port = kClientPort) {
  return {.src_port = HostToBe16(client_port),
          .dst_port = HostToBe16(kFrontendPort),
          .seq = seq,
          .ack = ack,
          .flags = flags,
          .options = (flags & kTcpSyn) ? TypicalSynOptions() : std::vector<uint8_t>{},
          .payload = PatternPayload(payload, static_cast<uint8_t>(seq))};
}

// A client's packet to the PE, as it arrives on the network's port. TTL, TOS and IP id are
// unusual values that translation must leave alone.
inline TcpFrameSpec FromClient(const Net& net, TcpFields tcp, Ipv4Be pe = kPeIp) {
  return {.eth = EthTo(net, net.mac, kClientMac),
          .ip = {.src = kClientIp, .dst = pe, .tos = 0x28, .id = 0x4321, .ttl = 61},
          .tcp = std::move(tcp)};
}

// A backend's packet to the NAT tuple, as it arrives on the provider port.
inline TcpFrameSpec FromBackend(Ipv4Be backend, NatTuple nat, uint8_t flags, uint32_t seq,
                                uint32_t ack, size_t payload = 0) {
  return {.eth = {.dst = kProviderMac, .src = BackendMac(backend)},
          .ip = {.src = backend, .dst = nat.ip, .tos = 0x10, .id = 0x0bad, .ttl = 63},
          .tcp = {.src_port = HostToBe16(kBackendPort),
                  .dst_port = nat.port,
                  .seq = seq,
                  .ack = ack,
                  .flags = flags,
                  .options = (flags & kTcpSyn) ? TypicalSynOptions() : std::vector<uint8_t>{},
                  .payload = PatternPayload(payload, static_cast<uint8_t>(seq))}};
}

// What a client packet must become on the provider port: only MACs, the tag, addresses and
// ports change (checksums follow, computed by the builder's reference).
inline TcpFrameSpec TowardsBackend(TcpFrameSpec s, Ipv4Be backend, NatTuple nat,
                                   std::optional<MacAddress> dst_mac = std::nullopt) {
  s.eth = {.dst = dst_mac.value_or(BackendMac(backend)), .src = kProviderMac};
  s.ip.src = nat.ip;
  s.ip.dst = backend;
  s.tcp.src_port = nat.port;
  s.tcp.dst_port = HostToBe16(kBackendPort);
  return s;
}

// What a backend packet must become on the client's network.
inline TcpFrameSpec TowardsClient(TcpFrameSpec s, const Net& net,
                                  uint16_t client_port = kClientPort) {
  s.eth = EthTo(net, kClientMac, net.mac);
  s.ip.src = kPeIp;
  s.ip.dst = kClientIp;
  s.tcp.src_port = HostToBe16(kFrontendPort);
  s.tcp.dst_port = HostToBe16(client_port);
  return s;
}

// A reset as privlink writes it: IP id 0, DF, TTL 64, window 0, no options.
inline TcpFrameSpec Reset(EthernetFields eth, Ipv4Be src, uint16_t sport, Ipv4Be dst,
                          uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags) {
  return {.eth = std::move(eth),
          .ip = {.src = src, .dst = dst, .tos = 0, .id = 0, .dont_fragment = true, .ttl = 64},
          .tcp = {.src_port = HostToBe16(sport),
                  .dst_port = HostToBe16(dport),
                  .seq = seq,
                  .ack = ack,
                  .flags = flags,
                  .window = 0}};
}

// The ICMP error `type`/`code` a router at `from` sends to `to` about `quoted` (a frame), quoting
// the first `quote_len` bytes of its IPv4 datagram (`mtu`: the next-hop MTU a fragmentation-needed
// error announces).
inline Frame IcmpErrorFrame(EthernetFields eth, Ipv4Be from, Ipv4Be to, uint8_t type, uint8_t code,
                            const Frame& quoted, size_t quote_len, uint16_t mtu = 1280) {
  IcmpFrameSpec spec{.eth = std::move(eth),
                     .ip = {.src = from, .dst = to, .tos = 0xc0, .id = 0x77, .ttl = 250},
                     .icmp = {.type = type, .code = code, .id = 0, .sequence = mtu}};
  const auto first = quoted.bytes.begin() + static_cast<std::ptrdiff_t>(quoted.l3_offset);
  spec.icmp.payload.assign(first, first + static_cast<std::ptrdiff_t>(quote_len));
  return BuildIcmpFrame(spec);
}

// ---- checks ----

inline std::string Hex(const Bytes& b, size_t from, size_t count) {
  std::string out;
  char buf[4];
  for (size_t i = from; i < std::min(b.size(), from + count); ++i) {
    std::snprintf(buf, sizeof buf, "%02x ", b[i]);
    out += buf;
  }
  return out;
}

// `got` is `want` byte for byte, followed by nothing or by zero padding. Resets are padded to
// Ethernet's 60-byte minimum before their L2 header is rewritten for the other side, so adding or
// removing a VLAN tag leaves them at 56 or 64 bytes: zeros after the IPv4 datagram, which
// receivers ignore, are accepted up to 64 bytes.
inline ::testing::AssertionResult SameFrame(const Bytes& got, const Frame& want) {
  constexpr size_t kMaxPaddedLen = kEthMinFrameLen + kVlanTagLen;
  const Bytes& w = want.bytes;
  const size_t max_len = std::max(w.size(), kMaxPaddedLen);
  if (got.size() < w.size() || got.size() > max_len) {
    return ::testing::AssertionFailure() << "frame of " << got.size() << " bytes, want " << w.size()
                                         << " (padded to at most " << max_len << ")";
  }
  for (size_t i = 0; i < got.size(); ++i) {
    const uint8_t expected = i < w.size() ? w[i] : 0;
    if (got[i] != expected) {
      const size_t from = i < 8 ? 0 : i - 8;
      return ::testing::AssertionFailure()
             << "first difference at byte " << i << "\n  got:  " << Hex(got, from, 24)
             << "\n  want: " << Hex(w, from, 24);
    }
  }
  return ::testing::AssertionSuccess();
}

inline uint32_t Load32(const Bytes& b, size_t offset) {
  uint32_t v;
  std::memcpy(&v, b.data() + offset, 4);
  return v;
}
inline uint16_t Load16(const Bytes& b, size_t offset) {
  uint16_t v;
  std::memcpy(&v, b.data() + offset, 2);
  return v;
}

// The source tuple of an untagged frame the worker sent towards a backend: the NAT tuple it
// chose, which must be one of the service's NAT IPs and a port of the allocator's range.
inline NatTuple ReadNat(const Bytes& frame) {
  constexpr size_t l3 = kEthHeaderLen;
  const size_t l4 = frame.size() > l3 ? l3 + size_t{frame[l3] & 0x0fu} * 4 : 0;
  if (l4 < l3 + nat::kIpv4MinHeaderLen || frame.size() < l4 + kTcpMinHeaderLen) {
    ADD_FAILURE() << "frame too short for IPv4 + TCP: " << frame.size();
    return {};
  }
  const NatTuple nat{Load32(frame, l3 + nat::kIpv4SrcOffset),
                     Load16(frame, l4 + nat::kTcpSrcPortOffset)};
  EXPECT_TRUE(nat.ip == kNatIps[0] || nat.ip == kNatIps[1]) << FormatIpv4(nat.ip);
  EXPECT_GE(Be16ToHost(nat.port), kFirstNatPort);
  return nat;
}

inline NetworkId NetworkOf(const WorkerHarness& h, const Net& net) {
  return h.snapshot().FindNetwork(net.port_name, net.vlan);
}

// The backend the current snapshot's Maglev table gives a client packet's flow key.
inline Ipv4Be MaglevBackendOf(const WorkerHarness& h, const nat::FlowKey& key) {
  const control::Snapshot& snap = h.snapshot();
  const control::PeTarget* target = snap.FindPe(control::PeKey::Of(key));
  if (target == nullptr) {
    ADD_FAILURE() << "no PE for the packet";
    return 0;
  }
  const control::SnapshotService* svc = snap.Service(target->service);
  return svc->backends[svc->maglev.Pick(nat::HashFlowKey(key).value)].ip;
}
inline Ipv4Be MaglevBackend(const WorkerHarness& h, const Net& net, const TcpFrameSpec& s) {
  return MaglevBackendOf(h, {.tuple = {s.ip.src, s.ip.dst, s.tcp.src_port, s.tcp.dst_port},
                             .network = NetworkOf(h, net)});
}
inline Ipv4Be MaglevBackend(const WorkerHarness& h, const Net& net, const UdpFrameSpec& s) {
  return MaglevBackendOf(h, {.tuple = {s.ip.src, s.ip.dst, s.udp.src_port, s.udp.dst_port},
                             .network = NetworkOf(h, net),
                             .proto = nat::kIpProtoUdp});
}

// Empties every queue and checks no mbuf was leaked.
inline void DrainAndCheckNoLeak(WorkerHarness& h) {
  for (uint16_t p = 0; p < kPortCount; ++p) h.TakeSent(p);
  h.TakeToControl();
  h.TakeFromControl();
  EXPECT_EQ(h.MbufsInUse(), 0u) << "mbufs leaked";
}

}  // namespace privlink::dataplane::testing
