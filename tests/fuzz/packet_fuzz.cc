// libFuzzer target over the whole packet path: one input is one frame, its first byte choosing
// the port it arrives on (consumer0, consumer1 with VLAN 20, provider0), the rest the frame. It
// goes through the in-process single-worker dataplane (dataplane/replay.h: parser, fast and slow
// path, flow table, NAT, TCP state, resets, the control thread's ARP) with a fixed config; each
// input moves the virtual clock by a millisecond, so flows are created, expire and fill the table
// as inputs accumulate. Besides ASan and UBSan, every frame sent is checked: nothing leaves
// untranslated (provider side: from a NAT IP to a backend; consumer side: from a PE).
//
// The first byte's top bit asks for the frame's IPv4 header and TCP checksums to be filled in
// before it is fed (kFixChecksums): privlink drops a frame whose IPv4 checksum is wrong at once,
// so mutations of intact frames keep reaching the flow table only with it; without it, the
// checksum checks themselves are fuzzed (the corrupt seeds).
//
// make test-fuzz runs it for 60 s on tests/fuzz/corpus (seeds) and tests/fuzz/regressions
// (inputs that once crashed it). PRIVLINK_FUZZ_WRITE_SEEDS=dir writes the seed corpus: a
// connection's frames both ways (the return traffic on the NAT tuple this config always gives
// the first SYN), a tagged SYN, a SYN to a Pending PE, ARP on both sides.
#include <rte_eal.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "control/config/daemon_config.h"
#include "dataplane/offline/replay.h"
#include "tests/dataplane/framework/packet_builder.h"

namespace {

using namespace privlink;
using namespace privlink::dataplane;
using namespace privlink::dataplane::testing;

// Two consumer networks (one tagged), a service with three backends and two NAT IPs, an Approved
// PE in each network and a Pending one in contoso; a second service with enableProxyProtocol (its
// flows' streams shift) on the same backends, with an Approved PE in contoso. Static neighbours:
// the first SYN is forwarded at once (ARP frames still reach the control thread).
constexpr char kConfig[] = R"({
  "dataplane": {
    "region": "fuzz", "workers": 1, "flowTableSize": 1024,
    "api": {"listen": "unix:/nonexistent/unused.sock"}, "stateDir": "",
    "ports": [
      {"name": "consumer0", "role": "consumer", "device": "net_null0", "mac": "02:00:00:00:c0:00"},
      {"name": "consumer1", "role": "consumer", "device": "net_null1", "mac": "02:00:00:00:c1:00"},
      {"name": "provider0", "role": "provider", "device": "net_null2", "mac": "02:00:00:00:b0:00",
       "subnet": "192.168.10.1/24",
       "staticNeighbors": [{"ip": "192.168.10.11", "mac": "02:00:00:00:be:0b"},
                           {"ip": "192.168.10.12", "mac": "02:00:00:00:be:0c"},
                           {"ip": "192.168.10.13", "mac": "02:00:00:00:be:0d"}]}
    ]
  },
  "networks": [{"name": "contoso", "port": "consumer0", "vlan": 0},
               {"name": "fabric", "port": "consumer0", "vxlan": {"vni": 100, "localIp": "172.16.0.1"}},
               {"name": "northwind", "port": "consumer1", "vlan": 20}],
  "privateLinkServices": [{
    "name": "web", "subscription": "sub-provider",
    "loadBalancingRules": [{"frontendPort": 80, "backendPort": 8080},
                           {"frontendPort": 53, "backendPort": 5353, "protocol": "udp"}],
    "backends": [{"ip": "192.168.10.11"}, {"ip": "192.168.10.12"}, {"ip": "192.168.10.13"}],
    "natIps": ["192.168.10.200", "192.168.10.201"],
    "visibility": ["*"], "autoApproval": ["sub-contoso", "sub-northwind"]
  }, {
    "name": "proxied", "subscription": "sub-provider", "enableProxyProtocol": true,
    "loadBalancingRules": [{"frontendPort": 80, "backendPort": 8080}],
    "backends": [{"ip": "192.168.10.11"}, {"ip": "192.168.10.12"}, {"ip": "192.168.10.13"}],
    "natIps": ["192.168.10.202"],
    "visibility": ["*"], "autoApproval": ["sub-contoso"]
  }],
  "privateEndpoints": [
    {"name": "contoso-pe", "subscription": "sub-contoso", "network": "contoso",
     "ip": "10.0.0.100", "privateLinkService": "web"},
    {"name": "northwind-pe", "subscription": "sub-northwind", "network": "northwind",
     "ip": "10.0.0.100", "privateLinkService": "web"},
    {"name": "stranger-pe", "subscription": "sub-stranger", "network": "contoso",
     "ip": "10.0.0.101", "privateLinkService": "web"},
    {"name": "proxied-pe", "subscription": "sub-contoso", "network": "contoso",
     "ip": "10.0.0.102", "privateLinkService": "proxied"},
    {"name": "fabric-pe", "subscription": "sub-contoso", "network": "fabric",
     "ip": "10.0.0.100", "privateLinkService": "web"}
  ]
})";

