#include "control/plane/control_plane.h"

#include <utility>

#include "control/model/log.h"
#include "control/model/str_cat.h"
#include "control/model/utc_time.h"
#include "control/store/model_rows.h"

namespace privlink::control {

ControlPlane::ControlPlane(const ControlPlaneOptions& options, std::unique_ptr<Store> store,
                           UuidGenerator* uuids)
    : options_(options),
      store_(std::move(store)),
      publisher_(options.max_readers),
      model_(std::make_shared<const Model>()) {
  context_.region = options.region;
  context_.consumer_ports.insert(options.consumer_ports.begin(), options.consumer_ports.end());
  context_.provider_ports = options.provider_ports;
  context_.uuids = uuids;
}

absl::StatusOr<std::unique_ptr<ControlPlane>> ControlPlane::Create(
    const ControlPlaneOptions& options, std::unique_ptr<Store> store, const ResourceDocument& seed,
    UuidGenerator* uuids) {
  std::optional<Model> restored;
  Revision revision = kEmptyRevision;
  if (store != nullptr) {
    auto contents = store->Load();
    if (!contents.ok()) return contents.status();
    revision = contents->revision;
    if (revision != kEmptyRevision) {
      auto model = DecodeModelRows(contents->rows);
      if (!model.ok()) {
        return absl::DataLossError(
            Cat(store->location(), " is unusable: ", model.status().message(),
                "; refusing to start (the file is left untouched: repair it, restore a backup "
                "from privlinkctl state backup, or move it away to start from --config)"));
      }
      restored = std::move(*model);
    }
  }
  std::unique_ptr<ControlPlane> plane(new ControlPlane(options, std::move(store), uuids));
  std::lock_guard<std::mutex> lock(plane->change_mutex_);
  plane->revision_ = revision;
  if (restored) {
    if (auto s = CheckBackendsReachable(*restored, plane->context_); !s.ok()) {
      return absl::InvalidArgumentError(Cat(plane->store_->location(), ": ", s.message()));
    }
    // Written again only by the next change: the store already holds exactly this.
    auto snapshot = BuildSnapshot(*restored, 1, plane->snapshot_options());
    if (!snapshot.ok()) {
      return absl::DataLossError(
          Cat(plane->store_->location(), " cannot be compiled: ", snapshot.status().message()));
    }
    plane->model_ = std::make_shared<const Model>(std::move(*restored));
    plane->counters_.snapshot_generation = 1;
    plane->publisher_.Publish(std::move(*snapshot));
    return plane;
  }
  Model seeded;
  auto summary = ApplyDocument(seeded, seed, plane->context_);
  if (!summary.ok()) return summary.status();
  if (auto s = plane->Commit(std::move(seeded)); !s.ok()) return s;
  return plane;
}

std::shared_ptr<const Model> ControlPlane::model() const {
  std::lock_guard<std::mutex> lock(model_mutex_);
  return model_;
}

void ControlPlane::SetNatIpFlowCounts(const NatIpFlowCounts* counts) {
  std::lock_guard<std::mutex> lock(change_mutex_);  // changes read the context under it
  context_.nat_ip_flows = counts;
}

ControlCounters ControlPlane::counters() const {
  std::lock_guard<std::mutex> lock(model_mutex_);
  return counters_;
}

absl::Status ControlPlane::Change(
    const std::function<absl::Status(Model&, const WorkflowContext&)>& mutate) {
  std::lock_guard<std::mutex> lock(change_mutex_);
  const std::shared_ptr<const Model> current = model();
  Model next = *current;
  absl::Status status = mutate(next, context_);
  // An idempotent repeat (same PUT, same apply) changes nothing: no save, no new snapshot.
  if (status.ok() && next == *current) return absl::OkStatus();
  if (status.ok()) status = Commit(std::move(next));
  if (!status.ok()) {
    std::lock_guard<std::mutex> model_lock(model_mutex_);
    ++counters_.changes_rejected;
  }
  if (!status.ok()) {
    PRIVLINK_LOG(INFO, ctl, "change rejected: %.*s", static_cast<int>(status.message().size()),
                 status.message().data());
  }
  return status;
}

absl::Status ControlPlane::Commit(Model next) {
  const uint64_t generation = counters().snapshot_generation + 1;
  const std::shared_ptr<const Model> current = model();
  auto snapshot =
      BuildSnapshot(next, generation, snapshot_options(), {publisher_.latest(), current.get()});
  if (!snapshot.ok()) return snapshot.status();
  if (auto s = Persist(next); !s.ok()) {
    return absl::Status(s.code(), Cat("change not applied: cannot save state: ", s.message()));
  }
  {
    std::lock_guard<std::mutex> lock(model_mutex_);
    model_ = std::make_shared<const Model>(std::move(next));
    ++counters_.changes_accepted;
    counters_.snapshot_generation = generation;
  }
  // Health of what is no longer probed is forgotten: a backend added again starts healthy, as
  // the prober starts it.
  down_backends_.EraseIf([&](ServiceId service, Ipv4Be backend) {
    return !IsProbedBackend(**snapshot, service, backend);
  });
  health_.Prune(**snapshot);
  publisher_.Publish(std::move(*snapshot));
  PRIVLINK_LOG(INFO, ctl, "snapshot generation %lu published",
               static_cast<unsigned long>(generation));
  return absl::OkStatus();
}

void ControlPlane::Report(const ProbeReport& report) {
  if (health_.Record(report, UnixNowMs())) ApplyHealth(report);
}

void ControlPlane::ApplyHealth(const ProbeReport& report) {
  const ServiceId service = report.service;
  const Ipv4Be backend = report.backend;
  const bool up = report.up;
  std::lock_guard<std::mutex> lock(change_mutex_);
  const Snapshot* latest = publisher_.latest();  // publications take change_mutex_: it stays
  if (!IsProbedBackend(*latest, service, backend)) return;
  if (!down_backends_.Set(service, backend, !up)) return;
  const std::string name = latest->Service(service)->name;
  PRIVLINK_LOG(NOTICE, ctl, "service '%s': backend %s is %s (last probe: %s)", name.c_str(),
               FormatIpv4(backend).c_str(), up ? "up" : "down", report.result.c_str());
  const uint64_t generation = counters().snapshot_generation + 1;
  const std::shared_ptr<const Model> current = model();
  const ServiceId changed[] = {service};
  auto snapshot =
      BuildSnapshot(*current, generation, snapshot_options(),
                    {.snapshot = latest, .model = current.get(), .health_changed = changed});
  if (!snapshot.ok()) {
    // The same backends, other weights, already built once: only a broken invariant lands here.
    PRIVLINK_LOG(ERR, ctl, "service '%s': no snapshot for a health change: %.*s", name.c_str(),
                 static_cast<int>(snapshot.status().message().size()),
                 snapshot.status().message().data());
    down_backends_.Set(service, backend, up);
    return;
  }
  {
    std::lock_guard<std::mutex> model_lock(model_mutex_);
    counters_.snapshot_generation = generation;
  }
  publisher_.Publish(std::move(*snapshot));
}

absl::Status ControlPlane::Persist(const Model& next) {
  if (store_ == nullptr) return absl::OkStatus();
  const std::vector<RowOp> ops = DiffModelRows(*model(), next);
  // The first commit is made even when it holds no rows: from then on the store's state wins
  // over --config.
  if (ops.size() <= store_->max_ops_per_commit()) {
    auto revision = store_->Commit(ops, revision_);
    if (!revision.ok()) return revision.status();
    std::lock_guard<std::mutex> lock(model_mutex_);
    revision_ = *revision;
    return absl::OkStatus();
  }
  for (const std::vector<RowOp>& chunk : ChunkBatch(ops, store_->max_ops_per_commit())) {
    auto revision = store_->Commit(chunk, revision_);
    if (!revision.ok()) return revision.status();
    std::lock_guard<std::mutex> lock(model_mutex_);
    revision_ = *revision;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ControlPlane::Backup() {
  if (store_ == nullptr) {
    return absl::UnavailableError(
        "no store to back up: state is kept in memory only (no dataplane.stateDir)");
  }
  return store_->Backup();
}

Revision ControlPlane::revision() const {
  std::lock_guard<std::mutex> lock(model_mutex_);
  return revision_;
}

}  // namespace privlink::control
