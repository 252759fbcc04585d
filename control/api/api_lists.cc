#include "control/api/api_lists.h"

#include "control/config/json_codec.h"
#include "control/model/str_cat.h"
#include "control/model/validate.h"

namespace privlink::control {
namespace {

using nlohmann::json;

// `item` as dump(2) writes it nested two levels deep: every line after the first indented by
// four more spaces. (A newline inside a JSON string is escaped, so every '\n' is the layout's.)
std::string Nested(const json& item) {
  const std::string text = item.dump(2);
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    out += c;
    if (c == '\n') out += "    ";
  }
  return out;
}

// One member of the document: `  "key": [...]`, its items written one by one.
template <typename Map, typename Encode>
bool WriteArray(std::string_view key, const Map& items, const Encode& encode, bool last,
                const std::function<bool(std::string_view)>& write) {
  if (!write(Cat("  \"", key, "\": ", items.empty() ? "[]" : "["))) return false;
  bool first = true;
  for (const auto& [name, item] : items) {
    if (!write(Cat(first ? "\n    " : ",\n    ", Nested(encode(item))))) return false;
    first = false;
  }
  return write(Cat(items.empty() ? "" : "\n  ]", last ? "\n" : ",\n"));
}

}  // namespace

absl::StatusOr<PageRequest> ParsePageRequest(const std::optional<std::string>& top,
                                             const std::optional<std::string>& skip_token) {
  PageRequest page;
  if (top) {
    const bool digits = !top->empty() && top->size() <= 4 &&
                        top->find_first_not_of("0123456789") == std::string::npos;
    const uint32_t value = digits ? static_cast<uint32_t>(std::stoul(*top)) : 0;
    if (value < 1 || value > kMaxPageSize) {
      return absl::InvalidArgumentError(
          Cat("$top: '", *top, "' is not an integer in [1, ", kMaxPageSize, "]"));
    }
    page.top = value;
  }
  if (skip_token) {
    if (!ValidateName("$skipToken", *skip_token).ok()) {
      return absl::InvalidArgumentError(
          Cat("$skipToken: '", skip_token->substr(0, kMaxNameLength + 1),
              "' is not a cursor of this API (the resource name a nextLink carries)"));
    }
    page.after = *skip_token;
  }
  return page;
}

std::string NextLink(std::string_view path, uint32_t top, std::string_view last) {
  return Cat(path, "?$top=", top, "&$skipToken=", last);
}

bool WriteResources(const Model& model, const std::function<bool(std::string_view)>& write) {
  // The keys in the order dump() writes them (sorted), as EncodeResources names them.
  return write("{\n") && WriteArray("networks", model.networks, EncodeNetwork, false, write) &&
         WriteArray(
             "privateEndpoints", model.endpoints,
             [&model](const PrivateEndpoint& e) { return EncodeEndpoint(model, e); }, false,
             write) &&
         WriteArray("privateLinkServices", model.services, EncodeService, true, write) &&
         write("}\n");
}

}  // namespace privlink::control
