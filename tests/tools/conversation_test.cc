// privlink-tracegen's conversations: the plan is a consistent TCP exchange, and every frame
// parses as valid TCP (checksums verified by the dataplane's parser) with the planned fields;
// privlink-bench's UDP datagrams parse as valid UDP.
#include "tools/trace/conversation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "dataplane/packet/parse.h"
#include "nat/tcp_state.h"

namespace privlink::trace {
namespace {

using dataplane::ParsePacket;
using dataplane::ParseVerdict;

// A client's frames to the PE on `dst_port`, on `vlan`.
WireTuple ClientToPe(uint16_t vlan, uint16_t dst_port) {
  return {.src_mac = {2, 0, 0, 0, 0, 2},
          .dst_mac = {2, 0, 0, 0, 0, 1},
          .vlan = vlan,
          .src_ip = Ipv4(10, 0, 0, 2),
          .dst_ip = Ipv4(10, 0, 0, 100),
          .src_port = HostToBe16(40000),
          .dst_port = HostToBe16(dst_port)};
}

// What each side has received so far must be what the other has sent: every ACK acknowledges
// exactly the peer's sequence space consumed before it.
TEST(ConversationTest, PlanIsAConsistentExchange) {
  for (bool rst : {false, true}) {
    for (uint32_t response : {0u, 1u, 1460u, 1461u, 100000u}) {
      SCOPED_TRACE(testing::Message() << "rst " << rst << " response " << response);
      const ConversationPlan plan{.start_ms = 5,
                                  .request_bytes = 300,
                                  .response_bytes = response,
                                  .close_with_rst = rst,
                                  .client_isn = 0xfffffff0u,  // wraps during the exchange
                                  .backend_isn = 1000};
      const auto segs = PlanConversation(plan);
      ASSERT_GE(segs.size(), 4u);
      EXPECT_EQ(segs[0].flags, nat::kTcpSyn);
      EXPECT_EQ(segs[0].at_ms, 5u);
      uint32_t next[2] = {plan.client_isn, plan.backend_isn};  // next seq each side sends
      uint32_t bytes[2] = {0, 0};
      nat::TimeMs last = 0;
      for (const Segment& s : segs) {
        const int me = s.from == Side::kClient ? 0 : 1;
        EXPECT_GE(s.at_ms, last);
        last = s.at_ms;
        EXPECT_EQ(s.seq, next[me]);
        if (s.flags & nat::kTcpAck) {
          EXPECT_EQ(s.ack, next[1 - me]);
        }
        EXPECT_LE(s.payload_len, plan.mss);
        if (s.payload_len > 0) {
          EXPECT_EQ(s.stream_offset, bytes[me]);
        }
        next[me] += s.payload_len + ((s.flags & (nat::kTcpSyn | nat::kTcpFin)) ? 1 : 0);
        bytes[me] += s.payload_len;
      }
      EXPECT_EQ(bytes[0], plan.request_bytes);
      EXPECT_EQ(bytes[1], response);
      EXPECT_EQ((segs.back().flags & nat::kTcpRst) != 0, rst);
    }
  }
}

TEST(ConversationTest, FramesParseWithValidChecksumsAndCarryThePlan) {
  const auto segs = PlanConversation({.request_bytes = 2000, .response_bytes = 3000});
  for (uint16_t vlan : {0, 20}) {
    const WireTuple w = ClientToPe(vlan, 80);
    for (const Segment& s : segs) {
      const std::vector<uint8_t> f = BuildSegmentFrame(s, w);
      const auto p = ParsePacket<dataplane::kVerifyTcpChecksums>(f.data(), f.size());
      ASSERT_EQ(p.verdict, ParseVerdict::kTcp) << dataplane::DropReasonName(p.drop_reason);
      EXPECT_EQ(p.vlan_id, vlan);
      EXPECT_EQ(p.tcp_flags, s.flags);
      EXPECT_EQ(p.key.tuple.src_ip, w.src_ip);
      EXPECT_EQ(p.key.tuple.dst_port, w.dst_port);
      EXPECT_EQ(p.tcp_payload_len(), s.payload_len);
      for (uint32_t i = 0; i < s.payload_len; ++i) {
        ASSERT_EQ(f[p.tcp_payload_offset() + i], StreamByte(s.stream_offset + i));
      }
      EXPECT_GE(f.size(), dataplane::kEthMinFrameLen);
    }
  }
}

// The benchmark's UDP datagrams: valid (checksum verified by the parser), the payload as given.
TEST(ConversationTest, DatagramFramesParseWithValidChecksums) {
  for (uint16_t vlan : {0, 20}) {
    const WireTuple w = ClientToPe(vlan, 53);
    for (const size_t len : {size_t{0}, size_t{18}, size_t{1001}}) {
      std::vector<uint8_t> payload(len);
      for (size_t i = 0; i < len; ++i) payload[i] = static_cast<uint8_t>(i * 7 + 1);
      const std::vector<uint8_t> f = BuildDatagramFrame(w, payload);
      const auto p = ParsePacket<dataplane::kVerifyTcpChecksums>(f.data(), f.size());
      ASSERT_EQ(p.verdict, ParseVerdict::kUdp) << dataplane::DropReasonName(p.drop_reason);
      EXPECT_EQ(p.vlan_id, vlan);
      EXPECT_EQ(p.key.tuple.src_port, w.src_port);
      EXPECT_EQ(p.key.tuple.dst_port, w.dst_port);
      EXPECT_EQ(p.tcp_payload_len(), len);
      EXPECT_TRUE(std::equal(payload.begin(), payload.end(), f.begin() + p.tcp_payload_offset()));
      EXPECT_GE(f.size(), dataplane::kEthMinFrameLen);
    }
  }
}

}  // namespace
}  // namespace privlink::trace
