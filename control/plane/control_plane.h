// The control thread's state and its one way to change it: validate the change against a copy of
// the model, compile the copy into a snapshot, commit the rows of the resources it changed to the
// store (one transaction, compare-and-set on the store's revision), then swap the model and
// publish the snapshot. Any error on the way leaves the previous model, store and snapshot
// untouched.
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
#include "control/plane/backend_health_board.h"
#include "control/snapshot/backend_health.h"
#include "control/snapshot/snapshot_builder.h"
#include "control/snapshot/snapshot_publisher.h"
#include "control/store/store.h"

namespace privlink::control {

struct ControlPlaneOptions {
  std::string region = "local";
  std::vector<std::string> consumer_ports;  // empty = network ports not checked
  // nullopt = backends' reach not checked (no dataplane ports configured); see WorkflowContext.
  std::optional<std::vector<ProviderPortReach>> provider_ports;
  uint32_t maglev_table_size = lb::kDefaultMaglevTableSize;
  uint32_t max_readers = 1;               // worker threads that will read snapshots
  uint32_t idle_timeout_override_ms = 0;  // SnapshotOptions::idle_timeout_override_ms
};

struct ControlCounters {
  uint64_t changes_accepted = 0;
  uint64_t changes_rejected = 0;
  uint64_t snapshot_generation = 0;
};

class ControlPlane final : public HealthReports {
 public:
  // Restores the model from `store` if anything was ever committed to it (it wins over `seed`; a
  // restored service with a backend no provider port reaches is refused), else applies `seed`
  // (the resources of --config) as the first change. `store` may be null (state kept in memory
  // only).
  // `uuids` must outlive the control plane.
  static absl::StatusOr<std::unique_ptr<ControlPlane>> Create(const ControlPlaneOptions& options,
                                                              std::unique_ptr<Store> store,
                                                              const ResourceDocument& seed,
                                                              UuidGenerator* uuids);

  // The current model; stays valid (and unchanged) for as long as the caller holds it.
  std::shared_ptr<const Model> model() const;

  // Runs `mutate` on a copy of the model with the workflow context, then validates, persists
  // and publishes. The whole change is refused if `mutate` fails or nothing can be saved.
  absl::Status Change(const std::function<absl::Status(Model&, const WorkflowContext&)>& mutate);

  // A consistent copy of the store (SqliteStore: a SQLite database), taken while changes go on.
  absl::StatusOr<std::string> Backup();
  // The store's revision the model is at (0 without a store).
  Revision revision() const;

  // A probe's result (HealthReports): recorded for the API; when the backend went up or down, a
  // snapshot with its Maglev share given to (or taken from) the others is published at once.
  void Report(const ProbeReport& report) override;
  const BackendHealthBoard& health() const { return health_; }

  // Where a NAT IP's flows are counted before it is removed (the dataplane); nullptr: none.
  // Must outlive its use, until it is set back to nullptr.
  void SetNatIpFlowCounts(const NatIpFlowCounts* counts);

  SnapshotPublisher& publisher() { return publisher_; }
  ControlCounters counters() const;
  const ControlPlaneOptions& options() const { return options_; }

 private:
  ControlPlane(const ControlPlaneOptions& options, std::unique_ptr<Store> store,
               UuidGenerator* uuids);
  // Builds the snapshot for `next`, commits the rows it changed, installs both. Called with
  // change_mutex_ held.
  absl::Status Commit(Model next);
  // Writes the rows that differ between the current model and `next`: one transaction, or (a
  // store whose transactions are smaller than the batch) one per chunk, in order.
  absl::Status Persist(const Model& next);
  // Publishes a snapshot of the current model with the report's backend up or down.
  void ApplyHealth(const ProbeReport& report);
  // Called with change_mutex_ held (down_backends_ is read).
  SnapshotOptions snapshot_options() const {
    return {options_.maglev_table_size, options_.consumer_ports, options_.idle_timeout_override_ms,
            &down_backends_};
  }

  const ControlPlaneOptions options_;
  WorkflowContext context_;
  std::unique_ptr<Store> store_;
  SnapshotPublisher publisher_;

  std::mutex change_mutex_;       // one change at a time
  BackendDownSet down_backends_;  // guarded by change_mutex_
  BackendHealthBoard health_;
  mutable std::mutex model_mutex_;  // guards the model_ pointer and counters_ only
  std::shared_ptr<const Model> model_;
  ControlCounters counters_;
  Revision revision_ = kEmptyRevision;
};

}  // namespace privlink::control
