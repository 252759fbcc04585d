// ClampMss over TCP headers as built by the reference builder: the announced MSS lowered only
// when above the clamp, wherever the option sits (after an even or odd number of bytes of other
// options), the checksum equal to a full recomputation; headers without a well-formed MSS option
// left byte for byte.
#include "dataplane/packet/tcp_mss.h"

#include <gtest/gtest.h>

#include "tests/dataplane/framework/packet_builder.h"

namespace privlink::dataplane {
namespace {

using namespace privlink::dataplane::testing;

struct Case {
  const char* what;
  std::vector<uint8_t> options;
  uint16_t clamp;
  std::optional<uint16_t> want_mss;  // nullopt: unchanged
};

uint16_t MssAt(const Frame& f, size_t option_offset) {
  return f.Get16(f.l4_offset + kTcpMinHeaderLen + option_offset + 2);
}

TEST(TcpMssTest, ClampsTheAnnouncedMssWithTheChecksumKeptRight) {
  const Case cases[] = {
      {"MSS first (even offset), above the clamp", TcpOptions().Mss(1460).Build(), 1200, 1200},
      {"after one NOP (odd offset)", TcpOptions().Nop().Mss(1460).SackPermitted().Build(), 1200,
       1200},
      {"after timestamps and two NOPs", TcpOptions().Nop().Nop().Timestamps(7, 0).Mss(9000).Build(),
       1400, 1400},
      {"at the clamp", TcpOptions().Mss(1200).Build(), 1200, std::nullopt},
      {"below the clamp", TcpOptions().Mss(536).Build(), 1200, std::nullopt},
      {"no MSS option", TcpOptions().WindowScale(7).Build(), 1200, std::nullopt},
      {"an option of length 0 (malformed) before it", TcpOptions().Raw({30, 0}).Mss(1460).Build(),
       1200, std::nullopt},
      {"an MSS option of the wrong length", TcpOptions().Raw({2, 3, 5, 0}).Build(), 1200,
       std::nullopt},
      {"end of options before it", TcpOptions().Raw({0, 0, 0, 0}).Mss(1460).Build(), 1200,
       std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Frame f = BuildTcpFrame({.tcp = {.flags = nat::kTcpSyn, .options = c.options}});
    const Frame before = f;
    const size_t header_len = size_t{f.bytes[f.l4_offset + 12]} >> 4 << 2;  // data offset
    const bool changed = ClampMss(f.bytes.data() + f.l4_offset, header_len, c.clamp);
    EXPECT_EQ(changed, c.want_mss.has_value());
    if (!c.want_mss) {
      EXPECT_EQ(f.bytes, before.bytes);
      continue;
    }
    Frame recomputed = f;
    recomputed.FixChecksums();
    EXPECT_EQ(f.bytes, recomputed.bytes) << "the incremental checksum differs from a full one";
    size_t at = 0;
    while (c.options[at] == kTcpOptionNop || c.options[at] != kTcpOptionMss) {
      at += c.options[at] == kTcpOptionNop ? 1 : c.options[at + 1];
    }
    EXPECT_EQ(MssAt(f, at), *c.want_mss);
  }
}

}  // namespace
}  // namespace privlink::dataplane
