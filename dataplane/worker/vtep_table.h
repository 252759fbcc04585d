// Where a tunnelled flow's frames to its client go: the inner client MAC and the VTEP (outer IP
// and MAC) that sent the flow's first packet. The flow entry is 96 bytes and full, so a flow of
// a VXLAN network keeps an index into this table in FlowBinding::client_mac's place
// (VtepIndexOf / SetVtepIndex) instead of widening the entry.
//
// One table shared by every worker, each worker writing only its own slice: the creating worker
// takes an entry for a new flow (deduplicated: the clients behind one VTEP share nothing but
// their VTEP, the same client's flows share one entry) and gives it back when the flow ends.
// Another worker reads an entry only through a flow published after the entry was written (the
// flow table's insert publishes with release semantics), and an entry given back is reused only
// once every flow-table reader (every worker) has been quiescent since (the flow table's own RCU
// domain): none can still be sending a packet of the ended flow.
#pragma once

#include <cstdint>
#include <cstring>
#include <deque>
#include <optional>
#include <vector>

#include <rte_rcu_qsbr.h>

#include "absl/container/flat_hash_map.h"
#include "dataplane/packet/wire_format.h"
#include "nat/clock.h"
#include "nat/flow_entry.h"

namespace privlink::dataplane {

// Entries per worker: distinct (client, VTEP) pairs with live flows on that worker. A client is
// one entry whatever its number of flows.
inline constexpr uint32_t kVtepsPerWorker = 16'384;

struct VtepHop {
  MacAddress client_mac{};  // the inner destination of frames to the client
  MacAddress vtep_mac{};    // the outer destination
  Ipv4Be vtep_ip = 0;       // the outer destination
  bool operator==(const VtepHop&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const VtepHop& v) {
    return H::combine(std::move(h), v.client_mac, v.vtep_mac, v.vtep_ip);
  }
};

// The index a tunnelled flow keeps in its binding's client_mac bytes.
inline uint32_t VtepIndexOf(const nat::FlowBinding& b) {
  uint32_t index;
  std::memcpy(&index, b.client_mac, sizeof index);
  return index;
}
inline void SetVtepIndex(uint8_t (&client_mac)[6], uint32_t index) {
  std::memset(client_mac, 0, sizeof client_mac);
  std::memcpy(client_mac, &index, sizeof index);
}

class VtepTable {
 public:
  explicit VtepTable(uint32_t workers) : hops_(size_t{workers} * kVtepsPerWorker) {}
  const VtepHop& at(uint32_t index) const { return hops_[index]; }
  size_t size() const { return hops_.size(); }

  // One worker's slice: only that worker calls these.
  class Slice {
   public:
    // `readers`: the flow table's RCU domain (its readers are the workers); nullptr: reuse at once
    // (a single-threaded test).
    Slice(VtepTable* table, uint32_t worker, rte_rcu_qsbr* readers)
        : table_(table),
          readers_(readers),
          base_(worker * kVtepsPerWorker),
          refs_(kVtepsPerWorker) {}

    // The entry for `hop` (one more flow refers to it), or nullopt when the slice is full.
    std::optional<uint32_t> Acquire(const VtepHop& hop);
    // A flow that referred to `index` ended.
    void Release(uint32_t index);
    size_t in_use() const { return by_hop_.size(); }

   private:
    struct Freed {
      uint32_t offset;
      uint64_t token;  // rte_rcu_qsbr_start's at the release
    };
    VtepTable* table_;
    rte_rcu_qsbr* readers_;
    uint32_t base_;
    std::vector<uint32_t> refs_;  // by offset in the slice
    absl::flat_hash_map<VtepHop, uint32_t> by_hop_;
    uint32_t next_unused_ = 0;  // offsets from here on were never handed out
    std::deque<Freed> freed_;   // oldest first
  };

 private:
  std::vector<VtepHop> hops_;
};

}  // namespace privlink::dataplane
