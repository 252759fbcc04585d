#include "dataplane/daemon/dataplane.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "dataplane/assembly/port_setup.h"
#include "dataplane/daemon/ports.h"
#include "dataplane/worker/worker_loop.h"

namespace privlink::dataplane {
namespace {

using nlohmann::json;

struct WorkerLaunch {
  Dataplane* dataplane;
  Worker* worker;
};

// Every RX and TX ring full, each worker's TX queues full, the rings to and from the control
// thread full, held packets, the lcore caches, and what the config adds (dataplane.extraMbufs).
unsigned PoolSize(size_t ports, uint32_t workers, uint32_t extra) {
  const size_t mbufs = ports * workers * (kRxDescriptors + kTxDescriptors) +
                       size_t{workers} * (ports * kTxQueueCapacity + kRxBurst) +
                       kToControlRingSize + kFromControlRingSize + kDefaultMaxHeldTotal * ports +
                       size_t{workers + 1} * kMbufCacheSize + 1024 + extra;
  return static_cast<unsigned>(mbufs);
}

absl::Status CheckConfig(const control::DataplaneConfig& config) {
  if (absl::Status s = CheckPorts(config); !s.ok()) return s;
  const unsigned worker_lcores = rte_lcore_count() - 1;
  if (config.workers > worker_lcores) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataplane.workers is ", config.workers, " but the EAL has ", worker_lcores,
                     " worker lcores (give it more with -l, e.g. -l 0-", config.workers, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Dataplane>> Dataplane::Start(const control::DataplaneConfig& config,
                                                            control::SnapshotPublisher& publisher,
                                                            const DataplaneOptions& options) {
  if (absl::Status s = CheckConfig(config); !s.ok()) return s;
  auto providers = ProviderSetups(config);
  if (!providers.ok()) return providers.status();
  const uint32_t workers = config.workers;
  if (publisher.max_readers() < workers + control::kDataplaneExtraReaders) {
    return absl::InternalError("snapshot publisher has too few reader slots");
  }

  std::unique_ptr<Dataplane> d(new Dataplane());
  d->publisher_ = &publisher;
  const int socket = static_cast<int>(rte_socket_id());
  auto capture = PacketCapture::Create("privlink_capture", socket);
  if (!capture.ok()) return capture.status();
  d->capture_ = std::move(*capture);
  d->controller_capture_tap_ = {&Dataplane::CaptureControllerDrop, d.get()};
  if (!options.audit_log_path.empty()) {
    auto audit = AuditLog::Create(options.audit_log_path, "privlink_audit", workers, socket);
    if (!audit.ok()) return audit.status();
    d->audit_ = std::move(*audit);
  }

  // One flow-table reader for the API's listings, after the workers'.
  PartsOptions parts{.name_prefix = "privlink_",
                     .workers = workers,
                     .flow_capacity = config.flow_table_size / 2,
                     .flow_readers = 1,
                     .pool_size = PoolSize(config.ports.size(), workers, config.extra_mbufs),
                     .socket = socket,
                     .nat_quarantine_ms = config.nat_port_quarantine_seconds * 1000,
                     .idle_sleep_us = options.idle_sleep_us,
                     .verify_all_tcp_checksums =
                         config.verify_tcp_checksum == control::TcpChecksumVerification::kAll,
                     .clock = &d->clock_,
                     .controller = std::move(*providers),
                     .health_reports = options.health_reports};
  // What open opened, for close (called from the parts' destructor, long after Start).
  auto opened = std::make_shared<std::vector<PortInfo>>();
  PortDriver driver{
      .open = [&config, workers, opened](rte_mempool* pool) -> absl::StatusOr<OpenedPorts> {
        auto ports = OpenPorts(config, static_cast<uint16_t>(workers), pool);
        if (ports.ok()) *opened = ports->ports;
        return ports;
      },
      .close = [opened] { ClosePorts(*opened); }};
  auto built = DataplaneParts::Create(std::move(parts), std::move(driver), publisher);
  if (!built.ok()) return built.status();
  d->parts_ = std::move(*built);
  DataplaneParts& p = *d->parts_;
  p.shared().capture = d->capture_.get();
  if (d->audit_) {
    for (uint32_t w = 0; w < workers; ++w) p.worker(w).audit = d->audit_->ring(w);
  }

  auto stats_reader = publisher.RegisterReader(workers + 1);
  if (!stats_reader.ok()) return stats_reader.status();
  d->stats_reader_ = *stats_reader;
  d->stats_reader_->Offline();  // online only while a stats request reads names
  d->drop_warnings_ = std::make_unique<DropWarnings>(d->clock_);

  unsigned lcore = 0;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    if (d->worker_lcores_.size() == workers) break;
    d->worker_lcores_.push_back(lcore);
  }
  d->launched_ = true;
  for (uint32_t w = 0; w < workers; ++w) {
    auto* launch = new WorkerLaunch{d.get(), &p.worker(w)};
    if (rte_eal_remote_launch(&Dataplane::WorkerMain, launch, d->worker_lcores_[w]) != 0) {
      delete launch;
      d->Stop();
      return absl::InternalError(
          absl::StrCat("cannot launch worker ", w, " on lcore ", d->worker_lcores_[w]));
    }
  }
  return d;
}

std::string Dataplane::steering() const {
  if (!parts_) return "";
  if (!parts_->steering_note().empty()) return parts_->steering_note();
  return parts_->shared().rss_port_choice ? "flowSteering rss-port-choice" : "flowSteering shared";
}

int Dataplane::WorkerMain(void* arg) {
  std::unique_ptr<WorkerLaunch> launch(static_cast<WorkerLaunch*>(arg));
  Dataplane& d = *launch->dataplane;
  Worker& w = *launch->worker;
  // Registered with every RCU domain from the worker's own thread, before the first read.
  if (!d.parts_->RegisterWorker(w).ok()) return -1;
  RunWorker(w, d.stop_);
  d.parts_->UnregisterWorker(w);
  return 0;
}

uint32_t Dataplane::Poll() {
  uint32_t handled = 0;
  if (parts_ && parts_->controller() != nullptr) {
    // The control thread's own drops (ARP, held packets) go into a drop capture too.
    controller_capture_ = capture_->filter();
    parts_->controller()->set_drop_tap(controller_capture_.direction == CaptureDirection::kDrop
                                           ? &controller_capture_tap_
                                           : nullptr);
    handled += parts_->controller()->Poll();
    handled += capture_->Drain();
    // The controller's snapshot stays valid until its next round reports quiescence.
    if (audit_) handled += audit_->Drain(*parts_->controller_reader().Current());
  }
  if (parts_ && drop_warnings_ && clock_.NowMs() >= next_drop_check_ms_) {
    drop_warnings_->Observe(DropTotals());
    next_drop_check_ms_ = clock_.NowMs() + kDropCheckIntervalMs;
  }
  return handled;
}

void Dataplane::CaptureControllerDrop(void* context, const rte_mbuf* m, DropReason reason) {
  Dataplane& d = *static_cast<Dataplane*>(context);
  // Frames handed to the control thread carry the port index in m->port.
  if (m->port != d.controller_capture_.port) return;
  rte_mbuf* frame = const_cast<rte_mbuf*>(m);
  d.capture_->Copy(d.controller_capture_, &frame, 1, reason);
}

void Dataplane::Stop() {
  if (stopped_) return;
  stopped_ = true;
  stop_.store(true, std::memory_order_relaxed);
  if (launched_) {
    for (unsigned lcore : worker_lcores_) rte_eal_wait_lcore(lcore);
  }
  // Workers are gone: what they queued for the audit log is written, then the parts drain and
  // go (their ports closed before their pool), under the lock the API's readers take.
  if (parts_ && audit_ && parts_->controller() != nullptr) {
    audit_->Drain(*parts_->controller_reader().Current());
  }
  std::lock_guard<std::mutex> lock(stats_mutex_);
  if (stats_reader_) {
    publisher_->UnregisterReader(*stats_reader_);
    stats_reader_.reset();
  }
  parts_.reset();
  audit_.reset();
  capture_.reset();
}

Dataplane::~Dataplane() {
  Stop();
}

}  // namespace privlink::dataplane
