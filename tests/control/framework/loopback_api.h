// The reference control plane (test_util.h) served by a real ApiServer on an ephemeral loopback
// port, with an ApiClient for it: the fixture of every test that talks HTTP to the API. A test
// that needs a dataplane inspector hands it to the constructor; one that sets up more in SetUp
// calls LoopbackApiTest::SetUp() first and stops on HasFatalFailure().
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "control/api/api_server.h"
#include "control/api/dataplane_inspector.h"
#include "control/api/listen_address.h"
#include "control/cli/api_client.h"
#include "control/model/uuid.h"
#include "control/plane/control_plane.h"
#include "tests/control/framework/response_log.h"
#include "tests/control/framework/test_util.h"

namespace privlink::control::testing {

class LoopbackApiTest : public ::testing::Test {
 protected:
  // `inspector` may be a member of the derived fixture: it is only used from SetUp on.
  explicit LoopbackApiTest(DataplaneInspector* inspector = nullptr) : inspector_(inspector) {}

  void SetUp() override {
    auto plane = ReferenceControlPlane(&uuids_);
    ASSERT_TRUE(plane.ok()) << plane.status();
    control_ = std::move(*plane);
    server_ = std::make_unique<ApiServer>(*control_, nullptr, inspector_);
    ASSERT_TRUE(server_->Bind({false, "127.0.0.1", 0, ""}).ok());
    server_->Start();
    client_ = std::make_unique<ApiClient>(ListenAddress{false, "127.0.0.1", server_->port(), ""});
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Stop();
  }

  // "127.0.0.1:PORT": the listener's own address, as a Host header or a --server argument.
  std::string Host() const { return "127.0.0.1:" + std::to_string(server_->port()); }
  // A request through the client; a transport failure fails the test and reads as status 0.
  // Logged for the OpenAPI contract check (response_log.h).
  ApiResponse Call(const std::string& method, const std::string& path,
                   const std::optional<nlohmann::json>& body = std::nullopt) {
    auto response = client_->Call(method, path, body);
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) return ApiResponse{};
    LogApiResponse(method, path, response->status,
                   response->body.is_null() ? "" : "application/json",
                   response->body.is_null() ? "" : response->body.dump());
    return *response;
  }

  SequentialUuids uuids_;
  std::unique_ptr<ControlPlane> control_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<ApiClient> client_;

 private:
  DataplaneInspector* inspector_ = nullptr;
};

}  // namespace privlink::control::testing
