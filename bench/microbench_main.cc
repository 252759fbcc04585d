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
  // Options first, before the EAL starts: --help prints ours, then Google Benchmark's own, and
  // exits 0; an option neither knows is a usage error (exit 2).
  for (char* a : bench_argv) {
    if (std::strcmp(a, "--help") == 0 || std::strcmp(a, "-h") == 0) {
      std::printf(
          "usage: privlink-microbench [Google Benchmark options] [--eal EAL options...]\n"
          "EAL options after --eal replace the default (no hugepages, no PCI, 3 GB of heap).\n"
          "Google Benchmark options:\n");
      std::fflush(stdout);
      char help[] = "--help";
      char* help_argv[] = {bench_argv[0], help};
      int help_argc = 2;
      benchmark::Initialize(&help_argc, help_argv);  // prints its flags and exits 0
      return 0;
    }
  }
  int bench_argc = static_cast<int>(bench_argv.size());
  benchmark::Initialize(&bench_argc, bench_argv.data());
  if (benchmark::ReportUnrecognizedArguments(bench_argc, bench_argv.data())) return 2;
  std::vector<char*> eal_argv;
  for (auto& a : eal) eal_argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    std::fprintf(stderr, "privlink-microbench: rte_eal_init failed\n");
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  // No rte_eal_cleanup(): benchmark fixtures cached in statics free DPDK memory at exit.
  return 0;
}
