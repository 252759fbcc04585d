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
//   GET                 /v1/openapi.json  the contract: docs/openapi.yaml as JSON
//   GET                 /, /app.js, /app.css, /favicon.svg  the Private Link Center page
// clang-format on
//
// PUT creates (201) or updates (200) and is idempotent; DELETE answers 204. A body is a JSON
// object sent as Content-Type: application/json; approve and reject take an optional one (none,
// or an empty one, is {}); GET and DELETE ignore any. Errors are
// {"error": {"code": "...", "message": "..."}}, the message naming the field, header, resource or
// rule: 400 (no body where one is needed, malformed JSON, a body that is not an object, wrong
// types, unknown fields, invalid values), 401 (bearer token), 403 (the browser rules of
// api_access.h), 404 (no such resource, or a service not visible to the caller), 405 (a path
// without that method), 409 (conflicts with other resources or with a connection's state), 413
// (body over kMaxRequestBodyBytes), 415 (a body not sent as application/json); 503 for flows and
// capture without a dataplane.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "control/api/dataplane_inspector.h"
#include "control/api/listen_address.h"
#include "control/api/request_latency.h"
#include "control/api/stats_source.h"
#include "control/plane/control_plane.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace privlink::control {

inline constexpr size_t kMaxRequestBodyBytes = 4u << 20;  // a config document fits with room

// What a route takes as a request body.
enum class BodyRule { kNone, kOptional, kRequired };

// Who may call a route: every API route needs the bearer token where one is configured; the
// files served from memory (static_assets.h: the page and the OpenAPI document) need none, so a
// browser can load the page that then asks for the token. Both answer to the browser rules.
enum class Access { kToken, kPublic };

// One route: its method, its path as a regular expression, its body and who may call it.
struct ApiRoute {
  std::string method;
  std::string pattern;
  BodyRule body = BodyRule::kNone;
  Access access = Access::kToken;
};

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
  // Every request must carry "Authorization: Bearer <token>"; others get 401. Call before
  // Start().
  void RequireBearerToken(std::string token);
  int port() const { return port_; }
  // Every route, in the order they were registered.
  const std::vector<ApiRoute>& routes() const { return routes_; }
  // Serves on a background thread until Stop().
  void Start();
  void Stop();

 private:
  void Routes();
  // The access rules (api_access.h) for one request: true, or false with the 401 or 403 answered.
  bool Admit(const httplib::Request& req, httplib::Response& res, Access access) const;

  ControlPlane& control_;
  const StatsSource* dataplane_stats_;
  DataplaneInspector* inspector_;
  std::unique_ptr<httplib::Server> server_;
  RequestLatency latency_;
  std::thread thread_;
  std::vector<ApiRoute> routes_;
  std::string token_;       // "" = none needed
  ListenAddress listener_;  // as bound (the port chosen for port 0)
  int port_ = 0;
  std::string unix_path_;
};

}  // namespace privlink::control
