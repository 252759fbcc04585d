#include "dataplane/packet/tcp_mss.h"

namespace privlink::dataplane {
namespace {

// Sets the MSS option to what `choose(current)` gives; true if that changed it.
template <typename Choose>
bool RewriteMss(uint8_t* tcp, size_t header_len, Choose&& choose) {
  bool changed = false;
  ForEachTcpOption(tcp, header_len, [&](uint8_t kind, size_t at, uint8_t len) {
    if (kind != kTcpOptionMss || len != kTcpOptionMssLen) return false;
    const auto mss = static_cast<uint16_t>(tcp[at + 2] << 8 | tcp[at + 3]);
    const uint16_t want = choose(mss);
    if (want == mss) return true;
    const uint8_t bytes[2] = {static_cast<uint8_t>(want >> 8), static_cast<uint8_t>(want)};
    ReplaceTcpBytes(tcp, at + 2, bytes, 2);
    changed = true;
    return true;
  });
  return changed;
}

}  // namespace

bool ClampMss(uint8_t* tcp, size_t header_len, uint16_t clamp) {
  return RewriteMss(tcp, header_len, [clamp](uint16_t mss) { return mss > clamp ? clamp : mss; });
}

bool LowerMss(uint8_t* tcp, size_t header_len, uint16_t by) {
  return RewriteMss(tcp, header_len,
                    [by](uint16_t mss) { return static_cast<uint16_t>(mss > by ? mss - by : 1); });
}

}  // namespace privlink::dataplane
