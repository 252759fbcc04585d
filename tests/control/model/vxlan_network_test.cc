// VXLAN consumer networks in the workflow: each field's rule, (port, VNI) and local IPs owned
// once, VLAN and VXLAN networks apart, and moves between them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/model/validate.h"
#include "control/model/workflow.h"
#include "tests/control/model/workflow_fixture.h"

namespace privlink::control {
namespace {

using ::testing::HasSubstr;
using namespace privlink::control::testing;

// A VXLAN network is a VNI on its port: each field's rule, named in the error; (port, VNI) once;
// a local IP on one port; VLAN and VXLAN networks apart. A refused one changes nothing.
TEST_F(WorkflowTest, VxlanNetworksAreValidatedAndOwnTheirPortAndVni) {
  ASSERT_TRUE(PutNetwork(model_, MakeNetwork("plain"), context_, "").ok());
  ASSERT_TRUE(
      PutNetwork(model_, MakeVxlanNetwork("v100", "consumer0", 100, "172.16.0.1"), context_, "")
          .ok());
  auto with = [](Network n, auto&& change) {
    change(n);
    return n;
  };
  const Network fresh = MakeVxlanNetwork("n", "consumer0", 101, "172.16.0.1");
  constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
  constexpr auto kConflict = absl::StatusCode::kFailedPrecondition;
  struct Case {
    const char* what;
    Network network;
    const char* error;  // "" = accepted
    absl::StatusCode code = absl::StatusCode::kOk;
  };
  const Case cases[] = {
      {"another VNI on the local IP, beside an untagged network", fresh, ""},
      {"the highest VNI", with(fresh, [](Network& n) { n.vxlan->vni = 16777215; }), ""},
      {"VNI 0", with(fresh, [](Network& n) { n.vxlan->vni = 0; }), "vxlan.vni: must be 1..16777215",
       kInvalid},
      {"VNI past 24 bits", with(fresh, [](Network& n) { n.vxlan->vni = 16777216; }),
       "vxlan.vni: must be 1..16777215", kInvalid},
      {"local IP 0.0.0.0", with(fresh, [](Network& n) { n.vxlan->local_ip = 0; }),
       "vxlan.localIp: not a unicast address: 0.0.0.0", kInvalid},
      {"multicast local IP", with(fresh, [](Network& n) { n.vxlan->local_ip = Ip("239.1.1.1"); }),
       "vxlan.localIp: not a unicast address: 239.1.1.1", kInvalid},
      {"loopback local IP", with(fresh, [](Network& n) { n.vxlan->local_ip = Ip("127.0.0.1"); }),
       "vxlan.localIp: not a unicast address: 127.0.0.1", kInvalid},
      {"a VLAN too", with(fresh, [](Network& n) { n.vlan = 5; }),
       "vlan: a VXLAN network has no VLAN", kInvalid},
      {"not a consumer port", with(fresh, [](Network& n) { n.port = "provider0"; }),
       "port: 'provider0' is not a consumer port of this daemon", kInvalid},
      {"port and VNI taken", with(fresh, [](Network& n) { n.vxlan->vni = 100; }),
       "vxlan.vni: port 'consumer0' vni 100 already belongs to network 'v100'", kConflict},
      {"the same VNI on another port", MakeVxlanNetwork("n", "consumer1", 100, "172.16.1.1"), ""},
      {"the local IP on another port", MakeVxlanNetwork("n", "consumer1", 200, "172.16.0.1"),
       "vxlan.localIp: 172.16.0.1 is the local IP of network 'v100' on port 'consumer0'; a local "
       "IP is on one port",
       kConflict},
      {"untagged on the port again", MakeNetwork("n"),
       "vlan: port 'consumer0' vlan 0 already belongs to network 'plain'", kConflict},
      {"VLAN 100 beside VNI 100", MakeNetwork("n", "consumer0", 100), ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const Model before = model_;
    const absl::Status status = PutNetwork(model_, c.network, context_, "").status();
    if (std::string(c.error).empty()) {
      EXPECT_TRUE(status.ok()) << status;
      EXPECT_EQ(model_.networks.at("n").vxlan, c.network.vxlan);
      ASSERT_TRUE(DeleteNetwork(model_, "n").ok());
    } else {
      EXPECT_EQ(status.code(), c.code);
      EXPECT_EQ(Msg(status), c.error);
      EXPECT_TRUE(model_ == before);
    }
  }
  // In a document the errors name the document's path.
  ResourceDocument doc;
  doc.networks = {MakeVxlanNetwork("a", "consumer1", 7, "172.16.1.1"),
                  MakeVxlanNetwork("b", "consumer1", 7, "172.16.1.2")};
  EXPECT_EQ(Msg(ApplyDocument(model_, doc, context_)),
            "networks[1].vxlan.vni: port 'consumer1' vni 7 already belongs to network 'a'");
}

// A VXLAN local IP is the tunnels' address on its port (UDP 4789 to it is a tunnel): no endpoint of
// a network on that port may hold it, and no local IP may take such an endpoint's address.
TEST_F(WorkflowTest, VxlanLocalIpsAndEndpointAddressesDoNotMeetOnAPort) {
  Provision();
  ASSERT_TRUE(
      PutNetwork(model_, MakeVxlanNetwork("v", "consumer0", 100, "172.16.0.1"), context_, "").ok());
  const Model before = model_;
  auto pe = AddEndpoint("a", "sub-c", "172.16.0.1");
  EXPECT_EQ(pe.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Msg(pe), "ip: 172.16.0.1 is the VXLAN local IP of network 'v' on port 'consumer0'");
  EXPECT_TRUE(model_ == before);
  ASSERT_TRUE(AddEndpoint("a", "sub-c", "172.16.0.2").ok());
  auto net =
      PutNetwork(model_, MakeVxlanNetwork("w", "consumer0", 101, "172.16.0.2"), context_, "");
  EXPECT_EQ(net.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Msg(net),
            "vxlan.localIp: 172.16.0.2 is the address of private endpoint 'a' in network "
            "'contoso' on port 'consumer0'");
  // Another port's networks do not meet them.
  EXPECT_TRUE(
      PutNetwork(model_, MakeVxlanNetwork("w", "consumer1", 101, "172.16.0.2"), context_, "").ok());
}

// A network keeps its name and id as it moves between a VLAN and a VNI, and its old place is
// free at once; the only network of a local IP may take it to another port.
TEST_F(WorkflowTest, VxlanNetworkUpdatesMoveItsPlace) {
  ASSERT_TRUE(
      PutNetwork(model_, MakeVxlanNetwork("v", "consumer0", 100, "172.16.0.1"), context_, "").ok());
  const NetworkId id = model_.networks.at("v").id;
  EXPECT_EQ(
      *PutNetwork(model_, MakeVxlanNetwork("v", "consumer0", 100, "172.16.0.1"), context_, ""),
      ChangeKind::kUnchanged);
  EXPECT_EQ(
      *PutNetwork(model_, MakeVxlanNetwork("v", "consumer1", 100, "172.16.0.1"), context_, ""),
      ChangeKind::kUpdated)
      << "its local IP goes with it";
  EXPECT_TRUE(
      PutNetwork(model_, MakeVxlanNetwork("w", "consumer1", 101, "172.16.0.1"), context_, "").ok());
  EXPECT_THAT(
      Msg(PutNetwork(model_, MakeVxlanNetwork("v", "consumer0", 100, "172.16.0.1"), context_, "")),
      HasSubstr("is the local IP of network 'w' on port 'consumer1'"));
  // To VLAN 7 and back: each move frees the place it left.
  EXPECT_EQ(*PutNetwork(model_, MakeNetwork("v", "consumer1", 7), context_, ""),
            ChangeKind::kUpdated);
  EXPECT_FALSE(model_.networks.at("v").vxlan.has_value());
  EXPECT_EQ(model_.networks.at("v").id, id);
  EXPECT_TRUE(
      PutNetwork(model_, MakeVxlanNetwork("x", "consumer1", 100, "172.16.0.1"), context_, "").ok());
  EXPECT_THAT(Msg(PutNetwork(model_, MakeNetwork("y", "consumer1", 7), context_, "")),
              HasSubstr("already belongs to network 'v'"));
  ASSERT_TRUE(
      PutNetwork(model_, MakeVxlanNetwork("v", "consumer1", 102, "172.16.0.1"), context_, "").ok());
  EXPECT_TRUE(PutNetwork(model_, MakeNetwork("y", "consumer1", 7), context_, "").ok());
  // Deleted: its VNI is free, and a local IP nobody uses any more may go to another port.
  ASSERT_TRUE(DeleteNetwork(model_, "v").ok());
  ASSERT_TRUE(DeleteNetwork(model_, "w").ok());
  ASSERT_TRUE(DeleteNetwork(model_, "x").ok());
  EXPECT_TRUE(
      PutNetwork(model_, MakeVxlanNetwork("z", "consumer0", 102, "172.16.0.1"), context_, "").ok());
}

}  // namespace
}  // namespace privlink::control
