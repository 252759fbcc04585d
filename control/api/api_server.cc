#include "control/api/api_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>

#include <httplib.h>

#include "absl/strings/escaping.h"
#include "control/api/api_access.h"
#include "control/api/metrics.h"
#include "control/config/dataplane_config.h"
#include "control/config/json_codec.h"
#include "control/config/json_reader.h"
#include "control/model/str_cat.h"

namespace privlink::control {
namespace {

using httplib::Request;
using httplib::Response;
using nlohmann::json;

constexpr char kJson[] = "application/json";
constexpr int kCreated = 201;
constexpr int kNoContent = 204;

int HttpStatus(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
      return 409;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

std::string ErrorCode(int http_status) {
  switch (http_status) {
    case 400:
      return "BadRequest";
    case 404:
      return "NotFound";
    case 401:
      return "Unauthorized";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 413:
      return "PayloadTooLarge";
    case 503:
      return "Unavailable";
    default:
      return http_status < 500 ? "BadRequest" : "InternalError";
  }
}

void SendJson(Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(2) + "\n", kJson);
}

void SendErrorBody(Response& res, int status, std::string_view message) {
  SendJson(res, status, json{{"error", {{"code", ErrorCode(status)}, {"message", message}}}});
}

void SendError(Response& res, const absl::Status& status) {
  SendErrorBody(res, HttpStatus(status.code()),
                std::string_view(status.message().data(), status.message().size()));
}

absl::StatusOr<json> ParseBody(const Request& req, bool allow_empty) {
  json body;
  if (req.body.empty()) {
    if (allow_empty) return body;
    return absl::InvalidArgumentError("body must be a JSON object");
  }
  if (auto s = ParseJson(req.body, body); !s.ok()) return s;
  return body;
}

// A body's "name" may be left out; if given it must be the URL's.
absl::Status MatchName(std::string& body_name, const std::string& url_name) {
  if (!body_name.empty() && body_name != url_name) {
    return absl::InvalidArgumentError(
        Cat("name: '", body_name, "' does not match the URL's '", url_name, "'"));
  }
  body_name = url_name;
  return absl::OkStatus();
}

json List(const json& items) {
  return json{{"value", items}};
}

absl::Status NotFound(std::string_view kind, std::string_view name) {
  return absl::NotFoundError(Cat(kind, " '", name, "' not found"));
}

// Runs a change; on error answers it and returns false (the caller answers success).
bool ApplyChange(ControlPlane& control, Response& res,
                 const std::function<absl::Status(Model&, const WorkflowContext&)>& fn) {
  absl::Status status = control.Change(fn);
  if (!status.ok()) SendError(res, status);
  return status.ok();
}

// What RegisterResource needs of one resource kind. The kinds differ only in small ways (an
// endpoint's JSON needs the whole model and its PUT no workflow context, a service's body wraps
// the service in a request with its connections), so each says those here and the routes, status
// codes and error bodies are written once, the same for all.
struct NetworkRoutes {
  static constexpr char kPath[] = "/v1/networks";
  static constexpr char kNoun[] = "network";  // as in "network 'x' not found"
  static constexpr auto kItems = &Model::networks;
  static constexpr auto kDecode = &DecodeNetwork;
  static constexpr auto kDelete = &DeleteNetwork;
  static std::string& Name(Network& body) { return body.name; }
  static json Encode(const Model&, const Network& n) { return EncodeNetwork(n); }
  static absl::StatusOr<ChangeKind> Put(Model& m, const Network& body, const WorkflowContext& c) {
    return PutNetwork(m, body, c, "");
  }
};

struct ServiceRoutes {
  static constexpr char kPath[] = "/v1/privateLinkServices";
  static constexpr char kNoun[] = "private link service";
  static constexpr auto kItems = &Model::services;
  static constexpr auto kDecode = &DecodeService;
  static constexpr auto kDelete = &DeleteService;
  static std::string& Name(ServiceRequest& body) { return body.service.name; }
  static json Encode(const Model&, const PrivateLinkService& s) { return EncodeService(s); }
  static absl::StatusOr<ChangeKind> Put(Model& m, const ServiceRequest& body,
                                        const WorkflowContext& c) {
    return PutService(m, body, c, "");
  }
};

struct EndpointRoutes {
  static constexpr char kPath[] = "/v1/privateEndpoints";
  static constexpr char kNoun[] = "private endpoint";
  static constexpr auto kItems = &Model::endpoints;
  static constexpr auto kDecode = &DecodeEndpoint;
  static constexpr auto kDelete = &DeleteEndpoint;
  static std::string& Name(PrivateEndpoint& body) { return body.name; }
  static json Encode(const Model& m, const PrivateEndpoint& e) { return EncodeEndpoint(m, e); }
  static absl::StatusOr<ChangeKind> Put(Model& m, const PrivateEndpoint& body,
                                        const WorkflowContext&) {
    return PutEndpoint(m, body, "");
  }
};

// The item `name` of kind R, or the 404 the API answers for it.
template <typename R>
auto Find(const Model& model, const std::string& name) {
  const auto& items = model.*R::kItems;
  using Found = absl::StatusOr<const typename std::decay_t<decltype(items)>::mapped_type*>;
  auto it = items.find(name);
  return it == items.end() ? Found(NotFound(R::kNoun, name)) : Found(&it->second);
}

// GET {kPath} lists every item of kind R; GET, PUT and DELETE {kPath}/{name} answer one item,
// create (201) or update (200) it answering what was stored, and remove it (204). A PUT's body
// is checked whole before the change runs, so a bad one leaves the model untouched.
template <typename R>
void RegisterResource(httplib::Server& s, ControlPlane& control) {
  const std::string item_path = Cat(R::kPath, "/([^/]+)");
  s.Get(R::kPath, [&control](const Request&, Response& res) {
    auto model = control.model();  // held: a change may publish another model while we encode
    json items = json::array();
    for (const auto& [name, item] : (*model).*R::kItems) items.push_back(R::Encode(*model, item));
    SendJson(res, 200, List(items));
  });
  s.Get(item_path, [&control](const Request& req, Response& res) {
    auto model = control.model();
    auto item = Find<R>(*model, req.matches[1]);
    if (!item.ok()) return SendError(res, item.status());
    SendJson(res, 200, R::Encode(*model, **item));
  });
  s.Put(item_path, [&control](const Request& req, Response& res) {
    const std::string name = req.matches[1];
    auto body = ParseBody(req, false);
    if (!body.ok()) return SendError(res, body.status());
    auto decoded = R::kDecode(*body, "", DecodeMode::kRequest);
    if (!decoded.ok()) return SendError(res, decoded.status());
    if (auto st = MatchName(R::Name(*decoded), name); !st.ok()) return SendError(res, st);
    json result;
    int success = 200;
    const bool ok = ApplyChange(control, res, [&](Model& m, const WorkflowContext& context) {
      auto kind = R::Put(m, *decoded, context);
      if (!kind.ok()) return kind.status();
      success = *kind == ChangeKind::kCreated ? kCreated : 200;
      result = R::Encode(m, (m.*R::kItems).at(name));
      return absl::OkStatus();
    });
    if (ok) SendJson(res, success, result);
  });
  s.Delete(item_path, [&control](const Request& req, Response& res) {
    const bool ok = ApplyChange(control, res, [&](Model& m, const WorkflowContext&) {
      return R::kDelete(m, req.matches[1].str());
    });
    if (ok) res.status = kNoContent;
  });
}

json ControlStats(const Model& model, const ControlCounters& counters, size_t retired) {
  json connections = {{"Pending", 0}, {"Approved", 0}, {"Rejected", 0}, {"Disconnected", 0}};
  for (const auto& [name, service] : model.services) {
    for (const auto& [pe, connection] : service.connections) {
      connections[std::string(ConnectionStatusName(connection.status))] =
          connections[std::string(ConnectionStatusName(connection.status))].get<int>() + 1;
    }
  }
  return json{{"networks", model.networks.size()},
              {"privateLinkServices", model.services.size()},
              {"privateEndpoints", model.endpoints.size()},
              {"connections", std::move(connections)},
              {"changesAccepted", counters.changes_accepted},
              {"changesRejected", counters.changes_rejected},
              {"snapshotGeneration", counters.snapshot_generation},
              {"retiredSnapshotsWaiting", retired}};
}

// Removes a Unix socket file left by a daemon that is gone (nobody accepts on it).
absl::Status RemoveStaleSocket(const std::string& path) {
  struct stat info;
  if (::lstat(path.c_str(), &info) != 0) return absl::OkStatus();
  if (!S_ISSOCK(info.st_mode)) {
    return absl::FailedPreconditionError(Cat(path, " exists and is not a socket"));
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return absl::InvalidArgumentError("socket path too long");
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const bool alive = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  if (fd >= 0) ::close(fd);
  if (alive) return absl::FailedPreconditionError(Cat(path, " is in use by a running server"));
  ::unlink(path.c_str());
  return absl::OkStatus();
}

// A query parameter that must be an integer in [min, max]; `fallback` when absent.
absl::StatusOr<uint32_t> UintParam(const Request& req, const char* name, uint32_t fallback,
                                   uint32_t min, uint32_t max) {
  if (!req.has_param(name)) return fallback;
  const std::string text = req.get_param_value(name);
  uint64_t value = 0;
  const bool digits = !text.empty() && text.size() <= 10 &&
                      text.find_first_not_of("0123456789") == std::string::npos;
  if (digits) value = std::stoull(text);
  if (!digits || value < min || value > max) {
    return absl::InvalidArgumentError(
        Cat(name, ": '", text, "' is not an integer in [", min, ", ", max, "]"));
  }
  return static_cast<uint32_t>(value);
}

absl::StatusOr<FlowQuery> ParseFlowQuery(const Request& req, bool with_limit) {
  FlowQuery q;
  q.endpoint = req.get_param_value("endpoint");
  q.service = req.get_param_value("service");
  if (with_limit) {
    auto limit = UintParam(req, "limit", kDefaultFlowLimit, 1, kMaxFlowLimit);
    if (!limit.ok()) return limit.status();
    q.limit = *limit;
  }
  return q;
}

absl::StatusOr<CaptureRequest> ParseCaptureRequest(const Request& req) {
  auto body = ParseBody(req, false);
  if (!body.ok()) return body.status();
  if (!body->is_object()) return absl::InvalidArgumentError("body must be a JSON object");
  CaptureRequest c;
  JsonObjectReader r(*body, "");
  c.port = r.String("port");
  c.direction = r.String("direction");
  c.count = static_cast<uint32_t>(r.Integer("count", 1, kMaxCapturePackets));
  c.snaplen = static_cast<uint32_t>(
      r.Integer("snaplen", 1, kMaxCaptureSnaplen, int64_t{kDefaultCaptureSnaplen}));
  c.timeout_seconds = static_cast<uint32_t>(r.Integer(
      "timeoutSeconds", 1, kMaxCaptureTimeoutSeconds, int64_t{kDefaultCaptureTimeoutSeconds}));
  if (auto s = r.Finish(); !s.ok()) return s;
  if (c.direction != "rx" && c.direction != "tx" && c.direction != "drop") {
    return absl::InvalidArgumentError("direction: must be rx, tx or drop");
  }
  return c;
}

}  // namespace

ApiServer::ApiServer(ControlPlane& control, const StatsSource* dataplane_stats,
                     DataplaneInspector* inspector)
    : control_(control),
      dataplane_stats_(dataplane_stats),
      inspector_(inspector),
      server_(std::make_unique<httplib::Server>()) {
  server_->set_payload_max_length(kMaxRequestBodyBytes);
  server_->set_error_handler([](const Request& req, Response& res) {
    if (!res.body.empty()) return;  // our own error, already in JSON
    SendErrorBody(res, res.status,
                  res.status == 404 ? Cat("no such resource: ", req.method, " ", req.path)
                                    : std::string("request refused"));
  });
  server_->set_exception_handler([](const Request&, Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = Cat("internal error: ", e.what());
    } catch (...) {
    }
    SendErrorBody(res, 500, what);
  });
  Routes();
  InspectRoutes();
}

void ApiServer::RequireBearerToken(std::string token) {
  server_->set_pre_routing_handler([token = std::move(token)](const Request& req, Response& res) {
    if (BearerTokenMatches(req.get_header_value("Authorization"), token)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    res.set_header("WWW-Authenticate", "Bearer realm=\"privlink\"");
    SendErrorBody(res, 401, "missing or wrong bearer token (Authorization: Bearer <token>)");
    return httplib::Server::HandlerResponse::Handled;
  });
}

ApiServer::~ApiServer() {
  Stop();
}

absl::Status ApiServer::Bind(const ListenAddress& address) {
  if (address.is_unix) {
    if (auto s = RemoveStaleSocket(address.path); !s.ok()) return s;
    server_->set_address_family(AF_UNIX);
    // The socket file is created by bind(); a tight umask means it is never even briefly open to
    // others, and chmod below pins 0600 whatever the umask was.
    const mode_t old_umask = ::umask(0177);
    const bool bound = server_->bind_to_port(address.path, 80);
    ::umask(old_umask);
    if (!bound) return absl::UnavailableError(Cat("cannot listen on unix:", address.path));
    ::chmod(address.path.c_str(), 0600);
    unix_path_ = address.path;
    return absl::OkStatus();
  }
  if (address.port == 0) {
    port_ = server_->bind_to_any_port(address.host);
    if (port_ <= 0) return absl::UnavailableError(Cat("cannot listen on ", address.host));
    return absl::OkStatus();
  }
  if (!server_->bind_to_port(address.host, address.port)) {
    return absl::UnavailableError(
        Cat("cannot listen on ", address.host, ":", address.port, ": ", std::strerror(errno)));
  }
  port_ = address.port;
  return absl::OkStatus();
}

void ApiServer::Start() {
  auto finished = std::make_shared<std::atomic<bool>>(false);
  thread_ = std::thread([this, finished] {
    server_->listen_after_bind();
    finished->store(true);
  });
  // The socket already listens (connections queue), but stop() is a no-op until the accept loop
  // runs: wait for it so that a Stop() right after Start() cannot leave the thread running.
  while (!server_->is_running() && !finished->load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void ApiServer::Stop() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
  if (!unix_path_.empty()) {
    ::unlink(unix_path_.c_str());
    unix_path_.clear();
  }
}

void ApiServer::Routes() {
  httplib::Server& s = *server_;
  ControlPlane& control = control_;

  RegisterResource<NetworkRoutes>(s, control);
  RegisterResource<ServiceRoutes>(s, control);

  // Connections.
  s.Get(R"(/v1/privateLinkServices/([^/]+)/privateEndpointConnections)",
        [&control](const Request& req, Response& res) {
          auto model = control.model();
          auto service = Find<ServiceRoutes>(*model, req.matches[1]);
          if (!service.ok()) return SendError(res, service.status());
          json items = json::array();
          for (const auto& [pe, c] : (*service)->connections) items.push_back(EncodeConnection(c));
          SendJson(res, 200, List(items));
        });
  s.Get(R"(/v1/privateLinkServices/([^/]+)/privateEndpointConnections/([^/]+))",
        [&control](const Request& req, Response& res) {
          auto model = control.model();
          auto service = Find<ServiceRoutes>(*model, req.matches[1]);
          if (!service.ok()) return SendError(res, service.status());
          auto c = (*service)->connections.find(req.matches[2]);
          if (c == (*service)->connections.end()) {
            return SendError(res, NotFound("private endpoint connection", req.matches[2].str()));
          }
          SendJson(res, 200, EncodeConnection(c->second));
        });
  auto connection_action = [&control](bool approve) {
    return [&control, approve](const Request& req, Response& res) {
      const std::string service = req.matches[1];
      const std::string endpoint = req.matches[2];
      auto body = ParseBody(req, true);
      if (!body.ok()) return SendError(res, body.status());
      auto description = DecodeConnectionActionDescription(*body);
      if (!description.ok()) return SendError(res, description.status());
      json result;
      const bool ok = ApplyChange(control, res, [&](Model& m, const WorkflowContext&) {
        auto kind = approve ? ApproveConnection(m, service, endpoint, *description)
                            : RejectConnection(m, service, endpoint, *description);
        if (!kind.ok()) return kind.status();
        result = EncodeConnection(m.services.at(service).connections.at(endpoint));
        return absl::OkStatus();
      });
      if (ok) SendJson(res, 200, result);
    };
  };
  s.Post(R"(/v1/privateLinkServices/([^/]+)/privateEndpointConnections/([^/]+)/approve)",
         connection_action(true));
  s.Post(R"(/v1/privateLinkServices/([^/]+)/privateEndpointConnections/([^/]+)/reject)",
         connection_action(false));
  s.Delete(R"(/v1/privateLinkServices/([^/]+)/privateEndpointConnections/([^/]+))",
           [&control](const Request& req, Response& res) {
             const bool ok = ApplyChange(control, res, [&](Model& m, const WorkflowContext&) {
               return DeleteConnection(m, req.matches[1].str(), req.matches[2].str());
             });
             if (ok) res.status = kNoContent;
           });

  RegisterResource<EndpointRoutes>(s, control);

  // Whole documents and stats.
  s.Post("/v1/apply", [&control](const Request& req, Response& res) {
    auto body = ParseBody(req, false);
    if (!body.ok()) return SendError(res, body.status());
    // The daemon's dataplane section is fixed at start; a document's is checked, not applied.
    if (auto dataplane = DecodeDataplaneConfig(*body); !dataplane.ok()) {
      return SendError(res, dataplane.status());
    }
    auto document = DecodeResourceDocument(*body);
    if (!document.ok()) return SendError(res, document.status());
    json result;
    const bool ok = ApplyChange(control, res, [&](Model& m, const WorkflowContext& context) {
      auto summary = ApplyDocument(m, *document, context);
      if (!summary.ok()) return summary.status();
      result = {{"created", summary->created},
                {"updated", summary->updated},
                {"unchanged", summary->unchanged}};
      return absl::OkStatus();
    });
    if (ok) SendJson(res, 200, result);
  });
  s.Get("/v1/state", [&control](const Request&, Response& res) {
    SendJson(res, 200, EncodeResources(*control.model()));
  });
  s.Get("/v1/stats", [this](const Request&, Response& res) {
    const size_t retired = control_.publisher().Reclaim();
    json stats = {{"control", ControlStats(*control_.model(), control_.counters(), retired)},
                  {"dataplane", dataplane_stats_ ? dataplane_stats_->Stats() : json(nullptr)}};
    SendJson(res, 200, stats);
  });
  s.Get("/metrics", [this](const Request&, Response& res) {
    res.set_content(RenderMetrics(control_, dataplane_stats_), kMetricsContentType);
  });
}

void ApiServer::InspectRoutes() {
  httplib::Server& s = *server_;
  auto no_dataplane = [](Response& res) {
    SendError(res, absl::UnavailableError("no dataplane is running (privlinkd --no-dataplane)"));
  };
  s.Get("/v1/flows", [this, no_dataplane](const Request& req, Response& res) {
    if (inspector_ == nullptr) return no_dataplane(res);
    auto query = ParseFlowQuery(req, true);
    auto flows = query.ok() ? inspector_->Flows(*query) : query.status();
    if (!flows.ok()) return SendError(res, flows.status());
    SendJson(res, 200, *flows);
  });
  s.Get("/v1/flows/count", [this, no_dataplane](const Request& req, Response& res) {
    if (inspector_ == nullptr) return no_dataplane(res);
    auto query = ParseFlowQuery(req, false);
    auto counts = query.ok() ? inspector_->FlowCount(*query) : query.status();
    if (!counts.ok()) return SendError(res, counts.status());
    SendJson(res, 200, *counts);
  });
  s.Post("/v1/capture", [this, no_dataplane](const Request& req, Response& res) {
    if (inspector_ == nullptr) return no_dataplane(res);
    auto request = ParseCaptureRequest(req);
    if (!request.ok()) return SendError(res, request.status());
    auto result = inspector_->Capture(*request);
    if (!result.ok()) return SendError(res, result.status());
    json body = result->summary;
    body["pcapng"] = absl::Base64Escape(result->pcapng);
    res.status = 200;
    res.set_content(body.dump() + "\n", kJson);
  });
}

}  // namespace privlink::control
