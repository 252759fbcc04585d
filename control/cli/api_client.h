// A small client for privlink's REST API, used by privlinkctl and the tests.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "control/api/listen_address.h"

namespace httplib {
class Client;
}

namespace privlink::control {

struct ApiResponse {
  int status = 0;
  nlohmann::json body;  // null for an empty body (204)
  bool ok() const { return status >= 200 && status < 300; }
  // The API's error message ({"error": {"message"}}), or a description of the status.
  std::string ErrorMessage() const;
};

class ApiClient {
 public:
  explicit ApiClient(const ListenAddress& server);
  ~ApiClient();
  ApiClient(ApiClient&&) noexcept;
  ApiClient& operator=(ApiClient&&) noexcept;

  // Transport failures (no server, timeout, non-JSON reply) are errors; HTTP errors are
  // responses. `method` is GET, PUT, POST or DELETE.
  // Every call from now on sends "Authorization: Bearer <token>".
  void SetBearerToken(const std::string& token);

  absl::StatusOr<ApiResponse> Call(std::string_view method, const std::string& path,
                                   const std::optional<nlohmann::json>& body = std::nullopt);
  // A GET whose reply is returned as it came (the bytes of /v1/state, a backup); the error message
  // of an HTTP error is in `message`.
  struct RawResponse {
    int status = 0;
    std::string body;
    std::string message;
  };
  absl::StatusOr<RawResponse> GetRaw(const std::string& path);
  // How long a reply may take (a capture waits for its packets); 30 s unless set.
  void SetReadTimeout(time_t seconds);

 private:
  std::string server_text_;
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace privlink::control
