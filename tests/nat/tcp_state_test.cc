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

std::vector<FlowState> AllStates() {
  std::vector<FlowState> states;
  for (int s = 0; s < static_cast<int>(FlowState::kCount); ++s) {
    states.push_back(static_cast<FlowState>(s));
  }
  return states;
}
// The TCP machine's states: every one but a UDP flow's.
std::vector<FlowState> TcpStates() {
  std::vector<FlowState> states = AllStates();
  std::erase(states, FlowState::kUdp);
  return states;
}

std::string Describe(FlowState state, FlowDirection direction, int flags) {
  return std::string(FlowStateName(state)) + (direction == kClient ? " client" : " server") +
         " flags=0x" + std::to_string(flags);
}

// The machine can be evaluated at compile time, which is what lets it live in a table.
static_assert(NextTcpState(FlowState::kSynSent, kServer, kTcpSyn | kTcpAck) ==
              FlowState::kSynReceived);
static_assert(!TcpFlagsMayChangeState(FlowState::kEstablished, kTcpAck | kTcpPsh));

struct TransitionCase {
  const char* description;
  FlowState state;
  FlowDirection direction;
  uint8_t flags;
  FlowState expected;
};

const TransitionCase kTransitionCases[] = {
    // Handshake.
    {"client SYN retransmitted", FlowState::kSynSent, kClient, kTcpSyn, FlowState::kSynSent},
    {"server SYN-ACK", FlowState::kSynSent, kServer, kTcpSyn | kTcpAck, FlowState::kSynReceived},
    {"simultaneous open: server bare SYN", FlowState::kSynSent, kServer, kTcpSyn,
     FlowState::kSynReceived},
    {"client final ACK", FlowState::kSynReceived, kClient, kTcpAck, FlowState::kEstablished},
    {"client ACK with data", FlowState::kSynReceived, kClient, kTcpAck | kTcpPsh,
     FlowState::kEstablished},
    {"client ACK+FIN completes and closes", FlowState::kSynReceived, kClient, kTcpAck | kTcpFin,
     FlowState::kFinFromClient},
    {"client bare FIN after SYN-ACK", FlowState::kSynReceived, kClient, kTcpFin,
     FlowState::kSynReceived},
    {"client ACK before any SYN-ACK", FlowState::kSynSent, kClient, kTcpAck, FlowState::kSynSent},
    {"client SYN-ACK in simultaneous open", FlowState::kSynSent, kClient, kTcpSyn | kTcpAck,
     FlowState::kSynSent},
    {"client SYN-ACK after server SYN", FlowState::kSynReceived, kClient, kTcpSyn | kTcpAck,
     FlowState::kSynReceived},
    {"client SYN retransmitted after SYN-ACK", FlowState::kSynReceived, kClient, kTcpSyn,
     FlowState::kSynReceived},
    {"server SYN-ACK retransmitted", FlowState::kSynReceived, kServer, kTcpSyn | kTcpAck,
     FlowState::kSynReceived},
    {"server data before client ACK", FlowState::kSynReceived, kServer, kTcpAck | kTcpPsh,
     FlowState::kSynReceived},
    {"server ACK before SYN-ACK", FlowState::kSynSent, kServer, kTcpAck, FlowState::kSynSent},
    {"client FIN during handshake", FlowState::kSynSent, kClient, kTcpFin | kTcpAck,
     FlowState::kSynSent},
    {"server FIN during handshake", FlowState::kSynReceived, kServer, kTcpFin | kTcpAck,
     FlowState::kSynReceived},
    {"SYN+FIN is invalid", FlowState::kSynSent, kClient, kTcpSyn | kTcpFin, FlowState::kSynSent},
    {"SYN+FIN does not reopen", FlowState::kReset, kClient, kTcpSyn | kTcpFin, FlowState::kReset},
    {"server SYN+FIN is invalid", FlowState::kSynSent, kServer, kTcpSyn | kTcpFin | kTcpAck,
     FlowState::kSynSent},
    // Established and closing.
    {"client data", FlowState::kEstablished, kClient, kTcpAck | kTcpPsh, FlowState::kEstablished},
    {"server data", FlowState::kEstablished, kServer, kTcpAck, FlowState::kEstablished},
    {"client FIN", FlowState::kEstablished, kClient, kTcpFin | kTcpAck, FlowState::kFinFromClient},
    {"server FIN", FlowState::kEstablished, kServer, kTcpFin | kTcpAck, FlowState::kFinFromServer},
    {"stray client SYN in established", FlowState::kEstablished, kClient, kTcpSyn,
     FlowState::kEstablished},
    {"stray server SYN-ACK in established", FlowState::kEstablished, kServer, kTcpSyn | kTcpAck,
     FlowState::kEstablished},
    {"client FIN retransmitted", FlowState::kFinFromClient, kClient, kTcpFin | kTcpAck,
     FlowState::kFinFromClient},
    {"server ACKs client FIN", FlowState::kFinFromClient, kServer, kTcpAck,
     FlowState::kFinFromClient},
    {"server FIN after client FIN", FlowState::kFinFromClient, kServer, kTcpFin | kTcpAck,
     FlowState::kClosing},
    {"client FIN after server FIN", FlowState::kFinFromServer, kClient, kTcpFin | kTcpAck,
     FlowState::kClosing},
    {"server FIN retransmitted", FlowState::kFinFromServer, kServer, kTcpFin,
     FlowState::kFinFromServer},
    {"client data after server FIN", FlowState::kFinFromServer, kClient, kTcpAck | kTcpPsh,
     FlowState::kFinFromServer},
    {"client SYN while half closed", FlowState::kFinFromClient, kClient, kTcpSyn,
     FlowState::kFinFromClient},
    {"last ACK", FlowState::kClosing, kClient, kTcpAck, FlowState::kClosing},
    {"FIN retransmitted while closing", FlowState::kClosing, kServer, kTcpFin | kTcpAck,
     FlowState::kClosing},
    // Reset and port reuse.
    {"client RST in handshake", FlowState::kSynSent, kClient, kTcpRst, FlowState::kReset},
    {"server RST refuses SYN", FlowState::kSynSent, kServer, kTcpRst | kTcpAck, FlowState::kReset},
    {"client RST established", FlowState::kEstablished, kClient, kTcpRst, FlowState::kReset},
    {"server RST+ACK established", FlowState::kEstablished, kServer, kTcpRst | kTcpAck,
     FlowState::kReset},
    {"RST while closing", FlowState::kClosing, kServer, kTcpRst, FlowState::kReset},
    {"RST wins over SYN", FlowState::kEstablished, kClient, kTcpSyn | kTcpRst, FlowState::kReset},
    {"client SYN reuses reset flow", FlowState::kReset, kClient, kTcpSyn, FlowState::kSynSent},
    {"client SYN reuses closed flow", FlowState::kClosing, kClient, kTcpSyn, FlowState::kSynSent},
    {"client SYN with ECN setup reuses", FlowState::kClosing, kClient, kTcpSyn | kTcpEce | kTcpCwr,
     FlowState::kSynSent},
    {"server SYN does not reuse", FlowState::kClosing, kServer, kTcpSyn, FlowState::kClosing},
    {"server SYN-ACK after reset", FlowState::kReset, kServer, kTcpSyn | kTcpAck,
     FlowState::kReset},
    {"data after reset", FlowState::kReset, kClient, kTcpAck | kTcpPsh, FlowState::kReset},
    {"FIN after reset", FlowState::kReset, kServer, kTcpFin | kTcpAck, FlowState::kReset},
    {"client SYN-ACK does not reuse", FlowState::kReset, kClient, kTcpSyn | kTcpAck,
     FlowState::kReset},
    // Ignored flags.
    {"URG, ECE, CWR, PSH ignored", FlowState::kEstablished, kClient,
     kTcpFin | kTcpAck | kTcpPsh | kTcpUrg | kTcpEce | kTcpCwr, FlowState::kFinFromClient},
    {"no flags at all", FlowState::kSynReceived, kClient, 0, FlowState::kSynReceived},
};

