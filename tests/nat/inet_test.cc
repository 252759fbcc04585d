#include "nat/inet.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "nat/flow_key.h"

namespace privlink {
namespace {

TEST(Inet, ParsesAndFormatsDottedQuads) {
  struct Case {
    const char* text;
    bool ok;
    uint32_t host;
  } cases[] = {
      {"10.0.0.1", true, 0x0a000001},
      {"0.0.0.0", true, 0},
      {"255.255.255.255", true, 0xffffffff},
      {"192.168.10.200", true, 0xc0a80ac8},
      {"256.0.0.1", false, 0},
      {"1.2.3", false, 0},
      {"1.2.3.4.5", false, 0},
      {"01.2.3.4", false, 0},
      {" 1.2.3.4", false, 0},
      {"1.2.3.4 ", false, 0},
      {"1..3.4", false, 0},
      {"", false, 0},
      {"a.b.c.d", false, 0},
      {"1.2.3.1000", false, 0},
      {"-1.2.3.4", false, 0},
  };
  for (const auto& c : cases) {
    auto ip = ParseIpv4(c.text);
    EXPECT_EQ(ip.ok(), c.ok) << c.text;
    if (c.ok && ip.ok()) {
      EXPECT_EQ(Be32ToHost(*ip), c.host) << c.text;
      EXPECT_EQ(FormatIpv4(*ip), c.text);
    }
  }
  EXPECT_EQ(Ipv4(10, 0, 0, 2), *ParseIpv4("10.0.0.2"));
  EXPECT_EQ(FormatEndpoint(Ipv4(10, 0, 0, 2), HostToBe16(40000)), "10.0.0.2:40000");
}

TEST(FlowKey, ComparesAllFieldsAndHashesDeterministically) {
  const nat::FlowKey a{Ipv4(10, 0, 0, 2), Ipv4(10, 0, 0, 100), HostToBe16(40000), HostToBe16(80),
                       1};
  nat::FlowKey b = a;
  EXPECT_EQ(a, b);
  EXPECT_EQ(nat::HashFlowKey(a), nat::HashFlowKey(b));
  b.network = 2;  // same tuple, another consumer network: another flow
  EXPECT_FALSE(a == b);
  EXPECT_NE(nat::HashFlowKey(a), nat::HashFlowKey(b));
  b = a;
  b.tuple.src_port = HostToBe16(40001);
  EXPECT_FALSE(a == b);
  EXPECT_EQ(nat::FormatFlowKey(a), "net1 10.0.0.2:40000 -> 10.0.0.100:80 proto 6");
}

// HashFlowKey may use the CRC instruction directly; its value must stay DPDK's CRC32-C, since
// Maglev picks (and so replay outputs) and table placement follow it.
TEST(FlowKey, HashIsDpdksCrc32cMixed) {
  std::mt19937_64 rng(3);
  for (int i = 0; i < 10000; ++i) {
    nat::FlowKey k{static_cast<Ipv4Be>(rng()), static_cast<Ipv4Be>(rng()),
                   static_cast<PortBe>(rng()), static_cast<PortBe>(rng()),
                   static_cast<nat::NetworkId>(rng())};
    uint64_t w[2];
    std::memcpy(w, &k, sizeof w);
    const uint32_t want =
        nat::MixBits32(rte_hash_crc_8byte(w[1], rte_hash_crc_8byte(w[0], 0x9e3779b9u)));
    ASSERT_EQ(nat::HashFlowKey(k).value, want) << nat::FormatFlowKey(k);
  }
}

TEST(FlowKey, TupleReversedSwapsTheEndsAndIsItsOwnInverse) {
  const nat::Tuple t{.src_ip = Ipv4(10, 0, 0, 2),
                     .dst_ip = Ipv4(10, 0, 0, 100),
                     .src_port = HostToBe16(40000),
                     .dst_port = HostToBe16(80)};
  const nat::Tuple r = t.Reversed();
  EXPECT_EQ(r.src_ip, t.dst_ip);
  EXPECT_EQ(r.dst_ip, t.src_ip);
  EXPECT_EQ(r.src_port, t.dst_port);
  EXPECT_EQ(r.dst_port, t.src_port);
  EXPECT_EQ(r.Reversed(), t);
}

}  // namespace
}  // namespace privlink
