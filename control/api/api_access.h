// Who may use the REST API. By default it listens on loopback or on a Unix socket (mode 0600)
// only; any other address must be asked for (dataplane.api.allowRemote, or privlinkd
// --allow-remote-api) and then needs a bearer token (dataplane.api.tokenFile, or
// --api-token-file): requests without "Authorization: Bearer <token>" get 401. A token file
// may also be given on loopback, and then applies there too.
//
// Browser rules, because a web page the user opens can send requests to a loopback API: a request
// whose Host header does not name the listener (DNS rebinding) is refused, whatever its method;
// a state-changing request (PUT, POST, DELETE, PATCH) that a browser marks as coming from
// another site (Sec-Fetch-Site: cross-site, or an Origin other than the address it was sent to)
// is refused. Requests without Origin and Sec-Fetch-Site (curl, privlinkctl) pass those rules.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "control/api/listen_address.h"
#include "control/config/dataplane_config.h"

namespace privlink::control {

// 127.0.0.0/8, "localhost" and "::1".
bool IsLoopbackHost(std::string_view host);

// The token requests must carry ("" = none needed). Errors name the field: a non-loopback
// address without allowRemote, allowRemote without a token file, a token file that cannot be
// read, is empty, or can be read by group or others.
absl::StatusOr<std::string> ResolveApiToken(const DataplaneConfig& config,
                                            const ListenAddress& address);

// Reads a token file: its first line without surrounding blanks; the file must be private to its
// owner (no group or other permission bits).
absl::StatusOr<std::string> ReadTokenFile(const std::string& path, std::string_view field);

// Whether an Authorization header value carries `token` (constant time in the token's length).
bool BearerTokenMatches(std::string_view authorization, std::string_view token);

// PUT, POST, DELETE and PATCH.
bool IsStateChanging(std::string_view method);

// The headers the browser rules read; nullopt = the header is absent.
struct BrowserHeaders {
  std::string_view method;
  std::optional<std::string_view> host;
  std::optional<std::string_view> origin;
  std::optional<std::string_view> sec_fetch_site;
};

// The browser rules for a request that reached `listener` (a TCP listener with its bound port,
// or a Unix socket). OK, or PermissionDenied (HTTP 403) naming the header and the rule:
//  - Host (TCP listeners bound to one address): must name the listener: its address as bound
//    (with or without the port), or for a loopback listener also localhost, 127.0.0.1 or [::1]
//    with the listener's port. Not checked on a Unix socket, nor on a wildcard listener
//    (0.0.0.0, ::), which needs a bearer token and cannot know every name the host has.
//  - Sec-Fetch-Site: cross-site refuses a state-changing request.
//  - Origin, on a state-changing request: its host and port (80 for http, 443 for https when
//    none is given) must be those of the Host header the request carries.
absl::Status CheckBrowserRules(const ListenAddress& listener, const BrowserHeaders& request);

}  // namespace privlink::control
