#include "nat/flow_table.h"

#include <rte_prefetch.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace privlink::nat {

absl::StatusOr<std::unique_ptr<FlowTable>> FlowTable::Create(const FlowTableConfig& config) {
  if (config.capacity < kMinFlowCapacity || config.capacity > kMaxFlowCapacity) {
    return absl::InvalidArgumentError(absl::StrCat("flow table capacity ", config.capacity,
                                                   " outside [", kMinFlowCapacity, ", ",
                                                   kMaxFlowCapacity, "]"));
  }
  if (config.worker_count == 0 || config.worker_count > kMaxFlowWorkers) {
    return absl::InvalidArgumentError(absl::StrCat("flow table worker_count ", config.worker_count,
                                                   " outside [1, ", kMaxFlowWorkers, "]"));
  }
  if (config.worker_count > config.capacity) {
    return absl::InvalidArgumentError("flow table capacity is smaller than worker_count");
  }
  if (!(config.max_load >= 0.1 && config.max_load <= 1.0)) {
    return absl::InvalidArgumentError("flow table max_load outside [0.1, 1]");
  }
  std::unique_ptr<FlowTable> t(new FlowTable());
  t->capacity_ = config.capacity;
  t->rcu_ = config.rcu;
  // Two keys per flow at max_load when full; at least two buckets so the two choices can differ.
  const double slots = 2.0 * config.capacity / config.max_load;
  t->bucket_count_ =
      std::max<uint32_t>(2, static_cast<uint32_t>(std::ceil(slots / kSlotsPerBucket)));

  t->entries_bytes_ = sizeof(FlowEntry) * size_t{config.capacity};
  t->buckets_bytes_ = sizeof(Bucket) * size_t{t->bucket_count_};
  auto entries = AllocateHugeRegion(t->entries_bytes_);
  if (!entries.ok()) return entries.status();
  auto buckets = AllocateHugeRegion(t->buckets_bytes_);
  if (!buckets.ok()) return buckets.status();
  t->entries_region_ = std::move(*entries);
  t->buckets_region_ = std::move(*buckets);
  // Zero-filled pages are valid objects of these types (all-zero atomics and keys); placement
  // new makes that explicit without touching every page up front.
  t->entries_ = static_cast<FlowEntry*>(t->entries_region_.get());
  t->buckets_ = static_cast<Bucket*>(t->buckets_region_.get());

  t->shard_count_ = config.worker_count;
  t->shards_ = std::make_unique<Shard[]>(config.worker_count);
  const uint32_t per = config.capacity / config.worker_count;
  const uint32_t extra = config.capacity % config.worker_count;
  t->shard_size_ = per;
  t->big_shards_ = extra;
  FlowId next = 0;
  for (uint32_t w = 0; w < config.worker_count; ++w) {
    Shard& s = t->shards_[w];
    s.begin = next;
    s.end = next + per + (w < extra ? 1 : 0);
    s.next_unused = s.begin;
    s.expiry_cursor = s.begin;
    next = s.end;
  }
  return t;
}

FlowTable::~FlowTable() = default;

uint32_t FlowTable::Size() const {
  uint32_t n = 0;
  for (uint32_t w = 0; w < shard_count_; ++w) n += ShardSize(w);
  return n;
}

