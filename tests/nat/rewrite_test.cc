#include "nat/rewrite.h"

#include <rte_ip.h>
#include <rte_tcp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "nat/checksum.h"
#include "nat/inet.h"
#include "tests/nat/reference_checksum.h"

namespace privlink::nat {
namespace {

static_assert(kIpv4TotalLengthOffset == offsetof(rte_ipv4_hdr, total_length));
static_assert(kIpv4ChecksumOffset == offsetof(rte_ipv4_hdr, hdr_checksum));
static_assert(kIpv4SrcOffset == offsetof(rte_ipv4_hdr, src_addr));
static_assert(kIpv4DstOffset == offsetof(rte_ipv4_hdr, dst_addr));
static_assert(kTcpSrcPortOffset == offsetof(rte_tcp_hdr, src_port));
static_assert(kTcpDstPortOffset == offsetof(rte_tcp_hdr, dst_port));
static_assert(kTcpChecksumOffset == offsetof(rte_tcp_hdr, cksum));

// ---- Reference arithmetic: textbook RFC 1071 over big-endian words, host-order results. ----

using testing::ReferenceFold;
using testing::ReferenceSum;

uint16_t ReadHost16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
void WriteHost16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// What a receiver sees of one checksum: the value a full recomputation gives, and whether its
// verification (sum over everything, checksum field included, folds to 0xffff) passes.
struct Verdict {
  uint16_t field;  // as stored, host order
  uint16_t full;   // full recomputation, host order
  bool accepted;
};
Verdict MakeVerdict(uint64_t sum_without_field, uint16_t field) {
  return {field, static_cast<uint16_t>(~ReferenceFold(sum_without_field)),
          ReferenceFold(sum_without_field + field) == 0xffff};
}

// One IPv4 + TCP packet in a reusable buffer, headers starting at any offset 0..7.
class TestPacket {
 public:
  void Build(std::mt19937_64& rng, const std::vector<uint8_t>& payload_pool) {
    alignment_ = rng() % 8;
    const size_t ip_len = rng() % 2 ? 20 : 4 * (6 + rng() % 10);
    const size_t tcp_header_len = 4 * (5 + rng() % 11);
    const size_t payload_len = rng() % 1461;
    tcp_len_ = tcp_header_len + payload_len;
    uint8_t* ip = storage_.data() + alignment_;
    FillRandom(rng, ip, ip_len + tcp_header_len);
    ip[0] = static_cast<uint8_t>(0x40 | (ip_len / 4));
    WriteHost16(ip + kIpv4TotalLengthOffset, static_cast<uint16_t>(ip_len + tcp_len_));
    ip[9] = kIpProtoTcp;
    uint8_t* tcp = ip + ip_len;
    tcp[12] = static_cast<uint8_t>(((tcp_header_len / 4) << 4) | (tcp[12] & 0x0f));
    std::memcpy(tcp + tcp_header_len, payload_pool.data() + rng() % (payload_pool.size() - 1460),
                payload_len);
    WriteHost16(ip + kIpv4ChecksumOffset, Ipv4().full);
    WriteHost16(tcp + kTcpChecksumOffset, Tcp().full);
  }

  Verdict Ipv4() const {
    const uint8_t* ip = this->ip();
    return MakeVerdict(ReferenceSum(ip, 10) + ReferenceSum(ip + 12, IpLen() - 12),
                       ReadHost16(ip + kIpv4ChecksumOffset));
  }
  Verdict Tcp() const {
    const uint8_t* tcp = this->tcp();
    const uint64_t pseudo = ReferenceSum(ip() + kIpv4SrcOffset, 8) + kIpProtoTcp + tcp_len_;
    return MakeVerdict(pseudo + ReferenceSum(tcp, 16) + ReferenceSum(tcp + 18, tcp_len_ - 18),
                       ReadHost16(tcp + kTcpChecksumOffset));
  }

