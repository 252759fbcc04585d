// The two costs the issue budgets, in TSC cycles per packet / per flow:
//  - established translation: bulk lookup of a burst + rewrite + checksum deltas + counters +
//    TCP state check, for 1k, 1M and 10M flows;
//  - new-flow setup: lookup miss + Maglev pick + NAT port allocation + two inserts.
#include <rte_cycles.h>

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "absl/strings/str_format.h"
#include "lb/maglev.h"
#include "nat/flow_setup.h"
#include "nat/translate.h"

namespace privlink::bench {
namespace {

constexpr uint32_t kBurst = 32;
// Packets cycled through: far more distinct flows than a cache holds, few enough to build fast.
constexpr uint32_t kPacketPool = 1 << 16;
constexpr size_t kHeaderBytes = 40;  // IPv4 + TCP, the part the translation reads and writes

// A service big enough that 10M flows fit its NAT port spaces: 8 NAT IPs x 32 backends x 64,512.
struct Service {
  std::vector<Ipv4Be> nat_ips;
  std::vector<Ipv4Be> backends;
  lb::MaglevTable maglev;
};

const Service& GetService() {
  static const Service s = [] {
    Service s;
    std::vector<lb::MaglevBackend> lb_backends;
    for (uint32_t i = 0; i < 8; ++i)
      s.nat_ips.push_back(Ipv4(192, 168, 200, static_cast<uint8_t>(i + 1)));
    for (uint32_t i = 0; i < 32; ++i) {
      s.backends.push_back(Ipv4(192, 168, 10, static_cast<uint8_t>(i + 10)));
      lb_backends.push_back({FormatIpv4(s.backends.back()), 1});
    }
    s.maglev = *lb::BuildMaglevTable(lb_backends);
    return s;
  }();
  return s;
}

nat::FlowKey ClientKey(uint32_t i) {
  return nat::FlowKey{HostToBe32(0x0a000000u + (i >> 15)), Ipv4(10, 255, 0, 100),
                      HostToBe16(static_cast<uint16_t>(1024 + (i & 0x7fff))), HostToBe16(80),
                      static_cast<nat::NetworkId>(1 + (i & 3))};
}

struct World {
  std::unique_ptr<nat::FlowTable> table;
  std::unique_ptr<nat::NatPortAllocator> ports;
};

nat::FlowId Open(World& w, const nat::FlowKey& key, nat::TimeMs now) {
  const Service& s = GetService();
  const uint16_t slot = s.maglev.Pick(nat::HashFlowKey(key).value);
  auto id = nat::CreateFlow(*w.table, *w.ports, 0,
                            {.client_to_endpoint = key,
                             .backend_ip = s.backends[slot],
                             .backend_port = HostToBe16(8080),
                             .nat_ips = s.nat_ips},
                            now);
  if (!id.ok())
    std::fprintf(stderr, "flow setup failed: %s\n",
                 std::string(nat::SetupFailureName(id.failure)).c_str());
  return id.ok() ? *id : nat::kInvalidFlowId;
}

World& GetWorld(uint32_t flows) {
  static std::map<uint32_t, std::unique_ptr<World>> cache;
  auto& w = cache[flows];
  if (!w) {
    w = std::make_unique<World>();
    // Room for the setup benchmark's extra flows.
    w->table = std::move(*nat::FlowTable::Create({.capacity = flows + 65536}));
    w->ports =
        std::make_unique<nat::NatPortAllocator>(std::move(*nat::NatPortAllocator::Create({})));
    for (uint32_t i = 0; i < flows; ++i) {
      if (Open(*w, ClientKey(i), 0) == nat::kInvalidFlowId) std::abort();
    }
  }
  return *w;
}

// Consumer-side packets (and their keys, as the parser would produce them) of random flows.
struct PacketPool {
  std::vector<uint8_t> pristine;  // kPacketPool headers
  std::vector<nat::FlowKey> keys;
};

PacketPool MakePool(uint32_t flows) {
  PacketPool p;
  p.pristine.resize(size_t{kPacketPool} * kHeaderBytes);
  std::mt19937 rng(1);
  for (uint32_t i = 0; i < kPacketPool; ++i) {
    const nat::FlowKey k = ClientKey(rng() % flows);
    p.keys.push_back(k);
    uint8_t* h = &p.pristine[size_t{i} * kHeaderBytes];
    h[0] = 0x45;
    h[3] = kHeaderBytes;
    h[8] = 64;
    h[9] = nat::kIpProtoTcp;
    std::memcpy(h + 12, &k.tuple.src_ip, 4);
    std::memcpy(h + 16, &k.tuple.dst_ip, 4);
    std::memcpy(h + 20, &k.tuple.src_port, 2);
    std::memcpy(h + 22, &k.tuple.dst_port, 2);
    h[32] = 5 << 4;
    h[33] = nat::kTcpAck;
    const uint16_t ipc = nat::Ipv4HeaderChecksum(h);
    std::memcpy(h + 10, &ipc, 2);
    const uint16_t tc = nat::TcpChecksum(k.tuple.src_ip, k.tuple.dst_ip, h + 20, 20);
    std::memcpy(h + 36, &tc, 2);
  }
  return p;
}

void BM_TranslateEstablished(benchmark::State& state) {
  const auto flows = static_cast<uint32_t>(state.range(0));
  World& w = GetWorld(flows);
  const PacketPool pool = MakePool(flows);
  std::vector<uint8_t> work(pool.pristine.size());
  uint64_t cycles = 0, packets = 0, missed = 0;
  uint32_t next = 0;
  for (auto _ : state) {
    // The packet headers arrive fresh, as a NIC writes them; copying them back in is not timed.
    std::memcpy(work.data(), pool.pristine.data(), work.size());
    const uint64_t t0 = rte_rdtsc_precise();
    for (uint32_t b = 0; b < kPacketPool; b += kBurst) {
      nat::FlowLookup refs[kBurst];
      const uint64_t hits =
          w.table->LookupBulk(std::span<const nat::FlowKey>(&pool.keys[next + b], kBurst), refs);
      for (uint32_t i = 0; i < kBurst; ++i) {
        if (((hits >> i) & 1) == 0) {
          ++missed;
          continue;
        }
        uint8_t* h = &work[size_t{b + i} * kHeaderBytes];
        nat::TranslateOnFlow(w.table->entry(refs[i].ref.id), refs[i].ref.dir,
                             {.headers = {h, h + 20}, .tcp_flags = nat::kTcpAck, .frame_bytes = 64},
                             1);
      }
    }
    cycles += rte_rdtsc_precise() - t0;
    packets += kPacketPool;
    next = 0;
  }
  if (missed != 0) state.SkipWithError("established flow not found");
  state.counters["cycles_per_packet"] = static_cast<double>(cycles) / static_cast<double>(packets);
  state.counters["Mpps_one_core"] =
      static_cast<double>(packets) / (static_cast<double>(cycles) / rte_get_tsc_hz()) / 1e6;
}

void BM_NewFlowSetup(benchmark::State& state) {
  const auto flows = static_cast<uint32_t>(state.range(0));
  World& w = GetWorld(flows);
  constexpr uint32_t kBatch = 4096;
  std::vector<nat::FlowKey> fresh(kBatch);
  std::vector<nat::FlowId> ids(kBatch);
  uint32_t round = 0;
  uint64_t cycles = 0, created = 0;
  for (auto _ : state) {
    for (uint32_t i = 0; i < kBatch; ++i) {
      fresh[i] = ClientKey(i);
      fresh[i].network = static_cast<nat::NetworkId>(100 + (round % 1000));  // never seen before
    }
    ++round;
    const uint64_t t0 = rte_rdtsc_precise();
    for (uint32_t i = 0; i < kBatch; ++i) {
      if (w.table->Lookup(fresh[i]).found()) std::abort();  // the miss the slow path starts from
      ids[i] = Open(w, fresh[i], 0);
    }
    cycles += rte_rdtsc_precise() - t0;
    created += kBatch;
    for (const nat::FlowId id : ids) {  // teardown, untimed: keeps the table at `flows`
      if (id == nat::kInvalidFlowId) std::abort();
      nat::ReleaseFlowPort(*w.ports, w.table->entry(id).binding, 0).IgnoreError();
      w.table->Remove(0, id);
    }
    w.table->Reclaim(0);
  }
  state.counters["cycles_per_flow"] = static_cast<double>(cycles) / static_cast<double>(created);
}

BENCHMARK(BM_TranslateEstablished)->ArgName("flows")->Arg(1'000)->Arg(1'000'000)->Arg(10'000'000);
BENCHMARK(BM_NewFlowSetup)->ArgName("flows")->Arg(1'000)->Arg(1'000'000)->Arg(10'000'000);

}  // namespace
}  // namespace privlink::bench