constexpr uint16_t kProviderPort = 2;
constexpr uint16_t kPorts = 3;
constexpr MacAddress kPortMacs[kPorts] = {
    {0x02, 0, 0, 0, 0xc0, 0}, {0x02, 0, 0, 0, 0xc1, 0}, {0x02, 0, 0, 0, 0xb0, 0}};
constexpr Ipv4Be kClient = Ipv4(10, 0, 0, 2);
constexpr Ipv4Be kPe = Ipv4(10, 0, 0, 100);
constexpr Ipv4Be kPendingPe = Ipv4(10, 0, 0, 101);
constexpr Ipv4Be kProxiedPe = Ipv4(10, 0, 0, 102);
constexpr Ipv4Be kVxlanLocalIp = Ipv4(172, 16, 0, 1);
constexpr uint64_t kStepUs = 1000;  // virtual time per input

struct State {
  std::unique_ptr<ReplayPipeline> pipeline;
  uint64_t now_us = 1'700'000'000'000'000;
  std::vector<uint8_t> first_syn_out;  // the first SYN as the worker sent it (its NAT tuple)
};
State* state = nullptr;

[[noreturn]] void Fail(const char* what, uint16_t port) {
  std::fprintf(stderr, "privlink-fuzz: %s (frame sent on port %u)\n", what, port);
  std::abort();
}

uint16_t Be16At(std::span<const uint8_t> f, size_t at) {
  return static_cast<uint16_t>((f[at] << 8) | f[at + 1]);
}
Ipv4Be Ipv4At(std::span<const uint8_t> f, size_t at) {
  Ipv4Be v;
  std::memcpy(&v, f.data() + at, 4);
  return v;
}

