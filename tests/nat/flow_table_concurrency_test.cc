// Readers look up while writers insert, remove and displace keys, as worker cores do. Run under
// TSan by `make test`. Checks: no lost entry (a stable flow is always found, even while keys move
// between buckets), no phantom or torn entry (whatever is found is exactly the flow of that key),
// and ids are reused only after readers' grace periods.
#include <rte_rcu_qsbr.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "nat/flow_table.h"
#include "tests/nat/flow_test_util.h"

namespace privlink::nat {
namespace {

using testing::MakeBinding;

constexpr uint32_t kCapacity = 50'000;
constexpr uint32_t kStable = 25'000;  // inserted first, never removed
constexpr uint32_t kChurnPerWriter =
    25'000;  // > free space: the table stays full, keys get displaced
constexpr uint32_t kWriters = 2;
constexpr uint32_t kReaders = 2;
constexpr auto kDuration = std::chrono::milliseconds(1500);

bool Consistent(const FlowEntry& e, uint32_t i) {
  const FlowBinding want = MakeBinding(i);
  return e.binding.fwd == want.fwd && e.binding.rev == want.rev &&
         e.binding.endpoint_id == want.endpoint_id;
}

struct RcuDeleter {
  void operator()(rte_rcu_qsbr* p) const { free(p); }
};

TEST(FlowTableConcurrency, ReadersNeverSeeLostPhantomOrTornEntries) {
  constexpr uint32_t kThreads = kWriters + kReaders;
  std::unique_ptr<rte_rcu_qsbr, RcuDeleter> rcu(static_cast<rte_rcu_qsbr*>(
      aligned_alloc(RTE_CACHE_LINE_SIZE, rte_rcu_qsbr_get_memsize(kThreads))));
  ASSERT_EQ(rte_rcu_qsbr_init(rcu.get(), kThreads), 0);
  // 95% slot load when full: buckets overflow often, so keys move while readers look for them.
  auto created = FlowTable::Create(
      {.capacity = kCapacity, .worker_count = kWriters, .max_load = 0.95, .rcu = rcu.get()});
  ASSERT_TRUE(created.ok());
  FlowTable& table = **created;
  // Stable flows live in both shards so both writers' churn competes with them for buckets.
  for (uint32_t i = 0; i < kStable; ++i) {
    ASSERT_TRUE(table.Insert(i % kWriters, MakeBinding(i), 0).ok()) << i;
  }

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> lost{0}, phantom{0}, reads{0}, churn_found{0};
  std::atomic<uint64_t> inserted{0}, removed{0}, full{0};
  std::vector<uint32_t> live_after(kWriters);

  auto writer = [&](uint32_t w) {
    rte_rcu_qsbr_thread_register(rcu.get(), w);
    rte_rcu_qsbr_thread_online(rcu.get(), w);
    std::mt19937 rng(w + 1);
    const uint32_t base = kStable + w * kChurnPerWriter;
    std::vector<FlowId> ids(kChurnPerWriter, kInvalidFlowId);
    uint32_t live = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      for (int n = 0; n < 64; ++n) {
        const uint32_t k = rng() % kChurnPerWriter;
        if (ids[k] == kInvalidFlowId) {
          auto id = table.Insert(w, MakeBinding(base + k), 0);
          if (id.ok()) {
            ids[k] = *id;
            ++live;
            inserted.fetch_add(1, std::memory_order_relaxed);
          } else {
            full.fetch_add(1, std::memory_order_relaxed);
          }
        } else {
          table.Remove(w, ids[k]);
          ids[k] = kInvalidFlowId;
          --live;
          removed.fetch_add(1, std::memory_order_relaxed);
        }
      }
      table.Reclaim(w);
      rte_rcu_qsbr_quiescent(rcu.get(), w);
    }
    live_after[w] = live;
    rte_rcu_qsbr_thread_offline(rcu.get(), w);
  };

  auto reader = [&](uint32_t r) {
    const uint32_t tid = kWriters + r;
    rte_rcu_qsbr_thread_register(rcu.get(), tid);
    rte_rcu_qsbr_thread_online(rcu.get(), tid);
    std::mt19937 rng(100 + r);
    FlowKey keys[32];
    uint32_t which[32];
    FlowLookup refs[32];
    while (!stop.load(std::memory_order_relaxed)) {
      for (uint32_t j = 0; j < 32; ++j) {
        // Half stable (must be found), half churning (may or may not be there).
        which[j] = j % 2 ? rng() % kStable : kStable + rng() % (kWriters * kChurnPerWriter);
        const FlowBinding b = MakeBinding(which[j]);
        keys[j] = rng() % 2 ? b.fwd : b.rev;
      }
      const uint64_t hits = table.LookupBulk(keys, refs);
      for (uint32_t j = 0; j < 32; ++j) {
        const bool hit = (hits >> j) & 1;
        if (!hit) {
          if (which[j] < kStable) lost.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        if (!Consistent(table.entry(refs[j].ref.id), which[j])) {
          phantom.fetch_add(1, std::memory_order_relaxed);
        }
        if (which[j] >= kStable) churn_found.fetch_add(1, std::memory_order_relaxed);
      }
      // Single lookups take the other code path (with the moved-key retry).
      const uint32_t s = rng() % kStable;
      const FlowRef one = table.Lookup(MakeBinding(s).rev);
      if (!one.found())
        lost.fetch_add(1, std::memory_order_relaxed);
      else if (!Consistent(table.entry(one.id), s))
        phantom.fetch_add(1, std::memory_order_relaxed);
      reads.fetch_add(33, std::memory_order_relaxed);
      rte_rcu_qsbr_quiescent(rcu.get(), tid);
    }
    rte_rcu_qsbr_thread_offline(rcu.get(), tid);
  };

  std::vector<std::thread> threads;
  for (uint32_t w = 0; w < kWriters; ++w) threads.emplace_back(writer, w);
  for (uint32_t r = 0; r < kReaders; ++r) threads.emplace_back(reader, r);
  std::this_thread::sleep_for(kDuration);
  stop = true;
  for (auto& t : threads) t.join();
  // Unregistering lives in DPDK's (uninstrumented) library, so it happens only after the joins:
  // a thread's exit must not rely on synchronisation TSan cannot see.
  for (uint32_t tid = 0; tid < kThreads; ++tid) rte_rcu_qsbr_thread_unregister(rcu.get(), tid);

  std::printf("reads %lu, churn hits %lu, inserts %lu, removes %lu, refused %lu, key moves %u\n",
              reads.load(), churn_found.load(), inserted.load(), removed.load(), full.load(),
              table.moves());
  EXPECT_EQ(lost.load(), 0u) << "a stable flow was not found";
  EXPECT_EQ(phantom.load(), 0u) << "a lookup returned another flow's entry";
  EXPECT_GT(reads.load(), 1000u);
  EXPECT_GT(inserted.load(), 1000u);
  EXPECT_GT(table.moves(), 0u) << "the test must exercise key displacement";
  EXPECT_EQ(table.Size(), kStable + live_after[0] + live_after[1]);
  for (uint32_t i = 0; i < kStable; ++i) {
    ASSERT_TRUE(table.Lookup(MakeBinding(i).fwd).found()) << i;
    ASSERT_TRUE(table.Lookup(MakeBinding(i).rev).found()) << i;
  }
}

}  // namespace
}  // namespace privlink::nat
