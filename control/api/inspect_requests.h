// The requests of the dataplane inspection routes, read and checked before the inspector sees
// them: GET /v1/flows and /v1/flows/count (query parameters endpoint, service, limit) and
// POST /v1/capture (a JSON body). Errors name the parameter or field and its rule.
#pragma once

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "control/api/dataplane_inspector.h"

namespace httplib {
struct Request;
}  // namespace httplib

namespace privlink::control {

// `with_limit`: /v1/flows takes limit (1 .. kMaxFlowLimit); /v1/flows/count does not.
absl::StatusOr<FlowQuery> ParseFlowQuery(const httplib::Request& req, bool with_limit);

absl::StatusOr<CaptureRequest> ParseCaptureRequest(const nlohmann::json& body);

}  // namespace privlink::control
