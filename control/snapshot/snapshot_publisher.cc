#include "control/snapshot/snapshot_publisher.h"

#include <cstdlib>

#include "control/model/str_cat.h"

namespace privlink::control {

// Why the memory orders are enough:
// - Publish builds the snapshot with plain stores, then stores the pointer with release. A worker
//   that loads the pointer with acquire and sees the new value synchronizes with that store, so
//   every write of the build happens before its reads: no worker sees a half-built snapshot.
// - After the swap the control thread takes a token with rte_rcu_qsbr_start (an atomic add with
//   release). A worker's rte_rcu_qsbr_quiescent loads the token with acquire and stores it into
//   its counter with release; rte_rcu_qsbr_check loads the counters with acquire. So when the
//   check sees every counter at or past the token, (a) each worker's reads of the old snapshot,
//   made before that quiescent call, happen before the check, hence before the delete; and (b)
//   each worker read the token after the swap, so its later loads of the pointer return the new
//   snapshot (or a newer one), never the retired one. Offline workers are skipped by the check;
//   coming back Online() re-reads the token (see SnapshotReader::Online).
SnapshotPublisher::SnapshotPublisher(uint32_t max_readers)
    : max_readers_(max_readers == 0 ? 1 : max_readers) {
  const size_t size = rte_rcu_qsbr_get_memsize(max_readers_);
  // aligned_alloc wants a multiple of the alignment.
  const size_t rounded =
      (size + RTE_CACHE_LINE_SIZE - 1) / RTE_CACHE_LINE_SIZE * RTE_CACHE_LINE_SIZE;
  qsbr_ = static_cast<rte_rcu_qsbr*>(std::aligned_alloc(RTE_CACHE_LINE_SIZE, rounded));
  // Only fails when out of memory (the arguments are valid by construction), like `new`.
  if (qsbr_ == nullptr || rte_rcu_qsbr_init(qsbr_, max_readers_) != 0) std::abort();
  current_.store(new Snapshot(), std::memory_order_release);
}

SnapshotPublisher::~SnapshotPublisher() {
  retired_.clear();
  delete current_.load(std::memory_order_relaxed);
  std::free(qsbr_);
}

absl::StatusOr<SnapshotReader> SnapshotPublisher::RegisterReader(unsigned thread_id) {
  if (thread_id >= max_readers_) {
    return absl::InvalidArgumentError(
        Cat("reader id ", thread_id, " out of range (max ", max_readers_, " readers)"));
  }
  if (rte_rcu_qsbr_thread_register(qsbr_, thread_id) != 0) {
    return absl::InternalError(Cat("cannot register reader ", thread_id));
  }
  SnapshotReader reader(&current_, qsbr_, thread_id);
  reader.Online();
  return reader;
}

void SnapshotPublisher::UnregisterReader(SnapshotReader& reader) {
  reader.Offline();
  rte_rcu_qsbr_thread_unregister(qsbr_, reader.thread_id());
}

void SnapshotPublisher::Publish(std::unique_ptr<const Snapshot> snapshot) {
  std::lock_guard<std::mutex> lock(writer_mutex_);
  const Snapshot* old = current_.exchange(snapshot.release(), std::memory_order_acq_rel);
  const uint64_t token = rte_rcu_qsbr_start(qsbr_);
  retired_.push_back({token, std::unique_ptr<const Snapshot>(old)});
  ReclaimLocked();
}

size_t SnapshotPublisher::Reclaim() {
  std::lock_guard<std::mutex> lock(writer_mutex_);
  return ReclaimLocked();
}

size_t SnapshotPublisher::ReclaimLocked() {
  // Tokens grow along the queue: once one is not yet passed, later ones are not either.
  while (!retired_.empty() && rte_rcu_qsbr_check(qsbr_, retired_.front().token, false) == 1) {
    retired_.pop_front();
  }
  return retired_.size();
}

}  // namespace privlink::control
