#include "control/api/api_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <type_traits>

#include <httplib.h>

#include "absl/strings/escaping.h"
#include "control/api/api_access.h"
#include "control/api/api_lists.h"
#include "control/api/backend_health_json.h"
#include "control/api/dns_records_json.h"
#include "control/api/inspect_requests.h"
#include "control/api/metrics.h"
#include "control/api/static_assets.h"
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
// Requests one connection may carry before the server closes it (cpp-httplib's default is 5).
constexpr size_t kKeepAliveRequests = 1000;
constexpr size_t kStateWriteBytes = 64 * 1024;  // GET /v1/state is sent in pieces of this size
constexpr char kAssetPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

int HttpStatus(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:  // the store moved on (revision conflict)
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
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 413:
      return "PayloadTooLarge";
    case 414:
      return "UriTooLong";
    case 415:
      return "UnsupportedMediaType";
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

// Whether a Content-Type header value is JSON: application/json, any parameters (charset) aside.
bool IsJsonContentType(std::string_view value) {
  value = value.substr(0, value.find(';'));
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  constexpr std::string_view kWanted = kJson;
  return value.size() == kWanted.size() &&
         std::equal(value.begin(), value.end(), kWanted.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

// The body of a route that takes one, as a JSON object; on error answers 400 or 415 and returns
// false. An absent body (none, or Content-Length: 0) is {} where the body is optional.
bool ReadJsonBody(const Request& req, Response& res, BodyRule rule, json& body) {
  if (req.body.empty()) {
    if (rule == BodyRule::kOptional) {
      body = json::object();
      return true;
    }
    SendErrorBody(res, 400,
                  "body: missing; this request needs a JSON object (Content-Type: "
                  "application/json)");
    return false;
  }
  if (!req.has_header("Content-Type")) {
    SendErrorBody(res, 415, "Content-Type: missing; the body must be sent as application/json");
    return false;
  }
  if (const std::string type = req.get_header_value("Content-Type"); !IsJsonContentType(type)) {
    SendErrorBody(
        res, 415,
        Cat("Content-Type: '", type, "' is not supported; the body must be sent as ", kJson));
    return false;
  }
  if (auto s = ParseJson(req.body, body); !s.ok()) {
    SendErrorBody(res, 400, Cat("body: ", s.message()));
    return false;
  }
  if (!body.is_object()) {
    SendErrorBody(res, 400, Cat("body: must be a JSON object, not ", JsonTypeName(body)));
    return false;
  }
  return true;
}

using JsonHandler = std::function<void(const Request&, Response&, const json& body)>;
using Admission = std::function<bool(const Request&, Response&, Access)>;

// Registers routes with httplib and in the route table. Every handler first runs the access
// rules (`admit`), then, for a route that takes a body, reads it (ReadJsonBody).
class Router {
 public:
  Router(httplib::Server& server, std::vector<ApiRoute>& table, Admission admit)
      : server_(server), table_(table), admit_(std::move(admit)) {}

  void Get(const std::string& pattern, httplib::Server::Handler handler) {
    table_.push_back({"GET", pattern, BodyRule::kNone});
    server_.Get(pattern, Admitted(std::move(handler)));
  }
  void Delete(const std::string& pattern, httplib::Server::Handler handler) {
    table_.push_back({"DELETE", pattern, BodyRule::kNone});
    server_.Delete(pattern, Admitted(std::move(handler)));
  }
  void Put(const std::string& pattern, BodyRule rule, JsonHandler handler) {
    table_.push_back({"PUT", pattern, rule});
    server_.Put(pattern, Admitted(WithBody(rule, std::move(handler))));
  }
  void Post(const std::string& pattern, BodyRule rule, JsonHandler handler) {
    table_.push_back({"POST", pattern, rule});
    server_.Post(pattern, Admitted(WithBody(rule, std::move(handler))));
  }
  // A file served from memory, to anyone the browser rules let in. Answers 304 to a request that
  // already holds these bytes (If-None-Match); no-cache makes the browser ask each time, so a
  // new build's page is never mixed with an old one's script. No other site may frame the page
  // (its buttons change state; a frame would let a site trick a click): frame-ancestors and
  // X-Frame-Options, which a <meta> policy cannot set. The policy also allows only the page's own
  // script, style and API.
  void Asset(const StaticAsset& asset) {
    std::string pattern;  // the path as a regular expression: its dots escaped
    for (char ch : asset.path) pattern += ch == '.' ? std::string("\\.") : std::string(1, ch);
    table_.push_back({"GET", pattern, BodyRule::kNone, Access::kPublic});
    server_.Get(pattern, Admitted(
                             [&asset](const Request& req, Response& res) {
                               res.set_header("ETag", std::string(asset.etag));
                               res.set_header("Cache-Control", "no-cache");
                               res.set_header("X-Content-Type-Options", "nosniff");
                               res.set_header("X-Frame-Options", "DENY");
                               res.set_header("Content-Security-Policy", kAssetPolicy);
                               if (req.get_header_value("If-None-Match") == asset.etag) {
                                 res.status = 304;
                                 return;
                               }
                               res.set_content(asset.body.data(), asset.body.size(),
                                               std::string(asset.content_type));
                             },
                             Access::kPublic));
  }

 private:
  httplib::Server::Handler Admitted(httplib::Server::Handler handler,
                                    Access access = Access::kToken) const {
    return
        [admit = admit_, handler = std::move(handler), access](const Request& req, Response& res) {
          if (admit(req, res, access)) handler(req, res);
        };
  }
  static httplib::Server::Handler WithBody(BodyRule rule, JsonHandler handler) {
    return [rule, handler = std::move(handler)](const Request& req, Response& res) {
      json body;
      if (ReadJsonBody(req, res, rule, body)) handler(req, res, body);
    };
  }

  httplib::Server& server_;
  std::vector<ApiRoute>& table_;
  Admission admit_;
};

// A body's "name" may be left out; if given it must be the URL's.
absl::Status MatchName(std::string& body_name, const std::string& url_name) {
  if (!body_name.empty() && body_name != url_name) {
    return absl::InvalidArgumentError(
        Cat("name: '", body_name, "' does not match the URL's '", url_name, "'"));
  }
  body_name = url_name;
  return absl::OkStatus();
}

// The page a list request asks for ($top, $skipToken); on error answers 400 and returns nullopt.
std::optional<PageRequest> RequestedPage(const Request& req, Response& res) {
  const auto param = [&req](const char* name) -> std::optional<std::string> {
    if (!req.has_param(name)) return std::nullopt;
    return req.get_param_value(name);
  };
  auto page = ParsePageRequest(param("$top"), param("$skipToken"));
  if (!page.ok()) {
    SendError(res, page.status());
    return std::nullopt;
  }
  return *page;
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
  static json Encode(const ControlPlane&, const Model&, const Network& n) {
    return EncodeNetwork(n);
  }
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
  static json Encode(const ControlPlane& c, const Model&, const PrivateLinkService& s) {
    return EncodeServiceWithHealth(c, s);
  }
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
  static json Encode(const ControlPlane&, const Model& m, const PrivateEndpoint& e) {
    return EncodeEndpoint(m, e);
  }
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

// GET {kPath} lists the items of kind R a page at a time (ListPage); GET, PUT and DELETE
// {kPath}/{name} answer one item, create (201) or update (200) it answering what was stored, and
// remove it (204). A PUT's body is checked whole before the change runs, so a bad one leaves the
// model untouched.
template <typename R>
void RegisterResource(Router& r, ControlPlane& control) {
  const std::string item_path = Cat(R::kPath, "/([^/]+)");
  r.Get(R::kPath, [&control](const Request& req, Response& res) {
    const std::optional<PageRequest> page = RequestedPage(req, res);
    if (!page) return;
    auto model = control.model();  // held: a change may publish another model while we encode
    SendJson(res, 200, ListPage((*model).*R::kItems, *page, R::kPath, [&](const auto& item) {
               return R::Encode(control, *model, item);
             }));
  });
  r.Get(item_path, [&control](const Request& req, Response& res) {
    auto model = control.model();
    auto item = Find<R>(*model, req.matches[1]);
    if (!item.ok()) return SendError(res, item.status());
    SendJson(res, 200, R::Encode(control, *model, **item));
  });
  r.Put(item_path, BodyRule::kRequired,
        [&control](const Request& req, Response& res, const json& body) {
          const std::string name = req.matches[1];
          auto decoded = R::kDecode(body, "", DecodeMode::kRequest);
          if (!decoded.ok()) return SendError(res, decoded.status());
          if (auto st = MatchName(R::Name(*decoded), name); !st.ok()) return SendError(res, st);
          json result;
          int success = 200;
          const bool ok = ApplyChange(control, res, [&](Model& m, const WorkflowContext& context) {
            auto kind = R::Put(m, *decoded, context);
            if (!kind.ok()) return kind.status();
            success = *kind == ChangeKind::kCreated ? kCreated : 200;
            result = R::Encode(control, m, (m.*R::kItems).at(name));
            return absl::OkStatus();
          });
          if (ok) SendJson(res, success, result);
        });
  r.Delete(item_path, [&control](const Request& req, Response& res) {
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
  if (path.size() >= sizeof addr.sun_path) {
    return absl::InvalidArgumentError(
        Cat("unix:", path, ": a socket path is at most ", sizeof addr.sun_path - 1, " bytes"));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const bool alive = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  if (fd >= 0) ::close(fd);
  if (alive) return absl::FailedPreconditionError(Cat(path, " is in use by a running server"));
  ::unlink(path.c_str());
  return absl::OkStatus();
}

// What the HTTP layer's own refusals (no route, an unreadable request, a body over the limit)
// say: the rule and what it was applied to.
std::string HttpLayerMessage(const Request& req, int status) {
  const std::string request = Cat(req.method, " ", req.path);
  switch (status) {
    case 400:
      return Cat("malformed HTTP request", req.method.empty() ? "" : Cat(" (", request, ")"),
                 ": the request line, a header or the body's framing (Content-Length, "
                 "Transfer-Encoding) could not be read");
    case 404:
      return Cat("no such resource: ", request);
    case 413:
      return Cat("body: larger than the API's limit of ", kMaxRequestBodyBytes, " bytes");
    case 414:
      return Cat("request line longer than the API's limit of ", CPPHTTPLIB_REQUEST_URI_MAX_LENGTH,
                 " bytes");
    case 415:
      return Cat("Content-Encoding: '", req.get_header_value("Content-Encoding"),
                 "' is not supported; send the body uncompressed");
    case 416:
      return Cat("Range: '", req.get_header_value("Range"), "' is not a valid byte range");
    default:
      return Cat("HTTP status ", status, " from the HTTP server for ", request);
  }
}

// When the request this thread serves was routed (see the logger in ApiServer's constructor).
std::chrono::steady_clock::time_point& RequestStart() {
  thread_local std::chrono::steady_clock::time_point start;
  return start;
}

}  // namespace

ApiServer::ApiServer(ControlPlane& control, const StatsSource* dataplane_stats,
                     DataplaneInspector* inspector)
    : control_(control),
      dataplane_stats_(dataplane_stats),
      inspector_(inspector),
      server_(std::make_unique<httplib::Server>()) {
  server_->set_payload_max_length(kMaxRequestBodyBytes);
  // A reply's headers and body go out in two writes; with Nagle's algorithm the body would wait
  // for the client's delayed ACK of the headers (about 40 ms on Linux).
  server_->set_tcp_nodelay(true);
  server_->set_keep_alive_max_count(kKeepAliveRequests);
  // RFC 9112 section 6.3: a request with neither Content-Length nor Transfer-Encoding has no
  // body. httplib would read one until the client closes the connection (curl -X POST without
  // -d waits out the read timeout, then gets 400), so such a request is given Content-Length: 0.
  // The latency histogram's clock starts at routing (per thread: a server thread serves one
  // request at a time) and stops when httplib logs the request, after its reply is written.
  server_->set_logger([this](const Request& req, const Response&) {
    const auto elapsed = std::chrono::steady_clock::now() - RequestStart();
    latency_.Record(req.method, std::chrono::duration<double>(elapsed).count());
  });
  server_->set_pre_routing_handler([](const Request& req, Response&) {
    RequestStart() = std::chrono::steady_clock::now();
    if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) {
      // httplib's own Request object, which the handler sees const: it is not a const object.
      const_cast<Request&>(req).set_header("Content-Length", "0");
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server_->set_error_handler([this](const Request& req, Response& res) {
    if (!res.body.empty()) return;  // our own error, already in JSON
    // No route: the access rules first (a refused caller learns nothing about routes), then 405
    // where the path has routes for other methods.
    if (res.status == 404 || res.status == 413) {
      if (!Admit(req, res, Access::kToken)) return;
    }
    if (res.status == 404) {
      std::string allowed;
      for (const ApiRoute& route : routes_) {
        if (std::regex_match(req.path, std::regex(route.pattern))) {
          allowed += Cat(allowed.empty() ? "" : ", ", route.method);
        }
      }
      if (!allowed.empty()) {
        res.set_header("Allow", allowed);
        return SendErrorBody(res, 405,
                             Cat("method ", req.method, " is not allowed on ", req.path,
                                 " (allowed: ", allowed, ")"));
      }
    }
    SendErrorBody(res, res.status, HttpLayerMessage(req, res.status));
  });
  server_->set_exception_handler([](const Request& req, Response& res, std::exception_ptr ep) {
    std::string what = Cat("internal error in ", req.method, " ", req.path);
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = Cat(what, ": ", e.what());
    } catch (...) {
    }
    SendErrorBody(res, 500, what);
  });
  Routes();
}

void ApiServer::RequireBearerToken(std::string token) {
  token_ = std::move(token);
}

bool ApiServer::Admit(const httplib::Request& req, httplib::Response& res, Access access) const {
  // Header values copied: httplib returns them by value.
  const auto header = [&req](const char* name) -> std::optional<std::string> {
    if (!req.has_header(name)) return std::nullopt;
    return req.get_header_value(name);
  };
  const std::optional<std::string> host = header("Host");
  const std::optional<std::string> origin = header("Origin");
  const std::optional<std::string> fetch_site = header("Sec-Fetch-Site");
  const absl::Status browser = CheckBrowserRules(
      listener_,
      {.method = req.method,
       .host = host ? std::optional<std::string_view>(*host) : std::nullopt,
       .origin = origin ? std::optional<std::string_view>(*origin) : std::nullopt,
       .sec_fetch_site = fetch_site ? std::optional<std::string_view>(*fetch_site) : std::nullopt});
  if (!browser.ok()) {
    SendErrorBody(res, 403, std::string_view(browser.message().data(), browser.message().size()));
    return false;
  }
  if (access == Access::kToken && !token_.empty() &&
      !BearerTokenMatches(req.get_header_value("Authorization"), token_)) {
    res.set_header("WWW-Authenticate", "Bearer realm=\"privlink\"");
    SendErrorBody(res, 401,
                  "Authorization: missing or wrong bearer token (Authorization: Bearer <token>)");
    return false;
  }
  return true;
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
    listener_ = address;
    return absl::OkStatus();
  }
  if (address.port == 0) {
    port_ = server_->bind_to_any_port(address.host);
    if (port_ <= 0) return absl::UnavailableError(Cat("cannot listen on ", address.host));
  } else {
    if (!server_->bind_to_port(address.host, address.port)) {
      return absl::UnavailableError(
          Cat("cannot listen on ", address.host, ":", address.port, ": ", std::strerror(errno)));
    }
    port_ = address.port;
  }
  listener_ = address;
  listener_.port = port_;
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
  Router r(*server_, routes_, [this](const Request& req, Response& res, Access access) {
    return Admit(req, res, access);
  });
  ControlPlane& control = control_;

  RegisterResource<NetworkRoutes>(r, control);
  r.Get(R"(/v1/networks/([^/]+)/dnsRecords)", [&control](const Request& req, Response& res) {
    auto records = DnsRecordsOf(*control.model(), req.matches[1].str());
    if (!records.ok()) return SendError(res, records.status());
    SendJson(res, 200, EncodeDnsRecords(control, *records));
  });
  RegisterResource<ServiceRoutes>(r, control);

  // Connections.
  r.Get(R"(/v1/privateLinkServices/([^/]+)/privateEndpointConnections)",
        [&control](const Request& req, Response& res) {
          const std::optional<PageRequest> page = RequestedPage(req, res);
          if (!page) return;
          auto model = control.model();
          auto service = Find<ServiceRoutes>(*model, req.matches[1]);
          if (!service.ok()) return SendError(res, service.status());
          SendJson(res, 200, ListPage((*service)->connections, *page, req.path, EncodeConnection));
        });
  r.Get(R"(/v1/privateLinkServices/([^/]+)/privateEndpointConnections/([^/]+))",
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
  // The body ({"description": "..."}) is optional.
  auto connection_action = [&control](bool approve) {
    return [&control, approve](const Request& req, Response& res, const json& body) {
      const std::string service = req.matches[1];
      const std::string endpoint = req.matches[2];
      auto description = DecodeConnectionActionDescription(body);
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
  r.Post(R"(/v1/privateLinkServices/([^/]+)/privateEndpointConnections/([^/]+)/approve)",
         BodyRule::kOptional, connection_action(true));
  r.Post(R"(/v1/privateLinkServices/([^/]+)/privateEndpointConnections/([^/]+)/reject)",
         BodyRule::kOptional, connection_action(false));
  r.Delete(R"(/v1/privateLinkServices/([^/]+)/privateEndpointConnections/([^/]+))",
           [&control](const Request& req, Response& res) {
             const bool ok = ApplyChange(control, res, [&](Model& m, const WorkflowContext&) {
               return DeleteConnection(m, req.matches[1].str(), req.matches[2].str());
             });
             if (ok) res.status = kNoContent;
           });

  RegisterResource<EndpointRoutes>(r, control);

  // Whole documents and stats.
  r.Post("/v1/apply", BodyRule::kRequired,
         [&control](const Request&, Response& res, const json& body) {
           // The daemon's dataplane section is fixed at start; a document's is checked, not
           // applied.
           if (auto dataplane = DecodeDataplaneConfig(body); !dataplane.ok()) {
             return SendError(res, dataplane.status());
           }
           auto document = DecodeResourceDocument(body);
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
  // Written an item at a time (chunked), never whole in memory: the bytes SendJson would send.
  r.Get("/v1/state", [&control](const Request&, Response& res) {
    res.status = 200;
    res.set_chunked_content_provider(
        kJson, [model = control.model()](size_t, httplib::DataSink& sink) {
          std::string buffer;
          const auto flush = [&] {
            const bool ok = sink.write(buffer.data(), buffer.size());
            buffer.clear();
            return ok;
          };
          bool ok = false;
          try {
            ok = WriteResources(*model, [&](std::string_view piece) {
              buffer.append(piece);
              return buffer.size() < kStateWriteBytes || flush();
            });
            ok = ok && (buffer.empty() || flush());
          } catch (const std::exception&) {
            ok = false;  // the headers are gone: cutting the reply short is all that is left
          }
          if (ok) sink.done();
          return ok;
        });
  });
  // A consistent copy of the store (a SQLite database), to be put back as <stateDir>/state.db.
  r.Get("/v1/state/backup", [&control](const Request&, Response& res) {
    auto backup = control.Backup();
    if (!backup.ok()) return SendError(res, backup.status());
    res.status = 200;
    res.set_content(std::move(*backup), "application/vnd.sqlite3");
  });
  r.Get("/v1/stats", [this](const Request&, Response& res) {
    const size_t retired = control_.publisher().Reclaim();
    json stats = {{"control", ControlStats(*control_.model(), control_.counters(), retired)},
                  {"dataplane", dataplane_stats_ ? dataplane_stats_->Stats() : json(nullptr)}};
    SendJson(res, 200, stats);
  });
  r.Get("/metrics", [this](const Request&, Response& res) {
    res.set_content(RenderMetrics(control_, dataplane_stats_, &latency_), kMetricsContentType);
  });

  // Flows and capture.
  auto no_dataplane = [](Response& res) {
    SendError(res, absl::UnavailableError("no dataplane is running (privlinkd --no-dataplane)"));
  };
  r.Get("/v1/flows", [this, no_dataplane](const Request& req, Response& res) {
    if (inspector_ == nullptr) return no_dataplane(res);
    auto query = ParseFlowQuery(req, true);
    auto flows = query.ok() ? inspector_->Flows(*query) : query.status();
    if (!flows.ok()) return SendError(res, flows.status());
    SendJson(res, 200, *flows);
  });
  r.Get("/v1/flows/count", [this, no_dataplane](const Request& req, Response& res) {
    if (inspector_ == nullptr) return no_dataplane(res);
    auto query = ParseFlowQuery(req, false);
    auto counts = query.ok() ? inspector_->FlowCount(*query) : query.status();
    if (!counts.ok()) return SendError(res, counts.status());
    SendJson(res, 200, *counts);
  });
  r.Post("/v1/capture", BodyRule::kRequired,
         [this, no_dataplane](const Request&, Response& res, const json& body) {
           auto request = ParseCaptureRequest(body);
           if (!request.ok()) return SendError(res, request.status());
           if (inspector_ == nullptr) return no_dataplane(res);
           auto result = inspector_->Capture(*request);
           if (!result.ok()) return SendError(res, result.status());
           json reply = result->summary;
           reply["pcapng"] = absl::Base64Escape(result->pcapng);
           res.status = 200;
           res.set_content(reply.dump() + "\n", kJson);
         });

  // The Private Link Center page and the OpenAPI document.
  for (const StaticAsset& asset : StaticAssets()) r.Asset(asset);
}

}  // namespace privlink::control