uint64_t FlowTable::LookupBulk(std::span<const FlowKey> keys, FlowLookup* out) const {
  const uint32_t n = std::min<uint32_t>(static_cast<uint32_t>(keys.size()), kMaxBulkLookup);
  const uint32_t moves = moves_.load(std::memory_order_acquire);
  uint32_t hashes[kMaxBulkLookup];
  uint32_t b1[kMaxBulkLookup];
  uint32_t b2[kMaxBulkLookup];
  // Stage 1: hash every key and prefetch its first bucket, where inserts put keys whenever it has
  // room; the misses of all keys overlap instead of being paid one after another.
  for (uint32_t i = 0; i < n; ++i) {
    const FlowHash hash = HashFlowKey(keys[i]);
    out[i].hash = hash;
    hashes[i] = hash.value;
    b1[i] = Bucket1(hash.value);
    rte_prefetch0(&buckets_[b1[i]]);
  }
  // Stage 2: look for each key's tag in its first bucket; prefetch the entry it names (both of
  // its lines: the caller rewrites from the binding and updates the counters), or else the
  // second bucket.
  uint32_t candidate[kMaxBulkLookup];
  auto prefetch_entry = [&](uint32_t value) {
    const char* e = reinterpret_cast<const char*>(&entries_[(value >> 1) - 1]);
    rte_prefetch0(e);
    rte_prefetch0(e + 64);
  };
  uint64_t need_second = 0;
  for (uint32_t i = 0; i < n; ++i) {
    candidate[i] = FindTag(buckets_[b1[i]], hashes[i]);
    if (candidate[i] != 0) {
      prefetch_entry(candidate[i]);
    } else {
      b2[i] = Bucket2(hashes[i]);
      rte_prefetch0(&buckets_[b2[i]]);
      need_second |= uint64_t{1} << i;
    }
  }
  for (uint64_t m = need_second; m != 0; m &= m - 1) {
    const uint32_t i = static_cast<uint32_t>(__builtin_ctzll(m));
    candidate[i] = FindTag(buckets_[b2[i]], hashes[i]);
    if (candidate[i] != 0) prefetch_entry(candidate[i]);
  }
  // Stage 3: confirm with a full key compare; on a tag collision fall back to the exact scan.
  uint64_t hits = 0;
  for (uint32_t i = 0; i < n; ++i) {
    FlowRef r;
    if (candidate[i] != 0) {
      const FlowId id = (candidate[i] >> 1) - 1;
      const auto dir = static_cast<FlowDirection>(candidate[i] & 1);
      if (entries_[id].binding.key(dir) == keys[i])
        r = FlowRef{id, dir};
      else
        r = LookupHashed(keys[i], out[i].hash);
    }
    out[i].ref = r;
    if (r.found()) hits |= uint64_t{1} << i;
  }
  // A key moving between its buckets during the scan may have been missed: re-check the misses
  // (rare: moves happen only when an insert finds both buckets full).
  if (hits != (n == 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1) &&
      moves_.load(std::memory_order_acquire) != moves) {
    for (uint32_t i = 0; i < n; ++i) {
      if ((hits >> i) & 1) continue;
      out[i].ref = LookupHashed(keys[i], out[i].hash);
      if (out[i].ref.found()) hits |= uint64_t{1} << i;
    }
  }
  return hits;
}

FlowId FlowTable::AllocateId(Shard& shard) {
  if (shard.free_head != kInvalidFlowId) {
    const FlowId id = shard.free_head;
    shard.free_head = entries_[id].binding.fwd.tuple.src_ip;
    // Freed entries are scattered: fetch the next one's line now, not on the next flow's setup.
    if (shard.free_head != kInvalidFlowId) rte_prefetch0(&entries_[shard.free_head]);
    return id;
  }
  if (shard.next_unused < shard.end) return shard.next_unused++;
  return kInvalidFlowId;
}

void FlowTable::FreeId(Shard& shard, FlowId id) {
  FlowBinding& b = entries_[id].binding;
  b = FlowBinding{};
  b.fwd.tuple.src_ip = shard.free_head;
  shard.free_head = id;
}

