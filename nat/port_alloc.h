// Per-service NAT IP and port allocation, endpoint-dependent, as Azure Private Link does it.
//
// Each NAT IP has ports [first, last] (default 1024-65535 = 64,512). A NAT ip:port may serve
// several backends at once (the provider-side tuple still differs), so every (NAT IP, backend
// ip:port and protocol) pair has its own port space. Each worker owns a disjoint share of every
// pair's ports, so allocation takes no lock and a port can never be handed out twice:
// - with RSS port choice (PortAllocatorConfig::steering), the ports whose return tuple the NICs'
//   RSS delivers to the worker's own queue (nat/rss_port_map.h), so both directions of each flow
//   it creates stay on it; the share differs per pair and is found without hashing a port;
// - without, a contiguous slice of the range (WorkerPortSlice), the same for every pair.
// A released port stays in quarantine for that backend (default 120 s) so a backend still in
// TIME_WAIT never sees the tuple reused.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nat/clock.h"
#include "nat/flow_key.h"
#include "nat/inet.h"
#include "nat/rss_port_map.h"
#include "nat/setup_failure.h"

namespace privlink::nat {

inline constexpr uint16_t kDefaultFirstNatPort = 1024;
inline constexpr uint16_t kDefaultLastNatPort = 65535;
// The health prober's source ports, below every NAT port range: no client flow ever takes one,
// so a provider packet to one of them is a probe's answer, told apart before any flow lookup.
inline constexpr uint16_t kProbeFirstPort = 768;
inline constexpr uint16_t kProbeLastPort = 1023;
inline constexpr uint16_t kProbePortCount = kProbeLastPort - kProbeFirstPort + 1;
static_assert(kProbeLastPort < kDefaultFirstNatPort);
inline bool IsProbePort(PortBe port) {
  return static_cast<uint16_t>(Be16ToHost(port) - kProbeFirstPort) < kProbePortCount;
}
inline constexpr uint32_t kDefaultPortQuarantineMs = 120'000;
// One hour: far past any backend's TIME_WAIT (2 MSL is at most 4 minutes), yet short enough that a
// typo cannot park a whole slice for days.
inline constexpr uint32_t kMaxPortQuarantineMs = 3'600'000;
inline constexpr size_t kMaxNatIpsPerService = 8;

struct PortAllocatorConfig {
  uint16_t first_port = kDefaultFirstNatPort;  // host order
  uint16_t last_port = kDefaultLastNatPort;    // host order, inclusive
  uint32_t worker_count = 1;
  uint32_t worker_index = 0;                          // which slice this allocator owns
  uint32_t quarantine_ms = kDefaultPortQuarantineMs;  // 0: a released port is free at once
  // RSS port choice: the worker's share of a pair is what comes back to queue worker_index under
  // this map (its queues() must be worker_count). nullptr: contiguous slices.
  std::shared_ptr<const RssPortMap> steering;
};

// Where a flow goes on the provider side, which NAT port spaces are kept per: the backend's
// ip:port and the protocol (TCP and UDP ports are separate spaces, so one NAT port may carry a
// TCP and a UDP flow to the same backend at once).
struct BackendAddress {
  Ipv4Be ip = 0;
  PortBe port = 0;
  uint8_t proto = kIpProtoTcp;
  bool operator==(const BackendAddress&) const = default;
};

struct NatTuple {
  Ipv4Be ip = 0;
  PortBe port = 0;
};

struct PortUsage {
  uint32_t used = 0;         // handed out and not released
  uint32_t quarantined = 0;  // released, not yet reusable for that backend
  // This worker's ports for the (NAT IP, backend) pair; per NAT IP alone, its nominal share of
  // the range (with RSS port choice a pair's share varies around it when the range does not
  // cover whole classes; the shares of all workers always sum to the range).
  uint32_t capacity = 0;
};

// One worker's contiguous share of the port range, host order, inclusive.
struct PortSlice {
  uint16_t first_port = 0;
  uint16_t last_port = 0;
  uint32_t size() const { return uint32_t{last_port} - first_port + 1; }
};

// Worker i of n gets ports [first + i*N/n, first + (i+1)*N/n) of the N in the range: contiguous,
// disjoint, covering the range, sizes differing by at most one. InvalidArgument (naming the field)
// for worker_count 0, worker_index >= worker_count, first_port 0, first_port > last_port, or fewer
// ports than workers.
absl::StatusOr<PortSlice> WorkerPortSlice(const PortAllocatorConfig& config);

// One worker's allocator for every NAT IP it serves. Owned and used by exactly one thread: no
// locks, no atomics. State exists only for (NAT IP, backend) pairs with ports in use or in
// quarantine: two bitmaps of the worker's share (in use, quarantined; 16 KB for the full default
// range on one worker, 2 KB on eight) plus a 128-byte summary of which 64-port words have a free
// port. A share is laid out as positions 0 .. space_size - 1: a slice's ports in order, or with
// RSS port choice the worker's classes one after another (each class's ports in order), the
// positions of ports outside [first, last] marked used for good.
// Quarantine expiry is lazy: Allocate, Usage and Expire apply it as of their `now`.
class NatPortAllocator {
 public:
  // Errors: those of WorkerPortSlice, and quarantine_ms above kMaxPortQuarantineMs.
  static absl::StatusOr<NatPortAllocator> Create(const PortAllocatorConfig& config);

  NatPortAllocator(NatPortAllocator&&) noexcept;
  NatPortAllocator& operator=(NatPortAllocator&&) noexcept;
  ~NatPortAllocator();

