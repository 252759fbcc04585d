// The inspection routes' requests (inspect_requests.h).
#include "control/api/inspect_requests.h"

#include <httplib.h>

#include <string>

#include "control/config/json_reader.h"
#include "control/model/str_cat.h"

namespace privlink::control {
namespace {

// A query parameter that must be an integer in [min, max]; `fallback` when absent.
absl::StatusOr<uint32_t> UintParam(const httplib::Request& req, const char* name, uint32_t fallback,
                                   uint32_t min, uint32_t max) {
  if (!req.has_param(name)) return fallback;
  const std::string text = req.get_param_value(name);
  uint64_t value = 0;
  const bool digits = !text.empty() && text.size() <= 10 &&
                      text.find_first_not_of("0123456789") == std::string::npos;
  if (digits) value = std::stoull(text);
  if (!digits || value < min || value > max) {
    return absl::InvalidArgumentError(
        Cat(name, ": '", text, "' is not an integer in [", min, ", ", max, "]"));
  }
  return static_cast<uint32_t>(value);
}

}  // namespace

absl::StatusOr<FlowQuery> ParseFlowQuery(const httplib::Request& req, bool with_limit) {
  FlowQuery q;
  q.endpoint = req.get_param_value("endpoint");
  q.service = req.get_param_value("service");
  if (with_limit) {
    auto limit = UintParam(req, "limit", kDefaultFlowLimit, 1, kMaxFlowLimit);
    if (!limit.ok()) return limit.status();
    q.limit = *limit;
  }
  return q;
}

absl::StatusOr<CaptureRequest> ParseCaptureRequest(const nlohmann::json& body) {
  CaptureRequest c;
  JsonObjectReader r(body, "");
  c.port = r.String("port");
  c.direction = r.String("direction");
  c.count = static_cast<uint32_t>(r.Integer("count", 1, kMaxCapturePackets));
  c.snaplen = static_cast<uint32_t>(
      r.Integer("snaplen", 1, kMaxCaptureSnaplen, int64_t{kDefaultCaptureSnaplen}));
  c.timeout_seconds = static_cast<uint32_t>(r.Integer(
      "timeoutSeconds", 1, kMaxCaptureTimeoutSeconds, int64_t{kDefaultCaptureTimeoutSeconds}));
  if (auto s = r.Finish(); !s.ok()) return s;
  if (c.direction != "rx" && c.direction != "tx" && c.direction != "drop") {
    return absl::InvalidArgumentError(Cat("direction: '", c.direction, "' is not rx, tx or drop"));
  }
  return c;
}

}  // namespace privlink::control
