// What the replay tests share: a config in tools/privlink.demo.json's shape (MACs and static
// neighbours set, so traces need no ARP), frames of one client's connection to its PE and of
// the backend's answers, and pcap files written and read by hand (not through libpcap), so the
// tool's reader and writer are checked against the file format itself.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "nat/inet.h"
#include "tests/dataplane/framework/packet_builder.h"

namespace privlink::dataplane::testing {

inline constexpr MacAddress kConsumer0Mac = {0x02, 0x00, 0x00, 0x00, 0xc0, 0x00};
inline constexpr MacAddress kProviderMac = {0x02, 0x00, 0x00, 0x00, 0xb0, 0x00};
inline constexpr Ipv4Be kClient = Ipv4(10, 0, 0, 2);
inline constexpr Ipv4Be kPe = Ipv4(10, 0, 0, 100);
inline constexpr Ipv4Be kBackends[] = {Ipv4(192, 168, 10, 11), Ipv4(192, 168, 10, 12),
                                       Ipv4(192, 168, 10, 13)};
inline constexpr Ipv4Be kNatIps[] = {Ipv4(192, 168, 10, 200), Ipv4(192, 168, 10, 201)};
inline constexpr uint16_t kClientPort = 40000;
inline constexpr uint64_t kT0 = 1'700'000'000'000'000;  // µs since the epoch

inline MacAddress BackendMac(Ipv4Be ip) {
  return {0x02, 0x00, 0x00, 0x00, 0xbe, static_cast<uint8_t>(Be32ToHost(ip))};
}

// Ports consumer0 (untagged network "contoso" with PE 10.0.0.100), consumer1 and provider0
// (192.168.10.1/24); service "fabrikam-web" 80 -> 8080 on three backends, two NAT IPs.
// `static_neighbors`: the backends' MACs are configured (else they are learned by ARP).
inline nlohmann::json ReplayTestConfig(bool static_neighbors = true) {
  using nlohmann::json;
  json provider = {{"name", "provider0"},
                   {"role", "provider"},
                   {"device", "net_null2"},
                   {"mac", "02:00:00:00:b0:00"},
                   {"subnet", "192.168.10.1/24"}};
  if (static_neighbors) {
    json neighbors = json::array();
    for (const Ipv4Be b : kBackends) {
      const MacAddress mac = BackendMac(b);
      char text[18];
      std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
                    mac[3], mac[4], mac[5]);
      neighbors.push_back({{"ip", FormatIpv4(b)}, {"mac", text}});
    }
    provider["staticNeighbors"] = neighbors;
  }
  return {{"dataplane",
           {{"region", "test"},
            {"workers", 1},
            {"flowTableSize", 4096},
            {"api", {{"listen", "unix:/nonexistent/unused.sock"}}},
            {"stateDir", ""},
            {"ports",
             {{{"name", "consumer0"},
               {"role", "consumer"},
               {"device", "net_null0"},
               {"mac", "02:00:00:00:c0:00"}},
              {{"name", "consumer1"},
               {"role", "consumer"},
               {"device", "net_null1"},
               {"mac", "02:00:00:00:c1:00"}},
              provider}}}},
          {"networks",
           {{{"name", "contoso"}, {"port", "consumer0"}, {"vlan", 0}},
            {{"name", "northwind"}, {"port", "consumer1"}, {"vlan", 20}}}},
          {"privateLinkServices",
           {{{"name", "fabrikam-web"},
             {"subscription", "sub-fabrikam"},
             {"loadBalancingRules", {{{"frontendPort", 80}, {"backendPort", 8080}}}},
             {"backends",
              {{{"ip", "192.168.10.11"}}, {{"ip", "192.168.10.12"}}, {{"ip", "192.168.10.13"}}}},
             {"natIps", {"192.168.10.200", "192.168.10.201"}},
             {"visibility", {"*"}},
             {"autoApproval", {"sub-contoso"}}}}},
          {"privateEndpoints",
           {{{"name", "contoso-pe"},
             {"subscription", "sub-contoso"},
             {"network", "contoso"},
             {"ip", "10.0.0.100"},
             {"privateLinkService", "fabrikam-web"}}}}};
}

// ---- frames ----

struct Tcp {
  Ipv4Be src = 0, dst = 0;
  uint16_t sport = 0, dport = 0;
  uint8_t flags = 0;
  uint32_t seq = 0, ack = 0;
  size_t payload = 0;
};

inline uint16_t Be16At(const std::vector<uint8_t>& b, size_t at) {
  return static_cast<uint16_t>((b[at] << 8) | b[at + 1]);
}
inline uint32_t Be32At(const std::vector<uint8_t>& b, size_t at) {
  return (uint32_t{Be16At(b, at)} << 16) | Be16At(b, at + 2);
}

inline bool IsTcp(const std::vector<uint8_t>& b) {
  return b.size() >= 54 && Be16At(b, 12) == kEtherTypeIpv4 && b[23] == nat::kIpProtoTcp;
}

