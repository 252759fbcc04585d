// The headers every file of control_tests parses (GoogleTest, cpp-httplib, nlohmann-json and the
// control plane's own), compiled once for the program (meson cpp_pch) rather than once per file:
// half of the program's compile time.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "control/api/api_server.h"
#include "control/cli/api_client.h"
#include "control/config/daemon_config.h"
#include "control/plane/control_plane.h"
#include "tests/control/framework/test_util.h"
