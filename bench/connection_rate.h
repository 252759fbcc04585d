// Connections per second: complete short TCP connections through the worker loop. Clients open
// new connections (SYN), a stateless reflector answers for the backends from what the worker
// sends them (SYN-ACK, a response to the request, FIN-ACK to the client's FIN) and for the
// clients from what the worker sends back (ACK and a request after the SYN-ACK, FIN after the
// response, the last ACK after the backend's FIN): eight segments a connection, each through
// the real PollOnce, the first one through the slow path that creates the flow.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace privlink::bench {

struct ConnectionRateResult {
  uint64_t connections =
      0;  // completed: the client had the backend's FIN (its last ACK goes through too)
  uint64_t packets = 0;
  uint64_t worker_cycles = 0;
  uint64_t harness_cycles = 0;
  uint64_t dropped = 0;
  std::vector<std::pair<std::string, uint64_t>> drop_reasons;

  double per_second(double hz) const { return connections / (worker_cycles / hz); }
  double harness_per_second(double hz) const { return connections / (harness_cycles / hz); }
  double cycles_per_connection() const {
    return connections == 0 ? 0.0 : static_cast<double>(worker_cycles) / connections;
  }
};

// Runs `connections` connections; false (with a message) when the pipeline cannot be made or
// a connection does not complete.
bool RunConnectionRate(uint64_t connections, ConnectionRateResult& result);

}  // namespace privlink::bench
