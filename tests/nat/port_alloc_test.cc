#include "nat/port_alloc.h"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace privlink::nat {
namespace {

using ::testing::HasSubstr;

constexpr Ipv4Be kNatA = Ipv4(100, 64, 0, 1);
constexpr Ipv4Be kNatB = Ipv4(100, 64, 0, 2);
constexpr Ipv4Be kBackend = Ipv4(192, 168, 10, 11);
constexpr Ipv4Be kOtherBackend = Ipv4(192, 168, 10, 12);
constexpr PortBe kHttp = HostToBe16(8080);
constexpr PortBe kHttps = HostToBe16(8443);
constexpr uint32_t kQuarantineMs = 1000;

PortAllocatorConfig SmallRange(uint16_t first, uint16_t last,
                               uint32_t quarantine_ms = kQuarantineMs) {
  PortAllocatorConfig config;
  config.first_port = first;
  config.last_port = last;
  config.quarantine_ms = quarantine_ms;
  return config;
}

NatPortAllocator MakeAllocator(const PortAllocatorConfig& config) {
  absl::StatusOr<NatPortAllocator> allocator = NatPortAllocator::Create(config);
  EXPECT_TRUE(allocator.ok()) << allocator.status();
  return *std::move(allocator);
}

uint16_t HostPort(const NatTuple& nat) {
  return Be16ToHost(nat.port);
}

void ExpectUsage(const PortUsage& usage, uint32_t used, uint32_t quarantined, uint32_t capacity) {
  EXPECT_EQ(usage.used, used);
  EXPECT_EQ(usage.quarantined, quarantined);
  EXPECT_EQ(usage.capacity, capacity);
}

struct BadConfigCase {
  std::string name;
  PortAllocatorConfig config;
  std::string message_part;
};

TEST(NatPortAllocatorCreateTest, RejectsBadConfigNamingTheField) {
  auto with = [](auto edit) {
    PortAllocatorConfig config;
    edit(config);
    return config;
  };
  const std::vector<BadConfigCase> cases = {
      {"no workers", with([](auto& c) { c.worker_count = 0; }), "worker_count"},
      {"index past count", with([](auto& c) { c.worker_count = 4, c.worker_index = 4; }),
       "worker_index"},
      {"port zero", with([](auto& c) { c.first_port = 0; }), "first_port"},
      {"first above last", with([](auto& c) { c.first_port = 2000, c.last_port = 1999; }),
       "first_port"},
      {"fewer ports than workers",
       with([](auto& c) { c.first_port = 1000, c.last_port = 1009, c.worker_count = 11; }),
       "worker_count"},
      {"quarantine too long", with([](auto& c) { c.quarantine_ms = kMaxPortQuarantineMs + 1; }),
       "quarantine_ms"},
  };
  for (const BadConfigCase& c : cases) {
    absl::StatusOr<NatPortAllocator> allocator = NatPortAllocator::Create(c.config);
    ASSERT_FALSE(allocator.ok()) << c.name;
    EXPECT_EQ(allocator.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(std::string(allocator.status().message()), HasSubstr(c.message_part)) << c.name;
  }
}

TEST(NatPortAllocatorCreateTest, AcceptsEdgesOfTheLimits) {
  EXPECT_TRUE(NatPortAllocator::Create(SmallRange(1, 65535, kMaxPortQuarantineMs)).ok());
  EXPECT_TRUE(NatPortAllocator::Create(SmallRange(5000, 5000, 0)).ok());
  PortAllocatorConfig one_port_each = SmallRange(1000, 1009);
  one_port_each.worker_count = 10;
  one_port_each.worker_index = 9;
  absl::StatusOr<NatPortAllocator> allocator = NatPortAllocator::Create(one_port_each);
  ASSERT_TRUE(allocator.ok());
  EXPECT_EQ(allocator->slice().first_port, 1009);
  EXPECT_EQ(allocator->slice().last_port, 1009);
}

TEST(WorkerPortSliceTest, SlicesAreContiguousDisjointCoveringAndEven) {
  const std::vector<std::pair<uint16_t, uint16_t>> ranges = {
      {kDefaultFirstNatPort, kDefaultLastNatPort}, {1, 65535}, {1000, 1009}, {40000, 40000}};
  for (const auto& [first, last] : ranges) {
    const uint32_t range = uint32_t{last} - first + 1;
    for (uint32_t workers : {1u, 2u, 3u, 7u, 8u, 10u, 64u, 1000u}) {
      if (workers > range) continue;
      uint32_t next = first;
      uint32_t smallest = UINT32_MAX, largest = 0;
      for (uint32_t i = 0; i < workers; ++i) {
        PortAllocatorConfig config = SmallRange(first, last);
        config.worker_count = workers;
        config.worker_index = i;
        absl::StatusOr<PortSlice> slice = WorkerPortSlice(config);
        ASSERT_TRUE(slice.ok()) << slice.status();
        EXPECT_EQ(slice->first_port, next)
            << first << "-" << last << " worker " << i << "/" << workers;
        ASSERT_LE(slice->first_port, slice->last_port);
        next = uint32_t{slice->last_port} + 1;
        smallest = std::min(smallest, slice->size());
        largest = std::max(largest, slice->size());
      }
      EXPECT_EQ(next, uint32_t{last} + 1) << first << "-" << last << " workers " << workers;
      EXPECT_LE(largest - smallest, 1u) << first << "-" << last << " workers " << workers;
    }
  }
}

TEST(NatPortAllocatorTest, HandsOutTheWholeSliceOnceThenReportsExhaustion) {
  PortAllocatorConfig config;
  config.worker_count = 4;
  config.worker_index = 1;
  NatPortAllocator allocator = MakeAllocator(config);
  const PortSlice slice = allocator.slice();
  ASSERT_EQ(slice.size(), 64512u / 4);
  const Ipv4Be nat_ips[] = {kNatA};

  std::vector<bool> seen(65536, false);
  for (uint32_t i = 0; i < slice.size(); ++i) {
    SetupOutcome<NatTuple> nat = allocator.Allocate(nat_ips, {kBackend, kHttp}, i, /*now=*/0);
    ASSERT_TRUE(nat.ok()) << i << ": " << SetupFailureName(nat.failure);
    EXPECT_EQ(nat->ip, kNatA);
    const uint16_t port = HostPort(*nat);
    ASSERT_GE(port, slice.first_port);
    ASSERT_LE(port, slice.last_port);
    ASSERT_FALSE(seen[port]) << "port " << port << " handed out twice";
    seen[port] = true;
    if (i % 1000 == 0)
      ExpectUsage(allocator.Usage(kNatA, {kBackend, kHttp}, 0), i + 1, 0, slice.size());
  }
  ExpectUsage(allocator.Usage(kNatA, {kBackend, kHttp}, 0), slice.size(), 0, slice.size());

  SetupOutcome<NatTuple> full = allocator.Allocate(nat_ips, {kBackend, kHttp}, 7, 0);
  EXPECT_EQ(full.failure, SetupFailure::kNatPortsExhausted);
  ExpectUsage(allocator.Usage(kNatA, {kBackend, kHttp}, 0), slice.size(), 0, slice.size());

  // Same NAT IP, other backend endpoints or protocol: their own port spaces. A UDP flow to the
  // backend's port 80 may take a port every TCP flow to it holds.
  EXPECT_TRUE(allocator.Allocate(nat_ips, {kBackend, kHttps}, 7, 0).ok());
  EXPECT_TRUE(allocator.Allocate(nat_ips, {kOtherBackend, kHttp}, 7, 0).ok());
  const SetupOutcome<NatTuple> udp =
      allocator.Allocate(nat_ips, {kBackend, kHttp, kIpProtoUdp}, 7, 0);
  ASSERT_TRUE(udp.ok());
  EXPECT_TRUE(seen[HostPort(*udp)]);
  ExpectUsage(allocator.Usage(kNatA, {kBackend, kHttp, kIpProtoUdp}, 0), 1, 0, slice.size());
  ExpectUsage(allocator.Usage(kNatA, 0), slice.size() + 3, 0, slice.size());
  EXPECT_TRUE(allocator.Release(*udp, {kBackend, kHttp, kIpProtoUdp}, 0).ok());
  EXPECT_FALSE(allocator.Release(*udp, {kBackend, kHttp, kIpProtoUdp}, 0).ok());
}

TEST(NatPortAllocatorTest, WorkersSlicesNeverOverlap) {
  constexpr uint32_t kWorkers = 3;
  const Ipv4Be nat_ips[] = {kNatA};
  std::set<uint16_t> all;
  size_t total = 0;
  for (uint32_t w = 0; w < kWorkers; ++w) {
    PortAllocatorConfig config;
    config.worker_count = kWorkers;
    config.worker_index = w;
    NatPortAllocator allocator = MakeAllocator(config);
    while (true) {
      SetupOutcome<NatTuple> nat = allocator.Allocate(nat_ips, {kBackend, kHttp}, 0, 0);
      if (!nat.ok()) {
        EXPECT_EQ(nat.failure, SetupFailure::kNatPortsExhausted);
        break;
      }
      all.insert(HostPort(*nat));
      ++total;
    }
  }
  EXPECT_EQ(total, 64512u);
  EXPECT_EQ(all.size(), total);
  EXPECT_EQ(*all.begin(), kDefaultFirstNatPort);
  EXPECT_EQ(*all.rbegin(), kDefaultLastNatPort);
}

TEST(NatPortAllocatorTest, ReleasedPortWaitsOutQuarantineForThatBackendOnly) {
  NatPortAllocator allocator = MakeAllocator(SmallRange(2000, 2009));
  const Ipv4Be nat_ips[] = {kNatA};
  std::vector<NatTuple> held;
  for (int i = 0; i < 10; ++i)
    held.push_back(*allocator.Allocate(nat_ips, {kBackend, kHttp}, 0, 0));

  const NatTuple released = held[4];
  ASSERT_TRUE(allocator.Release(released, {kBackend, kHttp}, /*now=*/100).ok());
  ExpectUsage(allocator.Usage(kNatA, {kBackend, kHttp}, 100), 9, 1, 10);
  EXPECT_EQ(allocator.Allocate(nat_ips, {kBackend, kHttp}, 0, 100).failure,
            SetupFailure::kNatPortsExhausted);

  // Another backend may use the very same NAT ip:port right away.
  std::set<uint16_t> other_ports;
  for (int i = 0; i < 10; ++i) {
    other_ports.insert(HostPort(*allocator.Allocate(nat_ips, {kOtherBackend, kHttp}, 0, 100)));
  }
  EXPECT_TRUE(other_ports.contains(HostPort(released)));
  ExpectUsage(allocator.Usage(kNatA, 100), 19, 1, 10);

  const TimeMs ends = 100 + kQuarantineMs;
  EXPECT_EQ(allocator.Allocate(nat_ips, {kBackend, kHttp}, 0, ends - 1).failure,
            SetupFailure::kNatPortsExhausted);
  ExpectUsage(allocator.Usage(kNatA, {kBackend, kHttp}, ends - 1), 9, 1, 10);
  ExpectUsage(allocator.Usage(kNatA, {kBackend, kHttp}, ends), 9, 0, 10);

  SetupOutcome<NatTuple> reused = allocator.Allocate(nat_ips, {kBackend, kHttp}, 0, ends);
  ASSERT_TRUE(reused.ok()) << SetupFailureName(reused.failure);
  EXPECT_EQ(HostPort(*reused), HostPort(released));
  ExpectUsage(allocator.Usage(kNatA, {kBackend, kHttp}, ends), 10, 0, 10);
  ExpectUsage(allocator.Usage(kNatA, ends), 20, 0, 10);
}

TEST(NatPortAllocatorTest, FreedPortsComeBackOnlyAfterTheRestOfTheSlice) {
  NatPortAllocator allocator = MakeAllocator(SmallRange(3000, 3199, /*quarantine_ms=*/0));
  const Ipv4Be nat_ips[] = {kNatA};
  const NatTuple first = *allocator.Allocate(nat_ips, {kBackend, kHttp}, 0, 0);
  const NatTuple second = *allocator.Allocate(nat_ips, {kBackend, kHttp}, 0, 0);
  ASSERT_TRUE(allocator.Release(first, {kBackend, kHttp}, 0).ok());
  ExpectUsage(allocator.Usage(kNatA, {kBackend, kHttp}, 0), 1, 0, 200);
  // The cursor rotates: the 198 untouched ports go first even without a quarantine.
  std::set<uint16_t> ports;
  for (int i = 0; i < 198; ++i) {
    ports.insert(HostPort(*allocator.Allocate(nat_ips, {kBackend, kHttp}, 0, 0)));
  }
  EXPECT_EQ(ports.size(), 198u);
  EXPECT_FALSE(ports.contains(HostPort(first)));
  EXPECT_FALSE(ports.contains(HostPort(second)));
  EXPECT_EQ(HostPort(*allocator.Allocate(nat_ips, {kBackend, kHttp}, 0, 0)), HostPort(first));
}

TEST(NatPortAllocatorTest, ReleaseOfAPortNotInUseChangesNothing) {
  PortAllocatorConfig config = SmallRange(2000, 2099);
  config.worker_count = 2;
  NatPortAllocator allocator = MakeAllocator(config);  // slice 2000-2049
  const Ipv4Be nat_ips[] = {kNatA};
  const NatTuple held = *allocator.Allocate(nat_ips, {kBackend, kHttp}, 0, 0);
  const NatTuple spare = *allocator.Allocate(nat_ips, {kBackend, kHttp}, 0, 0);
  ASSERT_TRUE(allocator.Release(spare, {kBackend, kHttp}, 0).ok());

  struct Case {
    std::string name;
    NatTuple nat;
    BackendAddress backend;
    absl::StatusCode code;
  };
  const std::vector<Case> cases = {
      {"released already", spare, {kBackend, kHttp}, absl::StatusCode::kFailedPrecondition},
      {"other backend ip", held, {kOtherBackend, kHttp}, absl::StatusCode::kFailedPrecondition},
      {"other backend port", held, {kBackend, kHttps}, absl::StatusCode::kFailedPrecondition},
      {"other protocol",
       held,
       {kBackend, kHttp, kIpProtoUdp},
       absl::StatusCode::kFailedPrecondition},
      {"other NAT IP",
       {kNatB, held.port},
       {kBackend, kHttp},
       absl::StatusCode::kFailedPrecondition},
      {"never handed out",
       {kNatA, HostToBe16(2040)},
       {kBackend, kHttp},
       absl::StatusCode::kFailedPrecondition},
      {"other worker's slice",
       {kNatA, HostToBe16(2050)},
       {kBackend, kHttp},
       absl::StatusCode::kInvalidArgument},
      {"below the range",
       {kNatA, HostToBe16(80)},
       {kBackend, kHttp},
       absl::StatusCode::kInvalidArgument},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(allocator.Release(c.nat, c.backend, 10).code(), c.code) << c.name;
    ExpectUsage(allocator.Usage(kNatA, {kBackend, kHttp}, 10), 1, 1, 50);
    ExpectUsage(allocator.Usage(kNatB, 10), 0, 0, 50);
    EXPECT_EQ(allocator.active_pairs(), 1u) << c.name;
  }
  EXPECT_TRUE(allocator.Release(held, {kBackend, kHttp}, 10).ok());
  ExpectUsage(allocator.Usage(kNatA, {kBackend, kHttp}, 10), 0, 2, 50);
}

TEST(NatPortAllocatorTest, MovesToTheNextNatIpWhenOneIsFullForTheBackend) {
  NatPortAllocator allocator = MakeAllocator(SmallRange(2000, 2009));
  const Ipv4Be nat_ips[] = {Ipv4(100, 64, 0, 1), Ipv4(100, 64, 0, 2), Ipv4(100, 64, 0, 3)};
  const std::vector<Ipv4Be> expected_order = {nat_ips[1], nat_ips[2], nat_ips[0]};
  for (Ipv4Be expected : expected_order) {
    for (int i = 0; i < 10; ++i) {
      SetupOutcome<NatTuple> nat = allocator.Allocate(nat_ips, {kBackend, kHttp}, /*hint=*/4, 0);
      ASSERT_TRUE(nat.ok()) << SetupFailureName(nat.failure);
      EXPECT_EQ(nat->ip, expected);
    }
    ExpectUsage(allocator.Usage(expected, 0), 10, 0, 10);
  }
  SetupOutcome<NatTuple> none = allocator.Allocate(nat_ips, {kBackend, kHttp}, 4, 0);
  EXPECT_EQ(none.failure, SetupFailure::kNatPortsExhausted);
}

TEST(NatPortAllocatorTest, RejectsNoNatIpAndMoreThanEight) {
  NatPortAllocator allocator = MakeAllocator(PortAllocatorConfig{});
  std::vector<Ipv4Be> nat_ips;
  for (uint8_t i = 1; i <= 9; ++i) nat_ips.push_back(Ipv4(100, 64, 0, i));
  const std::span<const Ipv4Be> all(nat_ips);
  for (size_t n : {size_t{0}, size_t{9}}) {
    SetupOutcome<NatTuple> nat = allocator.Allocate(all.first(n), {kBackend, kHttp}, 0, 0);
    EXPECT_EQ(nat.failure, SetupFailure::kNatIpsInvalid) << n;
  }
  EXPECT_EQ(allocator.active_pairs(), 0u);
  EXPECT_TRUE(allocator.Allocate(all.first(8), {kBackend, kHttp}, 0, 0).ok());
}

class SpreadTest : public testing::TestWithParam<int> {};

TEST_P(SpreadTest, NewConnectionsSpreadEvenlyOverNatIps) {
  const int n = GetParam();
  NatPortAllocator allocator = MakeAllocator(PortAllocatorConfig{});
  std::vector<Ipv4Be> nat_ips;
  for (int i = 0; i < n; ++i) nat_ips.push_back(Ipv4(100, 64, 1, static_cast<uint8_t>(i + 1)));
  constexpr int kPerNatIp = 10'000;
  std::mt19937 rng(1234);  // stands in for flow hashes
  std::map<Ipv4Be, int> count;
  for (int i = 0; i < kPerNatIp * n; ++i) {
    SetupOutcome<NatTuple> nat = allocator.Allocate(nat_ips, {kBackend, kHttp}, rng(), 0);
    ASSERT_TRUE(nat.ok()) << SetupFailureName(nat.failure);
    ++count[nat->ip];
  }
  ASSERT_EQ(count.size(), static_cast<size_t>(n));
  for (Ipv4Be ip : nat_ips) {
    EXPECT_NEAR(count[ip], kPerNatIp, kPerNatIp * 0.03) << FormatIpv4(ip);
    EXPECT_EQ(allocator.Usage(ip, 0).used, static_cast<uint32_t>(count[ip]));
  }
}

INSTANTIATE_TEST_SUITE_P(TwoAndEight, SpreadTest, testing::Values(2, 8));

TEST(NatPortAllocatorTest, StateIsDroppedOnceFreeAndOutOfQuarantine) {
  NatPortAllocator allocator = MakeAllocator(SmallRange(2000, 2099));
  const Ipv4Be nat_ips[] = {kNatA, kNatB};
  std::vector<std::pair<NatTuple, Ipv4Be>> held;
  for (uint8_t b = 1; b <= 3; ++b) {
    const Ipv4Be backend = Ipv4(192, 168, 20, b);
    for (uint32_t hint = 0; hint < 2; ++hint) {
      held.emplace_back(*allocator.Allocate(nat_ips, {backend, kHttp}, hint, 0), backend);
    }
  }
  EXPECT_EQ(allocator.active_pairs(), 6u);
  ExpectUsage(allocator.Usage(kNatA, 0), 3, 0, 100);
  ExpectUsage(allocator.Usage(kNatB, 0), 3, 0, 100);
  for (const auto& [nat, backend] : held)
    ASSERT_TRUE(allocator.Release(nat, {backend, kHttp}, 50).ok());
  EXPECT_EQ(allocator.active_pairs(), 6u);

  // Moving the allocator keeps the quarantine's references valid.
  NatPortAllocator moved = std::move(allocator);
  ExpectUsage(moved.Usage(kNatA, 50 + kQuarantineMs - 1), 0, 3, 100);
  moved.Expire(50 + kQuarantineMs);
  EXPECT_EQ(moved.active_pairs(), 0u);
  ExpectUsage(moved.Usage(kNatA, 50 + kQuarantineMs), 0, 0, 100);
  ExpectUsage(moved.Usage(kNatB, {Ipv4(192, 168, 20, 1), kHttp}, 50 + kQuarantineMs), 0, 0, 100);
}

TEST(NatPortAllocatorTest, ZeroQuarantineFreesAtOnceAndDropsState) {
  NatPortAllocator allocator = MakeAllocator(SmallRange(2000, 2000, /*quarantine_ms=*/0));
  const Ipv4Be nat_ips[] = {kNatA};
  const NatTuple nat = *allocator.Allocate(nat_ips, {kBackend, kHttp}, 0, 0);
  EXPECT_EQ(HostPort(nat), 2000);
  ASSERT_TRUE(allocator.Release(nat, {kBackend, kHttp}, 0).ok());
  EXPECT_EQ(allocator.active_pairs(), 0u);
  EXPECT_EQ(HostPort(*allocator.Allocate(nat_ips, {kBackend, kHttp}, 0, 0)), 2000);
}

TEST(NatPortAllocatorTest, ClockSteppingBackNeverShortensAQuarantine) {
  NatPortAllocator allocator = MakeAllocator(SmallRange(2000, 2001));
  const Ipv4Be nat_ips[] = {kNatA};
  const NatTuple late = *allocator.Allocate(nat_ips, {kBackend, kHttp}, 0, 0);
  const NatTuple early = *allocator.Allocate(nat_ips, {kBackend, kHttp}, 0, 0);
  ASSERT_TRUE(allocator.Release(late, {kBackend, kHttp}, 5000).ok());
  ASSERT_TRUE(allocator.Release(early, {kBackend, kHttp}, 1000).ok());  // clock went back
  ExpectUsage(allocator.Usage(kNatA, {kBackend, kHttp}, 5000 + kQuarantineMs - 1), 0, 2, 2);
  ExpectUsage(allocator.Usage(kNatA, {kBackend, kHttp}, 5000 + kQuarantineMs), 0, 0, 2);
}

// Random allocations, releases (valid and not) and clock steps, checked against a plain model.
TEST(NatPortAllocatorTest, RandomOperationsMatchAModel) {
  PortAllocatorConfig config = SmallRange(1000, 1299, /*quarantine_ms=*/50);
  config.worker_count = 2;
  config.worker_index = 1;  // slice 1150-1299: 150 ports, a partial last word
  NatPortAllocator allocator = MakeAllocator(config);
  const PortSlice slice = allocator.slice();
  const Ipv4Be nat_ips[] = {kNatA, kNatB};
  const Ipv4Be backends[] = {kBackend, kOtherBackend, Ipv4(192, 168, 10, 13)};

  struct PairModel {
    std::set<uint16_t> used;
    std::deque<std::pair<TimeMs, uint16_t>> quarantine;  // (ends at, port)
  };
  std::map<std::pair<Ipv4Be, Ipv4Be>, PairModel> model;
  auto expire = [&](TimeMs now) {
    for (auto& [key, pair] : model) {
      while (!pair.quarantine.empty() && pair.quarantine.front().first <= now)
        pair.quarantine.pop_front();
    }
  };
  auto quarantined = [](const PairModel& pair, uint16_t port) {
    return std::any_of(pair.quarantine.begin(), pair.quarantine.end(),
                       [port](const auto& q) { return q.second == port; });
  };

  std::mt19937 rng(42);
  TimeMs now = 0;
  for (int step = 0; step < 40'000; ++step) {
    now += rng() % 3;
    expire(now);
    const Ipv4Be backend = backends[rng() % 3];
    const uint32_t op = rng() % 10;
    if (op < 6) {
      const uint32_t hint = rng();
      SetupOutcome<NatTuple> nat = allocator.Allocate(nat_ips, {backend, kHttp}, hint, now);
      bool any_free = false;
      for (Ipv4Be ip : nat_ips) {
        const PairModel& pair = model[{ip, backend}];
        any_free |= pair.used.size() + pair.quarantine.size() < slice.size();
      }
      ASSERT_EQ(nat.ok(), any_free) << "step " << step << ": " << SetupFailureName(nat.failure);
      if (!nat.ok()) continue;
      const uint16_t port = HostPort(*nat);
      ASSERT_GE(port, slice.first_port);
      ASSERT_LE(port, slice.last_port);
      PairModel& pair = model[{nat->ip, backend}];
      ASSERT_FALSE(pair.used.contains(port)) << "step " << step;
      ASSERT_FALSE(quarantined(pair, port)) << "step " << step;
      pair.used.insert(port);
    } else {
      const Ipv4Be nat_ip = nat_ips[rng() % 2];
      PairModel& pair = model[{nat_ip, backend}];
      // Mostly a port in use, sometimes any port of the slice (often not in use).
      uint16_t port = static_cast<uint16_t>(slice.first_port + rng() % slice.size());
      if (op < 9 && !pair.used.empty()) {
        port = *std::next(pair.used.begin(), static_cast<long>(rng() % pair.used.size()));
      }
      const bool in_use = pair.used.contains(port);
      const absl::Status status =
          allocator.Release({nat_ip, HostToBe16(port)}, {backend, kHttp}, now);
      ASSERT_EQ(status.ok(), in_use) << "step " << step << ": " << status;
      if (in_use) {
        pair.used.erase(port);
        pair.quarantine.emplace_back(now + config.quarantine_ms, port);
      }
    }
    if (step % 97 == 0) {
      for (Ipv4Be ip : nat_ips) {
        uint32_t used = 0, held = 0;
        for (Ipv4Be b : backends) {
          const PairModel& pair = model[{ip, b}];
          used += pair.used.size();
          held += pair.quarantine.size();
          ExpectUsage(allocator.Usage(ip, {b, kHttp}, now), pair.used.size(),
                      pair.quarantine.size(), slice.size());
        }
        ExpectUsage(allocator.Usage(ip, now), used, held, slice.size());
      }
    }
  }
}

}  // namespace
}  // namespace privlink::nat
