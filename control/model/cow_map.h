// An ordered map whose copies share everything until one of them changes: the model's resource
// maps, so that a change to one endpoint copies a chunk of a few dozen entries and a vector of
// chunk pointers, never the model.
//
// Layout: sorted entries in chunks of at most kMaxChunk, each chunk held by a shared_ptr; a
// shared_ptr'd vector of the chunks in key order. Copying the map copies one pointer. A write
// copies the chunk vector and the touched chunk unless this map is their only owner (use_count()
// == 1), so a bulk change of N entries to one copy costs O(N log N), not N copies.
//
// Why use_count() == 1 is a safe test for "nobody else can see this": a chunk or chunk vector is
// only reachable through maps, and a map is copied only by its owner; another thread may drop
// its copy at any time (the count falls, which at worst makes us copy needlessly) but cannot
// raise the count of a node it does not already hold.
//
// Two versions that share a chunk share its contents, so Diff and operator== skip shared chunks
// and cost what differs. version() names the contents: equal versions mean equal contents (a
// copy keeps its source's version, every write takes a new one), which lets derived indexes
// (control/model/model_index.h) tell whether they still describe the map.
#pragma once

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

namespace privlink::control {

template <typename K, typename V>
class CowMap {
 public:
  using Entry = std::pair<K, V>;
  using key_type = K;
  using mapped_type = V;
  // A write that makes a chunk longer than this splits it in two; so a chunk copy costs at most
  // this many entry copies, and the chunk vector holds size / (kMaxChunk / 2) pointers at most.
  static constexpr size_t kMaxChunk = 64;
  // A chunk that falls below this after an erase is merged into a neighbour, so erases cannot
  // leave many near-empty chunks behind.
  static constexpr size_t kMinChunk = kMaxChunk / 8;

 private:
  struct Chunk {
    std::vector<Entry> items;  // sorted by key, never empty
  };
  using Chunks = std::vector<std::shared_ptr<Chunk>>;

 public:
  class const_iterator {
   public:
    using value_type = Entry;
    using reference = const Entry&;
    using pointer = const Entry*;
    using difference_type = std::ptrdiff_t;
    using iterator_category = std::forward_iterator_tag;

    const_iterator() = default;
    reference operator*() const { return (*chunks_)[chunk_]->items[item_]; }
    pointer operator->() const { return &**this; }
    const_iterator& operator++() {
      if (++item_ == (*chunks_)[chunk_]->items.size()) {
        ++chunk_;
        item_ = 0;
      }
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const const_iterator& o) const {
      return chunk_ == o.chunk_ && item_ == o.item_;
    }

   private:
    friend class CowMap;
    const_iterator(const Chunks* chunks, size_t chunk, size_t item)
        : chunks_(chunks), chunk_(chunk), item_(item) {}
    const Chunks* chunks_ = nullptr;
    size_t chunk_ = 0;
    size_t item_ = 0;
  };
  using iterator = const_iterator;  // entries change only through the write calls below

  CowMap() = default;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  uint64_t version() const { return version_; }

  const_iterator begin() const { return {chunks(), 0, 0}; }
  const_iterator end() const { return {chunks(), chunks()->size(), 0}; }

  template <typename Q>
  const_iterator find(const Q& key) const {
    const auto [chunk, item, found] = Locate(key);
    return found ? const_iterator(chunks(), chunk, item) : end();
  }
  template <typename Q>
  bool contains(const Q& key) const {
    return Locate(key).found;
  }
  template <typename Q>
  size_t count(const Q& key) const {
    return contains(key) ? 1 : 0;
  }
  template <typename Q>
  const V& at(const Q& key) const {
    const const_iterator it = find(key);
    if (it == end()) throw std::out_of_range("CowMap::at");
    return it->second;
  }
  // The first entry whose key is not less than (lower_bound) / greater than (upper_bound) `key`.
  template <typename Q>
  const_iterator lower_bound(const Q& key) const {
    const auto [chunk, item, found] = Locate(key);
    return Normalized(chunk, item);
  }
  template <typename Q>
  const_iterator upper_bound(const Q& key) const {
    const auto [chunk, item, found] = Locate(key);
    return Normalized(chunk, found ? item + 1 : item);
  }

