#include "nat/rss_port_map.h"

#include <rte_thash.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace privlink::nat {
namespace {

constexpr uint32_t kPortCount = 65536;

// The key's first kRssKeyMinBytes, 4-byte aligned: rte_softrss reads the key as 32-bit words.
struct AlignedKey {
  alignas(4) uint8_t bytes[kRssKeyMinBytes];
  explicit AlignedKey(std::span<const uint8_t> key) {
    std::memcpy(bytes, key.data(), kRssKeyMinBytes);
  }
};

}  // namespace

uint32_t RssHash(std::span<const uint8_t> key, const Tuple& tuple) {
  // rte_softrss takes the tuple as 32-bit words in CPU order: addresses, then both ports.
  uint32_t words[RTE_THASH_V4_L4_LEN] = {
      Be32ToHost(tuple.src_ip), Be32ToHost(tuple.dst_ip),
      uint32_t{Be16ToHost(tuple.src_port)} << 16 | Be16ToHost(tuple.dst_port)};
  return rte_softrss(words, RTE_THASH_V4_L4_LEN, AlignedKey(key).bytes);
}

uint32_t RssHashAddresses(std::span<const uint8_t> key, Ipv4Be src, Ipv4Be dst) {
  uint32_t words[RTE_THASH_V4_L3_LEN] = {Be32ToHost(src), Be32ToHost(dst)};
  return rte_softrss(words, RTE_THASH_V4_L3_LEN, AlignedKey(key).bytes);
}

std::vector<uint16_t> SpreadReta(uint32_t entries, uint32_t queues) {
  std::vector<uint16_t> reta(entries);
  for (uint32_t i = 0; i < entries; ++i) reta[i] = SpreadRetaQueue(i, queues);
  return reta;
}

RssSetup PrivlinkRss(uint32_t entries, uint32_t queues) {
  return {.key = {kRssKey.begin(), kRssKey.end()}, .reta = SpreadReta(entries, queues)};
}

absl::StatusOr<std::shared_ptr<const RssPortMap>> RssPortMap::Create(const RssSetup& setup,
                                                                     uint32_t queues) {
  if (setup.key.size() < kRssKeyMinBytes) {
    return absl::InvalidArgumentError(absl::StrCat("RSS key has ", setup.key.size(),
                                                   " bytes; an IPv4/TCP hash needs at least ",
                                                   kRssKeyMinBytes));
  }
  const size_t entries = setup.reta.size();
  if (entries < 2 || entries > (size_t{1} << kMaxRssClassBits) || !std::has_single_bit(entries)) {
    return absl::InvalidArgumentError(absl::StrCat("RSS redirection table has ", entries,
                                                   " entries; a power of two from 2 to ",
                                                   1u << kMaxRssClassBits, " is needed"));
  }
  if (queues == 0 || queues > entries) {
    return absl::InvalidArgumentError(absl::StrCat(queues, " queues over a redirection table of ",
                                                   entries, " entries: 1 to ", entries));
  }
  auto map = std::shared_ptr<RssPortMap>(new RssPortMap());
  RssPortMap& m = *map;
  m.key_ = setup.key;
  m.reta_ = setup.reta;
  m.queues_ = queues;
  m.class_bits_ = static_cast<uint32_t>(std::countr_zero(entries));
  m.class_mask_ = static_cast<uint32_t>(entries - 1);
  m.class_size_ = kPortCount >> m.class_bits_;

  m.entries_of_.resize(queues);
  m.position_of_entry_.resize(entries);
  for (uint32_t i = 0; i < entries; ++i) {
    const uint16_t q = m.reta_[i];
    if (q >= queues) {
      return absl::InvalidArgumentError(
          absl::StrCat("RSS redirection entry ", i, " names queue ", q, " of ", queues));
    }
    m.position_of_entry_[i] = static_cast<uint16_t>(m.entries_of_[q].size());
    m.entries_of_[q].push_back(static_cast<uint16_t>(i));
  }
  for (uint32_t q = 0; q < queues; ++q) {
    if (m.entries_of_[q].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("queue ", q, " has no RSS redirection entry: it would receive nothing"));
    }
  }

  // A port's class is linear in its bits: XOR of the classes of its set bits.
  uint32_t bit_class[16];
  for (uint32_t b = 0; b < 16; ++b) {
    bit_class[b] = RssHash(m.key_, Tuple{.dst_port = HostToBe16(static_cast<uint16_t>(1u << b))}) &
                   m.class_mask_;
  }
  m.class_of_.resize(kPortCount);
  for (uint32_t p = 0; p < kPortCount; ++p) {
    uint32_t c = 0;
    for (uint32_t bits = p; bits != 0; bits &= bits - 1) c ^= bit_class[std::countr_zero(bits)];
    m.class_of_[p] = static_cast<uint16_t>(c);
  }
  // Counting sort by class; ports ascend within each.
  std::vector<uint32_t> fill(entries, 0);
  m.ports_.resize(kPortCount);
  m.rank_of_.resize(kPortCount);
  for (uint32_t p = 0; p < kPortCount; ++p) {
    const uint32_t c = m.class_of_[p];
    if (fill[c] == m.class_size_) {
      return absl::InvalidArgumentError(
          absl::StrCat("under this RSS key the TCP ports do not spread over all ", entries,
                       " redirection entries (class ", c, " is over-full): choose another key"));
    }
    m.rank_of_[p] = static_cast<uint16_t>(fill[c]);
    m.ports_[c * m.class_size_ + fill[c]++] = static_cast<uint16_t>(p);
  }
  return map;
}

uint32_t RssPortMap::PairBase(Ipv4Be nat_ip, Ipv4Be backend_ip, PortBe backend_port) const {
  return RssHash(
             key_,
             Tuple{
                 .src_ip = backend_ip, .dst_ip = nat_ip, .src_port = backend_port, .dst_port = 0}) &
         class_mask_;
}

RssPortMap::RankRange RssPortMap::RanksWithin(uint32_t cls, uint16_t first, uint16_t last) const {
  const auto begin = ports_.begin() + cls * class_size_;
  const auto end = begin + class_size_;
  return {static_cast<uint32_t>(std::lower_bound(begin, end, first) - begin),
          static_cast<uint32_t>(std::upper_bound(begin, end, last) - begin)};
}

}  // namespace privlink::nat
