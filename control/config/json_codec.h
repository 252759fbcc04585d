// The model <-> JSON, with the field names of the reference config (issue 3), shared by API
// bodies, config documents, the state database's rows (store/model_rows.h) and the state.json
// of earlier releases.
//
// Requests (kRequest): read-only fields (id, alias, provisioningState, connection details) are
// accepted and ignored, so the result of a GET can be sent back; connection entries on a service
// are the provider's desired statuses. Stored state (kState): read-only fields are required and
// restored exactly. In both, unknown fields and wrong types are errors naming the field.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "control/model/model.h"
#include "control/model/workflow.h"

namespace privlink::control {

enum class DecodeMode { kRequest, kState };

// `prefix` names the object in errors: "" for an API body, "networks[0]." in a document.
absl::StatusOr<Network> DecodeNetwork(const nlohmann::json& value, std::string_view prefix,
                                      DecodeMode mode);
// In kState mode the connections are returned in service.connections; in kRequest mode as
// requests.
absl::StatusOr<ServiceRequest> DecodeService(const nlohmann::json& value, std::string_view prefix,
                                             DecodeMode mode);
absl::StatusOr<PrivateEndpoint> DecodeEndpoint(const nlohmann::json& value, std::string_view prefix,
                                               DecodeMode mode);
// Body of POST .../approve and .../reject: {"description": "..."} (optional; empty body ok).
absl::StatusOr<std::string> DecodeConnectionActionDescription(const nlohmann::json& value);

// The resource lists of a config document or apply body. A "dataplane" section is skipped here;
// DecodeDataplaneConfig (dataplane_config.h) reads it.
absl::StatusOr<ResourceDocument> DecodeResourceDocument(const nlohmann::json& document);

nlohmann::json EncodeNetwork(const Network& network);
nlohmann::json EncodeService(const PrivateLinkService& service);
nlohmann::json EncodeConnection(const Connection& connection);
nlohmann::json EncodeEndpoint(const Model& model, const PrivateEndpoint& endpoint);
// {"networks": [...], "privateLinkServices": [...], "privateEndpoints": [...]}: also a valid
// apply document.
nlohmann::json EncodeResources(const Model& model);

// The state file: EncodeResources plus the id cursors and a format version.
nlohmann::json EncodeState(const Model& model);
absl::StatusOr<Model> DecodeState(const nlohmann::json& state);

}  // namespace privlink::control