// Nothing leaves untranslated: an IPv4 frame towards the provider comes from a NAT IP and goes
// to a backend; one towards a consumer network comes from a PE (data, or a reset).
void CheckSent(uint16_t port, std::span<const uint8_t> f) {
  if (f.size() < 14) Fail("runt frame", port);
  size_t l3 = 14;
  uint16_t type = Be16At(f, 12);
  if (type == kEtherTypeVlan) {
    if (port == kProviderPort) Fail("tagged frame on the provider side", port);
    if (f.size() < 18) Fail("runt tagged frame", port);
    type = Be16At(f, 16);
    l3 = 18;
  }
  if (type != kEtherTypeIpv4) return;  // ARP from the control thread
  if (f.size() < l3 + 20) Fail("IPv4 frame shorter than its header", port);
  Ipv4Be src = Ipv4At(f, l3 + 12);
  Ipv4Be dst = Ipv4At(f, l3 + 16);
  if (port != kProviderPort && src == kVxlanLocalIp) {
    // Into a VXLAN tunnel: the inner frame (after outer IPv4, UDP, VXLAN and inner Ethernet)
    // must itself come from a PE, or be ARP answered inside the tunnel.
    const size_t inner = l3 + 20 + 8 + 8;
    if (f.size() < inner + 14) Fail("tunnelled frame shorter than its headers", port);
    if (Be16At(f, l3 + 22) != 4789) Fail("from the local IP, not to the VXLAN port", port);
    if (Be16At(f, inner + 12) != kEtherTypeIpv4) return;
    if (f.size() < inner + 14 + 20) Fail("tunnelled IPv4 frame shorter than its header", port);
    src = Ipv4At(f, inner + 14 + 12);
    dst = Ipv4At(f, inner + 14 + 16);
  }
  if (port == kProviderPort) {
    if (src != Ipv4(192, 168, 10, 200) && src != Ipv4(192, 168, 10, 201) &&
        src != Ipv4(192, 168, 10, 202)) {
      Fail("provider-side packet from an address that is not a NAT IP", port);
    }
    if ((Be32ToHost(dst) & 0xffffff00u) != Be32ToHost(Ipv4(192, 168, 10, 0))) {
      Fail("provider-side packet to an address off the provider subnet", port);
    }
  } else {
    if (src != kPe && src != kPendingPe && src != kProxiedPe) {
      Fail("consumer-side packet not from a PE", port);
    }
  }
}

constexpr uint8_t kFixChecksums = 0x80;

// Fills in the IPv4 header checksum, and the TCP one of a TCP segment, the UDP one of a UDP
// datagram (unless it has none: 0) or the ICMP one of an ICMP message, where the frame's lengths
// allow (anything else is left for the parser to refuse).
std::vector<uint8_t> WithChecksums(std::span<const uint8_t> in) {
  std::vector<uint8_t> f(in.begin(), in.end());
  if (f.size() < 14) return f;
  size_t l3 = 14;
  if (Be16At(f, 12) == kEtherTypeVlan && f.size() >= 18) l3 = 18;
  if (Be16At(f, l3 - 2) != kEtherTypeIpv4 || f.size() < l3 + 20) return f;
  const size_t ihl = size_t{f[l3] & 0x0fu} * 4;
  if (ihl < 20 || f.size() < l3 + ihl) return f;
  f[l3 + nat::kIpv4ChecksumOffset] = 0;
  f[l3 + nat::kIpv4ChecksumOffset + 1] = 0;
  const uint16_t ip_sum = nat::Ipv4HeaderChecksum(f.data() + l3);
  std::memcpy(f.data() + l3 + nat::kIpv4ChecksumOffset, &ip_sum, sizeof ip_sum);
  const size_t total = Be16At(f, l3 + nat::kIpv4TotalLengthOffset);
  if (f[l3 + 9] == kIpProtoIcmp && total >= ihl + 4 && f.size() >= l3 + total) {
    uint8_t* icmp = f.data() + l3 + ihl;
    icmp[2] = icmp[3] = 0;
    const uint16_t sum = nat::ChecksumFinish(nat::ChecksumPartial(icmp, total - ihl));
    std::memcpy(icmp + 2, &sum, sizeof sum);
    return f;
  }
  if (f[l3 + 9] == kIpProtoUdp && total >= ihl + 8 && f.size() >= l3 + total) {
    uint8_t* udp = f.data() + l3 + ihl;
    const size_t udp_len = Be16At(f, l3 + ihl + nat::kUdpLengthOffset);
    if (udp_len < 8 || udp_len > total - ihl || (udp[6] == 0 && udp[7] == 0)) return f;
    const uint16_t sum = nat::UdpChecksum(Ipv4At(f, l3 + 12), Ipv4At(f, l3 + 16), udp, udp_len);
    std::memcpy(udp + nat::kUdpChecksumOffset, &sum, sizeof sum);
    return f;
  }
  if (f[l3 + 9] != nat::kIpProtoTcp || total < ihl + 20 || f.size() < l3 + total) return f;
  const size_t l4 = l3 + ihl;
  const uint16_t tcp_sum =
      nat::TcpChecksum(Ipv4At(f, l3 + 12), Ipv4At(f, l3 + 16), f.data() + l4, total - ihl);
  std::memcpy(f.data() + l4 + nat::kTcpChecksumOffset, &tcp_sum, sizeof tcp_sum);
  return f;
}

