// Maglev consistent hashing (Eisenbud et al., NSDI 2016) with weights.
//
// The control side builds a table with a pure function; the data path only indexes it: one hash
// of the flow, one multiply-shift, one array load. A flow's backend is chosen once, at flow
// creation, and kept in the flow entry, so rebuilding the table never moves an existing flow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace privlink::lb {

// Default table size: a prime well above 100x the backends a service has, as the paper advises.
inline constexpr uint32_t kDefaultMaglevTableSize = 65537;
// Slot is 16 bits and 0xffff is kNoBackend; the cap leaves 0xfffe spare for a future sentinel.
inline constexpr size_t kMaxMaglevBackends = 65534;
// 32 MiB of slots: 100x the most backends still fits, a typo cannot allocate gigabytes, and the
// size stays far below 2^32 so Pick's multiply-shift remains uniform.
inline constexpr uint32_t kMaxMaglevTableSize = 1u << 24;

struct MaglevBackend {
  // Stable identity (e.g. "192.168.10.11:8080"); the permutation depends on it, not on the
  // backend's position in the list, so reordering the list changes nothing.
  std::string name;
  uint32_t weight = 1;  // 0 = takes no new flows (draining)
};

class MaglevTable {
 public:
  using Slot = uint16_t;  // index into the backend list the table was built from
  static constexpr Slot kNoBackend = 0xffff;

  MaglevTable() = default;

  // The data path's whole job: map a flow hash to a backend index. Multiply-shift instead of
  // modulo keeps it to one multiplication; uniform because the table size is far below 2^32.
  Slot Pick(uint32_t flow_hash) const {
    return slots_[(static_cast<uint64_t>(flow_hash) * slots_.size()) >> 32];
  }
  uint32_t size() const { return static_cast<uint32_t>(slots_.size()); }
  std::span<const Slot> slots() const { return slots_; }

 private:
  friend absl::StatusOr<MaglevTable> BuildMaglevTable(std::span<const MaglevBackend>, uint32_t);
  std::vector<Slot> slots_;
};

// Pure: same input, same table, on any machine and in any process (the hash of a name is our own,
// not absl::Hash). The slot -> name mapping depends only on the set of (name, weight) pairs, not on
// the list's order. Slot shares follow weight shares to within one slot; weight 0 gets no slot.
// Errors (InvalidArgument): empty backend list, no backend with weight > 0, more than
// kMaxMaglevBackends backends, two backends with the same name, table size not prime, above
// kMaxMaglevTableSize or smaller than the number of backends.
absl::StatusOr<MaglevTable> BuildMaglevTable(std::span<const MaglevBackend> backends,
                                             uint32_t table_size = kDefaultMaglevTableSize);

}  // namespace privlink::lb
