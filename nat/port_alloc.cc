#include "nat/port_alloc.h"

#include <algorithm>
#include <bit>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace privlink::nat {
namespace {

constexpr uint64_t kAllBits = ~uint64_t{0};

std::string FormatBackend(const BackendAddress& backend) {
  return absl::StrCat(FormatEndpoint(backend.ip, backend.port),
                      backend.proto == kIpProtoUdp ? "/udp" : "");
}

}  // namespace

absl::StatusOr<PortSlice> WorkerPortSlice(const PortAllocatorConfig& config) {
  if (config.worker_count == 0) {
    return absl::InvalidArgumentError("worker_count must be at least 1");
  }
  if (config.worker_index >= config.worker_count) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "worker_index %u must be below worker_count %u", config.worker_index, config.worker_count));
  }
  if (config.first_port == 0) {
    return absl::InvalidArgumentError("first_port must be at least 1: port 0 is not a TCP port");
  }
  if (config.first_port > config.last_port) {
    return absl::InvalidArgumentError(absl::StrFormat("first_port %u is above last_port %u",
                                                      config.first_port, config.last_port));
  }
  const uint64_t range = uint64_t{config.last_port} - config.first_port + 1;
  if (config.worker_count > range) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "port range [%u, %u] has %u ports, fewer than worker_count %u: a worker would get none",
        config.first_port, config.last_port, range, config.worker_count));
  }
  const uint64_t begin = config.first_port + range * config.worker_index / config.worker_count;
  const uint64_t end = config.first_port + range * (config.worker_index + 1) / config.worker_count;
  return PortSlice{static_cast<uint16_t>(begin), static_cast<uint16_t>(end - 1)};
}

absl::StatusOr<NatPortAllocator> NatPortAllocator::Create(const PortAllocatorConfig& config) {
  absl::StatusOr<PortSlice> slice = WorkerPortSlice(config);
  if (!slice.ok()) return slice.status();
  if (config.quarantine_ms > kMaxPortQuarantineMs) {
    return absl::InvalidArgumentError(absl::StrFormat("quarantine_ms %u is above the maximum %u",
                                                      config.quarantine_ms, kMaxPortQuarantineMs));
  }
  if (config.steering != nullptr && config.steering->queues() != config.worker_count) {
    return absl::InvalidArgumentError(
        absl::StrFormat("the RSS port map spreads over %u queues, worker_count is %u",
                        config.steering->queues(), config.worker_count));
  }
  return NatPortAllocator(config, *slice);
}

NatPortAllocator::NatPortAllocator(const PortAllocatorConfig& config, PortSlice slice)
    : range_{config.first_port, config.last_port},
      slice_(slice),
      worker_index_(config.worker_index),
      quarantine_ms_(config.quarantine_ms),
      // On one queue every port comes back to it: the slice (the whole range) is the share.
      steering_(config.worker_count > 1 ? config.steering : nullptr) {
  if (steering_ == nullptr) {
    space_size_ = slice.size();
    nominal_capacity_ = slice.size();
  } else {
    const auto entries = static_cast<uint32_t>(steering_->EntriesOf(worker_index_).size());
    space_size_ = entries * steering_->class_size();
    // The range split in proportion to the entries, rounded so that the workers' shares sum to it.
    uint64_t before = 0;
    for (uint32_t q = 0; q < worker_index_; ++q) before += steering_->EntriesOf(q).size();
    const uint64_t range = range_.size();
    const uint64_t classes = steering_->class_count();
    nominal_capacity_ =
        static_cast<uint32_t>(range * (before + entries) / classes - range * before / classes);
    in_range_.resize(steering_->class_count());
    for (uint32_t c = 0; c < steering_->class_count(); ++c) {
      in_range_[c] = steering_->RanksWithin(c, range_.first_port, range_.last_port);
    }
  }
  word_count_ = (space_size_ + kBitsPerWord - 1) / kBitsPerWord;
}

NatPortAllocator::NatPortAllocator(NatPortAllocator&&) noexcept = default;
NatPortAllocator& NatPortAllocator::operator=(NatPortAllocator&&) noexcept = default;
NatPortAllocator::~NatPortAllocator() = default;

SetupOutcome<NatTuple> NatPortAllocator::Allocate(std::span<const Ipv4Be> nat_ips,
                                                  const BackendAddress& backend,
                                                  uint32_t spread_hint, TimeMs now) {
  const size_t n = nat_ips.size();
  if (n == 0 || n > kMaxNatIpsPerService) return {.failure = SetupFailure::kNatIpsInvalid};
  Expire(now);
  size_t pick = spread_hint % static_cast<uint32_t>(n);  // 32-bit division: n <= 8
  for (size_t tried = 0; tried < n; ++tried) {
    PairSpace& space = FindOrCreateSpace({nat_ips[pick], backend});
    if (space.used + space.quarantined < space.capacity) {
      const uint32_t position = TakeFreePort(space);
      return {.value = NatTuple{nat_ips[pick], HostToBe16(PortAt(space, position))}};
    }
    pick = pick + 1 == n ? 0 : pick + 1;
  }
  // Every NAT IP's share is in use or in quarantine for this backend.
  return {.failure = SetupFailure::kNatPortsExhausted};
}