bool FlowTable::TryClaimEmpty(Bucket& b, uint64_t slot) {
  for (auto& s : b.slots) {
    uint64_t expected = 0;
    // Release: the binding written before this CAS is visible to a reader whose acquire load
    // sees the slot.
    if (s.load(std::memory_order_relaxed) == 0 &&
        s.compare_exchange_strong(expected, slot, std::memory_order_release,
                                  std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

// Moves `resident` from slot `from` into an empty slot of `dest`. Order matters for lock-free
// readers: the copy is published first, then moves_ is bumped, then the original is cleared with
// release. A reader that sees the cleared original therefore also sees the bump and retries its
// miss, and a reader that read the bumped counter first sees the copy.
bool FlowTable::MoveSlot(std::atomic<uint64_t>& from, uint64_t resident, Bucket& dest) {
  for (auto& d : dest.slots) {
    uint64_t expected = 0;
    if (d.load(std::memory_order_relaxed) != 0 ||
        !d.compare_exchange_strong(expected, resident, std::memory_order_release,
                                   std::memory_order_relaxed)) {
      continue;
    }
    moves_.fetch_add(1, std::memory_order_acq_rel);
    uint64_t original = resident;
    if (from.compare_exchange_strong(original, 0, std::memory_order_release,
                                     std::memory_order_relaxed)) {
      return true;
    }
    // The owner removed (or another writer moved) the key meanwhile: withdraw our copy.
    uint64_t copy = resident;
    d.compare_exchange_strong(copy, 0, std::memory_order_release, std::memory_order_relaxed);
    return false;
  }
  return false;
}

// Frees a slot in `full` by moving one resident to its other bucket, first making room there
// the same way, down to `depth` more levels (a bounded cuckoo path, searched depth first).
bool FlowTable::MakeRoom(Bucket& full, int depth) {
  const auto here = static_cast<uint32_t>(&full - buckets_);
  for (auto& s : full.slots) {
    const uint64_t resident = s.load(std::memory_order_acquire);
    if (resident == 0) return true;  // a slot freed up meanwhile
    const auto tag = static_cast<uint32_t>(resident >> 32);
    const uint32_t b1 = Bucket1(tag);
    const uint32_t other = b1 == here ? Bucket2(tag) : b1;
    if (other == here) continue;
    if (MoveSlot(s, resident, buckets_[other])) return true;
    if (depth > 0 && MakeRoom(buckets_[other], depth - 1) &&
        MoveSlot(s, resident, buckets_[other])) {
      return true;
    }
  }
  return false;
}

SetupFailure FlowTable::InsertKey(const FlowKey& key, FlowHash hash, FlowId id, FlowDirection dir) {
  if (LookupHashed(key, hash).found()) return SetupFailure::kFlowKeyExists;
  const uint64_t slot = MakeSlot(hash.value, id, dir);
  Bucket* const choices[2] = {&buckets_[Bucket1(hash.value)], &buckets_[Bucket2(hash.value)]};
  // Bounded: each round either places the key or makes room by moving another key, and a room
  // made can be taken by a concurrent inserter only a few times in a row.
  constexpr int kMaxRounds = 4;
  for (int round = 0; round < kMaxRounds; ++round) {
    // First bucket whenever it has room: most keys then sit in the bucket lookups fetch first, so
    // a hit usually costs one bucket line.
    if (TryClaimEmpty(*choices[0], slot) || TryClaimEmpty(*choices[1], slot)) {
      return SetupFailure::kNone;
    }
    if (!MakeRoom(*choices[0], kCuckooDepth) && !MakeRoom(*choices[1], kCuckooDepth)) break;
  }
  return SetupFailure::kFlowTableFull;  // both buckets of the key are full
}

void FlowTable::RemoveKey(const FlowKey& key, FlowId id, FlowDirection dir) {
  // Hashed again: removal is not per packet, and keeping each key's hash would grow the entry.
  const uint32_t hash = HashFlowKey(key).value;
  const uint64_t slot = MakeSlot(hash, id, dir);
  for (;;) {
    const uint32_t moves = moves_.load(std::memory_order_acquire);
    for (const uint32_t bi : {Bucket1(hash), Bucket2(hash)}) {
      for (auto& s : buckets_[bi].slots) {
        uint64_t expected = slot;
        // A reader that loaded the slot before still finds the binding intact until reclaim.
        if (s.compare_exchange_strong(expected, 0, std::memory_order_release,
                                      std::memory_order_relaxed)) {
          return;
        }
      }
    }
    // Not found: either gone, or moving between the buckets while we scanned them.
    if (moves_.load(std::memory_order_acquire) == moves) return;
  }
}

uint32_t FlowTable::OwnerOf(FlowId id) const {
  const uint32_t big = shard_size_ + 1;
  const uint32_t big_span = big_shards_ * big;
  return id < big_span ? id / big : big_shards_ + (id - big_span) / shard_size_;
}

SetupOutcome<FlowId> FlowTable::Insert(uint32_t worker, const NewEntry& entry, TimeMs32 now) {
  const FlowBinding& binding = entry.binding;
  assert(entry.fwd_hash == HashFlowKey(binding.fwd));
  Shard& shard = shards_[worker];
  // Both keys' candidate buckets are random lines: start all four fetches before the first use.
  const FlowHash rev_hash = HashFlowKey(binding.rev);
  for (const FlowHash h : {entry.fwd_hash, rev_hash}) {
    rte_prefetch0(&buckets_[Bucket1(h.value)]);
    rte_prefetch0(&buckets_[Bucket2(h.value)]);
  }
  const FlowId id = AllocateId(shard);
  // The worker's shard has no free entry.
  if (id == kInvalidFlowId) return {kInvalidFlowId, SetupFailure::kFlowTableFull};
  FlowEntry& e = entries_[id];
  e.binding = binding;
  e.Publish(now, entry.nat_ip_index);
  e.last_seen_ms.store(now, std::memory_order_relaxed);
  for (auto& next : e.rcv_next) next.store(0, std::memory_order_relaxed);
  for (auto& c : e.counters) {
    c.packets.store(0, std::memory_order_relaxed);
    c.bytes.store(0, std::memory_order_relaxed);
  }
  SetupFailure failure = InsertKey(e.binding.fwd, entry.fwd_hash, id, FlowDirection::kIn2Out);
  if (failure == SetupFailure::kNone) {
    failure = InsertKey(e.binding.rev, rev_hash, id, FlowDirection::kOut2In);
    if (failure != SetupFailure::kNone) RemoveKey(e.binding.fwd, id, FlowDirection::kIn2Out);
  }
  if (failure != SetupFailure::kNone) {
    // The forward key may have been visible for a moment: defer reuse like any removal.
    e.MarkRemoved();
    shard.pending.push_back(id);
    return {kInvalidFlowId, failure};
  }
  shard.live.store(shard.live.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return {id};
}

void FlowTable::Remove(uint32_t worker, FlowId id) {
  Shard& shard = shards_[worker];
  FlowEntry& e = entries_[id];
  if (!e.MarkRemoved()) return;  // already removed: a flow is freed once
  RemoveKey(e.binding.fwd, id, FlowDirection::kIn2Out);
  RemoveKey(e.binding.rev, id, FlowDirection::kOut2In);
  shard.pending.push_back(id);
  shard.live.store(shard.live.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

void FlowTable::Reclaim(uint32_t worker) {
  Shard& shard = shards_[worker];
  if (rcu_ == nullptr) {
    for (const FlowId id : shard.pending) FreeId(shard, id);
    shard.pending.clear();
    return;
  }
  // Return every batch whose grace period is over; they complete in order. One thread checks at
  // a time: rte_rcu_qsbr_check() shares its "least acknowledged token" between callers with
  // relaxed accesses, so without this flag a caller could see another's result without seeing
  // the readers' quiescent states behind it. A busy flag means "try next loop": never wait.
  if (!shard.limbo.empty() && !rcu_check_busy_.exchange(true, std::memory_order_acquire)) {
    size_t done = 0;
    while (done < shard.limbo.size() &&
           rte_rcu_qsbr_check(rcu_, shard.limbo[done].token, false) == 1) {
      ++done;
    }
    rcu_check_busy_.store(false, std::memory_order_release);
    for (size_t b = 0; b < done; ++b) {
      for (const FlowId id : shard.limbo[b].ids) FreeId(shard, id);
    }
    shard.limbo.erase(shard.limbo.begin(), shard.limbo.begin() + static_cast<ptrdiff_t>(done));
  }
  if (!shard.pending.empty()) {
    // One token per batch: rte_rcu_qsbr_start is an atomic increment on a shared line.
    shard.limbo.push_back(Shard::Batch{rte_rcu_qsbr_start(rcu_), std::move(shard.pending)});
    shard.pending = {};
  }
}

}  // namespace privlink::nat
