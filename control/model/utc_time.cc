#include "control/model/utc_time.h"

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace privlink::control {

std::string FormatUtcMs(int64_t unix_ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

int64_t UnixNowMs() {
  return absl::ToUnixMillis(absl::Now());
}

}  // namespace privlink::control
