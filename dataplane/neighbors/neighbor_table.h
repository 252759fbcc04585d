// The neighbour table of one provider port: which MAC each next hop (a backend on the port's
// subnet, or the gateway) has, learned with ARP or given in the config.
//
// Owned by the control thread (single-threaded, no locks). Workers never touch it: they read an
// immutable NeighborSnapshot that Snapshot() hands out and the control thread publishes, and pass
// packets whose next hop has no MAC yet to the control thread, which holds them here until the
// neighbour answers.
//
// Entry life:
//   static       from the config; never expires, never changed by ARP.
//   resolving    Resolve() asked for it: ARP requests go out, at most one per retry interval,
//                up to max_requests; packets wait in its hold queue meanwhile.
//   reachable    an ARP message from it gave its MAC; valid for reachable_ms after the last one.
//                Entries someone resolved are refreshed: from refresh_lead_ms before expiry, ARP
//                requests go out again; if none is answered by expiry it is resolving again
//                (without a MAC), and gives up when the requests run out.
//   unreachable  gave up: held packets go back to be dropped, and Resolve() answers
//                kUnreachable without sending for unreachable_holdoff_ms; then resolution
//                starts over by itself, so a backend that comes back is found before traffic
//                needs it.
// Entries stay until Forget() (the next hop is no longer used) except those learned unasked,
// which expire. Feed OnArp() only messages from others: the caller skips any whose sender IP is
// one of its own (a looped-back announcement).
//
// Learning rule (what keeps a neighbour from poisoning arbitrary entries): only the sender
// fields of an ARP request or reply teach anything, and only when the sender's IP
//   - already has a dynamic entry (we asked for it, or learned it before), or
//   - lies inside the port's subnet (RFC 826 learning, as a host on that subnet would).
// Never for a static entry, a sender IP of 0.0.0.0 (an RFC 5227 probe), broadcast or multicast,
// or a sender MAC that is zero or multicast. A host on the subnet can still claim another
// on-link address (ARP has no authentication); configure static entries where that matters.
// Entries learned unasked are the first evicted when Resolve() needs room.
//
// Time is passed in (TimeMs from the caller's nat::Clock), so tests step a VirtualClock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dataplane/neighbors/subnet.h"
#include "dataplane/packet/parse.h"  // ArpFields
#include "dataplane/packet/wire_format.h"
#include "nat/clock.h"
#include "nat/inet.h"

namespace privlink::dataplane {

// A packet held for an unresolved neighbour, opaque to the table: the dataplane stores an mbuf
// pointer (reinterpret_cast<uintptr_t>), tests store numbers.
using PacketHandle = uint64_t;

// Sized for a provider subnet of a few hundred backends with ample margin; bounds the control
// thread's memory and the time to copy a snapshot.
inline constexpr uint32_t kDefaultMaxNeighbors = 4096;
// A burst of SYNs arriving during one ARP round trip; holding more only delays the drops.
inline constexpr uint32_t kDefaultMaxHeldPerNeighbor = 16;
// Held packets are mbufs from the shared pool: many unresolved neighbours must not drain it.
inline constexpr uint32_t kDefaultMaxHeldTotal = 1024;
// Linux's base_reachable_time.
inline constexpr nat::TimeMs kDefaultReachableMs = 30'000;
// Start refreshing early enough for max_requests tries at retry_interval_ms before expiry.
inline constexpr nat::TimeMs kDefaultRefreshLeadMs = 5'000;
// At most one ARP request per neighbour per second (Linux's retrans_time).
inline constexpr nat::TimeMs kDefaultRetryIntervalMs = 1'000;
// Linux's mcast_solicit: three unanswered requests and the neighbour is unreachable.
inline constexpr uint32_t kDefaultMaxRequests = 3;
// Long enough not to flood the subnet for a dead backend, short enough to find it again soon.
inline constexpr nat::TimeMs kDefaultUnreachableHoldoffMs = 20'000;

struct NeighborTableConfig {
  std::optional<Ipv4Subnet> subnet;  // on-link addresses; none: everything goes via the gateway
  std::optional<Ipv4Be> gateway;     // next hop for addresses outside `subnet`
  uint32_t max_neighbors = kDefaultMaxNeighbors;
  uint32_t max_held_per_neighbor = kDefaultMaxHeldPerNeighbor;
  uint32_t max_held_total = kDefaultMaxHeldTotal;
  nat::TimeMs reachable_ms = kDefaultReachableMs;
  nat::TimeMs refresh_lead_ms = kDefaultRefreshLeadMs;
  nat::TimeMs retry_interval_ms = kDefaultRetryIntervalMs;
  uint32_t max_requests = kDefaultMaxRequests;
  nat::TimeMs unreachable_holdoff_ms = kDefaultUnreachableHoldoffMs;
};

// The next hop towards `destination`: itself when on-link, else the gateway; none when neither.
std::optional<Ipv4Be> SelectNextHop(const std::optional<Ipv4Subnet>& subnet,
                                    const std::optional<Ipv4Be>& gateway, Ipv4Be destination);

// What workers read: the port's next-hop rule and the MACs known now (static and reachable
// entries). Immutable once built.
class NeighborSnapshot {
 public:
  using MacMap = absl::flat_hash_map<Ipv4Be, MacAddress>;

