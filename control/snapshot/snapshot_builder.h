// Compiles the model into an immutable Snapshot for the data path.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "control/model/model.h"
#include "control/snapshot/snapshot.h"

namespace privlink::control {

struct SnapshotOptions {
  uint32_t maglev_table_size = lb::kDefaultMaglevTableSize;
  // The dataplane's consumer ports in config order: positions index Snapshot's per-port arrays.
  std::vector<std::string> consumer_ports;
};

// `previous` (may be null) lends its per-service entries, Maglev tables included, to services
// that did not change. Fails only if a Maglev table cannot be built (e.g. more backends than
// table slots), which the caller reports as an invalid change.
absl::StatusOr<std::unique_ptr<Snapshot>> BuildSnapshot(const Model& model, uint64_t generation,
                                                        const SnapshotOptions& options,
                                                        const Snapshot* previous);

}  // namespace privlink::control
