// The flow table: every flow under both of its keys, readable lock-free from every worker.
//
// Layout. Entries live in one array indexed by FlowId. The index is a bucketised hash table of
// 64-byte buckets, 8 slots each; a slot is one 64-bit word {32-bit key hash, FlowId+direction},
// so publishing or removing a key is a single atomic store or CAS and a reader can never see a
// torn slot. Each key may live in one of two buckets (its first whenever that has room, so
// most hits read one bucket). When both are full, a resident key is moved to its own other bucket
// (a cuckoo path of at most kCuckooDepth + 1 moves), which lets every key in up to the 80% load the
// table is sized for; plain two-choice saturates near 72% with 8-slot buckets.
//
// Concurrency. Readers (any worker) take no lock and write nothing shared. Inserts from several
// workers CAS into empty slots. Each worker owns a contiguous shard of FlowIds: it alone
// allocates, removes and reuses them, so only slot words are contended. A removed entry's id is
// reused only after every reader registered with the RCU variable has passed a quiescent state,
// so a reader that found the old slot still reads the old, unchanged key and rewrite.
//
// Memory per flow: 96 bytes of entry + 2 keys x 8-byte slots / 0.8 load = 116 bytes.
#pragma once

#include <rte_rcu_qsbr.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "nat/flow_entry.h"
#include "nat/huge_alloc.h"
#include "nat/setup_failure.h"

namespace privlink::nat {

// The table is sized so that at full capacity 80% of slots are used: the load at which two-choice
// 8-slot buckets still place essentially every key, and the point where the memory target is met.
inline constexpr double kFlowTableMaxLoad = 0.8;
inline constexpr uint32_t kSlotsPerBucket = 8;
// Extra levels of the displacement search when both of a key's buckets are full. One level
// filled 99.97% of capacity at 10M random flows, two filled all of it; the search stays a few
// hundred slot reads, paid only by inserts that meet full buckets.
inline constexpr int kCuckooDepth = 2;
inline constexpr uint32_t kMinFlowCapacity = 1;
inline constexpr uint32_t kMaxFlowCapacity = 1u << 30;  // FlowId+direction must fit 32 bits
inline constexpr uint32_t kMaxFlowWorkers = 255;        // workers are numbered in 8 bits
// Keys looked up together by LookupBulk: the rx burst size.
inline constexpr uint32_t kMaxBulkLookup = 64;

struct FlowTableConfig {
  uint32_t capacity = 1u << 20;  // flows (each has two keys)
  uint32_t worker_count = 1;     // number of shards; worker w owns ids [w*shard, (w+1)*shard)
  // Slot load when the table holds `capacity` flows. Above the default, inserts start to be
  // refused before capacity is reached; tests raise it to exercise key displacement.
  double max_load = kFlowTableMaxLoad;
  // Readers' RCU variable. nullptr = single-threaded use: removed ids are reusable at once.
  rte_rcu_qsbr* rcu = nullptr;
};

// Where a key was found: the flow and which of its two keys matched.
struct FlowRef {
  FlowId id = kInvalidFlowId;
  FlowDirection dir = FlowDirection::kIn2Out;
  bool found() const { return id != kInvalidFlowId; }
};

// One key's result from LookupBulk: where it was found, and the key's hash. The bulk lookup is
// where the packet path hashes a key, once; a miss takes the hash on to flow setup (the Maglev
// pick, the NAT IP spread, the insert) instead of hashing the key again. 16 bytes, so an array of
// them is indexed by a shift.
struct alignas(16) FlowLookup {
  FlowRef ref;
  FlowHash hash;
};

// What Insert publishes: the binding, its forward key's hash (HashFlowKey(binding.fwd)), and the
// position of its NAT IP in the service's list (kept in the entry's status word).
struct NewEntry {
  FlowBinding binding;
  FlowHash fwd_hash;
  uint8_t nat_ip_index = 0;
};

class FlowTable {
 public:
  static absl::StatusOr<std::unique_ptr<FlowTable>> Create(const FlowTableConfig& config);
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // ---- readers: any thread, lock-free ----
  // LookupHashed (and Insert's fwd_hash) take a key's HashFlowKey, as rte_hash's *_with_hash
  // calls take a precomputed signature, so a hash the packet path already has is not computed
  // again. It must be HashFlowKey(key); another value finds nothing (or, given to Insert, files
  // the key where no lookup looks).
  FlowRef Lookup(const FlowKey& key) const { return LookupHashed(key, HashFlowKey(key)); }
  // A miss is confirmed only if no key moved between buckets meanwhile (see MakeRoom).
  FlowRef LookupHashed(const FlowKey& key, FlowHash hash) const {
    for (;;) {
      const uint32_t moves = moves_.load(std::memory_order_acquire);
      FlowRef r = MatchBucket(buckets_[Bucket1(hash.value)], key, hash.value);
      if (!r.found()) r = MatchBucket(buckets_[Bucket2(hash.value)], key, hash.value);
      if (r.found() || moves_.load(std::memory_order_acquire) == moves) return r;
    }
  }
  // Hashes and looks up keys.size() <= kMaxBulkLookup keys with their buckets and entries
  // prefetched ahead of use. out[i] is keys[i]'s result and hash; returns a bitmask of hits.
  // Each key is hashed here, just before its first bucket is prefetched: taking hashes computed
  // by the caller instead moves every prefetch later by the hashing of the whole burst, and at
  // 1M flows (the buckets in DRAM) that cost 2-3% more cycles per packet, measured.
  uint64_t LookupBulk(std::span<const FlowKey> keys, FlowLookup* out) const;