void Feed(uint16_t port, std::span<const uint8_t> frame) {
  state->now_us += kStepUs;
  // Errors (an empty frame, one over the mbuf size) are refusals of the input, not faults.
  (void)state->pipeline->Feed(port, frame, state->now_us);
  state->pipeline->Flush();
}

TcpFrameSpec FromClient(uint16_t port, uint8_t flags, uint32_t seq, uint32_t ack, size_t payload,
                        Ipv4Be pe = kPe) {
  TcpFrameSpec s;
  s.eth = {.dst = kPortMacs[port], .src = kClientMac};
  if (port == 1) s.eth.vlans = {{.id = 20}};
  s.ip.src = kClient;
  s.ip.dst = pe;
  s.tcp.flags = flags;
  s.tcp.seq = seq;
  s.tcp.ack = ack;
  if (flags & nat::kTcpSyn) s.tcp.options = TypicalSynOptions();
  s.tcp.payload = PatternPayload(payload);
  return s;
}

// The backend's answer to the first SYN's NAT tuple.
TcpFrameSpec FromBackend(uint8_t flags, uint32_t seq, uint32_t ack, size_t payload) {
  const std::vector<uint8_t>& syn = state->first_syn_out;
  TcpFrameSpec s;
  s.eth = {.dst = kPortMacs[kProviderPort], .src = {0x02, 0, 0, 0, 0xbe, syn[33]}};
  s.ip.src = Ipv4At(syn, 30);
  s.ip.dst = Ipv4At(syn, 26);
  s.tcp.src_port = HostToBe16(Be16At(syn, 36));
  s.tcp.dst_port = HostToBe16(Be16At(syn, 34));
  s.tcp.flags = flags;
  s.tcp.seq = seq;
  s.tcp.ack = ack;
  s.tcp.payload = PatternPayload(payload, 7);
  return s;
}

// `port` may carry kFixChecksums: every intact seed does, so its mutations keep valid checksums.
void WriteSeed(const std::string& dir, const std::string& name, uint16_t port, const Frame& f) {
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out.put(static_cast<char>(port));
  out.write(reinterpret_cast<const char*>(f.bytes.data()),
            static_cast<std::streamsize>(f.bytes.size()));
}

// A frame with one checksum field made wrong (`at`: its offset).
Frame Corrupt(Frame f, size_t at) {
  f.Set16(at, static_cast<uint16_t>(f.Get16(at) ^ 0x0101));
  return f;
}

