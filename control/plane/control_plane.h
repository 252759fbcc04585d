// The control thread's state and its one way to change it: validate the change against a copy of
// the model, compile the copy into a snapshot, persist it, then swap the model and publish the
// snapshot. Any error on the way leaves the previous model, state file and snapshot untouched.
//
// Changes are serialized by a mutex (the API serves requests on a few threads; whoever holds the
// mutex is "the control thread"). Reads take a reference-counted pointer to the current model and
// never wait for a change in progress.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "control/model/model.h"
#include "control/model/uuid.h"
#include "control/model/workflow.h"
#include "control/snapshot/snapshot_builder.h"
#include "control/snapshot/snapshot_publisher.h"
#include "control/store/persist.h"

namespace privlink::control {

struct ControlPlaneOptions {
  std::string region = "local";
  std::vector<std::string> consumer_ports;  // empty = network ports not checked
  // nullopt = backends' reach not checked (no dataplane ports configured); see WorkflowContext.
  std::optional<std::vector<ProviderPortReach>> provider_ports;
  uint32_t maglev_table_size = lb::kDefaultMaglevTableSize;
  uint32_t max_readers = 1;  // worker threads that will read snapshots
};

struct ControlCounters {
  uint64_t changes_accepted = 0;
  uint64_t changes_rejected = 0;
  uint64_t snapshot_generation = 0;
};

class ControlPlane {
 public:
  // Restores the model from `store`'s state file if there is one (it wins over `seed`; a restored
  // service with a backend no provider port reaches is refused), else applies `seed` (the
  // resources of --config) as the first change. `store` may be null (state kept in memory only).
  // `uuids` must outlive the control plane.
  static absl::StatusOr<std::unique_ptr<ControlPlane>> Create(const ControlPlaneOptions& options,
                                                              std::unique_ptr<StateStore> store,
                                                              const ResourceDocument& seed,
                                                              UuidGenerator* uuids);

  // The current model; stays valid (and unchanged) for as long as the caller holds it.
  std::shared_ptr<const Model> model() const;

  // Runs `mutate` on a copy of the model with the workflow context, then validates, persists
  // and publishes. The whole change is refused if `mutate` fails or nothing can be saved.
  absl::Status Change(const std::function<absl::Status(Model&, const WorkflowContext&)>& mutate);

  SnapshotPublisher& publisher() { return publisher_; }
  ControlCounters counters() const;
  const ControlPlaneOptions& options() const { return options_; }

 private:
  ControlPlane(const ControlPlaneOptions& options, std::unique_ptr<StateStore> store,
               UuidGenerator* uuids);
  // Builds the snapshot for `next`, saves it, installs both. Called with change_mutex_ held.
  absl::Status Commit(Model next);

  const ControlPlaneOptions options_;
  WorkflowContext context_;
  std::unique_ptr<StateStore> store_;
  SnapshotPublisher publisher_;

  std::mutex change_mutex_;         // one change at a time
  mutable std::mutex model_mutex_;  // guards the model_ pointer and counters_ only
  std::shared_ptr<const Model> model_;
  ControlCounters counters_;
};

}  // namespace privlink::control
