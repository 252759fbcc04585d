// The daemon's statistics (control::StatsSource): a sample over its workers and the control
// thread's counters (observe/stats_sample.h), named from the stats reader's snapshot.
#include <chrono>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"

#include "dataplane/daemon/dataplane.h"

namespace privlink::dataplane {

std::vector<const CounterSet*> Dataplane::CounterSets() const {
  std::vector<const CounterSet*> sets;
  for (uint32_t w = 0; w < parts_->worker_count(); ++w) sets.push_back(&parts_->worker(w).counters);
  if (parts_->controller() != nullptr) sets.push_back(&parts_->controller()->counters());
  return sets;
}

std::array<uint64_t, kDropReasonCount> Dataplane::DropTotals() const {
  std::array<uint64_t, kDropReasonCount> drops{};
  for (const CounterSet* s : CounterSets()) {
    for (size_t r = 0; r < kDropReasonCount; ++r) drops[r] += s->drops[r].Read();
  }
  return drops;
}

DataplaneSample Dataplane::Sample() const {
  // The lock keeps Stop from freeing the parts while they are read.
  std::lock_guard<std::mutex> lock(stats_mutex_);
  if (!parts_) return {};
  const std::vector<const CounterSet*> sets = CounterSets();
  std::vector<const Worker*> workers;
  for (uint32_t w = 0; w < parts_->worker_count(); ++w) workers.push_back(&parts_->worker(w));
  SampleInputs in{.ports = parts_->shared().ports,
                  .counter_sets = sets,
                  .workers = workers,
                  .flows = &parts_->flows(),
                  .audit = audit_.get()};
  // The stats reader is online only while it holds the snapshot.
  if (!stats_reader_) return TakeSample(in);
  stats_reader_->Online();
  in.snapshot = stats_reader_->Current();
  DataplaneSample sample = TakeSample(in);
  stats_reader_->Offline();
  return sample;
}

absl::StatusOr<uint64_t> Dataplane::FlowsOnNatIp(control::ServiceId service, size_t slot) const {
  // The caller saw the NAT IP draining in the latest snapshot, but a worker still on an older one
  // could give it to a new flow and count that flow after this read. So count once every reader
  // has passed a quiescent state since the latest publication (nothing retired is left waiting).
  const auto deadline = std::chrono::steady_clock::now() + kReadersCatchUp;
  while (publisher_->Reclaim() != 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::UnavailableError(
          "the dataplane's threads have not all moved to the latest configuration; try again");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::lock_guard<std::mutex> lock(stats_mutex_);
  if (!parts_) return absl::UnavailableError("the dataplane is stopping");
  if (slot >= nat::kMaxNatIpsPerService) {
    return absl::InvalidArgumentError(absl::StrCat("NAT IP position ", slot, " out of range"));
  }
  uint64_t flows = 0;
  for (const CounterSet* s : CounterSets()) flows += s->nat_ports[service].in_use[slot].Read();
  return flows;
}

nlohmann::json Dataplane::Stats() const {
  return StatsJson(Sample());
}

}  // namespace privlink::dataplane
