// The daemon's statistics (control::StatsSource): a sample over its workers and the control
// thread's counters (observe/stats_sample.h), named from the stats reader's snapshot.
#include <mutex>

#include "dataplane/daemon/dataplane.h"

namespace privlink::dataplane {

std::vector<const CounterSet*> Dataplane::CounterSets() const {
  std::vector<const CounterSet*> sets;
  for (const auto& w : workers_) sets.push_back(&w->counters);
  if (controller_) sets.push_back(&controller_->counters());
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
  const std::vector<const CounterSet*> sets = CounterSets();
  std::vector<const Worker*> workers;
  for (const auto& w : workers_) workers.push_back(w.get());
  SampleInputs in{.ports = shared_.ports,
                  .counter_sets = sets,
                  .workers = workers,
                  .flows = flows_.get(),
                  .audit = audit_.get()};
  // The stats reader is online only while it holds the snapshot.
  std::lock_guard<std::mutex> lock(stats_mutex_);
  if (!readers_registered_) return TakeSample(in);
  stats_reader_.Online();
  in.snapshot = stats_reader_.Current();
  DataplaneSample sample = TakeSample(in);
  stats_reader_.Offline();
  return sample;
}

nlohmann::json Dataplane::Stats() const {
  return StatsJson(Sample());
}

}  // namespace privlink::dataplane