  // Sets a field no rewrite touches (IPv4 identification, TCP urgent pointer) so that the correct
  // checksum becomes `target` (not 0xffff, which a full computation never yields).
  void ForceIpv4Checksum(uint16_t target) {
    WriteHost16(ip() + 4, 0);
    WriteHost16(ip() + 4, SolveWord(Ipv4(), target));
    WriteHost16(ip() + kIpv4ChecksumOffset, target);
  }
  void ForceTcpChecksum(uint16_t target) {
    WriteHost16(tcp() + 18, 0);
    WriteHost16(tcp() + 18, SolveWord(Tcp(), target));
    WriteHost16(tcp() + kTcpChecksumOffset, target);
  }
  // The word w that, added to the sum behind `zeroed` (where w's field is 0), makes the full
  // checksum `target`: fold(sum + w) == ~target.
  static uint16_t SolveWord(const Verdict& zeroed, uint16_t target) {
    const uint32_t current = static_cast<uint16_t>(~zeroed.full);  // folded sum, in [1, 0xffff]
    const uint32_t wanted = static_cast<uint16_t>(~target);
    return static_cast<uint16_t>((wanted + 0xffff - current) % 0xffff);
  }

  Ipv4Be src() const { return Load<Ipv4Be>(ip() + kIpv4SrcOffset); }
  Ipv4Be dst() const { return Load<Ipv4Be>(ip() + kIpv4DstOffset); }
  PortBe sport() const { return Load<PortBe>(tcp() + kTcpSrcPortOffset); }
  PortBe dport() const { return Load<PortBe>(tcp() + kTcpDstPortOffset); }
  // The checksum fields as stored (network order).
  uint16_t StoredIpv4Checksum() const { return Load<uint16_t>(ip() + kIpv4ChecksumOffset); }
  uint16_t StoredTcpChecksum() const { return Load<uint16_t>(tcp() + kTcpChecksumOffset); }
  uint8_t* ip() { return storage_.data() + alignment_; }
  const uint8_t* ip() const { return storage_.data() + alignment_; }
  uint8_t* tcp() { return ip() + IpLen(); }
  const uint8_t* tcp() const { return ip() + IpLen(); }
  size_t IpLen() const { return size_t{ip()[0] & 0x0fu} * 4; }
  size_t tcp_len() const { return tcp_len_; }
  size_t TotalLen() const { return IpLen() + tcp_len_; }

 private:
  template <typename T>
  static T Load(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static void FillRandom(std::mt19937_64& rng, uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; i += 8) {
      const uint64_t r = rng();
      std::memcpy(p + i, &r, std::min<size_t>(8, n - i));
    }
  }

