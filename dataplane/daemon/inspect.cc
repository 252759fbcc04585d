// Dataplane as a control::DataplaneInspector: flow listings (flow_inspect.h) and packet captures
// (capture.h) for the API threads.
#include "absl/strings/str_cat.h"
#include "dataplane/daemon/dataplane.h"

namespace privlink::dataplane {

using nlohmann::json;

absl::StatusOr<FlowFilter> Dataplane::ResolveFlowQuery(const control::FlowQuery& query,
                                                       const control::Snapshot& snap) const {
  FlowFilter filter;
  if (!query.endpoint.empty()) {
    snap.endpoint_names.ForEach([&](control::EndpointId id, const std::string& name) {
      if (name == query.endpoint) filter.endpoint_id = id;
    });
    if (!filter.endpoint_id) {
      return absl::NotFoundError(absl::StrCat("private endpoint '", query.endpoint, "' not found"));
    }
  }
  if (!query.service.empty()) {
    for (const auto& service : snap.services) {
      if (service != nullptr && service->name == query.service) filter.service_id = service->id;
    }
    if (!filter.service_id) {
      return absl::NotFoundError(
          absl::StrCat("private link service '", query.service, "' not found"));
    }
  }
  return filter;
}

absl::StatusOr<json> Dataplane::Flows(const control::FlowQuery& query) const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  if (!stats_reader_) {
    return absl::UnavailableError("the dataplane is stopping");
  }
  // The snapshot names the flows; its reader is online only while this request holds it.
  stats_reader_->Online();
  const control::Snapshot& snap = *stats_reader_->Current();
  json out;
  auto filter = ResolveFlowQuery(query, snap);
  if (filter.ok()) {
    const FlowReader reader(parts_->flows(), parts_->shared().flow_rcu, parts_->flow_reader_id(0));
    const FlowList list = reader.List(*filter, query.limit, nat::ToMs32(clock_.NowMs()));
    json value = json::array();
    for (const FlowRecord& r : list.flows) value.push_back(FlowRecordJson(r, snap));
    out = {{"value", std::move(value)}, {"truncated", list.truncated}};
  }
  stats_reader_->Offline();
  if (!filter.ok()) return filter.status();
  return out;
}

absl::StatusOr<json> Dataplane::FlowCount(const control::FlowQuery& query) const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  if (!stats_reader_) {
    return absl::UnavailableError("the dataplane is stopping");
  }
  stats_reader_->Online();
  auto filter = ResolveFlowQuery(query, *stats_reader_->Current());
  stats_reader_->Offline();
  if (!filter.ok()) return filter.status();
  const FlowReader reader(parts_->flows(), parts_->shared().flow_rcu, parts_->flow_reader_id(0));
  return FlowCountsJson(reader.Count(*filter));
}

absl::StatusOr<control::CaptureResult> Dataplane::Capture(const control::CaptureRequest& request) {
  CaptureSpec spec;
  bool found = false;
  const std::vector<PortInfo>& ports = parts_->shared().ports;
  for (uint16_t i = 0; i < ports.size(); ++i) {
    if (ports[i].name == request.port) spec.port = i, found = true;
  }
  if (!found) return absl::NotFoundError(absl::StrCat("port '", request.port, "' not found"));
  spec.port_name = request.port;
  spec.direction = request.direction == "rx"   ? CaptureDirection::kRx
                   : request.direction == "tx" ? CaptureDirection::kTx
                                               : CaptureDirection::kDrop;
  spec.count = request.count;
  spec.snaplen = request.snaplen;
  if (absl::Status s = capture_->Arm(spec); !s.ok()) return s;
  const bool complete = capture_->Wait(request.timeout_seconds * 1000);
  CaptureOutcome outcome = capture_->Finish();
  control::CaptureResult result;
  result.summary = {{"port", request.port},       {"direction", request.direction},
                    {"packets", outcome.packets}, {"skipped", outcome.skipped},
                    {"timedOut", !complete},      {"truncated", outcome.truncated}};
  result.pcapng = std::move(outcome.pcapng);
  return result;
}

}  // namespace privlink::dataplane