absl::Status NatPortAllocator::Release(NatTuple nat, const BackendAddress& backend, TimeMs now) {
  return Free(nat, backend, quarantine_ms_ != 0, now);
}

absl::Status NatPortAllocator::ReleaseUnused(NatTuple nat, const BackendAddress& backend) {
  return Free(nat, backend, false, 0);
}

absl::Status NatPortAllocator::Free(NatTuple nat, const BackendAddress& backend, bool quarantine,
                                    TimeMs now) {
  const uint16_t port = Be16ToHost(nat.port);
  const auto not_in_use = [&] {
    return absl::FailedPreconditionError(
        absl::StrFormat("nat %s is not in use for backend %s (released twice?)",
                        FormatEndpoint(nat.ip, nat.port), FormatBackend(backend)));
  };
  const auto it = spaces_.find(PairKey{nat.ip, backend});
  if (it == spaces_.end()) return not_in_use();
  PairSpace& space = *it->second;
  const std::optional<uint32_t> position = PositionOf(space, port);
  if (!position) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "nat.port %u is not worker %u's for backend %s (outside its %s)", port, worker_index_,
        FormatBackend(backend),
        steering_ ? "RSS share"
                  : absl::StrFormat("slice [%u, %u]", slice_.first_port, slice_.last_port)));
  }
  const uint32_t index = *position;
  const uint64_t bit = uint64_t{1} << (index % kBitsPerWord);
  if ((space.words[index / kBitsPerWord].used & bit) == 0) return not_in_use();
  PortWord& word = space.words[index / kBitsPerWord];
  word.used &= ~bit;
  --space.used;
  --space.totals->used;
  if (!quarantine) {
    MarkWordHasFree(space, index);
    DropIfIdle(space);
    return absl::OkStatus();
  }
  word.quarantined |= bit;
  ++space.quarantined;
  ++space.totals->quarantined;
  quarantine_.push_back({&space, now + quarantine_ms_, index});
  return absl::OkStatus();
}

void NatPortAllocator::Expire(TimeMs now) {
  while (!quarantine_.empty() && quarantine_.front().ends_at <= now) {
    const QuarantineEntry entry = quarantine_.front();
    quarantine_.pop_front();
    PairSpace& space = *entry.space;
    space.words[entry.port_index / kBitsPerWord].quarantined &=
        ~(uint64_t{1} << (entry.port_index % kBitsPerWord));
    --space.quarantined;
    --space.totals->quarantined;
    MarkWordHasFree(space, entry.port_index);
    DropIfIdle(space);
  }
}

PortUsage NatPortAllocator::Usage(Ipv4Be nat_ip, const BackendAddress& backend, TimeMs now) {
  Expire(now);
  const PairKey key{nat_ip, backend};
  const auto it = spaces_.find(key);
  // No state: what the pair's share would hold.
  if (it == spaces_.end()) return PortUsage{0, 0, CapacityOf(BaseOf(key))};
  return PortUsage{it->second->used, it->second->quarantined, it->second->capacity};
}

PortUsage NatPortAllocator::Usage(Ipv4Be nat_ip, TimeMs now) {
  Expire(now);
  const auto it = totals_.find(nat_ip);
  if (it == totals_.end()) return PortUsage{0, 0, nominal_capacity_};
  return PortUsage{it->second->used, it->second->quarantined, nominal_capacity_};
}

NatPortAllocator::PairSpace& NatPortAllocator::FindOrCreateSpace(const PairKey& key) {
  if (const auto it = spaces_.find(key); it != spaces_.end()) return *it->second;
  auto space = std::make_unique<PairSpace>();
  space->key = key;
  space->base = BaseOf(key);
  space->words = std::make_unique<PortWord[]>(word_count_);
  space->capacity = MarkOutOfRange(*space);
  for (uint32_t w = 0; w < word_count_; ++w) {
    if (space->words[w].used != kAllBits) {
      space->words_with_free[w / kBitsPerWord] |= uint64_t{1} << (w % kBitsPerWord);
    }
  }
  auto& totals = totals_[key.nat_ip];
  if (totals == nullptr) totals = std::make_unique<NatIpTotals>();
  ++totals->pairs;
  space->totals = totals.get();
  return *spaces_.emplace(key, std::move(space)).first->second;
}

