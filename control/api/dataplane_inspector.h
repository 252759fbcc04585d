// What the API asks of a running dataplane beyond counters: flow listings and packet captures.
// The dataplane implements it and privlinkd's main wires it in; without a dataplane the API
// answers these requests with 503.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace privlink::control {

// Flows listed when the request names no limit, and the most it may ask for: a listing is
// built in memory and sent as one JSON document.
inline constexpr uint32_t kDefaultFlowLimit = 1000;
inline constexpr uint32_t kMaxFlowLimit = 1'000'000;

struct FlowQuery {
  std::string endpoint;  // "" = any
  std::string service;   // "" = any
  uint32_t limit = kDefaultFlowLimit;
};

// Capture bounds: what one capture may hold in memory and how long its request may wait.
inline constexpr uint32_t kMaxCapturePackets = 100'000;
inline constexpr uint32_t kMaxCaptureSnaplen = 65535;
inline constexpr uint32_t kDefaultCaptureSnaplen = 65535;
inline constexpr uint32_t kDefaultCaptureTimeoutSeconds = 10;
inline constexpr uint32_t kMaxCaptureTimeoutSeconds = 300;

struct CaptureRequest {
  std::string port;       // a dataplane port name
  std::string direction;  // "rx", "tx" or "drop"
  uint32_t count = 0;     // stop after this many packets (1 .. kMaxCapturePackets)
  uint32_t snaplen = kDefaultCaptureSnaplen;
  uint32_t timeout_seconds = kDefaultCaptureTimeoutSeconds;  // or stop after this long
};

struct CaptureResult {
  std::string pcapng;      // the file's bytes
  nlohmann::json summary;  // {"packets", "skipped", "timedOut", ...}
};

class DataplaneInspector {
 public:
  virtual ~DataplaneInspector() = default;
  // Called on API threads; none of them may pause forwarding. Errors: NotFound (unknown
  // endpoint, service or port), InvalidArgument, FailedPrecondition (a capture is running).
  virtual absl::StatusOr<nlohmann::json> Flows(const FlowQuery& query) const = 0;
  virtual absl::StatusOr<nlohmann::json> FlowCount(const FlowQuery& query) const = 0;
  virtual absl::StatusOr<CaptureResult> Capture(const CaptureRequest& request) = 0;
};

}  // namespace privlink::control
