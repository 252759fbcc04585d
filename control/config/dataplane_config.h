// The "dataplane" section of privlinkd's config file: ports, workers, table sizes, API listener,
// state dir and region. Parsed and validated here (the control side owns the file format); the
// dataplane consumes the struct. It always comes from the config file, even when the state
// database holds the resources.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "control/model/workflow.h"
#include "nat/inet.h"

namespace privlink::control {

inline constexpr std::string_view kDefaultApiListen = "127.0.0.1:9180";
inline constexpr uint32_t kDefaultWorkers = 1;
inline constexpr uint32_t kMaxWorkers = 128;                 // one RCU reader slot each
inline constexpr uint32_t kDefaultFlowTableSize = 1u << 20;  // entries; both directions count
inline constexpr uint32_t kMinFlowTableSize = 1u << 10;
inline constexpr uint32_t kMaxFlowTableSize = 1u << 28;
// A freed NAT port waits this long before reuse, so late packets of the old flow cannot be taken
// for the new one (the backend may still be in TIME_WAIT: 2 MSL = 120 s on Linux and in RFC 793).
inline constexpr uint32_t kDefaultNatPortQuarantineSeconds = 120;
inline constexpr uint32_t kMaxNatPortQuarantineSeconds = 3600;
inline constexpr uint32_t kDefaultMaglevTableSize = 65537;  // lb::kDefaultMaglevTableSize
inline constexpr uint32_t kMaxMaglevTableSize = 16777213;   // largest prime below 2^24
// Mbufs on top of what privlinkd sizes its pool for (rings, queues, held packets, caches): for a
// device that keeps packets of its own, such as net_pcap's infinite_rx holding a whole trace.
// 2^24 mbufs are about 37 GB: far past any machine this runs on, still a sane upper bound.
inline constexpr uint32_t kMaxExtraMbufs = 1u << 24;

enum class PortRole : uint8_t { kConsumer, kProvider };

struct Ipv4Prefix {
  Ipv4Be address = 0;
  uint8_t length = 0;
  bool operator==(const Ipv4Prefix&) const = default;
};

// A provider-side next hop whose MAC is configured rather than learned by ARP.
struct StaticNeighborConfig {
  Ipv4Be ip = 0;
  std::array<uint8_t, 6> mac{};
  bool operator==(const StaticNeighborConfig&) const = default;
};

// The range a port's mssClamp may take: IPv4's minimum reassembly size less 40 bytes of headers
// (RFC 879) up to a 9,000-byte jumbo frame's.
inline constexpr uint16_t kMinMssClamp = 536;
inline constexpr uint16_t kMaxMssClamp = 8960;

struct PortConfig {
  std::string name;
  PortRole role = PortRole::kConsumer;
  std::string device;                // DPDK device string, e.g. "net_af_packet0,iface=pl-cons0"
  std::optional<Ipv4Be> gateway;     // provider: next hop for backends outside `subnet`
  std::optional<Ipv4Prefix> subnet;  // provider: the on-link subnet ("192.168.10.0/24")
  std::optional<std::array<uint8_t, 6>> mac;  // overrides the device's MAC address
  // provider: host bits in `subnet` ("192.168.10.1/24") are the port's own address, the sender
  // of its ARP requests.
  std::vector<StaticNeighborConfig> static_neighbors;  // provider only
  // SYNs and SYN-ACKs forwarded through the port (arriving or leaving) announce at most this
  // MSS (dataplane/packet/tcp_mss.h); 0 = off.
  uint16_t mss_clamp = 0;
  bool operator==(const PortConfig&) const = default;
};

// dataplane.verifyTcpChecksum: which TCP segments the workers verify before using them.
enum class TcpChecksumVerification : uint8_t {
  kStateChanging,  // "stateChanging" (default): those that would create a flow or change its state
  kAll,            // "all": every segment
};

// dataplane.flowSteering: how a flow's two directions find their worker (docs/design.md).
enum class FlowSteering : uint8_t {
  kAuto,  // not written: kRssPortChoice where every port can take the RSS set-up, else kShared
  kRssPortChoice,  // "rss-port-choice": privlink programs RSS and picks NAT ports that come back
  kShared,         // "shared": the NICs' RSS as it is; return packets may reach any worker
};
std::string_view FlowSteeringName(FlowSteering steering);

struct DataplaneConfig {
  std::string region = "local";  // part of every service alias
  uint32_t workers = kDefaultWorkers;
  uint32_t flow_table_size = kDefaultFlowTableSize;
  std::string api_listen{kDefaultApiListen};  // "host:port" or "unix:/path"
  // Listening on an address other than loopback or a Unix socket must be asked for, and then
  // every request needs the bearer token read from api_token_file (control/api_access.h).
  bool api_allow_remote = false;
  std::string api_token_file;  // "" = no token (loopback or Unix socket only)
  std::string state_dir;       // "" = keep state in memory only
  std::vector<PortConfig> ports;
  uint32_t nat_port_quarantine_seconds = kDefaultNatPortQuarantineSeconds;
  uint32_t maglev_table_size = kDefaultMaglevTableSize;
  uint32_t extra_mbufs = 0;
  TcpChecksumVerification verify_tcp_checksum = TcpChecksumVerification::kStateChanging;
  FlowSteering flow_steering = FlowSteering::kAuto;
  // Not in the config file: privlinkd --test-idle-timeout-ms, for end-to-end tests that must see
  // an idle timeout in seconds (the model allows 4 minutes at least). 0 = each service's own.
  uint32_t test_idle_timeout_ms = 0;
  bool operator==(const DataplaneConfig&) const = default;
};

// Reads document["dataplane"] (absent -> defaults); errors name the field
// ("dataplane.ports[1].role").
absl::StatusOr<DataplaneConfig> DecodeDataplaneConfig(const nlohmann::json& document);
nlohmann::json EncodeDataplaneConfig(const DataplaneConfig& config);

std::vector<std::string> ConsumerPortNames(const DataplaneConfig& config);
// How the provider ports reach backends; nullopt for a config without ports (control only).
std::optional<std::vector<ProviderPortReach>> ProviderPortReaches(const DataplaneConfig& config);

absl::StatusOr<Ipv4Prefix> ParseIpv4Prefix(std::string_view text);
absl::StatusOr<std::array<uint8_t, 6>> ParseMac(std::string_view text);
std::string FormatMac(const std::array<uint8_t, 6>& mac);

}  // namespace privlink::control
