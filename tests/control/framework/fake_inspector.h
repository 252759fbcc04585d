// A dataplane inspector without a dataplane, for the API tests: it remembers the last flow query
// and capture request it was handed, answers "missing" as an endpoint that does not exist, and
// otherwise replies with what the daemon's inspector replies for an empty flow table and an
// empty capture (dataplane/daemon/inspect.cc), field for field, so the OpenAPI contract check
// holds it to the same schemas.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "control/api/dataplane_inspector.h"

namespace privlink::control::testing {

class FakeInspector final : public DataplaneInspector {
 public:
  absl::StatusOr<nlohmann::json> Flows(const FlowQuery& q) const override {
    last_query = q;
    if (q.endpoint == "missing") return absl::NotFoundError("private endpoint 'missing' not found");
    return nlohmann::json{{"value", nlohmann::json::array()}, {"truncated", false}};
  }
  absl::StatusOr<nlohmann::json> FlowCount(const FlowQuery& q) const override {
    last_query = q;
    nlohmann::json by_state = nlohmann::json::object();
    for (const char* state : {"SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_FROM_CLIENT",
                              "FIN_FROM_SERVER", "CLOSING", "RESET", "UDP"}) {
      by_state[state] = 0;
    }
    return nlohmann::json{{"total", 0}, {"byState", by_state}};
  }
  absl::StatusOr<CaptureResult> Capture(const CaptureRequest& r) override {
    last_capture = r;
    // A pcapng section header block's first bytes stand for the file.
    return CaptureResult{std::string("\x0a\x0d\x0d\x0a\x00\xff", 6),
                         nlohmann::json{{"port", r.port},
                                        {"direction", r.direction},
                                        {"packets", 0},
                                        {"skipped", 0},
                                        {"timedOut", true},
                                        {"truncated", false}}};
  }

  mutable FlowQuery last_query;
  CaptureRequest last_capture;
};

}  // namespace privlink::control::testing
