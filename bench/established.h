// Established flows, both ways: F flows set up by real handshakes through the pipeline (UDP: a
// datagram each way), then 64-byte ACK segments (UDP: datagrams) of random flows: each iteration
// queues a burst of 32 consumer->provider frames and the 32 provider->consumer frames a reflecting
// backend would send back, runs PollOnce once and empties the TX rings. Optionally the control
// plane changes the model once a second while it runs (config churn).
//
// With W workers each runs on its own lcore (worker 0 on the main one, which also keeps the
// clock and makes the model changes between its iterations): the handshakes go through Feed,
// which steers each frame to a queue as a NIC's RSS would, and each worker's generator sends
// only the frames RSS gives its queue, so every worker serves the flows a NIC would give it.
// How the workers share flows is the run's WorkerSharing: the two dataplane.flowSteering modes on
// one shared flow table, or the machine's ceiling, one pipeline per worker with its own table
// and only its own flows (nothing shared at all).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench/bench_common.h"

namespace privlink::bench {

// One worker's figures, or all workers' (summed; latency over every packet; harness cycles are
// then the wall clock from the workers' launch to the last one's end).
struct ThroughputSample {
  uint64_t packets_in = 0;
  uint64_t forwarded = 0;
  uint64_t dropped = 0;
  uint64_t worker_cycles = 0;   // inside PollOnce
  uint64_t harness_cycles = 0;  // PollOnce plus generator, drain and control changes
  uint64_t config_changes = 0;
  std::vector<std::pair<std::string, uint64_t>> drop_reasons;
  // Per-packet latency from RX ring to TX ring, cycles.
  uint64_t latency_p50 = 0, latency_p90 = 0, latency_p99 = 0, latency_p999 = 0;

  double worker_mpps(double hz) const { return packets_in / (worker_cycles / hz) / 1e6; }
  double harness_mpps(double hz) const { return packets_in / (harness_cycles / hz) / 1e6; }
  double cycles_per_packet() const { return static_cast<double>(worker_cycles) / packets_in; }
};

// Sum over workers of each one's packets per second of its own PollOnce time: what W workers
// forward together when each has a core of its own.
double AggregateMpps(const std::vector<ThroughputSample>& workers, double hz);

enum class WorkerSharing {
  kRssPortChoice,  // flowSteering rss-port-choice: each flow's packets on its creator
  kShared,         // flowSteering shared: return packets on whichever worker RSS gives them
  kPrivateTables,  // the ceiling: W pipelines of one worker each
};
std::string_view WorkerSharingName(WorkerSharing sharing);

struct EstablishedResult {
  uint32_t workers = 1;
  WorkerSharing sharing = WorkerSharing::kRssPortChoice;
  uint64_t foreign_packets = 0;  // steady phase: packets a worker received of another's flow
  uint64_t flows = 0;
  bool verify_all_tcp_checksums = false;
  uint8_t protocol = 6;  // nat::kIpProtoTcp or kIpProtoUdp
  bool vxlan = false;    // the clients behind a VXLAN tunnel
  double setup_seconds = 0;
  uint64_t table_bytes = 0;
  uint64_t table_capacity = 0;
  ThroughputSample steady;  // no changes (with churn: before and after it, latency from before)
  ThroughputSample churn;   // the model changed once per churn interval (when asked for)
  uint64_t model_endpoints = 0;  // the model's size while measuring
  double churn_interval_seconds = 1.0;
  bool measured_churn = false;
  std::vector<ThroughputSample> steady_by_worker;  // by worker index
  std::vector<ThroughputSample> churn_by_worker;
  double bytes_per_flow() const { return static_cast<double>(table_bytes) / table_capacity; }
};

struct EstablishedOptions {
  uint32_t workers = 1;  // the EAL needs this many lcores
  uint64_t flows = 1000;
  double seconds = 3;
  uint64_t packet_limit = 0;  // 0: run for `seconds`; else all workers together
  bool churn = false;
  double churn_interval_seconds = 1.0;  // one model change per interval while churning
  // Endpoints added to the model before measuring (on the measured service, in the measured
  // network, none of them sending), so that churn runs against a model of that size.
  uint64_t model_endpoints = 0;
  bool verify_all_tcp_checksums = false;  // dataplane.verifyTcpChecksum: all
  uint8_t protocol = 6;                   // nat::kIpProtoTcp, or kIpProtoUdp: UDP flows
  // The clients in network "fabric", behind a VXLAN tunnel: every client frame decapsulated,
  // every frame to a client encapsulated.
  bool vxlan = false;
  // kPrivateTables runs no churn and grows no model (there is no one model to change).
  WorkerSharing sharing = WorkerSharing::kRssPortChoice;
};

bool RunEstablished(const EstablishedOptions& options, EstablishedResult& result);

}  // namespace privlink::bench
