// Wall-clock times as the API, the logs and the audit log print them: RFC 3339 in UTC with
// milliseconds ("2026-12-07T13:45:00.123Z").
#pragma once

#include <cstdint>
#include <string>

namespace privlink::control {

std::string FormatUtcMs(int64_t unix_ms);
// Milliseconds since the Unix epoch, now (CLOCK_REALTIME).
int64_t UnixNowMs();

}  // namespace privlink::control
