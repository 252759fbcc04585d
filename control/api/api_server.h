// The REST/JSON API (cpp-httplib + nlohmann-json):
//
// clang-format off
//   GET                 /v1/networks, /v1/privateLinkServices, /v1/privateEndpoints
//                       -> {"value": [...]}
//   PUT | GET | DELETE  /v1/networks/{name}, /v1/privateLinkServices/{name},
//                       /v1/privateEndpoints/{name}
//   GET                 /v1/privateLinkServices/{name}/privateEndpointConnections
//   GET | DELETE        /v1/privateLinkServices/{name}/privateEndpointConnections/{pe}
//   POST                /v1/privateLinkServices/{name}/privateEndpointConnections/{pe}/approve
//   POST                /v1/privateLinkServices/{name}/privateEndpointConnections/{pe}/reject
//   POST                /v1/apply      a config document, applied as one validated change
//   GET                 /v1/state      every resource, in the apply format
//   GET                 /v1/stats
//   GET                 /metrics       Prometheus text format
//   GET                 /v1/flows?endpoint=NAME&service=NAME&limit=N  -> {"value": [...], "truncated"}
//   GET                 /v1/flows/count?endpoint=NAME&service=NAME    -> {"total", "byState"}
//   POST                /v1/capture  {"port", "direction", "count", "snaplen", "timeoutSeconds"}
//                       -> {"packets", "skipped", "timedOut", "pcapng": base64 of the file}
// clang-format on
//
// PUT creates (201) or updates (200) and is idempotent; DELETE answers 204. Errors are
// {"error": {"code": "...", "message": "..."}} with 400 (malformed JSON, wrong types, unknown
// fields, invalid values), 404 (no such resource, or a service not visible to the caller) or
// 409 (conflicts with other resources or with a connection's state); 503 for flows and capture
// without a dataplane.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "control/plane/control_plane.h"
#include "control/api/dataplane_inspector.h"
#include "control/api/listen_address.h"
#include "control/api/stats_source.h"

namespace httplib {
class Server;
}

namespace privlink::control {

inline constexpr size_t kMaxRequestBodyBytes = 4u << 20;  // a config document fits with room

class ApiServer {
 public:
  // `dataplane_stats` and `inspector` may be null (control-only mode). All must outlive the
  // server.
  ApiServer(ControlPlane& control, const StatsSource* dataplane_stats,
            DataplaneInspector* inspector = nullptr);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds the listener; TCP port 0 picks a free port (see port()). A Unix socket is created with
  // mode 0600, replacing a stale socket file that nobody listens on.
  absl::Status Bind(const ListenAddress& address);
  // From now on every request must carry "Authorization: Bearer <token>"; others get 401.
  void RequireBearerToken(std::string token);
  int port() const { return port_; }
  // Serves on a background thread until Stop().
  void Start();
  void Stop();

 private:
  void Routes();
  void InspectRoutes();  // flows and capture

  ControlPlane& control_;
  const StatsSource* dataplane_stats_;
  DataplaneInspector* inspector_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::string unix_path_;
};

}  // namespace privlink::control