TEST(TcpStateTest, TransitionTable) {
  for (const TransitionCase& c : kTransitionCases) {
    EXPECT_EQ(NextTcpState(c.state, c.direction, c.flags), c.expected)
        << c.description << ": got " << FlowStateName(NextTcpState(c.state, c.direction, c.flags))
        << ", want " << FlowStateName(c.expected);
  }
}

struct Segment {
  FlowDirection direction;
  uint8_t flags;
  FlowState expected;
};
struct LifecycleCase {
  const char* description;
  std::vector<Segment> segments;  // starting from the client's first SYN (kSynSent)
};

TEST(TcpStateTest, Lifecycles) {
  const LifecycleCase cases[] = {
      {"open, client closes first",
       {{kServer, kTcpSyn | kTcpAck, FlowState::kSynReceived},
        {kClient, kTcpAck, FlowState::kEstablished},
        {kClient, kTcpAck | kTcpPsh, FlowState::kEstablished},
        {kServer, kTcpAck | kTcpPsh, FlowState::kEstablished},
        {kClient, kTcpFin | kTcpAck, FlowState::kFinFromClient},
        {kServer, kTcpAck, FlowState::kFinFromClient},
        {kServer, kTcpFin | kTcpAck, FlowState::kClosing},
        {kClient, kTcpAck, FlowState::kClosing}}},
      {"server closes first, then port reuse",
       {{kServer, kTcpSyn | kTcpAck, FlowState::kSynReceived},
        {kClient, kTcpAck, FlowState::kEstablished},
        {kServer, kTcpFin | kTcpAck, FlowState::kFinFromServer},
        {kClient, kTcpFin | kTcpAck, FlowState::kClosing},
        {kClient, kTcpSyn, FlowState::kSynSent},
        {kServer, kTcpSyn | kTcpAck, FlowState::kSynReceived},
        {kClient, kTcpAck, FlowState::kEstablished}}},
      {"simultaneous open",
       {{kServer, kTcpSyn, FlowState::kSynReceived},
        {kClient, kTcpSyn | kTcpAck, FlowState::kSynReceived},
        {kServer, kTcpSyn | kTcpAck, FlowState::kSynReceived},
        {kClient, kTcpAck | kTcpPsh, FlowState::kEstablished}}},
      {"refused connection, retried",
       {{kServer, kTcpRst | kTcpAck, FlowState::kReset},
        {kClient, kTcpSyn, FlowState::kSynSent},
        {kServer, kTcpSyn | kTcpAck, FlowState::kSynReceived}}},
      {"handshake that never completes",
       {{kClient, kTcpSyn, FlowState::kSynSent},
        {kServer, kTcpSyn | kTcpAck, FlowState::kSynReceived},
        {kClient, kTcpSyn, FlowState::kSynReceived},
        {kServer, kTcpSyn | kTcpAck, FlowState::kSynReceived},
        {kServer, kTcpAck | kTcpPsh, FlowState::kSynReceived},
        {kServer, kTcpFin | kTcpAck, FlowState::kSynReceived}}},
      {"reset mid-connection",
       {{kServer, kTcpSyn | kTcpAck, FlowState::kSynReceived},
        {kClient, kTcpAck, FlowState::kEstablished},
        {kClient, kTcpRst, FlowState::kReset},
        {kServer, kTcpAck, FlowState::kReset}}},
  };
  for (const LifecycleCase& c : cases) {
    FlowState state = FlowState::kSynSent;
    for (size_t i = 0; i < c.segments.size(); ++i) {
      const Segment& seg = c.segments[i];
      state = NextTcpState(state, seg.direction, seg.flags);
      ASSERT_EQ(state, seg.expected)
          << c.description << ", segment " << i << ": got " << FlowStateName(state);
    }
  }
}

