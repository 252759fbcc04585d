// DropReason: why a packet was dropped, generated from the one list in drop_reasons.def.
//
// Workers count drops in a per-worker array indexed by the reason; the metric name labels the
// counter and the help line documents it (metrics, docs/drop-reasons.md).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "nat/setup_failure.h"

namespace privlink::dataplane {

enum class DropReason : uint8_t {
#define PRIVLINK_DROP(name, metric, help) k##name,
#include "dataplane/packet/drop_reasons.def"
#undef PRIVLINK_DROP
  kCount,  // not a reason: the number of reasons
};

inline constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::kCount);

namespace drop_reason_internal {

struct Text {
  std::string_view metric;
  std::string_view help;
};

inline constexpr std::array<Text, kDropReasonCount> kTexts = {{
#define PRIVLINK_DROP(name, metric, help) {metric, help},
#include "dataplane/packet/drop_reasons.def"
#undef PRIVLINK_DROP
}};

constexpr bool IsMetricName(std::string_view name) {
  if (name.empty() || name.front() == '_' || name.back() == '_') return false;
  for (const char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return name.front() >= 'a' && name.front() <= 'z';
}

constexpr bool TextsValid() {
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    if (!IsMetricName(kTexts[i].metric) || kTexts[i].help.empty()) return false;
    for (size_t j = 0; j < i; ++j) {
      if (kTexts[i].metric == kTexts[j].metric) return false;
    }
  }
  return true;
}

}  // namespace drop_reason_internal

static_assert(kDropReasonCount < 256, "DropReason is stored in one byte, kCount included");
static_assert(
    drop_reason_internal::TextsValid(),
    "drop_reasons.def: every metric name must be unique snake_case, every help non-empty");

// "ipv4_truncated"; "unknown" for a value outside the list. Stable: used as a metric label.
constexpr std::string_view DropReasonName(DropReason reason) {
  const auto i = static_cast<size_t>(reason);
  return i < kDropReasonCount ? drop_reason_internal::kTexts[i].metric : "unknown";
}

// The one-line meaning, for metric help and documentation; "" for a value outside the list.
constexpr std::string_view DropReasonHelp(DropReason reason) {
  const auto i = static_cast<size_t>(reason);
  return i < kDropReasonCount ? drop_reason_internal::kTexts[i].help : "";
}

// The drop reason of a flow setup failure: its namesake, since both come from
// nat/setup_failures.def (kCount for kNone, which is no failure).
constexpr DropReason DropReasonOf(nat::SetupFailure failure) {
  switch (failure) {
    case nat::SetupFailure::kNone:
      return DropReason::kCount;
#define PRIVLINK_SETUP_FAILURE(name, metric, help) \
  case nat::SetupFailure::k##name:                 \
    return DropReason::k##name;
#include "nat/setup_failures.def"
#undef PRIVLINK_SETUP_FAILURE
  }
  return DropReason::kCount;
}

// Whether a drop reason is one of flow setup's failures.
constexpr bool IsSetupFailure(DropReason reason) {
  switch (reason) {
#define PRIVLINK_SETUP_FAILURE(name, metric, help) \
  case DropReason::k##name:                        \
    return true;
#include "nat/setup_failures.def"
#undef PRIVLINK_SETUP_FAILURE
    default:
      return false;
  }
}

}  // namespace privlink::dataplane
