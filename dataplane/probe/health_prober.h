// The health prober: probes every backend of every service that has a probe, from the service's
// first NAT IP that takes new flows (not a draining one) and a source port of its own
// (nat::kProbeFirstPort .. kProbeLastPort, which no client flow can take), and reports each result
// to the control plane (control::HealthReports).
//
// A small TCP client, enough for a probe and no more, kept free of mbufs and clocks so tests
// drive it segment by segment on a virtual clock: the control thread feeds it the snapshot, the
// time and the segments workers handed over (their destination port is a probe port), and sends
// the segments it asks for.
//
//  - tcp:  SYN; a SYN-ACK passes (answered with a RST, so the backend keeps no half-open
//          connection); a RST fails ("refused").
//  - http: SYN; on the SYN-ACK, the request (GET path HTTP/1.1, Connection: close) with the ACK,
//          after a PROXY protocol v2 LOCAL header when the service sends PROXY headers (as Azure's
//          probes do: a server that requires the header accepts them);
//          the response's status line, read in order, passes on 2xx and 3xx; then a RST.
//  - No answer within the probe's timeout fails ("timeout").
//
// A backend starts up (no probe has said otherwise); `unhealthy_threshold` failures in a row
// take it down, `healthy_threshold` passes in a row bring it back.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "control/snapshot/backend_health.h"
#include "control/snapshot/snapshot.h"
#include "nat/clock.h"
#include "nat/flow_key.h"

namespace privlink::dataplane {

// What the prober sends: NAT IP:probe port -> backend:port.
struct ProbeSegment {
  nat::Tuple tuple;
  uint32_t seq = 0;  // host order
  uint32_t ack = 0;  // host order
  uint8_t flags = 0;
  std::string payload;
};

// A segment that arrived for a probe port: backend:port -> NAT IP:probe port.
struct ProbeArrival {
  nat::Tuple tuple;
  uint32_t seq = 0;  // host order
  uint32_t ack = 0;  // host order
  uint8_t flags = 0;
  std::span<const uint8_t> payload;
};

struct ProbeCounters {
  uint64_t started = 0;
  uint64_t passed = 0;
  uint64_t failed = 0;
  uint64_t stray = 0;  // arrivals for no probe in progress (late, or not ours)
};

// The window the prober advertises: room for any status line.
inline constexpr uint16_t kProbeWindow = 65535;
// Bytes of a response read for its status line ("HTTP/1.1 200 OK\r\n"); a longer first line is
// not a status line.
inline constexpr size_t kMaxStatusLine = 256;

class HealthProber {
 public:
  // `seed` varies the initial sequence numbers and first probe times.
  explicit HealthProber(uint64_t seed = 0x9e3779b97f4a7c15ull) : random_(seed | 1) {}

  // Brings the targets in line with `snap`: every backend of a service with a probe and a NAT
  // IP. A target whose service, source address or probe changed starts over (healthy); one that
  // left is forgotten. First probes are spread over the interval.
  void Sync(const control::Snapshot& snap, nat::TimeMs now);
  // Starts the probes that are due and fails those past their timeout.
  void Tick(nat::TimeMs now);
  // A segment a worker handed over. False (and counted as stray) when it answers no probe in
  // progress, or names nothing the probe sent.
  bool OnArrival(const ProbeArrival& arrival, nat::TimeMs now);

  // What to send, and what to report, since the last call.
  std::vector<ProbeSegment> TakeSegments() { return std::exchange(segments_, {}); }
  std::vector<control::ProbeReport> TakeReports() { return std::exchange(reports_, {}); }

  size_t target_count() const { return targets_.size(); }
  const ProbeCounters& counters() const { return counters_; }
  // Testing: whether the prober holds `backend` of `service` up.
  bool IsUp(control::ServiceId service, Ipv4Be backend) const;

 private:
  enum class Phase : uint8_t { kIdle, kSynSent, kRequestSent };
  struct TargetKey {
    control::ServiceId service = control::kNoService;
    Ipv4Be backend = 0;
    bool operator==(const TargetKey&) const = default;
    template <typename H>
    friend H AbslHashValue(H h, const TargetKey& k) {
      return H::combine(std::move(h), k.service, k.backend);
    }
  };
  struct Target {
    control::SnapshotProbe probe;
    Ipv4Be source = 0;   // the service's first NAT IP that takes new flows
    bool proxy = false;  // enableProxyProtocol: an http probe's request follows a LOCAL header
    uint64_t generation = 0;
    bool up = true;
    uint32_t passes = 0;  // in a row
    uint32_t failures = 0;
    nat::TimeMs next_probe_ms = 0;
    // The probe in progress.
    Phase phase = Phase::kIdle;
    uint16_t port_cursor = 0;
    nat::Tuple tuple;  // NAT IP:port -> backend:port
    uint32_t snd_next = 0;
    uint32_t rcv_next = 0;
    bool synchronized = false;  // the backend's SYN-ACK arrived: rcv_next is set
    nat::TimeMs deadline_ms = 0;
    std::string response;
  };
  // An attempt is found by the tuple its answers carry.
  struct TupleKey {
    nat::Tuple tuple;
    bool operator==(const TupleKey&) const = default;
    template <typename H>
    friend H AbslHashValue(H h, const TupleKey& k) {
      return H::combine(std::move(h), k.tuple.src_ip, k.tuple.dst_ip, k.tuple.src_port,
                        k.tuple.dst_port);
    }
  };

  void Start(const TargetKey& key, Target& t, nat::TimeMs now);
  // Ends the attempt in progress with its result; `reset` sends the backend a RST.
  void Finish(const TargetKey& key, Target& t, bool passed, std::string result, bool reset);
  void OnHttpData(const TargetKey& key, Target& t, const ProbeArrival& a);
  void Send(const Target& t, uint32_t seq, uint8_t flags, std::string payload = {});
  uint64_t NextRandom();

  absl::flat_hash_map<TargetKey, Target> targets_;
  absl::flat_hash_map<TupleKey, TargetKey> attempts_;
  uint64_t synced_generation_ = ~uint64_t{0};
  std::vector<ProbeSegment> segments_;
  std::vector<control::ProbeReport> reports_;
  ProbeCounters counters_;
  uint64_t random_;
};

// The request an http probe sends.
std::string HttpProbeRequest(const nat::Tuple& tuple, const std::string& path);
// The status code of a response's status line ("HTTP/1.x NNN ..."), or -1 if it is none.
int ParseStatusLine(std::string_view response);

}  // namespace privlink::dataplane