  FlowEntry& entry(FlowId id) { return entries_[id]; }
  const FlowEntry& entry(FlowId id) const { return entries_[id]; }

  // Calls fn(id) for each flow whose forward key sits in buckets [first, first + count) and
  // returns the bucket after the last one scanned (bucket_count() at the end). Every flow has
  // one forward key, so a pass over all buckets names each flow once; only a key that an insert
  // moves between buckets during the pass may be named twice or missed. The id's binding may
  // be read only by a reader that stays online on the RCU variable from this call until it is
  // done with the entry (the slot's acquire load pairs with the inserter's release).
  template <typename Fn>
  uint32_t ScanForwardKeys(uint32_t first, uint32_t count, Fn&& fn) const {
    const uint32_t end = count < bucket_count_ - first ? first + count : bucket_count_;
    for (uint32_t b = first; b < end; ++b) {
      for (const auto& s : buckets_[b].slots) {
        const uint64_t slot = s.load(std::memory_order_acquire);
        const auto value = static_cast<uint32_t>(slot);
        if (slot == 0 || (value & 1) != static_cast<uint32_t>(FlowDirection::kIn2Out)) continue;
        fn(static_cast<FlowId>((value >> 1) - 1));
      }
    }
    return end;
  }

  // ---- writers: worker `worker` only, for its own shard ----
  // Copies `entry.binding` into a new entry (mutable fields start fresh: kSynSent, live, created
  // and last seen `now`, zero counters and sequence numbers) and publishes both keys;
  // `entry.fwd_hash` is HashFlowKey(binding.fwd) (the reverse key is new, so it is hashed here).
  // Failures: kFlowKeyExists (a key is present), kFlowTableFull (the worker's shard or both
  // buckets of a key are full). On failure nothing is left behind.
  SetupOutcome<FlowId> Insert(uint32_t worker, const NewEntry& entry, TimeMs32 now);
  SetupOutcome<FlowId> Insert(uint32_t worker, const FlowBinding& binding, TimeMs32 now) {
    return Insert(worker, NewEntry{binding, HashFlowKey(binding.fwd)}, now);
  }
  // The worker whose shard holds `id`: it alone expires and frees the flow.
  uint32_t OwnerOf(FlowId id) const;
  // Unlinks both keys; the id is reused once readers are quiescent (see Reclaim).
  void Remove(uint32_t worker, FlowId id);
  // Returns ids removed before the readers' last grace period to the free list. Call it from the
  // worker's loop; it never waits.
  void Reclaim(uint32_t worker);

  // Ids of `worker`'s shard that were ever handed out: expiry scans [first, end).
  FlowId ShardBegin(uint32_t worker) const { return shards_[worker].begin; }
  FlowId ShardEnd(uint32_t worker) const { return shards_[worker].end; }
  FlowId ShardHighWater(uint32_t worker) const { return shards_[worker].next_unused; }
  uint32_t& ExpiryCursor(uint32_t worker) { return shards_[worker].expiry_cursor; }

  // ---- introspection ----
  uint32_t capacity() const { return capacity_; }
  uint32_t worker_count() const { return shard_count_; }
  // Live flows of one shard; exact for the owner, a recent value for other threads.
  uint32_t ShardSize(uint32_t worker) const {
    return shards_[worker].live.load(std::memory_order_relaxed);
  }
  uint32_t Size() const;
  size_t MemoryBytes() const { return entries_bytes_ + buckets_bytes_; }
  uint32_t bucket_count() const { return bucket_count_; }
  // Keys moved between buckets so far (displacement on full buckets).
  uint32_t moves() const { return moves_.load(std::memory_order_relaxed); }

