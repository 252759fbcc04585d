// Flow table: our two-choice table beside DPDK's rte_hash (lock-free read/write concurrency mode)
// in the same run, at 1k, 1M and 10M flows. Both hold two 16-byte keys per flow, as privlink
// needs. Reported per operation: TSC cycles (rte_rdtsc) as "cycles_per_op", and bytes per flow.
#include <rte_cycles.h>
#include <rte_hash.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/flow_keys.h"
#include "nat/flow_table.h"

namespace privlink::bench {
namespace {

using nat::FlowKey;

// Lookups per timed batch: enough to amortise rte_rdtsc, few enough to stay responsive.
constexpr uint32_t kLookupBatch = 32 * 1024;
constexpr uint32_t kBurst = 32;  // rx burst size: the bulk lookup width

struct Dataset {
  std::vector<FlowKey> keys;    // every inserted key (2 per flow)
  std::vector<FlowKey> probes;  // lookup order: random inserted keys
  std::vector<FlowKey> misses;  // keys never inserted
};

const Dataset& GetDataset(uint32_t flows) {
  static std::map<uint32_t, std::unique_ptr<Dataset>> cache;
  auto& d = cache[flows];
  if (!d) {
    d = std::make_unique<Dataset>();
    for (const auto& b : RandomBindings(flows, flows)) {
      d->keys.push_back(b.fwd);
      d->keys.push_back(b.rev);
    }
    std::mt19937 rng(7);
    d->probes.resize(kLookupBatch);
    for (auto& p : d->probes) p = d->keys[rng() % d->keys.size()];
    for (const auto& b : RandomBindings(kLookupBatch, flows + 1)) d->misses.push_back(b.fwd);
  }
  return *d;
}

// ---- our table ----
nat::FlowTable& GetOurTable(uint32_t flows) {
  static std::map<uint32_t, std::unique_ptr<nat::FlowTable>> cache;
  auto& t = cache[flows];
  if (!t) {
    t = std::move(*nat::FlowTable::Create({.capacity = flows}));
    for (const auto& b : RandomBindings(flows, flows)) {
      if (!t->Insert(0, b, 0).ok()) std::abort();
    }
  }
  return *t;
}

// ---- rte_hash ----
// rte_hash stores keys and a data pointer; a dataplane built on it keeps its flow state in a
// separate array that the data pointer indexes. "entry:1" runs read that state too, which our
// table's lookup already does (it compares the key inside the entry): the like-for-like cost.
std::vector<nat::FlowBinding>& RteHashFlowState(uint32_t flows) {
  static std::map<uint32_t, std::vector<nat::FlowBinding>> cache;
  auto& v = cache[flows];
  if (v.empty()) v.resize(size_t{2} * flows);
  return v;
}

struct RteHashDeleter {
  void operator()(rte_hash* h) const { rte_hash_free(h); }
};
size_t HeapBytesInUse() {
  rte_malloc_socket_stats s{};
  rte_malloc_get_socket_stats(0, &s);
  return s.heap_allocsz_bytes;
}

// DPDK heap bytes each rte_hash took (tables and key store), measured around its creation.
std::map<uint32_t, size_t>& RteHashBytes() {
  static std::map<uint32_t, size_t> bytes;
  return bytes;
}

rte_hash* GetRteHash(uint32_t flows) {
  static std::map<uint32_t, std::unique_ptr<rte_hash, RteHashDeleter>> cache;
  auto& h = cache[flows];
  if (!h) {
    const size_t heap_before = HeapBytesInUse();
    const std::string name = "bench" + std::to_string(flows);
    rte_hash_parameters p{};
    p.name = name.c_str();
    p.entries = 2 * flows;  // two keys per flow
    p.key_len = sizeof(FlowKey);
    p.hash_func = nullptr;  // default: rte_hash_crc, as our table uses CRC32-C
    p.socket_id = 0;
    p.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_MULTI_WRITER_ADD;
    h.reset(rte_hash_create(&p));
    if (!h) std::abort();
    const Dataset& d = GetDataset(flows);
    for (size_t i = 0; i < d.keys.size(); ++i) {
      if (rte_hash_add_key_data(h.get(), &d.keys[i], reinterpret_cast<void*>(i + 1)) != 0) {
        std::abort();
      }
    }
    RteHashBytes()[flows] = HeapBytesInUse() - heap_before;
  }
  return h.get();
}

template <typename Body>
void TimeBatches(benchmark::State& state, uint32_t ops_per_batch, Body&& body) {
  uint64_t cycles = 0, ops = 0;
  for (auto _ : state) {
    const uint64_t t0 = rte_rdtsc_precise();
    body();
    cycles += rte_rdtsc_precise() - t0;
    ops += ops_per_batch;
  }
  state.counters["cycles_per_op"] = static_cast<double>(cycles) / static_cast<double>(ops);
  state.SetItemsProcessed(static_cast<int64_t>(ops));
}

// Args: flows, hit (1) or miss (0), bulk (1) or single (0).
void BM_OurTableLookup(benchmark::State& state) {
  const auto flows = static_cast<uint32_t>(state.range(0));
  const Dataset& d = GetDataset(flows);
  const nat::FlowTable& t = GetOurTable(flows);
  const auto& probes = state.range(1) ? d.probes : d.misses;
  const bool bulk = state.range(2) != 0;
  uint64_t found = 0;
  TimeBatches(state, kLookupBatch, [&] {
    if (bulk) {
      nat::FlowLookup out[kBurst];
      for (uint32_t i = 0; i < kLookupBatch; i += kBurst) {
        found +=
            __builtin_popcountll(t.LookupBulk(std::span<const FlowKey>(&probes[i], kBurst), out));
      }
    } else {
      for (uint32_t i = 0; i < kLookupBatch; ++i) found += t.Lookup(probes[i]).found();
    }
  });
  benchmark::DoNotOptimize(found);
  state.counters["bytes_per_flow"] = static_cast<double>(t.MemoryBytes()) / flows;
}

void BM_RteHashLookup(benchmark::State& state) {
  const auto flows = static_cast<uint32_t>(state.range(0));
  const Dataset& d = GetDataset(flows);
  rte_hash* h = GetRteHash(flows);
  const auto& probes = state.range(1) ? d.probes : d.misses;
  const bool bulk = state.range(2) != 0;
  const bool read_entry = state.range(3) != 0;
  const nat::FlowBinding* flow_state = RteHashFlowState(flows).data();
  uint64_t found = 0;
  TimeBatches(state, kLookupBatch, [&] {
    if (bulk) {
      const void* keys[kBurst];
      void* data[kBurst];
      for (uint32_t i = 0; i < kLookupBatch; i += kBurst) {
        for (uint32_t j = 0; j < kBurst; ++j) keys[j] = &probes[i + j];
        uint64_t hits = 0;
        rte_hash_lookup_bulk_data(h, keys, kBurst, &hits, data);
        found += __builtin_popcountll(hits);
        if (read_entry) {
          for (uint32_t j = 0; j < kBurst; ++j) {
            if ((hits >> j) & 1)
              rte_prefetch0(&flow_state[reinterpret_cast<uintptr_t>(data[j]) - 1]);
          }
          for (uint64_t m = hits; m != 0; m &= m - 1) {
            const int j = __builtin_ctzll(m);
            found += flow_state[reinterpret_cast<uintptr_t>(data[j]) - 1].endpoint_id;
          }
        }
      }
    } else {
      for (uint32_t i = 0; i < kLookupBatch; ++i) {
        void* v = nullptr;
        if (rte_hash_lookup_data(h, &probes[i], &v) >= 0) {
          ++found;
          if (read_entry) found += flow_state[reinterpret_cast<uintptr_t>(v) - 1].endpoint_id;
        }
      }
    }
  });
  benchmark::DoNotOptimize(found);
}

// Insert + delete of flows into a table already holding `flows` flows (kept at that size):
// the cost the slow path and expiry pay.
void BM_OurTableInsertDelete(benchmark::State& state) {
  const auto flows = static_cast<uint32_t>(state.range(0));
  // A table with room for the extra batch, filled to `flows`.
  auto t = std::move(*nat::FlowTable::Create({.capacity = flows + kBurst * 64}));
  for (const auto& b : RandomBindings(flows, flows)) {
    if (!t->Insert(0, b, 0).ok()) std::abort();
  }
  const auto extra = RandomBindings(kBurst * 64, flows + 2);
  std::vector<nat::FlowId> ids(extra.size());
  uint64_t ins_cycles = 0, del_cycles = 0, ops = 0;
  for (auto _ : state) {
    uint64_t t0 = rte_rdtsc_precise();
    for (size_t i = 0; i < extra.size(); ++i) ids[i] = *t->Insert(0, extra[i], 0);
    uint64_t t1 = rte_rdtsc_precise();
    for (const auto id : ids) t->Remove(0, id);
    uint64_t t2 = rte_rdtsc_precise();
    t->Reclaim(0);
    ins_cycles += t1 - t0;
    del_cycles += t2 - t1;
    ops += extra.size();
  }
  // Per flow = two keys; divide by 2 for per-key figures comparable with rte_hash's.
  state.counters["insert_cycles_per_key"] = static_cast<double>(ins_cycles) / (2.0 * ops);
  state.counters["delete_cycles_per_key"] = static_cast<double>(del_cycles) / (2.0 * ops);
}

void BM_RteHashInsertDelete(benchmark::State& state) {
  const auto flows = static_cast<uint32_t>(state.range(0));
  rte_hash* h = GetRteHash(flows);
  const auto extra = RandomBindings(kBurst * 64, flows + 2);
  uint64_t ins_cycles = 0, del_cycles = 0, ops = 0;
  for (auto _ : state) {
    uint64_t t0 = rte_rdtsc_precise();
    for (const auto& b : extra) {
      rte_hash_add_key_data(h, &b.fwd, nullptr);
      rte_hash_add_key_data(h, &b.rev, nullptr);
    }
    uint64_t t1 = rte_rdtsc_precise();
    for (const auto& b : extra) {
      rte_hash_del_key(h, &b.fwd);
      rte_hash_del_key(h, &b.rev);
    }
    uint64_t t2 = rte_rdtsc_precise();
    ins_cycles += t1 - t0;
    del_cycles += t2 - t1;
    ops += extra.size();
  }
  state.counters["insert_cycles_per_key"] = static_cast<double>(ins_cycles) / (2.0 * ops);
  state.counters["delete_cycles_per_key"] = static_cast<double>(del_cycles) / (2.0 * ops);
  // Index and keys only: a dataplane on rte_hash also needs its flow state (96 bytes here).
  state.counters["bytes_per_flow"] = static_cast<double>(RteHashBytes()[flows]) / flows;
}

void LookupArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"flows", "hit", "bulk"});
  for (int64_t flows : {1'000, 1'000'000, 10'000'000}) {
    for (int64_t hit : {1, 0}) {
      for (int64_t bulk : {0, 1}) b->Args({flows, hit, bulk});
    }
  }
}
void RteHashLookupArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"flows", "hit", "bulk", "entry"});
  for (int64_t flows : {1'000, 1'000'000, 10'000'000}) {
    for (int64_t hit : {1, 0}) {
      for (int64_t bulk : {0, 1}) {
        b->Args({flows, hit, bulk, 0});
        if (hit) b->Args({flows, hit, bulk, 1});
      }
    }
  }
}

// Interleaved per size so both tables face the same cache state and the same machine minute.
BENCHMARK(BM_OurTableLookup)->Apply(LookupArgs);
BENCHMARK(BM_RteHashLookup)->Apply(RteHashLookupArgs);
BENCHMARK(BM_OurTableInsertDelete)->ArgName("flows")->Arg(1'000)->Arg(1'000'000)->Arg(10'000'000);
BENCHMARK(BM_RteHashInsertDelete)->ArgName("flows")->Arg(1'000)->Arg(1'000'000)->Arg(10'000'000);

}  // namespace
}  // namespace privlink::bench