  // The value under `key`, made this map's own to change in place; nullptr if there is none.
  template <typename Q>
  V* FindMutable(const Q& key) {
    const auto [chunk, item, found] = Locate(key);
    if (!found) return nullptr;
    return &OwnChunk(chunk).items[item].second;
  }
  template <typename Q>
  V& MutableAt(const Q& key) {
    V* value = FindMutable(key);
    if (value == nullptr) throw std::out_of_range("CowMap::MutableAt");
    return *value;
  }
  // Inserts or replaces. Returns true if the key was new. Both are taken by reference and the key
  // is copied first, so Set(x.name, std::move(x)) is safe.
  template <typename KK = K, typename VV = V>
  bool Set(KK&& key_in, VV&& value_in) {
    K key(std::forward<KK>(key_in));
    const auto [chunk, item, found] = Locate(key);
    if (found) {
      OwnChunk(chunk).items[item].second = V(std::forward<VV>(value_in));
      return false;
    }
    Insert(chunk, item, Entry(std::move(key), V(std::forward<VV>(value_in))));
    return true;
  }
  // Inserts only if the key is new (std::map::emplace's answer), taking arguments as Set does.
  template <typename KK = K, typename VV = V>
  bool emplace(KK&& key_in, VV&& value_in) {
    K key(std::forward<KK>(key_in));
    const auto [chunk, item, found] = Locate(key);
    if (found) return false;
    Insert(chunk, item, Entry(std::move(key), V(std::forward<VV>(value_in))));
    return true;
  }
  template <typename Q>
  size_t erase(const Q& key) {
    const auto [chunk, item, found] = Locate(key);
    if (!found) return 0;
    Remove(chunk, item);
    return 1;
  }
  void clear() { *this = CowMap(); }

  // Calls fn(key, before, after) for every key whose entry differs between `a` and `b` (before or
  // after is nullptr where the key is absent), in key order. Chunks the two share are skipped, so
  // comparing a map with a lightly changed copy costs what changed. fn returns false to stop.
  template <typename Fn>
  static void Diff(const CowMap& a, const CowMap& b, Fn&& fn) {
    if (a.chunks_ == b.chunks_) return;
    const Chunks& ca = *a.chunks();
    const Chunks& cb = *b.chunks();
    size_t i = 0, ia = 0, j = 0, jb = 0;
    while (i < ca.size() || j < cb.size()) {
      if (ia == 0 && jb == 0 && i < ca.size() && j < cb.size() && ca[i] == cb[j]) {
        ++i;
        ++j;
        continue;
      }
      const Entry* ea = i < ca.size() ? &ca[i]->items[ia] : nullptr;
      const Entry* eb = j < cb.size() ? &cb[j]->items[jb] : nullptr;
      bool go_on = true;
      bool step_a = false, step_b = false;
      if (eb == nullptr || (ea != nullptr && ea->first < eb->first)) {
        go_on = fn(ea->first, &ea->second, static_cast<const V*>(nullptr));
        step_a = true;
      } else if (ea == nullptr || eb->first < ea->first) {
        go_on = fn(eb->first, static_cast<const V*>(nullptr), &eb->second);
        step_b = true;
      } else {
        if (!(ea->second == eb->second)) go_on = fn(ea->first, &ea->second, &eb->second);
        step_a = step_b = true;
      }
      if (!go_on) return;
      if (step_a && ++ia == ca[i]->items.size()) {
        ++i;
        ia = 0;
      }
      if (step_b && ++jb == cb[j]->items.size()) {
        ++j;
        jb = 0;
      }
    }
  }

  bool operator==(const CowMap& o) const {
    if (size_ != o.size_) return false;
    if (version_ == o.version_) return true;
    bool same = true;
    Diff(*this, o, [&](const K&, const V*, const V*) { return same = false; });
    return same;
  }

 private:
  struct Position {
    size_t chunk;  // chunks()->size() when past the end
    size_t item;
    bool found;
  };

  static const Chunks* EmptyChunks() {
    static const Chunks empty;
    return &empty;
  }
  const Chunks* chunks() const { return chunks_ ? chunks_.get() : EmptyChunks(); }

