// Rate-limited log lines about drops, written by the control thread from the drop counters (never
// by a worker: the packet path only counts). At most one line per reason per interval, saying
// how many packets that reason dropped since its previous line, so a flood costs one line a
// second and no count is lost. Exhaustion (NAT ports, flow table, queues, mbufs) is a WARNING on
// privlink.nat or privlink.dp; other reasons (policy, malformed input) a NOTICE on privlink.dp.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>

#include "dataplane/packet/drop_reason.h"
#include "nat/clock.h"

namespace privlink::dataplane {

// One line per reason per second: enough to notice a problem, too few to flood a log.
inline constexpr nat::TimeMs kDropWarningIntervalMs = 1000;

using DropCounts = std::array<uint64_t, kDropReasonCount>;

struct DropWarning {
  DropReason reason = DropReason::kCount;
  uint64_t dropped = 0;     // since the reason's previous line (or since start)
  nat::TimeMs over_ms = 0;  // time since that line (or since start)
  int log_level = 0;        // RTE_LOG_WARNING or RTE_LOG_NOTICE
  int log_type = 0;         // privlink::log::dp or ::nat
  std::string text;         // the line, without the "privlink.xx: " prefix
};

class DropWarnings {
 public:
  using Sink = std::function<void(const DropWarning&)>;
  // `sink` defaults to rte_log on the warning's type and level.
  explicit DropWarnings(const nat::Clock& clock, Sink sink = nullptr,
                        nat::TimeMs interval_ms = kDropWarningIntervalMs);

  // Compares `totals` (monotonic, as read from the counters) with what was last reported and
  // writes a line for each reason that grew and has had no line within the interval.
  void Observe(const DropCounts& totals);

 private:
  struct ReasonState {
    uint64_t reported = 0;
    nat::TimeMs last_line_ms = 0;
    bool had_line = false;
  };
  const nat::Clock& clock_;
  Sink sink_;
  nat::TimeMs interval_ms_;
  nat::TimeMs start_ms_;
  std::array<ReasonState, kDropReasonCount> reasons_{};
};

}  // namespace privlink::dataplane
