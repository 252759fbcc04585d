#include "dataplane/packet/tcp_shift.h"

#include "dataplane/packet/packet_view.h"
#include "dataplane/packet/tcp_edit.h"
#include "dataplane/packet/wire_format.h"

namespace privlink::dataplane {
namespace {

// A 32-bit field of the header at `tcp`, host order.
uint32_t LoadField(const uint8_t* tcp, size_t at) {
  return PacketView(tcp, static_cast<uint32_t>(at + 4)).LoadHost32(at);
}

void StoreHost32(uint8_t* tcp, size_t at, uint32_t host) {
  const uint32_t be = HostToBe32(host);
  ReplaceTcpBytes(tcp, at, &be, 4);
}

}  // namespace

void AddToSeq(uint8_t* tcp, uint32_t delta) {
  StoreHost32(tcp, kTcpSeqOffset, LoadField(tcp, kTcpSeqOffset) + delta);
}

void SetAck(uint8_t* tcp, uint32_t ack) {
  StoreHost32(tcp, kTcpAckOffset, ack);
}

void AddToSackBlocks(uint8_t* tcp, size_t header_len, uint32_t delta) {
  ForEachTcpOption(tcp, header_len, [&](uint8_t kind, size_t at, uint8_t len) {
    if (kind != kTcpOptionSack) return false;
    for (size_t edge = at + 2; edge + 4 <= at + len; edge += 4) {
      StoreHost32(tcp, edge, LoadField(tcp, edge) + delta);
    }
    return false;
  });
}

}  // namespace privlink::dataplane
