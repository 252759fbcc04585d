#include "control/config/json_reader.h"

#include <cstdint>

#include "control/model/str_cat.h"
#include "control/model/validate.h"

namespace privlink::control {
namespace {

// The path without the trailing '.' of an object prefix: "backends[1]." -> "backends[1]".
std::string_view ObjectPath(std::string_view prefix) {
  if (prefix.ends_with('.')) prefix.remove_suffix(1);
  return prefix;
}

}  // namespace

JsonObjectReader::JsonObjectReader(const nlohmann::json& value, std::string prefix)
    : value_(value), prefix_(std::move(prefix)) {
  if (!value_.is_object()) {
    const std::string_view path = ObjectPath(prefix_);
    status_ = absl::InvalidArgumentError(
        path.empty() ? Cat("the document must be a JSON object, not ", JsonTypeName(value_))
                     : Cat(path, ": must be an object"));
  }
}

bool JsonObjectReader::Has(std::string_view key) const {
  return value_.is_object() && value_.find(key) != value_.end();
}

const nlohmann::json* JsonObjectReader::Find(std::string_view key, bool required) {
  consumed_.insert(std::string(key));
  if (!ok()) return nullptr;
  auto it = value_.find(key);
  if (it == value_.end()) {
    if (required) Fail(key, "required field is missing");
    return nullptr;
  }
  return &*it;
}

void JsonObjectReader::Fail(absl::Status status) {
  if (ok()) status_ = std::move(status);
}

void JsonObjectReader::Fail(std::string_view key, std::string_view message) {
  Fail(FieldError(Path(key), message));
}

std::string JsonObjectReader::String(std::string_view key, std::optional<std::string> fallback) {
  const nlohmann::json* v = Find(key, !fallback.has_value());
  if (v == nullptr) return fallback.value_or("");
  if (!v->is_string()) {
    Fail(key, "must be a string");
    return "";
  }
  return v->get<std::string>();
}

int64_t JsonObjectReader::Integer(std::string_view key, int64_t min, int64_t max,
                                  std::optional<int64_t> fallback) {
  const nlohmann::json* v = Find(key, !fallback.has_value());
  if (v == nullptr) return fallback.value_or(0);
  if (!v->is_number_integer()) {
    Fail(key, Cat("must be an integer in ", min, "..", max));
    return fallback.value_or(0);
  }
  // nlohmann keeps non-negative integers as unsigned; values past int64 are out of range anyway.
  const bool is_unsigned = v->is_number_unsigned();
  const bool fits = !is_unsigned || v->get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX);
  const int64_t value =
      fits ? (is_unsigned ? static_cast<int64_t>(v->get<uint64_t>()) : v->get<int64_t>()) : 0;
  if (!fits || value < min || value > max) {
    Fail(key, Cat("must be ", min, "..", max));
    return fallback.value_or(0);
  }
  return value;
}

bool JsonObjectReader::Boolean(std::string_view key, std::optional<bool> fallback) {
  const nlohmann::json* v = Find(key, !fallback.has_value());
  if (v == nullptr) return fallback.value_or(false);
  if (!v->is_boolean()) {
    Fail(key, "must be true or false");
    return false;
  }
  return v->get<bool>();
}

Ipv4Be JsonObjectReader::Ipv4(std::string_view key) {
  const nlohmann::json* v = Find(key, true);
  if (v == nullptr) return 0;
  if (!v->is_string()) {
    Fail(key, "must be a string holding an IPv4 address");
    return 0;
  }
  auto ip = ParseIpv4(v->get_ref<const std::string&>());
  if (!ip.ok()) {
    Fail(key, ToStd(ip.status().message()));
    return 0;
  }
  return *ip;
}

std::optional<Ipv4Be> JsonObjectReader::NullableIpv4(std::string_view key) {
  const nlohmann::json* v = Find(key, false);
  if (v == nullptr || v->is_null()) return std::nullopt;
  return Ipv4(key);
}

std::vector<std::string> JsonObjectReader::StringList(std::string_view key) {
  std::vector<std::string> out;
  const nlohmann::json* v = Find(key, false);
  if (v == nullptr) return out;
  if (!v->is_array()) {
    Fail(key, "must be an array of strings");
    return out;
  }
  for (size_t i = 0; i < v->size(); ++i) {
    if (!(*v)[i].is_string()) {
      Fail(Cat(key, "[", i, "]"), "must be a string");
      return {};
    }
    out.push_back((*v)[i].get<std::string>());
  }
  return out;
}

std::vector<Ipv4Be> JsonObjectReader::Ipv4List(std::string_view key) {
  std::vector<Ipv4Be> out;
  const nlohmann::json* v = Find(key, false);
  if (v == nullptr) return out;
  if (!v->is_array()) {
    Fail(key, "must be an array of IPv4 addresses");
    return out;
  }
  for (size_t i = 0; i < v->size(); ++i) {
    const std::string item = Cat(key, "[", i, "]");
    if (!(*v)[i].is_string()) {
      Fail(item, "must be a string holding an IPv4 address");
      return {};
    }
    auto ip = ParseIpv4((*v)[i].get_ref<const std::string&>());
    if (!ip.ok()) {
      Fail(item, ToStd(ip.status().message()));
      return {};
    }
    out.push_back(*ip);
  }
  return out;
}

void JsonObjectReader::ObjectList(std::string_view key,
                                  const std::function<void(JsonObjectReader&)>& read,
                                  bool required) {
  const nlohmann::json* v = Find(key, required);
  if (v == nullptr) return;
  if (!v->is_array()) {
    Fail(key, "must be an array of objects");
    return;
  }
  for (size_t i = 0; i < v->size() && ok(); ++i) {
    JsonObjectReader element((*v)[i], Cat(prefix_, key, "[", i, "]."));
    if (element.ok()) read(element);
    Fail(element.Finish());
  }
}

void JsonObjectReader::Object(std::string_view key,
                              const std::function<void(JsonObjectReader&)>& read, bool required) {
  const nlohmann::json* v = Find(key, required);
  if (v == nullptr) return;
  JsonObjectReader inner(*v, Cat(prefix_, key, "."));
  if (inner.ok()) read(inner);
  Fail(inner.Finish());
}

void JsonObjectReader::Ignore(std::string_view key) {
  consumed_.insert(std::string(key));
}

absl::Status JsonObjectReader::Finish() {
  if (!ok()) return status_;
  for (auto it = value_.begin(); it != value_.end(); ++it) {
    if (!consumed_.contains(it.key())) return FieldError(Path(it.key()), "unknown field");
  }
  return absl::OkStatus();
}

const char* JsonTypeName(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::array:
      return "an array";
    case nlohmann::json::value_t::string:
      return "a string";
    case nlohmann::json::value_t::boolean:
      return "a boolean";
    case nlohmann::json::value_t::object:
      return "an object";
    default:
      return "a number";
  }
}

absl::Status ParseJson(std::string_view text, nlohmann::json& out) {
  try {
    out = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    return absl::InvalidArgumentError(Cat("malformed JSON: ", e.what()));
  }
  return absl::OkStatus();
}

}  // namespace privlink::control
