#include "control/api/request_latency.h"

#include <algorithm>
#include <string>
#include <vector>

#include <prometheus/histogram.h>

namespace privlink::control {

void RequestLatency::Record(std::string_view method, double seconds) {
  const auto known = std::find(kMethods.begin(), kMethods.end() - 1, method);
  Histogram& h = histograms_[static_cast<size_t>(known - kMethods.begin())];
  const auto bucket = std::lower_bound(kBounds.begin(), kBounds.end(), seconds);
  h.buckets[static_cast<size_t>(bucket - kBounds.begin())].fetch_add(1, std::memory_order_relaxed);
  h.sum_ns.fetch_add(static_cast<uint64_t>(seconds * 1e9), std::memory_order_relaxed);
}

void RequestLatency::Collect(prometheus::Registry& registry) const {
  auto& family = prometheus::BuildHistogram()
                     .Name("privlink_api_request_duration_seconds")
                     .Help(
                         "API requests by method: time from routing to the reply's last byte, "
                         "measured by the server.")
                     .Register(registry);
  const prometheus::Histogram::BucketBoundaries bounds(kBounds.begin(), kBounds.end());
  for (size_t m = 0; m < kMethods.size(); ++m) {
    const Histogram& h = histograms_[m];
    std::vector<double> counts;
    uint64_t total = 0;
    for (const auto& bucket : h.buckets) {
      const uint64_t n = bucket.load(std::memory_order_relaxed);
      counts.push_back(static_cast<double>(n));
      total += n;
    }
    if (total == 0) continue;
    family.Add({{"method", std::string(kMethods[m])}}, bounds)
        .ObserveMultiple(counts,
                         static_cast<double>(h.sum_ns.load(std::memory_order_relaxed)) / 1e9);
  }
}

}  // namespace privlink::control
