#include "control/cli/api_client.h"

#include <sys/socket.h>

#include <httplib.h>

#include "control/config/json_reader.h"
#include "control/model/str_cat.h"

namespace privlink::control {
namespace {

constexpr time_t kTimeoutSeconds = 30;  // a change waits for an fsync; be generous

}  // namespace

std::string ApiResponse::ErrorMessage() const {
  if (body.is_object() && body.contains("error") && body["error"].is_object() &&
      body["error"].contains("message") && body["error"]["message"].is_string()) {
    return body["error"]["message"].get<std::string>();
  }
  return Cat("HTTP status ", status);
}

ApiClient::ApiClient(const ListenAddress& server) : server_text_(FormatListenAddress(server)) {
  if (server.is_unix) {
    client_ = std::make_unique<httplib::Client>(server.path);
    client_->set_address_family(AF_UNIX);
  } else {
    client_ = std::make_unique<httplib::Client>(server.host, server.port);
  }
  client_->set_tcp_nodelay(true);  // a request's headers and body are two writes: see ApiServer
  client_->set_connection_timeout(kTimeoutSeconds);
  client_->set_read_timeout(kTimeoutSeconds);
  client_->set_write_timeout(kTimeoutSeconds);
}

void ApiClient::SetReadTimeout(time_t seconds) {
  client_->set_read_timeout(seconds);
}

ApiClient::~ApiClient() = default;

void ApiClient::SetBearerToken(const std::string& token) {
  client_->set_bearer_token_auth(token);
}
ApiClient::ApiClient(ApiClient&&) noexcept = default;
ApiClient& ApiClient::operator=(ApiClient&&) noexcept = default;

absl::StatusOr<ApiResponse> ApiClient::Call(std::string_view method, const std::string& path,
                                            const std::optional<nlohmann::json>& body) {
  const std::string payload = body ? body->dump() : std::string();
  constexpr char kType[] = "application/json";
  httplib::Result result{nullptr, httplib::Error::Unknown};
  if (method == "GET") {
    result = client_->Get(path);
  } else if (method == "PUT") {
    result = client_->Put(path, payload, kType);
  } else if (method == "POST") {
    result = client_->Post(path, payload, kType);
  } else if (method == "DELETE") {
    result = client_->Delete(path);
  } else {
    return absl::InvalidArgumentError(Cat("unsupported method ", method));
  }
  if (!result) {
    return absl::UnavailableError(
        Cat("cannot reach privlinkd at ", server_text_, ": ", httplib::to_string(result.error())));
  }
  ApiResponse response;
  response.status = result->status;
  if (!result->body.empty()) {
    if (auto s = ParseJson(result->body, response.body); !s.ok()) {
      return absl::InternalError(Cat("reply from ", server_text_, " is not JSON: ", s.message()));
    }
  }
  return response;
}

absl::StatusOr<ApiClient::RawResponse> ApiClient::GetRaw(const std::string& path) {
  httplib::Result result = client_->Get(path);
  if (!result) {
    return absl::UnavailableError(
        Cat("cannot reach privlinkd at ", server_text_, ": ", httplib::to_string(result.error())));
  }
  RawResponse response{result->status, std::move(result->body), ""};
  if (response.status < 200 || response.status >= 300) {
    ApiResponse error{response.status, nullptr};
    (void)ParseJson(response.body, error.body);
    response.message = error.ErrorMessage();
  }
  return response;
}

}  // namespace privlink::control
