// A strict reader for one JSON object: typed getters that name the field on error, and a final
// check that rejects every field nobody asked for. The first error wins; later getters return
// defaults, so decoders read straight through and check status() once at the end.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "nat/inet.h"

namespace privlink::control {

class JsonObjectReader {
 public:
  // `prefix` is prepended to field names in errors: "" at the top, "backends[1]." inside.
  JsonObjectReader(const nlohmann::json& value, std::string prefix);

  bool Has(std::string_view key) const;
  // The full path of a field, for callers' own messages.
  std::string Path(std::string_view key) const { return prefix_ + std::string(key); }

  std::string String(std::string_view key, std::optional<std::string> fallback = std::nullopt);
  // An integer in [min, max]; required unless `fallback` is given.
  int64_t Integer(std::string_view key, int64_t min, int64_t max,
                  std::optional<int64_t> fallback = std::nullopt);
  bool Boolean(std::string_view key, std::optional<bool> fallback = std::nullopt);
  Ipv4Be Ipv4(std::string_view key);
  // Absent or null -> nullopt.
  std::optional<Ipv4Be> NullableIpv4(std::string_view key);
  // Absent -> empty list.
  std::vector<std::string> StringList(std::string_view key);
  std::vector<Ipv4Be> Ipv4List(std::string_view key);
  // Calls `read(element_reader)` for each object in the array at `key` (absent -> none; required
  // when `required`).
  void ObjectList(std::string_view key, const std::function<void(JsonObjectReader&)>& read,
                  bool required = false);
  // Calls `read(reader)` on the object at `key`, if present (or if required).
  void Object(std::string_view key, const std::function<void(JsonObjectReader&)>& read,
              bool required = false);
  // Accepts and ignores a field (read-only fields sent back from a GET).
  void Ignore(std::string_view key);

  void Fail(absl::Status status);
  void Fail(std::string_view key, std::string_view message);
  bool ok() const { return status_.ok(); }
  // The first error, or an "unknown field" error for a field no getter consumed.
  absl::Status Finish();

 private:
  // The value at `key`, or nullptr if absent (an error if absent and `required`).
  const nlohmann::json* Find(std::string_view key, bool required);

  const nlohmann::json& value_;
  std::string prefix_;
  std::set<std::string, std::less<>> consumed_;
  absl::Status status_;
};

// "null", "an array", "a string", "a boolean", "a number" or "an object": for messages.
const char* JsonTypeName(const nlohmann::json& value);

// Parses `text` as JSON; malformed input gives InvalidArgument with the parser's position.
absl::Status ParseJson(std::string_view text, nlohmann::json& out);

}  // namespace privlink::control