 private:
  struct alignas(64) Bucket {
    std::atomic<uint64_t> slots[kSlotsPerBucket];
  };
  // Per-worker allocation state, one cache line apart so workers never share a line.
  struct alignas(64) Shard {
    FlowId begin = 0;
    FlowId end = 0;
    FlowId next_unused = 0;             // ids in [next_unused, end) were never used
    FlowId free_head = kInvalidFlowId;  // intrusive free list through binding.fwd.tuple.src_ip
    uint32_t expiry_cursor = 0;
    std::atomic<uint32_t> live{0};  // single writer (owner): relaxed load + store
    std::vector<FlowId> pending;    // removed, grace period not yet started
    struct Batch {
      uint64_t token;
      std::vector<FlowId> ids;
    };
    std::vector<Batch> limbo;  // removed, waiting for readers' quiescence (oldest first)
  };

  FlowTable() = default;
  uint32_t Bucket1(uint32_t hash) const {
    return static_cast<uint32_t>((uint64_t{hash} * bucket_count_) >> 32);
  }
  // The second choice must be independent of the first: the first uses the hash's high bits (via
  // multiply-shift), the second a remixed hash.
  uint32_t Bucket2(uint32_t hash) const {
    return static_cast<uint32_t>((uint64_t{MixBits32(hash ^ 0x9e3779b9u)} * bucket_count_) >> 32);
  }
  static uint64_t MakeSlot(uint32_t hash, FlowId id, FlowDirection dir) {
    return (uint64_t{hash} << 32) | ((uint64_t{id} + 1) << 1) | static_cast<uint64_t>(dir);
  }
  // Acquire pairs with the inserter's release CAS: once a slot is seen, the entry's binding written
  // before it is visible too.
  // The slot value (FlowId+direction) of the first slot whose tag is `hash`, or 0.
  static uint32_t FindTag(const Bucket& b, uint32_t hash) {
    for (uint32_t i = 0; i < kSlotsPerBucket; ++i) {
      const uint64_t slot = b.slots[i].load(std::memory_order_acquire);
      if (static_cast<uint32_t>(slot >> 32) == hash && slot != 0)
        return static_cast<uint32_t>(slot);
    }
    return 0;
  }
  FlowRef MatchBucket(const Bucket& b, const FlowKey& key, uint32_t hash) const {
    for (uint32_t i = 0; i < kSlotsPerBucket; ++i) {
      const uint64_t slot = b.slots[i].load(std::memory_order_acquire);
      if (static_cast<uint32_t>(slot >> 32) != hash || slot == 0) continue;
      const uint32_t value = static_cast<uint32_t>(slot);
      const FlowId id = (value >> 1) - 1;
      const auto dir = static_cast<FlowDirection>(value & 1);
      const FlowBinding& bind = entries_[id].binding;
      if (bind.key(dir) == key) return FlowRef{id, dir};
    }
    return FlowRef{};
  }
  SetupFailure InsertKey(const FlowKey& key, FlowHash hash, FlowId id, FlowDirection dir);
  static bool TryClaimEmpty(Bucket& b, uint64_t slot);
  bool MoveSlot(std::atomic<uint64_t>& from, uint64_t resident, Bucket& dest);
  bool MakeRoom(Bucket& full, int depth);
  void RemoveKey(const FlowKey& key, FlowId id, FlowDirection dir);
  FlowId AllocateId(Shard& shard);
  void FreeId(Shard& shard, FlowId id);

  // Bumped by every key move; readers that miss re-check it (a moving key is briefly in neither
  // bucket they scanned). Its own cache line: writers touch it only when buckets overflow.
  alignas(64) std::atomic<uint32_t> moves_{0};
  std::atomic<bool> rcu_check_busy_{false};  // see Reclaim
  alignas(64) uint32_t capacity_ = 0;
  uint32_t bucket_count_ = 0;
  rte_rcu_qsbr* rcu_ = nullptr;
  HugeRegion entries_region_;
  HugeRegion buckets_region_;
  size_t entries_bytes_ = 0;
  size_t buckets_bytes_ = 0;
  FlowEntry* entries_ = nullptr;
  Bucket* buckets_ = nullptr;
  std::unique_ptr<Shard[]> shards_;
  uint32_t shard_count_ = 0;
  // Shards hold shard_size_ ids each, the first big_shards_ of them one more (OwnerOf).
  uint32_t shard_size_ = 0;
  uint32_t big_shards_ = 0;
};

}  // namespace privlink::nat
