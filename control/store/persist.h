// Crash-safe persistence of the model in the state dir.
//
// Every accepted change rewrites the whole state file (it is small): write a temp file, fsync it,
// rename it over the old one, fsync the directory. A crash at any point leaves either the old or
// the new file, never a mix, and a change is acknowledged only after its file is durable.
// A corrupt or unreadable state file stops the start with a clear message and is never
// overwritten. When a state file exists it wins over the resources of --config (those seeded the
// first start); the dataplane section always comes from the config file.
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "control/model/model.h"

namespace privlink::control {

inline constexpr std::string_view kStateFileName = "state.json";

class StateStore {
 public:
  explicit StateStore(std::string dir);

  // Creates the directory (mode 0700) if missing.
  absl::Status Prepare() const;
  // nullopt when there is no state file yet; an error (refuse to start) when it cannot be read
  // or does not hold a consistent model.
  absl::StatusOr<std::optional<Model>> Load() const;
  absl::Status Save(const Model& model) const;

  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
  std::string temp_path_;
};

// Checks what the workflow guarantees but a hand-edited or damaged file may break: unique ids and
// aliases, endpoints in existing networks, connections naming valid endpoint ids.
absl::Status CheckModelConsistency(const Model& model);

}  // namespace privlink::control
