// privlink's rte_log types, one per component, so each can be made louder or quieter on its own
// with EAL's --log-level (e.g. --log-level=privlink.dp:debug, --log-level='privlink.*:warning'):
//
//   privlink.dp   the dataplane: ports, workers, drops
//   privlink.nat  NAT: port exhaustion, flow table full
//   privlink.ctl  the control plane: configuration changes
//
// Registered at load time (DPDK's RTE_INIT, as RTE_LOG_REGISTER does) at level NOTICE, and picked
// up by --log-level at rte_eal_init. Without the EAL (privlinkd --no-dataplane) rte_log still
// writes to stderr at the default levels.
#pragma once

#include <rte_log.h>

namespace privlink::log {

// The registered type ids (DPDK keeps log types in globals; these are set once, at load).
extern int dp;
extern int nat;
extern int ctl;

inline constexpr uint32_t kDefaultLevel = RTE_LOG_NOTICE;

}  // namespace privlink::log

// PRIVLINK_LOG(WARNING, dp, "port %s down", name): one line, prefixed with the type's name.
#define PRIVLINK_LOG(level, component, fmt, ...)       \
  rte_log(RTE_LOG_##level, ::privlink::log::component, \
          "privlink." #component ": " fmt "\n" __VA_OPT__(, ) __VA_ARGS__)
