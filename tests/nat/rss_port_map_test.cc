// RSS port choice: the map from NAT ports to the queue their return tuples hash to, and the
// allocator's shares laid out by it. The hash is checked against Microsoft's published Toeplitz
// vectors and a bit-by-bit reference; every port an allocator hands out must come back to its
// worker when its whole return tuple is hashed.
#include "nat/rss_port_map.h"

#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "nat/port_alloc.h"

namespace privlink::nat {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> DefaultKey() {
  return {kRssKey.begin(), kRssKey.end()};
}

// Toeplitz as the specification writes it: for each set input bit, from the most significant,
// XOR in the 32 key bits starting at that bit's position.
uint32_t ReferenceToeplitz(const std::vector<uint8_t>& key, const Tuple& t) {
  uint8_t input[12];
  std::memcpy(input, &t.src_ip, 4);
  std::memcpy(input + 4, &t.dst_ip, 4);
  std::memcpy(input + 8, &t.src_port, 2);
  std::memcpy(input + 10, &t.dst_port, 2);
  const auto key_bit = [&](size_t i) { return (key[i / 8] >> (7 - i % 8)) & 1u; };
  uint32_t hash = 0;
  for (size_t bit = 0; bit < 96; ++bit) {
    if (((input[bit / 8] >> (7 - bit % 8)) & 1) == 0) continue;
    uint32_t window = 0;
    for (size_t j = 0; j < 32; ++j) window = window << 1 | key_bit(bit + j);
    hash ^= window;
  }
  return hash;
}

// The queue a NIC with this RETA gives `t`: the whole tuple hashed (by rte_softrss, held to the
// vectors and the reference above), not the map's port-class decomposition.
uint32_t ReferenceQueue(const std::vector<uint16_t>& reta, const Tuple& t) {
  return reta[RssHash(DefaultKey(), t) % reta.size()];
}

Tuple ReturnTuple(Ipv4Be backend, PortBe backend_port, Ipv4Be nat_ip, uint16_t nat_port) {
  return {.src_ip = backend,
          .dst_ip = nat_ip,
          .src_port = backend_port,
          .dst_port = HostToBe16(nat_port)};
}

// Microsoft's "Verifying the RSS hash calculation" vectors, IPv4 with TCP ports.
TEST(RssHashTest, MatchesMicrosoftsVectorsAndTheReference) {
  struct Vector {
    Ipv4Be src, dst;
    uint16_t sport, dport;
    uint32_t hash;
  };
  const Vector vectors[] = {
      {Ipv4(66, 9, 149, 187), Ipv4(161, 142, 100, 80), 2794, 1766, 0x51ccc178},
      {Ipv4(199, 92, 111, 2), Ipv4(65, 69, 140, 83), 14230, 4739, 0xc626b0ea},
      {Ipv4(24, 19, 198, 95), Ipv4(12, 22, 207, 184), 12898, 38024, 0x5c2b394a},
      {Ipv4(38, 27, 205, 30), Ipv4(209, 142, 163, 6), 48228, 2217, 0xafc7327f},
      {Ipv4(153, 39, 163, 191), Ipv4(202, 188, 127, 2), 44251, 1303, 0x10e828a2},
  };
  for (const Vector& v : vectors) {
    const Tuple t{.src_ip = v.src,
                  .dst_ip = v.dst,
                  .src_port = HostToBe16(v.sport),
                  .dst_port = HostToBe16(v.dport)};
    EXPECT_EQ(RssHash(DefaultKey(), t), v.hash);
    EXPECT_EQ(ReferenceToeplitz(DefaultKey(), t), v.hash);
  }
}

TEST(RssPortMapTest, RefusesWhatCannotSteerNamingTheRule) {
  struct Case {
    std::string name;
    RssSetup setup;
    uint32_t queues;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"short key", {{1, 2, 3}, SpreadReta(128, 2)}, 2, "needs at least 16"},
      {"RETA not a power of two", {DefaultKey(), SpreadReta(96, 2)}, 2, "power of two"},
      {"RETA too large", {DefaultKey(), SpreadReta(2048, 2)}, 2, "power of two"},
      {"entry names a missing queue", {DefaultKey(), SpreadReta(128, 4)}, 2, "names queue"},
      {"queue without entry", {DefaultKey(), SpreadReta(128, 2)}, 3, "queue 2 has no RSS"},
      {"more queues than entries", {DefaultKey(), SpreadReta(64, 64)}, 65, "1 to 64"},
      {"degenerate key", {std::vector<uint8_t>(40, 0), SpreadReta(128, 2)}, 2, "do not spread"},
  };
  for (const Case& c : cases) {
    const auto map = RssPortMap::Create(c.setup, c.queues);
    ASSERT_FALSE(map.ok()) << c.name;
    EXPECT_THAT(map.status().message(), HasSubstr(c.message)) << c.name;
  }
}

// Each class holds exactly 2^(16 - L) ports, ranks ascend, and a port's class is the low bits of
// the hash of a tuple holding only it.
TEST(RssPortMapTest, EveryClassHoldsItsShareOfThePorts) {
  for (uint32_t entries = 2; entries <= (1u << kMaxRssClassBits); entries *= 2) {
    const auto map = RssPortMap::Create({DefaultKey(), SpreadReta(entries, 2)}, 2);
    ASSERT_TRUE(map.ok()) << entries << ": " << map.status();
    const RssPortMap& m = **map;
    EXPECT_EQ(m.class_count(), entries);
    EXPECT_EQ(m.class_size() * entries, 65536u);
    for (uint32_t p = 0; p < 65536; p += 7) {
      const auto port = static_cast<uint16_t>(p);
      EXPECT_EQ(m.ClassOf(port),
                ReferenceToeplitz(DefaultKey(), Tuple{.dst_port = HostToBe16(port)}) % entries);
      EXPECT_EQ(m.PortAt(m.ClassOf(port), m.RankOf(port)), port);
    }
    for (uint32_t c = 0; c < entries; ++c) {
      for (uint32_t r = 1; r < m.class_size(); ++r) ASSERT_LT(m.PortAt(c, r - 1), m.PortAt(c, r));
    }
  }
}