  static uint64_t NextVersion() {
    // Relaxed: only uniqueness matters, not ordering with anything else.
    static std::atomic<uint64_t> counter{0};
    return counter.fetch_add(1, std::memory_order_relaxed) + 1;
  }

  // The chunk that holds `key` or would hold it, and the position within it.
  template <typename Q>
  Position Locate(const Q& key) const {
    const Chunks& cs = *chunks();
    if (cs.empty()) return {0, 0, false};
    // The last chunk whose first key is <= key (or the first chunk).
    auto next = std::upper_bound(cs.begin() + 1, cs.end(), key, [](const Q& k, const auto& c) {
      return k < c->items.front().first;
    });
    const size_t chunk = static_cast<size_t>(next - cs.begin()) - 1;
    const std::vector<Entry>& items = cs[chunk]->items;
    auto it = std::lower_bound(items.begin(), items.end(), key,
                               [](const Entry& e, const Q& k) { return e.first < k; });
    const size_t item = static_cast<size_t>(it - items.begin());
    return {chunk, item, it != items.end() && !(key < it->first)};
  }

  const_iterator Normalized(size_t chunk, size_t item) const {
    const Chunks& cs = *chunks();
    if (chunk < cs.size() && item == cs[chunk]->items.size()) return {&cs, chunk + 1, 0};
    return {&cs, chunk, item};
  }

  // This map's own chunk vector and chunk `index`, copied first if anyone else holds them.
  Chunks& OwnChunks() {
    version_ = NextVersion();
    if (!chunks_) {
      chunks_ = std::make_shared<Chunks>();
    } else if (chunks_.use_count() != 1) {
      chunks_ = std::make_shared<Chunks>(*chunks_);
    }
    return *chunks_;
  }
  Chunk& OwnChunk(size_t index) {
    Chunks& cs = OwnChunks();
    if (cs[index].use_count() != 1) cs[index] = std::make_shared<Chunk>(*cs[index]);
    return *cs[index];
  }

  void Insert(size_t chunk, size_t item, Entry entry) {
    ++size_;
    if (chunks()->empty()) {
      auto first = std::make_shared<Chunk>();
      first->items.push_back(std::move(entry));
      OwnChunks().push_back(std::move(first));
      return;
    }
    Chunk& c = OwnChunk(chunk);
    c.items.insert(c.items.begin() + static_cast<std::ptrdiff_t>(item), std::move(entry));
    if (c.items.size() <= kMaxChunk) return;
    auto upper = std::make_shared<Chunk>();
    const auto half = c.items.begin() + static_cast<std::ptrdiff_t>(c.items.size() / 2);
    upper->items.assign(std::make_move_iterator(half), std::make_move_iterator(c.items.end()));
    c.items.erase(half, c.items.end());
    Chunks& cs = *chunks_;
    cs.insert(cs.begin() + static_cast<std::ptrdiff_t>(chunk) + 1, std::move(upper));
  }

  void Remove(size_t chunk, size_t item) {
    --size_;
    Chunk& c = OwnChunk(chunk);
    c.items.erase(c.items.begin() + static_cast<std::ptrdiff_t>(item));
    Chunks& cs = *chunks_;
    if (c.items.empty()) {
      cs.erase(cs.begin() + static_cast<std::ptrdiff_t>(chunk));
      return;
    }
    if (c.items.size() >= kMinChunk || cs.size() == 1) return;
    // Merge with the left neighbour (the right one for the first chunk) if the two fit in one.
    const size_t left = chunk > 0 ? chunk - 1 : chunk;
    const size_t right = left + 1;
    if (right >= cs.size() || cs[left]->items.size() + cs[right]->items.size() > kMaxChunk) {
      return;
    }
    Chunk& into = OwnChunk(left);
    const std::vector<Entry>& from = cs[right]->items;
    into.items.insert(into.items.end(), from.begin(), from.end());
    cs.erase(cs.begin() + static_cast<std::ptrdiff_t>(right));
  }

  std::shared_ptr<Chunks> chunks_;  // null = empty
  size_t size_ = 0;
  uint64_t version_ = 0;  // 0 = the empty map that was never written
};

}  // namespace privlink::control