TEST(TcpStateTest, RstResetsFromEveryStateBothWays) {
  for (FlowState state : TcpStates()) {
    for (FlowDirection direction : kDirections) {
      for (int flags = 0; flags < 256; ++flags) {
        if (!(flags & kTcpRst)) continue;
        EXPECT_EQ(NextTcpState(state, direction, flags), FlowState::kReset)
            << Describe(state, direction, flags);
      }
    }
  }
}

TEST(TcpStateTest, OnlySynAckFinRstMatter) {
  for (FlowState state : AllStates()) {
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
  for (FlowState state : AllStates()) {
    for (int flags = 0; flags < 256; ++flags) {
      const bool changes = NextTcpState(state, kClient, flags) != state ||
                           NextTcpState(state, kServer, flags) != state;
      EXPECT_EQ(TcpFlagsMayChangeState(state, flags), changes) << Describe(state, kClient, flags);
    }
  }
}

// Otherwise the fast path would write the shared entry for every data segment.
TEST(TcpStateTest, PlainDataChangesStateOnlyToCompleteTheHandshake) {
  for (FlowState state : AllStates()) {
    EXPECT_EQ(TcpFlagsMayChangeState(state, kTcpAck | kTcpPsh), state == FlowState::kSynReceived)
        << FlowStateName(state);
  }
}

// Breadth-first search over every segment except a client ACK (without SYN or RST): the only
// segment that completes a handshake. None of it may reach a state with a longer timeout.
TEST(TcpStateTest, HandshakeWithoutClientAckNeverEstablishes) {
  std::set<FlowState> reached = {FlowState::kSynSent};
  std::vector<FlowState> frontier = {FlowState::kSynSent};
  while (!frontier.empty()) {
    const FlowState state = frontier.back();
    frontier.pop_back();
    for (FlowDirection direction : kDirections) {
      for (int flags = 0; flags < 256; ++flags) {
        const bool client_ack =
            direction == kClient && (flags & kTcpAck) && !(flags & (kTcpSyn | kTcpRst));
        if (client_ack) continue;
        const FlowState next = NextTcpState(state, direction, flags);
        if (reached.insert(next).second) frontier.push_back(next);
      }
    }
  }
  EXPECT_EQ(reached,
            (std::set<FlowState>{FlowState::kSynSent, FlowState::kSynReceived, FlowState::kReset}));
}

TEST(TcpStateTest, EstablishedOnlyByClientAckAfterSynAck) {
  for (FlowState state : AllStates()) {
    if (state == FlowState::kEstablished) continue;
    for (FlowDirection direction : kDirections) {
      for (int flags = 0; flags < 256; ++flags) {
        if (NextTcpState(state, direction, flags) != FlowState::kEstablished) continue;
        EXPECT_EQ(state, FlowState::kSynReceived) << Describe(state, direction, flags);
        EXPECT_EQ(direction, kClient) << Describe(state, direction, flags);
        EXPECT_EQ(flags & (kTcpAck | kTcpSyn | kTcpRst | kTcpFin), kTcpAck)
            << Describe(state, direction, flags);
      }
    }
  }
}

// A UDP flow's state is no TCP state: no segment's flags move it, so the fast path never asks.
TEST(TcpStateTest, UdpFlowStateNeverMoves) {
  for (FlowDirection direction : kDirections) {
    for (int flags = 0; flags < 256; ++flags) {
      EXPECT_EQ(NextTcpState(FlowState::kUdp, direction, flags), FlowState::kUdp) << flags;
      EXPECT_FALSE(TcpFlagsMayChangeState(FlowState::kUdp, flags)) << flags;
    }
  }
}

TEST(TcpStateTest, OutOfRangeStateIsTreatedAsReset) {
  const auto bogus = static_cast<FlowState>(200);
  EXPECT_EQ(NextTcpState(bogus, kClient, kTcpAck), FlowState::kReset);
  EXPECT_EQ(NextTcpState(FlowState::kCount, kServer, kTcpSyn), FlowState::kReset);
  EXPECT_TRUE(TcpFlagsMayChangeState(bogus, kTcpAck));
  const FlowTimeouts timeouts{
      .embryonic_ms = 1, .established_ms = 2, .transitory_ms = 3, .reset_ms = 4};
  EXPECT_EQ(FlowStateTimeoutMs(bogus, timeouts), 4u);
  EXPECT_STREQ(FlowStateName(bogus), "INVALID");
  EXPECT_STREQ(FlowStateName(FlowState::kCount), "INVALID");
}

TEST(TcpStateTest, TimeoutPerState) {
  const FlowTimeouts timeouts{
      .embryonic_ms = 11, .established_ms = 22, .transitory_ms = 33, .reset_ms = 44, .udp_ms = 55};
  const struct {
    FlowState state;
    uint32_t expected_ms;
  } cases[] = {
      {FlowState::kSynSent, 11},       {FlowState::kSynReceived, 11},
      {FlowState::kEstablished, 22},   {FlowState::kFinFromClient, 33},
      {FlowState::kFinFromServer, 33}, {FlowState::kClosing, 33},
      {FlowState::kReset, 44},         {FlowState::kUdp, 55},
  };
  ASSERT_EQ(std::size(cases), AllStates().size());
  for (const auto& c : cases) {
    EXPECT_EQ(FlowStateTimeoutMs(c.state, timeouts), c.expected_ms) << FlowStateName(c.state);
  }
}

TEST(TcpStateTest, NamesAreFixedLabels) {
  const struct {
    FlowState state;
    const char* name;
  } cases[] = {
      {FlowState::kSynSent, "SYN_SENT"},
      {FlowState::kSynReceived, "SYN_RECEIVED"},
      {FlowState::kEstablished, "ESTABLISHED"},
      {FlowState::kFinFromClient, "FIN_FROM_CLIENT"},
      {FlowState::kFinFromServer, "FIN_FROM_SERVER"},
      {FlowState::kClosing, "CLOSING"},
      {FlowState::kReset, "RESET"},
      {FlowState::kUdp, "UDP"},
  };
  ASSERT_EQ(std::size(cases), AllStates().size());
  for (const auto& c : cases) EXPECT_STREQ(FlowStateName(c.state), c.name);
}

TEST(TcpStateTest, ValidateTimeoutsAcceptsDefaultsAndBounds) {
  EXPECT_TRUE(ValidateFlowTimeouts(FlowTimeouts{}).ok());
  FlowTimeouts rfc5382;
  rfc5382.established_ms = 124u * 60u * 1000u;
  EXPECT_TRUE(ValidateFlowTimeouts(rfc5382).ok());
  EXPECT_TRUE(ValidateFlowTimeouts(
                  {.embryonic_ms = 1, .established_ms = 1, .transitory_ms = 1, .reset_ms = 1})
                  .ok());
  EXPECT_TRUE(ValidateFlowTimeouts({.embryonic_ms = kMaxTimeoutMs,
                                    .established_ms = kMaxTimeoutMs,
                                    .transitory_ms = kMaxTimeoutMs,
                                    .reset_ms = kMaxTimeoutMs})
                  .ok());
}

TEST(TcpStateTest, ValidateTimeoutsNamesTheBadField) {
  const struct {
    const char* field;
    uint32_t FlowTimeouts::*member;
  } fields[] = {
      {"embryonic_ms", &FlowTimeouts::embryonic_ms},
      {"established_ms", &FlowTimeouts::established_ms},
      {"transitory_ms", &FlowTimeouts::transitory_ms},
      {"reset_ms", &FlowTimeouts::reset_ms},
  };
  for (const auto& f : fields) {
    for (uint32_t bad : {0u, kMaxTimeoutMs + 1, UINT32_MAX}) {
      FlowTimeouts timeouts;
      timeouts.*f.member = bad;
      const absl::Status status = ValidateFlowTimeouts(timeouts);
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
  constexpr auto kEst = FlowState::kEstablished;
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
       {FlowState::kSynSent, kOut, 0, 1001, 0, 1001, true},
       kEnds},
      {"SYN sent, backend RST acknowledging another number",
       {FlowState::kSynSent, kOut, 0, 1001, 0, 1000, true},
       kOutOfWindow},
      {"SYN sent, backend RST without ACK",
       {FlowState::kSynSent, kOut, 0, 1001, 0, 1001, false},
       kOutOfWindow},
      {"SYN sent, the client's RST at the seeded number",
       {FlowState::kSynSent, kIn, 1001, 0, 1001, 0, false},
       kEnds},
      {"reset already: still held to the number",
       {FlowState::kReset, kIn, 1000, 0, 7, 0, false},
       kOutOfWindow},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(JudgeRst(c.rst), c.want) << c.description;
  }
}

}  // namespace
}  // namespace privlink::nat
