// Statistics counters of one worker (or of the control thread): one writer each, read by the
// stats thread while the writer runs.
//
// A Counter is a plain uint64_t updated through std::atomic_ref with relaxed load + store: on
// x86 and ARM that is an ordinary load and store (no locked instruction, no fence), which is all
// a single writer needs, while the reader still gets an untorn value and the program stays free
// of data races (TSan-clean). Totals are sums over the per-thread sets, made by the reader.
#pragma once

#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

#include "control/model/ids.h"
#include "dataplane/packet/drop_reason.h"
#include "nat/flow_entry.h"
#include "nat/port_alloc.h"
#include "nat/tcp_state.h"

struct rte_mbuf;

namespace privlink::dataplane {

// Ports one daemon drives (all roles together); bounds the per-worker TX and counter arrays.
inline constexpr uint32_t kMaxPorts = 16;

class Counter {
 public:
  void Add(uint64_t n) {
    std::atomic_ref<uint64_t> v(value_);
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  // Wraps on purpose: a gauge moved down by its writer (NAT ports in use) sums correctly modulo
  // 2^64 across threads.
  void Subtract(uint64_t n) { Add(uint64_t{0} - n); }
  void Set(uint64_t n) { std::atomic_ref<uint64_t>(value_).store(n, std::memory_order_relaxed); }
  uint64_t Read() const {
    return std::atomic_ref<uint64_t>(const_cast<uint64_t&>(value_)).load(std::memory_order_relaxed);
  }

 private:
  alignas(8) uint64_t value_ = 0;
};

struct TrafficCounters {
  Counter packets;
  Counter bytes;  // Ethernet frame bytes (headers included, FCS excluded)
  void Add(uint32_t frame_bytes) {
    packets.Add(1);
    bytes.Add(frame_bytes);
  }
};

// A zero-filled array of trivially-zeroable T in anonymous memory: pages are only backed once a
// counter in them is written, so an id-indexed array for 65,536 endpoints costs what is used.
template <typename T>
class SparseArray {
 public:
  explicit SparseArray(size_t size) : size_(size) {
    void* p = mmap(nullptr, Bytes(), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    data_ = static_cast<T*>(p);  // zero bytes are a valid T (counters of 0)
  }
  ~SparseArray() { munmap(data_, Bytes()); }
  SparseArray(const SparseArray&) = delete;
  SparseArray& operator=(const SparseArray&) = delete;

  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  size_t size() const { return size_; }

 private:
  size_t Bytes() const { return size_ * sizeof(T); }
  T* data_ = nullptr;
  size_t size_ = 0;
};

struct PortCounters {
  TrafficCounters rx;
  TrafficCounters tx;
};

// Traffic of one endpoint or service, by direction (indexed by nat::FlowDirection): kIn2Out is
// what consumers send towards the service, kOut2In what comes back.
struct DirectionalTraffic {
  TrafficCounters by_direction[2];
  TrafficCounters& operator[](nat::FlowDirection d) { return by_direction[static_cast<int>(d)]; }
  const TrafficCounters& operator[](nat::FlowDirection d) const {
    return by_direction[static_cast<int>(d)];
  }
};

// NAT ports in use (flows) per service and NAT IP position (control::NatIpSlots: a removed
// NAT IP leaves its position empty, and only one that carries no flow is removed, so a flow's
// position names its address for the flow's life).
struct ServiceNatPorts {
  Counter in_use[nat::kMaxNatIpsPerService];
  Counter alloc_failures;  // new connections refused: no NAT IP had a free port for the backend
};

inline constexpr size_t kFlowStateCount = static_cast<size_t>(nat::FlowState::kCount);

// Shown every frame counted as dropped, before it is freed (privlink-replay --drops). The daemon
// never sets one: only drop paths read the pointer, the forwarding path does not.
struct DropTap {
  void (*see)(void* context, const rte_mbuf* frame, DropReason reason) = nullptr;
  void* context = nullptr;
};

struct CounterSet {
  CounterSet()
      : endpoints(control::kEndpointIdLimit),
        services(control::kServiceIdLimit),
        nat_ports(control::kServiceIdLimit),
        endpoint_connections(control::kEndpointIdLimit) {}

  Counter drops[kDropReasonCount];
  PortCounters ports[kMaxPorts];
  Counter flows_created;
  Counter flows_expired;
  Counter flows_idle_reset;          // of the expired: reset both ways at their idle timeout
  Counter flows_backend_down_reset;  // of the expired: reset because their backend went down
  Counter probe_answers;         // provider segments to a probe port, passed to the control thread
  Counter probe_segments_sent;   // by the control thread's health prober
  Counter proxy_headers_sent;    // PROXY protocol headers written at a handshake's completion
  Counter proxy_headers_resent;  // and again, not acknowledged
  // ICMP errors about a flow, translated and sent on: [kIn2Out] from the consumer side to the
  // backend, [kOut2In] from the provider side to the client.
  Counter icmp_errors_translated[2];
  // Packets of a flow another worker created, received here: with RSS port choice none should
  // be (dataplane.flowSteering), so a count shows where steering does not hold. ICMP errors hash
  // on addresses only and land wherever their addresses send them: counted apart.
  Counter foreign_packets;
  Counter foreign_icmp_errors;
  // Flows of this worker's shard by TCP state, as of its last complete expiry sweep.
  Counter flows_by_state[kFlowStateCount];
  SparseArray<DirectionalTraffic> endpoints;  // indexed by EndpointId
  SparseArray<DirectionalTraffic> services;   // indexed by ServiceId
  SparseArray<ServiceNatPorts> nat_ports;     // indexed by ServiceId
  SparseArray<Counter> endpoint_connections;  // flows created, indexed by EndpointId
  // TSC cycles of the worker loop (RunWorker only): all of them, and those of polls that
  // received packets; their ratio is the worker's busy share.
  Counter loop_cycles;
  Counter busy_cycles;
  const DropTap* drop_tap = nullptr;

  void Drop(DropReason reason) { drops[static_cast<size_t>(reason)].Add(1); }
};

}  // namespace privlink::dataplane