struct SteeringCase {
  uint32_t workers;
  uint32_t reta_entries;
  uint16_t first_port;
  uint16_t last_port;
};

// For random backends and NAT IPs: every worker's allocator hands out only ports whose return
// tuple comes back to it, their shares partition the range exactly, each runs dry at exactly its
// capacity (exhaustion named), and a released port comes back after its quarantine only.
TEST(RssPortChoiceTest, EveryPortComesBackToTheWorkerThatTookIt) {
  std::mt19937 rng(20261207);
  std::vector<SteeringCase> cases;
  for (uint32_t workers = 1; workers <= 16; ++workers) {
    cases.push_back({workers, 128, kDefaultFirstNatPort, kDefaultLastNatPort});
  }
  cases.push_back({3, 512, kDefaultFirstNatPort, kDefaultLastNatPort});
  cases.push_back({4, 64, 2000, 2999});  // a range that cuts classes unevenly
  cases.push_back({16, 1024, 40000, 40100});
  for (const SteeringCase& c : cases) {
    SCOPED_TRACE(testing::Message() << c.workers << " workers, " << c.reta_entries
                                    << " entries, ports " << c.first_port << "-" << c.last_port);
    const std::vector<uint16_t> reta = SpreadReta(c.reta_entries, c.workers);
    const auto map = RssPortMap::Create({DefaultKey(), reta}, c.workers);
    ASSERT_TRUE(map.ok()) << map.status();
    const Ipv4Be nat_ip = Ipv4(100, 64, 0, static_cast<uint8_t>(rng() % 250 + 1));
    const Ipv4Be backend = Ipv4(192, 168, static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng()));
    const PortBe backend_port = HostToBe16(static_cast<uint16_t>(rng() % 60000 + 1));
    const Ipv4Be nat_ips[] = {nat_ip};
    std::set<uint16_t> all;
    uint32_t nominal = 0;
    for (uint32_t w = 0; w < c.workers; ++w) {
      auto alloc = NatPortAllocator::Create({.first_port = c.first_port,
                                             .last_port = c.last_port,
                                             .worker_count = c.workers,
                                             .worker_index = w,
                                             .quarantine_ms = 1000,
                                             .steering = *map});
      ASSERT_TRUE(alloc.ok()) << alloc.status();
      const uint32_t capacity = alloc->Usage(nat_ip, {backend, backend_port}, 0).capacity;
      nominal += alloc->Usage(nat_ip, 0).capacity;
      std::vector<uint16_t> taken;
      for (;;) {
        const SetupOutcome<NatTuple> got =
            alloc->Allocate(nat_ips, {backend, backend_port}, static_cast<uint32_t>(rng()), 0);
        if (!got.ok()) {
          EXPECT_EQ(got.failure, SetupFailure::kNatPortsExhausted);
          break;
        }
        const uint16_t port = Be16ToHost(got->port);
        ASSERT_GE(port, c.first_port);
        ASSERT_LE(port, c.last_port);
        ASSERT_EQ(ReferenceQueue(reta, ReturnTuple(backend, backend_port, nat_ip, port)), w)
            << "port " << port;
        ASSERT_TRUE(all.insert(port).second) << "port " << port << " handed out twice";
        taken.push_back(port);
      }
      EXPECT_EQ(taken.size(), capacity);
      const PortUsage usage = alloc->Usage(nat_ip, {backend, backend_port}, 0);
      EXPECT_EQ(usage.used, capacity);
      EXPECT_EQ(usage.quarantined, 0u);
      if (taken.empty()) continue;
      // Quarantine: the released port is not reusable until its time is up, then it is.
      ASSERT_TRUE(alloc->Release({nat_ip, HostToBe16(taken[0])}, {backend, backend_port}, 0).ok());
      EXPECT_FALSE(alloc->Allocate(nat_ips, {backend, backend_port}, 0, 999).ok());
      const SetupOutcome<NatTuple> again =
          alloc->Allocate(nat_ips, {backend, backend_port}, 0, 1000);
      ASSERT_TRUE(again.ok());
      EXPECT_EQ(Be16ToHost(again->port), taken[0]);
      // Another worker's port is refused by name and changes nothing.
      for (uint16_t p = c.first_port; p <= c.last_port && c.workers > 1; ++p) {
        if (ReferenceQueue(reta, ReturnTuple(backend, backend_port, nat_ip, p)) == w) continue;
        const absl::Status s = alloc->Release({nat_ip, HostToBe16(p)}, {backend, backend_port}, 0);
        EXPECT_THAT(s.message(), HasSubstr("not worker")) << s;
        break;
      }
    }
    EXPECT_EQ(all.size(), uint32_t{c.last_port} - c.first_port + 1u)
        << "the shares cover the range";
    EXPECT_EQ(nominal, all.size()) << "the nominal shares sum to the range";
  }
}

}  // namespace
}  // namespace privlink::nat
