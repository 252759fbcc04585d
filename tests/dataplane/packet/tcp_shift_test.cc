// The PROXY protocol's stream shift (dataplane/packet/tcp_shift.h) and LowerMss on headers built
// by the reference builder: the new numbers where they belong, the checksum equal to a full
// recomputation, SACK blocks at even and odd offsets, sequence numbers wrapping past 2^32.
#include "dataplane/packet/tcp_shift.h"

#include <gtest/gtest.h>

#include "dataplane/packet/tcp_mss.h"
#include "tests/dataplane/framework/packet_builder.h"

namespace privlink::dataplane {
namespace {

using namespace privlink::dataplane::testing;

size_t HeaderLen(const Frame& f) {
  return size_t{f.bytes[f.l4_offset + 12]} >> 4 << 2;
}

// `got` must equal `want` built with the new values (the builder's checksums are full ones).
void ExpectSame(const Frame& got, const Frame& want) {
  EXPECT_EQ(got.bytes, want.bytes);
  Frame recomputed = got;
  recomputed.FixChecksums();
  EXPECT_EQ(got.bytes, recomputed.bytes) << "the incremental checksum differs from a full one";
}

TEST(TcpShiftTest, SequenceAndAcknowledgementMoveWithTheChecksum) {
  const uint32_t seqs[] = {1000, 0xfffffff0u, 0x7fffffffu};
  for (const uint32_t seq : seqs) {
    SCOPED_TRACE(seq);
    Frame f = BuildTcpFrame({.tcp = {.seq = seq, .ack = seq ^ 0x5a5a, .flags = nat::kTcpAck}});
    AddToSeq(f.bytes.data() + f.l4_offset, 36);
    SetAck(f.bytes.data() + f.l4_offset, (seq ^ 0x5a5a) - 36);
    ExpectSame(f,
               BuildTcpFrame(
                   {.tcp = {.seq = seq + 36, .ack = (seq ^ 0x5a5a) - 36, .flags = nat::kTcpAck}}));
  }
}

TEST(TcpShiftTest, SackBlocksShiftWhereverTheySit) {
  const std::vector<std::pair<uint32_t, uint32_t>> blocks = {{5036, 6036}, {7036, 0x00000010}};
  std::vector<std::pair<uint32_t, uint32_t>> shifted;
  for (const auto& [l, r] : blocks) shifted.push_back({l - 36, r - 36});
  struct Case {
    const char* what;
    TcpOptions before;
    TcpOptions after;
  };
  const Case cases[] = {
      {"after two NOPs (even offset)", TcpOptions().Nop().Nop().Sack(blocks),
       TcpOptions().Nop().Nop().Sack(shifted)},
      {"after one NOP (odd offset)", TcpOptions().Nop().Sack(blocks).Nop(),
       TcpOptions().Nop().Sack(shifted).Nop()},
      {"after timestamps", TcpOptions().Nop().Nop().Timestamps(1, 2).Nop().Nop().Sack(blocks),
       TcpOptions().Nop().Nop().Timestamps(1, 2).Nop().Nop().Sack(shifted)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Frame f = BuildTcpFrame({.tcp = {.flags = nat::kTcpAck, .options = c.before.Build()}});
    AddToSackBlocks(f.bytes.data() + f.l4_offset, HeaderLen(f), 0u - 36);
    ExpectSame(f, BuildTcpFrame({.tcp = {.flags = nat::kTcpAck, .options = c.after.Build()}}));
  }
  // No SACK option, or malformed options: untouched.
  for (const auto& options :
       {TcpOptions().Timestamps(1, 2).Build(), TcpOptions().Raw({5, 1}).Nop().Nop().Build()}) {
    Frame f = BuildTcpFrame({.tcp = {.flags = nat::kTcpAck, .options = options}});
    const Frame before = f;
    AddToSackBlocks(f.bytes.data() + f.l4_offset, HeaderLen(f), 0u - 36);
    EXPECT_EQ(f.bytes, before.bytes);
  }
}

TEST(TcpShiftTest, LowerMssTakesTheHeadersLengthOff) {
  Frame f =
      BuildTcpFrame({.tcp = {.flags = nat::kTcpSyn | nat::kTcpAck,
                             .options = TcpOptions().Nop().Mss(1460).SackPermitted().Build()}});
  EXPECT_TRUE(LowerMss(f.bytes.data() + f.l4_offset, HeaderLen(f), 36));
  ExpectSame(
      f, BuildTcpFrame({.tcp = {.flags = nat::kTcpSyn | nat::kTcpAck,
                                .options = TcpOptions().Nop().Mss(1424).SackPermitted().Build()}}));
}

}  // namespace
}  // namespace privlink::dataplane
