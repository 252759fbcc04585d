// Cat(): string concatenation that takes std::string_view. Debian's Abseil is built with its own
// absl::string_view, so absl::StrCat does not accept std::string_view; Cat takes both. Beside it,
// the other Abseil string helpers privlink uses, taking std::string_view.
#pragma once

#include <concepts>
#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"

namespace privlink::control {

namespace str_cat_internal {
inline void Append(std::string& out, std::string_view part) {
  out.append(part);
}
inline void Append(std::string& out, const std::string& part) {
  out.append(part);
}
inline void Append(std::string& out, const char* part) {
  out.append(part);
}
inline void Append(std::string& out, absl::string_view part) {  // e.g. absl::Status::message()
  out.append(part.data(), part.size());
}
inline void Append(std::string& out, char part) {
  out.push_back(part);
}
template <std::integral Int>
requires(!std::same_as<Int, char> && !std::same_as<Int, bool>) void Append(std::string& out,
                                                                           Int value) {
  out.append(std::to_string(value));
}
}  // namespace str_cat_internal

// absl::string_view -> std::string_view (e.g. for absl::Status::message()).
inline std::string_view ToStd(absl::string_view text) {
  return {text.data(), text.size()};
}

// ASCII letters lowered, other bytes as they are (host names, label values, DNS names).
inline std::string AsciiLower(std::string_view text) {
  return absl::AsciiStrToLower(absl::string_view(text.data(), text.size()));
}

template <typename... Parts>
std::string Cat(const Parts&... parts) {
  std::string out;
  (str_cat_internal::Append(out, parts), ...);
  return out;
}

}  // namespace privlink::control
