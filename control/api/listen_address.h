// Where the API listens or the CLI connects: "host:port" (TCP) or a Unix socket path, written
// "unix:/run/privlink.sock" or just "/run/privlink.sock".
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace privlink::control {

struct ListenAddress {
  bool is_unix = false;
  std::string host;  // TCP
  int port = 0;      // TCP; 0 = any free port (tests)
  std::string path;  // Unix socket
};

absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view text);
std::string FormatListenAddress(const ListenAddress& address);

}  // namespace privlink::control
