#include "control/api/api_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>

#include <httplib.h>

#include "control/api/api_access.h"
#include "absl/strings/escaping.h"
#include "control/config/dataplane_config.h"
#include "control/config/json_codec.h"
#include "control/config/json_reader.h"
#include "control/api/metrics.h"
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

  // Runs a change; on error answers it and returns false (the caller answers success).
  auto apply = [&control](Response& res,
                          const std::function<absl::Status(Model&, const WorkflowContext&)>& fn) {
    absl::Status status = control.Change(fn);
    if (!status.ok()) SendError(res, status);
    return status.ok();
  };

  // Networks.
  s.Get("/v1/networks", [&control](const Request&, Response& res) {
    json items = json::array();
    for (const auto& [name, n] : control.model()->networks) items.push_back(EncodeNetwork(n));
    SendJson(res, 200, List(items));
  });
  s.Get(R"(/v1/networks/([^/]+))", [&control](const Request& req, Response& res) {
    auto model = control.model();
    auto it = model->networks.find(req.matches[1]);
    if (it == model->networks.end())
      return SendError(res, NotFound("network", req.matches[1].str()));
    SendJson(res, 200, EncodeNetwork(it->second));
  });
  s.Put(R"(/v1/networks/([^/]+))", [apply](const Request& req, Response& res) {
    const std::string name = req.matches[1];
    auto body = ParseBody(req, false);
    if (!body.ok()) return SendError(res, body.status());
    auto network = DecodeNetwork(*body, "", DecodeMode::kRequest);
    if (!network.ok()) return SendError(res, network.status());
    if (auto st = MatchName(network->name, name); !st.ok()) return SendError(res, st);
    json result;
    int success = 200;
    const bool ok = apply(res, [&](Model& m, const WorkflowContext& context) {
      auto kind = PutNetwork(m, *network, context, "");
      if (!kind.ok()) return kind.status();
      success = *kind == ChangeKind::kCreated ? kCreated : 200;
      result = EncodeNetwork(m.networks.at(name));
      return absl::OkStatus();
    });
    if (ok) SendJson(res, success, result);
  });
  s.Delete(R"(/v1/networks/([^/]+))", [apply](const Request& req, Response& res) {
    const bool ok = apply(res, [&](Model& m, const WorkflowContext&) {
      return DeleteNetwork(m, req.matches[1].str());
    });
    if (ok) res.status = kNoContent;
  });

  // Private link services.
  s.Get("/v1/privateLinkServices", [&control](const Request&, Response& res) {
    json items = json::array();
    for (const auto& [name, svc] : control.model()->services) items.push_back(EncodeService(svc));
    SendJson(res, 200, List(items));
  });
  s.Get(R"(/v1/privateLinkServices/([^/]+))", [&control](const Request& req, Response& res) {
    auto model = control.model();
    auto it = model->services.find(req.matches[1]);
    if (it == model->services.end()) {
      return SendError(res, NotFound("private link service", req.matches[1].str()));
    }
    SendJson(res, 200, EncodeService(it->second));
  });
  s.Put(R"(/v1/privateLinkServices/([^/]+))", [apply](const Request& req, Response& res) {
    const std::string name = req.matches[1];
    auto body = ParseBody(req, false);
    if (!body.ok()) return SendError(res, body.status());
    auto request = DecodeService(*body, "", DecodeMode::kRequest);
    if (!request.ok()) return SendError(res, request.status());
    if (auto st = MatchName(request->service.name, name); !st.ok()) return SendError(res, st);
    json result;
    int success = 200;
    const bool ok = apply(res, [&](Model& m, const WorkflowContext& context) {
      auto kind = PutService(m, *request, context, "");
      if (!kind.ok()) return kind.status();
      success = *kind == ChangeKind::kCreated ? kCreated : 200;
      result = EncodeService(m.services.at(name));
      return absl::OkStatus();
    });
    if (ok) SendJson(res, success, result);
  });
  s.Delete(R"(/v1/privateLinkServices/([^/]+))", [apply](const Request& req, Response& res) {
    const bool ok = apply(res, [&](Model& m, const WorkflowContext&) {
      return DeleteService(m, req.matches[1].str());
    });
    if (ok) res.status = kNoContent;
  });

  // Connections.
  s.Get(R"(/v1/privateLinkServices/([^/]+)/privateEndpointConnections)",
        [&control](const Request& req, Response& res) {
          auto model = control.model();
          auto it = model->services.find(req.matches[1]);
          if (it == model->services.end()) {
            return SendError(res, NotFound("private link service", req.matches[1].str()));
          }
          json items = json::array();
          for (const auto& [pe, c] : it->second.connections) items.push_back(EncodeConnection(c));
          SendJson(res, 200, List(items));
        });
  s.Get(R"(/v1/privateLinkServices/([^/]+)/privateEndpointConnections/([^/]+))",
        [&control](const Request& req, Response& res) {
          auto model = control.model();
          auto it = model->services.find(req.matches[1]);
          if (it == model->services.end()) {
            return SendError(res, NotFound("private link service", req.matches[1].str()));
          }
          auto c = it->second.connections.find(req.matches[2]);
          if (c == it->second.connections.end()) {
            return SendError(res, NotFound("private endpoint connection", req.matches[2].str()));
          }
          SendJson(res, 200, EncodeConnection(c->second));
        });
  auto connection_action = [apply](bool approve) {
    return [apply, approve](const Request& req, Response& res) {
      const std::string service = req.matches[1];
      const std::string endpoint = req.matches[2];
      auto body = ParseBody(req, true);
      if (!body.ok()) return SendError(res, body.status());
      auto description = DecodeConnectionActionDescription(*body);
      if (!description.ok()) return SendError(res, description.status());
      json result;
      const bool ok = apply(res, [&](Model& m, const WorkflowContext&) {
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
           [apply](const Request& req, Response& res) {
             const bool ok = apply(res, [&](Model& m, const WorkflowContext&) {
               return DeleteConnection(m, req.matches[1].str(), req.matches[2].str());
             });
             if (ok) res.status = kNoContent;
           });

  // Private endpoints.
  s.Get("/v1/privateEndpoints", [&control](const Request&, Response& res) {
    auto model = control.model();
    json items = json::array();
    for (const auto& [name, e] : model->endpoints) items.push_back(EncodeEndpoint(*model, e));
    SendJson(res, 200, List(items));
  });
  s.Get(R"(/v1/privateEndpoints/([^/]+))", [&control](const Request& req, Response& res) {
    auto model = control.model();
    auto it = model->endpoints.find(req.matches[1]);
    if (it == model->endpoints.end()) {
      return SendError(res, NotFound("private endpoint", req.matches[1].str()));
    }
    SendJson(res, 200, EncodeEndpoint(*model, it->second));
  });
  s.Put(R"(/v1/privateEndpoints/([^/]+))", [apply](const Request& req, Response& res) {
    const std::string name = req.matches[1];
    auto body = ParseBody(req, false);
    if (!body.ok()) return SendError(res, body.status());
    auto endpoint = DecodeEndpoint(*body, "", DecodeMode::kRequest);
    if (!endpoint.ok()) return SendError(res, endpoint.status());
    if (auto st = MatchName(endpoint->name, name); !st.ok()) return SendError(res, st);
    json result;
    int success = 200;
    const bool ok = apply(res, [&](Model& m, const WorkflowContext&) {
      auto kind = PutEndpoint(m, *endpoint, "");
      if (!kind.ok()) return kind.status();
      success = *kind == ChangeKind::kCreated ? kCreated : 200;
      result = EncodeEndpoint(m, m.endpoints.at(name));
      return absl::OkStatus();
    });
    if (ok) SendJson(res, success, result);
  });
  s.Delete(R"(/v1/privateEndpoints/([^/]+))", [apply](const Request& req, Response& res) {
    const bool ok = apply(res, [&](Model& m, const WorkflowContext&) {
      return DeleteEndpoint(m, req.matches[1].str());
    });
    if (ok) res.status = kNoContent;
  });

  // Whole documents and stats.
  s.Post("/v1/apply", [apply](const Request& req, Response& res) {
    auto body = ParseBody(req, false);
    if (!body.ok()) return SendError(res, body.status());
    // The daemon's dataplane section is fixed at start; a document's is checked, not applied.
    if (auto dataplane = DecodeDataplaneConfig(*body); !dataplane.ok()) {
      return SendError(res, dataplane.status());
    }
    auto document = DecodeResourceDocument(*body);
    if (!document.ok()) return SendError(res, document.status());
    json result;
    const bool ok = apply(res, [&](Model& m, const WorkflowContext& context) {
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