void WriteSeeds(const std::string& dir) {
  using namespace nat;
  // Corrupt checksums, fed as they are: each must be dropped, nothing may change.
  const auto ip_sum = [](const Frame& f) { return f.l3_offset + kIpv4ChecksumOffset; };
  const auto tcp_sum = [](const Frame& f) { return f.l4_offset + kTcpChecksumOffset; };
  const Frame syn = BuildTcpFrame(FromClient(0, kTcpSyn, 3000, 0, 0));
  WriteSeed(dir, "syn-bad-ipv4-checksum", 0, Corrupt(syn, ip_sum(syn)));
  WriteSeed(dir, "syn-bad-tcp-checksum", 0, Corrupt(syn, tcp_sum(syn)));
  const Frame syn_ack = BuildTcpFrame(FromBackend(kTcpSyn | kTcpAck, 5000, 1001, 0));
  WriteSeed(dir, "syn-ack-bad-tcp-checksum", kProviderPort, Corrupt(syn_ack, tcp_sum(syn_ack)));
  const Frame fin = BuildTcpFrame(FromClient(0, kTcpFin | kTcpAck, 1101, 5201, 0));
  WriteSeed(dir, "fin-bad-tcp-checksum", 0, Corrupt(fin, tcp_sum(fin)));
  const Frame rst = BuildTcpFrame(FromBackend(kTcpRst, 5001, 0, 0));
  WriteSeed(dir, "rst-bad-tcp-checksum", kProviderPort, Corrupt(rst, tcp_sum(rst)));
  WriteSeed(dir, "rst-bad-ipv4-checksum", kProviderPort, Corrupt(rst, ip_sum(rst)));
  WriteSeed(dir, "rst-out-of-window", kProviderPort,
            BuildTcpFrame(FromBackend(kTcpRst, 4000, 0, 0)));
  const Frame data = BuildTcpFrame(FromClient(0, kTcpAck | kTcpPsh, 1001, 5001, 100));
  WriteSeed(dir, "data-bad-tcp-checksum", 0, Corrupt(data, tcp_sum(data)));
  // A SYN whose TCP checksum computes to 0x0000, sent as 0xffff (RFC 1624: the same value).
  Frame zero = BuildTcpFrame(FromClient(0, kTcpSyn, 3001, 0, 2));
  const size_t last_word = zero.bytes.size() - 2;  // the payload's
  zero.Set16(last_word, 0).FixChecksums();
  zero.Set16(last_word, zero.Get16(tcp_sum(zero))).FixChecksums();
  zero.Set16(tcp_sum(zero), 0xffff);
  WriteSeed(dir, "syn-tcp-checksum-ffff", 0, zero);
  const Frame query = BuildUdpFrame({.eth = {.dst = kPortMacs[0], .src = kClientMac},
                                     .ip = {.src = kClient, .dst = kPe},
                                     .udp = {.payload = PatternPayload(29)}});
  WriteSeed(dir, "udp-query-bad-checksum", 0, Corrupt(query, query.l4_offset + 6));

  // Intact frames, their checksums filled in after each mutation.
  WriteSeed(dir, "syn", kFixChecksums | 0, BuildTcpFrame(FromClient(0, kTcpSyn, 1000, 0, 0)));
  WriteSeed(dir, "syn-ack-from-backend", kFixChecksums | kProviderPort,
            BuildTcpFrame(FromBackend(kTcpSyn | kTcpAck, 5000, 1001, 0)));
  WriteSeed(dir, "ack", kFixChecksums | 0, BuildTcpFrame(FromClient(0, kTcpAck, 1001, 5001, 0)));
  WriteSeed(dir, "data", kFixChecksums | 0,
            BuildTcpFrame(FromClient(0, kTcpAck | kTcpPsh, 1001, 5001, 100)));
  WriteSeed(dir, "data-from-backend", kFixChecksums | kProviderPort,
            BuildTcpFrame(FromBackend(kTcpAck | kTcpPsh, 5001, 1101, 200)));
  WriteSeed(dir, "fin", kFixChecksums | 0,
            BuildTcpFrame(FromClient(0, kTcpFin | kTcpAck, 1101, 5201, 0)));
  WriteSeed(dir, "rst-from-backend", kFixChecksums | kProviderPort,
            BuildTcpFrame(FromBackend(kTcpRst, 5201, 0, 0)));
  WriteSeed(dir, "syn-vlan", kFixChecksums | 1, BuildTcpFrame(FromClient(1, kTcpSyn, 77, 0, 0)));
  // A SYN through the VXLAN tunnel of network fabric (VNI 100), outer UDP checksum 0.
  std::vector<uint8_t> tunnelled = {0x08, 0, 0, 0, 0, 0, 100, 0};
  const Frame inner_syn = BuildTcpFrame(FromClient(0, kTcpSyn, 4000, 0, 0));
  tunnelled.insert(tunnelled.end(), inner_syn.bytes.begin(), inner_syn.bytes.end());
  WriteSeed(dir, "syn-vxlan", kFixChecksums | 0,
            BuildUdpFrame({.eth = {.dst = kPortMacs[0], .src = {0x02, 0, 0, 0, 0x7e, 0x02}},
                           .ip = {.src = Ipv4(172, 16, 0, 2), .dst = kVxlanLocalIp},
                           .udp = {.src_port = HostToBe16(50000),
                                   .dst_port = HostToBe16(4789),
                                   .payload = std::move(tunnelled),
                                   .checksum = 0}}));
  // UDP to the PE's DNS rule: a query (a flow's first datagram), one without a checksum, one on
  // VLAN 20.
  WriteSeed(dir, "udp-query", kFixChecksums | 0, query);
  WriteSeed(dir, "udp-query-no-checksum", kFixChecksums | 0,
            BuildUdpFrame({.eth = {.dst = kPortMacs[0], .src = kClientMac},
                           .ip = {.src = kClient, .dst = kPe},
                           .udp = {.payload = PatternPayload(40), .checksum = 0}}));
  WriteSeed(dir, "udp-query-vlan", kFixChecksums | 1,
            BuildUdpFrame({.eth = {.dst = kPortMacs[1], .src = kClientMac, .vlans = {{.id = 20}}},
                           .ip = {.src = kClient, .dst = kPe},
                           .udp = {.payload = PatternPayload(29)}}));
  WriteSeed(dir, "syn-pending-pe", kFixChecksums | 0,
            BuildTcpFrame(FromClient(0, kTcpSyn, 1000, 0, 0, kPendingPe)));
  // A PROXY protocol flow's handshake and data: the ACK completing it writes the header.
  WriteSeed(dir, "syn-proxied-pe", kFixChecksums | 0,
            BuildTcpFrame(FromClient(0, kTcpSyn, 9000, 0, 0, kProxiedPe)));
  WriteSeed(dir, "ack-proxied-pe", kFixChecksums | 0,
            BuildTcpFrame(FromClient(0, kTcpAck, 9001, 5001, 0, kProxiedPe)));
  WriteSeed(dir, "data-proxied-pe", kFixChecksums | 0,
            BuildTcpFrame(FromClient(0, kTcpAck | kTcpPsh, 9001, 5001, 100, kProxiedPe)));
  TcpFrameSpec options = FromClient(0, kTcpSyn, 9, 0, 16);
  options.ip.options = {0x01, 0x01, 0x01, 0x00};
  WriteSeed(dir, "syn-ip-options-data", kFixChecksums | 0, BuildTcpFrame(options));
  // ICMP errors about the first flow: from a router on the provider side about its NATed SYN, and
  // from the consumer side about a packet to the client.
  const std::vector<uint8_t>& syn_out = state->first_syn_out;
  IcmpFrameSpec frag_needed{
      .eth = {.dst = kPortMacs[kProviderPort], .src = {0x02, 0, 0, 0, 0xbe, 0x01}},
      .ip = {.src = Ipv4(192, 168, 10, 1), .dst = Ipv4At(syn_out, 26)},
      .icmp = {.type = 3, .code = 4, .id = 0, .sequence = 1280}};
  frag_needed.icmp.payload.assign(syn_out.begin() + 14, syn_out.begin() + 14 + 28);
  WriteSeed(dir, "icmp-frag-needed-from-provider", kFixChecksums | kProviderPort,
            BuildIcmpFrame(frag_needed));
  TcpFrameSpec to_client = FromClient(0, kTcpAck, 5001, 1001, 0);
  std::swap(to_client.ip.src, to_client.ip.dst);
  std::swap(to_client.tcp.src_port, to_client.tcp.dst_port);
  const Frame quoted = BuildTcpFrame(to_client);
  IcmpFrameSpec time_exceeded{.eth = {.dst = kPortMacs[0], .src = kClientMac},
                              .ip = {.src = Ipv4(10, 0, 0, 1), .dst = kPe},
                              .icmp = {.type = 11, .code = 0, .id = 0, .sequence = 0}};
  time_exceeded.icmp.payload.assign(quoted.bytes.begin() + 14, quoted.bytes.end());
  WriteSeed(dir, "icmp-time-exceeded-from-consumer", kFixChecksums | 0,
            BuildIcmpFrame(time_exceeded));
  WriteSeed(dir, "arp-request-pe", kFixChecksums | 0, BuildArpFrame());
  WriteSeed(dir, "arp-request-nat-ip", kFixChecksums | kProviderPort,
            BuildArpFrame({.arp = {.sender_mac = {0x02, 0, 0, 0, 0xbe, 0x0b},
                                   .sender_ip = Ipv4(192, 168, 10, 11),
                                   .target_ip = Ipv4(192, 168, 10, 200)}}));
  WriteSeed(
      dir, "arp-reply-backend", kFixChecksums | kProviderPort,
      BuildArpFrame({.eth = {.dst = kPortMacs[kProviderPort], .src = {0x02, 0, 0, 0, 0xbe, 0x0e}},
                     .arp = {.op = kArpOpReply,
                             .sender_mac = {0x02, 0, 0, 0, 0xbe, 0x0e},
                             .sender_ip = Ipv4(192, 168, 10, 14),
                             .target_mac = kPortMacs[kProviderPort],
                             .target_ip = Ipv4(192, 168, 10, 1)}}));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (absl::Status s = InitReplayEal("privlink-fuzz"); !s.ok()) {
    std::fprintf(stderr, "privlink-fuzz: %s\n", std::string(s.message()).c_str());
    std::exit(1);
  }
  auto config = control::ParseDaemonConfig(kConfig);
  if (!config.ok()) {
    std::fprintf(stderr, "privlink-fuzz: config: %s\n",
                 std::string(config.status().message()).c_str());
    std::exit(1);
  }
  auto pipeline = ReplayPipeline::Create(*config);
  if (!pipeline.ok()) {
    std::fprintf(stderr, "privlink-fuzz: %s\n", std::string(pipeline.status().message()).c_str());
    std::exit(1);
  }
  state = new State{std::move(*pipeline)};
  state->pipeline->OnSent([](uint16_t port, std::span<const uint8_t> frame, ReplayTimeUs) {
    CheckSent(port, frame);
    // The SYN itself: the control thread's gratuitous ARP for the NAT IPs leaves on that port
    // first.
    const bool tcp =
        frame.size() >= 54 && Be16At(frame, 12) == kEtherTypeIpv4 && frame[23] == nat::kIpProtoTcp;
    if (port == kProviderPort && state->first_syn_out.empty() && tcp) {
      state->first_syn_out.assign(frame.begin(), frame.end());
    }
  });
  // The first SYN opens the flow the return-traffic seeds answer.
  const Frame syn = BuildTcpFrame(FromClient(0, nat::kTcpSyn, 1000, 0, 0));
  Feed(0, syn.bytes);
  if (state->first_syn_out.empty()) {
    std::fprintf(stderr, "privlink-fuzz: the first SYN was not forwarded\n");
    std::exit(1);
  }
  if (const char* dir = std::getenv("PRIVLINK_FUZZ_WRITE_SEEDS"); dir != nullptr) {
    WriteSeeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const auto port = static_cast<uint16_t>((data[0] & ~kFixChecksums) % kPorts);
  const std::span<const uint8_t> frame(data + 1, size - 1);
  if ((data[0] & kFixChecksums) != 0) {
    Feed(port, WithChecksums(frame));
  } else {
    Feed(port, frame);
  }
  return 0;
}
