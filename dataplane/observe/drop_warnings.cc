#include "dataplane/observe/drop_warnings.h"

#include <cinttypes>
#include <cstdio>

#include "control/model/log.h"

namespace privlink::dataplane {
namespace {

// Drops that mean privlink ran out of something (rather than traffic it refuses by design), or
// that a model the control plane should have refused reached the data path.
bool IsExhaustion(DropReason r) {
  switch (r) {
    case DropReason::kNatIpsInvalid:
    case DropReason::kNatPortsExhausted:
    case DropReason::kFlowTableFull:
    case DropReason::kNeighbourQueueFull:
    case DropReason::kControlQueueFull:
    case DropReason::kTxRingFull:
    case DropReason::kMbufPoolExhausted:
      return true;
    default:
      return false;
  }
}

// Flow setup's failures are logged as the NAT engine's.
bool IsNat(DropReason r) {
  return IsSetupFailure(r);
}

void LogWarning(const DropWarning& w) {
  const char* component = w.log_type == log::nat ? "nat" : "dp";
  rte_log(static_cast<uint32_t>(w.log_level), static_cast<uint32_t>(w.log_type),
          "privlink.%s: %s\n", component, w.text.c_str());
}

}  // namespace

DropWarnings::DropWarnings(const nat::Clock& clock, Sink sink, nat::TimeMs interval_ms)
    : clock_(clock),
      sink_(sink ? std::move(sink) : Sink(LogWarning)),
      interval_ms_(interval_ms),
      start_ms_(clock.NowMs()) {}

void DropWarnings::Observe(const DropCounts& totals) {
  const nat::TimeMs now = clock_.NowMs();
  for (size_t r = 0; r < kDropReasonCount; ++r) {
    ReasonState& s = reasons_[r];
    if (totals[r] <= s.reported) continue;
    const nat::TimeMs since = s.had_line ? s.last_line_ms : start_ms_;
    if (s.had_line && now - since < interval_ms_) continue;
    const auto reason = static_cast<DropReason>(r);
    DropWarning w{
        .reason = reason,
        .dropped = totals[r] - s.reported,
        .over_ms = now - since,
        .log_level = static_cast<int>(IsExhaustion(reason) ? RTE_LOG_WARNING : RTE_LOG_NOTICE),
        .log_type = IsNat(reason) ? log::nat : log::dp};
    char line[256];
    std::snprintf(line, sizeof line, "%" PRIu64 " packets dropped (%s) in the last %.1f s: %s",
                  w.dropped, std::string(DropReasonName(reason)).c_str(), w.over_ms / 1000.0,
                  std::string(DropReasonHelp(reason)).c_str());
    w.text = line;
    sink_(w);
    s.reported = totals[r];
    s.last_line_ms = now;
    s.had_line = true;
  }
}

}  // namespace privlink::dataplane
