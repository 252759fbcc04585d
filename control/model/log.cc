#include "control/model/log.h"

#include <rte_common.h>

namespace privlink::log {

int dp = RTE_LOGTYPE_USER1;
int nat = RTE_LOGTYPE_USER1;
int ctl = RTE_LOGTYPE_USER1;

namespace {

int Register(const char* name) {
  const int type = rte_log_register_type_and_pick_level(name, kDefaultLevel);
  return type >= 0 ? type : RTE_LOGTYPE_USER1;
}

}  // namespace

RTE_INIT(RegisterPrivlinkLogTypes) {
  dp = Register("privlink.dp");
  nat = Register("privlink.nat");
  ctl = Register("privlink.ctl");
}

}  // namespace privlink::log
