#include "control/api/listen_address.h"

#include "control/model/str_cat.h"

namespace privlink::control {

absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view text) {
  ListenAddress address;
  if (text.starts_with("unix:")) text.remove_prefix(5);
  if (text.starts_with("/")) {
    address.is_unix = true;
    address.path = std::string(text);
    return address;
  }
  const size_t colon = text.rfind(':');
  const std::string_view port = colon == std::string_view::npos ? "" : text.substr(colon + 1);
  if (colon == 0 || port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string_view::npos ||
      std::stoi(std::string(port)) > 65535) {
    return absl::InvalidArgumentError(
        Cat("invalid address '", text, "' (want host:port, unix:/path or /path)"));
  }
  address.host = std::string(text.substr(0, colon));
  address.port = std::stoi(std::string(port));
  return address;
}

std::string FormatListenAddress(const ListenAddress& address) {
  return address.is_unix ? Cat("unix:", address.path) : Cat(address.host, ":", address.port);
}

}  // namespace privlink::control
