// The control plane as privlinkd runs it: config -> state restore -> control plane -> API
// server. privlinkd's main builds one, waits for a signal while calling Poll(), then stops it.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "control/api/api_server.h"
#include "control/api/stats_source.h"
#include "control/config/daemon_config.h"
#include "control/model/uuid.h"
#include "control/plane/control_plane.h"

namespace privlink::control {

class ControlService {
 public:
  // Restores or seeds the model (state dir from config.dataplane.stateDir; "" = in memory),
  // binds config.dataplane.api_listen and starts serving. `dataplane_stats` and `inspector` may
  // be null.
  static absl::StatusOr<std::unique_ptr<ControlService>> Start(
      const DaemonConfig& config, const StatsSource* dataplane_stats,
      DataplaneInspector* inspector = nullptr);
  ~ControlService();

  // Periodic housekeeping on the main thread: frees snapshots every worker has moved past.
  void Poll();
  void Stop();

  ControlPlane& control() { return *control_; }
  int api_port() const { return api_->port(); }

 private:
  ControlService() = default;

  RandomUuidGenerator uuids_;
  std::unique_ptr<ControlPlane> control_;
  std::unique_ptr<ApiServer> api_;
};

}  // namespace privlink::control
