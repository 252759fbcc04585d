// NAT port allocation cost in TSC cycles: Allocate + Release at several fill levels of one
// (NAT IP, backend) port space, Allocate spread over 8 NAT IPs, and the exhausted (drop) path.
#include <rte_cycles.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include <benchmark/benchmark.h>

#include "nat/port_alloc.h"

namespace privlink::nat {
namespace {

// Ports handed out per timed batch; big enough to hide rte_rdtsc's own cost, small enough to fit
// in the 1% of the slice left free at 99% fill.
constexpr uint32_t kBatch = 256;
constexpr Ipv4Be kFirstBackend = Ipv4(192, 168, 10, 1);
constexpr PortBe kBackendPort = HostToBe16(8080);

// On a shared machine other processes inflate some repetitions; with --benchmark_repetitions the
// smallest is the closest to the code's own cost.
double Smallest(const std::vector<double>& values) {
  return *std::min_element(values.begin(), values.end());
}

std::vector<Ipv4Be> NatIps(int count) {
  std::vector<Ipv4Be> ips;
  for (int i = 0; i < count; ++i) ips.push_back(Ipv4(100, 64, 0, static_cast<uint8_t>(i + 1)));
  return ips;
}

Ipv4Be Backend(uint32_t i) {
  return HostToBe32(Be32ToHost(kFirstBackend) + i);
}

// Stand-ins for flow hashes (xorshift32), computed outside the timed region.
std::vector<uint32_t> FlowHashes(size_t count) {
  std::vector<uint32_t> hashes(count);
  uint32_t x = 2463534242u;
  for (uint32_t& h : hashes) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    h = x;
  }
  return hashes;
}

struct Held {
  NatTuple nat;
  Ipv4Be backend;
};

// Times batches of Allocate then Release. After each batch the clock passes the quarantine, so
// the next batch's first Allocate ends kBatch quarantines: that cost is in alloc_cycles, as it
// would be on a worker.
void RunAllocateReleaseBatches(benchmark::State& state, NatPortAllocator& allocator,
                               std::span<const Ipv4Be> nat_ips, uint32_t backends,
                               uint32_t quarantine_ms) {
  const std::vector<uint32_t> hashes = FlowHashes(kBatch * 64);
  std::array<Held, kBatch> batch;
  TimeMs now = quarantine_ms;  // set-up may have released ports at time 0
  uint64_t alloc_cycles = 0, release_cycles = 0, ops = 0;
  size_t next_hash = 0;
  for (auto _ : state) {
    const uint64_t start = rte_rdtsc();
    for (Held& held : batch) {
      const uint32_t hash = hashes[next_hash++ % hashes.size()];
      held.backend = Backend((hash >> 8) % backends);  // bits apart from the NAT IP's
      nat::SetupOutcome<NatTuple> nat =
          allocator.Allocate(nat_ips, {held.backend, kBackendPort}, hash, now);
      if (!nat.ok()) {
        state.SkipWithError("Allocate failed");
        return;
      }
      held.nat = *nat;
    }
    const uint64_t allocated = rte_rdtsc();
    for (const Held& held : batch) {
      benchmark::DoNotOptimize(allocator.Release(held.nat, {held.backend, kBackendPort}, now));
    }
    const uint64_t released = rte_rdtsc();
    alloc_cycles += allocated - start;
    release_cycles += released - allocated;
    ops += kBatch;
    now += quarantine_ms + 1;
  }
  state.counters["cycles_per_op"] = static_cast<double>(alloc_cycles + release_cycles) / ops;
  state.counters["alloc_cycles"] = static_cast<double>(alloc_cycles) / ops;
  state.counters["release_cycles"] = static_cast<double>(release_cycles) / ops;
  state.SetItemsProcessed(static_cast<int64_t>(ops));
}

// One worker owning the whole default range; one NAT IP, one backend, fill_percent of the slice
// held by ports scattered at random over it (as after long churn), and at least one port, so the
// pair's state lives across batches as it would under steady traffic.
void BM_PortAllocateRelease(benchmark::State& state) {
  const PortAllocatorConfig config;
  NatPortAllocator allocator = *NatPortAllocator::Create(config);
  const std::vector<Ipv4Be> nat_ips = NatIps(1);
  const uint32_t fill_percent = static_cast<uint32_t>(state.range(0));
  const std::vector<uint32_t> hashes = FlowHashes(allocator.slice().size());
  for (uint32_t i = 0; i < allocator.slice().size(); ++i) {
    const NatTuple nat = *allocator.Allocate(nat_ips, {Backend(0), kBackendPort}, 0, 0);
    if (i > 0 && hashes[i] % 100 >= fill_percent) {
      benchmark::DoNotOptimize(allocator.Release(nat, {Backend(0), kBackendPort}, 0));
    }
  }
  allocator.Expire(config.quarantine_ms);
  RunAllocateReleaseBatches(state, allocator, nat_ips, /*backends=*/1, config.quarantine_ms);
}
BENCHMARK(BM_PortAllocateRelease)
    ->ComputeStatistics("min", Smallest)
    ->ArgName("fill_percent")
    ->Arg(0)
    ->Arg(50)
    ->Arg(99);

// Worker 0 of 8 (a 2 KB pair state per slice); 8 NAT IPs; new flows spread by hash over NAT IPs
// and over `backends` backends (1024 backends: 8192 pair states, 16 MB, mostly out of cache).
void BM_PortAllocateAcross8NatIps(benchmark::State& state) {
  PortAllocatorConfig config;
  config.worker_count = 8;
  NatPortAllocator allocator = *NatPortAllocator::Create(config);
  const std::vector<Ipv4Be> nat_ips = NatIps(8);
  const uint32_t backends = static_cast<uint32_t>(state.range(0));
  // Hold one port per pair so pair states persist, as they do under steady traffic.
  for (uint32_t b = 0; b < backends; ++b) {
    for (uint32_t i = 0; i < nat_ips.size(); ++i) {
      benchmark::DoNotOptimize(allocator.Allocate(nat_ips, {Backend(b), kBackendPort}, i, 0));
    }
  }
  RunAllocateReleaseBatches(state, allocator, nat_ips, backends, config.quarantine_ms);
}
BENCHMARK(BM_PortAllocateAcross8NatIps)
    ->ComputeStatistics("min", Smallest)
    ->ArgName("backends")
    ->Arg(1)
    ->Arg(1024);

// The drop path: all 8 NAT IPs full for the backend (e.g. a SYN flood towards it).
void BM_PortAllocateExhausted(benchmark::State& state) {
  PortAllocatorConfig config;
  config.first_port = 1024;
  config.last_port = 1024 + 63;
  NatPortAllocator allocator = *NatPortAllocator::Create(config);
  const std::vector<Ipv4Be> nat_ips = NatIps(8);
  while (allocator.Allocate(nat_ips, {Backend(0), kBackendPort}, 0, 0).ok()) {
  }
  uint64_t cycles = 0, ops = 0;
  uint32_t hash = 0;
  for (auto _ : state) {
    const uint64_t start = rte_rdtsc();
    for (uint32_t i = 0; i < kBatch; ++i) {
      benchmark::DoNotOptimize(allocator.Allocate(nat_ips, {Backend(0), kBackendPort}, hash++, 0));
    }
    cycles += rte_rdtsc() - start;
    ops += kBatch;
  }
  state.counters["cycles_per_op"] = static_cast<double>(cycles) / ops;
  state.SetItemsProcessed(static_cast<int64_t>(ops));
}
BENCHMARK(BM_PortAllocateExhausted)->ComputeStatistics("min", Smallest);

}  // namespace
}  // namespace privlink::nat
