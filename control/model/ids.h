// The numeric ids the control plane assigns and the dataplane keys flows and counters by, and the
// teardown policy both sides must agree on. Shared by the model and the snapshot.
#pragma once

#include <cstdint>

#include "nat/flow_key.h"

namespace privlink::control {

// Stable ids, assigned by the control plane and persisted: a restart must not renumber anything.
// 0 means "none" for all three.
using NetworkId = nat::NetworkId;
using ServiceId = uint16_t;
using EndpointId = uint32_t;
inline constexpr NetworkId kNoNetwork = 0;
inline constexpr ServiceId kNoService = 0;
inline constexpr EndpointId kNoEndpoint = 0;

// Id spaces. Ids are handed out by a cursor that moves forward and wraps, skipping ids in use, so
// a deleted resource's id is reused as late as possible (a stale flow never meets a new owner).
// Network ids stay below nat::kMaxConsumerNetworks (0xfffe and 0xffff are the provider side's).
inline constexpr uint32_t kNetworkIdLimit = nat::kMaxConsumerNetworks;  // ids 1 .. 0xfffd
inline constexpr uint32_t kServiceIdLimit = 0xffff;                     // ids 1 .. 0xfffe
// Endpoint ids index a dense per-packet table in the snapshot; 2^16 keeps it small while being
// far above the endpoints one daemon serves.
inline constexpr uint32_t kEndpointIdLimit = 1u << 16;  // ids 1 .. 65535

// A private endpoint's LinkID: the 32-bit number that names it to the provider (in the PROXY
// protocol v2 header's Azure TLV, and as `linkIdentifier`). Given at creation from a persisted
// cursor, in Azure's range (its LinkIDs read like 0x20000000 + n); never changes afterwards.
inline constexpr uint32_t kFirstLinkId = 0x20000000;
// LinkIDs of endpoints stored before LinkIDs existed: derived from the endpoint's id, in a range
// the cursor never reaches first.
inline constexpr uint32_t kRestoredLinkIdBase = 0x10000000;

// What happens to established flows when a connection stops carrying traffic (rejected, deleted,
// or its endpoint deleted). `reset` (default) sends a TCP RST to both sides at once, so clients
// fail fast instead of hanging on a silent peer; `drain` lets existing flows run to their end
// (FIN or idle timeout) while refusing new ones. A per-service setting ("connectionTeardown"):
// the provider decides how its service ends connections.
enum class TeardownPolicy : uint8_t { kReset = 0, kDrain = 1 };

// A health probe's kind: `tcp` passes on a SYN-ACK; `http` completes the handshake, sends a GET
// and passes on a 2xx or 3xx status line.
enum class ProbeProtocol : uint8_t { kTcp = 0, kHttp = 1 };
// A load-balancing rule's transport: the values are the IPv4 protocol numbers the dataplane keys
// flows by (nat::kIpProtoTcp, kIpProtoUdp).
enum class RuleProtocol : uint8_t { kTcp = 6, kUdp = 17 };
// What a backend's established flows do when its probe marks it down: `keep` (Azure's behaviour:
// they run on, only new flows avoid it) or `reset` (a RST to both ends).
enum class ProbeDownAction : uint8_t { kKeep = 0, kReset = 1 };

}  // namespace privlink::control
