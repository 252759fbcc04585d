// Collection lists a page at a time, as Azure Resource Manager pages them ($top, $skipToken,
// nextLink), and GET /v1/state written a resource at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "control/model/model.h"

namespace privlink::control {

inline constexpr uint32_t kDefaultPageSize = 1000;
inline constexpr uint32_t kMaxPageSize = 1000;

struct PageRequest {
  uint32_t top = kDefaultPageSize;
  // The cursor ($skipToken): the page starts after the item of this name; empty for the first.
  std::string after;
};

// A request's `$top` and `$skipToken` (nullopt where absent): `$top` an integer in
// [1, kMaxPageSize], `$skipToken` a resource name (what a nextLink carries).
absl::StatusOr<PageRequest> ParsePageRequest(const std::optional<std::string>& top,
                                             const std::optional<std::string>& skip_token);

// "<path>?$top=<top>&$skipToken=<last>".
std::string NextLink(std::string_view path, uint32_t top, std::string_view last);

// One page of `items` (a std::map by name, so sorted by name), each encoded by `encode`:
// {"value": [...]}, with "nextLink" when items remain after the page. The page starts after the
// cursor's name whether or not that item still exists, so an item present throughout a listing
// appears on exactly one page however others come and go between the requests.
template <typename Map, typename Encode>
nlohmann::json ListPage(const Map& items, const PageRequest& page, std::string_view path,
                        const Encode& encode) {
  nlohmann::json value = nlohmann::json::array();
  auto it = page.after.empty() ? items.begin() : items.upper_bound(page.after);
  std::string_view last;
  for (; it != items.end() && value.size() < page.top; ++it) {
    value.push_back(encode(it->second));
    last = it->first;
  }
  nlohmann::json body = {{"value", std::move(value)}};
  if (it != items.end()) body["nextLink"] = NextLink(path, page.top, last);
  return body;
}

// Writes the bytes of EncodeResources(model).dump(2) + "\n" (GET /v1/state's body) in pieces, an
// item at a time, without building the whole document. Stops early, returning false, when
// `write` does (the client went away).
bool WriteResources(const Model& model, const std::function<bool(std::string_view)>& write);

}  // namespace privlink::control
