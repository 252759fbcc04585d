// Packet capture (privlinkctl capture): workers copy the frames of one port and direction (rx,
// tx, or dropped with their reason) into a bounded buffer while a capture is armed; the control
// thread drains the copies into a pcapng file that the API returns.
//
// Workers read the armed filter once per poll (one relaxed-cost acquire load) and test it once
// per burst, so forwarding pays nothing per packet when no capture runs. Copies go into a
// dedicated mbuf pool and a multi-producer ring; when either is full the frame is skipped and
// counted, never waited for. The original frame is forwarded as if nothing happened.
#pragma once

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/observe/pcapng_writer.h"
#include "dataplane/packet/drop_reason.h"
#include "dataplane/worker/capture_tap.h"

namespace privlink::dataplane {

// Copies waiting for the control thread: at 10 Mpps a 200 us control round fills ~2000, and
// 2047 frames of a 2 KiB pool are ~5 MiB of memory, the capture's whole footprint.
inline constexpr unsigned kCaptureBufferFrames = 2047;
inline constexpr unsigned kCaptureRingSize = 2048;
// Copies the control thread takes per round.
inline constexpr unsigned kCaptureDrainBurst = 256;
// A capture file larger than this stops early (it is held in memory and sent as one reply).
inline constexpr size_t kMaxCaptureFileBytes = 64u << 20;

struct CaptureSpec {
  uint16_t port = 0;  // index into DataplaneShared::ports
  std::string port_name;
  CaptureDirection direction = CaptureDirection::kRx;
  uint32_t count = 1;
  uint32_t snaplen = 65535;
};

struct CaptureOutcome {
  std::string pcapng;
  uint32_t packets = 0;    // written to the file
  uint64_t skipped = 0;    // copies refused because the buffer was full
  bool truncated = false;  // stopped at kMaxCaptureFileBytes
};

class PacketCapture final : public CaptureTap {
 public:
  // `name` prefixes the DPDK objects' names (unique per process).
  static absl::StatusOr<std::unique_ptr<PacketCapture>> Create(const std::string& name, int socket);
  ~PacketCapture() override;
  PacketCapture(const PacketCapture&) = delete;
  PacketCapture& operator=(const PacketCapture&) = delete;

  // ---- producers: workers, and the control thread for its own drops ----
  CaptureFilter filter() const override { return Decode(armed_.load(std::memory_order_acquire)); }
  // Copies up to filter.snaplen bytes of each frame; `reason` is kCount except for drops.
  void Copy(const CaptureFilter& filter, rte_mbuf* const* frames, uint16_t n,
            DropReason reason) override;

  // ---- the API thread ----
  // Starts a capture; FailedPrecondition when one is running.
  absl::Status Arm(const CaptureSpec& spec);
  // Waits until the capture has its packets or `timeout_ms` passed; true when complete.
  bool Wait(uint32_t timeout_ms);
  // Stops the capture and returns its file. Copies still in flight are discarded later.
  CaptureOutcome Finish();
  // Ends a running capture's Wait at once (shutdown), keeping what it has.
  void Cancel();

  // ---- the control thread ----
  // Writes waiting copies into the file; returns copies taken from the ring.
  uint32_t Drain();

 private:
  PacketCapture() = default;
  static CaptureFilter Decode(uint64_t word);
  static uint64_t Encode(const CaptureFilter& f);

  rte_mempool* pool_ = nullptr;
  rte_ring* ring_ = nullptr;
  // 0 = no capture; else the encoded CaptureFilter. Written by the API thread, read by all.
  std::atomic<uint64_t> armed_{0};
  // Copies refused (pool or ring full): several producers, touched only on that slow path.
  std::atomic<uint64_t> skipped_{0};

  std::mutex mutex_;  // the API thread and the control thread only, never a worker
  std::condition_variable done_;
  uint16_t session_ = 0;
  bool running_ = false;
  bool complete_ = false;
  CaptureSpec spec_;
  std::optional<PcapngWriter> file_;
  CaptureOutcome outcome_;
  uint64_t skipped_at_start_ = 0;
  std::vector<uint8_t> linear_;  // a chained copy made contiguous (control thread)
};

}  // namespace privlink::dataplane
