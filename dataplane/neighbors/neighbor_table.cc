#include "dataplane/neighbors/neighbor_table.h"

#include <algorithm>
#include <string>
#include <utility>

namespace privlink::dataplane {
namespace {

using nat::TimeMs;

// Addresses ARP can never resolve, nor a neighbour legitimately claim as its own.
bool IsNeighborIp(Ipv4Be ip) {
  const uint32_t host = Be32ToHost(ip);
  const uint32_t first_octet = host >> 24;
  const bool multicast = (first_octet & 0xf0) == 0xe0;  // 224.0.0.0/4
  return host != 0 && host != 0xffffffff && first_octet != 127 && !multicast;
}

// Zero or group (multicast, broadcast) MACs: no single neighbour has one.
bool IsNeighborMac(const MacAddress& mac) {
  return mac != MacAddress{} && (mac[0] & 0x01) == 0;
}

}  // namespace

std::optional<Ipv4Be> SelectNextHop(const std::optional<Ipv4Subnet>& subnet,
                                    const std::optional<Ipv4Be>& gateway, Ipv4Be destination) {
  if (subnet && subnet->Contains(destination)) return destination;
  return gateway;
}

absl::StatusOr<NeighborTable> NeighborTable::Create(const NeighborTableConfig& config) {
  const auto invalid = [](const std::string& why) {
    return absl::InvalidArgumentError("neighbour table: " + why);
  };
  if (config.max_neighbors == 0) return invalid("max_neighbors must be at least 1");
  if (config.retry_interval_ms == 0) return invalid("retry_interval_ms must be at least 1");
  if (config.max_requests == 0) return invalid("max_requests must be at least 1");
  if (config.refresh_lead_ms >= config.reachable_ms) {
    return invalid("refresh_lead_ms (" + std::to_string(config.refresh_lead_ms) +
                   ") must be below reachable_ms (" + std::to_string(config.reachable_ms) + ")");
  }
  if (config.gateway && !IsNeighborIp(*config.gateway)) {
    return invalid("gateway " + FormatIpv4(*config.gateway) + " is not a unicast address");
  }
  return NeighborTable(config);
}

absl::StatusOr<std::vector<PacketHandle>> NeighborTable::AddStatic(Ipv4Be ip,
                                                                   const MacAddress& mac) {
  if (!IsNeighborIp(ip)) {
    return absl::InvalidArgumentError("static neighbour " + FormatIpv4(ip) +
                                      " is not a unicast address");
  }
  if (!IsNeighborMac(mac)) {
    return absl::InvalidArgumentError("static neighbour " + FormatIpv4(ip) +
                                      " has a zero or multicast MAC");
  }
  std::vector<PacketHandle> ready;
  auto it = entries_.find(ip);
  if (it != entries_.end()) {
    if (it->second.state == NeighborState::kStatic) {
      return absl::AlreadyExistsError("static neighbour " + FormatIpv4(ip) + " given twice");
    }
    ready = TakeHeld(it->second);
  } else if (!MakeRoom()) {
    return absl::ResourceExhaustedError("static neighbour " + FormatIpv4(ip) + ": table full (" +
                                        std::to_string(config_.max_neighbors) + " entries)");
  }
  Entry& e = entries_[ip];
  e.state = NeighborState::kStatic;
  e.mac = mac;
  ++version_;
  return ready;
}

absl::StatusOr<Ipv4Be> NeighborTable::NextHop(Ipv4Be backend) const {
  if (const std::optional<Ipv4Be> hop = SelectNextHop(config_.subnet, config_.gateway, backend)) {
    return *hop;
  }
  const std::string where = config_.subnet
                                ? "outside the port's subnet " + config_.subnet->ToString()
                                : "the port has no subnet";
  return absl::FailedPreconditionError("no next hop for " + FormatIpv4(backend) + ": " + where +
                                       " and the port has no gateway");
}

ResolveResult NeighborTable::Resolve(Ipv4Be ip, TimeMs now) {
  if (!IsNeighborIp(ip)) return {ResolveStatus::kUnreachable};
  auto it = entries_.find(ip);
  if (it == entries_.end()) {
    if (!MakeRoom()) return {ResolveStatus::kNoRoom};
    Entry& e = entries_[ip];
    e.state = NeighborState::kResolving;
    e.solicited = true;
    RecordRequest(e, now);
    return {ResolveStatus::kSendRequest};
  }
  Entry& e = it->second;
  e.solicited = true;
  switch (e.state) {
    case NeighborState::kStatic:
    case NeighborState::kReachable:
      return {ResolveStatus::kKnown, e.mac};
    case NeighborState::kResolving:
      if (!RequestDue(e, now)) return {ResolveStatus::kPending};
      RecordRequest(e, now);
      return {ResolveStatus::kSendRequest};
    case NeighborState::kUnreachable:
      if (now < e.expires_ms) return {ResolveStatus::kUnreachable};
      e.state = NeighborState::kResolving;
      e.requests_sent = 0;
      RecordRequest(e, now);
      return {ResolveStatus::kSendRequest};
  }
  return {ResolveStatus::kUnreachable};
}

HoldStatus NeighborTable::Hold(Ipv4Be ip, PacketHandle packet) {
  auto it = entries_.find(ip);
  if (it == entries_.end() || it->second.state != NeighborState::kResolving) {
    return HoldStatus::kNotResolving;
  }
  Entry& e = it->second;
  if (e.held.size() >= config_.max_held_per_neighbor || held_total_ >= config_.max_held_total) {
    return HoldStatus::kQueueFull;
  }
  e.held.push_back(packet);
  ++held_total_;
  return HoldStatus::kHeld;
}

LearnResult NeighborTable::OnArp(const ArpFields& arp, TimeMs now) {
  const Ipv4Be ip = arp.sender_ip;
  const MacAddress& mac = arp.sender_mac;
  if (!IsNeighborIp(ip) || !IsNeighborMac(mac)) return {LearnOutcome::kIgnoredInvalid};
  auto it = entries_.find(ip);
  if (it == entries_.end()) {
    if (!config_.subnet || !config_.subnet->Contains(ip)) {
      return {LearnOutcome::kIgnoredNotAllowed};
    }
    // No eviction here: unasked-for senders must not churn the table.
    if (entries_.size() >= config_.max_neighbors) return {LearnOutcome::kIgnoredFull};
    Entry& e = entries_[ip];
    e.state = NeighborState::kReachable;
    e.mac = mac;
    e.expires_ms = now + config_.reachable_ms;
    ++version_;
    return {LearnOutcome::kLearned, mac};
  }
  Entry& e = it->second;
  if (e.state == NeighborState::kStatic) return {LearnOutcome::kIgnoredStatic};
  const bool changed = e.state != NeighborState::kReachable || e.mac != mac;
  e.state = NeighborState::kReachable;
  e.mac = mac;
  e.expires_ms = now + config_.reachable_ms;
  e.requests_sent = 0;
  if (changed) ++version_;
  return {changed ? LearnOutcome::kLearned : LearnOutcome::kConfirmed, mac, TakeHeld(e)};
}

TickResult NeighborTable::Tick(TimeMs now) {
  TickResult result;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (TickEntry(it->first, it->second, now, result)) {
      ++it;
    } else {
      entries_.erase(it++);  // erasing leaves the other iterators valid
    }
  }
  // Map order is arbitrary; a sorted list keeps replays and logs reproducible.
  std::sort(result.send_requests.begin(), result.send_requests.end(),
            [](Ipv4Be a, Ipv4Be b) { return Be32ToHost(a) < Be32ToHost(b); });
  return result;
}

