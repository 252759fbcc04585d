// Field-level validation of one resource on its own: syntax, ranges, counts, duplicates within
// the resource. Rules that relate resources to each other (a NAT IP used by two services, an
// endpoint IP taken in its network, ...) live in the workflow, which sees the whole model.
//
// Every error is InvalidArgument with a message that starts with the field's path, e.g.
// "privateLinkServices[0].natIps[2]: invalid IPv4 address '1.2.3'". `prefix` is prepended to the
// field names ("" for an API body, "privateLinkServices[0]." inside a config document).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "control/model/model.h"

namespace privlink::control {

// Azure's limit for resource names; names also appear in URLs and aliases.
inline constexpr size_t kMaxNameLength = 80;
inline constexpr size_t kMaxSubscriptionLength = 128;
inline constexpr size_t kMaxNatIps = 8;  // as in Azure
// Maglev wants its table (65537 slots by default) far larger than the backend count.
inline constexpr size_t kMaxBackends = 256;
inline constexpr uint32_t kMinBackendWeight = 1;
inline constexpr uint32_t kMaxBackendWeight = 100;
inline constexpr size_t kMaxLoadBalancingRules = 64;
inline constexpr size_t kMaxSubscriptionsInList = 256;
inline constexpr size_t kMaxFqdns = 32;
inline constexpr size_t kMaxFqdnLength = 253;            // RFC 1035
inline constexpr size_t kMaxRequestMessageLength = 140;  // as in Azure
inline constexpr uint16_t kMaxVlan = 4094;
inline constexpr uint32_t kMinVni = 1;  // RFC 7348: a 24-bit VXLAN network identifier
inline constexpr uint32_t kMaxVni = (1u << 24) - 1;
inline constexpr uint32_t kMinPort = 1;
inline constexpr uint32_t kMaxPort = 65535;
// Idle timeout range: Azure's default of 4 minutes up to the 124 minutes RFC 5382 (REQ-5) asks
// a NAT to allow for established TCP connections.
inline constexpr uint32_t kMinIdleTimeoutMinutes = 4;
inline constexpr uint32_t kMaxIdleTimeoutMinutes = 124;
// UDP idle timeout: at least the 2 minutes RFC 4787 REQ-5 requires of a NAT's UDP mappings, at
// most a day (nat::kMaxTimeoutMs).
inline constexpr uint32_t kMinUdpIdleTimeoutSeconds = 120;
inline constexpr uint32_t kMaxUdpIdleTimeoutSeconds = 86'400;
inline constexpr std::string_view kVisibleToAll = "*";
// Probe limits: at least a second apart, at most five minutes; thresholds as Azure allows them;
// a path a request line can carry.
inline constexpr uint32_t kMinProbeIntervalSeconds = 1;
inline constexpr uint32_t kMaxProbeIntervalSeconds = 300;
inline constexpr uint32_t kMinProbeThreshold = 1;
inline constexpr uint32_t kMaxProbeThreshold = 100;
inline constexpr size_t kMaxProbePathLength = 255;

// InvalidArgument("<field>: <message>").
absl::Status FieldError(std::string_view field, std::string_view message);
// Same, with another status code (NotFound, FailedPrecondition for 409, ...).
absl::Status FieldError(absl::StatusCode code, std::string_view field, std::string_view message);

// Letters, digits, '.', '_', '-'; starts with a letter or digit; 1..kMaxNameLength.
absl::Status ValidateName(std::string_view field, std::string_view name);
absl::Status ValidateSubscription(std::string_view field, std::string_view subscription);
// Rejects 0.0.0.0, 255.255.255.255, loopback and multicast: none can be a real peer.
absl::Status ValidateUnicastIpv4(std::string_view field, Ipv4Be ip);

absl::Status ValidateNetwork(const Network& network, std::string_view prefix);
absl::Status ValidateService(const PrivateLinkService& service, std::string_view prefix);
absl::Status ValidateEndpoint(const PrivateEndpoint& endpoint, std::string_view prefix);

}  // namespace privlink::control
