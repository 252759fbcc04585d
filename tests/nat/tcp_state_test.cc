#include "nat/tcp_state.h"

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace privlink::nat {
namespace {

using ::testing::HasSubstr;

constexpr FlowDirection kClient = FlowDirection::kIn2Out;
constexpr FlowDirection kServer = FlowDirection::kOut2In;
constexpr FlowDirection kDirections[] = {kClient, kServer};
// Flag bits the state machine must ignore.
constexpr uint8_t kTcpUrg = 0x20;
constexpr uint8_t kTcpEce = 0x40;
constexpr uint8_t kTcpCwr = 0x80;
constexpr uint8_t kRelevantFlags = kTcpSyn | kTcpFin | kTcpRst | kTcpAck;

std::vector<TcpState> AllStates() {
  std::vector<TcpState> states;
  for (int s = 0; s < static_cast<int>(TcpState::kCount); ++s) {
    states.push_back(static_cast<TcpState>(s));
  }
  return states;
}

std::string Describe(TcpState state, FlowDirection direction, int flags) {
  return std::string(TcpStateName(state)) + (direction == kClient ? " client" : " server") +
         " flags=0x" + std::to_string(flags);
}

// The machine can be evaluated at compile time, which is what lets it live in a table.
static_assert(NextTcpState(TcpState::kSynSent, kServer, kTcpSyn | kTcpAck) ==
              TcpState::kSynReceived);
static_assert(!TcpFlagsMayChangeState(TcpState::kEstablished, kTcpAck | kTcpPsh));

struct TransitionCase {
  const char* description;
  TcpState state;
  FlowDirection direction;
  uint8_t flags;
  TcpState expected;
};

const TransitionCase kTransitionCases[] = {
    // Handshake.
    {"client SYN retransmitted", TcpState::kSynSent, kClient, kTcpSyn, TcpState::kSynSent},
    {"server SYN-ACK", TcpState::kSynSent, kServer, kTcpSyn | kTcpAck, TcpState::kSynReceived},
    {"simultaneous open: server bare SYN", TcpState::kSynSent, kServer, kTcpSyn,
     TcpState::kSynReceived},
    {"client final ACK", TcpState::kSynReceived, kClient, kTcpAck, TcpState::kEstablished},
    {"client ACK with data", TcpState::kSynReceived, kClient, kTcpAck | kTcpPsh,
     TcpState::kEstablished},
    {"client ACK+FIN completes and closes", TcpState::kSynReceived, kClient, kTcpAck | kTcpFin,
     TcpState::kFinFromClient},
    {"client bare FIN after SYN-ACK", TcpState::kSynReceived, kClient, kTcpFin,
     TcpState::kSynReceived},
    {"client ACK before any SYN-ACK", TcpState::kSynSent, kClient, kTcpAck, TcpState::kSynSent},
    {"client SYN-ACK in simultaneous open", TcpState::kSynSent, kClient, kTcpSyn | kTcpAck,
     TcpState::kSynSent},
    {"client SYN-ACK after server SYN", TcpState::kSynReceived, kClient, kTcpSyn | kTcpAck,
     TcpState::kSynReceived},
    {"client SYN retransmitted after SYN-ACK", TcpState::kSynReceived, kClient, kTcpSyn,
     TcpState::kSynReceived},
    {"server SYN-ACK retransmitted", TcpState::kSynReceived, kServer, kTcpSyn | kTcpAck,
     TcpState::kSynReceived},
    {"server data before client ACK", TcpState::kSynReceived, kServer, kTcpAck | kTcpPsh,
     TcpState::kSynReceived},
    {"server ACK before SYN-ACK", TcpState::kSynSent, kServer, kTcpAck, TcpState::kSynSent},
    {"client FIN during handshake", TcpState::kSynSent, kClient, kTcpFin | kTcpAck,
     TcpState::kSynSent},
    {"server FIN during handshake", TcpState::kSynReceived, kServer, kTcpFin | kTcpAck,
     TcpState::kSynReceived},
    {"SYN+FIN is invalid", TcpState::kSynSent, kClient, kTcpSyn | kTcpFin, TcpState::kSynSent},
    {"SYN+FIN does not reopen", TcpState::kReset, kClient, kTcpSyn | kTcpFin, TcpState::kReset},
    {"server SYN+FIN is invalid", TcpState::kSynSent, kServer, kTcpSyn | kTcpFin | kTcpAck,
     TcpState::kSynSent},
    // Established and closing.
    {"client data", TcpState::kEstablished, kClient, kTcpAck | kTcpPsh, TcpState::kEstablished},
    {"server data", TcpState::kEstablished, kServer, kTcpAck, TcpState::kEstablished},
    {"client FIN", TcpState::kEstablished, kClient, kTcpFin | kTcpAck, TcpState::kFinFromClient},
    {"server FIN", TcpState::kEstablished, kServer, kTcpFin | kTcpAck, TcpState::kFinFromServer},
    {"stray client SYN in established", TcpState::kEstablished, kClient, kTcpSyn,
     TcpState::kEstablished},
    {"stray server SYN-ACK in established", TcpState::kEstablished, kServer, kTcpSyn | kTcpAck,
     TcpState::kEstablished},
    {"client FIN retransmitted", TcpState::kFinFromClient, kClient, kTcpFin | kTcpAck,
     TcpState::kFinFromClient},
    {"server ACKs client FIN", TcpState::kFinFromClient, kServer, kTcpAck,
     TcpState::kFinFromClient},
    {"server FIN after client FIN", TcpState::kFinFromClient, kServer, kTcpFin | kTcpAck,
     TcpState::kClosing},
    {"client FIN after server FIN", TcpState::kFinFromServer, kClient, kTcpFin | kTcpAck,
     TcpState::kClosing},
    {"server FIN retransmitted", TcpState::kFinFromServer, kServer, kTcpFin,
     TcpState::kFinFromServer},
    {"client data after server FIN", TcpState::kFinFromServer, kClient, kTcpAck | kTcpPsh,
     TcpState::kFinFromServer},
    {"client SYN while half closed", TcpState::kFinFromClient, kClient, kTcpSyn,
     TcpState::kFinFromClient},
    {"last ACK", TcpState::kClosing, kClient, kTcpAck, TcpState::kClosing},
    {"FIN retransmitted while closing", TcpState::kClosing, kServer, kTcpFin | kTcpAck,
     TcpState::kClosing},
    // Reset and port reuse.
    {"client RST in handshake", TcpState::kSynSent, kClient, kTcpRst, TcpState::kReset},
    {"server RST refuses SYN", TcpState::kSynSent, kServer, kTcpRst | kTcpAck, TcpState::kReset},
    {"client RST established", TcpState::kEstablished, kClient, kTcpRst, TcpState::kReset},
    {"server RST+ACK established", TcpState::kEstablished, kServer, kTcpRst | kTcpAck,
     TcpState::kReset},
    {"RST while closing", TcpState::kClosing, kServer, kTcpRst, TcpState::kReset},
    {"RST wins over SYN", TcpState::kEstablished, kClient, kTcpSyn | kTcpRst, TcpState::kReset},
    {"client SYN reuses reset flow", TcpState::kReset, kClient, kTcpSyn, TcpState::kSynSent},
    {"client SYN reuses closed flow", TcpState::kClosing, kClient, kTcpSyn, TcpState::kSynSent},
    {"client SYN with ECN setup reuses", TcpState::kClosing, kClient, kTcpSyn | kTcpEce | kTcpCwr,
     TcpState::kSynSent},
    {"server SYN does not reuse", TcpState::kClosing, kServer, kTcpSyn, TcpState::kClosing},
    {"server SYN-ACK after reset", TcpState::kReset, kServer, kTcpSyn | kTcpAck, TcpState::kReset},
    {"data after reset", TcpState::kReset, kClient, kTcpAck | kTcpPsh, TcpState::kReset},
    {"FIN after reset", TcpState::kReset, kServer, kTcpFin | kTcpAck, TcpState::kReset},
    {"client SYN-ACK does not reuse", TcpState::kReset, kClient, kTcpSyn | kTcpAck,
     TcpState::kReset},
    // Ignored flags.
    {"URG, ECE, CWR, PSH ignored", TcpState::kEstablished, kClient,
     kTcpFin | kTcpAck | kTcpPsh | kTcpUrg | kTcpEce | kTcpCwr, TcpState::kFinFromClient},
    {"no flags at all", TcpState::kSynReceived, kClient, 0, TcpState::kSynReceived},
};

TEST(TcpStateTest, TransitionTable) {
  for (const TransitionCase& c : kTransitionCases) {
    EXPECT_EQ(NextTcpState(c.state, c.direction, c.flags), c.expected)
        << c.description << ": got " << TcpStateName(NextTcpState(c.state, c.direction, c.flags))
        << ", want " << TcpStateName(c.expected);
  }
}

struct Segment {
  FlowDirection direction;
  uint8_t flags;
  TcpState expected;
};
struct LifecycleCase {
  const char* description;
  std::vector<Segment> segments;  // starting from the client's first SYN (kSynSent)
};

TEST(TcpStateTest, Lifecycles) {
  const LifecycleCase cases[] = {
      {"open, client closes first",
       {{kServer, kTcpSyn | kTcpAck, TcpState::kSynReceived},
        {kClient, kTcpAck, TcpState::kEstablished},
        {kClient, kTcpAck | kTcpPsh, TcpState::kEstablished},
        {kServer, kTcpAck | kTcpPsh, TcpState::kEstablished},
        {kClient, kTcpFin | kTcpAck, TcpState::kFinFromClient},
        {kServer, kTcpAck, TcpState::kFinFromClient},
        {kServer, kTcpFin | kTcpAck, TcpState::kClosing},
        {kClient, kTcpAck, TcpState::kClosing}}},
      {"server closes first, then port reuse",
       {{kServer, kTcpSyn | kTcpAck, TcpState::kSynReceived},
        {kClient, kTcpAck, TcpState::kEstablished},
        {kServer, kTcpFin | kTcpAck, TcpState::kFinFromServer},
        {kClient, kTcpFin | kTcpAck, TcpState::kClosing},
        {kClient, kTcpSyn, TcpState::kSynSent},
        {kServer, kTcpSyn | kTcpAck, TcpState::kSynReceived},
        {kClient, kTcpAck, TcpState::kEstablished}}},
      {"simultaneous open",
       {{kServer, kTcpSyn, TcpState::kSynReceived},
        {kClient, kTcpSyn | kTcpAck, TcpState::kSynReceived},
        {kServer, kTcpSyn | kTcpAck, TcpState::kSynReceived},
        {kClient, kTcpAck | kTcpPsh, TcpState::kEstablished}}},
      {"refused connection, retried",
       {{kServer, kTcpRst | kTcpAck, TcpState::kReset},
        {kClient, kTcpSyn, TcpState::kSynSent},
        {kServer, kTcpSyn | kTcpAck, TcpState::kSynReceived}}},
      {"handshake that never completes",
       {{kClient, kTcpSyn, TcpState::kSynSent},
        {kServer, kTcpSyn | kTcpAck, TcpState::kSynReceived},
        {kClient, kTcpSyn, TcpState::kSynReceived},
        {kServer, kTcpSyn | kTcpAck, TcpState::kSynReceived},
        {kServer, kTcpAck | kTcpPsh, TcpState::kSynReceived},
        {kServer, kTcpFin | kTcpAck, TcpState::kSynReceived}}},
      {"reset mid-connection",
       {{kServer, kTcpSyn | kTcpAck, TcpState::kSynReceived},
        {kClient, kTcpAck, TcpState::kEstablished},
        {kClient, kTcpRst, TcpState::kReset},
        {kServer, kTcpAck, TcpState::kReset}}},
  };
  for (const LifecycleCase& c : cases) {
    TcpState state = TcpState::kSynSent;
    for (size_t i = 0; i < c.segments.size(); ++i) {
      const Segment& seg = c.segments[i];
      state = NextTcpState(state, seg.direction, seg.flags);
      ASSERT_EQ(state, seg.expected)
          << c.description << ", segment " << i << ": got " << TcpStateName(state);
    }
  }
}

TEST(TcpStateTest, RstResetsFromEveryStateBothWays) {
  for (TcpState state : AllStates()) {
    for (FlowDirection direction : kDirections) {
      for (int flags = 0; flags < 256; ++flags) {
        if (!(flags & kTcpRst)) continue;
        EXPECT_EQ(NextTcpState(state, direction, flags), TcpState::kReset)
            << Describe(state, direction, flags);
      }
    }
  }
}

TEST(TcpStateTest, OnlySynAckFinRstMatter) {
  for (TcpState state : AllStates()) {
    for (FlowDirection direction : kDirections) {
      for (int flags = 0; flags < 256; ++flags) {
        EXPECT_EQ(NextTcpState(state, direction, flags),
                  NextTcpState(state, direction, flags & kRelevantFlags))
            << Describe(state, direction, flags);
      }
    }
  }
}

TEST(TcpStateTest, MayChangeStateIsExact) {
  for (TcpState state : AllStates()) {
    for (int flags = 0; flags < 256; ++flags) {
      const bool changes = NextTcpState(state, kClient, flags) != state ||
                           NextTcpState(state, kServer, flags) != state;
      EXPECT_EQ(TcpFlagsMayChangeState(state, flags), changes) << Describe(state, kClient, flags);
    }
  }
}

// Otherwise the fast path would write the shared entry for every data segment.
TEST(TcpStateTest, PlainDataChangesStateOnlyToCompleteTheHandshake) {
  for (TcpState state : AllStates()) {
    EXPECT_EQ(TcpFlagsMayChangeState(state, kTcpAck | kTcpPsh), state == TcpState::kSynReceived)
        << TcpStateName(state);
  }
}

// Breadth-first search over every segment except a client ACK (without SYN or RST): the only
// segment that completes a handshake. None of it may reach a state with a longer timeout.
TEST(TcpStateTest, HandshakeWithoutClientAckNeverEstablishes) {
  std::set<TcpState> reached = {TcpState::kSynSent};
  std::vector<TcpState> frontier = {TcpState::kSynSent};
  while (!frontier.empty()) {
    const TcpState state = frontier.back();
    frontier.pop_back();
    for (FlowDirection direction : kDirections) {
      for (int flags = 0; flags < 256; ++flags) {
        const bool client_ack =
            direction == kClient && (flags & kTcpAck) && !(flags & (kTcpSyn | kTcpRst));
        if (client_ack) continue;
        const TcpState next = NextTcpState(state, direction, flags);
        if (reached.insert(next).second) frontier.push_back(next);
      }
    }
  }
  EXPECT_EQ(reached,
            (std::set<TcpState>{TcpState::kSynSent, TcpState::kSynReceived, TcpState::kReset}));
}

TEST(TcpStateTest, EstablishedOnlyByClientAckAfterSynAck) {
  for (TcpState state : AllStates()) {
    if (state == TcpState::kEstablished) continue;
    for (FlowDirection direction : kDirections) {
      for (int flags = 0; flags < 256; ++flags) {
        if (NextTcpState(state, direction, flags) != TcpState::kEstablished) continue;
        EXPECT_EQ(state, TcpState::kSynReceived) << Describe(state, direction, flags);
        EXPECT_EQ(direction, kClient) << Describe(state, direction, flags);
        EXPECT_EQ(flags & (kTcpAck | kTcpSyn | kTcpRst | kTcpFin), kTcpAck)
            << Describe(state, direction, flags);
      }
    }
  }
}

TEST(TcpStateTest, OutOfRangeStateIsTreatedAsReset) {
  const auto bogus = static_cast<TcpState>(200);
  EXPECT_EQ(NextTcpState(bogus, kClient, kTcpAck), TcpState::kReset);
  EXPECT_EQ(NextTcpState(TcpState::kCount, kServer, kTcpSyn), TcpState::kReset);
  EXPECT_TRUE(TcpFlagsMayChangeState(bogus, kTcpAck));
  const TcpTimeouts timeouts{
      .embryonic_ms = 1, .established_ms = 2, .transitory_ms = 3, .reset_ms = 4};
  EXPECT_EQ(TcpStateTimeoutMs(bogus, timeouts), 4u);
  EXPECT_STREQ(TcpStateName(bogus), "INVALID");
  EXPECT_STREQ(TcpStateName(TcpState::kCount), "INVALID");
}

TEST(TcpStateTest, TimeoutPerState) {
  const TcpTimeouts timeouts{
      .embryonic_ms = 11, .established_ms = 22, .transitory_ms = 33, .reset_ms = 44};
  const struct {
    TcpState state;
    uint32_t expected_ms;
  } cases[] = {
      {TcpState::kSynSent, 11},       {TcpState::kSynReceived, 11},   {TcpState::kEstablished, 22},
      {TcpState::kFinFromClient, 33}, {TcpState::kFinFromServer, 33}, {TcpState::kClosing, 33},
      {TcpState::kReset, 44},
  };
  ASSERT_EQ(std::size(cases), AllStates().size());
  for (const auto& c : cases) {
    EXPECT_EQ(TcpStateTimeoutMs(c.state, timeouts), c.expected_ms) << TcpStateName(c.state);
  }
}

TEST(TcpStateTest, NamesAreFixedLabels) {
  const struct {
    TcpState state;
    const char* name;
  } cases[] = {
      {TcpState::kSynSent, "SYN_SENT"},
      {TcpState::kSynReceived, "SYN_RECEIVED"},
      {TcpState::kEstablished, "ESTABLISHED"},
      {TcpState::kFinFromClient, "FIN_FROM_CLIENT"},
      {TcpState::kFinFromServer, "FIN_FROM_SERVER"},
      {TcpState::kClosing, "CLOSING"},
      {TcpState::kReset, "RESET"},
  };
  ASSERT_EQ(std::size(cases), AllStates().size());
  for (const auto& c : cases) EXPECT_STREQ(TcpStateName(c.state), c.name);
}

TEST(TcpStateTest, ValidateTimeoutsAcceptsDefaultsAndBounds) {
  EXPECT_TRUE(ValidateTcpTimeouts(TcpTimeouts{}).ok());
  TcpTimeouts rfc5382;
  rfc5382.established_ms = 124u * 60u * 1000u;
  EXPECT_TRUE(ValidateTcpTimeouts(rfc5382).ok());
  EXPECT_TRUE(ValidateTcpTimeouts(
                  {.embryonic_ms = 1, .established_ms = 1, .transitory_ms = 1, .reset_ms = 1})
                  .ok());
  EXPECT_TRUE(ValidateTcpTimeouts({.embryonic_ms = kMaxTimeoutMs,
                                   .established_ms = kMaxTimeoutMs,
                                   .transitory_ms = kMaxTimeoutMs,
                                   .reset_ms = kMaxTimeoutMs})
                  .ok());
}

TEST(TcpStateTest, ValidateTimeoutsNamesTheBadField) {
  const struct {
    const char* field;
    uint32_t TcpTimeouts::*member;
  } fields[] = {
      {"embryonic_ms", &TcpTimeouts::embryonic_ms},
      {"established_ms", &TcpTimeouts::established_ms},
      {"transitory_ms", &TcpTimeouts::transitory_ms},
      {"reset_ms", &TcpTimeouts::reset_ms},
  };
  for (const auto& f : fields) {
    for (uint32_t bad : {0u, kMaxTimeoutMs + 1, UINT32_MAX}) {
      TcpTimeouts timeouts;
      timeouts.*f.member = bad;
      const absl::Status status = ValidateTcpTimeouts(timeouts);
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << f.field << "=" << bad;
      EXPECT_THAT(std::string(status.message()), HasSubstr(f.field)) << bad;
    }
  }
}

// ---- RST: held to what its receiver expects (RFC 5961) ----

TEST(JudgeRstTest, ExactEndsAheadIsChallengedBehindIsOutOfWindow) {
  using enum RstVerdict;
  struct Case {
    const char* description;
    RstCheck rst;
    RstVerdict want;
  };
  constexpr auto kIn = FlowDirection::kIn2Out;
  constexpr auto kOut = FlowDirection::kOut2In;
  constexpr auto kEst = TcpState::kEstablished;
  const std::vector<Case> cases = {
      {"exact", {kEst, kIn, 1000, 5000, 1000, 0, false}, kEnds},
      {"one ahead", {kEst, kIn, 1000, 5000, 1001, 0, false}, kChallenge},
      {"2^31 - 1 ahead", {kEst, kIn, 1000, 5000, 1000 + 0x7fffffffu, 0, false}, kChallenge},
      {"one behind", {kEst, kIn, 1000, 5000, 999, 0, false}, kOutOfWindow},
      {"2^31 away reads as behind",
       {kEst, kIn, 1000, 5000, 1000 + 0x80000000u, 0, false},
       kOutOfWindow},
      {"exact across the wrap", {kEst, kOut, 0xfffffff0u, 0, 0xfffffff0u, 0, false}, kEnds},
      {"ahead across the wrap", {kEst, kOut, 0xfffffff0u, 0, 0x10, 0, false}, kChallenge},
      {"SYN sent, backend RST acknowledging the SYN",
       {TcpState::kSynSent, kOut, 0, 1001, 0, 1001, true},
       kEnds},
      {"SYN sent, backend RST acknowledging another number",
       {TcpState::kSynSent, kOut, 0, 1001, 0, 1000, true},
       kOutOfWindow},
      {"SYN sent, backend RST without ACK",
       {TcpState::kSynSent, kOut, 0, 1001, 0, 1001, false},
       kOutOfWindow},
      {"SYN sent, the client's RST at the seeded number",
       {TcpState::kSynSent, kIn, 1001, 0, 1001, 0, false},
       kEnds},
      {"reset already: still held to the number",
       {TcpState::kReset, kIn, 1000, 0, 7, 0, false},
       kOutOfWindow},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(JudgeRst(c.rst), c.want) << c.description;
  }
}

}  // namespace
}  // namespace privlink::nat
