// How long the API takes to answer, measured by the server from the request's routing to the
// last byte of its reply, as one histogram per method: GET /metrics shows it as
// privlink_api_request_duration_seconds{method=...}. A client's own figures add its side and the
// socket; these are what the control plane itself costs.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

#include <prometheus/registry.h>

namespace privlink::control {

class RequestLatency {
 public:
  // Upper bounds in seconds: fine around the 1-10 ms a change costs, coarse beyond.
  static constexpr std::array<double, 16> kBounds = {
      0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003,
      0.005,  0.0075,  0.01,   0.025,   0.05,  0.1,    0.5,   2.5};
  static constexpr std::array<std::string_view, 5> kMethods = {"GET", "PUT", "POST", "DELETE",
                                                               "other"};

  // Called by the API's threads, several at once: the counts are atomics (relaxed: each is a
  // tally read only for display, ordered with nothing else).
  void Record(std::string_view method, double seconds);
  void Collect(prometheus::Registry& registry) const;

 private:
  struct Histogram {
    std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets{};  // the last: above all bounds
    std::atomic<uint64_t> sum_ns{0};
  };
  std::array<Histogram, kMethods.size()> histograms_;
};

}  // namespace privlink::control
