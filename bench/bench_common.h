// What privlink-bench's phases share: the config they run (one consumer port, one provider port,
// one service with static neighbours, so no ARP is in the way), the tuples of clients and
// backends, the generator's mbuf handling, the latency histogram and the clock.
#pragma once

#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_ring.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/offline/replay.h"
#include "dataplane/packet/wire_format.h"
#include "nat/inet.h"

namespace privlink::bench {

using dataplane::MacAddress;
using dataplane::ReplayPipeline;

inline constexpr uint16_t kFrontendPort = 80;
inline constexpr uint16_t kBackendPort = 8080;
// Network "fabric": the same clients and PE address behind a VXLAN tunnel on consumer0
// (--tunnel vxlan), from one VTEP.
inline constexpr uint32_t kBenchVni = 100;
inline constexpr Ipv4Be kBenchVxlanLocalIp = Ipv4(172, 16, 0, 1);
inline constexpr Ipv4Be kBenchVtepIp = Ipv4(172, 16, 0, 2);
// A service's most NAT IPs: every (NAT IP, backend) pair has 64,512 ports.
inline constexpr int kNatIpCount = 8;
inline constexpr uint64_t kPortsPerNatIpAndBackend = 64'512;
// Backends not in the service but with static neighbours: the churn phase adds and removes them.
inline constexpr int kSpareBackends = 2;
inline constexpr uint16_t kBurst = dataplane::kRxBurst;
inline constexpr uint64_t kT0Us = 1'700'000'000'000'000;  // the virtual clock's start (µs)

inline constexpr MacAddress kClientMac = {0x02, 0, 0, 0, 0xaa, 0x01};
inline constexpr MacAddress kConsumerMac = {0x02, 0, 0, 0, 0xc0, 0x00};
inline constexpr MacAddress kProviderMac = {0x02, 0, 0, 0, 0xb0, 0x00};
inline constexpr Ipv4Be kPeIp = Ipv4(10, 0, 0, 100);
inline constexpr Ipv4Be kSecondPeIp = Ipv4(10, 0, 0, 101);  // "pe2": approved and rejected by churn

inline Ipv4Be BackendIp(int i) {
  return HostToBe32(Be32ToHost(Ipv4(192, 168, 10, 0)) + 11 + static_cast<uint32_t>(i));
}
inline MacAddress BackendMac(Ipv4Be ip) {
  const uint32_t host = Be32ToHost(ip);
  return {0x02, 0, 0, 0xbe, static_cast<uint8_t>(host >> 8), static_cast<uint8_t>(host)};
}

// Enough backends that NAT ports never run out for `flows` flows (plus a spare half).
int BackendsFor(uint64_t flows);

struct BenchShape {
  uint64_t flow_capacity = 0;  // flows the table must hold
  int backends = 8;
  uint32_t workers = 1;
  bool verify_all_tcp_checksums = false;  // dataplane.verifyTcpChecksum: all
  std::string flow_steering;              // dataplane.flowSteering ("": not written)
};
std::string BenchConfig(const BenchShape& shape);
// The pipeline for `shape`; nullptr (with a message on stderr) when it cannot be made.
std::unique_ptr<ReplayPipeline> MakePipeline(const BenchShape& shape);

// Drops by reason since `before` (a ReplaySummary's drops), the non-zero ones by name.
struct DropsSince {
  uint64_t total = 0;
  std::vector<std::pair<std::string, uint64_t>> by_reason;
};
using DropCounts = std::array<uint64_t, dataplane::kDropReasonCount>;
DropsSince CountDropsSince(const DropCounts& before, const DropCounts& after);
DropsSince CountDropsSince(const DropCounts& before, const ReplayPipeline& p);

// Client `i` of a run: addresses from 10.<block>.0.0 up, 50,000 source ports each, so a tuple
// names its index.
struct ClientTuple {
  Ipv4Be ip = 0;
  PortBe port = 0;
};
ClientTuple Client(uint8_t block, uint64_t i);

// Per-packet latency through the pipeline: the generator stamps each mbuf with the TSC when it
// queues the burst on an RX ring, the drain reads it when the frame comes off a TX ring. HDR
// style buckets: 16 per power of two, so a percentile is within ~6%.
class LatencyHistogram {
 public:
  void Add(uint64_t cycles);
  // The `q` quantile (0..1) in cycles, the upper bound of its bucket; 0 when empty.
  uint64_t Quantile(double q) const;
  uint64_t count() const { return count_; }
  void Merge(const LatencyHistogram& other);

 private:
  static constexpr int kSubBits = 4;
  static constexpr int kBuckets = 64 << kSubBits;
  static int BucketOf(uint64_t v);
  static uint64_t UpperBound(int bucket);
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
};

// The mbuf field the generator's timestamp travels in: DPDK's registered RX timestamp field,
// which the worker never touches.
class MbufStamp {
 public:
  static bool Register();
  static void Set(rte_mbuf* m, uint64_t tsc) { *RTE_MBUF_DYNFIELD(m, offset_, uint64_t*) = tsc; }
  static uint64_t Get(const rte_mbuf* m) { return *RTE_MBUF_DYNFIELD(m, offset_, const uint64_t*); }

 private:
  static inline int offset_ = -1;
};

// Frees what a TX ring holds; with a histogram, records each frame's time since its stamp.
uint64_t DrainTx(rte_ring* ring, LatencyHistogram* latency);

// Queues `count` frames (copies of `frames[i]`, `len` bytes each) on `ring`, stamped `tsc`.
void EnqueueFrames(rte_mempool* pool, rte_ring* ring, const std::vector<const uint8_t*>& frames,
                   const std::vector<uint16_t>& lens, uint64_t tsc);

// Keeps the pipeline's virtual clock on the TSC, so timers (the paced expiry sweep) run as in
// the daemon. One thread updates it; workers on other lcores may read it meanwhile
// (nat::VirtualClock is atomic).
class TscClock {
 public:
  explicit TscClock(ReplayPipeline& p) : TscClock(std::vector<ReplayPipeline*>{&p}) {}
  // Several pipelines on one clock (privlink-bench's private tables, one pipeline per worker).
  explicit TscClock(std::vector<ReplayPipeline*> pipelines)
      : pipelines_(std::move(pipelines)), start_(rte_rdtsc()), hz_(rte_get_tsc_hz()) {}
  void Update() {
    const uint64_t now_us = kT0Us + (rte_rdtsc() - start_) * 1'000'000 / hz_;
    for (ReplayPipeline* p : pipelines_) p->SetClock(now_us);
  }

 private:
  std::vector<ReplayPipeline*> pipelines_;
  uint64_t start_;
  uint64_t hz_;
};

// Progress on stderr: "<what>: 42%" at most every 5%, and a newline when done.
class Progress {
 public:
  Progress(std::string what, uint64_t total) : what_(std::move(what)), total_(total) {}
  void Update(uint64_t done);
  void Done();

 private:
  std::string what_;
  uint64_t total_;
  int shown_ = -1;
};

}  // namespace privlink::bench
