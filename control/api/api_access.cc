#include "control/api/api_access.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <fstream>

#include "control/model/str_cat.h"

namespace privlink::control {
namespace {

constexpr std::string_view kBearer = "Bearer ";
constexpr std::string_view kBlanks = " \t\r\n";

}  // namespace

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  in_addr address{};
  const std::string text(host);
  return ::inet_pton(AF_INET, text.c_str(), &address) == 1 && (ntohl(address.s_addr) >> 24) == 127;
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path, std::string_view field) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) {
    return absl::InvalidArgumentError(Cat(field, ": cannot read '", path, "'"));
  }
  if ((info.st_mode & 077) != 0) {
    return absl::InvalidArgumentError(
        Cat(field, ": '", path, "' may be read by group or others (chmod 600 it)"));
  }
  std::ifstream in(path);
  std::string token;
  if (!in || !std::getline(in, token)) {
    return absl::InvalidArgumentError(Cat(field, ": cannot read '", path, "'"));
  }
  const size_t first = token.find_first_not_of(kBlanks);
  token = first == std::string::npos
              ? std::string()
              : token.substr(first, token.find_last_not_of(kBlanks) - first + 1);
  if (token.empty()) return absl::InvalidArgumentError(Cat(field, ": '", path, "' is empty"));
  return token;
}

absl::StatusOr<std::string> ResolveApiToken(const DataplaneConfig& config,
                                            const ListenAddress& address) {
  const bool remote = !address.is_unix && !IsLoopbackHost(address.host);
  if (remote && !config.api_allow_remote) {
    return absl::InvalidArgumentError(
        Cat("dataplane.api.listen: ", FormatListenAddress(address),
            " is not a loopback address; listening there needs dataplane.api.allowRemote "
            "(--allow-remote-api) and a bearer token (dataplane.api.tokenFile)"));
  }
  if (config.api_allow_remote && config.api_token_file.empty()) {
    return absl::InvalidArgumentError(
        "dataplane.api.tokenFile: required with dataplane.api.allowRemote (requests must carry "
        "a bearer token)");
  }
  if (config.api_token_file.empty()) return std::string();
  return ReadTokenFile(config.api_token_file, "dataplane.api.tokenFile");
}

bool BearerTokenMatches(std::string_view authorization, std::string_view token) {
  if (token.empty() || authorization.substr(0, kBearer.size()) != kBearer) return false;
  const std::string_view given = authorization.substr(kBearer.size());
  // No early exit on the first differing byte: the time taken says nothing about the token.
  unsigned char diff = given.size() == token.size() ? 0 : 1;
  for (size_t i = 0; i < token.size(); ++i) {
    diff |= static_cast<unsigned char>(token[i] ^ (i < given.size() ? given[i] : 0));
  }
  return diff == 0;
}

}  // namespace privlink::control
