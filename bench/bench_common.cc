#include "bench/bench_common.h"

#include <rte_mbuf_dyn.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "control/config/daemon_config.h"

namespace privlink::bench {
namespace {

constexpr uint32_t kPortsPerClientIp = 50'000;  // client ports 10000..59999

std::string MacText(const MacAddress& m) {
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                m[5]);
  return text;
}

}  // namespace

int BackendsFor(uint64_t flows) {
  const uint64_t per_backend = kNatIpCount * kPortsPerNatIpAndBackend / 2;
  return static_cast<int>(std::max<uint64_t>(8, (flows + per_backend - 1) / per_backend));
}

std::string BenchConfig(const BenchShape& shape) {
  std::string backends, neighbors, nat_ips;
  for (int i = 0; i < shape.backends + kSpareBackends; ++i) {
    const std::string ip = FormatIpv4(BackendIp(i));
    if (i < shape.backends) absl::StrAppend(&backends, i ? "," : "", "{\"ip\":\"", ip, "\"}");
    absl::StrAppend(&neighbors, i ? "," : "", "{\"ip\":\"", ip, "\",\"mac\":\"",
                    MacText(BackendMac(BackendIp(i))), "\"}");
  }
  for (int i = 0; i < kNatIpCount; ++i) {
    absl::StrAppend(&nat_ips, i ? "," : "", "\"192.168.10.", 200 + i, "\"");
  }
  // Two keys per flow, plus slack so the last inserts do not meet a full table.
  const uint64_t table_size = 2 * shape.flow_capacity + shape.flow_capacity / 8 + 1024;
  return absl::StrCat(
      R"({"dataplane":{"region":"bench","workers":1,"flowTableSize":)", table_size,
      R"(,"api":{"listen":"unix:/nonexistent/unused.sock"},"stateDir":"",)",
      shape.verify_all_tcp_checksums ? R"("verifyTcpChecksum":"all",)" : "",
      shape.flow_steering.empty() ? ""
                                  : absl::StrCat(R"("flowSteering":")", shape.flow_steering, "\","),
      R"("ports":[{"name":"consumer0","role":"consumer","device":"net_null0",)", R"("mac":")",
      MacText(kConsumerMac), R"("},)",
      R"({"name":"provider0","role":"provider","device":"net_null1",)", R"("mac":")",
      MacText(kProviderMac), R"(","subnet":"192.168.10.1/24","staticNeighbors":[)", neighbors,
      "]}]},", R"("networks":[{"name":"contoso","port":"consumer0","vlan":0},)",
      R"({"name":"fabric","port":"consumer0","vxlan":{"vni":)", kBenchVni, R"(,"localIp":")",
      FormatIpv4(kBenchVxlanLocalIp), R"("}}],)",
      R"("privateLinkServices":[{"name":"web","subscription":"sub-p",)",
      R"("loadBalancingRules":[{"frontendPort":80,"backendPort":8080},)",
      R"({"frontendPort":80,"backendPort":8080,"protocol":"udp"}],)", R"("backends":[)", backends,
      "],\"natIps\":[", nat_ips, R"(],"visibility":["*"],"autoApproval":["sub-c"]}],)",
      R"("privateEndpoints":[{"name":"pe","subscription":"sub-c",)",
      R"("network":"contoso","ip":")", FormatIpv4(kPeIp), R"(","privateLinkService":"web"},)",
      R"({"name":"pe2","subscription":"sub-c",)", R"("network":"contoso","ip":")",
      FormatIpv4(kSecondPeIp), R"(","privateLinkService":"web"},)",
      R"({"name":"pe-fabric","subscription":"sub-c",)", R"("network":"fabric","ip":")",
      FormatIpv4(kPeIp), R"(","privateLinkService":"web"}]})");
}

std::unique_ptr<ReplayPipeline> MakePipeline(const BenchShape& shape) {
  auto config = control::ParseDaemonConfig(BenchConfig(shape));
  if (!config.ok()) {
    std::fprintf(stderr, "config: %s\n", config.status().ToString().c_str());
    return nullptr;
  }
  auto created = ReplayPipeline::Create(*config, {.workers = shape.workers});
  if (!created.ok()) {
    std::fprintf(stderr, "pipeline: %s\n", created.status().ToString().c_str());
    return nullptr;
  }
  return std::move(*created);
}

DropsSince CountDropsSince(const std::array<uint64_t, dataplane::kDropReasonCount>& before,
                           const ReplayPipeline& p) {
  return CountDropsSince(before, p.Summary().drops);
}

