// privlink-bench: the real worker loop (PollOnce, the code privlinkd runs) on net_ring ports,
// with a ReplayPipeline's dataplane (dataplane/replay.h) and the clock on the TSC.
//   1. established flows (bench/established.h): F flows set up by handshakes, then 64-byte ACKs
//      of random flows both ways (with --protocol udp, or tcp,udp side by side, UDP flows and
//      datagrams): Mpps, cycles per packet, latency percentiles, memory per
//      flow; also while the model changes once a second (--churn-every-ms), optionally against
//      a model grown by N idle endpoints (--model-endpoints). With --workers W, W
//      workers at once, each on its own lcore with the flows RSS gives its queue, their flows
//      shared as --steering says: rss-port-choice and shared (dataplane.flowSteering), or
//      private, the machine's ceiling (one pipeline and flow table per worker);
//   2. connection rate (bench/connection_rate.h): complete short connections per second, one
//      worker.
// Each worker's cycles (rte_rdtsc around PollOnce) are kept apart from the generator's.
//
//   privlink-bench [--flows 1000,100000,1000000,10000000] [--seconds 3] [--packets N]
//                  [--connections 1000000] [--no-churn] [--churn-every-ms 1000]
//                  [--model-endpoints N] [--workers 1,2,4]
//                  [--steering rss-port-choice,shared,private] [--protocol tcp,udp]
//                  [--tunnel none,vxlan] [--json FILE]
#include <rte_cycles.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "bench/bench_common.h"
#include "bench/connection_rate.h"
#include "bench/established.h"
#include "nat/flow_key.h"

