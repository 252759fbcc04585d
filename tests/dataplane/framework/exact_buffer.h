// Parsing from a heap copy of exactly the frame's bytes, so that ASan reports any read past the
// end (a std::vector's spare capacity would hide it), through both parser paths, which must agree.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "dataplane/packet/parse.h"

namespace privlink::dataplane::testing {

class ExactBuffer {
 public:
  ExactBuffer(const uint8_t* data, size_t len) : bytes_(new uint8_t[len]), len_(len) {
    if (len != 0) std::memcpy(bytes_.get(), data, len);
  }
  explicit ExactBuffer(const std::vector<uint8_t>& bytes)
      : ExactBuffer(bytes.data(), bytes.size()) {}
  PacketView view() const { return PacketView(bytes_.get(), static_cast<uint32_t>(len_)); }

 private:
  std::unique_ptr<uint8_t[]> bytes_;
  size_t len_;
};

// ParsePacket<kOptions> on an exact copy of the first `len` bytes (with the NIC's checksum
// verdicts `nic`), checked against the in-order parser: ParsePacket gives its result, and the
// fast paths alone accept exactly the frames it accepts as TCP and as UDP, with the same fields.
template <ParseOptions kOptions = ParseOptions{}>
ParsedPacket ParseBothWays(const uint8_t* data, size_t len, NicChecksums nic = {}) {
  const ExactBuffer buffer(data, len);
  const PacketView view(buffer.view().data(), buffer.view().size(), nic);
  const ParsedPacket parsed = ParsePacket<kOptions>(view);
  const ParsedPacket in_order =
      parse_internal::ParsePacketInOrder(view, kOptions.verify_tcp_checksum);
  EXPECT_TRUE(parsed == in_order) << "ParsePacket and the in-order parser disagree on a " << len
                                  << "-byte frame: " << DropReasonName(parsed.drop_reason) << " vs "
                                  << DropReasonName(in_order.drop_reason);
  ParsedPacket fast;
  const bool fast_accepted = parse_internal::ParseTcpFast<kOptions>(view, fast);
  EXPECT_EQ(fast_accepted, in_order.verdict == ParseVerdict::kTcp)
      << "the fast path " << (fast_accepted ? "accepts" : "declines") << " a " << len
      << "-byte frame the in-order parser " << (fast_accepted ? "drops as " : "accepts")
      << (fast_accepted ? DropReasonName(in_order.drop_reason) : "");
  if (fast_accepted) {
    EXPECT_TRUE(fast == in_order) << "fast path fields differ";
  }
  ParsedPacket fast_udp;
  const bool udp_accepted = parse_internal::ParseUdpFast<kOptions>(view, fast_udp);
  EXPECT_EQ(udp_accepted, in_order.verdict == ParseVerdict::kUdp)
      << "the UDP fast path " << (udp_accepted ? "accepts" : "declines") << " a " << len
      << "-byte frame the in-order parser " << (udp_accepted ? "drops as " : "accepts")
      << (udp_accepted ? DropReasonName(in_order.drop_reason) : "");
  if (udp_accepted) {
    EXPECT_TRUE(fast_udp == in_order) << "UDP fast path fields differ";
  }
  return parsed;
}

template <ParseOptions kOptions = ParseOptions{}>
ParsedPacket ParseBothWays(const std::vector<uint8_t>& bytes, NicChecksums nic = {}) {
  return ParseBothWays<kOptions>(bytes.data(), bytes.size(), nic);
}

}  // namespace privlink::dataplane::testing
