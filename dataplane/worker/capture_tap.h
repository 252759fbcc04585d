// What a worker sees of packet capture (dataplane/observe/capture.h): the armed filter, read once
// per poll, and a call that copies frames of the captured port and direction. The capture itself
// (its buffer, arming, the pcapng file) lives in observe/; a worker only produces copies.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

#include "dataplane/packet/drop_reason.h"

namespace privlink::dataplane {

enum class CaptureDirection : uint8_t { kNone = 0, kRx = 1, kTx = 2, kDrop = 3 };

// What a worker tests per burst: port index and direction of the armed capture.
struct CaptureFilter {
  uint16_t port = 0;
  CaptureDirection direction = CaptureDirection::kNone;
  uint16_t session = 0;
  uint32_t snaplen = 0;
  bool Matches(uint16_t p, CaptureDirection d) const { return direction == d && port == p; }
};

class CaptureTap {
 public:
  virtual ~CaptureTap() = default;
  // The armed filter (direction kNone: no capture runs); one acquire load.
  virtual CaptureFilter filter() const = 0;
  // Copies up to filter.snaplen bytes of each frame; `reason` is kCount except for drops.
  virtual void Copy(const CaptureFilter& filter, rte_mbuf* const* frames, uint16_t n,
                    DropReason reason = DropReason::kCount) = 0;
};

}  // namespace privlink::dataplane