bool NeighborTable::TickEntry(Ipv4Be ip, Entry& e, TimeMs now, TickResult& result) {
  switch (e.state) {
    case NeighborState::kStatic:
      return true;
    case NeighborState::kReachable:
      if (now < e.expires_ms) {
        // Create() keeps refresh_lead_ms below reachable_ms, so this cannot wrap.
        const bool refresh_due = e.solicited && now >= e.expires_ms - config_.refresh_lead_ms;
        if (refresh_due && RequestDue(e, now)) {
          RecordRequest(e, now);
          result.send_requests.push_back(ip);
        }
        return true;
      }
      ++version_;  // its MAC leaves the snapshot
      if (!e.solicited) return false;
      e.state = NeighborState::kResolving;  // requests already sent while refreshing still count
      [[fallthrough]];
    case NeighborState::kResolving:
      if (RequestDue(e, now)) {
        RecordRequest(e, now);
        result.send_requests.push_back(ip);
      } else if (e.requests_sent >= config_.max_requests &&
                 now >= e.last_request_ms + config_.retry_interval_ms) {
        GiveUp(e, now, result);  // the last request had its full interval to be answered
      }
      return true;
    case NeighborState::kUnreachable:
      if (now >= e.expires_ms) {
        e.state = NeighborState::kResolving;
        e.requests_sent = 0;
        RecordRequest(e, now);
        result.send_requests.push_back(ip);
      }
      return true;
  }
  return true;
}

