// QsbrPublisher<T>: one immutable T that control-side writers replace and many reader threads
// (the workers) read without locks, reclaimed with DPDK's QSBR RCU. The control snapshot
// (SnapshotPublisher) and what the dataplane derives from neighbours (its DataplaneView) are both
// published this way, each with its own RCU variable, so one publisher's grace-period checks
// never share state with another's (rte_rcu_qsbr_check updates a shared "acked" token).
//
// Why the memory orders are enough:
// - Publish builds the T with plain stores, then stores the pointer with release. A reader that
//   loads the pointer with acquire and sees the new value synchronizes with that store, so every
//   write of the build happens before its reads: no reader sees a half-built T.
// - After the swap the writer takes a token with rte_rcu_qsbr_start (an atomic add with release).
//   A reader's rte_rcu_qsbr_quiescent loads the token with acquire and stores it into its counter
//   with release; rte_rcu_qsbr_check loads the counters with acquire. So when the check sees every
//   counter at or past the token, (a) each reader's reads of the old T, made before that
//   quiescent call, happen before the check, hence before the delete; and (b) each reader read
//   the token after the swap, so its later loads of the pointer return the new T (or a newer
//   one), never the retired one. Offline readers are skipped by the check; coming back Online()
//   re-reads the token (see QsbrReader::Online).
//
// Readers are never waited on: the writer frees what has passed a grace period whenever it
// publishes or calls Reclaim, and keeps the rest for later.
#pragma once

#include <rte_rcu_qsbr.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace privlink::control {

template <typename T>
class QsbrPublisher;

// A reader thread's handle: copyable, valid while its publisher lives and it is registered.
template <typename T>
class QsbrReader {
 public:
  QsbrReader() = default;

  // The current T. The pointer stays valid until this reader's next Quiescent() or Offline();
  // never keep it past them.
  const T* Current() const { return current_->load(std::memory_order_acquire); }
  // "I hold no pointer from this publisher": once per loop iteration, between bursts.
  void Quiescent() { rte_rcu_qsbr_quiescent(qsbr_, thread_id_); }
  // Before blocking or sleeping (the writer must not wait on a sleeping reader), and back.
  void Offline() { rte_rcu_qsbr_thread_offline(qsbr_, thread_id_); }
  void Online() {
    rte_rcu_qsbr_thread_online(qsbr_, thread_id_);
    // Also reads the writer's token with acquire, so the next Current() sees every T published
    // before this point.
    rte_rcu_qsbr_quiescent(qsbr_, thread_id_);
  }
  unsigned thread_id() const { return thread_id_; }

 private:
  friend class QsbrPublisher<T>;
  QsbrReader(const std::atomic<const T*>* current, rte_rcu_qsbr* qsbr, unsigned thread_id)
      : current_(current), qsbr_(qsbr), thread_id_(thread_id) {}

  const std::atomic<const T*>* current_ = nullptr;
  rte_rcu_qsbr* qsbr_ = nullptr;
  unsigned thread_id_ = 0;
};

template <typename T>
class QsbrPublisher {
 public:
  // Readers are RCU thread ids 0 .. max_readers - 1. Starts holding `initial` (never null).
  QsbrPublisher(uint32_t max_readers, std::unique_ptr<const T> initial)
      : max_readers_(max_readers == 0 ? 1 : max_readers) {
    const size_t size = rte_rcu_qsbr_get_memsize(max_readers_);
    // aligned_alloc wants a multiple of the alignment. Plain memory, not the EAL's: the control
    // plane publishes without an EAL (privlinkd --no-dataplane, control tests).
    const size_t rounded =
        (size + RTE_CACHE_LINE_SIZE - 1) / RTE_CACHE_LINE_SIZE * RTE_CACHE_LINE_SIZE;
    qsbr_ = static_cast<rte_rcu_qsbr*>(std::aligned_alloc(RTE_CACHE_LINE_SIZE, rounded));
    // Only fails when out of memory (the arguments are valid by construction), like `new`.
    if (qsbr_ == nullptr || rte_rcu_qsbr_init(qsbr_, max_readers_) != 0) std::abort();
    current_.store(initial.release(), std::memory_order_release);
  }
  // Every reader must be offline or unregistered by now.
  ~QsbrPublisher() {
    retired_.clear();
    delete current_.load(std::memory_order_relaxed);
    std::free(qsbr_);
  }
  QsbrPublisher(const QsbrPublisher&) = delete;
  QsbrPublisher& operator=(const QsbrPublisher&) = delete;

  // Called by the reader's own thread before its first read (or by a thread that orders itself
  // before the reader's, as rte_eal_remote_launch does); the handle starts online.
  absl::StatusOr<QsbrReader<T>> RegisterReader(unsigned thread_id) {
    if (thread_id >= max_readers_) {
      return absl::InvalidArgumentError(
          absl::StrCat("reader id ", thread_id, " out of range (max ", max_readers_, " readers)"));
    }
    if (rte_rcu_qsbr_thread_register(qsbr_, thread_id) != 0) {
      return absl::InternalError(absl::StrCat("cannot register reader ", thread_id));
    }
    QsbrReader<T> reader(&current_, qsbr_, thread_id);
    reader.Online();
    return reader;
  }
  void UnregisterReader(QsbrReader<T>& reader) {
    reader.Offline();
    rte_rcu_qsbr_thread_unregister(qsbr_, reader.thread_id());
  }

  // Installs `next` and retires the previous T, then frees what it can.
  void Publish(std::unique_ptr<const T> next) {
    std::lock_guard<std::mutex> lock(writer_mutex_);
    const T* old = current_.exchange(next.release(), std::memory_order_acq_rel);
    retired_.push_back({rte_rcu_qsbr_start(qsbr_), std::unique_ptr<const T>(old)});
    ReclaimLocked();
  }
  // Frees every retired T all readers have passed a quiescent state since; returns how many
  // still wait. Never blocks on a reader: call again later.
  size_t Reclaim() {
    std::lock_guard<std::mutex> lock(writer_mutex_);
    return ReclaimLocked();
  }

  // The writers' view of the latest T (a reader uses its QsbrReader).
  const T* latest() const { return current_.load(std::memory_order_acquire); }
  uint32_t max_readers() const { return max_readers_; }

 private:
  struct Retired {
    uint64_t token;  // rte_rcu_qsbr_start() right after it was replaced
    std::unique_ptr<const T> value;
  };

  size_t ReclaimLocked() {
    // Tokens grow along the queue: once one is not yet passed, later ones are not either.
    while (!retired_.empty() && rte_rcu_qsbr_check(qsbr_, retired_.front().token, false) == 1) {
      retired_.pop_front();
    }
    return retired_.size();
  }

  const uint32_t max_readers_;
  rte_rcu_qsbr* qsbr_ = nullptr;
  std::atomic<const T*> current_{nullptr};
  std::mutex writer_mutex_;  // writers only (API threads, the control thread), never a reader
  std::deque<Retired> retired_;
};

}  // namespace privlink::control
