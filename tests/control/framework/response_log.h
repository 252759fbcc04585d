// The responses the API tests receive, one JSON line each ({"method", "path", "status",
// "contentType", "body"}), appended to the file PRIVLINK_API_RESPONSE_LOG names (unset: nothing
// is written). tests/web/openapi_contract.mjs checks every line against docs/openapi.yaml, so the
// contract is held to what the tests saw the server answer: each status must be documented for
// its route and each JSON body must validate against the schema documented for it.
#pragma once

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace privlink::control::testing {

inline void LogApiResponse(std::string_view method, std::string_view path, int status,
                           std::string_view content_type, std::string_view body) {
  const char* file = std::getenv("PRIVLINK_API_RESPONSE_LOG");
  if (file == nullptr || *file == '\0' || status == 0) return;
  static std::mutex mutex;  // tests may call from several threads
  const nlohmann::json line = {{"method", method},
                               {"path", path},
                               {"status", status},
                               {"contentType", content_type},
                               {"body", body}};
  std::lock_guard<std::mutex> lock(mutex);
  std::ofstream(file, std::ios::app)
      << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
}

}  // namespace privlink::control::testing
