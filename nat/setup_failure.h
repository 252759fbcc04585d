// Why flow setup failed, in the one vocabulary nat/setup_failures.def defines.
//
// Flow setup's steps (the NAT port allocator, the flow table's insert, nat::CreateFlow) report
// a SetupFailure directly, and the dataplane counts it under the drop reason of the same name:
// drop_reasons.def includes the same list, so the two cannot drift apart. An enum, not an
// absl::Status: under a SYN flood against a full table or port range this runs per packet and
// must not allocate or format text.
#pragma once

#include <cstdint>
#include <string_view>

namespace privlink::nat {

enum class SetupFailure : uint8_t {
  kNone,  // not a failure: the step succeeded
#define PRIVLINK_SETUP_FAILURE(name, metric, help) k##name,
#include "nat/setup_failures.def"
#undef PRIVLINK_SETUP_FAILURE
};

// "nat_ports_exhausted" (the drop reason's metric name); "none" for kNone.
constexpr std::string_view SetupFailureName(SetupFailure failure) {
  switch (failure) {
    case SetupFailure::kNone:
      return "none";
#define PRIVLINK_SETUP_FAILURE(name, metric, help) \
  case SetupFailure::k##name:                      \
    return metric;
#include "nat/setup_failures.def"
#undef PRIVLINK_SETUP_FAILURE
  }
  return "unknown";
}

// A step's result: its value, or why it failed (then `value` is no result: the flow table and
// CreateFlow leave kInvalidFlowId there).
template <typename T>
struct SetupOutcome {
  T value{};
  SetupFailure failure = SetupFailure::kNone;

  bool ok() const { return failure == SetupFailure::kNone; }
  const T& operator*() const { return value; }
  const T* operator->() const { return &value; }
};

}  // namespace privlink::nat