// Requires a free port in `space`. The cursor moves past each port it hands out, so ports rotate
// through the slice and a freed port waits a full turn before it is picked again.
uint32_t NatPortAllocator::TakeFreePort(PairSpace& space) {
  uint32_t w = space.cursor / kBitsPerWord;
  uint64_t free = ~(space.words[w].used | space.words[w].quarantined) &
                  (kAllBits << (space.cursor % kBitsPerWord));
  if (free == 0) {
    w = FindWordWithFree(space, w + 1 == word_count_ ? 0 : w + 1);
    free = ~(space.words[w].used | space.words[w].quarantined);
  }
  PortWord& word = space.words[w];
  const uint32_t bit = static_cast<uint32_t>(std::countr_zero(free));
  word.used |= uint64_t{1} << bit;
  if ((word.used | word.quarantined) == kAllBits) {
    space.words_with_free[w / kBitsPerWord] &= ~(uint64_t{1} << (w % kBitsPerWord));
  }
  const uint32_t index = w * kBitsPerWord + bit;
  space.cursor = index + 1 == space_size_ ? 0 : index + 1;
  ++space.used;
  ++space.totals->used;
  return index;
}

// First word at or after start_word, wrapping, with a free port; requires one to exist.
uint32_t NatPortAllocator::FindWordWithFree(const PairSpace& space, uint32_t start_word) const {
  const uint32_t summary_words = (word_count_ + kBitsPerWord - 1) / kBitsPerWord;
  uint32_t s = start_word / kBitsPerWord;
  uint64_t bits = space.words_with_free[s] & (kAllBits << (start_word % kBitsPerWord));
  // At most one lap; its last step sees the first summary word whole, words below start_word too.
  for (uint32_t step = 0; bits == 0 && step < summary_words; ++step) {
    s = s + 1 == summary_words ? 0 : s + 1;
    bits = space.words_with_free[s];
  }
  return s * kBitsPerWord + static_cast<uint32_t>(std::countr_zero(bits));
}

uint16_t NatPortAllocator::PortAt(const PairSpace& space, uint32_t position) const {
  if (steering_ == nullptr) return static_cast<uint16_t>(slice_.first_port + position);
  const uint32_t cls_size = steering_->class_size();
  const uint32_t entry = steering_->EntriesOf(worker_index_)[position / cls_size];
  return steering_->PortAt(space.base ^ entry, position % cls_size);
}

std::optional<uint32_t> NatPortAllocator::PositionOf(const PairSpace& space, uint16_t port) const {
  if (steering_ == nullptr) {
    if (port < slice_.first_port || port > slice_.last_port) return std::nullopt;
    return port - slice_.first_port;
  }
  if (port < range_.first_port || port > range_.last_port) return std::nullopt;
  const uint32_t entry = steering_->ClassOf(port) ^ space.base;
  if (steering_->QueueOfEntry(entry) != worker_index_) return std::nullopt;
  return steering_->PositionOfEntry(entry) * steering_->class_size() + steering_->RankOf(port);
}

uint32_t NatPortAllocator::BaseOf(const PairKey& key) const {
  return steering_ ? steering_->PairBase(key.nat_ip, key.backend.ip, key.backend.port) : 0;
}

uint32_t NatPortAllocator::CapacityOf(uint32_t base) const {
  if (steering_ == nullptr) return space_size_;
  uint32_t capacity = 0;
  for (const uint16_t entry : steering_->EntriesOf(worker_index_)) {
    const RssPortMap::RankRange r = in_range_[base ^ entry];
    capacity += r.end - r.begin;
  }
  return capacity;
}

// Bits of positions that hold no port of the range count as used forever, so scans never pick
// them; Release rejects those ports by PositionOf before looking at bits.
uint32_t NatPortAllocator::MarkOutOfRange(PairSpace& space) const {
  const auto mark = [&](uint32_t begin, uint32_t end) {  // positions [begin, end)
    while (begin < end) {
      const uint32_t offset = begin % kBitsPerWord;
      const uint32_t n = std::min(kBitsPerWord - offset, end - begin);
      const uint64_t bits = n == kBitsPerWord ? kAllBits : ((uint64_t{1} << n) - 1) << offset;
      space.words[begin / kBitsPerWord].used |= bits;
      begin += n;
    }
  };
  // Past the share's end in the last word.
  mark(space_size_, word_count_ * kBitsPerWord);
  if (steering_ != nullptr) {
    const uint32_t cls_size = steering_->class_size();
    const std::span<const uint16_t> entries = steering_->EntriesOf(worker_index_);
    for (uint32_t s = 0; s < entries.size(); ++s) {
      const RssPortMap::RankRange r = in_range_[space.base ^ entries[s]];
      mark(s * cls_size, s * cls_size + r.begin);
      mark(s * cls_size + r.end, (s + 1) * cls_size);
    }
  }
  return CapacityOf(space.base);
}

void NatPortAllocator::MarkWordHasFree(PairSpace& space, uint32_t port_index) {
  const uint32_t w = port_index / kBitsPerWord;
  space.words_with_free[w / kBitsPerWord] |= uint64_t{1} << (w % kBitsPerWord);
}

void NatPortAllocator::DropIfIdle(PairSpace& space) {
  if (space.used != 0 || space.quarantined != 0) return;
  NatIpTotals* totals = space.totals;
  const PairKey key = space.key;
  spaces_.erase(key);  // destroys `space`
  if (--totals->pairs == 0) totals_.erase(key.nat_ip);
}

}  // namespace privlink::nat
