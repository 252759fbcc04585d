// gtest main for tests that need DPDK's EAL: starts it without hugepages, PCI devices, shared
// files or telemetry, so tests run on any machine and several test binaries can run at once.
// (DPDK 22.11 refuses --in-memory together with --no-huge, which implies legacy memory;
// --no-shconf plus a per-process file prefix gives the same isolation.)
#include <rte_eal.h>

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  std::vector<std::string> args = {"privlink-test",
                                   "--no-huge",
                                   "--no-pci",
                                   "--no-shconf",
                                   "--no-telemetry",
                                   "--file-prefix=privlink-test-" + std::to_string(getpid()),
                                   "-m",
                                   "256",
                                   "--log-level=lib.eal:error"};
  std::vector<char*> eal_argv;
  for (auto& a : args) eal_argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    std::fprintf(stderr, "rte_eal_init failed\n");
    return 1;
  }
  const int rc = RUN_ALL_TESTS();
  rte_eal_cleanup();
  return rc;
}
