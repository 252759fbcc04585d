// privlink-tracegen's engine: realistic traces for a config. Clients of one private endpoint
// open connections (handshake, request, response, FIN or RST close) and the service's backends
// answer as real backends would: to the NAT ip:port privlink chose. To know that tuple the
// generator runs the very dataplane replay runs (dataplane::ReplayPipeline) on the frames it
// writes, in time order, so replaying the two pcaps reproduces the same translations.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "control/config/daemon_config.h"
#include "nat/inet.h"

namespace privlink::trace {

enum class CloseMode : uint8_t { kFin, kRst, kMixed };  // mixed: every fourth connection resets

struct TracegenOptions {
  std::string endpoint;  // private endpoint name; "" = the first one with a rule
  uint32_t clients = 10;
  uint32_t connections_per_client = 1;
  uint32_t request_bytes = 200;
  uint32_t response_bytes = 2000;
  uint16_t mss = 1460;
  CloseMode close = CloseMode::kFin;
  uint32_t step_ms = 1;        // between one segment of a connection and its next
  uint32_t interval_ms = 5;    // between the starts of two connections
  Ipv4Be first_client_ip = 0;  // 0: the endpoint's IP with the last byte 2 (then 3, ...)
  uint64_t start_time_us = 1'700'000'000'000'000;  // a fixed epoch: traces are reproducible
  uint32_t seed = 1;                               // initial sequence numbers
};

struct TracegenResult {
  uint64_t connections = 0;
  uint64_t connections_refused = 0;  // the dataplane did not forward their SYN
  uint64_t consumer_frames = 0;
  uint64_t provider_frames = 0;
  std::string endpoint;       // the endpoint the clients connect to
  std::string consumer_port;  // where the consumer-side frames enter (replay's --consumer-port)
  std::string provider_port;
};

// A frame for the consumer-side or provider-side pcap, in time order per side.
using TraceSink = std::function<void(std::span<const uint8_t> frame, uint64_t time_us)>;

// The EAL must be initialised (dataplane::InitReplayEal). Errors: no such endpoint, an endpoint
// without a rule or backend, a pipeline that cannot be built.
absl::StatusOr<TracegenResult> GenerateTrace(const control::DaemonConfig& config,
                                             const TracegenOptions& options,
                                             const TraceSink& consumer, const TraceSink& provider);

}  // namespace privlink::trace
