// Maglev: control-side table build time, and the data path's Pick() in TSC cycles per call.
#include <rte_cycles.h>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "lb/maglev.h"

namespace privlink::lb {
namespace {

// Enough distinct flow hashes that Pick touches the whole table rather than a few cache lines,
// and few enough (16 KiB) that the hash array itself stays in L1.
constexpr size_t kFlowHashes = 4096;

std::vector<MaglevBackend> MakeBackends(int64_t count) {
  std::vector<MaglevBackend> backends;
  for (int64_t i = 0; i < count; ++i) {
    backends.push_back(MaglevBackend{
        .name = absl::StrFormat("10.%d.%d.%d:8080", i >> 16, (i >> 8) & 0xff, i & 0xff),
        .weight = static_cast<uint32_t>(1 + i % 3)});  // mixed weights: the general path
  }
  return backends;
}

void BM_MaglevBuild(benchmark::State& state) {
  const std::vector<MaglevBackend> backends = MakeBackends(state.range(0));
  for (auto _ : state) {
    absl::StatusOr<MaglevTable> table = BuildMaglevTable(backends);
    if (!table.ok()) {
      state.SkipWithError(std::string(table.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(table->slots().data());
  }
  state.counters["backends"] = static_cast<double>(backends.size());
}
BENCHMARK(BM_MaglevBuild)->Arg(3)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond);

void BM_MaglevPick(benchmark::State& state) {
  const absl::StatusOr<MaglevTable> table = BuildMaglevTable(MakeBackends(state.range(0)));
  if (!table.ok()) {
    state.SkipWithError(std::string(table.status().message()).c_str());
    return;
  }
  std::vector<uint32_t> flow_hashes(kFlowHashes);
  std::mt19937 rng(1);
  for (uint32_t& hash : flow_hashes) hash = static_cast<uint32_t>(rng());

  // Picks are independent, as those of a burst's packets are, so this is throughput per pick.
  uint64_t cycles = 0;
  uint64_t picks = 0;
  uint64_t checksum = 0;  // consumed, so the compiler cannot drop the picks
  for (auto _ : state) {
    const uint64_t start = rte_rdtsc();
    for (uint32_t hash : flow_hashes) checksum += table->Pick(hash);
    cycles += rte_rdtsc() - start;
    picks += flow_hashes.size();
  }
  benchmark::DoNotOptimize(checksum);
  state.SetItemsProcessed(static_cast<int64_t>(picks));
  state.counters["cycles_per_op"] = picks == 0 ? 0.0 : static_cast<double>(cycles) / picks;
}
BENCHMARK(BM_MaglevPick)->Arg(10)->Arg(1000);

}  // namespace
}  // namespace privlink::lb
