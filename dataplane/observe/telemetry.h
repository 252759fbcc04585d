// DPDK telemetry commands for a running privlinkd (dpdk-telemetry.py, or any client of the
// runtime directory's dpdk_telemetry.v2 socket):
//
//   /privlink/stats      totals: workers, port traffic, drops (total and each reason that counted),
//                        flows
//   /privlink/flows      flows by TCP state, table size and capacity, created and expired
//   /privlink/nat_ports  one row per service and NAT IP, as parallel arrays: service, nat_ip,
//                        used, capacity
//
// DPDK 22.11's callbacks get no context argument, so the reported dataplane is one file-local
// pointer, set by a TelemetryRegistration and cleared (under a lock a running callback holds) when
// it goes. Commands stay registered for the process's life (rte_telemetry cannot remove them);
// without a registration they answer an error.
#pragma once

#include <rte_telemetry.h>

#include <functional>

#include "dataplane/observe/stats_sample.h"

namespace privlink::dataplane {

// Takes a sample of the reported dataplane; called on the telemetry thread.
using SampleFunction = std::function<DataplaneSample()>;

class TelemetryRegistration {
 public:
  explicit TelemetryRegistration(SampleFunction sample);
  ~TelemetryRegistration();
  TelemetryRegistration(const TelemetryRegistration&) = delete;
  TelemetryRegistration& operator=(const TelemetryRegistration&) = delete;

 private:
  SampleFunction sample_;
};

// The commands' replies from a sample (tests call these directly).
void FillTelemetryStats(const DataplaneSample& sample, rte_tel_data* d);
void FillTelemetryFlows(const DataplaneSample& sample, rte_tel_data* d);
void FillTelemetryNatPorts(const DataplaneSample& sample, rte_tel_data* d);

}  // namespace privlink::dataplane
