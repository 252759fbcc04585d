#include "control/api/api_access.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <vector>

#include "control/model/str_cat.h"

namespace privlink::control {
namespace {

constexpr std::string_view kBearer = "Bearer ";
constexpr std::string_view kBlanks = " \t\r\n";
constexpr int kHttpPort = 80;
constexpr int kHttpsPort = 443;
constexpr std::string_view kCrossSiteRule =
    "PUT, POST, DELETE and PATCH requests from another site are refused (cross-site request "
    "forgery protection)";
constexpr std::string_view kRebindingRule =
    "requests naming another host are refused (DNS rebinding protection)";

std::string_view TrimBlanks(std::string_view text) {
  const size_t first = text.find_first_not_of(kBlanks);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kBlanks) - first + 1);
}

// A host as a Host header or an Origin carries it: lower case, an IPv6 address without brackets.
struct Authority {
  std::string host;
  std::optional<int> port;
};

// "host", "host:port", "[v6]" or "[v6]:port"; nullopt if it is none of them.
std::optional<Authority> ParseAuthority(std::string_view text) {
  Authority out;
  std::string_view port;
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = AsciiLower(text.substr(1, close - 1));
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (!rest.starts_with(':')) return std::nullopt;
      port = rest.substr(1);
      if (port.empty()) return std::nullopt;
    }
  } else {
    const size_t colon = text.find(':');
    if (colon != std::string_view::npos) {
      if (text.find(':', colon + 1) != std::string_view::npos) return std::nullopt;
      port = text.substr(colon + 1);
      if (port.empty()) return std::nullopt;
    }
    out.host = AsciiLower(text.substr(0, colon));
  }
  if (out.host.empty() || out.host.find_first_of(" \t/@\\[]") != std::string::npos) {
    return std::nullopt;
  }
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) {
      return std::nullopt;
    }
    const int value = std::stoi(std::string(port));
    if (value < 1 || value > 65535) return std::nullopt;
    out.port = value;
  }
  return out;
}

// The 4 or 16 bytes of an IP address literal; empty if `host` is not one.
std::string IpBytes(const std::string& host) {
  unsigned char bytes[16];
  if (::inet_pton(AF_INET, host.c_str(), bytes) == 1) return std::string(bytes, bytes + 4);
  if (::inet_pton(AF_INET6, host.c_str(), bytes) == 1) return std::string(bytes, bytes + 16);
  return {};
}

// Two hosts are the same if they are the same name or the same address, however written.
bool SameHost(const std::string& a, const std::string& b) {
  if (a == b) return true;
  const std::string ip = IpBytes(a);
  return !ip.empty() && ip == IpBytes(b);
}

std::string WithPort(const std::string& host, int port) {
  return host.find(':') != std::string::npos ? Cat("[", host, "]:", port) : Cat(host, ":", port);
}

// The listener's host as Authority::host writes hosts.
std::string ListenerHost(const ListenAddress& listener) {
  std::string_view host = listener.host;
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  return AsciiLower(host);
}

bool IsWildcard(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::";
}

// What a Host header may say for `listener`, for the refusal's message.
std::string AllowedHosts(const ListenAddress& listener) {
  const std::string host = ListenerHost(listener);
  std::vector<std::string> allowed;
  if (!IpBytes(host).empty()) {
    allowed.push_back(host.find(':') != std::string::npos ? Cat("[", host, "]") : host);
  }
  allowed.push_back(WithPort(host, listener.port));
  if (IsLoopbackHost(host)) {
    for (const char* name : {"localhost", "127.0.0.1", "::1"}) {
      if (!SameHost(name, host)) allowed.push_back(WithPort(name, listener.port));
    }
  }
  std::string text;
  for (size_t i = 0; i < allowed.size(); ++i) {
    text += Cat(i == 0 ? "" : i + 1 == allowed.size() ? " or " : ", ", allowed[i]);
  }
  return text;
}

bool HostNamesListener(const ListenAddress& listener, const Authority& given) {
  const std::string host = ListenerHost(listener);
  const int port = given.port.value_or(kHttpPort);
  // The address as bound: an IP address cannot be rebound, so its port may be left out.
  if (SameHost(given.host, host) &&
      (port == listener.port || (!given.port && !IpBytes(host).empty()))) {
    return true;
  }
  if (!IsLoopbackHost(host) || port != listener.port) return false;
  return given.host == "localhost" || SameHost(given.host, "127.0.0.1") ||
         SameHost(given.host, "::1");
}

// An Origin header's host and port (default by scheme); nullopt for "null" and anything that is
// not an http or https origin.
std::optional<Authority> ParseOrigin(std::string_view origin) {
  const std::string lower = AsciiLower(origin);
  int default_port = 0;
  std::string_view rest = origin;
  if (lower.starts_with("http://")) {
    default_port = kHttpPort;
    rest.remove_prefix(7);
  } else if (lower.starts_with("https://")) {
    default_port = kHttpsPort;
    rest.remove_prefix(8);
  } else {
    return std::nullopt;
  }
  std::optional<Authority> authority = ParseAuthority(rest);
  if (authority && !authority->port) authority->port = default_port;
  return authority;
}

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

bool IsStateChanging(std::string_view method) {
  return method == "PUT" || method == "POST" || method == "DELETE" || method == "PATCH";
}

absl::Status CheckBrowserRules(const ListenAddress& listener, const BrowserHeaders& request) {
  if (!listener.is_unix && !IsWildcard(ListenerHost(listener))) {
    if (!request.host) {
      return absl::PermissionDeniedError(
          Cat("Host: missing; this API answers to ", AllowedHosts(listener), "; ", kRebindingRule));
    }
    const std::optional<Authority> given = ParseAuthority(TrimBlanks(*request.host));
    if (!given || !HostNamesListener(listener, *given)) {
      return absl::PermissionDeniedError(Cat("Host: '", *request.host,
                                             "' is not this API's address (it answers to ",
                                             AllowedHosts(listener), "); ", kRebindingRule));
    }
  }
  if (!IsStateChanging(request.method)) return absl::OkStatus();
  if (request.sec_fetch_site && AsciiLower(TrimBlanks(*request.sec_fetch_site)) == "cross-site") {
    return absl::PermissionDeniedError(Cat("Sec-Fetch-Site: '", *request.sec_fetch_site,
                                           "' (the browser says another site sent "
                                           "it); ",
                                           kCrossSiteRule));
  }
  if (request.origin) {
    const std::optional<Authority> origin = ParseOrigin(TrimBlanks(*request.origin));
    const std::optional<Authority> host =
        request.host ? ParseAuthority(TrimBlanks(*request.host)) : std::nullopt;
    const bool same = origin && host && SameHost(origin->host, host->host) &&
                      *origin->port == host->port.value_or(kHttpPort);
    if (!same) {
      return absl::PermissionDeniedError(
          Cat("Origin: '", *request.origin, "' is not the address this request was sent to (",
              request.host ? Cat("Host: '", *request.host, "'") : std::string("no Host header"),
              "); ", kCrossSiteRule));
    }
  }
  return absl::OkStatus();
}

}  // namespace privlink::control
