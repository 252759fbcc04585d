// Who may use the REST API. By default it listens on loopback or on a Unix socket (mode 0600)
// only; any other address must be asked for (dataplane.api.allowRemote, or privlinkd
// --allow-remote-api) and then needs a bearer token (dataplane.api.tokenFile, or
// --api-token-file): requests without "Authorization: Bearer <token>" get 401. A token file
// may also be given on loopback, and then applies there too.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "control/config/dataplane_config.h"
#include "control/api/listen_address.h"

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

}  // namespace privlink::control