namespace privlink::bench {
namespace {

// Flows beyond this need more NAT ports than 8 NAT IPs x 64 backends give, and ~30 GB.
constexpr uint64_t kMaxFlows = 20'000'000;
// Idle endpoints get addresses 10.128.0.1 .. 10.191.249.250 of the bench's one network.
constexpr uint64_t kMaxModelEndpoints = 64 * 62'500;
// Workers each need an lcore of their own; the flow table has at most this many shards.
constexpr uint64_t kMaxWorkers = 64;

std::vector<uint64_t> ParseList(const std::string& text) {
  std::vector<uint64_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::strtoull(item.c_str(), nullptr, 10));
  return out;
}

// "tcp" or "udp", "+vx" behind a VXLAN tunnel.
std::string ProtocolName(const EstablishedResult& r) {
  return std::string(r.protocol == nat::kIpProtoUdp ? "udp" : "tcp") + (r.vxlan ? "+vx" : "");
}

double Ns(uint64_t cycles, double hz) {
  return cycles * 1e9 / hz;
}

// The run with `workers` workers, the sharing (any with one worker: it shares nothing) and the
// flows and checksum mode of `like`, if there is one.
const EstablishedResult* Find(const std::vector<EstablishedResult>& results, uint32_t workers,
                              WorkerSharing sharing, const EstablishedResult& like) {
  for (const EstablishedResult& r : results) {
    if (r.workers == workers && (workers == 1 || r.sharing == sharing) && r.flows == like.flows &&
        r.verify_all_tcp_checksums == like.verify_all_tcp_checksums &&
        r.protocol == like.protocol && r.vxlan == like.vxlan) {
      return &r;
    }
  }
  return nullptr;
}

// Aggregate Mpps of W workers over that of one, for the same flows.
double Scaling(const std::vector<EstablishedResult>& results, const EstablishedResult& r,
               double hz) {
  const EstablishedResult* one = Find(results, 1, r.sharing, r);
  if (one == nullptr || r.workers == 1) return 0;
  return AggregateMpps(r.steady_by_worker, hz) / AggregateMpps(one->steady_by_worker, hz);
}

// Aggregate Mpps of a shared-table run over the ceiling's (private tables) with as many workers.
double OfCeiling(const std::vector<EstablishedResult>& results, const EstablishedResult& r,
                 double hz) {
  if (r.workers == 1 || r.sharing == WorkerSharing::kPrivateTables) return 0;
  const EstablishedResult* ceiling = Find(results, r.workers, WorkerSharing::kPrivateTables, r);
  if (ceiling == nullptr) return 0;
  return AggregateMpps(r.steady_by_worker, hz) / AggregateMpps(ceiling->steady_by_worker, hz);
}

void PrintThroughput(const std::vector<EstablishedResult>& results, double hz) {
  std::printf(
      "\nprivlink-bench: 64-byte TCP ACKs of established flows (UDP: datagrams of answered UDP "
      "flows), both ways\n");
  std::printf(
      "(worker Mpps: with several workers, the sum of each one's packets over its own\n"
      " PollOnce time; harness Mpps: all packets over the wall clock)\n");
  std::printf(
      "(checksums: verified on the segments that create a flow or change its state, or on\n"
      " all of them: dataplane.verifyTcpChecksum)\n");
  std::printf(
      "(steering: how the workers share flows; rss-port-choice and shared are\n"
      " dataplane.flowSteering on one flow table, private the ceiling: a table per worker;\n"
      " foreign: packets a worker received of a flow another one created)\n");
  std::printf("%10s %6s %7s %15s %6s %10s %9s %9s %9s %10s %10s %10s %10s %8s %9s\n", "flows",
              "proto", "workers", "steering", "csum", "packets", "worker", "cycles", "harness",
              "latency", "p99", "p99.9", "dropped", "bytes", "foreign");
  std::printf("%10s %6s %7s %15s %6s %10s %9s %9s %9s %10s %10s %10s %10s %8s %9s\n", "", "", "",
              "", "", "", "Mpps", "/packet", "Mpps", "p50 ns", "ns", "ns", "", "/flow", "");
  for (const EstablishedResult& r : results) {
    const ThroughputSample& s = r.steady;
    std::printf(
        "%10llu %6s %7u %15s %6s %10llu %9.2f %9.1f %9.2f %10.0f %10.0f %10.0f %10llu %8.1f "
        "%9llu\n",
        static_cast<unsigned long long>(r.flows), ProtocolName(r).c_str(), r.workers,
        r.workers == 1 ? "-" : std::string(WorkerSharingName(r.sharing)).c_str(),
        r.verify_all_tcp_checksums ? "all" : "state", static_cast<unsigned long long>(s.packets_in),
        AggregateMpps(r.steady_by_worker, hz), s.cycles_per_packet(), s.harness_mpps(hz),
        Ns(s.latency_p50, hz), Ns(s.latency_p99, hz), Ns(s.latency_p999, hz),
        static_cast<unsigned long long>(s.dropped), r.bytes_per_flow(),
        static_cast<unsigned long long>(r.foreign_packets));
    for (const auto& [reason, n] : s.drop_reasons) {
      std::printf("%10s drop %s: %llu\n", "", reason.c_str(), static_cast<unsigned long long>(n));
    }
    if (r.workers == 1) continue;
    for (size_t w = 0; w < r.steady_by_worker.size(); ++w) {
      const ThroughputSample& ws = r.steady_by_worker[w];
      std::printf("%10s %6s %7s %15s %6s %10llu %9.2f %9.1f %9.2f   worker %zu\n", "", "", "", "",
                  "", static_cast<unsigned long long>(ws.packets_in), ws.worker_mpps(hz),
                  ws.cycles_per_packet(), ws.harness_mpps(hz), w);
    }
    if (const double scaling = Scaling(results, r, hz); scaling != 0) {
      std::printf("%10s %7s scaling: %.2fx the worker Mpps of one worker\n", "", "", scaling);
    }
    if (const double of_ceiling = OfCeiling(results, r, hz); of_ceiling != 0) {
      std::printf("%10s %7s %.1f%% of the ceiling (private tables, %u workers)\n", "", "",
                  100 * of_ceiling, r.workers);
    }
  }
  bool any_churn = false;
  for (const EstablishedResult& r : results) any_churn |= r.measured_churn;
  if (!any_churn) return;
  std::printf(
      "\nwhile the model changes every %g ms (a backend added, removed; an endpoint approved, "
      "rejected)\n",
      1000 * results.front().churn_interval_seconds);
  std::printf("%10s %7s %9s %9s %9s %9s %10s %10s\n", "flows", "workers", "endpoints", "changes",
              "steady", "churn", "cost", "dropped");
  std::printf("%10s %7s %9s %9s %9s %9s %10s %10s\n", "", "", "", "", "Mpps", "Mpps", "", "");
  for (const EstablishedResult& r : results) {
    if (!r.measured_churn) continue;
    const double steady = AggregateMpps(r.steady_by_worker, hz);
    const double churn = AggregateMpps(r.churn_by_worker, hz);
    std::printf("%10llu %7u %9llu %9llu %9.2f %9.2f %9.2f%% %10llu\n",
                static_cast<unsigned long long>(r.flows), r.workers,
                static_cast<unsigned long long>(r.model_endpoints),
                static_cast<unsigned long long>(r.churn.config_changes), steady, churn,
                100.0 * (steady - churn) / steady,
                static_cast<unsigned long long>(r.churn.dropped));
  }
}

void PrintConnections(const ConnectionRateResult& c, double hz) {
  std::printf(
      "\nconnections (one worker): SYN, SYN-ACK, ACK, request, response, FIN, FIN, ACK "
      "(8 segments)\n");
  std::printf("%12s %12s %14s %14s %12s %10s\n", "connections", "packets", "worker conn/s",
              "harness conn/s", "cycles/conn", "dropped");
  std::printf(
      "%12llu %12llu %14.0f %14.0f %12.0f %10llu\n", static_cast<unsigned long long>(c.connections),
      static_cast<unsigned long long>(c.packets), c.per_second(hz), c.harness_per_second(hz),
      c.cycles_per_connection(), static_cast<unsigned long long>(c.dropped));
  for (const auto& [reason, n] : c.drop_reasons) {
    std::printf("%12s drop %s: %llu\n", "", reason.c_str(), static_cast<unsigned long long>(n));
  }
}

// `worker_mpps`: the sample's own for one worker; for all workers together, their aggregate.
void JsonSample(std::ofstream& f, const ThroughputSample& s, double hz, double worker_mpps) {
  f << "{\"packets\":" << s.packets_in << ",\"forwarded\":" << s.forwarded
    << ",\"dropped\":" << s.dropped << ",\"worker_cycles\":" << s.worker_cycles
    << ",\"harness_cycles\":" << s.harness_cycles << ",\"worker_mpps\":" << worker_mpps
    << ",\"cycles_per_packet\":" << s.cycles_per_packet()
    << ",\"harness_mpps\":" << s.harness_mpps(hz) << ",\"config_changes\":" << s.config_changes
    << ",\"latency_ns\":{\"p50\":" << Ns(s.latency_p50, hz) << ",\"p90\":" << Ns(s.latency_p90, hz)
    << ",\"p99\":" << Ns(s.latency_p99, hz) << ",\"p99.9\":" << Ns(s.latency_p999, hz)
    << "},\"drops\":{";
  for (size_t j = 0; j < s.drop_reasons.size(); ++j) {
    f << (j ? "," : "") << "\"" << s.drop_reasons[j].first << "\":" << s.drop_reasons[j].second;
  }
  f << "}}";
}

void JsonSamples(std::ofstream& f, const std::vector<ThroughputSample>& samples, double hz) {
  f << "[";
  for (size_t w = 0; w < samples.size(); ++w) {
    f << (w ? "," : "");
    JsonSample(f, samples[w], hz, samples[w].worker_mpps(hz));
  }
  f << "]";
}

bool WriteJson(const std::string& path, const std::vector<uint64_t>& worker_counts,
               const std::vector<EstablishedResult>& results,
               const ConnectionRateResult* connections, double hz) {
  std::ofstream f(path);
  if (!f) return false;
  f << "{\"tsc_hz\":" << hz << ",\"workers\":[";
  for (size_t i = 0; i < worker_counts.size(); ++i) f << (i ? "," : "") << worker_counts[i];
  f << "],\"established\":[";
  for (size_t i = 0; i < results.size(); ++i) {
    const EstablishedResult& r = results[i];
    f << (i ? "," : "") << "{\"workers\":" << r.workers << ",\"steering\":\""
      << WorkerSharingName(r.sharing) << "\",\"foreign_packets\":" << r.foreign_packets
      << ",\"flows\":" << r.flows << ",\"protocol\":\""
      << (r.protocol == nat::kIpProtoUdp ? "udp" : "tcp")
      << "\",\"vxlan\":" << (r.vxlan ? "true" : "false") << ",\"verify_tcp_checksum\":\""
      << (r.verify_all_tcp_checksums ? "all" : "stateChanging") << "\""
      << ",\"setup_seconds\":" << r.setup_seconds << ",\"flow_table_bytes\":" << r.table_bytes
      << ",\"flow_table_capacity\":" << r.table_capacity
      << ",\"bytes_per_flow\":" << r.bytes_per_flow()
      << ",\"aggregate_mpps\":" << AggregateMpps(r.steady_by_worker, hz)
      << ",\"wall_mpps\":" << r.steady.harness_mpps(hz);
    if (const double scaling = Scaling(results, r, hz); scaling != 0) {
      f << ",\"scaling\":" << scaling;
    }
    if (const double of_ceiling = OfCeiling(results, r, hz); of_ceiling != 0) {
      f << ",\"of_ceiling\":" << of_ceiling;
    }
    f << ",\"steady\":";
    JsonSample(f, r.steady, hz, AggregateMpps(r.steady_by_worker, hz));
    f << ",\"steady_by_worker\":";
    JsonSamples(f, r.steady_by_worker, hz);
    if (r.measured_churn) {
      f << ",\"churn\":";
      JsonSample(f, r.churn, hz, AggregateMpps(r.churn_by_worker, hz));
      f << ",\"churn_by_worker\":";
      JsonSamples(f, r.churn_by_worker, hz);
    }
    f << "}";
  }
  f << "]";
  if (connections != nullptr) {
    f << ",\"connections\":{\"workers\":1,\"completed\":" << connections->connections
      << ",\"packets\":" << connections->packets
      << ",\"worker_cycles\":" << connections->worker_cycles
      << ",\"per_second\":" << connections->per_second(hz)
      << ",\"harness_per_second\":" << connections->harness_per_second(hz)
      << ",\"dropped\":" << connections->dropped << "}";
  }
  f << "}\n";
  return static_cast<bool>(f);
}

constexpr char kUsage[] =
    "usage: privlink-bench [--flows 1000,100000,1000000,10000000] [--seconds S] [--packets N] "
    "[--connections N (0: skip)] [--no-churn] [--churn-every-ms MS] [--model-endpoints N] "
    "[--workers 1,2,4] [--steering rss-port-choice,shared,private] "
    "[--verify-tcp-checksum stateChanging,all] [--protocol tcp,udp] [--tunnel none,vxlan] "
    "[--json FILE]\n";

// A usage error: the usage on stderr, exit status 2.
int Usage(const std::string& problem) {
  std::fprintf(stderr, "privlink-bench: %s\n%s", problem.c_str(), kUsage);
  return 2;
}

int Main(int argc, char** argv) {
  std::vector<uint64_t> flow_counts = {1000, 100000, 1000000, 10000000};
  std::vector<uint64_t> worker_counts = {1};
  EstablishedOptions options;
  options.churn = true;
  uint64_t connections = 1'000'000;
  std::vector<bool> verify_modes = {false};  // dataplane.verifyTcpChecksum: all?
  std::vector<WorkerSharing> sharings = {WorkerSharing::kRssPortChoice};
  std::vector<uint8_t> protocols = {nat::kIpProtoTcp};
  std::vector<bool> tunnels = {false};  // clients behind a VXLAN tunnel?
  std::string json;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--flows" && has_value) {
      flow_counts = ParseList(argv[++i]);
    } else if (a == "--seconds" && has_value) {
      options.seconds = std::atof(argv[++i]);
    } else if (a == "--packets" && has_value) {
      options.packet_limit = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--connections" && has_value) {
      connections = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--no-churn") {
      options.churn = false;
    } else if (a == "--churn-every-ms" && has_value) {
      const double ms = std::atof(argv[++i]);
      if (!(ms >= 1 && ms <= 60'000)) return Usage("--churn-every-ms: 1..60000");
      options.churn_interval_seconds = ms / 1000;
    } else if (a == "--model-endpoints" && has_value) {
      options.model_endpoints = std::strtoull(argv[++i], nullptr, 10);
      if (options.model_endpoints > kMaxModelEndpoints) {
        return Usage("--model-endpoints: at most " + std::to_string(kMaxModelEndpoints));
      }
    } else if (a == "--workers" && has_value) {
      worker_counts = ParseList(argv[++i]);
    } else if (a == "--verify-tcp-checksum" && has_value) {
      verify_modes.clear();
      for (const absl::string_view mode : absl::StrSplit(argv[++i], ',')) {
        if (mode != "stateChanging" && mode != "all") {
          return Usage("--verify-tcp-checksum: each mode is stateChanging or all, not '" +
                       std::string(mode) + "'");
        }
        verify_modes.push_back(mode == "all");
      }
    } else if (a == "--steering" && has_value) {
      sharings.clear();
      for (const absl::string_view mode : absl::StrSplit(argv[++i], ',')) {
        bool known = false;
        for (const WorkerSharing s : {WorkerSharing::kRssPortChoice, WorkerSharing::kShared,
                                      WorkerSharing::kPrivateTables}) {
          if (std::string_view(mode.data(), mode.size()) == WorkerSharingName(s)) {
            sharings.push_back(s);
            known = true;
          }
        }
        if (!known) {
          return Usage("--steering: each is rss-port-choice, shared or private, not '" +
                       std::string(mode) + "'");
        }
      }
    } else if (a == "--protocol" && has_value) {
      protocols.clear();
      for (const absl::string_view name : absl::StrSplit(argv[++i], ',')) {
        if (name != "tcp" && name != "udp") {
          return Usage("--protocol: each is tcp or udp, not '" + std::string(name) + "'");
        }
        protocols.push_back(name == "udp" ? nat::kIpProtoUdp : nat::kIpProtoTcp);
      }
    } else if (a == "--tunnel" && has_value) {
      tunnels.clear();
      for (const absl::string_view name : absl::StrSplit(argv[++i], ',')) {
        if (name != "none" && name != "vxlan") {
          return Usage("--tunnel: each is none or vxlan, not '" + std::string(name) + "'");
        }
        tunnels.push_back(name == "vxlan");
      }
    } else if (a == "--json" && has_value) {
      json = argv[++i];
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      const bool takes_value = a == "--flows" || a == "--seconds" || a == "--packets" ||
                               a == "--connections" || a == "--workers" || a == "--json" ||
                               a == "--verify-tcp-checksum" || a == "--churn-every-ms" ||
                               a == "--steering" || a == "--model-endpoints" || a == "--protocol" ||
                               a == "--tunnel";
      return Usage(takes_value ? a + " needs a value" : "unknown option '" + a + "'");
    }
  }
  for (const uint64_t f : flow_counts) {
    if (f == 0 || f > kMaxFlows) {
      std::fprintf(stderr, "--flows: each count must be 1..%llu\n",
                   static_cast<unsigned long long>(kMaxFlows));
      return 2;
    }
  }
  for (const uint64_t w : worker_counts) {
    if (w == 0 || w > kMaxWorkers) {
      std::fprintf(stderr, "--workers: each count must be 1..%llu\n",
                   static_cast<unsigned long long>(kMaxWorkers));
      return 2;
    }
  }
  if (worker_counts.empty() || flow_counts.empty()) {
    return Usage("--flows and --workers each need at least one count");
  }
  if (connections > kMaxFlows) {
    std::fprintf(stderr, "--connections: at most %llu\n",
                 static_cast<unsigned long long>(kMaxFlows));
    return 2;
  }
  // One lcore per worker of the largest run: worker 0 on the main one.
  const auto lcores =
      static_cast<unsigned>(*std::max_element(worker_counts.begin(), worker_counts.end()));
  if (absl::Status s = dataplane::InitReplayEal("privlink-bench", lcores); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  if (!MbufStamp::Register()) {
    std::fprintf(stderr, "cannot register the mbuf timestamp field\n");
    return 1;
  }
  const double hz = static_cast<double>(rte_get_tsc_hz());
  std::vector<EstablishedResult> results;
  for (const uint64_t w : worker_counts) {
    // One worker shares nothing: one run stands for every mode.
    const size_t modes = w == 1 ? 1 : sharings.size();
    for (size_t m = 0; m < modes; ++m) {
      for (const uint64_t f : flow_counts) {
        // The modes and protocols side by side, so their cycles per packet compare within one
        // run.
        for (const bool vxlan : tunnels) {
          for (const uint8_t protocol : protocols) {
            for (const bool all : verify_modes) {
              options.workers = static_cast<uint32_t>(w);
              options.flows = f;
              options.verify_all_tcp_checksums = all;
              options.sharing = sharings[m];
              options.protocol = protocol;
              options.vxlan = vxlan;
              EstablishedResult r;
              if (!RunEstablished(options, r)) return 1;
              results.push_back(std::move(r));
            }
          }
        }
      }
    }
  }
  ConnectionRateResult rate;
  if (connections != 0 && !RunConnectionRate(connections, rate)) return 1;
  PrintThroughput(results, hz);
  if (connections != 0) PrintConnections(rate, hz);
  std::printf("TSC: %.3f GHz\n", hz / 1e9);
  if (!json.empty() &&
      !WriteJson(json, worker_counts, results, connections != 0 ? &rate : nullptr, hz)) {
    std::fprintf(stderr, "cannot write %s\n", json.c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace privlink::bench

int main(int argc, char** argv) {
  return privlink::bench::Main(argc, argv);
}
