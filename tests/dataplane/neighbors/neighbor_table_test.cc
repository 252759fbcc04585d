// The provider port's neighbour table: next hops, resolution with rate-limited requests, hold
// queues, learning rule, static entries, refresh, expiry and give-up, stepped on a VirtualClock.
// Also Ipv4Subnet, which the table's next-hop rule and learning rule stand on.
#include "dataplane/neighbors/neighbor_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/neighbors/subnet.h"
#include "nat/clock.h"
#include "nat/inet.h"

namespace privlink::dataplane {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr MacAddress kMacA = {0x52, 0x54, 0x00, 0x00, 0x00, 0x0a};
constexpr MacAddress kMacB = {0x52, 0x54, 0x00, 0x00, 0x00, 0x0b};
constexpr MacAddress kStaticMac = {0x52, 0x54, 0x00, 0x00, 0x00, 0x5a};
constexpr Ipv4Be kGateway = Ipv4(192, 168, 10, 1);
constexpr Ipv4Be kBackend1 = Ipv4(192, 168, 10, 11);
constexpr Ipv4Be kBackend2 = Ipv4(192, 168, 10, 12);
constexpr Ipv4Be kRemoteBackend = Ipv4(10, 20, 0, 5);  // beyond the gateway

Ipv4Subnet Subnet(const char* text) {
  return *Ipv4Subnet::Parse(text);
}

NeighborTableConfig DefaultConfig() {
  return {.subnet = Subnet("192.168.10.0/24"), .gateway = kGateway};
}

ArpFields ArpFrom(Ipv4Be ip, const MacAddress& mac, uint16_t op = kArpOpReply) {
  return {.op = op,
          .sender_mac = mac,
          .target_mac = {},
          .sender_ip = ip,
          .target_ip = Ipv4(192, 168, 10, 50)};
}

NeighborState StateOf(const NeighborTable& table, Ipv4Be ip) {
  const std::optional<NeighborInfo> info = table.Lookup(ip);
  EXPECT_TRUE(info.has_value()) << FormatIpv4(ip);
  return info ? info->state : NeighborState::kStatic;
}

class NeighborTableTest : public ::testing::Test {
 protected:
  explicit NeighborTableTest(NeighborTableConfig config = DefaultConfig())
      : table_(*NeighborTable::Create(config)) {}

  nat::TimeMs now() const { return clock_.NowMs(); }
  ResolveStatus Resolve(Ipv4Be ip) { return table_.Resolve(ip, now()).status; }
  std::vector<Ipv4Be> TickRequests() { return table_.Tick(now()).send_requests; }
  // Resolves `ip` (sending its first request) and holds packets first..last.
  void ResolveAndHold(Ipv4Be ip, PacketHandle first, PacketHandle last) {
    ASSERT_EQ(Resolve(ip), ResolveStatus::kSendRequest);
    for (PacketHandle p = first; p <= last; ++p) ASSERT_EQ(table_.Hold(ip, p), HoldStatus::kHeld);
  }

