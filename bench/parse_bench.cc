// The parser's cost in TSC cycles per frame: ParsePacket over bursts of TCP frames, as a worker
// calls it, with and without checksum verification; and a dropped (UDP) frame, which takes the
// in-order path.
#include <rte_cycles.h>

#include <benchmark/benchmark.h>

#include <array>
#include <cstring>
#include <vector>

#include "dataplane/packet/parse.h"
#include "dataplane/packet/wire_format.h"
#include "nat/tcp_state.h"

namespace privlink::bench {
namespace {

using dataplane::ParsedPacket;
using dataplane::ParseOptions;

constexpr uint32_t kBurst = 32;
// Distinct frames cycled through: enough that the tuples vary, few enough to stay in L1/L2 at
// 1514 bytes each, as a burst just written by the NIC would be.
constexpr uint32_t kFrames = 256;

// One Ethernet + IPv4 + TCP (or UDP) frame with valid checksums.
std::vector<uint8_t> MakeFrame(uint32_t i, uint32_t payload, bool tagged, uint8_t protocol) {
  const size_t l3 = tagged ? 18 : 14;
  const size_t l4_header = protocol == nat::kIpProtoTcp ? 20 : 8;
  std::vector<uint8_t> f(l3 + 20 + l4_header + payload, 0);
  for (size_t b = 0; b < 12; ++b) f[b] = static_cast<uint8_t>(0x02 + b);
  if (tagged) {
    f[12] = 0x81;
    f[14] = 0x00;
    f[15] = 100;
  }
  f[l3 - 2] = 0x08;  // IPv4
  uint8_t* ip = &f[l3];
  const auto total = static_cast<uint16_t>(20 + l4_header + payload);
  ip[0] = 0x45;
  ip[2] = static_cast<uint8_t>(total >> 8);
  ip[3] = static_cast<uint8_t>(total);
  ip[6] = 0x40;  // DF
  ip[8] = 64;
  ip[9] = protocol;
  const Ipv4Be src = HostToBe32(0x0a000000u + 2 + (i >> 8)), dst = Ipv4(10, 0, 0, 100);
  const PortBe sport = HostToBe16(static_cast<uint16_t>(1024 + i)), dport = HostToBe16(80);
  std::memcpy(ip + 12, &src, 4);
  std::memcpy(ip + 16, &dst, 4);
  uint8_t* l4 = ip + 20;
  std::memcpy(l4, &sport, 2);
  std::memcpy(l4 + 2, &dport, 2);
  for (uint32_t b = 0; b < payload; ++b) l4[l4_header + b] = static_cast<uint8_t>(b * 7 + i);
  const uint16_t ip_checksum = nat::Ipv4HeaderChecksum(ip);
  std::memcpy(ip + 10, &ip_checksum, 2);
  if (protocol == nat::kIpProtoTcp) {
    l4[12] = 5 << 4;
    l4[13] = nat::kTcpAck;
    const uint16_t tcp_checksum = nat::TcpChecksum(src, dst, l4, 20 + payload);
    std::memcpy(l4 + 16, &tcp_checksum, 2);
  } else {
    l4[4] = static_cast<uint8_t>((8 + payload) >> 8);  // UDP length
    l4[5] = static_cast<uint8_t>(8 + payload);
    const uint16_t udp_checksum = nat::UdpChecksum(src, dst, l4, 8 + payload);
    std::memcpy(l4 + 6, &udp_checksum, 2);
  }
  return f;
}

template <ParseOptions kOptions>
void RunParse(benchmark::State& state, uint8_t protocol, dataplane::ParseVerdict expected) {
  const auto payload = static_cast<uint32_t>(state.range(0));
  const bool tagged = state.range(1) != 0;
  std::vector<std::vector<uint8_t>> frames;
  for (uint32_t i = 0; i < kFrames; ++i) frames.push_back(MakeFrame(i, payload, tagged, protocol));
  std::array<ParsedPacket, kBurst> results;
  uint64_t cycles = 0, parses = 0;
  bool all_expected = true;
  for (auto _ : state) {
    const uint64_t t0 = rte_rdtsc_precise();
    for (uint32_t b = 0; b < kFrames; b += kBurst) {
      for (uint32_t i = 0; i < kBurst; ++i) {
        const std::vector<uint8_t>& f = frames[b + i];
        results[i] = dataplane::ParsePacket<kOptions>(f.data(), static_cast<uint32_t>(f.size()));
      }
      benchmark::DoNotOptimize(results.data());
      benchmark::ClobberMemory();
      all_expected &= results[kBurst - 1].verdict == expected;
    }
    cycles += rte_rdtsc_precise() - t0;
    parses += kFrames;
  }
  if (!all_expected) state.SkipWithError("unexpected parse verdict");
  state.counters["cycles_per_parse"] = static_cast<double>(cycles) / static_cast<double>(parses);
}

void BM_ParseTcp(benchmark::State& state) {
  RunParse<ParseOptions{}>(state, nat::kIpProtoTcp, dataplane::ParseVerdict::kTcp);
}
void BM_ParseTcpVerifyTcpChecksum(benchmark::State& state) {
  RunParse<dataplane::kVerifyTcpChecksums>(state, nat::kIpProtoTcp, dataplane::ParseVerdict::kTcp);
}
// UDP takes the in-order parser (no fast path of its own).
void BM_ParseUdp(benchmark::State& state) {
  RunParse<ParseOptions{}>(state, dataplane::kIpProtoUdp, dataplane::ParseVerdict::kUdp);
}

BENCHMARK(BM_ParseTcp)->ArgNames({"payload", "vlan"})->ArgsProduct({{0, 1460}, {0, 1}});
BENCHMARK(BM_ParseTcpVerifyTcpChecksum)
    ->ArgNames({"payload", "vlan"})
    ->ArgsProduct({{0, 1460}, {0, 1}});
BENCHMARK(BM_ParseUdp)->ArgNames({"payload", "vlan"})->Args({0, 0});

}  // namespace
}  // namespace privlink::bench