  // Picks a NAT IP, starting at nat_ips[spread_hint % n] (pass the flow hash so new connections
  // spread evenly) and moving to the next one when a NAT IP has no free port for this backend;
  // then a port of this worker's slice that is neither in use nor in quarantine for this backend.
  // Failures are flow setup's (the caller drops the SYN under that reason): kNatIpsInvalid,
  // nat_ips empty or longer than kMaxNatIpsPerService; kNatPortsExhausted, no NAT IP has a free
  // port for this backend.
  SetupOutcome<NatTuple> Allocate(std::span<const Ipv4Be> nat_ips, const BackendAddress& backend,
                                  uint32_t spread_hint, TimeMs now);

  // Puts an allocated port in quarantine for this backend until now + quarantine_ms. A port that
  // is not in use for this backend (double release, wrong backend or NAT IP, another worker's
  // share) is an error and changes nothing, so a port returns to the pool exactly once.
  absl::Status Release(NatTuple nat, const BackendAddress& backend, TimeMs now);
  // Gives back a port that never carried a packet (its flow could not be created): free again
  // at once, without quarantine, so refused SYNs (a full flow table under a flood) cannot park
  // the whole slice. Same errors as Release.
  absl::Status ReleaseUnused(NatTuple nat, const BackendAddress& backend);

  // Ends every quarantine that is over at `now` and drops pairs left with no port in use.
  void Expire(TimeMs now);

  // Exact as of `now`. Per NAT IP the counts are summed over backends.
  PortUsage Usage(Ipv4Be nat_ip, const BackendAddress& backend, TimeMs now);
  PortUsage Usage(Ipv4Be nat_ip, TimeMs now);

  // Without steering (also with steering on one worker: every port comes back to it), this
  // worker's contiguous share.
  PortSlice slice() const { return slice_; }
  // PortUsage::capacity per NAT IP: the workers' figures sum to the range.
  uint32_t nominal_capacity() const { return nominal_capacity_; }
  // (NAT IP, backend) pairs holding state; memory follows this number.
  size_t active_pairs() const { return spaces_.size(); }

 private:
  static constexpr uint32_t kBitsPerWord = 64;
  // 65,535 ports at most -> 1,024 words of 64 ports -> 16 summary words.
  static constexpr uint32_t kMaxSummaryWords = 16;

  struct PairKey {
    Ipv4Be nat_ip = 0;
    BackendAddress backend;
    bool operator==(const PairKey&) const = default;
    template <typename H>
    friend H AbslHashValue(H h, const PairKey& k) {
      return H::combine(std::move(h), k.nat_ip, k.backend.ip, k.backend.port, k.backend.proto);
    }
  };
  struct NatIpTotals {
    uint32_t used = 0;
    uint32_t quarantined = 0;
    uint32_t pairs = 0;  // erased with its last pair
  };
  // 64 ports; both bitmaps side by side so a scan or a release touches one cache line.
  struct PortWord {
    uint64_t used = 0;
    uint64_t quarantined = 0;
  };
  // The port space of one (NAT IP, backend) pair within this worker's share.
  struct PairSpace {
    PairKey key;
    NatIpTotals* totals = nullptr;
    uint32_t base = 0;      // with steering: RssPortMap::PairBase of the key
    uint32_t capacity = 0;  // positions holding a port of the range
    uint32_t used = 0;
    uint32_t quarantined = 0;
    uint32_t cursor = 0;  // slice offset where the next search starts; rotates
    std::array<uint64_t, kMaxSummaryWords> words_with_free{};  // bit w: word w has a free port
    std::unique_ptr<PortWord[]> words;
  };
  struct QuarantineEntry {
    PairSpace* space;
    TimeMs ends_at;
    uint32_t port_index;  // position in the share
  };

  NatPortAllocator(const PortAllocatorConfig& config, PortSlice slice);

  PairSpace& FindOrCreateSpace(const PairKey& key);
  absl::Status Free(NatTuple nat, const BackendAddress& backend, bool quarantine, TimeMs now);
  uint32_t TakeFreePort(PairSpace& space);
  // The port at a position of `space`'s share, and the position of a port (none: not this
  // worker's for the pair, or outside the range).
  uint16_t PortAt(const PairSpace& space, uint32_t position) const;
  std::optional<uint32_t> PositionOf(const PairSpace& space, uint16_t port) const;
  // Marks the positions that hold no port of the range as used for good; returns the capacity.
  uint32_t MarkOutOfRange(PairSpace& space) const;
  // With steering, RssPortMap::PairBase of the pair; else 0.
  uint32_t BaseOf(const PairKey& key) const;
  // The ports of the range a pair's share holds, given its base.
  uint32_t CapacityOf(uint32_t base) const;
  uint32_t FindWordWithFree(const PairSpace& space, uint32_t start_word) const;
  void MarkWordHasFree(PairSpace& space, uint32_t port_index);
  void DropIfIdle(PairSpace& space);

  PortSlice range_;
  PortSlice slice_;
  uint32_t worker_index_;
  uint32_t space_size_;        // positions of a pair's share
  uint32_t nominal_capacity_;  // PortUsage::capacity per NAT IP
  uint32_t word_count_;
  uint32_t quarantine_ms_;
  std::shared_ptr<const RssPortMap> steering_;
  // With steering: the ranks of each class that lie in the range.
  std::vector<RssPortMap::RankRange> in_range_;
  // unique_ptr keeps each space and totals at one address for the quarantine FIFO's pointers.
  absl::flat_hash_map<PairKey, std::unique_ptr<PairSpace>> spaces_;
  absl::flat_hash_map<Ipv4Be, std::unique_ptr<NatIpTotals>> totals_;
  // In release order, which is end-time order since quarantine_ms is the same for every entry.
  // Entries leave only from the front, so a clock stepping back lengthens a quarantine, never
  // shortens it.
  std::deque<QuarantineEntry> quarantine_;
};

}  // namespace privlink::nat