DropsSince CountDropsSince(const DropCounts& before, const DropCounts& after) {
  DropsSince d;
  for (size_t i = 0; i < dataplane::kDropReasonCount; ++i) {
    const uint64_t n = after[i] - before[i];
    d.total += n;
    if (n != 0) {
      d.by_reason.emplace_back(dataplane::DropReasonName(static_cast<dataplane::DropReason>(i)), n);
    }
  }
  return d;
}

ClientTuple Client(uint8_t block, uint64_t i) {
  const uint32_t host =
      ((10u << 24) | (uint32_t{block} << 16)) + static_cast<uint32_t>(i / kPortsPerClientIp);
  return {HostToBe32(host), HostToBe16(static_cast<uint16_t>(10000 + i % kPortsPerClientIp))};
}

int LatencyHistogram::BucketOf(uint64_t v) {
  if (v < (uint64_t{1} << kSubBits)) return static_cast<int>(v);
  const int high = 63 - std::countl_zero(v);  // >= kSubBits
  const int sub = static_cast<int>((v >> (high - kSubBits)) & ((1 << kSubBits) - 1));
  return ((high - kSubBits + 1) << kSubBits) + sub;
}

uint64_t LatencyHistogram::UpperBound(int bucket) {
  if (bucket < (1 << kSubBits)) return static_cast<uint64_t>(bucket);
  const int high = (bucket >> kSubBits) + kSubBits - 1;
  const uint64_t sub = static_cast<uint64_t>(bucket & ((1 << kSubBits) - 1));
  return ((uint64_t{1} << kSubBits) + sub + 1) << (high - kSubBits);
}

void LatencyHistogram::Add(uint64_t cycles) {
  ++counts_[std::min(BucketOf(cycles), kBuckets - 1)];
  ++count_;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (int b = 0; b < kBuckets; ++b) counts_[b] += other.counts_[b];
  count_ += other.count_;
}

uint64_t LatencyHistogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  const auto want = static_cast<uint64_t>(q * static_cast<double>(count_ - 1)) + 1;
  uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += counts_[b];
    if (seen >= want) return UpperBound(b);
  }
  return UpperBound(kBuckets - 1);
}

bool MbufStamp::Register() {
  if (offset_ >= 0) return true;
  return rte_mbuf_dyn_rx_timestamp_register(&offset_, nullptr) == 0;
}

uint64_t DrainTx(rte_ring* ring, LatencyHistogram* latency) {
  rte_mbuf* sent[64];
  uint64_t total = 0;
  unsigned n;
  while ((n = rte_ring_sc_dequeue_burst(ring, reinterpret_cast<void**>(sent), 64, nullptr)) != 0) {
    if (latency != nullptr) {
      const uint64_t now = rte_rdtsc();
      for (unsigned i = 0; i < n; ++i) latency->Add(now - MbufStamp::Get(sent[i]));
    }
    rte_pktmbuf_free_bulk(sent, n);
    total += n;
  }
  return total;
}

void EnqueueFrames(rte_mempool* pool, rte_ring* ring, const std::vector<const uint8_t*>& frames,
                   const std::vector<uint16_t>& lens, uint64_t tsc) {
  const auto count = static_cast<unsigned>(frames.size());
  rte_mbuf* burst[2 * kBurst];
  if (count > 2 * kBurst || rte_pktmbuf_alloc_bulk(pool, burst, count) != 0) {
    std::fprintf(stderr, "mbuf pool empty\n");
    std::abort();
  }
  for (unsigned i = 0; i < count; ++i) {
    rte_mbuf* m = burst[i];
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), frames[i], lens[i]);
    m->data_len = lens[i];
    m->pkt_len = lens[i];
    MbufStamp::Set(m, tsc);
  }
  if (rte_ring_sp_enqueue_bulk(ring, reinterpret_cast<void**>(burst), count, nullptr) == 0) {
    std::fprintf(stderr, "RX ring full\n");
    std::abort();
  }
}

void Progress::Update(uint64_t done) {
  const int percent = total_ == 0 ? 100 : static_cast<int>(100 * std::min(done, total_) / total_);
  if (percent / 5 == shown_ / 5 && shown_ >= 0) return;
  shown_ = percent;
  std::fprintf(stderr, "\r%s: %3d%%", what_.c_str(), percent);
  std::fflush(stderr);
}

void Progress::Done() {
  std::fprintf(stderr, "\r%s: done\n", what_.c_str());
}

}  // namespace privlink::bench
