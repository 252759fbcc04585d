// A fresh state directory under /tmp (removed after the test) and what a control plane on it
// starts from: the reference config's resources as the seed, consumer0 as the consumer port.
// Start() opens the SQLite store there and creates the control plane, as privlinkd does.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "control/config/daemon_config.h"
#include "control/model/uuid.h"
#include "control/plane/control_plane.h"
#include "control/store/sqlite_store.h"
#include "tests/control/framework/test_util.h"

namespace privlink::control::testing {

class StateDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/privlink-state-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    auto config = ParseDaemonConfig(kReferenceConfig);
    ASSERT_TRUE(config.ok()) << config.status();
    seed_ = config->resources;
    options_.consumer_ports = {"consumer0"};
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  absl::StatusOr<std::unique_ptr<ControlPlane>> Start(const ResourceDocument& seed) {
    auto store = SqliteStore::Open(dir_);
    if (!store.ok()) return store.status();
    return ControlPlane::Create(options_, std::move(*store), seed, &uuids_);
  }
  absl::StatusOr<std::unique_ptr<ControlPlane>> Start() { return Start(seed_); }

  std::string dir_;
  ResourceDocument seed_;
  ControlPlaneOptions options_;
  SequentialUuids uuids_;
};

}  // namespace privlink::control::testing
