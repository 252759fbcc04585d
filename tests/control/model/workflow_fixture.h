// The fixture of the workflow tests (workflow_test.cc, vxlan_network_test.cc): a pure model with
// the consumer ports consumer0 and consumer1, and the provisioning most tests start from.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "control/model/workflow.h"
#include "tests/control/framework/test_util.h"

namespace privlink::control::testing {

class WorkflowTest : public ::testing::Test {
 protected:
  WorkflowTest() {
    context_.region = "westus";
    context_.consumer_ports = {"consumer0", "consumer1"};
    context_.uuids = &uuids_;
  }

  // contoso network, fabrikam-api service visible to `visibility`, auto-approving `auto`.
  void Provision(std::vector<std::string> visibility = {"*"},
                 std::vector<std::string> auto_approval = {}) {
    ASSERT_TRUE(PutNetwork(model_, MakeNetwork("contoso"), context_, "").ok());
    auto s = PutService(
        model_,
        MakeService("fabrikam-api", "sub-fabrikam", {Ip("192.168.10.200"), Ip("192.168.10.201")},
                    visibility, auto_approval),
        context_, "");
    ASSERT_TRUE(s.ok()) << s.status();
  }

  absl::StatusOr<ChangeKind> AddEndpoint(const std::string& name, const std::string& sub,
                                         const char* ip,
                                         const std::string& service = "fabrikam-api") {
    return PutEndpoint(model_, MakeEndpoint(name, sub, "contoso", ip, service), "");
  }

  ConnectionStatus Status(const std::string& pe) {
    return model_.services.at("fabrikam-api").connections.at(pe).status;
  }

  SequentialUuids uuids_;
  WorkflowContext context_;
  Model model_;
};

}  // namespace privlink::control::testing
