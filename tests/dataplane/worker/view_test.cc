// BackendHops: the in2out path's table of resolved backends (dataplane/view.h).
#include <gtest/gtest.h>

#include <vector>

#include "dataplane/worker/view.h"
#include "nat/inet.h"

namespace privlink::dataplane {
namespace {

BackendHop Hop(Ipv4Be ip, uint16_t port) {
  return {.backend = ip,
          .port = port,
          .dst_mac = {0x02, 0, 0, 0, 0xbe, static_cast<uint8_t>(Be32ToHost(ip))},
          .src_mac = {0x02, 0, 0, 0, 0xb0, static_cast<uint8_t>(port)}};
}

TEST(BackendHopsTest, EmptyTableFindsNothing) {
  const BackendHops none;
  EXPECT_EQ(none.Find(Ipv4(192, 168, 10, 11)), nullptr);
  const BackendHops empty(std::vector<BackendHop>{});
  EXPECT_EQ(empty.Find(Ipv4(192, 168, 10, 11)), nullptr);
}

TEST(BackendHopsTest, FindsEveryBackendAndNothingElse) {
  // Consecutive addresses, as backends usually are, and more than fit one probe run.
  std::vector<BackendHop> hops;
  for (uint32_t i = 0; i < 1000; ++i) {
    hops.push_back(
        Hop(HostToBe32(Be32ToHost(Ipv4(10, 1, 0, 0)) + i), static_cast<uint16_t>(i % 3)));
  }
  const BackendHops table(hops);
  EXPECT_GE(table.capacity(), 2 * hops.size());
  for (const BackendHop& want : hops) {
    const BackendHop* got = table.Find(want.backend);
    ASSERT_NE(got, nullptr) << FormatIpv4(want.backend);
    EXPECT_EQ(got->port, want.port);
    EXPECT_EQ(got->dst_mac, want.dst_mac);
    EXPECT_EQ(got->src_mac, want.src_mac);
  }
  for (uint32_t i = 1000; i < 3000; ++i) {
    EXPECT_EQ(table.Find(HostToBe32(Be32ToHost(Ipv4(10, 1, 0, 0)) + i)), nullptr);
  }
}

TEST(BackendHopsTest, ABackendListedTwiceKeepsTheLastHop) {
  // Two services may share a backend: the same address resolves the same way, once.
  const Ipv4Be ip = Ipv4(192, 168, 10, 11);
  const BackendHops table(std::vector<BackendHop>{Hop(ip, 0), Hop(ip, 1)});
  const BackendHop* got = table.Find(ip);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->port, 1);
}

}  // namespace
}  // namespace privlink::dataplane