// An untagged IPv4/TCP frame's fields, its checksums checked with the reference.
inline Tcp ParseTcp(const std::vector<uint8_t>& b) {
  Frame f;
  f.bytes = b;
  f.l3_offset = 14;
  f.l3_type = kEtherTypeIpv4;
  f.l4_offset = 14 + (b[14] & 0x0f) * 4;
  EXPECT_TRUE(f.Ipv4ChecksumOk());
  EXPECT_TRUE(f.L4ChecksumOk());
  Tcp t;
  std::memcpy(&t.src, &b[26], 4);
  std::memcpy(&t.dst, &b[30], 4);
  t.sport = Be16At(b, f.l4_offset);
  t.dport = Be16At(b, f.l4_offset + 2);
  t.seq = Be32At(b, f.l4_offset + 4);
  t.ack = Be32At(b, f.l4_offset + 8);
  t.flags = b[f.l4_offset + 13];
  const size_t ip_end = 14 + Be16At(b, 16);
  t.payload = ip_end - f.l4_offset - (b[f.l4_offset + 12] >> 4) * 4;
  return t;
}

inline MacAddress DstMac(const std::vector<uint8_t>& b) {
  MacAddress m;
  std::memcpy(m.data(), b.data(), 6);
  return m;
}
inline MacAddress SrcMac(const std::vector<uint8_t>& b) {
  MacAddress m;
  std::memcpy(m.data(), b.data() + 6, 6);
  return m;
}

// The client (10.0.0.2:40000 + `port_offset`) to its PE on consumer0.
inline std::vector<uint8_t> FromClient(uint8_t flags, uint32_t seq, uint32_t ack,
                                       size_t payload = 0, std::vector<uint8_t> options = {},
                                       uint16_t port_offset = 0) {
  return BuildTcpFrame({.eth = {.dst = kConsumer0Mac, .src = kClientMac},
                        .ip = {.src = kClient, .dst = kPe},
                        .tcp = {.src_port = HostToBe16(kClientPort + port_offset),
                                .dst_port = HostToBe16(80),
                                .seq = seq,
                                .ack = ack,
                                .flags = flags,
                                .options = std::move(options),
                                .payload = PatternPayload(payload)}})
      .PadToMinimum()
      .bytes;
}

// The backend answering the NAT tuple of `syn` (a translated SYN) on provider0.
inline std::vector<uint8_t> FromBackend(const Tcp& syn, uint8_t flags, uint32_t seq, uint32_t ack,
                                        size_t payload = 0) {
  return BuildTcpFrame({.eth = {.dst = kProviderMac, .src = BackendMac(syn.dst)},
                        .ip = {.src = syn.dst, .dst = syn.src},
                        .tcp = {.src_port = HostToBe16(syn.dport),
                                .dst_port = HostToBe16(syn.sport),
                                .seq = seq,
                                .ack = ack,
                                .flags = flags,
                                .payload = PatternPayload(payload, 9)}})
      .PadToMinimum()
      .bytes;
}

inline std::vector<uint8_t> ArpRequest(Ipv4Be target) {
  return BuildArpFrame(
             {.arp = {.sender_mac = kClientMac, .sender_ip = kClient, .target_ip = target}})
      .PadToMinimum()
      .bytes;
}

// ---- pcap by hand ----

struct Record {
  uint64_t time = 0;  // µs, or ns in a nanosecond file
  std::vector<uint8_t> bytes;
};

inline constexpr uint32_t kMagicMicro = 0xa1b2c3d4;
inline constexpr uint32_t kMagicNano = 0xa1b23c4d;

inline void Put32(std::string& out, uint32_t v) {
  out.append(reinterpret_cast<const char*>(&v), 4);
}

inline std::string PcapBytes(const std::vector<Record>& records, uint32_t magic = kMagicMicro,
                             uint32_t link_type = 1) {
  std::string out;
  Put32(out, magic);
  Put32(out, 2 | (4u << 16));  // version 2.4
  Put32(out, 0);               // thiszone
  Put32(out, 0);               // sigfigs
  Put32(out, 262144);          // snaplen
  Put32(out, link_type);
  const uint64_t per_second = magic == kMagicNano ? 1'000'000'000 : 1'000'000;
  for (const Record& r : records) {
    Put32(out, static_cast<uint32_t>(r.time / per_second));
    Put32(out, static_cast<uint32_t>(r.time % per_second));
    Put32(out, static_cast<uint32_t>(r.bytes.size()));
    Put32(out, static_cast<uint32_t>(r.bytes.size()));
    out.append(r.bytes.begin(), r.bytes.end());
  }
  return out;
}

inline uint32_t Get32(const std::string& in, size_t at) {
  uint32_t v;
  std::memcpy(&v, in.data() + at, 4);
  return v;
}

// A microsecond Ethernet pcap's records, as privlink-replay writes them (whole frames).
inline std::vector<Record> ParsePcap(const std::string& in) {
  EXPECT_GE(in.size(), 24u);
  if (in.size() < 24) return {};
  EXPECT_EQ(Get32(in, 0), kMagicMicro);
  EXPECT_EQ(Get32(in, 20), 1u) << "link type";
  std::vector<Record> out;
  size_t at = 24;
  while (at + 16 <= in.size()) {
    Record r;
    r.time = uint64_t{Get32(in, at)} * 1'000'000 + Get32(in, at + 4);
    const uint32_t len = Get32(in, at + 8);
    EXPECT_EQ(len, Get32(in, at + 12)) << "whole frames are written";
    at += 16;
    if (at + len > in.size()) break;
    r.bytes.assign(in.begin() + at, in.begin() + at + len);
    at += len;
    out.push_back(std::move(r));
  }
  EXPECT_EQ(at, in.size()) << "trailing bytes";
  return out;
}

}  // namespace privlink::dataplane::testing
