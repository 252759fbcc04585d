// privlinkd's config file: the "dataplane" section and the resources that seed the first start.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "control/config/dataplane_config.h"
#include "control/model/workflow.h"

namespace privlink::control {

struct DaemonConfig {
  DataplaneConfig dataplane;
  ResourceDocument resources;  // used only when the state dir holds no state yet
};

// Reads and validates the whole file; errors name the file and the field.
absl::StatusOr<DaemonConfig> LoadDaemonConfig(const std::string& path);
absl::StatusOr<DaemonConfig> ParseDaemonConfig(std::string_view text);

}  // namespace privlink::control
