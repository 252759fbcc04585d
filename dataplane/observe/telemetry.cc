#include "dataplane/observe/telemetry.h"

#include <cctype>
#include <cerrno>
#include <mutex>
#include <string>

#include "nat/inet.h"

namespace privlink::dataplane {
namespace {

std::mutex registered_mutex;
const SampleFunction* registered = nullptr;  // guarded by registered_mutex

// rte_telemetry names allow letters, digits, '_' and '/' only: "SYN_SENT" -> "syn_sent".
std::string TelemetryName(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = std::isalnum(static_cast<unsigned char>(c))
            ? static_cast<char>(std::tolower(static_cast<unsigned char>(c)))
            : '_';
  }
  return out;
}

void AddU64(rte_tel_data* d, const std::string& name, uint64_t value) {
  rte_tel_data_add_dict_u64(d, name.c_str(), value);
}

using Fill = void (*)(const DataplaneSample&, rte_tel_data*);

template <Fill kFill>
int Handle(const char*, const char*, rte_tel_data* d) {
  std::lock_guard<std::mutex> lock(registered_mutex);
  if (registered == nullptr) return -ENODEV;
  kFill((*registered)(), d);
  return 0;
}

void RegisterCommandsOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    rte_telemetry_register_cmd("/privlink/stats", Handle<FillTelemetryStats>,
                               "privlink totals: ports, drops, flows. Takes no parameters.");
    rte_telemetry_register_cmd("/privlink/flows", Handle<FillTelemetryFlows>,
                               "privlink flows by TCP state. Takes no parameters.");
    rte_telemetry_register_cmd(
        "/privlink/nat_ports", Handle<FillTelemetryNatPorts>,
        "privlink NAT ports used and capacity per service and NAT IP. Takes no parameters.");
  });
}

}  // namespace

void FillTelemetryStats(const DataplaneSample& sample, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  AddU64(d, "workers", sample.workers.size());
  TrafficTotals rx, tx;
  for (const PortSample& p : sample.ports) {
    rx.packets += p.rx.packets;
    rx.bytes += p.rx.bytes;
    tx.packets += p.tx.packets;
    tx.bytes += p.tx.bytes;
  }
  AddU64(d, "rx_packets", rx.packets);
  AddU64(d, "rx_bytes", rx.bytes);
  AddU64(d, "tx_packets", tx.packets);
  AddU64(d, "tx_bytes", tx.bytes);
  AddU64(d, "flows", sample.flows_total);
  AddU64(d, "flows_created", sample.flows_created);
  AddU64(d, "flows_expired", sample.flows_expired);
  AddU64(d, "drops", sample.drops_total);
  for (size_t r = 0; r < kDropReasonCount; ++r) {
    if (sample.drops[r] == 0) continue;  // 44 zeros would bury the few that count
    AddU64(d, "drops_" + std::string(DropReasonName(static_cast<DropReason>(r))), sample.drops[r]);
  }
}

void FillTelemetryFlows(const DataplaneSample& sample, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  AddU64(d, "total", sample.flows_total);
  AddU64(d, "capacity", sample.flows_capacity);
  AddU64(d, "created", sample.flows_created);
  AddU64(d, "expired", sample.flows_expired);
  for (size_t st = 0; st < kFlowStateCount; ++st) {
    AddU64(d, TelemetryName(nat::FlowStateName(static_cast<nat::FlowState>(st))),
           sample.flows_by_state[st]);
  }
}

void FillTelemetryNatPorts(const DataplaneSample& sample, rte_tel_data* d) {
  rte_tel_data* services = rte_tel_data_alloc();
  rte_tel_data* nat_ips = rte_tel_data_alloc();
  rte_tel_data* used = rte_tel_data_alloc();
  rte_tel_data* capacity = rte_tel_data_alloc();
  rte_tel_data_start_dict(d);
  if (services == nullptr || nat_ips == nullptr || used == nullptr || capacity == nullptr) {
    for (rte_tel_data* a : {services, nat_ips, used, capacity}) rte_tel_data_free(a);
    return;
  }
  rte_tel_data_start_array(services, RTE_TEL_STRING_VAL);
  rte_tel_data_start_array(nat_ips, RTE_TEL_STRING_VAL);
  rte_tel_data_start_array(used, RTE_TEL_U64_VAL);
  rte_tel_data_start_array(capacity, RTE_TEL_U64_VAL);
  size_t rows = 0;
  for (const ServiceSample& s : sample.services) {
    for (const NatIpSample& nat : s.nat_ips) {
      if (++rows > RTE_TEL_MAX_ARRAY_ENTRIES) break;  // the reply's limit; metrics have all
      rte_tel_data_add_array_string(services, s.name.c_str());
      rte_tel_data_add_array_string(nat_ips, FormatIpv4(nat.ip).c_str());
      rte_tel_data_add_array_u64(used, nat.in_use);
      rte_tel_data_add_array_u64(capacity, nat.capacity);
    }
  }
  // The dict takes the arrays (keep = 0: freed with the reply).
  rte_tel_data_add_dict_container(d, "service", services, 0);
  rte_tel_data_add_dict_container(d, "nat_ip", nat_ips, 0);
  rte_tel_data_add_dict_container(d, "used", used, 0);
  rte_tel_data_add_dict_container(d, "capacity", capacity, 0);
}

TelemetryRegistration::TelemetryRegistration(SampleFunction sample) : sample_(std::move(sample)) {
  RegisterCommandsOnce();
  std::lock_guard<std::mutex> lock(registered_mutex);
  registered = &sample_;
}

TelemetryRegistration::~TelemetryRegistration() {
  std::lock_guard<std::mutex> lock(registered_mutex);
  registered = nullptr;
}

}  // namespace privlink::dataplane
