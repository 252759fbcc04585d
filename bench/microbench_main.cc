// privlink-microbench: engine microbenchmarks (Google Benchmark). rte_hash, measured beside our
// flow table, allocates from DPDK's heap, so the EAL is started first, without hugepages or PCI
// unless the caller passes EAL options after "--eal" (e.g. on a machine with hugepages).
#include <rte_eal.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::vector<std::string> eal = {"privlink-microbench", "--no-pci", "--no-telemetry",
                                  "--file-prefix=privlink-bench-" + std::to_string(getpid()),
                                  "--log-level=lib.eal:error"};
  std::vector<char*> bench_argv;
  bool custom_eal = false;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--eal") == 0) {
      custom_eal = true;
      for (++i; i < argc; ++i) eal.push_back(argv[i]);
      break;
    }
    bench_argv.push_back(argv[i]);
  }
  if (!custom_eal) {
    // rte_hash with 20M keys needs about 1.5 GB of DPDK heap.
    for (const char* a : {"--no-huge", "--no-shconf", "-m", "3072"}) eal.push_back(a);
  }
  std::vector<char*> eal_argv;
  for (auto& a : eal) eal_argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    std::fprintf(stderr, "privlink-microbench: rte_eal_init failed\n");
    return 1;
  }
  int bench_argc = static_cast<int>(bench_argv.size());
  benchmark::Initialize(&bench_argc, bench_argv.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  // No rte_eal_cleanup(): benchmark fixtures cached in statics free DPDK memory at exit.
  return 0;
}