  NeighborSnapshot(std::optional<Ipv4Subnet> subnet, std::optional<Ipv4Be> gateway, MacMap macs)
      : subnet_(subnet), gateway_(gateway), macs_(std::move(macs)) {}

  std::optional<Ipv4Be> NextHop(Ipv4Be destination) const {
    return SelectNextHop(subnet_, gateway_, destination);
  }
  // nullptr: no MAC yet (hand the packet to the control thread to hold).
  const MacAddress* FindMac(Ipv4Be ip) const {
    const auto it = macs_.find(ip);
    return it == macs_.end() ? nullptr : &it->second;
  }
  size_t size() const { return macs_.size(); }
  const std::optional<Ipv4Subnet>& subnet() const { return subnet_; }
  const std::optional<Ipv4Be>& gateway() const { return gateway_; }

 private:
  std::optional<Ipv4Subnet> subnet_;
  std::optional<Ipv4Be> gateway_;
  MacMap macs_;
};

enum class NeighborState : uint8_t { kStatic, kResolving, kReachable, kUnreachable };

enum class ResolveStatus : uint8_t {
  kKnown,        // `mac` is valid: send now
  kSendRequest,  // unresolved: send an ARP request for it now, and Hold() the packet
  kPending,      // unresolved, a request went out recently: Hold() the packet
  kUnreachable,  // gave up recently (or not an address ARP can resolve): drop the packet
  kNoRoom,       // the table is full of neighbours in use: drop the packet
};
struct ResolveResult {
  ResolveStatus status;
  MacAddress mac{};  // kKnown only
};

enum class HoldStatus : uint8_t {
  kHeld,
  kQueueFull,     // this neighbour's queue or all queues together are full: drop the packet
  kNotResolving,  // no resolution in progress for that IP: call Resolve() first
};

enum class LearnOutcome : uint8_t {
  kLearned,            // a new MAC (new entry, answer to a request, or a changed MAC)
  kConfirmed,          // the MAC it had, now valid for another reachable_ms
  kIgnoredStatic,      // a static entry: never changed by ARP
  kIgnoredNotAllowed,  // not an address we asked for nor on the port's subnet
  kIgnoredInvalid,     // sender IP or MAC that can never be a neighbour
  kIgnoredFull,        // an allowed new neighbour, but no room
};
struct LearnResult {
  LearnOutcome outcome;
  MacAddress mac{};                 // the sender's MAC, for `ready`
  std::vector<PacketHandle> ready;  // held packets to send to `mac` now, in arrival order
};

struct TickResult {
  std::vector<Ipv4Be> send_requests;  // send an ARP request for each now
  std::vector<PacketHandle> dropped;  // held for neighbours that never answered: drop each
};

struct NeighborInfo {
  Ipv4Be ip = 0;
  NeighborState state = NeighborState::kResolving;
  MacAddress mac{};            // kStatic and kReachable; the last one known otherwise
  bool solicited = false;      // someone Resolve()d it: refreshed, never evicted
  nat::TimeMs expires_ms = 0;  // kReachable: valid until; kUnreachable: resolving again at
  uint32_t requests_sent = 0;  // since the last answer
  uint32_t held_packets = 0;
};

class NeighborTable {
 public:
  // Checks the config (timers, bounds) and names the bad field.
  static absl::StatusOr<NeighborTable> Create(const NeighborTableConfig& config);

