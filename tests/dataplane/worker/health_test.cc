// Backend health in the worker's path (tests/dataplane/worker_harness.h): the control plane is
// told a backend is down (as the prober tells it) and the next snapshot gives the backend's Maglev
// share to the others. New flows avoid it; its established flows go on (probe.onDown keep) or are
// reset both ways at the expiry sweep's next visit (onDown reset); with every backend down, new
// SYNs are dropped as no_healthy_backend.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "dataplane/packet/drop_reason.h"
#include "nat/tcp_state.h"
#include "tests/dataplane/framework/conversation_fixture.h"

namespace privlink::dataplane {
namespace {

using namespace privlink::dataplane::testing;

class HealthTest : public ConversationFixture {
 protected:
  void SetUp() override { SetProbe(control::ProbeDownAction::kKeep); }

  void SetProbe(control::ProbeDownAction on_down) {
    ASSERT_TRUE(h_.Change([&](control::Model& m, const control::WorkflowContext&) {
                    control::HealthProbe probe;
                    probe.port = kBackendPort;
                    probe.on_down = on_down;
                    m.services.MutableAt(kService).probe = probe;
                    return absl::OkStatus();
                  }).ok());
  }
  control::ServiceId ServiceId() { return h_.control().model()->services.at(kService).id; }
  // What the prober reports after a backend's threshold is reached.
  void Report(Ipv4Be backend, bool up) {
    h_.control().Report({.service = ServiceId(),
                         .backend = backend,
                         .passed = up,
                         .up = up,
                         .result = up ? "ok" : "refused",
                         .generation = h_.snapshot().generation});
  }
  const control::SnapshotBackend& SnapshotBackendOf(Ipv4Be ip) {
    for (const control::SnapshotBackend& b : h_.snapshot().Service(ServiceId())->backends) {
      if (b.ip == ip) return b;
    }
    throw std::runtime_error("no such backend");
  }
  // Establishes flows from successive client ports until one lands on `backend`.
  void EstablishOn(Ipv4Be backend, uint16_t* client_port, OpenedFlow* flow) {
    for (int i = 0; i < 64; ++i, ++*client_port) {
      const TcpFrameSpec syn = FromClient(kNetA, Tcp(kTcpSyn, 1000, 0, 0, *client_port));
      if (MaglevBackend(h_, kNetA, syn) != backend) continue;
      ASSERT_NO_FATAL_FAILURE(Establish(kNetA, *client_port, flow));
      return;
    }
    FAIL() << "no client port reaches " << FormatIpv4(backend);
  }
  // The backends `count` new connections get.
  std::set<Ipv4Be> NewConnections(uint16_t first_port, int count) {
    std::set<Ipv4Be> got;
    for (int i = 0; i < count; ++i) {
      OpenedFlow flow;
      Open(kNetA, static_cast<uint16_t>(first_port + i), &flow);
      got.insert(flow.backend);
    }
    return got;
  }
};

TEST_F(HealthTest, DownBackendGetsNoNewFlowsKeepsItsOwnAndComesBack) {
  const Ipv4Be down = kBackends[1];
  uint16_t client_port = kClientPort;
  OpenedFlow kept;
  ASSERT_NO_FATAL_FAILURE(EstablishOn(down, &client_port, &kept));
  const uint64_t generation = h_.snapshot().generation;

  Report(down, false);
  EXPECT_GT(h_.snapshot().generation, generation) << "a health change publishes a snapshot";
  EXPECT_FALSE(SnapshotBackendOf(down).healthy);
  EXPECT_EQ(h_.control().health().Service(ServiceId()).at(0).last_result, "refused");
  const std::set<Ipv4Be> while_down = NewConnections(30000, 60);
  EXPECT_FALSE(while_down.contains(down));
  EXPECT_EQ(while_down.size(), kBackends.size() - 1) << "the others share its part";
  // onDown keep: its established flow runs on, through sweeps.
  h_.clock().Advance(kExpiryPassMs + 1);
  for (int i = 0; i < 3; ++i) h_.Poll();
  ASSERT_NO_FATAL_FAILURE(ExpectDataBothWays(kNetA, client_port, kept, 1001));

  Report(down, true);
  EXPECT_TRUE(SnapshotBackendOf(down).healthy);
  EXPECT_TRUE(NewConnections(31000, 60).contains(down));
}

TEST_F(HealthTest, EveryBackendDownDropsNewSynsByName) {
  for (const Ipv4Be b : kBackends) Report(b, false);
  EXPECT_TRUE(h_.snapshot().Service(ServiceId())->all_unhealthy);
  h_.Inject(kNetA.port, BuildTcpFrame(FromClient(kNetA, Tcp(kTcpSyn, 1000, 0, 0, kClientPort))));
  h_.Poll();
  EXPECT_TRUE(h_.TakeSent(kProvider).empty());
  EXPECT_EQ(h_.DropCount(DropReason::kNoHealthyBackend), 1u);
  EXPECT_EQ(h_.DropCount(DropReason::kNoBackend), 0u);
  EXPECT_EQ(h_.flows().Size(), 0u);
  // One back: it takes every new flow.
  Report(kBackends[2], true);
  EXPECT_EQ(NewConnections(30000, 20), std::set<Ipv4Be>{kBackends[2]});
}

TEST_F(HealthTest, OnDownResetEndsTheDownBackendsFlowsBothWays) {
  SetProbe(control::ProbeDownAction::kReset);
  const Ipv4Be down = kBackends[0];
  uint16_t client_port = kClientPort;
  OpenedFlow doomed;
  ASSERT_NO_FATAL_FAILURE(EstablishOn(down, &client_port, &doomed));
  const uint16_t doomed_port = client_port++;
  OpenedFlow other;
  ASSERT_NO_FATAL_FAILURE(EstablishOn(kBackends[2], &client_port, &other));
  ASSERT_EQ(h_.flows().Size(), 2u);

  Report(down, false);
  h_.clock().Advance(kExpiryPassMs + 1);
  for (int i = 0; i < 3; ++i) h_.Poll();
  EXPECT_EQ(h_.flows().Size(), 1u) << "only the down backend's flow ends";
  EXPECT_EQ(h_.worker().counters.flows_backend_down_reset.Read(), 1u);
  // Each end gets a RST at what it acknowledged last: the client 5001, the backend 1001.
  const std::vector<Bytes> at_client = h_.TakeSent(kNetA.port);
  const std::vector<Bytes> at_backend = h_.TakeSent(kProvider);
  ASSERT_EQ(at_client.size(), 1u);
  ASSERT_EQ(at_backend.size(), 1u);
  EXPECT_TRUE(SameFrame(
      at_client[0], BuildTcpFrame(Reset(EthTo(kNetA, kClientMac, kNetA.mac), kPeIp, kFrontendPort,
                                        kClientIp, doomed_port, 5001, 0, kTcpRst))));
  EXPECT_TRUE(SameFrame(
      at_backend[0],
      BuildTcpFrame(Reset({.dst = BackendMac(down), .src = kProviderMac}, doomed.nat.ip,
                          Be16ToHost(doomed.nat.port), down, kBackendPort, 1001, 0, kTcpRst))));
  ASSERT_NO_FATAL_FAILURE(ExpectDataBothWays(kNetA, client_port, other, 1001));
  EXPECT_EQ(h_.TotalDrops(), 0u);
}

TEST_F(HealthTest, StaleReportsChangeNothing) {
  const uint64_t generation = h_.snapshot().generation;
  // A backend the service does not have, and a report from before the probe existed.
  h_.control().Report({.service = ServiceId(),
                       .backend = kExtraBackend,
                       .passed = false,
                       .up = false,
                       .result = "refused",
                       .generation = generation});
  h_.control().Report({.service = ServiceId(),
                       .backend = kBackends[0],
                       .passed = false,
                       .up = false,
                       .result = "refused",
                       .generation = generation - 1});
  EXPECT_EQ(h_.snapshot().generation, generation);
  EXPECT_TRUE(SnapshotBackendOf(kBackends[0]).healthy);
  // Removing the probe forgets what it found.
  Report(kBackends[0], false);
  EXPECT_FALSE(SnapshotBackendOf(kBackends[0]).healthy);
  ASSERT_TRUE(h_.Change([&](control::Model& m, const control::WorkflowContext&) {
                  m.services.MutableAt(kService).probe.reset();
                  return absl::OkStatus();
                }).ok());
  EXPECT_TRUE(SnapshotBackendOf(kBackends[0]).healthy);
  EXPECT_TRUE(h_.control().health().Service(ServiceId()).empty());
}

}  // namespace
}  // namespace privlink::dataplane
