// The model as store rows: one row per network, private link service, connection (as the
// service records it) and private endpoint, each holding the resource's JSON document as
// json_codec.h encodes stored state (kState: read-only fields included; a service's connections and
// an endpoint's connection status are left out, the connection rows hold them), plus one row for
// the id cursors. A change writes only the rows whose resource it changed.
#pragma once

#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "control/model/model.h"
#include "control/store/store.h"

namespace privlink::control {

inline constexpr std::string_view kNetworkRows = "networks";
inline constexpr std::string_view kServiceRows = "privateLinkServices";
inline constexpr std::string_view kEndpointRows = "privateEndpoints";
// One row per connection a service records, named "<service>/<endpoint>".
inline constexpr std::string_view kConnectionRows = "privateEndpointConnections";
// Rows about the model as a whole: the id cursors.
inline constexpr std::string_view kModelRows = "model";
inline constexpr std::string_view kCursorsRow = "idCursors";  // a row of kModelRows

// Every row of `model` (a first commit, a migration).
std::vector<RowOp> EncodeModelRows(const Model& model);
// The puts and deletes that turn the rows of `before` into those of `after`: one per resource
// that differs, none for the rest.
std::vector<RowOp> DiffModelRows(const Model& before, const Model& after);
// The model the rows hold, checked as a state.json is: each document by the codec and
// validation (errors name the row: "privateEndpoints['pe-1'].ip: ..."), then the whole with
// CheckModelConsistency. No rows at all is the empty model.
absl::StatusOr<Model> DecodeModelRows(const std::vector<Row>& rows);

// Checks what the workflow guarantees but a hand-edited or damaged store may break: unique ids
// and aliases, endpoints in existing networks, connections naming valid endpoint ids.
absl::Status CheckModelConsistency(const Model& model);

}  // namespace privlink::control
