// Randomly mutated frames: the fast path and the in-order parser agree on every one
// (exact_buffer.h), results stay inside the frame, and checksum verdicts match the independent
// RFC 1071 reference. Run under ASan, an exact-size copy of each frame catches any over-read.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <random>
#include <set>
#include <vector>

#include "dataplane/packet/parse.h"
#include "tests/dataplane/framework/exact_buffer.h"
#include "tests/dataplane/framework/packet_builder.h"
#include "tests/nat/reference_checksum.h"

namespace privlink::dataplane {
namespace {

using nat::testing::ReferenceFold;
using nat::testing::ReferenceSum;
using testing::Frame;

constexpr int kIterations = 200'000;
constexpr size_t kMutatedPrefix = 96;  // headers live here; mutating payload bytes finds little

std::vector<Frame> SeedFrames() {
  using namespace testing;
  return {
      BuildTcpFrame(),
      BuildTcpFrame({.eth = {.vlans = {{.id = 100}}}, .tcp = {.options = TypicalSynOptions()}}),
      BuildTcpFrame({.ip = {.options = {148, 4, 0, 0}},
                     .tcp = {.flags = nat::kTcpAck, .payload = PatternPayload(61)}}),
      BuildTcpFrame({.tcp = {.flags = nat::kTcpAck}}).PadToMinimum(),
      BuildUdpFrame(),
      BuildIcmpFrame(),
      BuildArpFrame(),
      BuildArpFrame({.eth = {.dst = kBroadcastMac, .vlans = {{.id = 9}}}}).PadToMinimum(),
      BuildIpv6Frame(),
  };
}

// Values that steer the parser into its branches more often than random bytes do.
constexpr std::array<uint8_t, 12> kInterestingBytes = {0x00, 0xff, 0x45, 0x46, 0x4f, 0x44,
                                                       0x08, 0x81, 0x06, 0x11, 0x50, 0xf0};
constexpr std::array<uint16_t, 14> kInteresting16 = {0x0000,
                                                     0xffff,
                                                     kEtherTypeIpv4,
                                                     kEtherTypeVlan,
                                                     kEtherTypeArp,
                                                     kEtherTypeIpv6,
                                                     kEtherTypeQinQ,
                                                     0x2000,
                                                     0x0001,
                                                     20,
                                                     39,
                                                     40,
                                                     41,
                                                     60};

void Mutate(Frame& f, std::mt19937& rng) {
  const auto pick = [&rng](size_t n) { return static_cast<size_t>(rng() % n); };
  const size_t prefix = std::min(f.bytes.size(), kMutatedPrefix);
  switch (pick(6)) {
    case 0:
      if (prefix) f.bytes[pick(prefix)] = static_cast<uint8_t>(rng());
      break;
    case 1:
      if (prefix) f.bytes[pick(prefix)] = kInterestingBytes[pick(kInterestingBytes.size())];
      break;
    case 2:
      if (prefix >= 2) f.Set16(pick(prefix - 1), kInteresting16[pick(kInteresting16.size())]);
      break;
    case 3:
      f.Truncate(pick(f.bytes.size() + 1));
      break;
    case 4:
      f.Pad(pick(24), static_cast<uint8_t>(rng()));
      break;
    default:
      f.FixChecksums();  // lets some mutated frames through with verification on
      break;
  }
}

// The one's-complement sum of a checksummed region, checksum field included, by the reference.
uint16_t ReferenceIpv4Sum(const std::vector<uint8_t>& b, size_t l3) {
  return ReferenceFold(ReferenceSum(b.data() + l3, size_t{b[l3] & 0x0fu} * 4));
}
uint16_t ReferenceTcpSum(const std::vector<uint8_t>& b, const ParsedPacket& p) {
  const size_t len = p.tcp_segment_len();
  const uint64_t pseudo = ReferenceSum(b.data() + p.l3_offset + 12, 8) + nat::kIpProtoTcp + len;
  return ReferenceFold(ReferenceSum(b.data() + p.l4_offset, len, pseudo));
}
uint16_t ReferenceUdpSum(const std::vector<uint8_t>& b, const ParsedPacket& p, size_t udp_len) {
  const uint64_t pseudo = ReferenceSum(b.data() + p.l3_offset + 12, 8) + nat::kIpProtoUdp + udp_len;
  return ReferenceFold(ReferenceSum(b.data() + p.l4_offset, udp_len, pseudo));
}

void CheckInvariants(const std::vector<uint8_t>& bytes, const ParsedPacket& p, bool verified) {
  const size_t len = bytes.size();
  switch (p.verdict) {
    case ParseVerdict::kTcp:
      EXPECT_EQ(p.drop_reason, DropReason::kCount);
      EXPECT_TRUE(p.l3_offset == 14 || p.l3_offset == 18);
      EXPECT_GE(p.l4_offset, p.l3_offset + 20);
      EXPECT_LE(p.l4_offset, p.l3_offset + 60);
      EXPECT_GE(p.tcp_header_len, 20);
      EXPECT_LE(p.tcp_header_len, 60);
      EXPECT_LE(size_t{p.l4_offset} + p.tcp_header_len, size_t{p.l3_offset} + p.ip_total_len);
      EXPECT_LE(size_t{p.l3_offset} + p.ip_total_len, len);
      // The IPv4 header checksum is always verified; the TCP one when asked for.
      EXPECT_EQ(ReferenceIpv4Sum(bytes, p.l3_offset), 0xffff);
      if (verified) {
        EXPECT_EQ(ReferenceTcpSum(bytes, p), 0xffff);
        EXPECT_EQ(p.checksums, kL4ChecksumVerified);
      } else {
        EXPECT_EQ(p.checksums, 0) << "nothing known of the TCP checksum without a NIC verdict";
      }
      break;
    case ParseVerdict::kUdp: {
      EXPECT_EQ(p.drop_reason, DropReason::kCount);
      EXPECT_TRUE(p.l3_offset == 14 || p.l3_offset == 18);
      EXPECT_GE(p.l4_offset, p.l3_offset + 20);
      EXPECT_EQ(p.tcp_header_len, 8);
      EXPECT_LE(size_t{p.l3_offset} + p.ip_total_len, len);
      const size_t udp_len = (size_t{bytes[p.l4_offset + 4]} << 8) | bytes[p.l4_offset + 5];
      EXPECT_GE(udp_len, 8u);
      EXPECT_LE(p.l4_offset + udp_len, size_t{p.l3_offset} + p.ip_total_len);
      EXPECT_EQ(ReferenceIpv4Sum(bytes, p.l3_offset), 0xffff);
      if (verified) {
        const bool no_checksum = bytes[p.l4_offset + 6] == 0 && bytes[p.l4_offset + 7] == 0;
        EXPECT_TRUE(no_checksum || ReferenceUdpSum(bytes, p, udp_len) == 0xffff);
        EXPECT_EQ(p.checksums, kL4ChecksumVerified);
      } else {
        EXPECT_EQ(p.checksums, 0);
      }
      break;
    }
    case ParseVerdict::kArp:
      EXPECT_EQ(p.drop_reason, DropReason::kCount);
      EXPECT_LE(size_t{p.l3_offset} + kArpLen, len);
      break;
    case ParseVerdict::kDrop:
      ASSERT_LT(static_cast<size_t>(p.drop_reason), kDropReasonCount);
      if (p.drop_reason == DropReason::kIpv4BadChecksum) {
        EXPECT_NE(ReferenceIpv4Sum(bytes, p.l3_offset), 0xffff);
      }
      if (p.drop_reason == DropReason::kTcpBadChecksum ||
          p.drop_reason == DropReason::kUdpBadChecksum) {
        EXPECT_TRUE(verified);
      }
      break;
  }
}

TEST(ParseAgreementTest, FastAndInOrderParsersAgreeOnMutatedFrames) {
  const std::vector<Frame> seeds = SeedFrames();
  std::mt19937 rng(20240611);
  std::set<DropReason> reasons_seen;
  int tcp_accepted_verified = 0;
  int arp_accepted = 0;
  int udp_accepted = 0;
  for (int i = 0; i < kIterations; ++i) {
    Frame f = seeds[rng() % seeds.size()];
    const int mutations = 1 + static_cast<int>(rng() % 3);
    for (int m = 0; m < mutations; ++m) Mutate(f, rng);
    const ParsedPacket plain = testing::ParseBothWays(f.bytes);
    const ParsedPacket verified = testing::ParseBothWays<kVerifyTcpChecksums>(f.bytes);
    if (HasFailure()) {
      ADD_FAILURE() << "iteration " << i;
      return;
    }
    CheckInvariants(f.bytes, plain, false);
    CheckInvariants(f.bytes, verified, true);
    // Verifying checksums only ever removes frames, and only for one.
    if (verified.verdict == ParseVerdict::kDrop && plain.verdict != ParseVerdict::kDrop) {
      EXPECT_EQ(verified.drop_reason, plain.verdict == ParseVerdict::kUdp
                                          ? DropReason::kUdpBadChecksum
                                          : DropReason::kTcpBadChecksum);
    } else {
      EXPECT_EQ(verified.verdict, plain.verdict);
    }
    if (plain.verdict == ParseVerdict::kDrop) reasons_seen.insert(plain.drop_reason);
    if (verified.verdict == ParseVerdict::kDrop) reasons_seen.insert(verified.drop_reason);
    tcp_accepted_verified += verified.verdict == ParseVerdict::kTcp;
    arp_accepted += plain.verdict == ParseVerdict::kArp;
    udp_accepted += verified.verdict == ParseVerdict::kUdp;
  }
  // The mutations must reach deep into the parser, or agreement means little.
  constexpr DropReason kLastParserReason = DropReason::kUdpBadChecksum;
  for (size_t r = 0; r <= static_cast<size_t>(kLastParserReason); ++r) {
    EXPECT_TRUE(reasons_seen.count(static_cast<DropReason>(r)))
        << "never produced: " << DropReasonName(static_cast<DropReason>(r));
  }
  EXPECT_GT(tcp_accepted_verified, kIterations / 100);
  EXPECT_GT(arp_accepted, kIterations / 100);
  EXPECT_GT(udp_accepted, kIterations / 100);
}

}  // namespace
}  // namespace privlink::dataplane