  // Offsets rather than pointers, so that copies are independent packets.
  alignas(8) std::array<uint8_t, 8 + 60 + 60 + 1460> storage_{};
  size_t alignment_ = 0;
  size_t tcp_len_ = 0;
};

std::vector<uint8_t> RandomPool(std::mt19937_64& rng) {
  std::vector<uint8_t> pool(1 << 16);
  for (auto& b : pool) b = static_cast<uint8_t>(rng());
  return pool;
}

Tuple TupleOf(const TestPacket& p) {
  return {.src_ip = p.src(), .dst_ip = p.dst(), .src_port = p.sport(), .dst_port = p.dport()};
}

RewriteDelta DeltaFor(const Tuple& from, const Tuple& to) {
  return ComputeRewriteDelta(from, to);
}

template <ChecksumMode kMode = ChecksumMode::kSoftware>
void Rewrite(TestPacket& p, const Tuple& to, RewriteDelta delta) {
  RewriteIpv4Tcp<kMode>({p.ip(), p.tcp()}, to, delta);
}

// Each field is kept with probability 1/8 (so partial and empty rewrites occur), else random.
Tuple RandomTarget(std::mt19937_64& rng, const Tuple& from) {
  const uint64_t r = rng();
  const auto keep = [&](int bit) { return ((r >> (3 * bit)) & 7) == 0; };
  return {.src_ip = keep(0) ? from.src_ip : static_cast<Ipv4Be>(rng()),
          .dst_ip = keep(2) ? from.dst_ip : static_cast<Ipv4Be>(rng()),
          .src_port = keep(1) ? from.src_port : static_cast<PortBe>(r >> 32),
          .dst_port = keep(3) ? from.dst_port : static_cast<PortBe>(r >> 48)};
}

// Requirement: >= 10^6 random packets, random addresses, ports, options, payload lengths 0..1460,
// any alignment, with correct original checksums. Incremental must equal full recomputation
// exactly (both start from a fully computed checksum) and pass the receiver's verification.
TEST(RewriteIpv4TcpTest, MillionRandomPacketsMatchFullRecomputation) {
  constexpr int kPackets = 1'000'000;
  std::mt19937_64 rng(0x5eed);
  const std::vector<uint8_t> pool = RandomPool(rng);
  TestPacket p;
  int zero_results = 0, unchanged_sums = 0, odd_lengths = 0;
  for (int i = 0; i < kPackets; ++i) {
    p.Build(rng, pool);
    // The production full checksums agree with the reference on every packet.
    ASSERT_EQ(Ipv4HeaderChecksum(p.ip()), p.StoredIpv4Checksum()) << "packet " << i;
    ASSERT_EQ(TcpChecksum(p.src(), p.dst(), p.tcp(), p.tcp_len()), p.StoredTcpChecksum())
        << "packet " << i;

    const Tuple from = TupleOf(p);
    const Tuple to = RandomTarget(rng, from);
    const RewriteDelta delta = DeltaFor(from, to);
    Rewrite(p, to, delta);

    ASSERT_EQ(p.src(), to.src_ip);
    ASSERT_EQ(p.sport(), to.src_port);
    ASSERT_EQ(p.dst(), to.dst_ip);
    ASSERT_EQ(p.dport(), to.dst_port);
    const Verdict ip = p.Ipv4();
    const Verdict tcp = p.Tcp();
    ASSERT_EQ(ip.field, ip.full) << "packet " << i;
    ASSERT_EQ(tcp.field, tcp.full) << "packet " << i << " tcp_len " << p.tcp_len();
    ASSERT_TRUE(ip.accepted && tcp.accepted) << "packet " << i;
    zero_results += (ip.field == 0) + (tcp.field == 0);
    unchanged_sums += delta.l4 % 0xffff == 0;
    odd_lengths += p.tcp_len() % 2;
  }
  // The edge cases the random walk must have crossed (fixed seed: deterministic).
  EXPECT_GT(zero_results, 0);
  EXPECT_GT(unchanged_sums, 0);
  EXPECT_GT(odd_lengths, kPackets / 3);
}

constexpr int kAnyChecksum = -1;

struct EdgeCase {
  const char* description;
  uint16_t before;               // correct checksum of the original packet (both headers)
  bool stored_as_negative_zero;  // before == 0, but the field holds 0xffff (still valid)
  int after;                     // full checksum of the rewritten packet, or kAnyChecksum
  // What the incremental update must store, or kAnyChecksum: the full recomputation, except that
  // a received -0 stays -0 when the sum is unchanged (delta 0).
  int expected_field;
};

// Forces the original and rewritten checksums of random packets to values where one's-complement
// arithmetic has two zeros or carries around, for both the IPv4 and the TCP checksum.
TEST(RewriteIpv4TcpTest, ChecksumEdgeCases) {
  const EdgeCase cases[] = {
      {"original 0x0000, random rewrite", 0x0000, false, kAnyChecksum, kAnyChecksum},
      {"original 0xfffe, random rewrite", 0xfffe, false, kAnyChecksum, kAnyChecksum},
      {"original 0x0001, random rewrite", 0x0001, false, kAnyChecksum, kAnyChecksum},
      {"result 0x0000 from 0x0001: sum reaches 0xffff, never -0", 0x0001, false, 0x0000, 0x0000},
      {"result 0x0000 from 0xfffe", 0xfffe, false, 0x0000, 0x0000},
      {"result 0x0000 from 0x8000", 0x8000, false, 0x0000, 0x0000},
      {"0x0000 to 0x0000 with changed fields", 0x0000, false, 0x0000, 0x0000},
      {"0x0000 to 0xfffe", 0x0000, false, 0xfffe, 0xfffe},
      {"0x0001 to 0xfffe: sum carries around", 0x0001, false, 0xfffe, 0xfffe},
      {"0xfffe to 0x0001", 0xfffe, false, 0x0001, 0x0001},
      {"0x1234 to 0x1234 with changed fields", 0x1234, false, 0x1234, 0x1234},
      {"received -0 (0xffff), random rewrite", 0x0000, true, kAnyChecksum, kAnyChecksum},
      {"received -0 (0xffff) to 0x0001", 0x0000, true, 0x0001, 0x0001},
      {"received -0 (0xffff) to 0xfffe", 0x0000, true, 0xfffe, 0xfffe},
      // The sums did not change, so the delta is 0 and the field stays -0: accepted, though a
      // full recomputation would write +0.
      {"received -0 (0xffff), sums unchanged", 0x0000, true, 0x0000, 0xffff},
  };
  std::mt19937_64 rng(0xed9e);
  const std::vector<uint8_t> pool = RandomPool(rng);
  TestPacket p;
  for (const EdgeCase& c : cases) {
    for (int i = 0; i < 2000; ++i) {
      p.Build(rng, pool);
      p.ForceIpv4Checksum(c.before);
      p.ForceTcpChecksum(c.before);
      if (c.stored_as_negative_zero) {
        WriteHost16(p.ip() + kIpv4ChecksumOffset, 0xffff);
        WriteHost16(p.tcp() + kTcpChecksumOffset, 0xffff);
      }
      ASSERT_TRUE(p.Ipv4().accepted && p.Tcp().accepted) << c.description;

      Tuple to = RandomTarget(rng, TupleOf(p));
      if (c.after != kAnyChecksum) {
        // Solve the low half of the new source address for the IPv4 checksum, then the new
        // source port for the TCP checksum, as the packet would read after the rewrite.
        TestPacket probe = p;
        to.src_ip &= HostToBe32(0xffff0000);
        to.src_port = 0;
        Rewrite(probe, to, {});
        to.src_ip |= HostToBe32(TestPacket::SolveWord(probe.Ipv4(), c.after));
        std::memcpy(probe.ip() + kIpv4SrcOffset, &to.src_ip, 4);
        to.src_port = HostToBe16(TestPacket::SolveWord(probe.Tcp(), c.after));
      }
      const Tuple from = TupleOf(p);
      Rewrite(p, to, DeltaFor(from, to));

      for (const Verdict& v : {p.Ipv4(), p.Tcp()}) {
        ASSERT_TRUE(v.accepted) << c.description;
        if (c.after != kAnyChecksum) {
          ASSERT_EQ(v.full, c.after) << c.description;
        }
        int expected = c.expected_field;
        if (expected == kAnyChecksum) {
          expected = c.stored_as_negative_zero && v.full == 0 ? 0xffff : v.full;
        }
        ASSERT_EQ(v.field, expected) << c.description << " (full " << v.full << ")";
      }
    }
  }
}

TEST(RewriteIpv4TcpTest, UnchangedTupleLeavesPacketBitIdentical) {
  std::mt19937_64 rng(11);
  const std::vector<uint8_t> pool = RandomPool(rng);
  TestPacket p;
  for (int i = 0; i < 1000; ++i) {
    p.Build(rng, pool);
    if (i % 2) {
      WriteHost16(p.ip() + kIpv4ChecksumOffset, 0xffff);  // any stored value, even -0 or wrong
      WriteHost16(p.tcp() + kTcpChecksumOffset, static_cast<uint16_t>(rng()));
    }
    const TestPacket before = p;
    const Tuple same = TupleOf(p);
    Rewrite(p, same, DeltaFor(same, same));
    ASSERT_EQ(std::memcmp(p.ip(), before.ip(), p.TotalLen()), 0) << i;
  }
}

TEST(RewriteIpv4TcpTest, TouchesOnlyAddressesPortsAndChecksums) {
  std::mt19937_64 rng(12);
  const std::vector<uint8_t> pool = RandomPool(rng);
  TestPacket p;
  for (int i = 0; i < 200; ++i) {
    p.Build(rng, pool);
    TestPacket before = p;
    const Tuple from = TupleOf(p);
    const Tuple to = {.src_ip = static_cast<Ipv4Be>(rng()),
                      .dst_ip = static_cast<Ipv4Be>(rng()),
                      .src_port = static_cast<PortBe>(rng()),
                      .dst_port = static_cast<PortBe>(rng())};
    Rewrite(p, to, DeltaFor(from, to));
    for (size_t offset : {kIpv4ChecksumOffset, kIpv4SrcOffset, kIpv4SrcOffset + 2, kIpv4DstOffset,
                          kIpv4DstOffset + 2}) {
      std::memcpy(before.ip() + offset, p.ip() + offset, 2);
    }
    for (size_t offset : {kTcpSrcPortOffset, kTcpDstPortOffset, kTcpChecksumOffset}) {
      std::memcpy(before.tcp() + offset, p.tcp() + offset, 2);
    }
    ASSERT_EQ(std::memcmp(p.ip(), before.ip(), p.TotalLen()), 0) << i;
  }
}

// kOffload leaves the checksums to the NIC: IPv4 zeroed, TCP holding the pseudo-header sum that
// DPDK's rte_ipv4_phdr_cksum() gives. Emulating the NIC must yield the full checksums.
TEST(RewriteIpv4TcpTest, OffloadPreparesWhatTheNicCompletes) {
  std::mt19937_64 rng(13);
  const std::vector<uint8_t> pool = RandomPool(rng);
  TestPacket p;
  for (int i = 0; i < 20000; ++i) {
    p.Build(rng, pool);
    const Tuple from = TupleOf(p);
    const Tuple to = RandomTarget(rng, from);
    Rewrite<ChecksumMode::kOffload>(p, to, DeltaFor(from, to));
    ASSERT_EQ(p.src(), to.src_ip);
    ASSERT_EQ(p.sport(), to.src_port);
    ASSERT_EQ(p.dst(), to.dst_ip);
    ASSERT_EQ(p.dport(), to.dst_port);
    ASSERT_EQ(ReadHost16(p.ip() + kIpv4ChecksumOffset), 0);
    const auto* dpdk_ip = reinterpret_cast<const rte_ipv4_hdr*>(p.ip());
    uint16_t pseudo;
    std::memcpy(&pseudo, p.tcp() + kTcpChecksumOffset, 2);
    ASSERT_EQ(pseudo, rte_ipv4_phdr_cksum(dpdk_ip, 0));

    // The NIC: checksum over the header / over the segment as they are, stored complemented.
    const uint16_t nic_ip = static_cast<uint16_t>(~ReferenceFold(ReferenceSum(p.ip(), p.IpLen())));
    const uint16_t nic_tcp =
        static_cast<uint16_t>(~ReferenceFold(ReferenceSum(p.tcp(), p.tcp_len())));
    ASSERT_EQ(nic_ip, p.Ipv4().full);
    ASSERT_EQ(nic_tcp, p.Tcp().full);
  }
}

TEST(RewriteIpv4TcpTest, NatExampleMatchesDpdkFullChecksums) {
  // A consumer SYN to a private endpoint, DNAT + SNAT onto a backend.
  alignas(8) uint8_t packet[2 + 20 + 20];
  uint8_t* ip = packet + 2;  // 2-byte aligned, as after an Ethernet header
  uint8_t* tcp = ip + 20;
  std::memset(packet, 0, sizeof packet);
  ip[0] = 0x45;
  WriteHost16(ip + kIpv4TotalLengthOffset, 40);
  ip[8] = 64;
  ip[9] = kIpProtoTcp;
  const Tuple from = {.src_ip = Ipv4(192, 168, 0, 10),
                      .dst_ip = Ipv4(10, 1, 0, 4),
                      .src_port = HostToBe16(51000),
                      .dst_port = HostToBe16(443)};
  const Tuple to = {.src_ip = Ipv4(172, 16, 0, 5),
                    .dst_ip = Ipv4(172, 16, 1, 20),
                    .src_port = HostToBe16(1024),
                    .dst_port = HostToBe16(8443)};
  std::memcpy(ip + kIpv4SrcOffset, &from.src_ip, 4);
  std::memcpy(ip + kIpv4DstOffset, &from.dst_ip, 4);
  std::memcpy(tcp + kTcpSrcPortOffset, &from.src_port, 2);
  std::memcpy(tcp + kTcpDstPortOffset, &from.dst_port, 2);
  tcp[12] = 0x50;
  tcp[13] = 0x02;  // SYN
  WriteHost16(tcp + 14, 64240);
  const auto* dpdk_ip = reinterpret_cast<const rte_ipv4_hdr*>(ip);
  const uint16_t ip_checksum = rte_ipv4_cksum(dpdk_ip);
  const uint16_t tcp_checksum = rte_ipv4_udptcp_cksum(dpdk_ip, tcp);
  std::memcpy(ip + kIpv4ChecksumOffset, &ip_checksum, 2);
  std::memcpy(tcp + kTcpChecksumOffset, &tcp_checksum, 2);

  RewriteIpv4Tcp({ip, tcp}, to, DeltaFor(from, to));

  uint16_t ip_after, tcp_after;
  std::memcpy(&ip_after, ip + kIpv4ChecksumOffset, 2);
  std::memcpy(&tcp_after, tcp + kTcpChecksumOffset, 2);
  std::memset(ip + kIpv4ChecksumOffset, 0, 2);
  std::memset(tcp + kTcpChecksumOffset, 0, 2);
  EXPECT_EQ(ip_after, rte_ipv4_cksum(dpdk_ip));
  EXPECT_EQ(tcp_after, rte_ipv4_udptcp_cksum(dpdk_ip, tcp));
}

}  // namespace
}  // namespace privlink::nat
