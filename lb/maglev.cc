// Weighted Maglev table construction (Eisenbud et al., NSDI 2016, section 3.4).
//
// Each backend walks its own permutation of the slots (offset + j * skip mod M) and, on each of its
// turns, claims the next slot it finds still empty. Weights decide how often a backend gets a
// turn: turns are handed out by earliest deadline, backend i's t-th turn being due at
// (t + 1/2) / w_i, so after any number of turns each backend's count is within one of its weight
// share. With equal weights that is exactly the paper's round-robin. A heap keeps the cost at
// O(M log N) no matter how skewed the weights are.
#include "lb/maglev.h"

#include <algorithm>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace privlink::lb {
namespace {

// Two independent seeds give the offset and skip hashes; fixed forever, since tables must come
// out identical after a control-plane restart or on another machine.
constexpr uint64_t kOffsetSeed = 0x6d61676c65762d6fULL;  // "maglev-o"
constexpr uint64_t kSkipSeed = 0x6d61676c65762d73ULL;    // "maglev-s"

constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

// MurmurHash3's 64-bit finalizer: FNV-1a alone mixes its last bytes poorly into the high bits,
// and names like "10.0.0.1:80" / "10.0.0.2:80" differ only in one byte.
uint64_t Fmix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

// Seeded FNV-1a over the name's bytes, then a finalizer. Byte-wise, so endianness does not matter.
uint64_t StableNameHash(const std::string& name, uint64_t seed) {
  uint64_t h = kFnvOffsetBasis ^ Fmix64(seed);
  for (unsigned char byte : name) {
    h ^= byte;
    h *= kFnvPrime;
  }
  return Fmix64(h ^ name.size());
}

bool IsPrime(uint32_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (uint64_t d = 3; d * d <= n; d += 2) {
    if (n % d == 0) return false;
  }
  return true;
}

// One backend's walk through its permutation and its share of turns so far.
struct Walker {
  uint32_t next_slot;  // offset + j * skip mod M for the j-th probe
  uint32_t skip;
  uint32_t weight;
  uint32_t turns = 0;
  MaglevTable::Slot backend_index;  // position in the caller's list: what the table stores
};

// Orders the turn heap: true when `a`'s next turn is due after `b`'s (std heaps are max-heaps,
// so this puts the earliest deadline on top). Deadlines (2t + 1) / (2w) are compared by cross
// multiplication; 128 bits because t and w may both approach 2^32. Ties go to the lower rank,
// i.e. the name that sorts first, which keeps the result independent of the list's order.
struct TurnIsLater {
  const std::vector<Walker>* walkers;
  bool operator()(uint32_t a_rank, uint32_t b_rank) const {
    const Walker& a = (*walkers)[a_rank];
    const Walker& b = (*walkers)[b_rank];
    const unsigned __int128 a_due =
        static_cast<unsigned __int128>(2 * uint64_t{a.turns} + 1) * b.weight;
    const unsigned __int128 b_due =
        static_cast<unsigned __int128>(2 * uint64_t{b.turns} + 1) * a.weight;
    if (a_due != b_due) return a_due > b_due;
    return a_rank > b_rank;
  }
};

absl::Status ValidateInput(std::span<const MaglevBackend> backends, uint32_t table_size) {
  if (backends.empty()) {
    return absl::InvalidArgumentError("backends: list is empty; a Maglev table needs at least one");
  }
  if (backends.size() > kMaxMaglevBackends) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "backends: %d given, at most %d fit a Maglev table", backends.size(), kMaxMaglevBackends));
  }
  if (std::none_of(backends.begin(), backends.end(),
                   [](const MaglevBackend& b) { return b.weight > 0; })) {
    return absl::InvalidArgumentError(
        absl::StrFormat("backends: all %d have weight 0 (draining); at least one needs weight > 0",
                        backends.size()));
  }
  if (!IsPrime(table_size)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "table_size: %d is not prime (Maglev permutations need a prime size)", table_size));
  }
  if (table_size > kMaxMaglevTableSize) {
    return absl::InvalidArgumentError(
        absl::StrFormat("table_size: %d is above the maximum %d", table_size, kMaxMaglevTableSize));
  }
  if (table_size < backends.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "table_size: %d is smaller than the number of backends (%d)", table_size, backends.size()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<MaglevTable> BuildMaglevTable(std::span<const MaglevBackend> backends,
                                             uint32_t table_size) {
  if (absl::Status status = ValidateInput(backends, table_size); !status.ok()) return status;

  // Canonical order by name: ties in the turn order are broken by it, never by list position.
  std::vector<MaglevTable::Slot> by_name(backends.size());
  std::iota(by_name.begin(), by_name.end(), MaglevTable::Slot{0});
  std::sort(by_name.begin(), by_name.end(), [&](MaglevTable::Slot a, MaglevTable::Slot b) {
    return backends[a].name < backends[b].name;
  });
  for (size_t i = 1; i < by_name.size(); ++i) {
    const MaglevTable::Slot prev = by_name[i - 1];
    const MaglevTable::Slot cur = by_name[i];
    if (backends[prev].name == backends[cur].name) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "backends[%d].name: \"%s\" duplicates backends[%d]; names identify backends",
          std::max(prev, cur), backends[cur].name, std::min(prev, cur)));
    }
  }

  std::vector<Walker> walkers;  // indexed by rank among the backends with weight > 0
  walkers.reserve(backends.size());
  for (MaglevTable::Slot index : by_name) {
    const MaglevBackend& backend = backends[index];
    if (backend.weight == 0) continue;  // draining: no turns, so no slots
    walkers.push_back(Walker{
        .next_slot = static_cast<uint32_t>(StableNameHash(backend.name, kOffsetSeed) % table_size),
        // Any skip in [1, M-1] visits every slot because M is prime.
        .skip =
            static_cast<uint32_t>(StableNameHash(backend.name, kSkipSeed) % (table_size - 1)) + 1,
        .weight = backend.weight,
        .backend_index = index,
    });
  }

  std::vector<uint32_t> turn_heap(walkers.size());
  std::iota(turn_heap.begin(), turn_heap.end(), 0u);
  const TurnIsLater turn_is_later{&walkers};
  std::make_heap(turn_heap.begin(), turn_heap.end(), turn_is_later);

  MaglevTable table;
  table.slots_.assign(table_size, MaglevTable::kNoBackend);
  for (uint32_t filled = 0; filled < table_size; ++filled) {
    std::pop_heap(turn_heap.begin(), turn_heap.end(), turn_is_later);
    Walker& walker = walkers[turn_heap.back()];
    // Terminates: the walk covers every slot and at least one is still empty.
    while (table.slots_[walker.next_slot] != MaglevTable::kNoBackend) {
      const uint64_t next = uint64_t{walker.next_slot} + walker.skip;  // < 2M: no modulo needed
      walker.next_slot = static_cast<uint32_t>(next >= table_size ? next - table_size : next);
    }
    table.slots_[walker.next_slot] = walker.backend_index;
    ++walker.turns;
    std::push_heap(turn_heap.begin(), turn_heap.end(), turn_is_later);
  }
  return table;
}

}  // namespace privlink::lb