  nat::VirtualClock clock_{1'000'000};
  NeighborTable table_;
};

// --- Ipv4Subnet ---------------------------------------------------------------------------

struct SubnetParseCase {
  std::string text;
  bool ok;
  Ipv4Be network = 0;
  uint8_t prefix_len = 0;
};

class SubnetParseTest : public ::testing::TestWithParam<SubnetParseCase> {};

TEST_P(SubnetParseTest, ParsesOrRejects) {
  const SubnetParseCase& c = GetParam();
  const absl::StatusOr<Ipv4Subnet> subnet = Ipv4Subnet::Parse(c.text);
  ASSERT_EQ(subnet.ok(), c.ok) << c.text << ": " << subnet.status();
  if (c.ok) {
    EXPECT_EQ(subnet->network, c.network);
    EXPECT_EQ(subnet->prefix_len, c.prefix_len);
    EXPECT_EQ(subnet->ToString(), c.text);
  } else {
    EXPECT_THAT(std::string(subnet.status().message()), ::testing::HasSubstr(c.text));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, SubnetParseTest,
    ::testing::Values(SubnetParseCase{"192.168.10.0/24", true, Ipv4(192, 168, 10, 0), 24},
                      SubnetParseCase{"0.0.0.0/0", true, 0, 0},
                      SubnetParseCase{"10.0.0.7/32", true, Ipv4(10, 0, 0, 7), 32},
                      SubnetParseCase{"172.16.0.0/12", true, Ipv4(172, 16, 0, 0), 12},
                      SubnetParseCase{"10.128.0.0/9", true, Ipv4(10, 128, 0, 0), 9},
                      SubnetParseCase{"192.168.10.7/24", false},  // host bits set
                      SubnetParseCase{"10.0.0.1/0", false}, SubnetParseCase{"10.0.0.0/33", false},
                      SubnetParseCase{"10.0.0.0/99", false}, SubnetParseCase{"10.0.0.0/024", false},
                      SubnetParseCase{"10.0.0.0/08", false}, SubnetParseCase{"10.0.0.0/", false},
                      SubnetParseCase{"10.0.0.0", false}, SubnetParseCase{"10.0.0.0/-1", false},
                      SubnetParseCase{"10.0.0.0/ 8", false}, SubnetParseCase{"10.0.0.0/8 ", false},
                      SubnetParseCase{"10.0.0.0/99999999999999999999", false},
                      SubnetParseCase{"10.0.0/8", false}, SubnetParseCase{"10.0.0.256/32", false},
                      SubnetParseCase{"/8", false}, SubnetParseCase{"", false}));

TEST(SubnetTest, HostBitsErrorNamesTheIntendedNetwork) {
  EXPECT_THAT(std::string(Ipv4Subnet::Parse("192.168.10.7/24").status().message()),
              ::testing::HasSubstr("did you mean 192.168.10.0/24"));
  EXPECT_FALSE(Ipv4Subnet::Make(Ipv4(10, 0, 0, 0), 33).ok());
  EXPECT_FALSE(Ipv4Subnet::Make(Ipv4(10, 0, 0, 0), -1).ok());
}

TEST(SubnetTest, Contains) {
  struct Case {
    const char* subnet;
    Ipv4Be ip;
    bool contains;
  };
  const Case cases[] = {
      {"192.168.10.0/24", Ipv4(192, 168, 10, 0), true},
      {"192.168.10.0/24", Ipv4(192, 168, 10, 255), true},
      {"192.168.10.0/24", Ipv4(192, 168, 11, 0), false},
      {"192.168.10.0/24", Ipv4(192, 168, 9, 255), false},
      {"10.128.0.0/9", Ipv4(10, 255, 1, 1), true},
      {"10.128.0.0/9", Ipv4(10, 127, 255, 255), false},
      {"10.0.0.7/32", Ipv4(10, 0, 0, 7), true},
      {"10.0.0.7/32", Ipv4(10, 0, 0, 6), false},
      {"0.0.0.0/0", Ipv4(203, 0, 113, 9), true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Subnet(c.subnet).Contains(c.ip), c.contains) << c.subnet << " " << FormatIpv4(c.ip);
  }
  // A hand-built aggregate with a prefix over 32 reads as /32 rather than shifting out of range.
  EXPECT_TRUE((Ipv4Subnet{Ipv4(10, 0, 0, 7), 40}.Contains(Ipv4(10, 0, 0, 7))));
  EXPECT_FALSE((Ipv4Subnet{Ipv4(10, 0, 0, 7), 40}.Contains(Ipv4(10, 0, 0, 8))));
}

// --- Config and next hop --------------------------------------------------------------------

TEST(NeighborTableConfigTest, RejectsUnworkableSettings) {
  struct Case {
    const char* field;
    NeighborTableConfig config;
  };
  NeighborTableConfig base = DefaultConfig();
  std::vector<Case> cases;
  cases.push_back({"max_neighbors", base});
  cases.back().config.max_neighbors = 0;
  cases.push_back({"retry_interval_ms", base});
  cases.back().config.retry_interval_ms = 0;
  cases.push_back({"max_requests", base});
  cases.back().config.max_requests = 0;
  cases.push_back({"refresh_lead_ms", base});
  cases.back().config.refresh_lead_ms = base.reachable_ms;
  cases.push_back({"gateway", base});
  cases.back().config.gateway = Ipv4(255, 255, 255, 255);
  for (const Case& c : cases) {
    const absl::StatusOr<NeighborTable> table = NeighborTable::Create(c.config);
    ASSERT_FALSE(table.ok()) << c.field;
    EXPECT_THAT(std::string(table.status().message()), ::testing::HasSubstr(c.field));
  }
  EXPECT_TRUE(NeighborTable::Create(base).ok());
  EXPECT_TRUE(NeighborTable::Create({}).ok());  // no subnet, no gateway: a valid if idle port
}

TEST(NextHopTest, OnLinkItselfElseGatewayElseError) {
  struct Case {
    const char* name;
    std::optional<Ipv4Subnet> subnet;
    std::optional<Ipv4Be> gateway;
    Ipv4Be backend;
    std::optional<Ipv4Be> next_hop;  // none: error
  };
  const Case cases[] = {
      {"on_link", Subnet("192.168.10.0/24"), kGateway, kBackend1, kBackend1},
      {"on_link_no_gateway", Subnet("192.168.10.0/24"), std::nullopt, kBackend1, kBackend1},
      {"remote_via_gateway", Subnet("192.168.10.0/24"), kGateway, kRemoteBackend, kGateway},
      {"remote_no_gateway", Subnet("192.168.10.0/24"), std::nullopt, kRemoteBackend, std::nullopt},
      {"no_subnet_gateway", std::nullopt, kGateway, kBackend1, kGateway},
      {"nothing", std::nullopt, std::nullopt, kBackend1, std::nullopt},
      {"host_route", Subnet("192.168.10.11/32"), kGateway, kBackend1, kBackend1},
      {"next_to_host_route", Subnet("192.168.10.11/32"), kGateway, kBackend2, kGateway},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    NeighborTable table = *NeighborTable::Create({.subnet = c.subnet, .gateway = c.gateway});
    const absl::StatusOr<Ipv4Be> hop = table.NextHop(c.backend);
    ASSERT_EQ(hop.ok(), c.next_hop.has_value()) << hop.status();
    if (c.next_hop) {
      EXPECT_EQ(*hop, *c.next_hop);
    } else {
      EXPECT_THAT(std::string(hop.status().message()), ::testing::HasSubstr(FormatIpv4(c.backend)));
    }
    // Workers see the same rule in the snapshot.
    EXPECT_EQ(table.Snapshot()->NextHop(c.backend), c.next_hop);
  }
}

// --- Resolution, rate limit, hold queues ------------------------------------------------------

TEST_F(NeighborTableTest, ResolveSendsAtMostOneRequestPerInterval) {
  EXPECT_EQ(Resolve(kBackend1), ResolveStatus::kSendRequest);
  EXPECT_EQ(Resolve(kBackend1), ResolveStatus::kPending);
  EXPECT_THAT(TickRequests(), IsEmpty());
  clock_.Advance(kDefaultRetryIntervalMs - 1);
  EXPECT_EQ(Resolve(kBackend1), ResolveStatus::kPending);
  EXPECT_THAT(TickRequests(), IsEmpty());
  clock_.Advance(1);
  EXPECT_EQ(Resolve(kBackend1), ResolveStatus::kSendRequest);
  EXPECT_THAT(TickRequests(), IsEmpty());  // Resolve() just sent the one for this interval
  clock_.Advance(kDefaultRetryIntervalMs);
  EXPECT_THAT(TickRequests(), ElementsAre(kBackend1));  // the third and last
  EXPECT_EQ(Resolve(kBackend1), ResolveStatus::kPending);
  EXPECT_EQ(table_.Lookup(kBackend1)->requests_sent, kDefaultMaxRequests);
  clock_.Advance(kDefaultRetryIntervalMs - 1);
  EXPECT_THAT(TickRequests(), IsEmpty());
  EXPECT_EQ(StateOf(table_, kBackend1), NeighborState::kResolving);
}

TEST_F(NeighborTableTest, AnswerReleasesHeldPacketsInOrder) {
  ResolveAndHold(kBackend1, 100, 104);
  ResolveAndHold(kBackend2, 200, 201);
  EXPECT_EQ(table_.held_total(), 7u);
  EXPECT_EQ(table_.Snapshot()->FindMac(kBackend1), nullptr);
  const uint64_t version = table_.version();

  const LearnResult learned = table_.OnArp(ArpFrom(kBackend1, kMacA), now());
  EXPECT_EQ(learned.outcome, LearnOutcome::kLearned);
  EXPECT_EQ(learned.mac, kMacA);
  EXPECT_THAT(learned.ready, ElementsAre(100, 101, 102, 103, 104));
  EXPECT_EQ(table_.held_total(), 2u);
  EXPECT_NE(table_.version(), version);

  const ResolveResult known = table_.Resolve(kBackend1, now());
  EXPECT_EQ(known.status, ResolveStatus::kKnown);
  EXPECT_EQ(known.mac, kMacA);
  ASSERT_NE(table_.Snapshot()->FindMac(kBackend1), nullptr);
  EXPECT_EQ(*table_.Snapshot()->FindMac(kBackend1), kMacA);
  EXPECT_EQ(table_.Snapshot()->FindMac(kBackend2), nullptr);
  // Known now: nothing more to hold.
  EXPECT_EQ(table_.Hold(kBackend1, 105), HoldStatus::kNotResolving);
}

TEST_F(NeighborTableTest, HoldNeedsAResolutionInProgress) {
  EXPECT_EQ(table_.Hold(kBackend1, 1), HoldStatus::kNotResolving);
  ASSERT_TRUE(table_.AddStatic(kGateway, kStaticMac).ok());
  EXPECT_EQ(table_.Hold(kGateway, 1), HoldStatus::kNotResolving);
  EXPECT_EQ(table_.held_total(), 0u);
}

TEST_F(NeighborTableTest, FullQueueRefusesTheNewestAndKeepsTheOldest) {
  ResolveAndHold(kBackend1, 1, kDefaultMaxHeldPerNeighbor);
  EXPECT_EQ(table_.Hold(kBackend1, 999), HoldStatus::kQueueFull);
  EXPECT_EQ(table_.Hold(kBackend1, 1000), HoldStatus::kQueueFull);
  EXPECT_EQ(table_.Lookup(kBackend1)->held_packets, kDefaultMaxHeldPerNeighbor);
  const LearnResult learned = table_.OnArp(ArpFrom(kBackend1, kMacA), now());
  ASSERT_EQ(learned.ready.size(), kDefaultMaxHeldPerNeighbor);
  for (uint32_t i = 0; i < kDefaultMaxHeldPerNeighbor; ++i) EXPECT_EQ(learned.ready[i], i + 1);
}

class SmallHoldLimitsTest : public NeighborTableTest {
 protected:
  static NeighborTableConfig Config() {
    NeighborTableConfig config = DefaultConfig();
    config.max_held_per_neighbor = 4;
    config.max_held_total = 6;
    return config;
  }
  SmallHoldLimitsTest() : NeighborTableTest(Config()) {}
};

TEST_F(SmallHoldLimitsTest, AllQueuesTogetherAreBounded) {
  ResolveAndHold(kBackend1, 1, 4);
  ResolveAndHold(kBackend2, 11, 12);
  EXPECT_EQ(table_.held_total(), 6u);
  EXPECT_EQ(table_.Hold(kBackend2, 13), HoldStatus::kQueueFull);  // its own queue has room
  // Releasing one neighbour's packets makes room for the other's.
  EXPECT_THAT(table_.OnArp(ArpFrom(kBackend1, kMacA), now()).ready, ElementsAre(1, 2, 3, 4));
  EXPECT_EQ(table_.Hold(kBackend2, 13), HoldStatus::kHeld);
  EXPECT_EQ(table_.held_total(), 3u);
}

// --- Give-up ------------------------------------------------------------------------------

TEST_F(NeighborTableTest, GivesUpAfterMaxRequestsAndHandsBackHeldPackets) {
  ResolveAndHold(kBackend1, 1, 3);  // request 1
  clock_.Advance(kDefaultRetryIntervalMs);
  EXPECT_THAT(TickRequests(), ElementsAre(kBackend1));  // request 2
  clock_.Advance(kDefaultRetryIntervalMs);
  EXPECT_THAT(TickRequests(), ElementsAre(kBackend1));  // request 3
  ASSERT_EQ(table_.Hold(kBackend1, 4), HoldStatus::kHeld);
  clock_.Advance(kDefaultRetryIntervalMs - 1);
  TickResult tick = table_.Tick(now());
  EXPECT_THAT(tick.send_requests, IsEmpty());
  EXPECT_THAT(tick.dropped, IsEmpty());  // the last request still has time to be answered

  clock_.Advance(1);
  tick = table_.Tick(now());
  EXPECT_THAT(tick.send_requests, IsEmpty());
  EXPECT_THAT(tick.dropped, ElementsAre(1, 2, 3, 4));
  EXPECT_EQ(StateOf(table_, kBackend1), NeighborState::kUnreachable);
  EXPECT_EQ(table_.held_total(), 0u);

  // Held off: no requests, packets are dropped at once.
  EXPECT_EQ(Resolve(kBackend1), ResolveStatus::kUnreachable);
  EXPECT_EQ(table_.Hold(kBackend1, 5), HoldStatus::kNotResolving);
  clock_.Advance(kDefaultUnreachableHoldoffMs - 1);
  EXPECT_THAT(TickRequests(), IsEmpty());
  EXPECT_EQ(Resolve(kBackend1), ResolveStatus::kUnreachable);

  // Then it tries again by itself.
  clock_.Advance(1);
  EXPECT_THAT(TickRequests(), ElementsAre(kBackend1));
  EXPECT_EQ(StateOf(table_, kBackend1), NeighborState::kResolving);
  EXPECT_EQ(table_.Lookup(kBackend1)->requests_sent, 1u);
  EXPECT_EQ(Resolve(kBackend1), ResolveStatus::kPending);
}

TEST_F(NeighborTableTest, ResolveAfterHoldoffStartsOverAtOnce) {
  ASSERT_EQ(Resolve(kBackend1), ResolveStatus::kSendRequest);
  for (uint32_t i = 1; i < kDefaultMaxRequests; ++i) {
    clock_.Advance(kDefaultRetryIntervalMs);
    ASSERT_EQ(Resolve(kBackend1), ResolveStatus::kSendRequest);
  }
  clock_.Advance(kDefaultRetryIntervalMs);
  table_.Tick(now());
  ASSERT_EQ(StateOf(table_, kBackend1), NeighborState::kUnreachable);
  clock_.Advance(kDefaultUnreachableHoldoffMs);
  EXPECT_EQ(Resolve(kBackend1), ResolveStatus::kSendRequest);  // before any Tick
  EXPECT_EQ(table_.Hold(kBackend1, 7), HoldStatus::kHeld);
  EXPECT_THAT(TickRequests(), IsEmpty());
}

TEST_F(NeighborTableTest, AnUnreachableNeighbourThatSpeaksIsReachable) {
  ASSERT_EQ(Resolve(kRemoteBackend), ResolveStatus::kSendRequest);  // outside the subnet
  for (uint32_t i = 0; i < kDefaultMaxRequests; ++i) {
    clock_.Advance(kDefaultRetryIntervalMs);
    table_.Tick(now());
  }
  ASSERT_EQ(StateOf(table_, kRemoteBackend), NeighborState::kUnreachable);
  EXPECT_EQ(table_.OnArp(ArpFrom(kRemoteBackend, kMacB), now()).outcome, LearnOutcome::kLearned);
  EXPECT_EQ(table_.Resolve(kRemoteBackend, now()).mac, kMacB);
}

// --- Static entries -------------------------------------------------------------------------

TEST_F(NeighborTableTest, StaticEntryWinsOverArp) {
  ASSERT_TRUE(table_.AddStatic(kGateway, kStaticMac).ok());
  const uint64_t version = table_.version();
  for (const uint16_t op : {kArpOpReply, kArpOpRequest}) {
    const LearnResult learned = table_.OnArp(ArpFrom(kGateway, kMacA, op), now());
    EXPECT_EQ(learned.outcome, LearnOutcome::kIgnoredStatic);
    EXPECT_THAT(learned.ready, IsEmpty());
  }
  EXPECT_EQ(table_.version(), version);
  const ResolveResult r = table_.Resolve(kGateway, now());
  EXPECT_EQ(r.status, ResolveStatus::kKnown);
  EXPECT_EQ(r.mac, kStaticMac);
  ASSERT_NE(table_.Snapshot()->FindMac(kGateway), nullptr);
  EXPECT_EQ(*table_.Snapshot()->FindMac(kGateway), kStaticMac);

  // Never expires, never refreshed, never forgotten.
  clock_.Advance(10 * kDefaultReachableMs);
  EXPECT_THAT(TickRequests(), IsEmpty());
  EXPECT_THAT(table_.Forget(kGateway), IsEmpty());
  EXPECT_EQ(StateOf(table_, kGateway), NeighborState::kStatic);
  EXPECT_EQ(table_.Resolve(kGateway, now()).mac, kStaticMac);
}

TEST_F(NeighborTableTest, StaticEntryReplacesALearnedOneAndReleasesItsPackets) {
  ResolveAndHold(kBackend1, 1, 2);
  const absl::StatusOr<std::vector<PacketHandle>> ready = table_.AddStatic(kBackend1, kStaticMac);
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_THAT(*ready, ElementsAre(1, 2));
  EXPECT_EQ(table_.held_total(), 0u);
  EXPECT_EQ(StateOf(table_, kBackend1), NeighborState::kStatic);

  ASSERT_TRUE(table_.AddStatic(kBackend2, kMacA).ok());
  EXPECT_EQ(table_.AddStatic(kBackend2, kMacB).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(NeighborTableTest, StaticEntryMustBeAUnicastNeighbour) {
  EXPECT_FALSE(table_.AddStatic(Ipv4(0, 0, 0, 0), kMacA).ok());
  EXPECT_FALSE(table_.AddStatic(Ipv4(255, 255, 255, 255), kMacA).ok());
  EXPECT_FALSE(table_.AddStatic(Ipv4(224, 0, 0, 1), kMacA).ok());
  EXPECT_FALSE(table_.AddStatic(kBackend1, MacAddress{}).ok());
  EXPECT_FALSE(table_.AddStatic(kBackend1, kBroadcastMac).ok());
  EXPECT_FALSE(table_.AddStatic(kBackend1, {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}).ok());
  EXPECT_EQ(table_.size(), 0u);
}

// --- Learning rule --------------------------------------------------------------------------

TEST_F(NeighborTableTest, LearnsOnlyAllowedSenders) {
  ASSERT_EQ(Resolve(kRemoteBackend), ResolveStatus::kSendRequest);  // asked for, off-subnet
  struct Case {
    const char* name;
    Ipv4Be sender_ip;
    MacAddress sender_mac;
    uint16_t op;
    LearnOutcome outcome;
  };
  const Case cases[] = {
      {"on_subnet_reply", kBackend1, kMacA, kArpOpReply, LearnOutcome::kLearned},
      {"on_subnet_request", kBackend2, kMacB, kArpOpRequest, LearnOutcome::kLearned},
      {"asked_off_subnet", kRemoteBackend, kMacA, kArpOpReply, LearnOutcome::kLearned},
      {"unasked_off_subnet", Ipv4(10, 20, 0, 6), kMacA, kArpOpReply,
       LearnOutcome::kIgnoredNotAllowed},
      {"unasked_public", Ipv4(8, 8, 8, 8), kMacA, kArpOpRequest, LearnOutcome::kIgnoredNotAllowed},
      {"probe_sender_zero", Ipv4(0, 0, 0, 0), kMacA, kArpOpRequest, LearnOutcome::kIgnoredInvalid},
      {"broadcast_ip", Ipv4(255, 255, 255, 255), kMacA, kArpOpReply, LearnOutcome::kIgnoredInvalid},
      {"multicast_ip", Ipv4(224, 0, 0, 5), kMacA, kArpOpReply, LearnOutcome::kIgnoredInvalid},
      {"loopback_ip", Ipv4(127, 0, 0, 1), kMacA, kArpOpReply, LearnOutcome::kIgnoredInvalid},
      {"zero_mac", Ipv4(192, 168, 10, 20), MacAddress{}, kArpOpReply,
       LearnOutcome::kIgnoredInvalid},
      {"broadcast_mac", Ipv4(192, 168, 10, 21), kBroadcastMac, kArpOpReply,
       LearnOutcome::kIgnoredInvalid},
      {"multicast_mac",
       Ipv4(192, 168, 10, 22),
       {0x01, 0x00, 0x5e, 0, 0, 1},
       kArpOpReply,
       LearnOutcome::kIgnoredInvalid},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const LearnResult r = table_.OnArp(ArpFrom(c.sender_ip, c.sender_mac, c.op), now());
    EXPECT_EQ(r.outcome, c.outcome);
    const bool learned = c.outcome == LearnOutcome::kLearned;
    EXPECT_EQ(table_.Lookup(c.sender_ip).has_value(), learned);
    const MacAddress* mac = table_.Snapshot()->FindMac(c.sender_ip);
    ASSERT_EQ(mac != nullptr, learned);
    if (learned) {
      EXPECT_EQ(*mac, c.sender_mac);
    }
  }
  EXPECT_EQ(table_.size(), 3u);
}

TEST_F(NeighborTableTest, RepeatedAnswerConfirmsAndChangedMacIsLearned) {
  ASSERT_EQ(table_.OnArp(ArpFrom(kBackend1, kMacA), now()).outcome, LearnOutcome::kLearned);
  const uint64_t version = table_.version();
  const auto snapshot = table_.Snapshot();
  clock_.Advance(1000);
  EXPECT_EQ(table_.OnArp(ArpFrom(kBackend1, kMacA), now()).outcome, LearnOutcome::kConfirmed);
  EXPECT_EQ(table_.Lookup(kBackend1)->expires_ms, now() + kDefaultReachableMs);
  EXPECT_EQ(table_.version(), version);
  EXPECT_EQ(table_.Snapshot(), snapshot);  // nothing new to publish

  EXPECT_EQ(table_.OnArp(ArpFrom(kBackend1, kMacB), now()).outcome, LearnOutcome::kLearned);
  EXPECT_NE(table_.version(), version);
  const auto updated = table_.Snapshot();
  EXPECT_NE(updated, snapshot);
  EXPECT_EQ(*updated->FindMac(kBackend1), kMacB);
  EXPECT_EQ(*snapshot->FindMac(kBackend1), kMacA);  // a published snapshot never changes
}

TEST(NeighborTableLearnTest, NoSubnetMeansOnlyWhatWasAskedFor) {
  NeighborTable table = *NeighborTable::Create({.gateway = kGateway});
  EXPECT_EQ(table.OnArp(ArpFrom(kBackend1, kMacA), 0).outcome, LearnOutcome::kIgnoredNotAllowed);
  ASSERT_EQ(table.Resolve(kGateway, 0).status, ResolveStatus::kSendRequest);
  EXPECT_EQ(table.OnArp(ArpFrom(kGateway, kMacA), 0).outcome, LearnOutcome::kLearned);
}

// --- Expiry and refresh ---------------------------------------------------------------------

TEST_F(NeighborTableTest, InUseEntryIsRefreshedBeforeExpiry) {
  ASSERT_EQ(Resolve(kBackend1), ResolveStatus::kSendRequest);
  ASSERT_EQ(table_.OnArp(ArpFrom(kBackend1, kMacA), now()).outcome, LearnOutcome::kLearned);
  const nat::TimeMs expires = now() + kDefaultReachableMs;
  EXPECT_EQ(table_.Lookup(kBackend1)->expires_ms, expires);

  clock_.Set(expires - kDefaultRefreshLeadMs - 1);
  EXPECT_THAT(TickRequests(), IsEmpty());
  clock_.Set(expires - kDefaultRefreshLeadMs);
  EXPECT_THAT(TickRequests(), ElementsAre(kBackend1));
  clock_.Advance(kDefaultRetryIntervalMs / 2);
  EXPECT_THAT(TickRequests(), IsEmpty());  // rate limit holds while refreshing
  clock_.Advance(kDefaultRetryIntervalMs / 2);
  EXPECT_THAT(TickRequests(), ElementsAre(kBackend1));
  // Still usable while being refreshed.
  EXPECT_EQ(table_.Resolve(kBackend1, now()).status, ResolveStatus::kKnown);

  clock_.Advance(100);
  EXPECT_EQ(table_.OnArp(ArpFrom(kBackend1, kMacA), now()).outcome, LearnOutcome::kConfirmed);
  EXPECT_EQ(table_.Lookup(kBackend1)->requests_sent, 0u);
  clock_.Set(expires + 1);
  EXPECT_THAT(TickRequests(), IsEmpty());
  EXPECT_EQ(StateOf(table_, kBackend1), NeighborState::kReachable);
  ASSERT_NE(table_.Snapshot()->FindMac(kBackend1), nullptr);
}

TEST_F(NeighborTableTest, UnansweredRefreshExpiresTheMacAndGivesUp) {
  ResolveAndHold(kBackend1, 1, 1);
  ASSERT_THAT(table_.OnArp(ArpFrom(kBackend1, kMacA), now()).ready, ElementsAre(1));
  const nat::TimeMs expires = now() + kDefaultReachableMs;
  std::vector<nat::TimeMs> sent_at;
  for (clock_.Set(expires - kDefaultRefreshLeadMs); now() < expires; clock_.Advance(100)) {
    if (!TickRequests().empty()) sent_at.push_back(now());
  }
  EXPECT_THAT(sent_at, ElementsAre(expires - 5000, expires - 4000, expires - 3000));
  ASSERT_NE(table_.Snapshot()->FindMac(kBackend1), nullptr);
  const uint64_t version = table_.version();

  clock_.Set(expires);
  EXPECT_THAT(TickRequests(), IsEmpty());
  EXPECT_NE(table_.version(), version);
  EXPECT_EQ(table_.Snapshot()->FindMac(kBackend1), nullptr);
  // All requests were spent while refreshing, the last long ago: given up straight away.
  EXPECT_EQ(StateOf(table_, kBackend1), NeighborState::kUnreachable);
  EXPECT_EQ(Resolve(kBackend1), ResolveStatus::kUnreachable);
}

TEST(NeighborTableExpiryTest, ShortRefreshLeadKeepsResolvingAfterExpiry) {
  NeighborTableConfig config = DefaultConfig();
  config.refresh_lead_ms = 1000;  // room for one refresh request only
  NeighborTable table = *NeighborTable::Create(config);
  ASSERT_EQ(table.Resolve(kBackend1, 0).status, ResolveStatus::kSendRequest);
  table.OnArp(ArpFrom(kBackend1, kMacA), 0);
  EXPECT_THAT(table.Tick(29'000).send_requests, ElementsAre(kBackend1));
  EXPECT_THAT(table.Tick(30'000).send_requests, ElementsAre(kBackend1));  // expired, resolving
  EXPECT_EQ(table.Lookup(kBackend1)->state, NeighborState::kResolving);
  EXPECT_EQ(table.Hold(kBackend1, 9), HoldStatus::kHeld);
  EXPECT_THAT(table.Tick(31'000).send_requests, ElementsAre(kBackend1));
  EXPECT_THAT(table.Tick(32'000).dropped, ElementsAre(9));
}

TEST_F(NeighborTableTest, UnaskedEntryExpiresWithoutRefresh) {
  ASSERT_EQ(table_.OnArp(ArpFrom(kBackend1, kMacA, kArpOpRequest), now()).outcome,
            LearnOutcome::kLearned);
  EXPECT_FALSE(table_.Lookup(kBackend1)->solicited);
  const nat::TimeMs expires = now() + kDefaultReachableMs;
  for (; now() < expires; clock_.Advance(250)) ASSERT_THAT(TickRequests(), IsEmpty());
  ASSERT_TRUE(table_.Lookup(kBackend1).has_value());
  clock_.Set(expires);
  EXPECT_THAT(TickRequests(), IsEmpty());
  EXPECT_FALSE(table_.Lookup(kBackend1).has_value());
  EXPECT_EQ(table_.Snapshot()->FindMac(kBackend1), nullptr);
}

// --- Bounds, forgetting, shutdown -----------------------------------------------------------

class TinyTableTest : public NeighborTableTest {
 protected:
  static NeighborTableConfig Config() {
    NeighborTableConfig config = DefaultConfig();
    config.max_neighbors = 2;
    return config;
  }
  TinyTableTest() : NeighborTableTest(Config()) {}
};

TEST_F(TinyTableTest, UnaskedEntriesMakeRoomForResolutions) {
  const Ipv4Be first = Ipv4(192, 168, 10, 101);
  const Ipv4Be second = Ipv4(192, 168, 10, 102);
  ASSERT_EQ(table_.OnArp(ArpFrom(first, kMacA), now()).outcome, LearnOutcome::kLearned);
  clock_.Advance(10);
  ASSERT_EQ(table_.OnArp(ArpFrom(second, kMacB), now()).outcome, LearnOutcome::kLearned);
  // Unasked senders never push others out.
  EXPECT_EQ(table_.OnArp(ArpFrom(Ipv4(192, 168, 10, 103), kMacA), now()).outcome,
            LearnOutcome::kIgnoredFull);

  // A resolution evicts the unasked entry closest to expiry.
  EXPECT_EQ(Resolve(kBackend1), ResolveStatus::kSendRequest);
  EXPECT_FALSE(table_.Lookup(first).has_value());
  EXPECT_TRUE(table_.Lookup(second).has_value());
  EXPECT_EQ(table_.Resolve(second, now()).status, ResolveStatus::kKnown);  // now in use

  // Entries in use are never evicted.
  EXPECT_EQ(Resolve(kBackend2), ResolveStatus::kNoRoom);
  EXPECT_EQ(table_.AddStatic(kGateway, kStaticMac).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(table_.size(), 2u);

  // Forgetting one makes room.
  EXPECT_THAT(table_.Forget(second), IsEmpty());
  EXPECT_EQ(Resolve(kBackend2), ResolveStatus::kSendRequest);
}

TEST_F(NeighborTableTest, ForgetHandsBackHeldPacketsAndStopsRequests) {
  ResolveAndHold(kBackend1, 1, 2);
  EXPECT_THAT(table_.Forget(kBackend1), ElementsAre(1, 2));
  EXPECT_EQ(table_.held_total(), 0u);
  EXPECT_FALSE(table_.Lookup(kBackend1).has_value());
  clock_.Advance(kDefaultRetryIntervalMs);
  EXPECT_THAT(TickRequests(), IsEmpty());
  EXPECT_THAT(table_.Forget(kBackend1), IsEmpty());
}

TEST_F(NeighborTableTest, TakeAllHeldEmptiesEveryQueue) {
  ResolveAndHold(kBackend1, 1, 3);
  ResolveAndHold(kBackend2, 4, 5);
  EXPECT_THAT(table_.TakeAllHeld(), UnorderedElementsAre(1, 2, 3, 4, 5));
  EXPECT_EQ(table_.held_total(), 0u);
  EXPECT_EQ(table_.Lookup(kBackend1)->held_packets, 0u);
  EXPECT_THAT(table_.OnArp(ArpFrom(kBackend1, kMacA), now()).ready, IsEmpty());
}

TEST_F(NeighborTableTest, ListIsSortedByAddress) {
  ASSERT_TRUE(table_.AddStatic(kBackend2, kStaticMac).ok());
  table_.Resolve(kRemoteBackend, now());
  table_.OnArp(ArpFrom(kBackend1, kMacA), now());
  const std::vector<NeighborInfo> list = table_.List();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].ip, kRemoteBackend);  // 10.20.0.5
  EXPECT_EQ(list[0].state, NeighborState::kResolving);
  EXPECT_EQ(list[1].ip, kBackend1);
  EXPECT_EQ(list[1].state, NeighborState::kReachable);
  EXPECT_EQ(list[2].ip, kBackend2);
  EXPECT_EQ(list[2].state, NeighborState::kStatic);
}

TEST_F(NeighborTableTest, TickRequestsComeSortedByAddress) {
  for (const Ipv4Be ip : {Ipv4(192, 168, 10, 30), Ipv4(192, 168, 10, 4), kRemoteBackend}) {
    ASSERT_EQ(Resolve(ip), ResolveStatus::kSendRequest);
  }
  clock_.Advance(kDefaultRetryIntervalMs);
  EXPECT_THAT(TickRequests(),
              ElementsAre(kRemoteBackend, Ipv4(192, 168, 10, 4), Ipv4(192, 168, 10, 30)));
}

TEST_F(NeighborTableTest, UnresolvableAddressesAreNeverRequested) {
  for (const Ipv4Be ip : {Ipv4(0, 0, 0, 0), Ipv4(255, 255, 255, 255), Ipv4(239, 1, 1, 1)}) {
    EXPECT_EQ(Resolve(ip), ResolveStatus::kUnreachable) << FormatIpv4(ip);
  }
  EXPECT_EQ(table_.size(), 0u);
}

}  // namespace
}  // namespace privlink::dataplane
