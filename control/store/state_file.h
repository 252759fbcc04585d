// The state file of earlier releases (<stateDir>/state.json: the whole model as one JSON
// document, json_codec.h's EncodeState). Read once, when SqliteStore migrates it into its
// database; never written.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "control/model/model.h"

namespace privlink::control {

inline constexpr std::string_view kStateFileName = "state.json";

// The model `path` holds, checked as a database's rows are (DecodeState, then
// CheckModelConsistency). kDataLoss naming the file when it cannot be read or used.
absl::StatusOr<Model> ReadStateFile(const std::string& path);

}  // namespace privlink::control
