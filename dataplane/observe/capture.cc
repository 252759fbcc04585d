#include "dataplane/observe/capture.h"

#include <rte_errno.h>
#include <rte_mempool.h>

#include <chrono>
#include <ctime>

#include "absl/strings/str_cat.h"

namespace privlink::dataplane {
namespace {

// Stored in each copy's private area by the producer, read by the control thread.
struct CaptureMeta {
  uint64_t time_ns;
  uint32_t original_len;
  uint16_t session;
  uint8_t direction;  // CaptureDirection
  uint8_t reason;     // DropReason (kCount: not a drop)
};
constexpr uint16_t kMetaSize = RTE_ALIGN(sizeof(CaptureMeta), RTE_MBUF_PRIV_ALIGN);

CaptureMeta& MetaOf(rte_mbuf* m) {
  return *static_cast<CaptureMeta*>(rte_mbuf_to_priv(m));
}

// Producers copy in chunks of this many frames (one ring enqueue each).
constexpr uint16_t kCopyChunk = 32;

uint64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

PcapngDirection FileDirection(CaptureDirection d) {
  switch (d) {
    case CaptureDirection::kRx:
      return PcapngDirection::kInbound;
    case CaptureDirection::kTx:
      return PcapngDirection::kOutbound;
    default:
      return PcapngDirection::kUnknown;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<PacketCapture>> PacketCapture::Create(const std::string& name,
                                                                     int socket) {
  std::unique_ptr<PacketCapture> c(new PacketCapture());
  // No per-lcore cache: copies are rare and a cache would strand buffers on idle lcores.
  c->pool_ = rte_pktmbuf_pool_create((name + "_pool").c_str(), kCaptureBufferFrames, 0, kMetaSize,
                                     RTE_MBUF_DEFAULT_BUF_SIZE, socket);
  c->ring_ = rte_ring_create((name + "_ring").c_str(), kCaptureRingSize, socket, RING_F_SC_DEQ);
  if (c->pool_ == nullptr || c->ring_ == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate the packet capture buffer: ", rte_strerror(rte_errno)));
  }
  return c;
}

PacketCapture::~PacketCapture() {
  if (ring_ != nullptr) {
    void* m;
    while (rte_ring_sc_dequeue(ring_, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    rte_ring_free(ring_);
  }
  rte_mempool_free(pool_);
}

uint64_t PacketCapture::Encode(const CaptureFilter& f) {
  return uint64_t{f.port} | uint64_t{static_cast<uint8_t>(f.direction)} << 16 |
         uint64_t{f.session} << 24 | uint64_t{f.snaplen} << 40;
}

CaptureFilter PacketCapture::Decode(uint64_t word) {
  CaptureFilter f;
  f.port = static_cast<uint16_t>(word);
  f.direction = static_cast<CaptureDirection>(static_cast<uint8_t>(word >> 16));
  f.session = static_cast<uint16_t>(word >> 24);
  f.snaplen = static_cast<uint32_t>(word >> 40);
  return f;
}

void PacketCapture::Copy(const CaptureFilter& filter, rte_mbuf* const* frames, uint16_t n,
                         DropReason reason) {
  const uint64_t now_ns = RealtimeNs();
  rte_mbuf* copies[kCopyChunk];
  uint64_t skipped = 0;
  for (uint16_t first = 0; first < n; first += kCopyChunk) {
    const uint16_t chunk = n - first < kCopyChunk ? n - first : kCopyChunk;
    unsigned made = 0;
    for (uint16_t i = 0; i < chunk; ++i) {
      rte_mbuf* m = frames[first + i];
      rte_mbuf* c = rte_pktmbuf_copy(m, pool_, 0, filter.snaplen);
      if (c == nullptr) {
        ++skipped;
        continue;
      }
      MetaOf(c) = CaptureMeta{now_ns, m->pkt_len, filter.session,
                              static_cast<uint8_t>(filter.direction), static_cast<uint8_t>(reason)};
      copies[made++] = c;
    }
    const unsigned queued =
        rte_ring_mp_enqueue_burst(ring_, reinterpret_cast<void**>(copies), made, nullptr);
    if (queued < made) {
      rte_pktmbuf_free_bulk(copies + queued, made - queued);
      skipped += made - queued;
    }
  }
  if (skipped != 0) skipped_.fetch_add(skipped, std::memory_order_relaxed);
}

absl::Status PacketCapture::Arm(const CaptureSpec& spec) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (running_) return absl::FailedPreconditionError("a capture is already running");
  ++session_;  // copies of an earlier capture still in the ring are recognised and dropped
  spec_ = spec;
  file_.emplace("privlinkd");
  file_->AddInterface(spec.port_name, spec.snaplen);
  outcome_ = CaptureOutcome{};
  skipped_at_start_ = skipped_.load(std::memory_order_relaxed);
  running_ = true;
  complete_ = false;
  armed_.store(Encode({spec.port, spec.direction, session_, spec.snaplen}),
               std::memory_order_release);
  return absl::OkStatus();
}

bool PacketCapture::Wait(uint32_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  return done_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return complete_; });
}

void PacketCapture::Cancel() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!running_) return;
  complete_ = true;
  armed_.store(0, std::memory_order_release);
  done_.notify_all();
}

CaptureOutcome PacketCapture::Finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  armed_.store(0, std::memory_order_release);
  running_ = false;
  outcome_.skipped = skipped_.load(std::memory_order_relaxed) - skipped_at_start_;
  if (file_) outcome_.pcapng = file_->Take();
  file_.reset();
  return std::move(outcome_);
}

uint32_t PacketCapture::Drain() {
  rte_mbuf* copies[kCaptureDrainBurst];
  const unsigned n = rte_ring_sc_dequeue_burst(ring_, reinterpret_cast<void**>(copies),
                                               kCaptureDrainBurst, nullptr);
  if (n == 0) return 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (unsigned i = 0; i < n && running_ && !complete_; ++i) {
      rte_mbuf* c = copies[i];
      const CaptureMeta& meta = MetaOf(c);
      if (meta.session != session_) continue;  // from an earlier capture
      linear_.resize(c->pkt_len);
      const auto* data =
          static_cast<const uint8_t*>(rte_pktmbuf_read(c, 0, c->pkt_len, linear_.data()));
      const auto reason = static_cast<DropReason>(meta.reason);
      std::string comment;
      if (reason != DropReason::kCount) {
        comment.append("drop: ").append(DropReasonName(reason));
        comment.append(" (").append(DropReasonHelp(reason)).append(")");
      }
      file_->AddPacket(0, meta.time_ns, {data, c->pkt_len}, meta.original_len,
                       FileDirection(static_cast<CaptureDirection>(meta.direction)), comment);
      ++outcome_.packets;
      outcome_.truncated = file_->bytes().size() >= kMaxCaptureFileBytes;
      if (outcome_.packets == spec_.count || outcome_.truncated) {
        complete_ = true;
        armed_.store(0, std::memory_order_release);
        done_.notify_all();
      }
    }
  }
  rte_pktmbuf_free_bulk(copies, n);
  return n;
}

}  // namespace privlink::dataplane
