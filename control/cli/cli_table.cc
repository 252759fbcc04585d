#include "control/cli/cli_table.h"

#include <algorithm>
#include <utility>

namespace privlink::control {
namespace {

void Flatten(const nlohmann::json& value, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& lines) {
  if (value.is_object() && !value.empty()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      Flatten(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), lines);
    }
    return;
  }
  lines.emplace_back(prefix, Cell(value));
}

}  // namespace

void Table::Print(std::ostream& out) const {
  std::vector<size_t> widths(headers_.size(), 0);
  auto measure = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], cells[i].size());
    }
  };
  measure(headers_);
  for (const auto& row : rows_) measure(row);
  auto print = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < cells.size() && i < widths.size(); ++i) {
      line += cells[i];
      if (i + 1 < cells.size()) line += std::string(widths[i] - cells[i].size() + 2, ' ');
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out << line << "\n";
  };
  print(headers_);
  for (const auto& row : rows_) print(row);
}

std::string Cell(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "-";
  if (value.is_array()) {
    const bool scalars = std::all_of(value.begin(), value.end(),
                                     [](const nlohmann::json& v) { return v.is_primitive(); });
    if (!scalars) return value.dump();
    std::string text;
    for (const auto& item : value) text += (text.empty() ? "" : ",") + Cell(item);
    return text.empty() ? "-" : text;
  }
  return value.dump();
}

void PrintKeyValues(const nlohmann::json& object, std::ostream& out) {
  std::vector<std::pair<std::string, std::string>> lines;
  Flatten(object, "", lines);
  size_t width = 0;
  for (const auto& [key, value] : lines) width = std::max(width, key.size());
  for (const auto& [key, value] : lines) {
    out << key << std::string(width - key.size() + 2, ' ') << value << "\n";
  }
}

}  // namespace privlink::control