  NeighborTable(NeighborTable&&) = default;
  NeighborTable& operator=(NeighborTable&&) = default;

  // A static entry (config); replaces a dynamic one. Returns that entry's held packets, now
  // ready to go to `mac`. Fails for 0.0.0.0, broadcast, multicast, a zero or multicast MAC, a
  // second static entry for the same IP, or a full table.
  absl::StatusOr<std::vector<PacketHandle>> AddStatic(Ipv4Be ip, const MacAddress& mac);

  // The next hop for a backend: itself when on the port's subnet, else the gateway.
  absl::StatusOr<Ipv4Be> NextHop(Ipv4Be backend) const;

  // The MAC of `ip` if known; else starts (or continues) resolving it and says whether an ARP
  // request is due now. Marks the entry as in use (refreshed, not evicted).
  ResolveResult Resolve(Ipv4Be ip, nat::TimeMs now);

  // Queues a packet for a neighbour being resolved. Full queue: the newest packet is refused.
  HoldStatus Hold(Ipv4Be ip, PacketHandle packet);

  // The sender fields of any ARP message received on the port (see the learning rule above).
  LearnResult OnArp(const ArpFields& arp, nat::TimeMs now);

  // Run periodically (every retry_interval_ms or more often): retries, refreshes, give-ups,
  // expiry.
  TickResult Tick(nat::TimeMs now);

  // The next hop is no longer used: drops its dynamic entry (a static one stays). Returns its
  // held packets, to be dropped.
  std::vector<PacketHandle> Forget(Ipv4Be ip);

  // Shutdown: every held packet, to be freed; the entries stay.
  std::vector<PacketHandle> TakeAllHeld();

  // Built again only when a MAC has appeared, changed or gone since the last call.
  std::shared_ptr<const NeighborSnapshot> Snapshot();
  // Moves whenever the snapshot's contents change: publish when it differs from the last one.
  uint64_t version() const { return version_; }

  std::optional<NeighborInfo> Lookup(Ipv4Be ip) const;
  std::vector<NeighborInfo> List() const;  // sorted by IP (listings, tests)
  size_t size() const { return entries_.size(); }
  uint32_t held_total() const { return held_total_; }

 private:
  static constexpr nat::TimeMs kNeverMs = std::numeric_limits<nat::TimeMs>::max();

  struct Entry {
    NeighborState state = NeighborState::kResolving;
    MacAddress mac{};
    bool solicited = false;
    nat::TimeMs expires_ms = 0;              // kReachable: valid until; kUnreachable: holdoff ends
    nat::TimeMs last_request_ms = kNeverMs;  // when the last ARP request went out
    uint32_t requests_sent = 0;              // since the last answer
    std::vector<PacketHandle> held;
  };

  explicit NeighborTable(const NeighborTableConfig& config) : config_(config) {}

  bool RequestDue(const Entry& e, nat::TimeMs now) const;
  static void RecordRequest(Entry& e, nat::TimeMs now);
  // Makes room for one more entry, evicting an unasked-for one if need be.
  bool MakeRoom();
  std::vector<PacketHandle> TakeHeld(Entry& e);
  // One entry's timers; false when the entry is to be erased.
  bool TickEntry(Ipv4Be ip, Entry& e, nat::TimeMs now, TickResult& result);
  void GiveUp(Entry& e, nat::TimeMs now, TickResult& result);

  NeighborTableConfig config_;
  absl::flat_hash_map<Ipv4Be, Entry> entries_;
  uint32_t held_total_ = 0;
  uint64_t version_ = 0;
  std::shared_ptr<const NeighborSnapshot> snapshot_;
  uint64_t snapshot_version_ = 0;
};

}  // namespace privlink::dataplane
