// A hash map for snapshot tables that a new snapshot shares with the one before it: the keys are
// split by hash over buckets, each an immutable flat_hash_map held by a shared_ptr. A snapshot
// built from the previous one copies the bucket pointers (8 bytes per bucket) and copies a
// bucket only when it writes to it; buckets of a published snapshot are never written, so
// readers need no lock and see one consistent version.
//
// Lookups cost one extra pointer load over a flat_hash_map: fine for the tables held here (the
// slow path's PE lookup, ARP, diagnostics), which a packet of an existing flow never reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"

namespace privlink::control {

template <typename K, typename V>
class BucketedMap {
 public:
  using Bucket = absl::flat_hash_map<K, V>;
  // Buckets grow (the map is rehashed into twice as many) when they average more entries than
  // this: small enough that copying a bucket is a few microseconds, large enough that the bucket
  // array (copied whole with every snapshot) stays a small fraction of the entries.
  static constexpr size_t kMaxAverageBucket = 32;
  static constexpr size_t kMinBuckets = 64;

  BucketedMap() : buckets_(kMinBuckets), shift_(64 - Log2(kMinBuckets)) {}

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  const V* Find(const K& key) const {
    const Bucket* bucket = buckets_[BucketOf(key)].get();
    if (bucket == nullptr) return nullptr;
    auto it = bucket->find(key);
    return it == bucket->end() ? nullptr : &it->second;
  }
  bool contains(const K& key) const { return Find(key) != nullptr; }
  const V& at(const K& key) const {
    const V* value = Find(key);
    if (value == nullptr) throw std::out_of_range("BucketedMap::at");
    return *value;
  }
  // fn(key, value) for every entry, in no particular order.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (const auto& bucket : buckets_) {
      if (bucket == nullptr) continue;
      for (const auto& [key, value] : *bucket) fn(key, value);
    }
  }

  // Writes: only on a map no reader can see yet (a snapshot being built).
  void Set(const K& key, V value) {
    Bucket& bucket = Own(BucketOf(key));
    auto [it, inserted] = bucket.insert_or_assign(key, std::move(value));
    if (inserted && ++size_ > buckets_.size() * kMaxAverageBucket) Grow();
  }
  void Erase(const K& key) {
    const size_t index = BucketOf(key);
    if (buckets_[index] == nullptr || !buckets_[index]->contains(key)) return;
    Own(index).erase(key);
    --size_;
  }

  // How many buckets this map shares with `other` (tests and the benchmark's report).
  size_t SharedBuckets(const BucketedMap& other) const {
    size_t shared = 0;
    for (size_t i = 0; i < buckets_.size() && i < other.buckets_.size(); ++i) {
      shared += buckets_[i] != nullptr && buckets_[i] == other.buckets_[i];
    }
    return shared;
  }

 private:
  static unsigned Log2(size_t n) {
    unsigned bits = 0;
    while ((size_t{1} << bits) < n) ++bits;
    return bits;
  }
  // The hash's top bits pick the bucket: flat_hash_map uses the low bits within it, so keys of
  // one bucket still spread over its slots.
  size_t BucketOf(const K& key) const {
    return static_cast<size_t>(static_cast<uint64_t>(absl::Hash<K>{}(key)) >> shift_);
  }
  // A bucket of this map's own: copied from the shared one first. use_count() == 1 means no
  // other map holds it (a snapshot is built by one thread; see control/model/cow_map.h).
  Bucket& Own(size_t index) {
    std::shared_ptr<Bucket>& bucket = buckets_[index];
    if (bucket == nullptr) {
      bucket = std::make_shared<Bucket>();
    } else if (bucket.use_count() != 1) {
      bucket = std::make_shared<Bucket>(*bucket);
    }
    return *bucket;
  }
  void Grow() {
    BucketedMap bigger;
    bigger.buckets_.assign(buckets_.size() * 2, nullptr);
    bigger.shift_ = shift_ - 1;
    ForEach([&](const K& key, const V& value) { bigger.Set(key, value); });
    *this = std::move(bigger);
  }

  std::vector<std::shared_ptr<Bucket>> buckets_;
  unsigned shift_;
  size_t size_ = 0;
};

}  // namespace privlink::control
