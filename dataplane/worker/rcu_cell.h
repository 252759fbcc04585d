// RcuCell<T>: one immutable T that a single writer (the control thread) replaces and many workers
// read without locks, reclaimed with DPDK's QSBR RCU: the same scheme as the control snapshot
// (control/snapshot_publisher.h), for what the dataplane itself derives (neighbour MACs).
//
// Its own RCU variable, so the writer's grace-period checks never share state with the flow
// table's or the snapshot publisher's (rte_rcu_qsbr_check updates a shared "acked" token).
#pragma once

#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <atomic>
#include <cstdlib>
#include <deque>
#include <memory>

namespace privlink::dataplane {

template <typename T>
class RcuCell {
 public:
  // Readers are RCU thread ids 0 .. max_readers - 1. Starts holding `initial`.
  RcuCell(uint32_t max_readers, std::unique_ptr<const T> initial) : max_readers_(max_readers) {
    const size_t size = rte_rcu_qsbr_get_memsize(max_readers);
    qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("privlink_rcu_cell", size, RTE_CACHE_LINE_SIZE));
    if (qsbr_ == nullptr || rte_rcu_qsbr_init(qsbr_, max_readers) != 0) std::abort();
    current_.store(initial.release(), std::memory_order_release);
  }
  // Readers must be unregistered (or never started) by now.
  ~RcuCell() {
    retired_.clear();
    delete current_.load(std::memory_order_relaxed);
    rte_free(qsbr_);
  }
  RcuCell(const RcuCell&) = delete;
  RcuCell& operator=(const RcuCell&) = delete;

  // ---- readers (workers) ----
  void RegisterReader(unsigned id) {
    rte_rcu_qsbr_thread_register(qsbr_, id);
    rte_rcu_qsbr_thread_online(qsbr_, id);
  }
  void UnregisterReader(unsigned id) {
    rte_rcu_qsbr_thread_offline(qsbr_, id);
    rte_rcu_qsbr_thread_unregister(qsbr_, id);
  }
  // Valid until the reader's next Quiescent(). Acquire pairs with Publish's release store: the
  // T is fully built before its pointer can be seen.
  const T* Current() const { return current_.load(std::memory_order_acquire); }
  void Quiescent(unsigned id) { rte_rcu_qsbr_quiescent(qsbr_, id); }

  // ---- the writer (one thread) ----
  const T* latest() const { return current_.load(std::memory_order_relaxed); }
  void Publish(std::unique_ptr<const T> next) {
    const T* old = current_.exchange(next.release(), std::memory_order_acq_rel);
    // Readers that loaded `old` did so before this token; once all have reported quiescent
    // after it, none can still hold `old`.
    retired_.push_back({rte_rcu_qsbr_start(qsbr_), std::unique_ptr<const T>(old)});
    Reclaim();
  }
  // Frees what no reader can hold any more; never waits.
  void Reclaim() {
    while (!retired_.empty() && rte_rcu_qsbr_check(qsbr_, retired_.front().token, false) == 1) {
      retired_.pop_front();
    }
  }
  size_t retired() const { return retired_.size(); }
  uint32_t max_readers() const { return max_readers_; }

 private:
  struct Retired {
    uint64_t token;
    std::unique_ptr<const T> value;
  };
  uint32_t max_readers_;
  rte_rcu_qsbr* qsbr_ = nullptr;
  std::atomic<const T*> current_{nullptr};
  std::deque<Retired> retired_;
};

}  // namespace privlink::dataplane
