#include "control/api/control_service.h"

#include "control/api/api_access.h"
#include "control/store/sqlite_store.h"

namespace privlink::control {

absl::StatusOr<std::unique_ptr<ControlService>> ControlService::Start(
    const DaemonConfig& config, const StatsSource* dataplane_stats, DataplaneInspector* inspector) {
  auto address = ParseListenAddress(config.dataplane.api_listen);
  if (!address.ok()) return address.status();
  auto token = ResolveApiToken(config.dataplane, *address);
  if (!token.ok()) return token.status();

  std::unique_ptr<ControlService> service(new ControlService());
  ControlPlaneOptions options;
  options.region = config.dataplane.region;
  options.consumer_ports = ConsumerPortNames(config.dataplane);
  options.provider_ports = ProviderPortReaches(config.dataplane);
  options.maglev_table_size = config.dataplane.maglev_table_size;
  // One snapshot reader per worker, plus the dataplane's control-thread and stats readers.
  options.max_readers = config.dataplane.workers + kDataplaneExtraReaders;
  options.idle_timeout_override_ms = config.dataplane.test_idle_timeout_ms;
  std::unique_ptr<Store> store;
  if (!config.dataplane.state_dir.empty()) {
    auto opened = SqliteStore::Open(config.dataplane.state_dir);
    if (!opened.ok()) return opened.status();
    store = std::move(*opened);
  }
  auto control =
      ControlPlane::Create(options, std::move(store), config.resources, &service->uuids_);
  if (!control.ok()) return control.status();
  service->control_ = std::move(*control);

  service->api_ = std::make_unique<ApiServer>(*service->control_, dataplane_stats, inspector);
  if (!token->empty()) service->api_->RequireBearerToken(std::move(*token));
  if (auto s = service->api_->Bind(*address); !s.ok()) return s;
  service->api_->Start();
  return service;
}

ControlService::~ControlService() {
  Stop();
}

void ControlService::Poll() {
  if (control_ != nullptr) control_->publisher().Reclaim();
}

void ControlService::Stop() {
  if (api_ != nullptr) api_->Stop();
}

}  // namespace privlink::control