void NeighborTable::GiveUp(Entry& e, TimeMs now, TickResult& result) {
  e.state = NeighborState::kUnreachable;
  e.expires_ms = now + config_.unreachable_holdoff_ms;
  std::vector<PacketHandle> held = TakeHeld(e);
  result.dropped.insert(result.dropped.end(), held.begin(), held.end());
}

std::vector<PacketHandle> NeighborTable::Forget(Ipv4Be ip) {
  auto it = entries_.find(ip);
  if (it == entries_.end() || it->second.state == NeighborState::kStatic) return {};
  std::vector<PacketHandle> held = TakeHeld(it->second);
  if (it->second.state == NeighborState::kReachable) ++version_;
  entries_.erase(it);
  return held;
}

std::vector<PacketHandle> NeighborTable::TakeAllHeld() {
  std::vector<PacketHandle> all;
  all.reserve(held_total_);
  for (auto& [ip, e] : entries_) {
    all.insert(all.end(), e.held.begin(), e.held.end());
    e.held.clear();
  }
  held_total_ = 0;
  return all;
}

std::shared_ptr<const NeighborSnapshot> NeighborTable::Snapshot() {
  if (snapshot_ && snapshot_version_ == version_) return snapshot_;
  NeighborSnapshot::MacMap macs;
  macs.reserve(entries_.size());
  for (const auto& [ip, e] : entries_) {
    if (e.state == NeighborState::kStatic || e.state == NeighborState::kReachable) {
      macs.emplace(ip, e.mac);
    }
  }
  snapshot_ =
      std::make_shared<const NeighborSnapshot>(config_.subnet, config_.gateway, std::move(macs));
  snapshot_version_ = version_;
  return snapshot_;
}

std::optional<NeighborInfo> NeighborTable::Lookup(Ipv4Be ip) const {
  const auto it = entries_.find(ip);
  if (it == entries_.end()) return std::nullopt;
  const Entry& e = it->second;
  return NeighborInfo{.ip = ip,
                      .state = e.state,
                      .mac = e.mac,
                      .solicited = e.solicited,
                      .expires_ms = e.expires_ms,
                      .requests_sent = e.requests_sent,
                      .held_packets = static_cast<uint32_t>(e.held.size())};
}

std::vector<NeighborInfo> NeighborTable::List() const {
  std::vector<NeighborInfo> all;
  all.reserve(entries_.size());
  for (const auto& [ip, e] : entries_) all.push_back(*Lookup(ip));
  std::sort(all.begin(), all.end(), [](const NeighborInfo& a, const NeighborInfo& b) {
    return Be32ToHost(a.ip) < Be32ToHost(b.ip);
  });
  return all;
}

bool NeighborTable::RequestDue(const Entry& e, TimeMs now) const {
  if (e.requests_sent >= config_.max_requests) return false;
  return e.last_request_ms == kNeverMs || now >= e.last_request_ms + config_.retry_interval_ms;
}

void NeighborTable::RecordRequest(Entry& e, TimeMs now) {
  e.last_request_ms = now;
  ++e.requests_sent;
}

bool NeighborTable::MakeRoom() {
  if (entries_.size() < config_.max_neighbors) return true;
  // Full: evict the unasked-for entry closest to expiry. A linear scan, but only on a full
  // table, on the control thread.
  auto victim = entries_.end();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    const Entry& e = it->second;
    if (e.state != NeighborState::kReachable || e.solicited) continue;
    if (victim == entries_.end() || e.expires_ms < victim->second.expires_ms) victim = it;
  }
  if (victim == entries_.end()) return false;
  entries_.erase(victim);
  ++version_;
  return true;
}

std::vector<PacketHandle> NeighborTable::TakeHeld(Entry& e) {
  held_total_ -= static_cast<uint32_t>(e.held.size());
  return std::exchange(e.held, {});
}

}  // namespace privlink::dataplane
