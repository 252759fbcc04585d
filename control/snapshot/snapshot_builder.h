// Compiles the model into an immutable Snapshot for the data path.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "control/model/model.h"
#include "control/snapshot/backend_health.h"
#include "control/snapshot/snapshot.h"

namespace privlink::control {

struct SnapshotOptions {
  uint32_t maglev_table_size = lb::kDefaultMaglevTableSize;
  // The dataplane's consumer ports in config order: positions index Snapshot's per-port arrays.
  std::vector<std::string> consumer_ports;
  // Every service's established idle timeout, closing timeout and UDP idle timeout, when not 0
  // (DataplaneConfig::test_idle_timeout_ms): tests wait seconds, not minutes, for flows to end.
  uint32_t idle_timeout_override_ms = 0;
  // Backends whose probe says down (nullptr: every backend is healthy). Only services with a
  // probe read it.
  const BackendDownSet* down_backends = nullptr;
};

// The snapshot a new one may start from, and the model it was built from.
struct PreviousBuild {
  const Snapshot* snapshot = nullptr;
  // With it, the build costs what changed: the two models' differences (CowMap::Diff) name the
  // services and endpoints to rebuild, and everything else is shared with `snapshot`. Without it,
  // every endpoint is compiled and `snapshot` only lends its unchanged services.
  const Model* model = nullptr;
  // Services whose backends' health changed since `snapshot` (the models cannot tell).
  std::span<const ServiceId> health_changed;
};

// Fails only if a Maglev table cannot be built (e.g. more backends than table slots), which the
// caller reports as an invalid change. Either way of building gives the same lookups.
absl::StatusOr<std::unique_ptr<Snapshot>> BuildSnapshot(const Model& model, uint64_t generation,
                                                        const SnapshotOptions& options,
                                                        PreviousBuild previous = {});

}  // namespace privlink::control
